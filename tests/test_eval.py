"""Tests for gans_jax.eval: Parzen windows, toy metrics, the digit classifier,
image grids and plots."""

import json
import math
import os

import jax
import numpy as np
from PIL import Image
import pytest
from scipy.special import logsumexp

from gans_jax.data.digits import load_digits_split
from gans_jax.eval import classifier as classifier_lib
from gans_jax.eval import images as images_lib
from gans_jax.eval import parzen
from gans_jax.eval import plots
from gans_jax.eval import report
from gans_jax.eval import toy
from gans_jax.eval.tools import train_networks

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _numpy_parzen(samples, data, sigma):
  samples = np.asarray(samples, np.float64).reshape(len(samples), -1)
  data = np.asarray(data, np.float64).reshape(len(data), -1)
  sq_dist = np.sum((data[:, None, :] - samples[None, :, :]) ** 2, axis=-1)
  dim = samples.shape[1]
  return (logsumexp(-sq_dist / (2 * sigma**2), axis=1) - np.log(len(samples))
          - dim * np.log(sigma * np.sqrt(2 * np.pi)))


# ----------------------------------------------------------------------------
# Parzen window.


@pytest.mark.parametrize("sigma", [0.05, 0.3, 1.0])
def test_parzen_matches_numpy_logsumexp(sigma):
  rng = np.random.default_rng(0)
  samples = rng.uniform(size=(37, 2, 3))
  data = rng.uniform(size=(23, 6))
  # Chunk sizes that divide neither set exercise the padding of both.
  got = parzen.parzen_log_likelihood(samples, data, sigma=sigma, batch_size=7,
                                     sample_batch_size=10)
  np.testing.assert_allclose(got, _numpy_parzen(samples, data, sigma),
                             rtol=1e-5, atol=1e-4)


def test_parzen_is_accurate_in_784_dimensions_at_small_sigma():
  # The squared-distance expansion must not lose the ~1000-nat values to
  # float32 cancellation.
  rng = np.random.default_rng(1)
  samples = (rng.uniform(size=(2000, 784)) > 0.8) * rng.uniform(size=(2000, 784))
  data = samples[:20] + 0.05 * rng.normal(size=(20, 784))
  got = parzen.parzen_log_likelihood(samples, data, sigma=0.1)
  want = _numpy_parzen(samples, data, 0.1)
  assert np.all(want > 900)
  np.testing.assert_allclose(got, want, atol=0.02)


def test_parzen_density_integrates_to_one_in_1d():
  samples = np.array([[-1.0], [0.3], [0.35], [2.0]])
  grid = np.linspace(-6.0, 7.0, 4001)
  log_p = np.asarray(parzen.parzen_log_likelihood(samples, grid[:, None], sigma=0.4,
                                                  batch_size=500))
  assert np.trapezoid(np.exp(log_p), grid) == pytest.approx(1.0, abs=1e-4)


def test_parzen_chunking_does_not_change_the_result():
  rng = np.random.default_rng(2)
  samples, data = rng.normal(size=(101, 5)), rng.normal(size=(31, 5))
  whole = parzen.parzen_log_likelihood(samples, data, sigma=0.5, batch_size=31,
                                       sample_batch_size=101)
  chunked = parzen.parzen_log_likelihood(samples, data, sigma=0.5, batch_size=4,
                                         sample_batch_size=9)
  np.testing.assert_allclose(whole, chunked, rtol=1e-6, atol=1e-5)


def test_parzen_rescaling_shifts_log_likelihood_by_dimension_times_log_scale():
  rng = np.random.default_rng(3)
  samples, data = rng.uniform(size=(50, 8)), rng.uniform(size=(10, 8))
  base = parzen.parzen_log_likelihood(samples, data, sigma=0.2)
  scaled = parzen.parzen_log_likelihood(2 * samples - 1, 2 * data - 1, sigma=0.4)
  np.testing.assert_allclose(scaled, np.asarray(base) - 8 * np.log(2.0), atol=1e-4)


