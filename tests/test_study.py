"""Studies: one workdir per cell, resuming cell by cell, refusing a workdir
that holds another run, and mean +- std over seeds."""

import json
import math
import os
import sys
import textwrap

import numpy as np
import pytest

from gans_jax.train import study as study_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A stand-in for an experiment's command line: it writes what a real run
# leaves in its workdir, a score of 10 * (preset == 'b') + seed, and one line
# per invocation to calls.log. A seed listed in fail.txt exits 1; one listed
# in interrupt.txt leaves a checkpoint and exits 0 without results, as a
# preempted run does; a later call in that workdir says it resumed.
FAKE = textwrap.dedent('''
    import json, os, sys
    import numpy as np
    here = os.path.dirname(os.path.abspath(__file__))
    args = dict(a.split("=", 1) for a in sys.argv[1:])
    workdir = args["--workdir"]
    preset = args["--config"].rpartition(":")[2]
    seed = int(args.get("--config.train.seed", 0))
    os.makedirs(workdir, exist_ok=True)
    resumed = os.path.exists(os.path.join(workdir, "checkpoint"))
    with open(os.path.join(here, "calls.log"), "a") as f:
      f.write(f"{preset} {seed} {'resumed' if resumed else 'fresh'}\\n")
    run_path = os.path.join(workdir, "run.json")
    record = {"file": os.path.abspath(__file__), "commands": []}
    if os.path.exists(run_path):
      record = json.load(open(run_path))
    record["commands"].append({"step": 0, "argv": sys.argv})
    json.dump(record, open(run_path, "w"))
    json.dump({"preset": preset, "train": {"seed": seed, "num_steps": 2}},
              open(os.path.join(workdir, "config.json"), "w"))
    def listed(name):
      path = os.path.join(here, name)
      return os.path.exists(path) and str(seed) in open(path).read().split()
    if listed("fail.txt"):
      print("training diverged at step 1", file=sys.stderr)
      sys.exit(1)
    if listed("interrupt.txt") and not resumed:
      open(os.path.join(workdir, "checkpoint"), "w").close()
      sys.exit(0)
    score = 10.0 * (preset == "b") + seed
    json.dump({"step": 2, "eval/score": score, "eval/other": 2.0 * seed},
              open(os.path.join(workdir, "results.json"), "w"))
    np.savez(os.path.join(workdir, "samples.npz"),
             samples=np.full((4, 3, 3, 1), seed / 5.0 - 1.0, np.float32))
''')


@pytest.fixture
def fake(tmp_path):
  path = tmp_path / "fake.py"
  path.write_text(FAKE)
  (tmp_path / "configs").mkdir()
  (tmp_path / "configs" / "fake.py").write_text("")
  return path


def calls(fake):
  log = fake.parent / "calls.log"
  return log.read_text().splitlines() if log.exists() else []


def make_study(fake, presets=("a",), seeds=(0, 1, 3), root=None):
  cells = study_lib.seeds_grid(str(fake), list(presets), list(seeds))
  return study_lib.Study("fake", cells, str(root or fake.parent / "study"))


def test_each_cell_runs_in_its_own_workdir_with_its_own_seed_and_preset(fake):
  study = make_study(fake, presets=("a", "b"), seeds=(0, 1))
  manifest = study_lib.run(study)
  workdirs = [study.workdir(c) for c in study.cells]
  assert len(set(workdirs)) == 4
  for cell, workdir in zip(study.cells, workdirs):
    config = json.load(open(os.path.join(workdir, "config.json")))
    assert (config["preset"], config["train"]["seed"]) == (
        cell.labels["preset"], cell.labels["seed"])
    assert manifest["cells"][cell.name]["status"] == "done"
  assert sorted(calls(fake)) == ["a 0 fresh", "a 1 fresh", "b 0 fresh", "b 1 fresh"]
  on_disk = json.load(open(os.path.join(study.root, "study.json")))
  assert on_disk["order"] == [c.name for c in study.cells]


