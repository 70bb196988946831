"""The README's code runs as printed."""

import os
import re

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python_blocks(path):
  text = open(path, encoding="utf-8").read()
  return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_custom_gan_example_trains(tmp_path, monkeypatch):
  blocks = _python_blocks(os.path.join(ROOT, "README.md"))
  assert len(blocks) == 1
  monkeypatch.chdir(tmp_path)
  namespace = {}
  exec(compile(blocks[0], "README.md", "exec"), namespace)  # pylint: disable=exec-used
  records = [__import__("json").loads(l)
             for l in open(tmp_path / "runs" / "my_wgan_gp" / "metrics.jsonl")]
  assert records[-1]["step"] == 500
  assert all(np.isfinite(r["d_loss"]) for r in records)
  assert int(namespace["state"].step) == 500


def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
  import json
  import matplotlib
  matplotlib.use("Agg")
  notebook = json.load(open(os.path.join(ROOT, "notebooks", "write_your_own_gan.ipynb")))
  monkeypatch.chdir(tmp_path)
  namespace = {}
  for cell in notebook["cells"]:
    if cell["cell_type"] == "code":
      exec(compile("".join(cell["source"]), "notebook", "exec"), namespace)  # pylint: disable=exec-used
  assert os.path.getsize(tmp_path / "toy.png") > 0
  assert namespace["samples"].shape == (2500, 2)
