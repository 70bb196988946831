"""The FID Inception network: architecture, pooling, resize, weights files,
batched features, and parity with pytorch-fid's network where it is installed.

The network is large; the tests check structure abstractly
(``nnx.eval_shape``) and run it at its smallest input (75x75) on a few
images. The 299x299 comparison is ``benchmarks/inception_parity.py``.
"""

import os
import subprocess
import sys

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans_jax.eval import inception as inception_lib
from gans_jax.eval.tools import convert_inception

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _random_weights(seed=0):
  """Random weights under the network's names, with usable BatchNorms."""
  rng = np.random.default_rng(seed)
  flat = {}
  for name, shape in inception_lib.parameter_shapes().items():
    if name.endswith("kernel"):
      fan_in = int(np.prod(shape[:-1]))
      value = rng.normal(size=shape) * np.sqrt(2.0 / fan_in)
    elif name.endswith("scale"):
      value = rng.uniform(0.5, 1.5, size=shape)
    elif name.endswith("var"):
      value = rng.uniform(0.5, 2.0, size=shape)
    else:  # BatchNorm bias and mean, classifier bias
      value = 0.1 * rng.normal(size=shape)
    flat[name] = value.astype(np.float32)
  return flat


def _as_torch_state_dict(flat):
  """The inverse of the converter, written out: PyTorch names and layouts."""
  leaves = {"conv/kernel": "conv.weight", "bn/scale": "bn.weight",
            "bn/bias": "bn.bias", "bn/mean": "bn.running_mean",
            "bn/var": "bn.running_var"}
  state = {}
  for name, value in flat.items():
    if name == "fc/kernel":
      state["fc.weight"] = value.T.copy()
    elif name == "fc/bias":
      state["fc.bias"] = value
    else:
      for leaf, torch_leaf in leaves.items():
        if name.endswith(leaf):
          module = name[:-len(leaf) - 1].replace("/", ".")
          if leaf == "conv/kernel":
            value = value.transpose(3, 2, 0, 1).copy()  # [kh, kw, I, O] -> [O, I, kh, kw]
          state[f"{module}.{torch_leaf}"] = value
          if leaf == "bn/var":
            state[f"{module}.bn.num_batches_tracked"] = np.array(7)
  return state


@pytest.fixture(scope="module")
def abstract_model():
  # Tracing the constructor takes seconds: once per module.
  return inception_lib.abstract_inception()


@pytest.fixture(scope="module")
def random_model():
  return inception_lib.inception_from_weights(_random_weights())


# --------------------------------------------------------- architecture ----


@pytest.mark.parametrize("size", [299, 75, 120])
def test_outputs_are_2048_pool_features_and_1008_logits(abstract_model, size):
  pool, logits = nnx.eval_shape(lambda m, x: m(x), abstract_model,
                                jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32))
  assert pool.shape == (2, 2048) and logits.shape == (2, 1008)
  assert pool.dtype == logits.dtype == jnp.float32


def test_inputs_smaller_than_75_are_rejected(abstract_model):
  with pytest.raises(ValueError, match="75"):
    nnx.eval_shape(lambda m, x: m(x), abstract_model,
                   jax.ShapeDtypeStruct((1, 74, 74, 3), jnp.float32))


def test_every_convolution_is_bias_free_and_every_batchnorm_has_eps_1e_3(abstract_model):
  modules = [m for _, m in nnx.iter_graph(abstract_model)]
  convs = [m for m in modules if isinstance(m, nnx.Conv)]
  norms = [m for m in modules if isinstance(m, nnx.BatchNorm)]
  # Torchvision's Inception3 without its auxiliary classifier has 94.
  assert len(convs) == len(norms) == 94
  assert all(not c.use_bias and c.bias is None for c in convs)
  assert all(n.epsilon == 1e-3 and n.use_running_average for n in norms)
  names = inception_lib.parameter_shapes()
  assert not [n for n in names if n.endswith("conv/bias")]
  assert names["fc/kernel"] == (2048, 1008) and names["fc/bias"] == (1008,)


def test_the_last_block_max_pools_and_the_others_average(abstract_model):
  assert abstract_model.Mixed_7b.pool == "average"
  assert abstract_model.Mixed_7c.pool == "max"


# ------------------------------------------------------------- pooling ----


def test_average_pool_divides_by_the_pixels_inside_the_image():
  x = np.random.default_rng(0).normal(size=(2, 4, 5, 3)).astype(np.float32)
  want = np.zeros_like(x)
  for i in range(4):
    for j in range(5):
      window = x[:, max(i - 1, 0):i + 2, max(j - 1, 0):j + 2]
      want[:, i, j] = window.sum(axis=(1, 2)) / (window.shape[1] * window.shape[2])
  got = np.asarray(inception_lib.average_pool_exclude_padding(jnp.asarray(x)))
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
  # A corner averages its 4 pixels, not 4 pixels and 5 zeros.
  np.testing.assert_allclose(got[:, 0, 0], x[:, :2, :2].mean(axis=(1, 2)), rtol=1e-6)


