"""The Inception network of the Fréchet Inception Distance, in Flax NNX.

:class:`InceptionV3` is InceptionV3 exactly as the FID reference code uses it
(TTUR's TensorFlow graph ``inception-2015-12-05``, ported to PyTorch by
pytorch-fid as ``FIDInceptionA/C/E_1/E_2``), which differs from the ImageNet
InceptionV3 of torchvision and Keras:

- the average pools inside the ``Mixed_5*``, ``Mixed_6b..e`` and ``Mixed_7b``
  blocks ignore the zero padding (they divide by the number of real inputs
  under the window, as TensorFlow's pooling does);
- the pool branch of the last block (``Mixed_7c``) is a 3x3 *max* pool;
- 1008 output classes (the 2015 graph's), convolutions without bias, each
  followed by BatchNorm with epsilon 1e-3 and a ReLU.

It returns the 2048-d features of the final average pool (``pool_3`` in the
TensorFlow graph: the features of FID, KID and precision/recall) and the 1008
class logits (for the Inception Score).

Inputs are ``[N, 299, 299, 3]`` in ``[-1, 1]``. :func:`preprocess` brings any
``[-1, 1]`` image batch there as pytorch-fid does: greyscale repeated to RGB,
then a bilinear resize to 299x299 with half-pixel centres and no
antialiasing (``torch.nn.functional.interpolate(mode='bilinear',
align_corners=False)``; pytorch-fid resizes in ``[0, 1]`` and then maps to
``[-1, 1]``, which commutes with the resize). TensorFlow's original FID code
resized with the legacy ``tf.image.resize_bilinear`` (no half-pixel offset),
so its pixels, and its FID values, differ slightly.

Nothing is downloaded. The published PyTorch weights
(``pt_inception-2015-12-05-6726825d.pth``, from pytorch-fid's releases) are
converted once to a ``.npz`` with::

  python -m gans_jax.eval.tools.convert_inception \\
      --torch-weights=pt_inception-2015-12-05-6726825d.pth --out=inception_fid.npz

(torch is needed for that command only), and the network is loaded from that
file, given as an argument or by the ``GANS_JAX_INCEPTION_WEIGHTS``
environment variable (:func:`load_inception`, :class:`InceptionFeatures`).

References:
  Szegedy et al., "Rethinking the Inception Architecture for Computer
  Vision", arXiv 1512.00567; Heusel et al., "GANs Trained by a Two Time-Scale
  Update Rule Converge to a Local Nash Equilibrium", arXiv 1706.08500.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import functools
import hashlib
import os
from typing import Any

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np

from gans_jax.eval import network_cache

Array = jax.Array

INPUT_SIZE = 299
"""Height and width of the network's input."""
MIN_INPUT_SIZE = 75
"""The smallest input the strided layers leave at least one pixel of."""
POOL_DIM = 2048
NUM_LOGITS = 1008
WEIGHTS_ENV = "GANS_JAX_INCEPTION_WEIGHTS"
TORCH_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
TORCH_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    + TORCH_WEIGHTS_FILE)
_FORMAT_VERSION = 1
# FID statistics are compared across runs and machines: no reduced-precision
# (TF32, bf16) passes in the convolutions and the classifier.
_PRECISION = jax.lax.Precision.HIGHEST


class InceptionWeightsMissingError(FileNotFoundError):
  """The converted Inception weights file is not given or does not exist.

  Its message is one line saying how to get and convert the file; command
  lines turn it into exit status 2.
  """


# ------------------------------------------------------------- network ----


def average_pool_exclude_padding(x: Array, window: int = 3) -> Array:
  """Stride-1 ``window`` x ``window`` average pool, zero padding not counted.

  .. math::
    y_{ij} = \\frac{1}{|W_{ij}|} \\sum_{(p, q) \\in W_{ij}} x_{pq},

  :math:`W_{ij}` being the pixels of the window centred on :math:`(i, j)`
  that lie inside the image: a corner of a 3x3 pool averages 4 pixels, an
  edge 6 (TensorFlow's ``avg_pool`` with 'SAME' padding; PyTorch's
  ``avg_pool2d(..., count_include_pad=False)``).

  Args:
    x: ``[N, H, W, C]``.
    window: odd window side.

  Returns:
    ``[N, H, W, C]``.
  """
  if window % 2 != 1:
    raise ValueError(f"window must be odd, got {window}")
  pad = window // 2
  padding = ((0, 0), (pad, pad), (pad, pad), (0, 0))
  total = jax.lax.reduce_window(x, jnp.zeros((), x.dtype), jax.lax.add,
                                (1, window, window, 1), (1, 1, 1, 1), padding)
  # How many real pixels each window covers, per axis: an outer product.
  def counts(n):
    index = np.arange(n)
    return (np.minimum(index + pad, n - 1) - np.maximum(index - pad, 0) + 1)
  count = np.outer(counts(x.shape[1]), counts(x.shape[2]))
  return total / jnp.asarray(count[None, :, :, None], x.dtype)


