"""Using a trained run: --sample, --checkpoint, --evaluate, --draw and --export
on every experiment's smoke config, the Python loader, and the exported
generator file read back with NumPy and Flax alone."""

import importlib
import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

import experiments
import gans_jax as gj
from gans_jax.train import checkpoint as checkpoint_lib
from experiment_runs import environment, run_experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# experiment -> its smoke preset and overrides: every experiment of the
# contract (experiments.EXPERIMENTS) but the image translators (tested in
# test_translation_runs.py) and domain adaptation, whose exported network is
# an encoder with no latent (tested in test_adda.py) and super-resolution,
# whose generator takes images (tested in test_srgan.py), f-GAN's images preset
# standing for its mixture (a run per divergence, tested below).
SMOKE = {name: ("smoke", {}) for name in experiments.EXPERIMENTS
         if name not in ("pix2pix", "cyclegan", "adda", "srgan")}
SMOKE.update(wgan=("smoke", {"eval.quality_every": 0}), fgan=("smoke_images", {}))
NUM = 5


@pytest.fixture(autouse=True, scope="module")
def _caches(tmp_path_factory):
  with environment(GANS_JAX_COMPILATION_CACHE="0",
                   GANS_JAX_CACHE_DIR=str(tmp_path_factory.getbasetemp() / "cache")):
    yield


_main = run_experiment


def _config(name):
  preset, overrides = SMOKE[name]
  config = importlib.import_module(f"experiments.configs.{name}").get_config(preset)
  config.train.checkpoint_every = 1
  for field, value in overrides.items():
    section, key = field.split(".")
    config[section][key] = value
  return config


_TRAINED = {}


def _trained(name, tmp_path_factory):
  """Two steps of an experiment's smoke preset, checkpointed at 1 and 2,
  trained once for the whole module."""
  if name not in _TRAINED:
    workdir = tmp_path_factory.mktemp(name) / "run"
    preset, overrides = SMOKE[name]
    assert _main(name, f"--config=experiments/configs/{name}.py:{preset}",
                 "--config.train.checkpoint_every=1", f"--workdir={workdir}",
                 *[f"--config.{k}={v}" for k, v in overrides.items()]) == 0
    _TRAINED[name] = workdir
  return _TRAINED[name]


def _state(name, config, workdir, step):
  """The state of checkpoint ``step``, restored without gans_jax.train.runs."""
  module = importlib.import_module(f"experiments.{name}")
  checkpointer = checkpoint_lib.Checkpointer(str(workdir), keep=10)
  try:
    state, _ = checkpointer.restore(step, module.create_state(config))
  finally:
    checkpointer.close()
  return state


def _samples(name, config, state, num=NUM, seed=None):
  module = importlib.import_module(f"experiments.{name}")
  key = jax.random.fold_in(gj.train.make_key(
      config.train.seed if seed is None else seed, "sample"), 0)
  return np.asarray(module.make_sampler(config, num)(state, key))


def _sampling_call(spec, state, z):
  """The state's sampling generator on ``z``, called as the spec says (ProGAN:
  at the level and alpha of the images the state has shown)."""
  call = dict(spec["call"])
  return jax.jit(lambda s, z: s.sampling_generator()(z, **call))(state, z)


@pytest.fixture(scope="module", params=sorted(SMOKE))
def run(request, tmp_path_factory):
  """A trained smoke run, sampled, exported and evaluated from the command
  line at its newest checkpoint (2) and at checkpoint 1."""
  name = request.param
  workdir = _trained(name, tmp_path_factory)
  assert _main(name, f"--workdir={workdir}", f"--sample={NUM}", "--export") == 0
  assert _main(name, f"--workdir={workdir}", f"--sample={NUM}", "--evaluate",
               "--checkpoint=1") == 0
  return name, _config(name), workdir


@pytest.mark.slow
def test_sample_draws_the_newest_checkpoints_samples(run):
  name, config, workdir = run
  samples = np.load(workdir / "step_2" / f"samples_{NUM}.npz")["samples"]
  expected = _samples(name, config, _state(name, config, workdir, 2))
  np.testing.assert_array_equal(samples, expected)
  # Token sequences (SeqGAN, the text GAN) are written as text, the rest drawn.
  sequences = samples.ndim == 2 and np.issubdtype(samples.dtype, np.integer)
  shown = f"samples_{NUM}.txt" if sequences else f"samples_{NUM}.png"
  assert os.path.getsize(workdir / "step_2" / shown) > 0


