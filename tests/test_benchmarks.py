"""Smoke tests of the benchmark suite (``benchmarks/``) on tiny sizes.

The gans_jax side must run without PyTorch (CI's default environment has
none); the PyTorch references are tested only where torch is installed.
"""

import dataclasses
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from benchmarks import cases
from benchmarks import report
from benchmarks import runner
from gans_jax.train import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _params(state):
  return jax.tree.leaves(jax.device_get(
      (state.generator.params, state.discriminator.params)))


@pytest.mark.slow
def test_benchmark_step_matches_what_fit_computes(tmp_path):
  # The suite times the experiment's step jitted as fit jits it: two calls
  # of two scanned steps each must leave the state fit leaves after 4 steps.
  case = cases.CASES["wgan_gp_8gaussians"]
  variant = case.variants[0]
  config = cases.build_config(case, variant, quick=True)
  k = config.train.steps_per_call
  assert k == 2
  jax_runner = runner.JaxRunner(case, variant, config)
  jax_runner.call()
  jax_runner.call()

  config.train.update(num_steps=2 * k, log_every=k, checkpoint_every=2 * k,
                      sample_every=0)
  import gans_jax as gj
  fitted = gj.train.fit(
      cases.make_step_fn(case, config),
      cases.create_state(case, variant, config),
      runner.SyntheticBatches(cases.step_batch(case, config)), config,
      str(tmp_path), batch_axis=1, progress=False)
  for a, b in zip(_params(jax_runner.state), _params(fitted), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  assert int(jax_runner.state.step) == int(fitted.step) == 2 * k


@pytest.mark.slow
def test_phase_and_direct_dcgan_rows_compute_the_same_step():
  case = cases.CASES["dcgan64"]
  results = []
  for variant in case.variants:
    config = cases.build_config(case, variant, quick=True)
    jax_runner = runner.JaxRunner(case, variant, config)
    jax_runner.call()
    results.append((jax.device_get(jax_runner.metrics),
                    _params(jax_runner.state)))
  (metrics_a, params_a), (metrics_b, params_b) = results
  assert metrics_a.keys() == metrics_b.keys()
  for name in metrics_a:
    np.testing.assert_allclose(metrics_a[name], metrics_b[name], rtol=1e-4,
                               atol=1e-5)
  for a, b in zip(params_a, params_b, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_direct_form_really_changes_the_generator_layers():
  from flax import nnx

  import gans_jax as gj

  case = cases.CASES["dcgan64"]
  config = cases.build_config(case, quick=True)
  for variant in case.variants:
    state = cases.create_state(case, variant, config)
    module = state.generator.module()
    forms = {m.implementation for _, m in nnx.iter_graph(module)
             if isinstance(m, gj.nn.ConvTranspose2x)}
    assert forms == {variant.conv_transpose}


def test_case_configs_are_valid_and_batches_have_the_steps_shape():
  for case in cases.CASES.values():
    for quick in (False, True):
      config = cases.build_config(case, quick=quick)
      config_lib.validate_train(config, device_count=1)
      batch = cases.step_batch(case, config)
      micro = cases.microbatches(case, config)
      first = next(iter(batch.values()))
      expected = ((micro, config.train.batch_size) if micro > 1
                  else (config.train.batch_size,))
      assert first.shape[:len(expected)] == expected, case.name


def test_unknown_override_field_is_refused():
  case = cases.CASES["gan_digits"]
  bad = dataclasses.replace(case, overrides=(("model.no_such_field", 1),))
  with pytest.raises(KeyError, match="model.no_such_field"):
    cases.build_config(bad)


def _fake_results(ratio: float) -> dict:
  row = dict(label="gans_jax, phase form", framework="jax", steps_per_call=1,
             step_s=0.5, step_p25=0.4, step_p75=0.6, items_per_s=128.0,
             timed_steps=6, first_step_s=20.0, first_call_s=15.0,
             device="cpu: cpu", peak_rss_mib=900.0, ratio=ratio)
  torch_row = dict(row, label="PyTorch (eager)", framework="torch",
                   step_s=0.5 * ratio, items_per_s=128.0 / ratio)
  del torch_row["ratio"]
  return dict(
      command="python benchmarks/run.py", quick=False, date="today",
      wall_s=60.0, load_min=1.0, load_max=2.0, device="cpu: cpu",
      machine=dict(cpu="Test CPU", logical_cpus=2, usable_cpus=2,
                   python="3.11", os="Linux", versions={"jax": "x"},
                   gpu=False),
      throughput=[dict(case="dcgan64", title="DCGAN", rows=[row, torch_row],
                       unit="images", load_before=(1.0, 1.0, 1.0),
                       load_after=(2.0, 2.0, 2.0))],
      startup=[], multidevice=[], profile=[], errors=[])


def test_results_report_the_ratio_and_flag_a_missed_target():
  text = report.render(_fake_results(1.1))
  assert "| gans_jax, phase form | 128 |" in text
  assert "**1.10x**" in text
  assert "(target >= 1.3x): MISSED" in text
  assert "(target >= 1.3x): met" in report.render(_fake_results(1.31))
  assert "no GPU on this machine" in text


def test_rewriting_results_keeps_the_notes_below_the_marker(tmp_path):
  path = str(tmp_path / "RESULTS.md")
  report.write_results(path, "first")
  with open(path, encoding="utf-8") as f:
    text = f.read()
  with open(path, "w", encoding="utf-8") as f:
    f.write(text + "\n## Notes\nhand-written profile notes\n")
  report.write_results(path, "second")
  with open(path, encoding="utf-8") as f:
    text = f.read()
  assert text.startswith("second")
  assert "first" not in text
  assert text.endswith("## Notes\nhand-written profile notes\n")


def test_gans_jax_does_not_import_torch():
  code = ("import sys, gans_jax, gans_jax.nn, gans_jax.train, gans_jax.data, "
          "gans_jax.eval; print('torch' in sys.modules)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, cwd=REPO, check=True)
  assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_suite_runs_its_jax_side_end_to_end_without_torch(tmp_path):
  output = tmp_path / "RESULTS.md"
  proc = subprocess.run(
      [sys.executable, "benchmarks/run.py", "--quick", "--jax-only",
       "--only", "fgan_mixture", "--skip", "startup,profile",
       "--output", str(output)],
      capture_output=True, text=True, cwd=REPO, timeout=600)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  text = output.read_text()
  assert "### fgan_mixture" in text
  assert "| gans_jax | " in text
  assert "PyTorch (eager)" not in text
  assert "## Multi-device (8 simulated CPU devices)" in text
  assert "non-finite" not in text


def test_torch_references_take_steps_on_tiny_sizes():
  torch = pytest.importorskip("torch")
  torch.set_num_threads(1)
  for case in cases.CASES.values():
    reference = cases.torch_reference(case, cases.build_config(case, quick=True))
    losses = [reference.step() for _ in range(2)]
    assert np.all(np.isfinite(losses)), case.name


@pytest.mark.parametrize("form", ["im2col", "s2d", "custom_vjp"])
def test_conv_variants_equal_the_strided_convolution(form):
  # The formulations benchmarks/conv_variants.py times are the same function:
  # outputs and both gradients against lax's stride-2 convolution.
  import jax.numpy as jnp
  from benchmarks import conv_variants

  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
  k = jax.random.normal(jax.random.key(1), (4, 4, 3, 5))
  f = conv_variants.FORMS[form]
  np.testing.assert_allclose(f(x, k), conv_variants.direct(x, k),
                             rtol=1e-5, atol=1e-5)
  loss = lambda g: lambda x, k: jnp.sum(jnp.sin(g(x, k)))
  for got, want in zip(jax.grad(loss(f), argnums=(0, 1))(x, k),
                       jax.grad(loss(conv_variants.direct), argnums=(0, 1))(x, k)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
