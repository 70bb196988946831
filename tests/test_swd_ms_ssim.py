"""ProGAN's image metrics: sliced Wasserstein distance and MS-SSIM.

References are independent: scipy's mirror-mode convolution for the pyramid,
scipy's 1-D Wasserstein distance, scikit-image's SSIM, closed forms, and a
numpy MS-SSIM written from Wang et al. (2003) with scipy's FFT convolution.
"""

import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import scipy.special
import scipy.stats
from skimage.metrics import structural_similarity

from gans_jax.eval import ms_ssim as ms_ssim_lib
from gans_jax.eval import swd

KEY = jax.random.key(0)


def _smooth_images(n, size=32, seed=0, channels=3):
  """Random smooth images in about [-0.8, 0.8]: structure at every scale."""
  noise = np.random.default_rng(seed).normal(size=(n, size, size, channels))
  x = scipy.ndimage.gaussian_filter(noise, sigma=(0, 1.5, 1.5, 0))
  return (0.8 * x / np.abs(x).max()).astype(np.float32)


# ------------------------------------------------------------------ pyramid --

_BINOMIAL_5X5 = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0


def test_pyramid_down_and_up_match_mirror_mode_binomial_filtering():
  x = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3))
  kernel = _BINOMIAL_5X5[None, :, :, None]
  down = scipy.ndimage.convolve(x, kernel, mode="mirror")[:, ::2, ::2]
  np.testing.assert_allclose(swd.pyramid_down(jnp.asarray(x, jnp.float32)),
                             down, rtol=1e-5, atol=1e-3)
  spread = np.zeros((2, 32, 32, 3))
  spread[:, ::2, ::2] = x
  up = scipy.ndimage.convolve(spread, 4 * kernel, mode="mirror")
  np.testing.assert_allclose(swd.pyramid_up(jnp.asarray(x, jnp.float32)), up,
                             rtol=1e-5, atol=1e-3)


def test_laplacian_pyramid_levels_add_back_up_to_the_image():
  x = jnp.asarray(np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)),
                  jnp.float32)
  levels = swd.laplacian_pyramid(x, 3)
  assert [lv.shape[1] for lv in levels] == [32, 16, 8]
  # The coarsest level is the low-pass image itself.
  np.testing.assert_allclose(
      levels[-1], swd.pyramid_down(swd.pyramid_down(x)), rtol=1e-6)
  image = levels[-1]
  for band in levels[-2::-1]:
    image = swd.pyramid_up(image) + band
  np.testing.assert_allclose(image, x, atol=1e-3)


def test_swd_resolutions_go_from_the_image_size_down_to_16():
  assert swd.swd_resolutions(64) == (64, 32, 16)
  assert swd.swd_resolutions(16) == (16,)
  assert swd.swd_resolutions(1024) == (1024, 512, 256, 128, 64, 32, 16)
  with pytest.raises(ValueError, match="min_resolution"):
    swd.swd_resolutions(8)


# -------------------------------------------------------------- descriptors --

def test_patch_descriptors_cut_the_neighbourhood_of_each_centre():
  rng = np.random.default_rng(0)
  images = rng.normal(size=(3, 12, 10, 2)).astype(np.float32)
  centres = np.stack([rng.integers(3, 9, (3, 4)), rng.integers(3, 7, (3, 4))],
                     axis=-1)
  desc = swd.patch_descriptors(jnp.asarray(images), jnp.asarray(centres))
  assert desc.shape == (12, 7, 7, 2)
  for n in range(3):
    for p in range(4):
      y, x = centres[n, p]
      np.testing.assert_array_equal(desc[n * 4 + p],
                                    images[n, y - 3:y + 4, x - 3:x + 4])


def test_descriptors_are_standardised_per_channel_over_the_set():
  rng = np.random.default_rng(0)
  d = rng.normal(size=(500, 7, 7, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -2.0]
  flat = np.asarray(swd.normalize_descriptors(jnp.asarray(d, jnp.float32)))
  per_channel = flat.reshape(500, 7, 7, 3)
  np.testing.assert_allclose(per_channel.mean(axis=(0, 1, 2)), 0, atol=1e-4)
  np.testing.assert_allclose(per_channel.std(axis=(0, 1, 2)), 1, rtol=1e-4)
  # Not standardised per position: position (0, 0) keeps its own spread.
  assert flat.shape == (500, 147)


# ------------------------------------------------------- sliced Wasserstein --

def test_sliced_wasserstein_in_one_dimension_is_the_wasserstein_distance():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=300), rng.exponential(size=300)
  got = swd.sliced_wasserstein(jnp.asarray(a[:, None], jnp.float32),
                               jnp.asarray(b[:, None], jnp.float32), KEY)
  np.testing.assert_allclose(got, scipy.stats.wasserstein_distance(a, b),
                             rtol=1e-5)