@pytest.mark.slow
def test_checkpoint_picks_the_older_step(run):
  name, config, workdir = run
  samples = np.load(workdir / "step_1" / f"samples_{NUM}.npz")["samples"]
  older = _samples(name, config, _state(name, config, workdir, 1))
  newest = _samples(name, config, _state(name, config, workdir, 2))
  np.testing.assert_array_equal(samples, older)
  assert not np.allclose(older, newest)


@pytest.mark.slow
def test_evaluate_writes_the_final_evaluation_of_that_checkpoint(run):
  _, _, workdir = run
  final = json.load(open(workdir / "results.json"))
  older = json.load(open(workdir / "step_1" / "results.json"))
  assert final["step"] == 2 and older["step"] == 1 and set(older) == set(final)
  records = [json.loads(l) for l in open(workdir / "step_1" / "metrics.jsonl")]
  assert [r["step"] for r in records] == [1]
  assert not np.allclose(np.load(workdir / "step_1" / "samples.npz")["samples"],
                         np.load(workdir / "samples.npz")["samples"])
  # The run's own files are left alone (a run may be evaluated while it trains).
  assert json.load(open(workdir / "results.json"))["step"] == 2


@pytest.mark.slow
def test_evaluate_at_the_last_step_repeats_the_runs_own_evaluation(
    tmp_path, tmp_path_factory):
  # The evaluation is a pure function of the config and the state.
  workdir = _trained("wgan_gp", tmp_path_factory)
  assert _main("wgan_gp", f"--workdir={workdir}", "--evaluate",
               f"--out={tmp_path}") == 0
  assert json.load(open(tmp_path / "results.json")) == json.load(
      open(workdir / "results.json"))
  np.testing.assert_array_equal(np.load(tmp_path / "samples.npz")["samples"],
                                np.load(workdir / "samples.npz")["samples"])


@pytest.mark.slow
def test_the_python_loader_gives_the_states_config_state_and_generator(run):
  name, config, workdir = run
  state = _state(name, config, workdir, 2)
  loaded_config, loaded_state = gj.train.load_run(str(workdir))
  assert gj.train.config.differences(loaded_config, config) == []
  for a, b in zip(jax.tree.leaves(loaded_state), jax.tree.leaves(state)):
    np.testing.assert_array_equal(a, b)
  generator = gj.train.load_generator(str(workdir))
  z = generator.latent(jax.random.key(3), 4)
  expected = _sampling_call(generator.spec, state, z)
  np.testing.assert_array_equal(generator(z), expected)
  older = gj.train.load_generator(str(workdir), step=1)
  assert not np.allclose(older(z), expected)


@pytest.mark.slow
def test_the_exported_file_reloads_into_an_equal_generator(run):
  name, config, workdir = run
  state = _state(name, config, workdir, 2)
  generator = gj.nn.Generator.load(workdir / "step_2" / "generator.npz")
  module = type(state.sampling_generator())
  assert generator.spec["module"] == f"gans_jax.nn.{module.__name__}"
  assert generator.spec["source"]["step"] == 2
  z = generator.latent(jax.random.key(4), 3)
  expected = _sampling_call(generator.spec, state, z)
  np.testing.assert_array_equal(generator(z), expected)


# ------------------------------------------------------------ the rest --

@pytest.mark.slow
def test_the_dcgan_latent_walk_is_drawn_again_as_the_run_drew_it(
    tmp_path, tmp_path_factory):
  workdir = _trained("dcgan", tmp_path_factory)
  assert _main("dcgan", f"--workdir={workdir}", "--draw=interpolation",
               f"--out={tmp_path / 'again'}") == 0
  assert _main("dcgan", f"--workdir={workdir}", "--draw=interpolation",
               "--sample_seed=5", f"--out={tmp_path / 'other'}") == 0
  from PIL import Image
  read = lambda p: np.asarray(Image.open(p))
  np.testing.assert_array_equal(read(tmp_path / "again" / "interpolation.png"),
                                read(workdir / "interpolation.png"))
  assert not np.array_equal(read(tmp_path / "other" / "interpolation.png"),
                            read(workdir / "interpolation.png"))


