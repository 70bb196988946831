"""The JAX FID Inception network against pytorch-fid's own code.

pytorch-fid's ``InceptionV3`` (the FID reference network in PyTorch, with its
``FIDInceptionA/C/E_1/E_2`` blocks) is built without its download: its weight
loader is patched out, and the same random weights are put into it and,
through ``gans_jax.eval.tools.convert_inception.torch_to_flax`` (the converter
that reads the published file), into the JAX network. The weights are not trivial: random
convolutions, BatchNorm scales and shifts, and running statistics calibrated
on one batch of images like the test images (so activations stay of order one through the 94
layers) then perturbed, so no BatchNorm is an identity.

On the same images it compares

- the preprocessing: PyTorch's ``interpolate(mode='bilinear',
  align_corners=False)`` of ``[0, 1]`` images then ``2x - 1`` (what
  pytorch-fid does) against ``gans_jax.eval.inception.preprocess`` of the
  ``[-1, 1]`` images, upsampling, downsampling and at a non-square size;
- the 2048-d pool features and the 1008 logits (``fc`` of the pool features)
  of the whole pipeline (resize included), of the network alone on
  identical inputs, and of the batched, sharded ``InceptionFeatures``;
- for scale, both float32 networks against pytorch-fid's run in float64.

Errors are relative: ``max |jax - torch| / max |torch|``. Run it where
``pytorch_fid`` and torchvision are installed (not needed by gans_jax)::

  python benchmarks/inception_parity.py [--size=299] [--batch=4]

It prints a small report and exits 1 if an error is above ``--tolerance``.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

TOLERANCE = 1e-4


def pytorch_fid_network(seed: int = 0, *, calibration_size: int = 299):
  """pytorch-fid's InceptionV3 (pool block) and the torchvision model inside.

  Returns ``(wrapper, inception)``: ``wrapper`` is
  ``pytorch_fid.inception.InceptionV3([3])`` as pytorch-fid's FID code
  builds it, ``inception`` the patched torchvision ``Inception3`` whose blocks
  it holds (with the ``fc`` classifier the wrapper leaves out). Its weights
  are :func:`random_weights`; nothing is downloaded.
  """
  import torchvision  # pylint: disable=g-import-not-at-top
  from pytorch_fid import inception as pytorch_fid_inception  # pylint: disable=g-import-not-at-top

  built = []

  def keep_instead_of_loading(module, state_dict, *args, **kwargs):
    del state_dict, args, kwargs
    built.append(module)

  with mock.patch.object(pytorch_fid_inception, "load_state_dict_from_url",
                         lambda *args, **kwargs: {}), \
       mock.patch.object(torchvision.models.Inception3, "load_state_dict",
                         keep_instead_of_loading):
    wrapper = pytorch_fid_inception.InceptionV3([3], resize_input=True,
                                                normalize_input=True)
  (inception,) = built
  inception.load_state_dict(random_weights(inception, seed=seed,
                                           image_size=calibration_size))
  wrapper.eval()
  inception.eval()
  return wrapper, inception


def random_weights(inception, *, seed: int = 0, image_size: int = 299) -> dict:
  """A random state dict for ``inception`` with non-trivial BatchNorms.

  The running statistics are calibrated on images of side ``image_size``.
  """
  import torch  # pylint: disable=g-import-not-at-top

  generator = torch.Generator().manual_seed(seed)
  state = {}
  for name, value in inception.state_dict().items():
    if name.endswith("num_batches_tracked"):
      state[name] = value
    elif name.endswith("conv.weight") or name == "fc.weight":
      fan_in = value[0].numel()
      state[name] = torch.randn(value.shape, generator=generator) * (2.0 / fan_in) ** 0.5
    elif name.endswith("bn.weight"):
      state[name] = 0.5 + torch.rand(value.shape, generator=generator)
    elif name.endswith("bn.bias") or name == "fc.bias":
      state[name] = 0.2 * torch.randn(value.shape, generator=generator)
    else:  # running statistics: calibrated below
      state[name] = value.clone()
  inception.load_state_dict(state)
  # Running statistics from one train-mode pass (momentum 1: they become
  # the batch's), then perturbed so that they are not exactly normalising.
  batchnorms = [m for m in inception.modules() if isinstance(m, torch.nn.BatchNorm2d)]
  for bn in batchnorms:
    bn.momentum = 1.0
  inception.train()
  with torch.no_grad():
    images = test_images(8, image_size, image_size, seed=seed + 100)
    inception(torch.from_numpy(2 * images.transpose(0, 3, 1, 2) - 1))
  inception.eval()
  for bn in batchnorms:
    bn.momentum = 0.1
  state = {name: value.clone() for name, value in inception.state_dict().items()}
  for name in state:
    if name.endswith("running_var"):
      state[name] *= 0.8 + 0.4 * torch.rand(state[name].shape, generator=generator)
    elif name.endswith("running_mean"):
      spread = state[name].abs().mean() + 1e-3
      state[name] += 0.1 * spread * torch.randn(state[name].shape, generator=generator)
  return state


def test_images(n: int, height: int, width: int, *, seed: int) -> np.ndarray:
  """Smooth random images ``[n, height, width, 3]`` in ``[0, 1]`` (float32)."""
  rng = np.random.default_rng(seed)
  coarse = rng.uniform(size=(n, 3, 7, 7))
  y = np.linspace(0, 6, height)
  x = np.linspace(0, 6, width)
  # Bilinear blow-up of coarse noise plus pixel noise: structure at all scales.
  yi, xi = np.clip(y.astype(int), 0, 5), np.clip(x.astype(int), 0, 5)
  fy, fx = (y - yi)[:, None], (x - xi)[None, :]
  c = coarse
  smooth = (c[:, :, yi][:, :, :, xi] * (1 - fy) * (1 - fx)
            + c[:, :, yi + 1][:, :, :, xi] * fy * (1 - fx)
            + c[:, :, yi][:, :, :, xi + 1] * (1 - fy) * fx
            + c[:, :, yi + 1][:, :, :, xi + 1] * fy * fx)
  images = np.clip(0.8 * smooth + 0.2 * rng.uniform(size=smooth.shape), 0, 1)
  return images.transpose(0, 2, 3, 1).astype(np.float32)


def relative_error(got, want) -> float:
  """``max |got - want| / max |want|``."""
  got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
  return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def compare(*, size: int = 299, batch: int = 4, seed: int = 0,
            resize_sizes=((32, 32), (512, 512), (40, 56))) -> dict:
  """Runs every comparison; returns ``{check: relative error}`` and scales.

  Args:
    size: network input side for the network-alone comparison (299 is the
      FID input; 75, the smallest, keeps a test quick).
    batch: images per comparison.
    seed: weights and images.
    resize_sizes: input ``(height, width)`` of the preprocessing comparisons;
      the first also feeds the whole-pipeline comparison when ``size`` is 299.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top

  from gans_jax.eval import inception as inception_lib  # pylint: disable=g-import-not-at-top
  from gans_jax.eval.tools import convert_inception  # pylint: disable=g-import-not-at-top

  torch.set_grad_enabled(False)
  wrapper, inception = pytorch_fid_network(seed, calibration_size=size)
  flat = convert_inception.torch_to_flax(
      {k: v.numpy() for k, v in inception.state_dict().items()})
  model = inception_lib.inception_from_weights(flat)
  forward = jax.jit(lambda x: model(x))
  report = {}

  # The same network in float64: how far float32 PyTorch itself is from exact.
  wrapper64, inception64 = copy.deepcopy((wrapper, inception))
  wrapper64.double()
  inception64.double()

  def torch_outputs(images01_nhwc, *, resize, float64=False):
    x = torch.from_numpy(np.ascontiguousarray(images01_nhwc.transpose(0, 3, 1, 2)))
    net, head = (wrapper64, inception64.fc) if float64 else (wrapper, inception.fc)
    net.resize_input = net.normalize_input = resize
    (pool,) = net(x.double() if float64 else x)
    pool = pool.flatten(1)
    return pool.numpy(), head(pool).numpy()

  # Preprocessing alone, against pytorch-fid's interpolate and scaling.
  for k, (height, width) in enumerate(resize_sizes):
    images = test_images(batch, height, width, seed=seed + 1 + k)
    want = 2 * F.interpolate(torch.from_numpy(images.transpose(0, 3, 1, 2)),
                             size=(299, 299), mode="bilinear",
                             align_corners=False) - 1
    got = inception_lib.preprocess(2 * images - 1)
    report[f"resize {height}x{width} -> 299"] = relative_error(
        got, want.numpy().transpose(0, 2, 3, 1))

  # The network alone, on identical [-1, 1] inputs.
  images = test_images(batch, size, size, seed=seed + 10)
  pool_want, logits_want = torch_outputs(2 * images - 1, resize=False)
  pool_got, logits_got = forward(2 * images - 1)
  report[f"network pool features ({size}x{size})"] = relative_error(pool_got, pool_want)
  report[f"network logits ({size}x{size})"] = relative_error(logits_got, logits_want)
  pool_exact, logits_exact = torch_outputs(2 * images - 1, resize=False, float64=True)
  report["reference: pytorch-fid float32 vs float64"] = max(
      relative_error(pool_want, pool_exact), relative_error(logits_want, logits_exact))
  report["reference: jax float32 vs pytorch-fid float64"] = max(
      relative_error(pool_got, pool_exact), relative_error(logits_got, logits_exact))
  report["pool feature scale"] = float(np.max(np.abs(pool_want)))
  report["logit scale"] = float(np.max(np.abs(logits_want)))

  if size == inception_lib.INPUT_SIZE:
    # The whole pipeline: pytorch-fid resizes and scales [0, 1] images;
    # InceptionFeatures takes [-1, 1] (or uint8) images, batched and sharded.
    height, width = resize_sizes[0]
    images = test_images(batch, height, width, seed=seed + 20)
    pool_want, logits_want = torch_outputs(images, resize=True)
    features = inception_lib.InceptionFeatures(model, batch_size=max(1, batch - 1))
    out = features(2 * images - 1, outputs=("pool", "logits", "logits_unbiased"))
    report[f"pipeline pool features ({height}x{width})"] = relative_error(
        out["pool"], pool_want)
    report[f"pipeline logits ({height}x{width})"] = relative_error(
        out["logits"], logits_want)
    unbiased_want = logits_want - inception.fc.bias.numpy()
    report["pipeline logits without bias"] = relative_error(
        out["logits_unbiased"], unbiased_want)
  return report


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--size", type=int, default=299,
                      help="network input side (299: FID's, 75: the smallest)")
  parser.add_argument("--batch", type=int, default=4)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--tolerance", type=float, default=TOLERANCE)
  args = parser.parse_args(argv)
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  import jax  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  import pytorch_fid  # pylint: disable=g-import-not-at-top

  print(f"pytorch-fid {pytorch_fid.__version__}, torch {torch.__version__}, "
        f"jax {jax.__version__} on {jax.devices()[0].platform} "
        f"({jax.device_count()} device(s)), batch {args.batch}, float32")
  report = compare(size=args.size, batch=args.batch, seed=args.seed)
  failed = []
  for check, value in report.items():
    if "scale" in check:
      print(f"  {check:48s} {value:10.4g}")
      continue
    if check.startswith("reference"):
      print(f"  {check:48s} {value:10.2e}")
      continue
    ok = value <= args.tolerance
    failed += [] if ok else [check]
    print(f"  {check:48s} {value:10.2e}  {'ok' if ok else 'FAIL'}")
  print(f"relative errors (max |jax - torch| / max |torch|) "
        f"{'all' if not failed else 'NOT all'} <= {args.tolerance:g}")
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