def test_cells_that_would_share_a_workdir_are_refused(fake):
  cells = [study_lib.Cell("run/1", str(fake), "c.py:a"),
           study_lib.Cell("run_1", str(fake), "c.py:a")]
  with pytest.raises(study_lib.StudyError, match="share the workdir"):
    study_lib.Study("dup", cells, "root")


def test_a_resumed_study_reruns_only_the_failed_and_unfinished_cells(fake):
  (fake.parent / "fail.txt").write_text("1")
  (fake.parent / "interrupt.txt").write_text("3")
  study = make_study(fake)
  first = study_lib.run(study)["cells"]
  assert [first[c.name]["status"] for c in study.cells] == ["done", "failed", "unfinished"]
  failed = first["preset=a__seed=1"]
  assert failed["returncode"] == 1
  assert "training diverged at step 1" in failed["log_tail"]
  assert "training diverged" in open(
      os.path.join(study.root, "preset=a__seed=1", "study.log")).read()
  assert len(calls(fake)) == 3

  (fake.parent / "fail.txt").unlink()
  second = study_lib.run(study)["cells"]
  assert all(second[c.name]["status"] == "done" for c in study.cells)
  assert calls(fake)[3:] == ["a 1 fresh", "a 3 resumed"]
  assert [second[c.name]["runs"] for c in study.cells] == [1, 2, 2]

  study_lib.run(study)
  assert len(calls(fake)) == 5  # everything finished: nothing runs


def test_a_workdir_holding_another_cells_run_is_refused_not_reused(fake):
  root = fake.parent / "study"
  study_lib.run(make_study(fake, seeds=(0,), root=root))
  workdir = root / "preset=a__seed=0"
  before = (workdir / "results.json").read_text()
  # The same cell name, another seed: the workdir's run is seed 0's.
  other_seed = study_lib.Cell("preset=a__seed=0", str(fake),
                              f"{fake.parent}/configs/fake.py:a", {"train.seed": 5})
  other_preset = study_lib.Cell("preset=a__seed=0", str(fake),
                                f"{fake.parent}/configs/fake.py:b", {"train.seed": 0})
  for cell in (other_seed, other_preset):
    for marker in (True, False):  # refused by study_cell.json, or by run.json / config.json
      if not marker and (workdir / "study_cell.json").exists():
        (workdir / "study_cell.json").unlink()
      manifest = study_lib.run(study_lib.Study("other", [cell], str(root)))
      entry = manifest["cells"]["preset=a__seed=0"]
      assert entry["status"] == "refused", entry
      assert str(workdir) in entry["reason"]
  assert len(calls(fake)) == 1
  assert (workdir / "results.json").read_text() == before
  # Nor are its numbers counted as the other cell's.
  row, = study_lib.aggregate(study_lib.Study("other", [other_seed], str(root))).rows
  assert row.values == {} and row.missing == ["preset=a__seed=0"]


def test_a_foreign_run_without_the_marker_is_checked_by_its_config(fake, tmp_path):
  cell = study_lib.seeds_grid(str(fake), ["a"], [2])[0]
  workdir = tmp_path / "study" / cell.dirname
  workdir.mkdir(parents=True)
  (workdir / "config.json").write_text(json.dumps({"train": {"seed": 7}}))
  assert "train.seed=7" in study_lib.mismatch(cell, str(workdir))
  (workdir / "config.json").write_text(json.dumps({"train": {"seed": 2}}))
  assert study_lib.mismatch(cell, str(workdir)) is None


def test_a_fresh_run_refuses_a_root_that_holds_runs(fake):
  study = make_study(fake, seeds=(0,))
  study_lib.run(study, resume=False)
  with pytest.raises(study_lib.StudyError, match="resume it"):
    study_lib.run(study, resume=False)


