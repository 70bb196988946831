"""FID, KID, Inception Score and precision/recall against closed forms and
direct evaluations; the cached reference statistics; the command line.

No Inception network runs here: where images go in, a stand-in extractor
turns them into a few pixel statistics (the network itself is tested in
tests/test_inception.py).
"""

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest
import scipy.linalg

from gans_jax import eval as eval_lib
from gans_jax.eval import fid as fid_lib
from gans_jax.eval import inception as inception_lib
from gans_jax.eval import metrics
from gans_jax.eval.tools import fid as fid_command

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _psd_sqrt(a):
  values, vectors = np.linalg.eigh(a)
  return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def _frechet_closed_form(mu1, s1, mu2, s2):
  """d^2 with the symmetric form Tr((S1^1/2 S2 S1^1/2)^1/2): no sqrtm of S1 S2."""
  root = _psd_sqrt(s1)
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
               - 2 * np.trace(_psd_sqrt(root @ s2 @ root)))


# ------------------------------------------------------------------ FID ----


def test_frechet_distance_of_given_diagonal_gaussians_by_hand():
  # |(3, 4)|^2 + (1 + 4 + 4 + 9) - 2 (sqrt(1*4) + sqrt(4*9)) = 25 + 2.
  got = metrics.frechet_distance([0.0, 0.0], np.diag([1.0, 4.0]),
                                 [3.0, 4.0], np.diag([4.0, 9.0]))
  assert got == pytest.approx(27.0, abs=1e-10)


def test_frechet_distance_of_full_covariances_matches_the_symmetric_form():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
  s1, s2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
  mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
  want = _frechet_closed_form(mu1, s1, mu2, s2)
  assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-9)
  assert abs(metrics.frechet_distance(mu1, s1, mu1, s1)) < 1e-9


def test_fid_of_large_gaussian_samples_approaches_the_closed_form():
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
  mu1, mu2 = np.array([0.0, 0.0, 0.0]), np.array([1.0, -1.0, 0.5])
  real = mu1 + rng.normal(size=(200_000, 3)) @ a.T
  fake = mu2 + rng.normal(size=(200_000, 3)) @ b.T
  got = metrics.frechet_distance(*metrics.gaussian_statistics(real),
                                 *metrics.gaussian_statistics(fake))
  want = _frechet_closed_form(mu1, a @ a.T, mu2, b @ b.T)
  assert got == pytest.approx(want, rel=0.02)


def test_a_small_imaginary_part_is_dropped_as_the_reference_does(monkeypatch):
  s1, s2 = np.diag([1.0, 4.0]), np.diag([4.0, 9.0])
  exact = metrics.frechet_distance([0.0, 0.0], s1, [3.0, 4.0], s2)
  noisy = lambda m: _psd_sqrt(m) + 5e-4j * np.eye(2)  # round-off sized
  monkeypatch.setattr(scipy.linalg, "sqrtm", noisy)
  assert metrics.frechet_distance([0.0, 0.0], s1, [3.0, 4.0], s2) == pytest.approx(exact)


def test_a_large_imaginary_part_is_an_error():
  # sqrtm(I @ -I) = i I: not covariances.
  with pytest.raises(ValueError, match="imaginary"):
    metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), -np.eye(2))


def test_a_non_finite_square_root_is_retried_with_eps_on_the_diagonals(monkeypatch):
  seen = []

  def sqrtm(m):
    seen.append(m)
    return np.full_like(m, np.nan) if len(seen) == 1 else _psd_sqrt(m)

  monkeypatch.setattr(scipy.linalg, "sqrtm", sqrtm)
  s1, s2 = np.diag([1.0, 0.0]), np.diag([2.0, 0.0])
  metrics.frechet_distance(np.zeros(2), s1, np.zeros(2), s2, eps=1e-3)
  np.testing.assert_allclose(seen[1], (s1 + 1e-3 * np.eye(2)) @ (s2 + 1e-3 * np.eye(2)))


def test_the_digit_metrics_share_this_frechet_distance():
  from gans_jax.eval import classifier  # pylint: disable=g-import-not-at-top
  assert classifier.frechet_distance is metrics.frechet_distance
  assert eval_lib.frechet_distance is metrics.frechet_distance


# ------------------------------------------------------------------ KID ----


def _mmd2_double_loop(x, y):
  m, d = x.shape
  k = lambda a, b: (a @ b / d + 1.0) ** 3
  xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
  yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
  xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
  return (xx + yy) / (m * (m - 1)) - 2 * xy / m**2