def max_pool(x: Array, window: int = 3, *, stride: int,
             padding: int = 0) -> Array:
  """Max pool of ``[N, H, W, C]``; padded pixels never win (-inf)."""
  pads = ((0, 0), (padding, padding), (padding, padding), (0, 0))
  return jax.lax.reduce_window(x, jnp.array(-jnp.inf, x.dtype), jax.lax.max,
                               (1, window, window, 1), (1, stride, stride, 1),
                               pads)


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
  return (value, value) if isinstance(value, int) else tuple(value)


class ConvBN(nnx.Module):
  """Convolution without bias, BatchNorm (epsilon 1e-3), ReLU.

  Torchvision's ``BasicConv2d``; the BatchNorm always normalises with its
  stored statistics (the network is only ever evaluated).
  """

  def __init__(self, in_features: int, out_features: int,
               kernel_size: int | tuple[int, int], *,
               strides: int = 1, padding: int | tuple[int, int] = 0,
               dtype: Any = jnp.float32, param_dtype: Any = jnp.float32,
               rngs: nnx.Rngs):
    pad_h, pad_w = _pair(padding)
    self.conv = nnx.Conv(in_features, out_features, _pair(kernel_size),
                         strides=strides, padding=((pad_h, pad_h), (pad_w, pad_w)),
                         use_bias=False, precision=_PRECISION, dtype=dtype,
                         param_dtype=param_dtype, rngs=rngs)
    self.bn = nnx.BatchNorm(out_features, epsilon=1e-3, use_running_average=True,
                            dtype=dtype, param_dtype=param_dtype, rngs=rngs)

  def __call__(self, x: Array) -> Array:
    return nnx.relu(self.bn(self.conv(x)))


class InceptionA(nnx.Module):
  """35x35 block: 1x1, 5x5, double 3x3 and (padding-excluding) pool branches."""

  def __init__(self, in_features: int, pool_features: int, **kw):
    self.branch1x1 = ConvBN(in_features, 64, 1, **kw)
    self.branch5x5_1 = ConvBN(in_features, 48, 1, **kw)
    self.branch5x5_2 = ConvBN(48, 64, 5, padding=2, **kw)
    self.branch3x3dbl_1 = ConvBN(in_features, 64, 1, **kw)
    self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1, **kw)
    self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1, **kw)
    self.branch_pool = ConvBN(in_features, pool_features, 1, **kw)

  def __call__(self, x: Array) -> Array:
    return jnp.concatenate([
        self.branch1x1(x),
        self.branch5x5_2(self.branch5x5_1(x)),
        self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
        self.branch_pool(average_pool_exclude_padding(x)),
    ], axis=-1)


class InceptionB(nnx.Module):
  """Grid reduction 35 -> 17: stride-2 3x3, double 3x3 and max-pool branches."""

  def __init__(self, in_features: int, **kw):
    self.branch3x3 = ConvBN(in_features, 384, 3, strides=2, **kw)
    self.branch3x3dbl_1 = ConvBN(in_features, 64, 1, **kw)
    self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1, **kw)
    self.branch3x3dbl_3 = ConvBN(96, 96, 3, strides=2, **kw)

  def __call__(self, x: Array) -> Array:
    return jnp.concatenate([
        self.branch3x3(x),
        self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
        max_pool(x, stride=2),
    ], axis=-1)