def test_results_short_of_the_configs_steps_are_not_finished(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps({"train": {"num_steps": 10}}))
  (tmp_path / "results.json").write_text(json.dumps({"step": 5, "m": 1.0}))
  assert study_lib.finished(str(tmp_path)) is None
  (tmp_path / "results.json").write_text(json.dumps({"step": 10, "m": 1.0}))
  assert study_lib.finished(str(tmp_path)) == {"step": 10, "m": 1.0}


def test_aggregate_gives_mean_sample_std_and_n_per_preset(fake):
  (fake.parent / "fail.txt").write_text("5")
  study = make_study(fake, presets=("a", "b"), seeds=(0, 1, 3, 5), root=None)
  study_lib.run(study, jobs=2)
  summary = study_lib.aggregate(study, ["eval/score"])
  a, b = summary.rows
  assert a.labels == {"preset": "a"} and b.labels == {"preset": "b"}
  # seeds 0, 1, 3 (5 failed): mean 4/3, s = sqrt(((4/3)^2 + (1/3)^2 + (5/3)^2) / 2)
  assert a.stats["eval/score"].mean == pytest.approx(4 / 3)
  assert a.stats["eval/score"].std == pytest.approx(math.sqrt(7 / 3))
  assert a.stats["eval/score"].n == 3
  assert a.missing == ["preset=a__seed=5"]
  assert b.stats["eval/score"].mean == pytest.approx(10 + 4 / 3)
  assert b.values["preset=b__seed=3"] == {"eval/score": 13.0}
  every = study_lib.aggregate(study)
  assert every.metrics == ["eval/other", "eval/score"]


def test_one_value_has_no_std():
  s = study_lib.stat([2.5])
  assert (s.mean, s.n) == (2.5, 1) and math.isnan(s.std)


def test_markdown_table_and_json_summary(fake):
  study = make_study(fake, presets=("a", "b"), seeds=(0, 1, 3))
  study_lib.run(study)
  summary = study_lib.aggregate(study, ["eval/score"])
  table = study_lib.to_markdown(summary)
  assert "| preset | n | eval/score |" in table
  assert "| a | 3 | 1.333 ± 1.528 |" in table
  assert "| b | 3 | 11.33 ± 1.528 |" in table
  assert "| preset=b__seed=3 | 13 |" in table
  json_path, md_path = study_lib.write_summary(study, summary)
  written = json.load(open(json_path))
  assert written["rows"][1]["stats"]["eval/score"]["n"] == 3
  assert written["rows"][1]["stats"]["eval/score"]["mean"] == pytest.approx(34 / 3)
  assert open(md_path).read() == table


def test_figure_lays_out_one_sample_grid_per_cell(fake, tmp_path):
  study = make_study(fake, presets=("a", "b"), seeds=(0, 1))
  assert study_lib.figure(study) is None  # nothing run yet
  study_lib.run(study)
  grid = study_lib.sample_grid(study.workdir(study.cells[1]))
  # 4 images of 3x3 in a 2x2 tiling; seed 1's pixels -0.8 shown as (x + 1) / 2
  assert grid.shape == (9, 9) and grid[1, 1] == pytest.approx(0.1)
  path = study_lib.figure(study, str(tmp_path / "fig.png"))
  assert os.path.getsize(path) > 0


def test_product_of_named_axes():
  cells = study_lib.product(
      {"method": {"wgan": {"experiment": "w.py", "config": "cw.py:digits"},
                  "gan": {"experiment": "g.py", "config": "cg.py:digits"}},
       "arch": {"mlp": {"model.arch": "mlp"}, "conv": {"model.arch": "conv"}}})
  assert [c.name for c in cells] == ["method=wgan__arch=mlp", "method=wgan__arch=conv",
                                     "method=gan__arch=mlp", "method=gan__arch=conv"]
  assert cells[3].experiment == "g.py" and cells[3].overrides == {"model.arch": "conv"}
  assert cells[0].group() != cells[1].group()