def test_polynomial_mmd2_matches_a_double_loop():
  rng = np.random.default_rng(2)
  x, y = rng.normal(size=(7, 3)), rng.normal(0.5, 1.0, size=(7, 3))
  assert metrics.polynomial_mmd2(x, y) == pytest.approx(_mmd2_double_loop(x, y), rel=1e-12)


def test_kid_with_subsets_of_the_whole_set_is_the_direct_estimate():
  # Each subset is then a permutation of all the features, which the
  # estimate does not see: every round gives the direct value.
  rng = np.random.default_rng(3)
  real, fake = rng.normal(size=(12, 5)), rng.normal(0.3, 1.2, size=(12, 5))
  mean, std = metrics.kernel_inception_distance(real, fake, num_subsets=3)
  assert mean == pytest.approx(_mmd2_double_loop(real, fake), rel=1e-10)
  assert std < 1e-12


def test_kid_of_two_samples_of_one_distribution_is_near_zero():
  rng = np.random.default_rng(4)
  real, fake = rng.normal(size=(1500, 8)), rng.normal(size=(1500, 8))
  same, same_std = metrics.kernel_inception_distance(real, fake, num_subsets=20,
                                                     subset_size=500)
  # The biased estimate (diagonal kept) sits near 0.035 here.
  assert abs(same) < 0.015
  assert 0 < same_std < 0.02
  shifted, _ = metrics.kernel_inception_distance(real, fake + 0.5, num_subsets=20,
                                                 subset_size=500)
  assert shifted > 0.1


def test_kid_uses_the_smaller_set_size_for_its_subsets():
  rng = np.random.default_rng(5)
  real, fake = rng.normal(size=(40, 4)), rng.normal(size=(9, 4))
  mean, std = metrics.kernel_inception_distance(real, fake, num_subsets=4)
  assert np.isfinite(mean) and std > 0  # subsets of 9 real out of 40 differ
  with pytest.raises(ValueError, match="at least 2"):
    metrics.kernel_inception_distance(real, fake[:1])


# ---------------------------------------------------------- Inception Score ----


def test_inception_score_of_uniform_predictions_is_one():
  mean, std = metrics.inception_score(np.zeros((100, 1008)))
  assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_of_confident_evenly_spread_predictions_is_the_class_count():
  labels = np.arange(200) % 5  # every split of 20 holds each class 4 times
  logits = 50.0 * np.eye(5)[labels]
  mean, std = metrics.inception_score(logits, splits=10)
  assert mean == pytest.approx(5.0, rel=1e-9) and std < 1e-9


def test_inception_score_is_computed_per_split():
  # First half all class 0, second half all class 1: each of 2 splits sees
  # one class (IS 1); one split sees both (IS 2).
  logits = 50.0 * np.eye(2)[np.repeat([0, 1], 50)]
  assert metrics.inception_score(logits, splits=2)[0] == pytest.approx(1.0)
  assert metrics.inception_score(logits, splits=1)[0] == pytest.approx(2.0)


# ------------------------------------------------- precision and recall ----


def test_precision_and_recall_of_half_overlapping_clusters_are_one_half():
  rng = np.random.default_rng(6)
  shared = rng.uniform(size=(50, 2))
  real = np.concatenate([shared, rng.uniform(size=(50, 2)) + [100.0, 0.0]])
  fake = np.concatenate([shared, rng.uniform(size=(50, 2)) + [0.0, 100.0]])
  assert metrics.precision_recall(real, fake, k=3) == (0.5, 0.5)
  assert metrics.precision_recall(real, real, k=3) == (1.0, 1.0)


def _precision_recall_numpy(real, fake, k):
  def radii(x):
    distances = np.linalg.norm(x[:, None] - x[None], axis=-1)
    return np.sort(distances, axis=1)[:, k]  # column 0 is the point itself

  def covered(queries, points):
    distances = np.linalg.norm(queries[:, None] - points[None], axis=-1)
    return np.any(distances <= radii(points)[None], axis=1).mean()

  return covered(fake, real), covered(real, fake)


def test_precision_recall_matches_a_direct_evaluation_across_blocks():
  # More than one 1024-row block on each side, partly overlapping clouds.
  rng = np.random.default_rng(7)
  real = rng.normal(size=(1100, 2))
  fake = 0.5 * rng.normal(size=(1050, 2)) + [2.5, 0.0]
  got = metrics.precision_recall(real, fake, k=3)
  want = _precision_recall_numpy(real, fake, 3)
  assert 0.6 < want[0] < 0.95 and 0.1 < want[1] < 0.3  # (0.85, 0.18)
  np.testing.assert_allclose(got, want, atol=2.5e-3)  # float32 ties: a point or two


