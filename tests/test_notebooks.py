"""Every notebook runs top to bottom in a Jupyter kernel (nbclient), as a
reader would run it; any error in any cell fails the test. The kernel sees
``GANS_JAX_NOTEBOOK_SMOKE=1``: the notebooks whose training takes minutes
shorten it then (every cell still runs), as documentation test suites do."""

import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location(
    "notebook_runner", os.path.join(ROOT, "notebooks", "run.py"))
notebook_runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(notebook_runner)

NOTEBOOKS = [os.path.basename(p) for p in notebook_runner.notebooks()]


def test_every_notebook_is_listed_and_stored_with_its_figures():
  assert {"gan.ipynb", "dcgan.ipynb", "wgan.ipynb", "wgan_gp.ipynb", "fgan.ipynb",
          "write_your_own_gan.ipynb"} <= set(NOTEBOOKS)
  for name in NOTEBOOKS:
    notebook = json.load(open(os.path.join(ROOT, "notebooks", name)))
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    # Stored with outputs (GitHub shows them), every code cell executed in order.
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1)), name
    pictures = [o for c in code for o in c["outputs"]
                if "image/png" in o.get("data", {})]
    assert pictures, f"{name} shows no figure"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, name


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_a_kernel(name, tmp_path, monkeypatch):
  monkeypatch.setenv("GANS_JAX_CACHE_DIR", str(tmp_path / "cache"))
  monkeypatch.setenv("GANS_JAX_COMPILATION_CACHE", "0")
  monkeypatch.setenv("GANS_JAX_NOTEBOOK_SMOKE", "1")
  notebook = notebook_runner.execute(os.path.join(ROOT, "notebooks", name),
                                     cwd=str(tmp_path))
  outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
  assert any("image/png" in o.get("data", {}) for o in outputs)
