"""Shared test set-up: JAX on the CPU, float32, quiet logs; the two test tiers.

``python -m pytest -n 2 -q tests`` runs every test (the README's and CI's
command). ``python -m pytest -n 2 -q -m "not slow" tests`` is the quick tier
for working on the code: a test is marked ``slow`` (a decorator, or a test
file's ``pytestmark``) when it trains, compiles a large step, starts other
processes or otherwise takes more than a few seconds, and each test file keeps
a quick smoke test where it can. ``tests/test_tiers.py`` fails when no quick
test names one of gans_jax's modules or one of the experiments.
"""

import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Every collected test, before ``-m`` / ``-k`` deselect any.
COLLECTED = pytest.StashKey[list]()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
  config.stash[COLLECTED] = list(items)