def test_precision_recall_needs_more_than_k_points():
  with pytest.raises(ValueError, match="more than k"):
    metrics.precision_recall(np.zeros((3, 2)), np.ones((10, 2)), k=3)


# ------------------------------------- reference statistics and caching ----


class _PixelFeatures:
  """Stands in for InceptionFeatures: per-channel means and spreads."""

  image_size = 299

  def __init__(self, identity="pixels"):
    self.identity = identity
    self.calls = 0

  def __call__(self, images, *, outputs=("pool",)):
    self.calls += 1
    x = np.concatenate(list(inception_lib.iterate_image_batches(images, 7)))
    pool = np.concatenate([x.mean(axis=(1, 2)), x.std(axis=(1, 2)),
                           x[:, 0, 0], x[:, -1, -1]], axis=1)
    return {"pool": pool, "logits_unbiased": 10.0 * pool[:, :3]}


def _images(n, seed, size=4):
  return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)).astype(np.float32)


def test_reference_statistics_are_cached_and_reused(tmp_path):
  images = _images(40, seed=8)
  cache = tmp_path / "stats" / "reference.npz"
  extractor = _PixelFeatures()
  first = fid_lib.reference_statistics(images, extractor=extractor, cache=cache)
  again = fid_lib.reference_statistics(images, extractor=extractor, cache=cache)
  assert extractor.calls == 1 and cache.exists()
  np.testing.assert_array_equal(again.features, first.features)
  np.testing.assert_array_equal(again.sigma, first.sigma)
  mu, sigma = metrics.gaussian_statistics(extractor(images)["pool"])
  np.testing.assert_allclose(first.mu, mu)
  np.testing.assert_allclose(first.sigma, sigma)


def test_reference_statistics_are_recomputed_when_the_inputs_differ(tmp_path):
  images = _images(40, seed=9)
  cache = tmp_path / "reference.npz"
  extractor = _PixelFeatures()
  first = fid_lib.reference_statistics(images, extractor=extractor, cache=cache)
  changed = images.copy()
  changed[17, 2, 3, 1] += 0.5  # one pixel
  second = fid_lib.reference_statistics(changed, extractor=extractor, cache=cache)
  assert extractor.calls == 2 and second.key != first.key
  assert not np.array_equal(second.features, first.features)
  assert fid_lib.ReferenceStatistics.load(cache).key == second.key
  # Other weights, same images: recomputed as well.
  other = _PixelFeatures(identity="other weights")
  fid_lib.reference_statistics(changed, extractor=other, cache=cache)
  assert other.calls == 1
  # An unreadable cache is recomputed, not an error.
  cache.write_bytes(b"not a npz")
  fid_lib.reference_statistics(changed, extractor=other, cache=cache)
  assert other.calls == 2


def test_image_quality_of_a_set_against_itself(tmp_path):
  images = _images(60, seed=10)
  extractor = _PixelFeatures()
  got = fid_lib.image_quality(images, images, extractor=extractor, kid_subsets=5,
                              cache=tmp_path / "ref.npz")
  assert set(got) == {"fid", "kid", "kid_std", "is", "is_std", "precision", "recall"}
  assert abs(got["fid"]) < 1e-6
  assert got["precision"] == got["recall"] == 1.0
  pool = extractor(images)["pool"]
  assert (got["kid"], got["kid_std"]) == metrics.kernel_inception_distance(
      pool, pool, num_subsets=5)
  assert (got["is"], got["is_std"]) == metrics.inception_score(10.0 * pool[:, :3])
  assert all(isinstance(v, float) for v in got.values())


def test_image_quality_reads_what_it_needs_from_the_reference():
  extractor = _PixelFeatures()
  samples = _images(30, seed=11)
  assert set(fid_lib.image_quality(samples, metrics=("is",), extractor=extractor)) == {
      "is", "is_std"}
  stats = fid_lib.ReferenceStatistics.from_features(extractor(_images(30, seed=12))["pool"])
  gaussian_only = fid_lib.ReferenceStatistics(stats.mu, stats.sigma)
  assert "fid" in fid_lib.image_quality(samples, gaussian_only, metrics=("fid",),
                                        extractor=extractor)
  with pytest.raises(ValueError, match="reference features"):
    fid_lib.image_quality(samples, gaussian_only, metrics=("kid",), extractor=extractor)
  foreign = fid_lib.ReferenceStatistics(stats.mu, stats.sigma, network="abc")
  with pytest.raises(ValueError, match="Inception weights"):
    fid_lib.image_quality(samples, foreign, metrics=("fid",), extractor=extractor)
  with pytest.raises(ValueError, match="metrics"):
    fid_lib.image_quality(samples, stats, metrics=("fid", "swd"), extractor=extractor)


