"""The README's code runs as printed."""

import os
import re

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python_blocks(path):
  text = open(path, encoding="utf-8").read()
  return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.slow
def test_readme_custom_gan_example_trains(tmp_path, monkeypatch):
  blocks = [b for b in _python_blocks(os.path.join(ROOT, "README.md"))
            if "class WGANGP" in b]
  assert len(blocks) == 1
  monkeypatch.chdir(tmp_path)
  namespace = {}
  exec(compile(blocks[0], "README.md", "exec"), namespace)  # pylint: disable=exec-used
  records = [__import__("json").loads(l)
             for l in open(tmp_path / "runs" / "my_wgan_gp" / "metrics.jsonl")]
  assert records[-1]["step"] == 2000
  state = namespace["state"]
  assert {k: int(v) for k, v in state.updates.items()} == {"generator": 2000,
                                                           "critic": 2000}
  # It learned: the EMA generator's samples sit near the 8 modes, which the
  # untrained generator's do not.
  import gans_jax as gj
  toy = gj.data.get_toy("8gaussians")
  samples = np.asarray(namespace["samples"])
  assert samples.shape == (2500, 2)
  distance = lambda x: np.min(np.linalg.norm(
      x[:, None] - toy.centers[None], axis=-1), axis=1).mean()
  untrained = namespace["WGANGP"].create(
      generator=gj.nn.MLPGenerator(2, 2, hidden=(128, 128), output_activation=None,
                                   rngs=gj.train.init_rngs(0)),
      critic=state.critic.module(), optimizers={})
  before = np.asarray(untrained.generator.module()(
      np.random.default_rng(0).normal(size=(2500, 2)).astype(np.float32)))
  assert distance(samples) < 0.3 * distance(before), (distance(samples),
                                                      distance(before))


def test_every_library_module_has_a_section_in_the_api_docs():
  import pkgutil
  import gans_jax
  documented = set(re.findall(r"automodule:: (gans_jax[\w.]*)",
                              "".join(open(os.path.join(ROOT, "docs", "api", f)).read()
                                      for f in os.listdir(os.path.join(ROOT, "docs", "api")))))
  modules = {m.name for m in pkgutil.walk_packages(gans_jax.__path__, "gans_jax.")
             if not m.ispkg}
  assert modules - documented == set()


# ------------------------------------------------- the recorded results --