def test_sliced_wasserstein_of_a_translate():
  rng = np.random.default_rng(0)
  dim = 20
  a = jnp.asarray(rng.normal(size=(400, dim)), jnp.float32)
  assert float(swd.sliced_wasserstein(a, a[::-1], KEY)) == pytest.approx(
      0.0, abs=1e-6)
  shift = jnp.asarray(rng.normal(size=dim), jnp.float32)
  got = float(swd.sliced_wasserstein(a, a + shift, KEY))
  # E|<v, u>| for u uniform on the unit sphere of R^D.
  mean_abs = math.exp(scipy.special.gammaln(dim / 2)
                      - scipy.special.gammaln((dim + 1) / 2)) / math.sqrt(
                          math.pi)
  assert got == pytest.approx(float(jnp.linalg.norm(shift)) * mean_abs,
                              rel=0.08)


# Fewer neighbourhoods and directions than the paper's keep these tests fast;
# the properties do not depend on the counts.
_LIGHT = dict(patches_per_image=64, num_repeats=2, directions_per_repeat=64)


def test_swd_defaults_are_the_papers():
  defaults = {name: p.default for name, p in inspect.signature(
      swd.sliced_wasserstein_distance).parameters.items()}
  assert (defaults["patches_per_image"], defaults["patch_size"],
          defaults["num_repeats"], defaults["directions_per_repeat"],
          defaults["min_resolution"]) == (128, 7, 4, 128, 16)


def test_swd_of_a_set_against_itself_is_at_the_floor_and_grows_with_noise():
  x = _smooth_images(32, seed=0)
  noise = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
  # Against itself the distance is the sampling floor of independently drawn
  # neighbourhoods; white noise raises the finest (band-pass) level most.
  same = swd.sliced_wasserstein_distance(x, x, KEY, **_LIGHT)
  assert same.shape == (2,)  # levels 32 and 16
  noisy = [swd.sliced_wasserstein_distance(
      x, np.clip(x + s * noise, -1, 1), KEY, **_LIGHT) for s in (0.03, 0.1, 0.3)]
  finest = [float(same[0])] + [float(d[0]) for d in noisy]
  assert finest == sorted(finest), finest
  assert finest[-1] > 2 * finest[0], finest
  assert float(noisy[-1][1]) > float(same[1])


def test_swd_grows_with_a_colour_cast_but_ignores_a_whole_set_rescaling():
  x = _smooth_images(32, seed=0)
  rng = np.random.default_rng(1)
  same = swd.sliced_wasserstein_distance(x, x, KEY, quantize=False, **_LIGHT)
  # A colour cast per image changes the low-pass level's distribution.
  cast = rng.uniform(-0.4, 0.4, (32, 1, 1, 3)).astype(np.float32)
  shifted = swd.sliced_wasserstein_distance(x, x + cast, KEY, quantize=False,
                                            **_LIGHT)
  assert float(shifted[1]) > 3 * float(same[1])
  # One affine map per channel for the whole set is normalised away, as the
  # official code normalises each set's descriptors by that set's statistics.
  affine = x * np.float32([0.5, 1.0, 2.0]) + np.float32([0.2, -0.1, 0.0])
  np.testing.assert_allclose(
      swd.sliced_wasserstein_distance(x, affine, KEY, quantize=False,
                                      **_LIGHT), same, rtol=1e-3)


def test_swd_does_not_depend_on_the_batch_size():
  x, y = _smooth_images(6, seed=0), _smooth_images(6, seed=1)
  np.testing.assert_allclose(
      swd.sliced_wasserstein_distance(x, y, KEY, batch_size=4, **_LIGHT),
      swd.sliced_wasserstein_distance(x, y, KEY, **_LIGHT), rtol=1e-5)


def test_swd_rejects_mismatched_or_small_sets():
  x = _smooth_images(4)
  with pytest.raises(ValueError, match="same shape"):
    swd.sliced_wasserstein_distance(x, x[:3], KEY)
  with pytest.raises(ValueError, match="min_resolution"):
    swd.sliced_wasserstein_distance(x[:, :8, :8], x[:, :8, :8], KEY)


# ------------------------------------------------------------------ MS-SSIM --

def _pair(seed, noise, size=32):
  rng = np.random.default_rng(seed)
  x = rng.uniform(0, 255, (2, size, size, 3))
  x = scipy.ndimage.gaussian_filter(x, sigma=(0, 1, 1, 0))
  y = np.clip(x + rng.normal(0, noise, x.shape), 0, 255)
  return x.astype(np.float32), y.astype(np.float32)


