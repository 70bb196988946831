"""The quick tier (``-m "not slow"``) keeps a test in every test file (but
those that only train or start processes) and names every module of gans_jax
and every experiment.

A quick test *names* a module when its code, the code of a fixture it uses,
or a helper function of the test files it calls, loads a name bound to that
module or to something defined in it (``gj.train.fit`` names
``gans_jax.train.loop``), or when it is parametrized with such a function.
This is read from the bytecode of the collected tests, so the check costs no
run; it proves a quick test touches the module, not how well it tests it.
"""

import dis
import inspect
import os
import sys
import types

import pytest

from conftest import COLLECTED

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")
# Modules of experiments/ that are no experiment: shared helpers.
EXPERIMENT_HELPERS = {"__init__", "common", "translation", "stacked"}
# Modules that quick tests run without naming them, each through the module
# beside it: every call of ``fit`` builds its data mesh, writes and restores
# checkpoints and watches for SIGTERM; the f-GAN mixture's generator is a
# GaussianSampler.
REACHED_THROUGH = {
    "gans_jax.nn.gaussian": "experiments.fgan",
    "gans_jax.train.checkpoint": "gans_jax.train.loop",
    "gans_jax.train.distributed": "gans_jax.train.loop",
    "gans_jax.train.preemption": "gans_jax.train.loop",
}
# Test files whose every test trains or starts processes: all slow.
ALL_SLOW_FILES = {
    "test_parallel_lines.py",  # trains critics to convergence
    "test_resume.py",  # trains real states, resumes and compares
}
_CHAIN = {"LOAD_ATTR", "LOAD_METHOD"}


def _modules_under(package: str) -> list[str]:
  """The dotted names of the package's modules (not its ``__init__`` files)."""
  names = []
  top = os.path.join(ROOT, package)
  for folder, _, files in os.walk(top):
    if "__pycache__" in folder:
      continue
    for f in files:
      if f.endswith(".py") and f != "__init__.py":
        rel = os.path.relpath(os.path.join(folder, f[:-3]), ROOT)
        names.append(rel.replace(os.sep, "."))
  return sorted(names)


def required_modules() -> list[str]:
  """Every gans_jax module and every experiment (not its configs)."""
  experiments = [m for m in _modules_under("experiments")
                 if m.count(".") == 1
                 and m.split(".")[1] not in EXPERIMENT_HELPERS]
  return _modules_under("gans_jax") + experiments


def _owner(obj) -> str | None:
  if isinstance(obj, types.ModuleType):
    return obj.__name__
  return getattr(obj, "__module__", None) if callable(obj) else None


def _in_tests(fn) -> bool:
  try:
    return os.path.dirname(os.path.abspath(inspect.getfile(fn))) == TESTS
  except TypeError:
    return False


def _named(fn, seen: set) -> set[str]:
  """Modules named by ``fn``'s code, its nested code and the test files'
  helper functions it calls."""
  fn = inspect.unwrap(fn)
  code = getattr(fn, "__code__", None)
  if code is None or code in seen:
    return set()
  seen.add(code)
  found: set[str] = set()
  namespace = fn.__globals__

  def scan(code):
    local: dict = {}
    obj = None
    pending_import = None
    for ins in dis.get_instructions(code):
      if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
        obj = namespace.get(ins.argval)
      elif ins.opname in ("LOAD_FAST", "LOAD_DEREF"):
        obj = local.get(ins.argval)
      elif ins.opname in _CHAIN and obj is not None:
        obj = getattr(obj, ins.argval, None)
      elif ins.opname == "IMPORT_NAME":
        pending_import = obj = sys.modules.get(ins.argval)
      elif ins.opname == "IMPORT_FROM" and pending_import is not None:
        obj = getattr(pending_import, ins.argval, None)
      elif ins.opname in ("STORE_FAST", "STORE_DEREF") and obj is not None:
        local[ins.argval] = obj
        obj = None
        continue
      else:
        obj = None
        pending_import = None if ins.opname != "POP_TOP" else pending_import
        continue
      owner = _owner(obj)
      if owner:
        found.add(owner)
      if inspect.isfunction(obj) and _in_tests(obj):
        found.update(_named(obj, seen))
    for const in code.co_consts:
      if isinstance(const, types.CodeType):
        scan(const)

  scan(code)
  return found


def modules_named_by(item) -> set[str]:
  """The modules a collected test names (see the module docstring)."""
  seen: set = set()
  found = _named(item.function, seen)
  for defs in item._fixtureinfo.name2fixturedefs.values():
    for fixturedef in defs:
      if _in_tests(fixturedef.func):
        found |= _named(fixturedef.func, seen)
  for value in getattr(getattr(item, "callspec", None), "params", {}).values():
    owner = _owner(value)
    if owner:
      found.add(owner)
  return found


def _quick_items(request) -> list:
  """The collected tests not marked slow; skips unless all of tests/ was
  collected."""
  items = request.config.stash.get(COLLECTED, [])
  if {os.path.basename(str(item.path)) for item in items} != _test_files():
    pytest.skip("checked when the whole of tests/ is collected")
  return [item for item in items if item.get_closest_marker("slow") is None
          and isinstance(item, pytest.Function)]


def _test_files() -> set[str]:
  return {f for f in os.listdir(TESTS)
          if f.startswith("test_") and f.endswith(".py")}


def test_every_test_file_keeps_a_quick_test(request):
  with_quick = {os.path.basename(str(item.path))
                for item in _quick_items(request)}
  assert _test_files() - with_quick == ALL_SLOW_FILES


def test_every_module_and_experiment_has_a_quick_test(request):
  quick = _quick_items(request)
  named = set().union(*(modules_named_by(item) for item in quick))
  missing = [m for m in required_modules()
             if REACHED_THROUGH.get(m, m) not in named]
  assert not missing, (
      "no quick test (not marked slow) names these modules; keep one smoke "
      f"test of each out of the slow tier: {missing}")
