"""The command line as people use it: --help, --show_config, and running again
in a workdir with a changed config; the saved config read back exactly."""

import importlib
import json
import os
import shutil
import subprocess
import sys

import ml_collections
import pytest

import experiments
from gans_jax import cli
from gans_jax.train import config as config_lib
from gans_jax.train import experiment as experiment_lib
from gans_jax.train import rerun
from gans_jax.train import runs
from experiment_runs import run_experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = sorted(experiments.EXPERIMENTS)


def _experiment(name):
  return (importlib.import_module(f"experiments.{name}"),
          importlib.import_module(f"experiments.configs.{name}"))


_main = run_experiment


def _script(name, *flags, env=None):
  env = dict(os.environ if env is None else env, JAX_PLATFORMS="cpu",
             GANS_JAX_COMPILATION_CACHE="0")
  return subprocess.run([sys.executable, os.path.join(ROOT, "experiments", f"{name}.py"),
                         *flags], capture_output=True, text=True, env=env,
                        timeout=300, cwd=ROOT)


@pytest.fixture(autouse=True)
def _quiet_caches(tmp_path_factory, monkeypatch):
  monkeypatch.setenv("GANS_JAX_COMPILATION_CACHE", "0")
  monkeypatch.setenv("GANS_JAX_CACHE_DIR",
                     str(tmp_path_factory.getbasetemp() / "gans_jax_cache"))


# ------------------------------------------------------------------ help --

def test_every_module_of_experiments_is_listed_as_an_experiment_or_shared():
  modules = {name[:-3] for name in os.listdir(os.path.join(ROOT, "experiments"))
             if name.endswith(".py") and name != "__init__.py"}
  assert modules == set(experiments.EXPERIMENTS) | set(experiments.SHARED)
  assert not set(experiments.EXPERIMENTS) & set(experiments.SHARED)
  assert {"gan", "dcgan", "wgan", "wgan_gp", "fgan", "template"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_meets_the_contract_and_has_a_smoke_preset(name):
  module, config_module = _experiment(name)
  assert experiment_lib.check(module) is module
  assert "smoke" in config_module.PRESETS
  assert config_module.get_config("smoke").train.num_steps <= 2


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_the_scripts_help_names_the_figures_and_translation_the_module_has(name):
  module, _ = _experiment(name)
  run = _script(name, "--help")
  assert run.returncode == 0, run.stderr[-2000:]
  in_process = cli.usage(module.__file__, module.__doc__,
                         figures=tuple(getattr(module, "FIGURES", {})),
                         translates=hasattr(module, "translators"))
  assert run.stdout.strip() == in_process.strip()


def test_a_module_lacking_part_of_the_contract_is_named(tmp_path):
  import types
  module = types.ModuleType("experiments.half_done")
  module.validate = module.create_state = lambda config: None
  with pytest.raises(experiment_lib.ContractError,
                     match="half_done.*make_train_step, make_sampler"):
    experiment_lib.check(module)


@pytest.mark.parametrize("name", EXPERIMENTS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_exits_0_and_lists_every_preset(name, flag, capsys):
  _, config_module = _experiment(name)
  assert _main(name, flag) == 0
  out = capsys.readouterr().out
  for preset in config_module.PRESETS:
    assert preset in out, (preset, out)
  for flag_name in ("--config=", "--workdir=", "--show_config", "--sample=",
                    "--evaluate", "--checkpoint=", "--coordinator_address"):
    assert flag_name in out


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_the_script_answers_help_without_importing_jax(name, tmp_path):
  # A jax that cannot be imported: --help must not need it.
  (tmp_path / "jax").mkdir()
  (tmp_path / "jax" / "__init__.py").write_text(
      "raise ImportError('--help imported jax')\n")
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]))
  run = _script(name, "--help", env=env)
  assert run.returncode == 0, run.stderr[-2000:]
  assert "presets" in run.stdout and "Traceback" not in run.stderr


def test_show_config_prints_the_overridden_value_and_its_comment(capsys):
  code = _main("dcgan", "--config=experiments/configs/dcgan.py:smoke",
               "--config.train.num_steps=7", "--config.model.features=6",
               "--show_config")
  assert code == 0
  lines = capsys.readouterr().out.splitlines()
  line = next(l for l in lines if l.startswith("train.num_steps = "))
  assert line.split("#")[0].strip() == "train.num_steps = 7"
  assert "calls of the step function" in line
  assert any(l.split("#")[0].strip() == "model.features = 6" for l in lines)
  assert any(l.split("#")[0].strip() == "model.latent_dim = 8" for l in lines)