def test_image_quality_without_weights_raises_the_weights_missing_error(monkeypatch):
  monkeypatch.delenv(inception_lib.WEIGHTS_ENV, raising=False)
  with pytest.raises(fid_lib.InceptionWeightsMissingError, match="python -m"):
    fid_lib.image_quality(_images(10, seed=13), _images(10, seed=14))


def test_public_names_are_exported_lazily():
  assert eval_lib.image_quality is fid_lib.image_quality
  assert eval_lib.InceptionWeightsMissingError is inception_lib.InceptionWeightsMissingError
  assert eval_lib.kernel_inception_distance is metrics.kernel_inception_distance
  assert "image_quality" in dir(eval_lib)


# ---------------------------------------------------------- command line ----


def test_command_exits_2_with_one_line_when_the_weights_are_missing(tmp_path):
  np.savez(tmp_path / "samples.npz", samples=_images(4, seed=15))
  env = {k: v for k, v in os.environ.items() if k != inception_lib.WEIGHTS_ENV}
  env["JAX_PLATFORMS"] = "cpu"
  done = subprocess.run(
      [sys.executable, "-m", "gans_jax.eval.tools.fid", "--real=digits",
       f"--fake={tmp_path / 'samples.npz'}"],
      cwd=REPO, env=env, capture_output=True, text=True)
  assert done.returncode == 2
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1 and inception_lib.WEIGHTS_ENV in lines[0]
  assert done.stdout == ""


def test_command_exits_2_with_one_line_on_bad_input(tmp_path, capsys):
  weights = tmp_path / "inception_fid.npz"
  weights.write_bytes(b"")  # found; never read, the inputs fail first
  np.savez(tmp_path / "two.npz", a=_images(3, seed=16), b=_images(3, seed=17))
  np.savez(tmp_path / "real.npz", samples=_images(3, seed=18))
  for fake, message in ((tmp_path / "missing.npz", "does not exist"),
                        (tmp_path / "two.npz", "'samples'"),
                        (tmp_path / "no_such_folder", "unknown image dataset")):
    code = fid_command.main([f"--real={tmp_path / 'real.npz'}", f"--fake={fake}",
                             f"--weights={weights}", "--real-split=train"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
  assert fid_command.main(["--real=x", "--fake=y", f"--weights={weights}",
                           "--metrics=fid,nope"]) == 2


def test_command_scores_npz_samples_against_a_folder_and_its_cache(
    tmp_path, monkeypatch, capsys):
  folder = tmp_path / "real"
  folder.mkdir()
  for i, image in enumerate(_images(30, seed=18)):
    Image.fromarray(np.round((image + 1) * 127.5).astype(np.uint8)).save(
        folder / f"{i:03d}.png")
  np.savez(tmp_path / "samples.npz", samples=_images(30, seed=19), labels=np.zeros(30))
  weights = tmp_path / "inception_fid.npz"
  weights.write_bytes(b"")
  extractors = []

  def stand_in(*, weights, batch_size):
    extractors.append(_PixelFeatures())
    return extractors[-1]

  monkeypatch.setattr(fid_command.inception_lib, "InceptionFeatures", stand_in)
  common = [f"--fake={tmp_path / 'samples.npz'}", f"--weights={weights}",
            "--kid-subsets=3", "--metrics=fid,kid,precision_recall"]
  cache = tmp_path / "real_stats.npz"
  assert fid_command.main([f"--real={folder}", f"--real-cache={cache}",
                           f"--out={tmp_path / 'out.json'}"] + common) == 0
  printed = capsys.readouterr().out
  results = json.loads((tmp_path / "out.json").read_text())
  assert set(results) == {"fid", "kid", "kid_std", "precision", "recall"}
  assert f"{results['fid']:.6g}" in printed
  assert extractors[0].calls == 2  # the folder, then the samples
  # The statistics file stands in for the folder.
  assert fid_command.main([f"--real={cache}", f"--out={tmp_path / 'again.json'}"]
                          + common) == 0
  again = json.loads((tmp_path / "again.json").read_text())
  assert again == results and extractors[1].calls == 1
