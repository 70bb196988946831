"""Shared test set-up: JAX on the CPU, float32, quiet logs; the two test tiers.

``python -m pytest -n 2 -q tests`` runs every test (the README's and CI's
command). ``python -m pytest -n 2 -q -m "not slow" tests`` is the quick tier
for working on the code. A test is marked ``slow`` (a decorator, or a test
file's ``pytestmark``) when it costs more than a few seconds of CPU: it
trains, compiles a large step or starts processes that import JAX. The quick
tier still keeps a smoke test of every test file (but those that only train
or start processes), of every gans_jax module and of every experiment;
``tests/test_tiers.py`` fails when one has none.
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