@pytest.mark.parametrize("flags", [["--config"], ["--config="],
                                   ["--config", "--show_config"]])
def test_config_without_a_value_says_what_it_expects(flags, capsys):
  assert _main("wgan_gp", *flags) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1
  assert "expects a config file" in err[0] and "wgan_gp.py[:PRESET]" in err[0]


def test_config_given_as_a_separate_argument_is_read(capsys):
  assert _main("wgan_gp", "--config", "experiments/configs/wgan_gp.py:smoke",
               "--show_config") == 0
  assert "train.num_steps = 2 " in capsys.readouterr().out


def test_an_unknown_flag_exits_2_and_points_to_help(capsys):
  assert _main("wgan_gp", "--sampels=3") == 2
  err = capsys.readouterr().err.strip()
  assert "'sampels'" in err and "--help" in err


# ------------------------------------------------------------ field checks --

@pytest.mark.parametrize("override,words", [
    ("--config.gan.loss=lsgan", ["gan.loss", "must be one of", "least_squares"]),
    ("--config.model.width=0", ["model.width", "positive integer"]),
    ("--config.optim.b1=1.0", ["optim.b1", "[0, 1)"]),
    ("--config.train.seed=-1", ["train.seed", "non-negative integer"]),
])
def test_a_bad_value_of_a_declared_field_exits_2_naming_it(override, words, capsys,
                                                          tmp_path):
  trained = []
  code = run_experiment("template", "--config=experiments/configs/template.py:smoke",
                        override, f"--workdir={tmp_path}",
                        train=lambda config, workdir: trained.append(config))
  assert code == 2 and not trained
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("error: config field "), err
  for word in words:
    assert word in err[0], err


def test_declared_checks_are_found_under_their_dotted_names():
  def get_config():
    c = ml_collections.ConfigDict()
    c.a = config_lib.section(n=config_lib.field(1, config_lib.positive_int), free="x")
    c.b = config_lib.section(n=config_lib.field(0.5, config_lib.fraction))
    return c

  config, checks = config_lib.declared_checks(get_config)
  assert set(checks) == {"a.n", "b.n"}
  config.b.n = 0.0
  config_lib.check_fields(config, checks)  # a fraction, though not a positive int
  config.b.n = 1.5
  with pytest.raises(config_lib.ConfigError, match=r"^b\.n: must be in \[0, 1\)"):
    config_lib.check_fields(config, checks)
  config.b.n, config.a.n = 0.5, 0
  with pytest.raises(config_lib.ConfigError, match=r"^a\.n: must be a positive integer"):
    config_lib.check_fields(config, checks)


def test_a_default_that_fails_its_own_check_is_refused():
  with pytest.raises(ValueError, match="fails its own check"):
    config_lib.field(0, config_lib.positive_int)


def test_a_choice_tells_booleans_from_integers():
  assert config_lib.one_of(1, 3)(True) is not None
  assert config_lib.one_of(1, 3)(1) is None
  assert config_lib.boolean(1) is not None


# ---------------------------------------------------------- field comments --

def test_field_comments_follow_their_fields(tmp_path):
  path = tmp_path / "config.py"
  path.write_text(
      "import ml_collections\n"
      "def get_config():\n"
      "  c = ml_collections.ConfigDict()\n"
      "  c.model = ml_collections.ConfigDict(dict(\n"
      "      width=64,        # units per layer\n"
      "      depth=3,         # layers, continued\n"
      "                       # on the next line\n"
      "      # about the rate\n"
      "      rate=0.5,\n"
      "  ))\n"
      "  c.optim = ml_collections.ConfigDict(dict(rate=1e-3))  # step size\n"
      "  c.model.width = 32  # not the definition\n"
      "  return c\n")
  comments = config_lib.field_comments([str(path)])
  assert comments[("model", "width")] == "units per layer"
  assert comments[("model", "depth")] == "layers, continued on the next line"
  assert comments[("model", "rate")] == "about the rate"
  assert comments[("optim", "rate")] == "step size"
  config = ml_collections.ConfigDict(dict(
      model=dict(width=1, depth=2, rate=0.1), optim=dict(rate=0.2), name="x"))
  lines = config_lib.format_config(config, comments).splitlines()
  assert lines[0].startswith("model.depth = 2") and lines[0].endswith(
      "# layers, continued on the next line")
  assert lines[-1].startswith("optim.rate = 0.2 ") and lines[-1].endswith("# step size")
  assert next(l for l in lines if l.startswith("name")) == "name = 'x'"