@pytest.mark.parametrize("max_val", [255.0, 2.0])
def test_ssim_matches_scikit_image(max_val):
  x, y = _pair(0, 20.0)
  x, y = x * max_val / 255, y * max_val / 255
  if max_val == 2.0:  # [-1, 1] images with data_range 2
    x, y = x - 1, y - 1
  got, _ = ms_ssim_lib.ssim(jnp.asarray(x), jnp.asarray(y), max_val=max_val)
  expected = [structural_similarity(
      x[i], y[i], channel_axis=-1, gaussian_weights=True, sigma=1.5,
      use_sample_covariance=False, data_range=max_val) for i in range(2)]
  np.testing.assert_allclose(got, expected, rtol=1e-4)


def _fspecial_gauss(size, sigma):
  grid = np.arange(size) - (size - 1) / 2
  yy, xx = np.meshgrid(grid, grid, indexing="ij")
  g = np.exp(-(xx ** 2 + yy ** 2) / (2 * sigma ** 2))
  return g / g.sum()


def _ms_ssim_reference(x, y, max_val=255.0):
  """Wang et al. (2003) in float64 numpy, windows applied by FFT."""
  weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
  c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
  x, y = np.float64(x), np.float64(y)
  result = np.ones(x.shape[0])
  for j, w in enumerate(weights):
    size = min(11, x.shape[1])
    window = _fspecial_gauss(size, size * 1.5 / 11)[None, :, :, None]

    def blur(v, window=window):
      return scipy.signal.fftconvolve(v, window, mode="valid")

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(
        x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    if j == len(weights) - 1:
      term = ((2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1) * cs).mean(
          axis=(1, 2, 3))
    else:
      term = cs.mean(axis=(1, 2, 3))
    result *= np.maximum(term, 0) ** w
    x = x.reshape(x.shape[0], x.shape[1] // 2, 2, x.shape[2] // 2, 2,
                  -1).mean(axis=(2, 4))
    y = y.reshape(y.shape[0], y.shape[1] // 2, 2, y.shape[2] // 2, 2,
                  -1).mean(axis=(2, 4))
  return result


def test_ms_ssim_matches_a_reference_implementation():
  # 32x32: scales 32, 16, 8, 4, 2, so windows of 11, 11, 8, 4 and 2 taps.
  x, y = _pair(1, 40.0)
  np.testing.assert_allclose(
      ms_ssim_lib.ms_ssim(jnp.asarray(x), jnp.asarray(y), max_val=255.0),
      _ms_ssim_reference(x, y), rtol=1e-4)


def test_ms_ssim_of_constant_images_has_its_closed_form():
  a, b = 100.0, 150.0
  x = jnp.full((1, 32, 32, 3), a)
  y = jnp.full((1, 32, 32, 3), b)
  c1 = (0.01 * 255) ** 2
  # Every contrast-structure term is 1; only the coarsest luminance counts.
  expected = ((2 * a * b + c1) / (a * a + b * b + c1)) ** 0.1333
  np.testing.assert_allclose(
      ms_ssim_lib.ms_ssim(x, y, max_val=255.0), [expected], rtol=1e-5)


def test_ms_ssim_is_one_for_identical_images_and_falls_with_noise():
  x, _ = _pair(2, 0.0)
  values = [float(ms_ssim_lib.ms_ssim(jnp.asarray(x), jnp.asarray(y),
                                      max_val=255.0)[0])
            for y in (_pair(2, s)[1] for s in (0.0, 10.0, 30.0, 80.0))]
  assert values[0] == pytest.approx(1.0, abs=1e-5)
  assert values == sorted(values, reverse=True)
  assert values[-1] < 0.8


@pytest.mark.slow
def test_mean_ms_ssim_pairs_distinct_images():
  rng = np.random.default_rng(0)
  two = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
  pixels = swd.pixel_values(two)
  expected = float(ms_ssim_lib.ms_ssim(pixels[:1], pixels[1:],
                                       max_val=255.0)[0])
  # With two images every pair is (a, b) or (b, a): never an image with
  # itself, which would score 1.
  assert float(ms_ssim_lib.mean_ms_ssim(two, KEY)) == pytest.approx(
      expected, rel=1e-5)
  assert float(ms_ssim_lib.mean_ms_ssim(two, KEY, num_pairs=9)) == (
      pytest.approx(expected, rel=1e-5))


def test_mean_ms_ssim_is_lower_for_a_more_varied_set():
  rng = np.random.default_rng(0)
  base = _smooth_images(1, size=16, seed=3)
  near_copies = np.clip(base + 0.05 * rng.normal(size=(8, 16, 16, 3)), -1, 1)
  varied = _smooth_images(8, size=16, seed=4)
  assert float(ms_ssim_lib.mean_ms_ssim(varied, KEY)) < float(
      ms_ssim_lib.mean_ms_ssim(near_copies.astype(np.float32), KEY)) - 0.2