def test_padded_max_pool_never_picks_the_padding():
  x = -1.0 - np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
  got = np.asarray(inception_lib.max_pool(jnp.asarray(x), stride=1, padding=1))
  assert got[0, 0, 0, 0] == -1.0  # max of x[0:2, 0:2], all negative
  assert got[0, 3, 3, 0] == x[0, 2, 2, 0]
  strided = np.asarray(inception_lib.max_pool(jnp.asarray(x), stride=2))
  assert strided.shape == (1, 1, 1, 1) and strided[0, 0, 0, 0] == -1.0


# --------------------------------------------------------------- resize ----


def _bilinear_half_pixel(image, out_h, out_w):
  """PyTorch's interpolate(bilinear, align_corners=False) of [H, W, C], in numpy.

  Sample positions in float32 as PyTorch's kernel computes them: a float32
  scale times ``dst + 0.5`` (in double), minus 0.5, cast to float32.
  """
  def taps(n_out, n_in):
    scale = np.float64(np.float32(n_in) / np.float32(n_out))
    src = np.array([max(np.float32(scale * (o + 0.5) - 0.5), np.float32(0.0))
                    for o in range(n_out)], np.float32)
    low = np.minimum(np.floor(src).astype(int), n_in - 1)
    high = np.minimum(low + 1, n_in - 1)
    return low, high, (src - low).astype(np.float64)
  y0, y1, fy = taps(out_h, image.shape[0])
  x0, x1, fx = taps(out_w, image.shape[1])
  fy, fx = fy[:, None, None], fx[None, :, None]
  top = image[y0][:, x0] * (1 - fx) + image[y0][:, x1] * fx
  bottom = image[y1][:, x0] * (1 - fx) + image[y1][:, x1] * fx
  return top * (1 - fy) + bottom * fy


@pytest.mark.parametrize("shape", [(1, 32, 32, 3), (1, 400, 310, 3), (2, 9, 13, 1)])
def test_preprocess_is_half_pixel_bilinear_without_antialiasing(shape):
  images = np.random.default_rng(1).uniform(-1, 1, shape).astype(np.float32)
  got = np.asarray(inception_lib.preprocess(images))
  assert got.shape == (shape[0], 299, 299, 3)
  for n in range(shape[0]):
    want = _bilinear_half_pixel(images[n].astype(np.float64), 299, 299)
    np.testing.assert_allclose(got[n], np.broadcast_to(want, (299, 299, 3)),
                               atol=1e-6)
  # Antialiasing or whole-pixel (TensorFlow 1) sampling would be off by ~0.1.


def test_preprocess_leaves_a_299_image_unchanged():
  images = np.random.default_rng(2).uniform(-1, 1, (1, 299, 299, 3)).astype(np.float32)
  np.testing.assert_array_equal(np.asarray(inception_lib.preprocess(images)), images)


# -------------------------------------------------------------- weights ----


def test_missing_weights_raise_one_line_saying_how_to_get_them(monkeypatch, tmp_path):
  monkeypatch.delenv(inception_lib.WEIGHTS_ENV, raising=False)
  with pytest.raises(inception_lib.InceptionWeightsMissingError) as unset:
    inception_lib.load_inception()
  missing = str(tmp_path / "nowhere.npz")
  monkeypatch.setenv(inception_lib.WEIGHTS_ENV, missing)
  with pytest.raises(inception_lib.InceptionWeightsMissingError) as absent:
    inception_lib.InceptionFeatures()
  for error in (unset.value, absent.value):
    message = str(error)
    assert isinstance(error, FileNotFoundError)
    assert "\n" not in message
    assert inception_lib.WEIGHTS_ENV in message
    assert "python -m gans_jax.eval.tools.convert_inception" in message
    assert inception_lib.TORCH_WEIGHTS_FILE in message
  assert missing in str(absent.value)


def test_converted_weights_round_trip_through_npz(monkeypatch, tmp_path):
  flat = _random_weights(seed=3)
  converted = convert_inception.torch_to_flax(_as_torch_state_dict(flat))
  assert converted.keys() == flat.keys()
  for name in flat:
    np.testing.assert_array_equal(converted[name], flat[name])
  path = tmp_path / "inception_fid.npz"
  inception_lib.save_weights(path, converted)
  monkeypatch.setenv(inception_lib.WEIGHTS_ENV, str(path))
  model = inception_lib.load_inception()  # found through the environment
  loaded = nnx.to_pure_dict(nnx.state(model))
  assert np.array_equal(loaded["Mixed_6b"]["branch7x7_2"]["conv"]["kernel"],
                        flat["Mixed_6b/branch7x7_2/conv/kernel"])
  assert np.array_equal(loaded["Mixed_7c"]["branch_pool"]["bn"]["var"],
                        flat["Mixed_7c/branch_pool/bn/var"])
  assert np.array_equal(loaded["fc"]["kernel"], flat["fc/kernel"])