@pytest.mark.slow
def test_samples_beyond_one_call_continue_with_the_next_key(tmp_path,
                                                          tmp_path_factory):
  workdir = _trained("wgan_gp", tmp_path_factory)
  assert _main("wgan_gp", f"--workdir={workdir}", "--sample=150",
               "--sample_seed=7", f"--out={tmp_path}") == 0
  samples = np.load(tmp_path / "samples_150_seed7.npz")["samples"]
  config = _config("wgan_gp")
  state = _state("wgan_gp", config, workdir, 2)
  from experiments import wgan_gp
  key = gj.train.make_key(7, "sample")
  sample = wgan_gp.make_sampler(config, 100)
  expected = np.concatenate([sample(state, jax.random.fold_in(key, 0)),
                             sample(state, jax.random.fold_in(key, 1))])[:150]
  np.testing.assert_array_equal(samples, expected)


def test_a_workdir_without_a_checkpoint_exits_2_with_one_line(tmp_path, capsys):
  from experiments.configs import wgan_gp as wgan_gp_config
  (tmp_path / "config.json").write_text(
      gj.train.config.to_json(wgan_gp_config.get_config("smoke")))
  assert _main("wgan_gp", f"--workdir={tmp_path}", "--sample=4") == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "no checkpoint" in err[0] and str(tmp_path) in err[0]
  assert _main("wgan_gp", f"--workdir={tmp_path / 'none'}", "--evaluate") == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "holds no trained run" in err[0]


def test_a_trained_run_accepts_eval_overrides_only(tmp_path, capsys):
  from experiments.configs import wgan_gp as wgan_gp_config
  (tmp_path / "config.json").write_text(
      gj.train.config.to_json(wgan_gp_config.get_config("smoke")))
  assert _main("wgan_gp", f"--workdir={tmp_path}", "--evaluate",
               "--config.model.width=4") == 2
  err = capsys.readouterr().err
  assert "config.model.width" in err and "eval.*" in err
  assert _main("wgan_gp", f"--workdir={tmp_path}", "--evaluate",
               "--config.eval.num_samples=10", "--show_config") == 0
  assert "eval.num_samples = 10 " in capsys.readouterr().out


@pytest.mark.slow
def test_the_fgan_mixture_is_sampled_and_evaluated_per_divergence(tmp_path, capsys):
  workdir = tmp_path / "run"
  assert _main("fgan", "--config=experiments/configs/fgan.py:smoke",
               f"--workdir={workdir}") == 0
  assert _main("fgan", f"--workdir={workdir}", f"--sample={NUM}", "--evaluate") == 0
  samples = np.load(workdir / "step_2" / f"samples_{NUM}.npz")
  assert sorted(samples.files) == ["kl", "reverse_kl"]
  config = importlib.import_module("experiments.configs.fgan").get_config("smoke")
  from experiments import fgan
  for name in ("kl", "reverse_kl"):
    run_config = fgan.subruns(config)[name]
    state = _state("fgan", run_config, workdir / name, 2)
    np.testing.assert_array_equal(samples[name],
                                  _samples("fgan", run_config, state))
  final = json.load(open(workdir / "results.json"))
  again = json.load(open(workdir / "step_2" / "results.json"))
  assert {k: v for k, v in again.items() if k != "eval/seconds"} == {
      k: v for k, v in final.items() if k != "eval/seconds"}
  capsys.readouterr()
  assert _main("fgan", f"--workdir={workdir}", "--export") == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and f"--workdir={workdir / 'kl'}" in err[0]
  generator = gj.train.load_generator(str(workdir / "kl"))
  assert generator.spec["module"] == "gans_jax.nn.GaussianSampler"
  z = generator.latent(jax.random.key(0), 3)
  theta = fgan.subruns(config)["kl"]
  state = _state("fgan", theta, workdir / "kl", 2)
  np.testing.assert_allclose(
      generator(z), state.generator.params["mean"][...]
      + state.generator.params["std"][...] * z, rtol=1e-6)