class InceptionC(nnx.Module):
  """17x17 block with factorised 7x7 convolutions (1x7 and 7x1)."""

  def __init__(self, in_features: int, channels_7x7: int, **kw):
    c7 = channels_7x7
    self.branch1x1 = ConvBN(in_features, 192, 1, **kw)
    self.branch7x7_1 = ConvBN(in_features, c7, 1, **kw)
    self.branch7x7_2 = ConvBN(c7, c7, (1, 7), padding=(0, 3), **kw)
    self.branch7x7_3 = ConvBN(c7, 192, (7, 1), padding=(3, 0), **kw)
    self.branch7x7dbl_1 = ConvBN(in_features, c7, 1, **kw)
    self.branch7x7dbl_2 = ConvBN(c7, c7, (7, 1), padding=(3, 0), **kw)
    self.branch7x7dbl_3 = ConvBN(c7, c7, (1, 7), padding=(0, 3), **kw)
    self.branch7x7dbl_4 = ConvBN(c7, c7, (7, 1), padding=(3, 0), **kw)
    self.branch7x7dbl_5 = ConvBN(c7, 192, (1, 7), padding=(0, 3), **kw)
    self.branch_pool = ConvBN(in_features, 192, 1, **kw)

  def __call__(self, x: Array) -> Array:
    b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
    b7dbl = self.branch7x7dbl_1(x)
    for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3,
                  self.branch7x7dbl_4, self.branch7x7dbl_5):
      b7dbl = layer(b7dbl)
    return jnp.concatenate([
        self.branch1x1(x), b7, b7dbl,
        self.branch_pool(average_pool_exclude_padding(x)),
    ], axis=-1)


class InceptionD(nnx.Module):
  """Grid reduction 17 -> 8: 3x3, 7x7-then-3x3 and max-pool branches."""

  def __init__(self, in_features: int, **kw):
    self.branch3x3_1 = ConvBN(in_features, 192, 1, **kw)
    self.branch3x3_2 = ConvBN(192, 320, 3, strides=2, **kw)
    self.branch7x7x3_1 = ConvBN(in_features, 192, 1, **kw)
    self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3), **kw)
    self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0), **kw)
    self.branch7x7x3_4 = ConvBN(192, 192, 3, strides=2, **kw)

  def __call__(self, x: Array) -> Array:
    b7 = self.branch7x7x3_1(x)
    for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
      b7 = layer(b7)
    return jnp.concatenate([
        self.branch3x3_2(self.branch3x3_1(x)), b7, max_pool(x, stride=2),
    ], axis=-1)


class InceptionE(nnx.Module):
  """8x8 block with split 1x3/3x1 branches.

  Args:
    pool: ``'average'`` (padding excluded; ``Mixed_7b``) or ``'max'`` (the
      FID graph's ``Mixed_7c``).
  """

  def __init__(self, in_features: int, *, pool: str, **kw):
    if pool not in ("average", "max"):
      raise ValueError(f"pool must be 'average' or 'max', got {pool!r}")
    self.pool = pool
    self.branch1x1 = ConvBN(in_features, 320, 1, **kw)
    self.branch3x3_1 = ConvBN(in_features, 384, 1, **kw)
    self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1), **kw)
    self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0), **kw)
    self.branch3x3dbl_1 = ConvBN(in_features, 448, 1, **kw)
    self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1, **kw)
    self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1), **kw)
    self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0), **kw)
    self.branch_pool = ConvBN(in_features, 192, 1, **kw)

  def __call__(self, x: Array) -> Array:
    b3 = self.branch3x3_1(x)
    b3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
    if self.pool == "max":
      pooled = max_pool(x, stride=1, padding=1)
    else:
      pooled = average_pool_exclude_padding(x)
    return jnp.concatenate([
        self.branch1x1(x),
        self.branch3x3_2a(b3), self.branch3x3_2b(b3),
        self.branch3x3dbl_3a(b3dbl), self.branch3x3dbl_3b(b3dbl),
        self.branch_pool(pooled),
    ], axis=-1)


