"""A config fuzz: random overrides of every experiment's presets either pass
validation (and then train) or stop with exit code 2 and one line.

Overrides are drawn as a user would type them: existing fields, misspelt and
made-up ones; values of the field's type and of other types; negative, zero,
NaN, infinite and huge numbers. Each case runs through the command line's
own entry point, ``gans_jax.cli.main``, in this process:

* every preset of every experiment, with training replaced by a stub: the
  config passes validation (exit 0) or exits 2 with one ``error:`` line;
* the smoke presets (two steps of tiny models) trained for real: exit 0,
  exit 2 with one line, or exit 1 with the one line of a NaN stop (a
  learning rate of 1e30 is valid and diverges).

``GANS_JAX_FUZZ_EXAMPLES`` scales the number of examples (``=1000`` for a
long run); a few cases also run as separate processes, to see that nothing
but the one line reaches stderr.
"""

import contextlib
import copy
import functools
import importlib
import io
import os
import re
import subprocess
import sys
import tempfile

import jax
import ml_collections
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import experiments
from gans_jax import cli
from gans_jax.train import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The experiments fuzzed: every one the experiments package lists (its
# tests fail when a module there is not listed or does not meet the contract).
EXPERIMENTS = tuple(sorted(experiments.EXPERIMENTS))

SCALE = float(os.environ.get("GANS_JAX_FUZZ_EXAMPLES", "0") or 0)


def _examples(default: int) -> int:
  return int(SCALE) if SCALE else default


@pytest.fixture(autouse=True)
def _caches(tmp_path_factory, monkeypatch):
  # The digit classifier (for the evaluations) and compiled programs are
  # shared by every example, in this session's temporary directory.
  monkeypatch.setenv("GANS_JAX_CACHE_DIR",
                     str(tmp_path_factory.getbasetemp() / "gans_jax_cache"))


@functools.cache
def _experiment(name: str):
  return (importlib.import_module(f"experiments.{name}"),
          importlib.import_module(f"experiments.configs.{name}"))


def _leaves(config: ml_collections.ConfigDict, prefix: str = ""):
  """``(dotted name, value)`` of every field that is not a section."""
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      yield from _leaves(value, f"{prefix}{key}.")
    else:
      yield f"{prefix}{key}", value


@functools.cache
def _config_and_checks(name: str, preset: str):
  """The preset's config and the checks its fields declare."""
  return config_lib.declared_checks(lambda: _experiment(name)[1].get_config(preset))


def _config(name: str, preset: str) -> ml_collections.ConfigDict:
  return _config_and_checks(name, preset)[0]


def _validate(name: str, preset: str, config: ml_collections.ConfigDict) -> None:
  """What the command line checks (``gans_jax.train.experiment.validate``):
  each field's own check, then the experiment's rules across fields."""
  config_lib.check_fields(config, _config_and_checks(name, preset)[1])
  _experiment(name)[0].validate(config)


def _fresh_config(name: str, preset: str) -> ml_collections.ConfigDict:
  return copy.deepcopy(_config(name, preset))  # get_config can take a while


@functools.cache
def _fields(name: str, preset: str) -> tuple[tuple[str, object], ...]:
  return tuple(_leaves(_config(name, preset)))


@functools.cache
def _strings(name: str) -> tuple[str, ...]:
  """Every string any preset of the experiment holds (dataset names,
  architectures, divergences...): plausible values for string fields."""
  module = _experiment(name)[1]
  found = set()
  for preset in module.PRESETS:
    found.update(v for _, v in _leaves(_config(name, preset)) if isinstance(v, str))
  return tuple(sorted(found))


# ------------------------------------------------------------- strategies --

HUGE = ("2147483648", "9223372036854775808", "10" * 16, "1e30", "1e308", "inf")
WRONG = ("abc", "1.5", "nan", "-inf", "(1, 2)", "True", "None", "", "-1", "0",
         "[3]", "{}", "1e-300")


def _values(name: str, current) -> st.SearchStrategy[str]:
  """What a user might type for a field holding ``current``."""
  wrong = st.sampled_from(WRONG + HUGE)
  if isinstance(current, bool):
    own = st.sampled_from(("True", "False", "true", "0", "1", "maybe"))
  elif isinstance(current, int):
    own = st.integers(-3, 64).map(str)
  elif isinstance(current, float):
    own = st.one_of(
        st.floats(-10, 10, allow_nan=False).map(repr),
        st.sampled_from(("0", "0.0", "-0.0", "1", "0.5", "0.999999", "1e-30")))
  elif isinstance(current, str):
    own = st.one_of(
        st.sampled_from(_strings(name) + ("folder:/nonexistent", "tfds:nothing",
                                          "mnist", "none", "NONE")),
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=8))
  elif isinstance(current, tuple):
    own = st.one_of(
        st.lists(st.integers(-2, 32), max_size=3).map(lambda v: repr(tuple(v))),
        st.lists(st.floats(-2, 2, allow_nan=False), min_size=1, max_size=3).map(
            lambda v: repr(tuple(v))),
        st.sampled_from(_strings(name)).map(lambda s: repr((s,))))
  else:
    own = st.sampled_from(("None", "0", "abc"))
  return st.one_of(own, own, wrong)