def test_select_sigma_recovers_the_bandwidth_of_a_known_kde():
  # Validation points drawn from a Gaussian KDE of bandwidth sigma_true around
  # well-separated samples: the likelihood peaks at sigma_true.
  rng = np.random.default_rng(4)
  sigmas = parzen.DEFAULT_SIGMAS
  for true_index in (2, 6):
    sigma_true = sigmas[true_index]
    samples = rng.uniform(0, 20, size=(300, 20))
    centre = samples[rng.integers(0, 300, size=400)]
    validation = centre + sigma_true * rng.normal(size=centre.shape)
    assert parzen.select_sigma(samples, validation) == pytest.approx(sigma_true)


def test_parzen_evaluate_reports_mean_and_standard_error_at_chosen_sigma():
  rng = np.random.default_rng(5)
  samples = rng.uniform(0, 20, size=(200, 10))
  sigma_true = parzen.DEFAULT_SIGMAS[3]
  validation = samples[:100] + sigma_true * rng.normal(size=(100, 10))
  test = samples[100:150] + sigma_true * rng.normal(size=(50, 10))
  result = parzen.parzen_evaluate(samples, validation, test)
  assert result["sigma"] == pytest.approx(sigma_true)
  log_p = _numpy_parzen(samples, test, result["sigma"])
  assert result["log_likelihood_mean"] == pytest.approx(log_p.mean(), abs=1e-3)
  assert result["log_likelihood_stderr"] == pytest.approx(
      log_p.std() / np.sqrt(50), rel=1e-3)


def test_parzen_rejects_mismatched_dimensions_and_bad_sigma():
  with pytest.raises(ValueError, match="dimensions"):
    parzen.parzen_log_likelihood(np.zeros((3, 4)), np.zeros((2, 5)), sigma=0.1)
  with pytest.raises(ValueError, match="sigma"):
    parzen.parzen_log_likelihood(np.zeros((3, 4)), np.zeros((2, 4)), sigma=0.0)
  with pytest.raises(ValueError, match="non-finite"):
    parzen.parzen_log_likelihood(np.full((3, 4), np.nan), np.zeros((2, 4)), sigma=1.0)


# ----------------------------------------------------------------------------
# Toy mode metrics.


def _eight_centres():
  angles = np.arange(8) * np.pi / 4
  return 2 * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def test_mode_metrics_counts_constructed_samples_exactly():
  centres, std = _eight_centres(), 0.02
  samples = np.concatenate([
      centres[0] + np.array([[0.01, 0.0], [0.0, -0.05], [0.03, 0.03], [0.0, 0.0],
                             [-0.059, 0.0]]),          # 5 good at mode 0
      centres[3] + np.array([[0.02, 0.0], [0.0, 0.02], [0.0, 0.0]]),  # 3 at mode 3
      centres[5] + np.array([[0.061, 0.0], [0.0, 0.1]]),  # near 5, too far
      np.array([[0.0, 0.0], [np.nan, 1.0]]),        # between modes; diverged
  ])
  result = toy.mode_metrics(samples, centres, std)
  expected_counts = np.zeros(8, int)
  expected_counts[0], expected_counts[3] = 5, 3
  np.testing.assert_array_equal(result["counts"], expected_counts)
  assert result["modes_covered"] == 2
  assert result["num_modes"] == 8
  assert result["high_quality_fraction"] == pytest.approx(8 / 12)


def test_mode_metrics_min_share_requires_a_fraction_of_the_fair_share():
  centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
  counts = [30, 30, 25, 15]  # 100 samples, fair share 25 per mode.
  samples = np.concatenate([np.repeat(c[None], n, axis=0)
                            for c, n in zip(centres, counts)])
  assert toy.mode_metrics(samples, centres, 1.0)["modes_covered"] == 4
  # 0.6 * 25 = 15: the 15-sample mode is just covered; 0.8 * 25 = 20 drops it.
  assert toy.mode_metrics(samples, centres, 1.0, min_share=0.6)["modes_covered"] == 4
  assert toy.mode_metrics(samples, centres, 1.0, min_share=0.8)["modes_covered"] == 3
  assert toy.mode_metrics(samples, centres, 1.0, min_share=1.1)["modes_covered"] == 2


