"""experiments/architecture_grid.py: each method's step (its updates, its
clipping, its penalty), each architecture's networks, the grid's cells (one
workdir each), its verdict table, the grid command resuming and skipping
the right cells, and bad input."""

import json
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import gans_jax as gj
from experiments import architecture_grid
from experiments.configs import architecture_grid as grid_config
from gans_jax.train import study as study_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "experiments", "architecture_grid.py")


@pytest.fixture(autouse=True)
def _shared_classifier_cache(tmp_path_factory, monkeypatch):
  monkeypatch.setenv("GANS_JAX_CACHE_DIR",
                     str(tmp_path_factory.getbasetemp() / "gans_jax_cache"))


def _config(method="gan", architecture="dcgan"):
  c = grid_config.get_config("smoke")
  c.grid.update(method=method, architecture=architecture)
  return c


def _modules(module, kind):
  return [m for _, m in nnx.iter_graph(module) if isinstance(m, kind)]


# ---------------------------------------------------------------- config --

@pytest.mark.parametrize("preset", grid_config.PRESETS)
def test_every_preset_validates(preset):
  gj.train.experiment.validate(architecture_grid, grid_config.get_config(preset))


@pytest.mark.parametrize("field,value", [
    ("grid.method", "began"), ("grid.architecture", "vgg"), ("data.image_size", 64)])
def test_validate_names_the_bad_field(field, value):
  config = grid_config.get_config()
  group, name = field.split(".")
  config[group][name] = value
  with pytest.raises(gj.train.ConfigError, match=field):
    gj.train.experiment.validate(architecture_grid, config)


def test_methods_have_the_official_gan_64x64_settings():
  m = grid_config.METHODS
  assert m["gan"] == dict(loss="non_saturating", optimizer="adam", learning_rate=2e-4,
                          b1=0.5, b2=0.999, n_critic=1, clip=0.0, gp_weight=0.0)
  assert (m["lsgan"]["loss"], m["lsgan"]["optimizer"], m["lsgan"]["learning_rate"],
          m["lsgan"]["n_critic"]) == ("least_squares", "rmsprop", 1e-4, 1)
  assert (m["wgan"]["optimizer"], m["wgan"]["learning_rate"], m["wgan"]["clip"],
          m["wgan"]["n_critic"], m["wgan"]["gp_weight"]) == ("rmsprop", 5e-5, 0.01, 5, 0.0)
  assert (m["wgan_gp"]["optimizer"], m["wgan_gp"]["learning_rate"], m["wgan_gp"]["b1"],
          m["wgan_gp"]["b2"], m["wgan_gp"]["n_critic"], m["wgan_gp"]["gp_weight"],
          m["wgan_gp"]["clip"]) == ("adam", 1e-4, 0.0, 0.9, 5, 10.0, 0.0)


# ---------------------------------------------------------- architectures --

@pytest.mark.parametrize("method", list(grid_config.METHODS))
@pytest.mark.parametrize("architecture", grid_config.ARCHITECTURES)
@pytest.mark.slow
def test_each_cell_builds_its_rows_networks(method, architecture):
  config = _config(method, architecture)
  state = architecture_grid.create_state(config)
  g, d = state.generator.module(), state.discriminator.module()
  x = g(jnp.zeros((2, config.model.latent_dim)))
  assert x.shape == (2, 32, 32, 1)
  assert d(x).shape == (2,)
  g_bn = bool(_modules(g, nnx.BatchNorm))
  d_bn, d_ln = bool(_modules(d, nnx.BatchNorm)), bool(_modules(d, nnx.LayerNorm))
  assert g_bn == (architecture in ("dcgan", "gated", "tanh", "resnet"))
  if architecture == "no_norm":
    assert not d_bn and not d_ln
  else:
    # WGAN-GP's critic never has BatchNorm: LayerNorm where the row has a norm.
    assert (d_bn, d_ln) == ((False, True) if method == "wgan_gp" else (True, False))
  kind = {"mlp_g": gj.nn.MLPGenerator, "resnet": gj.nn.DeepResNetGenerator32}.get(
      architecture, gj.nn.ConvGenerator)
  assert isinstance(g, kind)
  if architecture == "mlp_g":
    assert [l.out_features for l in g.hidden] == [config.model.mlp_width] * config.model.mlp_depth
  if architecture in ("gated", "tanh"):
    assert g.activation == architecture and d.activation == architecture
  if architecture == "no_bn_constant_g":
    assert {u.kernel[...].shape[2] for u in g.upsample} == {config.model.features}