class InceptionV3(nnx.Module):
  """InceptionV3 as the FID reference uses it (see the module docstring).

  Layer names follow torchvision's ``Inception3``, so the PyTorch state dict
  maps onto this module name for name
  (:func:`gans_jax.eval.tools.convert_inception.torch_to_flax`).

  Args:
    dtype: computation dtype (float32: FID is not computed in less).
    param_dtype: parameter dtype.
    rngs: initialisation keys (the weights are normally loaded from a file).
  """

  def __init__(self, *, dtype: Any = jnp.float32,
               param_dtype: Any = jnp.float32, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, strides=2, **kw)
    self.Conv2d_2a_3x3 = ConvBN(32, 32, 3, **kw)
    self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1, **kw)
    self.Conv2d_3b_1x1 = ConvBN(64, 80, 1, **kw)
    self.Conv2d_4a_3x3 = ConvBN(80, 192, 3, **kw)
    self.Mixed_5b = InceptionA(192, 32, **kw)
    self.Mixed_5c = InceptionA(256, 64, **kw)
    self.Mixed_5d = InceptionA(288, 64, **kw)
    self.Mixed_6a = InceptionB(288, **kw)
    self.Mixed_6b = InceptionC(768, 128, **kw)
    self.Mixed_6c = InceptionC(768, 160, **kw)
    self.Mixed_6d = InceptionC(768, 160, **kw)
    self.Mixed_6e = InceptionC(768, 192, **kw)
    self.Mixed_7a = InceptionD(768, **kw)
    self.Mixed_7b = InceptionE(1280, pool="average", **kw)
    self.Mixed_7c = InceptionE(2048, pool="max", **kw)
    self.fc = nnx.Linear(POOL_DIM, NUM_LOGITS, precision=_PRECISION, dtype=dtype,
                         param_dtype=param_dtype, rngs=rngs)

  def pool_features(self, x: Array) -> Array:
    """The 2048-d final average-pool features (``pool_3``) of ``x``.

    Args:
      x: ``[N, H, W, 3]`` in ``[-1, 1]``, ``H, W >= 75`` (299 for FID; see
        :func:`preprocess`).

    Returns:
      ``[N, 2048]`` float32.
    """
    if x.ndim != 4 or x.shape[-1] != 3 or min(x.shape[1:3]) < MIN_INPUT_SIZE:
      raise ValueError(
          f"x must be [N, H, W, 3] with H, W >= {MIN_INPUT_SIZE}, got shape "
          f"{x.shape}")
    x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
    x = max_pool(x, stride=2)
    x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
    x = max_pool(x, stride=2)
    for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a,
                  self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e,
                  self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
      x = block(x)
    return jnp.mean(x, axis=(1, 2)).astype(jnp.float32)

  def __call__(self, x: Array) -> tuple[Array, Array]:
    """Pool features ``[N, 2048]`` and class logits ``[N, 1008]`` (float32)."""
    pool = self.pool_features(x)
    return pool, self.fc(pool).astype(jnp.float32)


def bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
  """``[out_size, in_size]`` weights of a half-pixel bilinear resize.

  Output pixel :math:`o` samples the input at :math:`s = \\max(0, (o + 1/2)
  \\, n_{in} / n_{out} - 1/2)`, between pixels :math:`\\lfloor s \\rfloor`
  and :math:`\\min(\\lfloor s \\rfloor + 1, n_{in} - 1)`: PyTorch's
  ``interpolate(mode='bilinear', align_corners=False)`` along one axis, with
  no antialiasing when shrinking. :math:`s` is rounded to float32 as
  PyTorch's CPU and CUDA kernels round it (the scale a float32 quotient, the
  position a float32 cast), which moves pixel values by up to ~1e-5 against
  exact positions at large scale factors, and makes the two agree to ~2e-7.
  """
  scale = np.float32(in_size) / np.float32(out_size)
  source = (np.float64(scale) * (np.arange(out_size) + 0.5) - 0.5).astype(np.float32)
  source = np.maximum(source, np.float32(0.0))
  low = np.minimum(source.astype(np.int64), in_size - 1)
  high = np.minimum(low + 1, in_size - 1)
  fraction = (source - low.astype(np.float32)).astype(np.float64)
  weights = np.zeros((out_size, in_size))
  np.add.at(weights, (np.arange(out_size), low), 1.0 - fraction)
  np.add.at(weights, (np.arange(out_size), high), fraction)
  return weights