def test_command_line(fake, capsys):
  root = fake.parent / "cli"
  code = study_lib.main([f"--experiment={fake}", "--presets=a,b", "--seeds=0,1",
                         f"--root={root}", "--metrics=eval/score"])
  assert code == 0
  out = capsys.readouterr().out
  assert "| a | 2 | 0.5 ± 0.7071 |" in out
  assert (root / "summary.md").exists() and (root / "samples.png").exists()
  (fake.parent / "fail.txt").write_text("1")
  (root / "preset=b__seed=1" / "results.json").unlink()
  assert study_lib.main([f"--experiment={fake}", "--presets=a,b", "--seeds=0,1",
                         f"--root={root}"]) == 1
  assert "not finished: preset=b__seed=1" in capsys.readouterr().err
  assert calls(fake)[4:] == ["b 1 fresh"]
  with pytest.raises(SystemExit) as e:
    study_lib.main(["--help"])
  assert e.value.code == 0


@pytest.mark.parametrize("argv, message", [
    (["--seeds=0,x"], "seeds must be integers"),
    (["--seeds=0", "--experiment=missing.py"], "no such file"),
    (["--seeds=0", "--config.train.seed=3"], "set per cell"),
    (["--seeds=0", "--config.train.seed"], "not --config.FIELD=VALUE"),
])
def test_bad_command_lines_exit_2_with_one_line(fake, capsys, argv, message):
  base = [f"--experiment={fake}", f"--root={fake.parent / 'r'}"]
  try:
    code = study_lib.main(base + argv)
  except SystemExit as e:
    code = e.code
  assert code == 2
  err = capsys.readouterr().err
  assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_real_experiments_smoke_preset_as_a_two_seed_study(tmp_path):
  experiment = os.path.join(ROOT, "experiments", "gan.py")
  study = study_lib.Study("gan smoke", study_lib.seeds_grid(experiment, ["smoke"], [0, 1]),
                          str(tmp_path / "gan"))
  env = {**os.environ, "PYTHONPATH": os.pathsep.join(
      [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
  manifest = study_lib.run(study, env=env)
  assert [e["status"] for e in manifest["cells"].values()] == ["done", "done"], manifest
  seeds = [json.load(open(os.path.join(study.workdir(c), "config.json")))["train"]["seed"]
           for c in study.cells]
  assert seeds == [0, 1]
  summary = study_lib.aggregate(study)
  assert summary.metrics and all(s.n == 2 for s in summary.rows[0].stats.values())
  again = study_lib.run(study, env=env)
  assert [(e["status"], e["ran"]) for e in again["cells"].values()] == [
      ("done", False), ("done", False)]


def test_a_cell_made_by_another_checkout_of_the_same_script_is_found(tmp_path):
  # The same experiments/gan.py and preset in two clones: the workdir is the
  # cell's (a study moves with its checkout). Another script, preset or seed
  # is still refused.
  cell = study_lib.seeds_grid(str(tmp_path / "clone_b" / "experiments" / "gan.py"),
                              ["digits"], [1])[0]
  workdir = tmp_path / "root" / cell.dirname
  workdir.mkdir(parents=True)
  other = tmp_path / "clone_a" / "experiments"
  marker = {"experiment": str(other / "gan.py"),
            "config": str(other / "configs" / "gan.py") + ":digits",
            "overrides": {"train.seed": "1"}}
  (workdir / study_lib.CELL_FILE).write_text(json.dumps(marker))
  assert study_lib.mismatch(cell, str(workdir)) is None
  for change in ({"experiment": str(other / "dcgan.py")},
                 {"config": str(other / "configs" / "gan.py") + ":mnist"},
                 {"overrides": {"train.seed": "2"}}):
    (workdir / study_lib.CELL_FILE).write_text(json.dumps({**marker, **change}))
    assert "another cell" in study_lib.mismatch(cell, str(workdir)), change