# ------------------------------------------------------------------ step --

@pytest.mark.slow
@pytest.mark.parametrize("method", list(grid_config.METHODS))
def test_one_step_makes_the_methods_updates(method):
  config = _config(method, "no_norm")
  n = grid_config.METHODS[method]["n_critic"]
  state = architecture_grid.create_state(config)
  images = jax.random.uniform(jax.random.key(0), (n, 8, 32, 32, 1), minval=-1, maxval=1)
  batch = {"image": images if n > 1 else images[0]}
  step = jax.jit(architecture_grid.make_train_step(config))
  new, metrics = step(state, batch, jax.random.key(1))
  assert int(new.updates["discriminator"]) == n
  assert int(new.updates["generator"]) == 1
  assert ("gradient_penalty" in metrics) == (method == "wgan_gp")
  leaves = jax.tree.leaves(nnx.state(new.discriminator.module(), nnx.Param))
  bound = max(float(jnp.abs(l).max()) for l in leaves)
  if method == "wgan":
    assert bound <= 0.01
  else:
    assert bound > 0.01  # nothing clips the others' weights


@pytest.mark.slow
@pytest.mark.parametrize("method", list(grid_config.METHODS))
def test_smoke_two_steps_end_to_end(tmp_path, method):
  config = _config(method, "gated")
  results = architecture_grid.train_and_evaluate(config, str(tmp_path))
  for name in grid_config.METRICS:
    assert np.isfinite(results[name])
  assert 0.1 <= results["eval/mean_confidence"] <= 1.0
  assert json.load(open(tmp_path / "results.json"))["step"] == 2
  assert os.path.getsize(tmp_path / "samples.png") > 0


def test_mean_confidence_is_the_winning_softmax_probability(monkeypatch):
  class Fake:
    def logits(self, images):
      del images
      return np.log(np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]]))
  from gans_jax.eval import classifier as classifier_lib
  monkeypatch.setattr(classifier_lib, "load_or_train_digit_classifier", lambda _: Fake())
  assert architecture_grid.mean_confidence(np.zeros((2, 32, 32, 1))) == pytest.approx(0.6)


# ------------------------------------------------------------------ grid --

def test_every_cell_has_its_own_workdir_and_settings():
  cells = grid_config.cells("quick", seeds=(0, 1))
  assert len(cells) == 4 * 7 * 2
  study = study_lib.Study("g", cells, "/tmp/root")
  assert len({study.workdir(c) for c in cells}) == len(cells)
  settings = {(c.overrides["grid.method"], c.overrides["grid.architecture"],
               c.overrides["train.seed"]) for c in cells}
  assert len(settings) == len(cells)
  for c in cells:
    assert c.labels["method"] == c.overrides["grid.method"]
    assert c.labels["architecture"] == c.overrides["grid.architecture"]
    assert f"method={c.labels['method']}" in c.dirname
    assert f"architecture={c.labels['architecture']}" in c.dirname
  with pytest.raises(study_lib.StudyError, match="unknown method"):
    grid_config.cells("quick", methods=("gan", "began"))


def test_a_cell_refuses_the_workdir_of_another_cell(tmp_path):
  a, b = grid_config.cells("smoke", methods=("gan", "wgan_gp"), architectures=("tanh",))
  workdir = tmp_path / a.dirname
  workdir.mkdir()
  config = grid_config.get_config("smoke")
  config.grid.update(method="wgan_gp", architecture="tanh")
  (workdir / "config.json").write_text(gj.train.config.to_json(config))
  assert "grid.method" in study_lib.mismatch(a, str(workdir))
  assert study_lib.mismatch(b, str(workdir)) is None
  (workdir / study_lib.CELL_FILE).write_text(json.dumps(b.record()))
  assert "another cell" in study_lib.mismatch(a, str(workdir))


def _summary(values):
  rows = []
  for (a, m), (fd, classes) in values.items():
    stats = {"eval/classifier_fd": study_lib.stat([fd] if fd is not None else []),
             "eval/classes_covered": study_lib.stat([classes] if fd is not None else []),
             "eval/mean_confidence": study_lib.stat([0.9] if fd is not None else [])}
    rows.append(study_lib.Row({"architecture": a, "method": m}, [f"{a}{m}"], [], stats, {}))
  return study_lib.Summary("g", list(grid_config.METRICS), rows)