def preprocess(images, *, image_size: int = INPUT_SIZE) -> Array:
  """``[-1, 1]`` images to the network's input, as pytorch-fid prepares them.

  Greyscale is repeated to RGB, then the batch is resized to ``image_size``
  square by bilinear interpolation with half-pixel centres and no
  antialiasing (:func:`bilinear_matrix` along each axis, applied as two
  float32 matrix products; PyTorch's ``interpolate(mode='bilinear',
  align_corners=False)``). An image already of that size is unchanged.

  Args:
    images: ``[N, H, W, C]``, ``C`` 1 or 3, floats in ``[-1, 1]``.
    image_size: output side (299 for FID).

  Returns:
    ``[N, image_size, image_size, 3]`` float32.
  """
  images = jnp.asarray(images, jnp.float32)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(
        f"images must be [N, H, W, C] with C in (1, 3), got shape {images.shape}")
  if images.shape[-1] == 1:
    images = jnp.repeat(images, 3, axis=-1)
  height, width = images.shape[1:3]
  if height != image_size:
    rows = jnp.asarray(bilinear_matrix(height, image_size), jnp.float32)
    images = jnp.einsum("oh,nhwc->nowc", rows, images, precision=_PRECISION)
  if width != image_size:
    columns = jnp.asarray(bilinear_matrix(width, image_size), jnp.float32)
    images = jnp.einsum("ow,nhwc->nhoc", columns, images, precision=_PRECISION)
  return images


# ------------------------------------------------------------- weights ----


def _unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
  tree: dict[str, Any] = {}
  for name, value in flat.items():
    *parents, leaf = name.split("/")
    node = tree
    for part in parents:
      node = node.setdefault(part, {})
    node[leaf] = value
  return tree


def abstract_inception() -> InceptionV3:
  """The network with abstract (shape-only) parameters; nothing is computed."""
  return nnx.eval_shape(lambda: InceptionV3(rngs=nnx.Rngs(0)))


def parameter_shapes() -> dict[str, tuple[int, ...]]:
  """``{'Mixed_5b/branch1x1/conv/kernel': shape, ...}`` of the network."""
  return dict(_parameter_shapes())


@functools.cache
def _parameter_shapes() -> tuple[tuple[str, tuple[int, ...]], ...]:
  state = nnx.to_pure_dict(nnx.state(abstract_inception()))
  return tuple((name, tuple(value.shape)) for name, value in network_cache.flatten_dict(state).items())


def check_names(flat: Mapping[str, np.ndarray], what: str,
                extra_names: Sequence[str] = ()) -> None:
  """Raises ``ValueError`` unless ``flat`` holds every parameter of
  :class:`InceptionV3` with its shape and nothing else (``extra_names``: more
  names found that match none); ``what`` names ``flat`` in the message."""
  expected = parameter_shapes()
  missing = sorted(set(expected) - set(flat))
  unexpected = sorted(set(flat) - set(expected)) + list(extra_names)
  wrong = sorted(f"{name} {tuple(flat[name].shape)} (want {expected[name]})"
                 for name in set(expected) & set(flat)
                 if tuple(flat[name].shape) != expected[name])
  if missing or unexpected or wrong:
    raise ValueError(
        f"{what} does not match the FID InceptionV3: missing {missing[:5]}"
        f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
        f"{'...' if len(unexpected) > 5 else ''}, wrong shapes {wrong[:5]}")


def save_weights(path: str | os.PathLike, flat: Mapping[str, np.ndarray]) -> None:
  """Writes flat weights (as from
  :func:`gans_jax.eval.tools.convert_inception.torch_to_flax`) to ``.npz``,
  atomically."""
  check_names(flat, "the weights")
  arrays = {f"params/{name}": np.asarray(value, np.float32)
            for name, value in flat.items()}
  arrays["meta/format_version"] = np.asarray(_FORMAT_VERSION)
  network_cache.save_npz(path, arrays)


def missing_weights_message(detail: str) -> str:
  """The one line that says how to get and convert the weights."""
  return (f"{detail}: FID needs the Inception weights as .npz; download "
          f"{TORCH_WEIGHTS_URL} and convert it once with 'python -m "
          f"gans_jax.eval.tools.convert_inception "
          f"--torch-weights={TORCH_WEIGHTS_FILE} "
          f"--out=inception_fid.npz' (needs torch), then pass its path or set "
          f"{WEIGHTS_ENV}")