@pytest.mark.slow
def test_an_exported_generator_loads_with_numpy_and_flax_alone(tmp_path):
  import flax.nnx as nnx
  spec = dict(module="gans_jax.nn.DCGANGenerator", mode="eval",
              kwargs=dict(latent_dim=8, image_size=32, channels=1, features=4),
              inputs=dict(latent_dim=8, noise="uniform"))
  module = gj.nn.build_module(spec, rngs=nnx.Rngs(1))
  module.eval()
  path = tmp_path / "generator.npz"
  gj.nn.Generator(module, spec).save(path)
  z = np.asarray(jax.random.uniform(jax.random.key(0), (2, 8), minval=-1, maxval=1))
  np.save(tmp_path / "z.npy", z)
  np.save(tmp_path / "expected.npy", np.asarray(module(z)))
  script = (
      "import sys\n"
      "for name in ('orbax', 'ml_collections', 'experiments', 'sklearn', "
      "'tensorflow_datasets', 'grain'):\n"
      "  sys.modules[name] = None  # any import of them fails\n"
      "import numpy as np\n"
      "from gans_jax.nn import Generator\n"
      f"g = Generator.load({str(path)!r})\n"
      f"z = np.load({str(tmp_path / 'z.npy')!r})\n"
      f"np.testing.assert_allclose(g(z), np.load({str(tmp_path / 'expected.npy')!r}),"
      " rtol=1e-6, atol=1e-6)\n"
      "assert g.latent(__import__('jax').random.key(0), 3).min() >= -1\n")
  done = subprocess.run([sys.executable, "-c", script], capture_output=True,
                        text=True, cwd=str(tmp_path), timeout=300,
                        env=dict(os.environ, JAX_PLATFORMS="cpu",
                                 PYTHONPATH=ROOT))
  assert done.returncode == 0, done.stderr[-3000:]
  # A file whose arrays do not fit the spec names the variable.
  data = dict(np.load(path))
  data["variables/project/linear/kernel"] = np.zeros((3, 3), np.float32)
  np.savez(tmp_path / "bad.npz", **data)
  with pytest.raises(ValueError, match="project/linear/kernel"):
    gj.nn.Generator.load(tmp_path / "bad.npz")


@pytest.mark.slow
def test_the_notebook_uses_a_trained_run(tmp_path, tmp_path_factory, monkeypatch):
  import matplotlib
  matplotlib.use("Agg")
  workdir = _trained("wgan_gp", tmp_path_factory)
  notebook = json.load(open(os.path.join(ROOT, "notebooks", "use_a_trained_run.ipynb")))
  cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
  assert cells[0].startswith('workdir = "runs/wgan_gp_quickstart"')
  cells[0] = cells[0].replace('"runs/wgan_gp_quickstart"', repr(str(workdir)), 1)
  monkeypatch.chdir(tmp_path)
  monkeypatch.setattr(sys, "path", [p for p in sys.path if os.path.abspath(p or ".")
                                     != ROOT])  # as a notebook opened elsewhere
  for name in [m for m in sys.modules if m == "experiments" or m.startswith("experiments.")]:
    monkeypatch.delitem(sys.modules, name)
  namespace = {}
  for source in cells:
    exec(compile(source, "notebook", "exec"), namespace)  # pylint: disable=exec-used
  assert namespace["samples"].shape == (1000, 2)
  assert os.path.getsize(tmp_path / "runs" / "use_a_trained_run" / "samples.png") > 0


@pytest.mark.slow
def test_the_readmes_python_for_a_trained_run_runs(tmp_path, tmp_path_factory,
                                                   monkeypatch):
  import re
  text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
  (block,) = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)
              if "gj.train.load_run" in b]
  runs = tmp_path / "runs"
  runs.mkdir()
  shutil.copytree(_trained("wgan_gp", tmp_path_factory), runs / "wgan_gp_quickstart")
  monkeypatch.chdir(tmp_path)
  namespace = {}
  exec(compile(block, "README.md", "exec"), namespace)  # pylint: disable=exec-used
  assert namespace["samples"].shape == (1000, 2)
  np.testing.assert_array_equal(namespace["generator"](namespace["z"]),
                                namespace["samples"])