def test_the_verdict_follows_the_stated_criterion():
  limit, enough = grid_config.MAX_FD, grid_config.MIN_CLASSES
  summary = _summary({("dcgan", "gan"): (limit, enough), ("dcgan", "wgan_gp"): (10.0, 10),
                      ("tanh", "gan"): (limit + 1, 10), ("tanh", "wgan_gp"): (20.0, 10),
                      ("mlp_g", "gan"): (10.0, enough - 1), ("mlp_g", "wgan_gp"): (None, None)})
  table, verdicts = grid_config.grid_table(summary)
  cells = verdicts["cells"]
  assert cells["dcgan"]["gan"]["trains"] is True
  assert cells["tanh"]["gan"]["trains"] is False
  assert cells["mlp_g"]["gan"]["trains"] is False
  assert cells["mlp_g"]["wgan_gp"]["trains"] is None
  assert verdicts["trains_everywhere"] == {"gan": False, "wgan_gp": False}
  assert "not finished" in table and "**fails**" in table
  assert table.splitlines()[2] == "| architecture | gan | wgan_gp |"
  assert grid_config.trains({"eval/classifier_fd": math.nan,
                             "eval/classes_covered": 10}) is None


def _grid(*flags, env=None):
  return subprocess.run([sys.executable, SCRIPT, "--grid", *flags], capture_output=True,
                        text=True, cwd=ROOT, timeout=1200,
                        env=dict(os.environ, JAX_PLATFORMS="cpu", **(env or {})))


@pytest.mark.parametrize("flags,needle", [
    (["--methods=gan,began"], "unknown method"),
    (["--architectures=vgg"], "unknown architecture"),
    (["--config=experiments/configs/architecture_grid.py:huge"], "unknown preset"),
    (["--config=experiments/configs/wgan.py:digits"], "--config"),
    (["--config.grid.method=gan"], "grid.method"),
    (["--seeds=zero"], "seeds"),
    (["--config.train.num_steps"], "--config.FIELD=VALUE"),
])
def test_grid_bad_input_exits_2_with_one_line(tmp_path, flags, needle):
  run = _grid(*flags, f"--root={tmp_path / 'g'}")
  assert run.returncode == 2, run.stderr[-2000:]
  lines = run.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], lines
  assert not os.path.exists(tmp_path / "g")


def test_grid_help_answers_at_once():
  run = _grid("--help")
  assert run.returncode == 0 and "--architectures" in run.stdout


@pytest.mark.slow
def test_bad_cell_config_exits_2_naming_the_field(tmp_path):
  run = subprocess.run([sys.executable, SCRIPT, "--config.grid.method=began",
                        f"--workdir={tmp_path}"], capture_output=True, text=True,
                       cwd=ROOT, timeout=300, env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert run.returncode == 2, run.stderr[-2000:]
  lines = run.stderr.strip().splitlines()
  assert len(lines) == 1 and "grid.method" in lines[0]


def _commands(workdir):
  with open(os.path.join(workdir, study_lib.LOG_FILE)) as f:
    return sum(line.startswith("$ ") for line in f)


@pytest.mark.slow
def test_grid_runs_each_cell_in_its_own_workdir_then_resumes_only_the_unfinished(tmp_path):
  root = tmp_path / "grid"
  flags = ["--config=experiments/configs/architecture_grid.py:smoke",
           "--methods=gan,wgan", "--architectures=no_norm,tanh", f"--root={root}"]
  first = _grid(*flags)
  assert first.returncode == 0, first.stderr[-3000:]
  names = {f"architecture={a}__method={m}__seed=0"
           for a in ("no_norm", "tanh") for m in ("gan", "wgan")}
  assert names <= set(os.listdir(root))
  for name in names:
    config = json.load(open(root / name / "config.json"))
    labels = dict(part.split("=") for part in name.split("__"))
    assert (config["grid"]["method"], config["grid"]["architecture"]) == (
        labels["method"], labels["architecture"])
    assert _commands(root / name) == 1
  verdicts = json.load(open(root / "grid.json"))
  assert set(verdicts["cells"]) == {"no_norm", "tanh"}
  assert os.path.getsize(root / "samples.png") > 0
  # One cell loses its results (an interrupted run): only it runs again.
  redo = "architecture=tanh__method=gan__seed=0"
  os.remove(root / redo / "results.json")
  second = _grid(*flags)
  assert second.returncode == 0, second.stderr[-3000:]
  for name in names:
    assert _commands(root / name) == (2 if name == redo else 1), name
  manifest = json.load(open(root / study_lib.MANIFEST_FILE))
  assert {n: c["ran"] for n, c in manifest["cells"].items()} == {
      n: n == redo for n in names}
  assert json.load(open(root / redo / "results.json"))["step"] == 2