def weights_path(weights: str | os.PathLike | None = None) -> str:
  """The converted weights file: ``weights``, else ``$GANS_JAX_INCEPTION_WEIGHTS``.

  Raises:
    InceptionWeightsMissingError: neither is given, or the file does not
      exist; the message says how to get it.
  """
  if weights is None:
    weights = os.environ.get(WEIGHTS_ENV) or None
    if weights is None:
      raise InceptionWeightsMissingError(missing_weights_message(
          f"no Inception weights given (no argument, {WEIGHTS_ENV} unset)"))
  path = os.path.expanduser(os.fspath(weights))
  if not os.path.isfile(path):
    raise InceptionWeightsMissingError(missing_weights_message(
        f"Inception weights file {path!r} does not exist"))
  return path


def load_weights(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Reads flat weights written by :func:`save_weights`, checking every shape."""
  with np.load(path) as f:
    stored = dict(f.items())
  version = int(stored.get("meta/format_version", -1))
  if version != _FORMAT_VERSION:
    raise ValueError(
        f"{path} is not a converted FID Inception weights file of format "
        f"{_FORMAT_VERSION} (found format {version}); convert the PyTorch file "
        "again with python -m gans_jax.eval.tools.convert_inception")
  flat = {k[len("params/"):]: v for k, v in stored.items() if k.startswith("params/")}
  check_names(flat, str(path))
  return flat


def inception_from_weights(flat: Mapping[str, np.ndarray]) -> InceptionV3:
  """The network holding ``flat`` weights (names as :func:`parameter_shapes`)."""
  check_names(flat, "the weights")
  model = abstract_inception()
  state = nnx.state(model)
  nnx.replace_by_pure_dict(
      state, _unflatten({k: jnp.asarray(v, jnp.float32) for k, v in flat.items()}))
  nnx.update(model, state)
  return model


def load_inception(weights: str | os.PathLike | None = None) -> InceptionV3:
  """The FID network with the converted weights (argument or environment).

  Args:
    weights: the ``.npz`` written by
      ``python -m gans_jax.eval.tools.convert_inception``;
      default ``$GANS_JAX_INCEPTION_WEIGHTS``.

  Raises:
    InceptionWeightsMissingError: no file given or found.
    ValueError: the file does not hold these weights.
  """
  return inception_from_weights(load_weights(weights_path(weights)))


# ---------------------------------------------------- batched features ----


def _to_float_images(batch: np.ndarray) -> np.ndarray:
  """Integer pixels -> [-1, 1] like gans_jax.data; floats are taken as [-1, 1]."""
  batch = np.asarray(batch)
  if np.issubdtype(batch.dtype, np.integer):
    return batch.astype(np.float32) * (2.0 / np.iinfo(batch.dtype).max) - 1.0
  return batch.astype(np.float32, copy=False)


def _source_batch(source: Any, indices: range) -> np.ndarray:
  """Images ``indices`` of a random-access source, stacked as ``[B, H, W, C]``."""
  images = []
  for i in indices:
    image = _to_float_images(source[i]["image"])
    if image.ndim == 2:
      image = image[..., None]
    if image.shape[-1] in (2, 4):  # drop alpha
      image = image[..., :-1]
    images.append(image)
  shapes = {im.shape for im in images}
  if len(shapes) > 1:
    raise ValueError(
        f"images {indices.start}..{indices.stop - 1} have different shapes "
        f"{sorted(shapes)}; resize them to one size first")
  return np.stack(images)


def iterate_image_batches(images: Any, batch_size: int):
  """Yields ``[B, H, W, C]`` float32 batches in ``[-1, 1]`` of ``images``.

  Args:
    images: an ``[N, H, W, C]`` array (floats in ``[-1, 1]`` or integer
      pixels) or a random-access image source (``len`` and
      ``source[i]['image']``, e.g. :func:`gans_jax.data.make_image_source`).
    batch_size: images per batch (the last may be short).
  """
  for start in range(0, len(images), batch_size):
    stop = min(start + batch_size, len(images))
    if isinstance(images, np.ndarray):
      yield _to_float_images(images[start:stop])
    else:
      yield _source_batch(images, range(start, stop))


class InceptionFeatures:
  """Batched, jitted Inception outputs, sharded over the devices.

  Each batch (``batch_size`` images, padded to keep one compiled program) is
  split over a 1-D ``data`` mesh (:func:`gans_jax.train.distributed.data_mesh`)
  as training batches are; the weights are replicated. Outputs:

  - ``'pool'``: the 2048-d pool features (FID, KID, precision/recall);
  - ``'logits'``: the 1008 logits of the network's classifier;
  - ``'logits_unbiased'``: the pool features times the classifier weights,
    without its bias: what the original Inception Score code feeds to its
    softmax (and torch-fidelity's and torchmetrics' IS by default).

  Args:
    model: the network; default :func:`load_inception` of ``weights``.
    weights: the converted ``.npz``; default ``$GANS_JAX_INCEPTION_WEIGHTS``.
    batch_size: images per compiled call (rounded up to a multiple of the
      device count).
    image_size: network input side; 299 for FID (smaller only in tests).
    mesh: the device mesh; default all devices.

  Raises:
    InceptionWeightsMissingError: no model given and no weights file found.
  """

  OUTPUTS = ("pool", "logits", "logits_unbiased")

  def __init__(self, model: InceptionV3 | None = None, *,
               weights: str | os.PathLike | None = None,
               batch_size: int = 100, image_size: int = INPUT_SIZE,
               mesh: Any = None):
    from gans_jax.train import distributed  # pylint: disable=g-import-not-at-top

    if model is None:
      model = load_inception(weights)
    if batch_size < 1:
      raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if image_size < MIN_INPUT_SIZE:
      raise ValueError(
          f"image_size must be >= {MIN_INPUT_SIZE}, got {image_size}")
    self.mesh = distributed.data_mesh() if mesh is None else mesh
    devices = self.mesh.devices.size
    self.batch_size = -(-batch_size // devices) * devices
    self.image_size = image_size
    graphdef, state = nnx.split(model)
    self.identity = _state_identity(state)
    self._state = jax.device_put(state, distributed.replicated(self.mesh))
    self._batch_sharding = distributed.batch_sharding(self.mesh)

    def forward(state, images):
      net = nnx.merge(graphdef, state)
      pool, logits = net(preprocess(images, image_size=image_size))
      unbiased = jnp.dot(pool, net.fc.kernel[...], precision=_PRECISION)
      return {"pool": pool, "logits": logits, "logits_unbiased": unbiased}

    self._forward = jax.jit(
        forward,
        in_shardings=(distributed.replicated(self.mesh), self._batch_sharding),
        out_shardings=distributed.replicated(self.mesh))

  def _device_batch(self, batch: np.ndarray) -> Array:
    # Every process holds the whole batch and contributes the shards of its
    # own devices, so this also runs on a multi-host mesh.
    return jax.make_array_from_callback(batch.shape, self._batch_sharding,
                                        lambda index: batch[index])

  def __call__(self, images: Any, *,
               outputs: Sequence[str] = ("pool",)) -> dict[str, np.ndarray]:
    """The requested outputs of every image.

    Args:
      images: ``[N, H, W, C]`` (``C`` 1 or 3; floats in ``[-1, 1]`` or
        integer pixels) or a random-access image source.
      outputs: names among ``OUTPUTS``.

    Returns:
      ``{name: float32 [N, dim]}``.
    """
    unknown = [name for name in outputs if name not in self.OUTPUTS]
    if unknown or not outputs:
      raise ValueError(f"outputs must be among {self.OUTPUTS}, got {outputs}")
    if len(images) == 0:  # pylint: disable=g-explicit-length-test
      raise ValueError("no images given")
    if isinstance(images, np.ndarray) or hasattr(images, "__array__"):
      images = np.asarray(images)
      if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"images must be [N, H, W, C] with C in (1, 3), got shape {images.shape}")
    results = {name: [] for name in outputs}
    for batch in iterate_image_batches(images, self.batch_size):
      n = batch.shape[0]
      if n < self.batch_size:
        batch = np.concatenate(
            [batch, np.zeros((self.batch_size - n,) + batch.shape[1:], batch.dtype)])
      out = self._forward(self._state, self._device_batch(batch))
      for name in outputs:
        results[name].append(np.asarray(out[name])[:n])
    return {name: np.concatenate(parts) for name, parts in results.items()}


def _state_identity(state: nnx.State) -> str:
  """A digest of the weights: cached statistics record which network made them."""
  digest = hashlib.sha256()
  for name, value in sorted(network_cache.flatten_dict(nnx.to_pure_dict(state)).items()):
    digest.update(name.encode())
    digest.update(np.ascontiguousarray(np.asarray(value, np.float32)).tobytes())
  return digest.hexdigest()[:16]