def _misspell(field: str, index: int, letter: str, kind: int) -> str:
  """One typing slip in the last part of a dotted name."""
  head, _, last = field.rpartition(".")
  i = index % (len(last) + 1)
  if kind == 0:
    last = last[:i] + letter + last[i:]
  elif kind == 1 and len(last) > 1:
    last = last[:i] + last[i + 1:]
  else:
    last = last[:i] + letter + last[i + 1:]
  return f"{head}.{last}" if head else last


@st.composite
def _override(draw, name: str, preset: str) -> str:
  fields = _fields(name, preset)
  field, current = draw(st.sampled_from(fields))
  kind = draw(st.sampled_from(("existing", "existing", "existing", "misspelt",
                               "made up")))
  if kind == "misspelt":
    field = _misspell(field, draw(st.integers(0, 40)),
                      draw(st.sampled_from("aeiorstnx_1.")), draw(st.integers(0, 2)))
  elif kind == "made up":
    field = draw(st.sampled_from(("foo", "train.foo", "model.foo.bar", "train",
                                  "model", "eval", f"{field}.x", "")))
  return f"--config.{field}={draw(_values(name, current))}"


# ---------------------------------------------------------------- running --

def _main(name: str, preset: str, overrides, workdir: str, train=None):
  """(exit code, stderr) of the command line, in this process."""
  module, _ = _experiment(name)
  config_file = os.path.join(ROOT, "experiments", "configs", f"{name}.py")
  argv = [f"experiments/{name}.py", f"--config={config_file}:{preset}",
          *overrides, f"--workdir={workdir}"]
  err = io.StringIO()
  with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
    code = cli.main(module, argv, train=train)
  return code, err.getvalue()


def _error_lines(stderr: str) -> list[str]:
  """stderr without the progress bar and the one-line notes the loop may
  print while it trains."""
  lines = [l for l in re.split(r"[\r\n]+", stderr) if l.strip()]
  return [l for l in lines if not re.search(r"\d+/\d+ \[|step/s|s/step", l)]


def _assert_one_error(code: int, stderr: str, overrides) -> str:
  assert "Traceback" not in stderr, (overrides, stderr[-3000:])
  errors = [l for l in _error_lines(stderr) if l.startswith("error: ")]
  assert len(errors) == 1, (overrides, stderr[-3000:])
  assert code in (1, 2), (overrides, code, stderr[-3000:])
  if code == 1:  # only a NaN/Inf stop exits 1
    assert "non-finite" in errors[0], (overrides, errors)
  return errors[0]