def _results_module():
  import importlib.util
  spec = importlib.util.spec_from_file_location(
      "docs_results", os.path.join(ROOT, "docs", "results.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _copy_docs(tmp_path):
  """README.md, docs/results and docs/experiments under ``tmp_path``."""
  import shutil
  tmp_path.mkdir(parents=True, exist_ok=True)
  shutil.copy(os.path.join(ROOT, "README.md"), tmp_path / "README.md")
  for folder in ("results", "experiments"):
    shutil.copytree(os.path.join(ROOT, "docs", folder), tmp_path / "docs" / folder)
  return str(tmp_path)


def test_docs_pages_and_readme_show_the_recorded_results():
  results = _results_module()
  assert results.stale_files() == [], (
      "run python docs/results.py to rewrite the tables from docs/results/")


def test_a_number_that_differs_from_the_recorded_results_is_caught(tmp_path):
  import json
  results = _results_module()
  root = _copy_docs(tmp_path)
  assert results.stale_files(root) == []
  page = tmp_path / "docs" / "experiments" / "dcgan.md"
  page.write_text(page.read_text(encoding="utf-8").replace("| 30.2 |", "| 30.3 |"),
                  encoding="utf-8")
  assert results.stale_files(root) == ["docs/experiments/dcgan.md"]
  # A changed record changes the page it is shown on and the README's headline.
  results.write(root)
  record = json.loads((tmp_path / "docs" / "results" / "progan.json").read_text())
  record["runs"]["digits"]["metrics"]["eval/classifier_fd"] = 21.04
  (tmp_path / "docs" / "results" / "progan.json").write_text(json.dumps(record))
  assert sorted(results.stale_files(root)) == ["README.md", "docs/experiments/progan.md"]
  results.write(root)
  assert "| `progan.py` (default) | 10 min 51 s | 21.0 |" in (
      tmp_path / "docs" / "experiments" / "progan.md").read_text(encoding="utf-8")
  assert "classifier FD 21.0," in (tmp_path / "README.md").read_text(encoding="utf-8")


def test_a_cell_with_a_missing_field_reads_a_dash_and_formats_apply():
  results = _results_module()
  assert results.fill("{eval/a:.1f} / {n}", {"eval/a": 1.26}, {"n": 10}) == "1.3 / 10"
  assert results.fill("{eval/a:.1f} / {n}", {"eval/a": 1.26}) == results.MISSING
  assert results.fill("{eval/f:.1%}", {"eval/f": 0.8575}) == "85.8%"


def test_a_run_recorded_from_its_workdir_is_shown_with_its_command_and_commit(
    tmp_path):
  import json
  results = _results_module()
  root = _copy_docs(tmp_path / "repo")
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / "results.json").write_text(json.dumps(
      {"step": 2000, "eval/classifier_fd": 27.04, "eval/classes_covered": 9,
       "eval/class_entropy": 2.2, "eval/class_kl_to_uniform": 0.1}))
  (workdir / "run.json").write_text(json.dumps(
      {"experiment": "experiments.dcgan",
       "commands": [{"step": 0, "argv": ["experiments/dcgan.py", "--config.train.seed=3"]}]}))
  commit = "0123456789abcdef0123456789abcdef01234567"
  run = results.run_from_workdir(str(workdir), command=None, commit=commit,
                                 machine="8 CPU cores", wall_time="4 min")
  assert run["command"] == "python experiments/dcgan.py --config.train.seed=3"
  assert results.add("dcgan", {"default": run}, root) == {"default": True}
  record = results.load("dcgan", root)
  assert record["runs"]["default"]["metrics"]["eval/classifier_fd"] == 27.04
  page = (tmp_path / "repo" / "docs" / "experiments" / "dcgan.md").read_text(
      encoding="utf-8")
  assert "| `dcgan.py` (default) | 4 min | 27.0 | 9 / 10 | 2.200 |" in page
  assert ("`python experiments/dcgan.py --config.train.seed=3` at commit `0123456`"
          in page)
  assert results.stale_files(root) == []
  # A run no table names yet is recorded but shown nowhere.
  assert results.add("dcgan", {"seed_3": run}, root) == {"seed_3": False}
  assert "seed_3" in results.load("dcgan", root)["runs"]


def test_a_row_naming_a_run_not_yet_recorded_reads_dashes_until_it_is(tmp_path):
  import json
  results = _results_module()
  root = _copy_docs(tmp_path)
  path = tmp_path / "docs" / "results" / "dcgan.json"
  record = json.loads(path.read_text())
  table = next(iter(record["tables"].values()))
  table["rows"].append({"name": "planned", "run": "planned_run"})
  path.write_text(json.dumps(record))
  results.write(root)   # no KeyError: the row waits for its run
  page = (tmp_path / "docs" / "experiments" / "dcgan.md").read_text(encoding="utf-8")
  assert "| planned | " + results.MISSING in page
  assert "(`planned_run`): not recorded yet." in page
  # A study's runs are recorded together and the pages written once.
  run = {"command": "c", "commit": "d" * 40, "metrics": dict(
      next(iter(record["runs"].values()))["metrics"])}
  assert results.add("dcgan", {"planned_run": run, "other": run}, root) == {
      "planned_run": True, "other": False}
  page = (tmp_path / "docs" / "experiments" / "dcgan.md").read_text(encoding="utf-8")
  assert "(`planned_run`): not recorded yet." not in page
  assert "(`planned_run`): `c` at commit `ddddddd`" in page


def test_fgan_mixture_json_is_recorded_under_the_names_its_tables_use(tmp_path):
  import json
  results = _results_module()
  (tmp_path / "results.json").write_text(json.dumps({"step": 1, "kl/mu_hat": 1.0}))
  (tmp_path / "mixture.json").write_text(json.dumps({
      "fits": {"kl": {"mu_hat": 1.0, "theta_error": 0.002}},
      # {test divergence: {trained divergence: estimate}}, as fgan.py writes it
      "train_test_estimates": {"pearson": {"kl": 0.73, "pearson": 0.64},
                               "kl": {"kl": 0.28, "pearson": 0.31}}}))
  run = results.run_from_workdir(str(tmp_path), command="python experiments/fgan.py",
                                 commit="c" * 40, machine="m")
  metrics = run["metrics"]
  assert metrics["kl/theta_error"] == 0.002
  # Named train/test: the model trained with KL, scored with Pearson.
  assert metrics["train_test_estimates/kl/pearson"] == 0.73
  assert metrics["train_test_estimates/pearson/kl"] == 0.31
  assert metrics["kl/mu_hat"] == 1.0
  tables = results.load("fgan")["tables"]
  used = set(re.findall(r"\{([^{}:]+)", json.dumps(tables)))
  assert {"kl/theta_error", "train_test_estimates/kl/pearson"} <= used


def test_a_stale_run_is_marked_with_its_note(tmp_path):
  import json
  results = _results_module()
  root = _copy_docs(tmp_path)
  path = tmp_path / "docs" / "results" / "wgan.json"
  record = json.loads(path.read_text(encoding="utf-8"))
  record["runs"]["default"]["stale"] = "made before the data changed"
  path.write_text(json.dumps(record), encoding="utf-8")
  records = {name: results.load(name, root) for name in results.papers(root)}
  text = results.render_table(records, "wgan", "digits")
  assert "| `wgan.py` (default) † |" in text
  assert "made before the data changed" in text
  assert "† " not in results.render_table(records, "dcgan", "digits").split("Measured by")[1]


def test_every_table_row_names_a_recorded_run_with_its_command_and_commit():
  results = _results_module()
  records = {name: results.load(name) for name in results.papers()}
  for paper, record in records.items():
    for table in record["tables"].values():
      for row in table["rows"]:
        run = results.find_run(records, paper, row["run"])
        assert run["command"].startswith("python "), (paper, row["run"])
        assert re.fullmatch(r"[0-9a-f]{40}", run["commit"]), (paper, row["run"])


def test_the_readme_is_short_and_its_local_links_resolve():
  text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
  assert len(text.splitlines()) <= 300
  links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
  local = [l for l in links if not l.startswith(("http://", "https://"))]
  assert "docs/experiments/pix2pix.md" in local
  assert [l for l in local if not os.path.exists(os.path.join(ROOT, l))] == []


def test_a_study_is_recorded_as_one_run_per_row_with_mean_std_and_n(tmp_path):
  import json
  results = _results_module()
  root = tmp_path / "study"
  root.mkdir()
  (root / "summary.json").write_text(json.dumps({"name": "s", "rows": [
      {"labels": {"preset": "m1"}, "cells": ["preset=m1__seed=0", "preset=m1__seed=1"],
       "missing": [], "stats": {"eval/modes": {"mean": 99.5, "std": 0.7071, "n": 2}}},
      {"labels": {"preset": "m2"}, "cells": ["preset=m2__seed=0"], "missing": [],
       "stats": {"eval/modes": {"mean": 950.0, "std": None, "n": 1}}}]}))
  runs = results.runs_from_study(str(root), "seeds", command=None, commit="abc",
                                 machine="2 CPU cores")
  assert sorted(runs) == ["seeds/preset=m1", "seeds/preset=m2"]
  m1, m2 = runs["seeds/preset=m1"]["metrics"], runs["seeds/preset=m2"]["metrics"]
  assert m1 == {"eval/modes/mean": 99.5, "eval/modes/std": 0.7071, "eval/modes/n": 2}
  # One seed has no standard deviation: the cell reads a dash, not "None".
  assert "eval/modes/std" not in m2
  template = "{eval/modes/mean:.0f} ± {eval/modes/std:.1f} (n={eval/modes/n})"
  assert results.fill(template, m1) == "100 ± 0.7 (n=2)"
  assert results.fill(template, m2) == results.MISSING