def test_conversion_transposes_kernels_to_height_width_in_out():
  flat = _random_weights(seed=4)
  state = _as_torch_state_dict(flat)
  torch_kernel = state["Mixed_6b.branch7x7_2.conv.weight"]  # a 1x7 kernel
  assert torch_kernel.shape == (128, 128, 1, 7)
  converted = convert_inception.torch_to_flax(state)
  o, i, kw = 5, 17, 6
  assert (converted["Mixed_6b/branch7x7_2/conv/kernel"][0, kw, i, o]
          == torch_kernel[o, i, 0, kw])
  assert converted["fc/kernel"][10, 3] == state["fc.weight"][3, 10]


def test_conversion_rejects_missing_extra_and_misshapen_parameters():
  state = _as_torch_state_dict(_random_weights(seed=5))
  missing = dict(state)
  del missing["Mixed_5b.branch_pool.bn.running_var"]
  with pytest.raises(ValueError, match="Mixed_5b/branch_pool/bn/var"):
    convert_inception.torch_to_flax(missing)
  extra = dict(state, **{"AuxLogits.fc.weight": np.zeros((1000, 768))})
  with pytest.raises(ValueError, match="AuxLogits"):
    convert_inception.torch_to_flax(extra)
  misshapen = dict(state, **{"fc.bias": np.zeros(1000)})
  with pytest.raises(ValueError, match="fc/bias"):
    convert_inception.torch_to_flax(misshapen)


def test_importing_the_metrics_does_not_import_torch():
  code = ("import sys; import gans_jax.eval.fid, gans_jax.eval.inception; "
          "assert 'torch' not in sys.modules, 'torch imported'")
  done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                        text=True, env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert done.returncode == 0, done.stderr


# ------------------------------------------------------ batched features ----


@pytest.mark.slow
def test_batched_features_equal_one_direct_call(random_model):
  # 3 greyscale 20x20 images in batches of 2: the second batch is padded.
  images = np.random.default_rng(6).integers(0, 256, (3, 20, 20, 1), dtype=np.uint8)
  as_float = images.astype(np.float32) * (2.0 / 255.0) - 1.0
  features = inception_lib.InceptionFeatures(random_model, batch_size=2, image_size=75)
  got = features(images, outputs=("pool", "logits", "logits_unbiased"))
  pool, logits = jax.jit(lambda x: random_model(x))(
      inception_lib.preprocess(as_float, image_size=75))
  np.testing.assert_allclose(got["pool"], pool, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(got["logits"], logits, rtol=1e-5, atol=1e-4)
  bias = np.asarray(random_model.fc.bias[...])
  np.testing.assert_allclose(got["logits_unbiased"], np.asarray(logits) - bias,
                             rtol=1e-5, atol=1e-4)
  # uint8 pixels and their [-1, 1] floats are the same images.
  np.testing.assert_allclose(features(as_float)["pool"], got["pool"], rtol=1e-6, atol=1e-6)


_TWO_DEVICES = """
import numpy as np, jax
from gans_jax.eval import inception as inc
from gans_jax.train import distributed
assert jax.device_count() == 2
rng = np.random.default_rng(0)
flat = {}
for name, shape in inc.parameter_shapes().items():
  if name.endswith("var"):
    flat[name] = rng.uniform(0.5, 2.0, shape).astype(np.float32)
  else:
    flat[name] = (rng.normal(size=shape) * 0.05).astype(np.float32)
model = inc.inception_from_weights(flat)
images = rng.uniform(-1, 1, (3, 75, 75, 3)).astype(np.float32)
one = inc.InceptionFeatures(model, batch_size=2, image_size=75,
                            mesh=distributed.data_mesh(jax.devices()[:1]))(images)
two = inc.InceptionFeatures(model, batch_size=2, image_size=75)
assert two.batch_size == 2 and two.mesh.devices.size == 2
print(float(np.max(np.abs(two(images)["pool"] - one["pool"]))))
"""


@pytest.mark.slow
def test_features_sharded_over_two_devices_equal_one_device():
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=2")
  done = subprocess.run([sys.executable, "-c", _TWO_DEVICES], cwd=REPO, env=env,
                        capture_output=True, text=True)
  assert done.returncode == 0, done.stderr[-2000:]
  assert float(done.stdout.strip().splitlines()[-1]) < 1e-5


# ------------------------------------------------ parity with pytorch-fid ----


@pytest.mark.slow
def test_network_matches_pytorch_fid_on_the_same_random_weights():
  pytest.importorskip("pytorch_fid")
  from benchmarks import inception_parity  # pylint: disable=g-import-not-at-top
  report = inception_parity.compare(size=75, batch=2,
                                    resize_sizes=((32, 32), (40, 56)))
  errors = {check: value for check, value in report.items()
            if "scale" not in check and not check.startswith("reference")}
  assert len(errors) == 4
  assert all(value <= 1e-4 for value in errors.values()), errors