@settings(max_examples=_examples(120), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_overrides_of_every_preset_validate_or_exit_2_in_one_line(data):
  name = data.draw(st.sampled_from(EXPERIMENTS), label="experiment")
  preset = data.draw(st.sampled_from(_experiment(name)[1].PRESETS), label="preset")
  overrides = data.draw(st.lists(_override(name, preset), min_size=1, max_size=3),
                        label="overrides")
  seen = []
  with tempfile.TemporaryDirectory() as workdir:  # a run of its own each time
    code, stderr = _main(name, preset, overrides, os.path.join(workdir, "run"),
                         train=lambda config, workdir: seen.append(config))
  if code == 0:
    assert len(seen) == 1 and not _error_lines(stderr), (overrides, stderr)
    # What passed is what the flags said: the override reached the config.
    field, _, value = overrides[-1][len("--config."):].partition("=")
    assert field in {f for f, _ in _leaves(seen[0])}, overrides
  else:
    assert not seen
    line = _assert_one_error(code, stderr, overrides)
    assert code == 2, (overrides, line)
    assert re.match(r"error: (config|flags|--config)", line), (overrides, line)


# Fields that hold any string: names, paths, TFDS split expressions.
FREE_FORM = ("name", "data.data_dir", "eval.validation_split", "eval.inception_reference",
             "eval.split", "content.vgg_weights")
# Integer fields where -1 means "the network's default".
MINUS_ONE_ALLOWED = ("model.dropout_blocks",)


def _bad_values(value):
  """Values no field holding ``value`` accepts."""
  if isinstance(value, bool):
    return ["yes", None]
  if isinstance(value, int):
    return [-1, 2**31, 1.5, "7"]
  if isinstance(value, float):
    return [float("nan"), float("inf"), "abc", None]
  if isinstance(value, str):
    return ["no-such-value", 3]
  if isinstance(value, tuple):
    return [("x",), (-1,), 5]
  return ["abc"]


@pytest.mark.parametrize("name", EXPERIMENTS)
@pytest.mark.slow
def test_every_field_of_every_preset_is_checked_by_validate(name):
  _, config_module = _experiment(name)
  from gans_jax.train import ConfigError
  for preset in config_module.PRESETS:
    _validate(name, preset, _fresh_config(name, preset))
    for field, value in _fields(name, preset):
      if field in FREE_FORM:
        continue
      for bad in _bad_values(value):
        if bad == -1 and field in MINUS_ONE_ALLOWED:
          continue
        config = _fresh_config(name, preset)
        *parents, last = field.split(".")
        node = config
        for part in parents:
          node = node[part]
        with node.ignore_type():
          node[last] = bad
        with pytest.raises(ConfigError) as error:
          _validate(name, preset, config)
        # The message names the field (the tuples of fgan's mixture are
        # checked together, so a short one blames the next).
        assert field in str(error.value) or field.startswith("data."), (
            preset, field, bad, str(error.value))


def _smoke_presets():
  return [(name, preset) for name in EXPERIMENTS
          for preset in _experiment(name)[1].PRESETS if preset.startswith("smoke")]


@pytest.mark.slow
@settings(max_examples=_examples(10), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_overrides_of_the_smoke_presets_train_or_exit_in_one_line(
    data, tmp_path_factory):
  name, preset = data.draw(st.sampled_from(_smoke_presets()), label="preset")
  overrides = data.draw(st.lists(_override(name, preset), min_size=1, max_size=3),
                        label="overrides")
  workdir = tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp())
  code, stderr = _main(name, preset, overrides, workdir)
  jax.clear_caches()
  if code == 0:
    assert "Traceback" not in stderr, (overrides, stderr[-3000:])
    assert not [l for l in _error_lines(stderr) if l.startswith("error")], stderr
    assert os.path.exists(os.path.join(workdir, "results.json")), (overrides, stderr)
  else:
    _assert_one_error(code, stderr, overrides)


@pytest.mark.slow
@pytest.mark.parametrize("override,words", [
    ("--config.train.num_stepz=3", ["train.num_stepz", "did you mean train.num_steps"]),
    ("--config.optim.learning_rate=nan", ["optim.learning_rate", "nan"]),
    ("--config.train.batch_size=1.5", ["train.batch_size", "'1.5'"]),
    ("--config.train.num_steps=9223372036854775808", ["train.num_steps"]),
])
def test_a_bad_override_is_one_line_on_stderr_of_a_process(override, words, tmp_path):
  env = dict(os.environ, JAX_PLATFORMS="cpu", GANS_JAX_COMPILATION_CACHE="0",
             PYTHONPATH=ROOT)
  run = subprocess.run(
      [sys.executable, os.path.join(ROOT, "experiments", "wgan_gp.py"),
       "--config=experiments/configs/wgan_gp.py:smoke", override,
       f"--workdir={tmp_path / 'run'}"],
      capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
  assert run.returncode == 2, run.stderr[-3000:]
  lines = run.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr[-3000:]
  for word in words:
    assert word in lines[0], lines[0]
  assert run.stdout == ""
  assert not os.path.exists(tmp_path / "run")