# ----------------------------------------------------------- saved configs --

def _same_types(a, b):
  if type(a) is not type(b):
    return False
  if isinstance(a, tuple):
    return len(a) == len(b) and all(_same_types(x, y) for x, y in zip(a, b))
  return a == b or a != a and b != b


@pytest.mark.parametrize("name,preset", [
    (name, preset) for name in EXPERIMENTS for preset in _experiment(name)[1].PRESETS])
def test_every_preset_reads_back_from_its_config_json_exactly(name, preset):
  config = _experiment(name)[1].get_config(preset)
  text = config_lib.to_json(config)
  # config.json, as the training loop writes it, is the lossless form.
  assert text == config.to_json_best_effort(indent=2, sort_keys=True)
  back = config_lib.from_json(text)
  a, b = config_lib.flatten(config), config_lib.flatten(back)
  assert a.keys() == b.keys()
  for field in a:
    assert _same_types(a[field], b[field]), (field, a[field], b[field])
  assert config_lib.differences(config, back) == []


def test_to_json_refuses_a_list_naming_the_field():
  config = ml_collections.ConfigDict(dict(model=dict(hidden=[64, 64])))
  with pytest.raises(config_lib.ConfigError, match="model.hidden: is a list"):
    config_lib.to_json(config)


def test_differences_tell_ints_from_bools_and_name_missing_fields():
  old = ml_collections.ConfigDict(dict(a=1, b=True, c=(1, 2), d=2.0))
  new = ml_collections.ConfigDict(dict(a=True, b=True, c=(1, 3), e=1))
  assert [f for f, _, _ in config_lib.differences(old, new)] == ["a", "c", "d", "e"]
  changes = dict((f, (x, y)) for f, x, y in config_lib.differences(old, new))
  assert changes["d"][1] is config_lib.MISSING and changes["e"][0] is config_lib.MISSING


def test_an_older_checkpoint_reads_the_config_it_was_trained_with(tmp_path):
  for name, rate in (("config.2.json", 1.0), ("config.5.json", 2.0),
                     ("config.json", 3.0)):
    (tmp_path / name).write_text(config_lib.to_json(
        ml_collections.ConfigDict(dict(rate=rate))))
  rate = lambda step: runs.saved_config(str(tmp_path), step).rate
  assert [rate(s) for s in (1, 2, 3, 5, 6, None)] == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]


# ---------------------------------------------------- what a change means --

@pytest.mark.parametrize("field,value,kind", [
    ("model.width", 16, "structure"),        # every weight's shape
    ("model.depth", 3, "structure"),         # the layers themselves
    ("optim.ema_decay", 0.99, "structure"),  # an EMA is added to the state
    ("optim.learning_rate", 1e-3, "training"),
    ("optim.b1", 0.0, "training"),
    ("optim.decay", "linear", "structure"),  # a schedule's count joins Adam's state
    ("model.dtype", "bfloat16", "training"),  # parameters stay float32
    ("train.seed", 1, "training"),
    ("train.batch_size", 32, "training"),
    ("train.num_steps", 10, "harmless"),     # a longer run
    ("train.num_steps", 1, "training"),      # ends before the checkpoint
    ("train.log_every", 2, "harmless"),
    ("eval.num_samples", 7, "harmless"),
])
def test_each_change_is_classified_by_what_it_does_to_the_state(field, value, kind):
  module, config_module = _experiment("wgan_gp")
  old = config_module.get_config("smoke")
  new = rerun._with_field(old, field, value)  # pylint: disable=protected-access
  changes = rerun.classify(module.create_state, old, new, step=2)
  assert [(c.field, c.kind) for c in changes] == [(field, kind)]


def test_a_structural_field_is_singled_out_among_training_ones():
  module, config_module = _experiment("gan")
  old = config_module.get_config("smoke")
  new = rerun._with_field(old, "optim.name", "sgd")  # another optimizer state
  new = rerun._with_field(new, "optim.learning_rate", 0.1)
  changes = {c.field: c.kind for c in rerun.classify(module.create_state, old, new,
                                                     step=2)}
  assert changes == {"optim.name": "structure", "optim.learning_rate": "training"}