def test_mode_metrics_threshold_scales_the_quality_radius():
  centres = np.zeros((1, 2))
  samples = np.array([[0.5, 0.0], [1.5, 0.0], [2.5, 0.0]])
  assert toy.mode_metrics(samples, centres, 1.0, threshold=1.0)[
      "high_quality_fraction"] == pytest.approx(1 / 3)
  # 3 * 0.5 = 1.5: a sample exactly on the radius counts.
  assert toy.mode_metrics(samples, centres, 0.5)[
      "high_quality_fraction"] == pytest.approx(2 / 3)


def test_mode_metrics_rejects_bad_shapes():
  with pytest.raises(ValueError, match=r"\(5, 3\)"):
    toy.mode_metrics(np.zeros((5, 3)), np.zeros((2, 2)), 1.0)
  with pytest.raises(ValueError, match="samples must be"):
    toy.mode_metrics(np.zeros(5), np.zeros((2, 2)), 1.0)
  with pytest.raises(ValueError, match="std"):
    toy.mode_metrics(np.zeros((5, 2)), np.zeros((2, 2)), 0.0)


# ----------------------------------------------------------------------------
# Fréchet distance and class spread (no classifier needed).


def test_frechet_distance_matches_closed_form_for_diagonal_gaussians():
  rng = np.random.default_rng(6)
  mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
  var1, var2 = rng.uniform(0.1, 3, size=5), rng.uniform(0.1, 3, size=5)
  want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
  got = classifier_lib.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
  assert got == pytest.approx(want, rel=1e-8)


def test_frechet_distance_matches_symmetric_form_for_full_covariances():
  # Tr (S1 S2)^(1/2) = Tr (S1^(1/2) S2 S1^(1/2))^(1/2), computed by eigh.
  rng = np.random.default_rng(7)
  a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
  s1, s2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
  w, v = np.linalg.eigh(s1)
  root1 = v @ np.diag(np.sqrt(w)) @ v.T
  inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
  mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
  want = (np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
          - 2 * np.sum(np.sqrt(inner)))
  assert classifier_lib.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want,
                                                                            rel=1e-7)


def test_frechet_distance_of_a_shift_is_the_squared_shift():
  rng = np.random.default_rng(8)
  features = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8))
  mu, cov = features.mean(0), np.cov(features, rowvar=False)
  assert abs(classifier_lib.frechet_distance(mu, cov, mu, cov)) < 1e-6
  shift = np.arange(8) / 4.0
  assert classifier_lib.frechet_distance(mu, cov, mu + shift, cov) == pytest.approx(
      np.sum(shift**2), rel=1e-6)


def test_frechet_distance_rejects_mismatched_shapes():
  with pytest.raises(ValueError, match="sigma2"):
    classifier_lib.frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))


def test_class_spread_from_constructed_labels():
  labels = np.array([0] * 50 + [1] * 30 + [2] * 19 + [3] * 1)
  result = classifier_lib.class_spread_from_labels(labels)
  np.testing.assert_array_equal(result["histogram"], [50, 30, 19, 1, 0, 0, 0, 0, 0, 0])
  # The fair share is 10; 0.2 of it is 2, so the class with 1 label is not covered.
  assert result["classes_covered"] == 3
  p = np.array([0.5, 0.3, 0.19, 0.01])
  entropy = -np.sum(p * np.log(p))
  assert result["class_entropy"] == pytest.approx(entropy)
  assert result["class_kl_to_uniform"] == pytest.approx(np.log(10) - entropy)
  assert classifier_lib.class_spread_from_labels(
      labels, min_share=0.0)["classes_covered"] == 4