# ------------------------------------------------------- running again --

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A two-step wgan_gp smoke run trained through the command line."""
  workdir = tmp_path_factory.mktemp("trained") / "run"
  os.environ.setdefault("GANS_JAX_COMPILATION_CACHE", "0")
  assert _main("wgan_gp", "--config=experiments/configs/wgan_gp.py:smoke",
               f"--workdir={workdir}") == 0
  return workdir


@pytest.fixture
def workdir(trained, tmp_path):
  copy = tmp_path / "run"
  shutil.copytree(trained, copy)
  return copy


SMOKE = "--config=experiments/configs/wgan_gp.py:smoke"


def _files(workdir):
  return {name: open(os.path.join(workdir, name), "rb").read()
          for name in ("config.json", "metrics.jsonl")}


@pytest.mark.slow
def test_a_shape_changing_rerun_exits_2_with_one_line_naming_the_field(workdir):
  before = _files(workdir)
  run = _script("wgan_gp", SMOKE, f"--workdir={workdir}", "--config.model.width=16")
  assert run.returncode == 2, run.stderr[-3000:]
  lines = run.stderr.strip().splitlines()
  assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
  assert lines[0].startswith("error:") and "model.width: 8 -> 16" in lines[0]
  assert "--workdir" in lines[0] and "--start_over" in lines[0]
  assert os.listdir(workdir / "checkpoints") == ["2"]
  assert _files(workdir) == before


def test_a_training_changing_rerun_is_refused_without_the_flag(workdir, capsys):
  before = _files(workdir)
  assert _main("wgan_gp", SMOKE, f"--workdir={workdir}",
               "--config.optim.learning_rate=0.001") == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "optim.learning_rate: 0.0001 -> 0.001" in err[0]
  assert "--allow_config_change" in err[0]
  assert _files(workdir) == before and not os.path.exists(workdir / "config.2.json")


@pytest.mark.slow
def test_an_accepted_change_keeps_both_configs_and_records_its_step(workdir, capsys):
  old_config = open(workdir / "config.json").read()
  assert _main("wgan_gp", SMOKE, f"--workdir={workdir}", "--allow_config_change",
               "--config.optim.learning_rate=0.001",
               "--config.train.num_steps=3") == 0
  assert "config.2.json" in capsys.readouterr().err
  assert open(workdir / "config.2.json").read() == old_config
  assert runs.saved_config(str(workdir)).optim.learning_rate == 0.001
  assert runs.saved_config(str(workdir), 2).optim.learning_rate == 0.0001
  records = [json.loads(l) for l in open(workdir / "metrics.jsonl")]
  changed = [r for r in records if "config_changed" in r]
  assert changed == [{"step": 2, "config_changed":
                      "optim.learning_rate, train.num_steps"}]
  assert [r["step"] for r in records if "g_loss" in r] == [1, 2, 3]
  assert sorted(os.listdir(workdir / "checkpoints")) == ["2", "3"]
  commands = json.load(open(workdir / "run.json"))["commands"]
  assert [c["step"] for c in commands] == [0, 2]


@pytest.mark.slow
def test_extending_num_steps_resumes_and_trains_on_without_a_flag(workdir, capsys):
  first = [json.loads(l) for l in open(workdir / "metrics.jsonl")]
  assert _main("wgan_gp", SMOKE, f"--workdir={workdir}",
               "--config.train.num_steps=4") == 0
  assert "resumes from checkpoint 2 and trains on to step 4" in capsys.readouterr().err
  records = [json.loads(l) for l in open(workdir / "metrics.jsonl")]
  assert [r for r in records if r["step"] <= 2 and "g_loss" in r] == [
      r for r in first if "g_loss" in r]
  assert [r["step"] for r in records if "g_loss" in r] == [1, 2, 3, 4]
  assert {"step": 2, "config_changed": "train.num_steps"} in records
  assert sorted(os.listdir(workdir / "checkpoints")) == ["2", "4"]


@pytest.mark.slow
def test_start_over_moves_the_run_aside_and_trains_afresh(workdir, capsys):
  old = _files(workdir)
  assert _main("wgan_gp", SMOKE, f"--workdir={workdir}", "--start_over",
               "--config.model.width=16") == 0
  assert "previous/1" in capsys.readouterr().err
  previous = workdir / "previous" / "1"
  assert _files(previous) == old and os.listdir(previous / "checkpoints") == ["2"]
  assert runs.saved_config(str(workdir)).model.width == 16
  assert os.listdir(workdir / "checkpoints") == ["2"]


def test_a_workdir_of_another_experiment_is_refused(workdir, capsys):
  assert _main("dcgan", "--config=experiments/configs/dcgan.py:smoke",
               f"--workdir={workdir}") == 2
  err = capsys.readouterr().err
  assert "experiments.wgan_gp" in err and len(err.strip().splitlines()) == 1