def test_class_spread_of_uniform_labels_has_maximal_entropy():
  result = classifier_lib.class_spread_from_labels(np.tile(np.arange(10), 7))
  assert result["classes_covered"] == 10
  assert result["class_entropy"] == pytest.approx(math.log(10))
  assert result["class_kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)


def test_class_spread_rejects_out_of_range_labels():
  with pytest.raises(ValueError, match="labels"):
    classifier_lib.class_spread_from_labels(np.array([0, 10]))


# ----------------------------------------------------------------------------
# The digit classifier.


@pytest.fixture(scope="module")
def trained():
  return classifier_lib.train_digit_classifier(seed=0)


@pytest.fixture(scope="module")
def digits():
  return {split: load_digits_split(split) for split in ("train", "validation", "test")}


@pytest.mark.slow
def test_classifier_trains_to_high_test_accuracy(trained, digits):
  classifier = trained
  images, labels = digits["test"]
  accuracy = classifier.accuracy(images, labels)
  assert accuracy >= 0.95
  assert classifier.test_accuracy == pytest.approx(accuracy)


@pytest.mark.slow
def test_classifier_accepts_rgb_and_other_sizes(trained):
  classifier = trained
  gray, labels = load_digits_split("test", image_size=16)
  rgb, _ = load_digits_split("test", image_size=16, channels=3)
  np.testing.assert_allclose(classifier.logits(rgb), classifier.logits(gray),
                             rtol=1e-4, atol=1e-4)
  assert classifier.accuracy(gray, labels) >= 0.9
  with pytest.raises(ValueError, match=r"\(4, 8, 8\)"):
    classifier.predict(np.zeros((4, 8, 8)))


@pytest.mark.slow
def test_classifier_save_and_load_round_trip(trained, digits, tmp_path):
  classifier = trained
  images = digits["test"][0]
  path = tmp_path / "sub" / "digits.npz"
  classifier.save(path)
  loaded = classifier_lib.DigitClassifier.load(path)
  np.testing.assert_array_equal(loaded.features(images), classifier.features(images))
  assert loaded.test_accuracy == pytest.approx(classifier.test_accuracy)
  # An existing cache is loaded, not retrained or rewritten.
  mtime = os.path.getmtime(path)
  cached = classifier_lib.load_or_train_digit_classifier(path)
  np.testing.assert_array_equal(cached.predict(images), classifier.predict(images))
  assert os.path.getmtime(path) == mtime


def _untrained_classifier(seed, test_accuracy):
  graphdef, _ = classifier_lib.nnx.split(classifier_lib._abstract_net())
  params = classifier_lib._init_params(jax.random.key(seed))
  return classifier_lib.DigitClassifier(classifier_lib.nnx.merge(graphdef, params),
                                        test_accuracy=test_accuracy)


def test_load_or_train_trains_and_saves_when_missing(tmp_path, monkeypatch):
  calls = []

  def fake_train(*, seed):
    calls.append(seed)
    return _untrained_classifier(seed, 0.5)

  monkeypatch.setattr(classifier_lib, "train_digit_classifier", fake_train)
  path = tmp_path / "cache.npz"
  first = classifier_lib.load_or_train_digit_classifier(path, seed=3)
  assert calls == [3] and path.exists()
  second = classifier_lib.load_or_train_digit_classifier(path, seed=3)
  assert calls == [3]
  x = np.random.default_rng(0).uniform(-1, 1, size=(5, 32, 32, 1))
  np.testing.assert_array_equal(first.features(x), second.features(x))
  assert second.test_accuracy == 0.5


def test_load_rejects_a_file_of_another_architecture(tmp_path):
  path = tmp_path / "bad.npz"
  np.savez(path, **{"meta/format_version": np.asarray(1),
                    "meta/input_size": np.asarray(16),
                    "meta/test_accuracy": np.asarray(0.9),
                    "params/hidden/kernel": np.zeros((3, 3))})
  with pytest.raises(ValueError, match="architecture"):
    classifier_lib.DigitClassifier.load(path)


@pytest.mark.slow
def test_classifier_fd_is_zero_for_a_set_with_itself_and_grows_with_shift(
    trained, digits):
  classifier = trained
  images = digits["test"][0]
  assert abs(classifier_lib.classifier_frechet_distance(classifier, images, images)) < 1e-3
  darker = np.clip(images - 0.5, -1, 1)
  assert classifier_lib.classifier_frechet_distance(classifier, darker, images) > 1.0


@pytest.mark.slow
def test_degenerate_generator_covers_one_class_and_is_far_from_test_images(
    trained, digits):
  classifier = trained
  train_images, train_labels = digits["train"]
  test_images = digits["test"][0]
  one_digit = train_images[train_labels == 7]
  spread = classifier_lib.class_spread(classifier, one_digit)
  assert spread["classes_covered"] == 1
  assert spread["class_kl_to_uniform"] > 2.0
  degenerate_fd = classifier_lib.classifier_frechet_distance(
      classifier, one_digit, test_images)
  held_out_fd = classifier_lib.classifier_frechet_distance(
      classifier, digits["validation"][0], test_images)
  assert degenerate_fd > 10 * held_out_fd

  metrics = classifier_lib.digit_metrics(classifier, digits["validation"][0], test_images)
  assert set(metrics) == {"eval/classifier_fd", "eval/classes_covered",
                          "eval/class_entropy", "eval/class_kl_to_uniform"}
  assert metrics["eval/classifier_fd"] == pytest.approx(held_out_fd)
  assert metrics["eval/classes_covered"] == 10
  assert metrics["eval/class_entropy"] > 0.95 * math.log(10)
  json.dumps(metrics)  # plain Python numbers, ready for metrics.jsonl


def test_classifier_cli_trains_and_saves(tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(
      classifier_lib, "train_digit_classifier",
      lambda *, seed, num_steps: _untrained_classifier(seed, 0.25))
  out = tmp_path / "cli.npz"
  train_networks.main(["digit_classifier", f"--out={out}"])
  assert classifier_lib.DigitClassifier.load(out).test_accuracy == 0.25
  assert "test accuracy 0.2500" in capsys.readouterr().out


# ----------------------------------------------------------------------------
# Image grids.


def test_image_grid_places_images_and_padding_exactly():
  images = np.stack([np.full((2, 2, 1), -1.0), np.full((2, 2, 1), 1.0),
                     np.full((2, 2, 1), 0.0)])
  grid = images_lib.image_grid(images, 2, padding=1, pad_value=-1.0)
  assert grid.dtype == np.uint8 and grid.shape == (7, 7, 1)
  want = np.zeros((7, 7), np.uint8)
  want[1:3, 4:6] = 255
  want[4:6, 1:3] = 128
  np.testing.assert_array_equal(grid[..., 0], want)


def test_image_grid_default_is_near_square_and_clips():
  images = np.full((5, 3, 4, 3), 2.0)
  grid = images_lib.image_grid(images)
  assert grid.shape == (2 * (3 + 2) + 2, 3 * (4 + 2) + 2, 3)
  assert grid[2:5, 2:6].min() == 255


def test_save_image_grid_writes_a_png_with_the_grid_pixels(tmp_path):
  rng = np.random.default_rng(9)
  for channels, mode in ((1, "L"), (3, "RGB")):
    images = rng.uniform(-1, 1, size=(6, 8, 8, channels)).astype(np.float32)
    path = tmp_path / "out" / f"grid{channels}.png"
    images_lib.save_image_grid(path, images, nrow=3)
    assert path.read_bytes()[:8] == _PNG_SIGNATURE
    with Image.open(path) as picture:
      assert picture.mode == mode
      pixels = np.asarray(picture)
    np.testing.assert_array_equal(
        pixels.reshape(pixels.shape[0], pixels.shape[1], -1),
        images_lib.image_grid(images, 3))


@pytest.mark.parametrize("shape", [(4, 8, 8), (4, 8, 8, 2), (0, 8, 8, 1)])
def test_image_grid_names_the_bad_shape(shape):
  with pytest.raises(ValueError, match=r"\(" + ", ".join(map(str, shape))):
    images_lib.image_grid(np.zeros(shape, np.float32))


def test_image_grid_rejects_integer_and_non_finite_images():
  with pytest.raises(ValueError, match="dtype"):
    images_lib.image_grid(np.zeros((2, 4, 4, 1), np.uint8))
  with pytest.raises(ValueError, match="non-finite"):
    images_lib.image_grid(np.full((2, 4, 4, 1), np.nan, np.float32))


# ----------------------------------------------------------------------------
# Plots.


def _assert_png(path):
  assert path.stat().st_size > 1000
  assert path.read_bytes()[:8] == _PNG_SIGNATURE
  with Image.open(path) as picture:
    picture.verify()


def test_plot_metrics_draws_keys_logged_at_different_steps(tmp_path):
  metrics = tmp_path / "metrics.jsonl"
  with open(metrics, "w") as f:
    for step in range(0, 100, 10):
      record = {"step": step, "critic/wasserstein": 1.0 / (step + 1)}
      if step % 20 == 0:
        record["eval/classifier_fd"] = 100.0 - step
      f.write(json.dumps(record) + "\n")
    f.write("\n")
  out = tmp_path / "plots" / "curves.png"
  plots.plot_metrics(metrics, ["critic/wasserstein", "eval/classifier_fd"], out,
                     title="WGAN")
  _assert_png(out)


def test_plot_metrics_rejects_missing_keys_and_bad_lines(tmp_path):
  metrics = tmp_path / "metrics.jsonl"
  metrics.write_text(json.dumps({"step": 0, "loss": 1.0}) + "\n")
  with pytest.raises(ValueError, match="nope.*available.*loss"):
    plots.plot_metrics(metrics, ["nope"], tmp_path / "a.png")
  with pytest.raises(ValueError, match="at least one"):
    plots.plot_metrics(metrics, [], tmp_path / "a.png")
  metrics.write_text("{not json\n")
  with pytest.raises(ValueError, match=":1 is not valid JSON"):
    plots.plot_metrics(metrics, ["loss"], tmp_path / "a.png")
  assert not (tmp_path / "a.png").exists()


def test_plot_toy_2d_with_and_without_critic(tmp_path):
  rng = np.random.default_rng(10)
  real, generated = rng.normal(size=(200, 2)), rng.normal(size=(150, 2)) + 1
  calls = []

  def critic(points):
    calls.append(points.shape)
    return -np.sum(points**2, axis=1)

  with_critic = tmp_path / "toy_critic.png"
  plots.plot_toy_2d(with_critic, real, generated, critic_fn=critic,
                    extent=(-3, 3, -3, 3), title="8 gaussians", grid_size=50)
  _assert_png(with_critic)
  assert calls == [(2500, 2)]
  plain = tmp_path / "toy.png"
  plots.plot_toy_2d(plain, real, generated)
  _assert_png(plain)


def test_plot_toy_2d_rejects_bad_inputs(tmp_path):
  points = np.zeros((10, 2))
  with pytest.raises(ValueError, match=r"real must be \[N, 2\].*\(10, 3\)"):
    plots.plot_toy_2d(tmp_path / "a.png", np.zeros((10, 3)), points)
  with pytest.raises(ValueError, match="critic_fn"):
    plots.plot_toy_2d(tmp_path / "a.png", points, points + 1,
                      critic_fn=lambda g: np.zeros(3))
  with pytest.raises(ValueError, match="extent"):
    plots.plot_toy_2d(tmp_path / "a.png", points, points, extent=(1, 0, 0, 1))


def test_package_exports_resolve_to_their_modules():
  import gans_jax.eval as eval_lib  # pylint: disable=g-import-not-at-top
  for name in eval_lib.__all__:
    assert callable(getattr(eval_lib, name)), name
  assert eval_lib.frechet_distance is classifier_lib.frechet_distance
  with pytest.raises(AttributeError, match="no_such_metric"):
    getattr(eval_lib, "no_such_metric")


def test_network_command_refuses_domain_classifiers_without_an_output(capsys):
  with pytest.raises(SystemExit) as stopped:
    train_networks.main(["domain_classifiers"])
  assert stopped.value.code == 2
  assert "give --digit_out, --domain_out or both" in capsys.readouterr().err


def test_a_gallery_escapes_its_text_and_quotes_its_image_paths_row_by_row(tmp_path):
  path = report.write_gallery(
      str(tmp_path), title="a <run>", columns=["#", "x & y"],
      rows=[("1 < 2", ["some images/a b.png"]), ("0", ["c.png"])])
  assert path == str(tmp_path / "index.html")
  page = (tmp_path / "index.html").read_text()
  assert "<title>a &lt;run&gt;</title>" in page
  assert "<tr><th>#</th><th>x &amp; y</th></tr>" in page
  assert ('<tr><td>1 &lt; 2</td><td><img src="some%20images/a%20b.png"></td></tr>\n'
          '<tr><td>0</td><td><img src="c.png"></td></tr>') in page
