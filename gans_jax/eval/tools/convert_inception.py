"""Converts pytorch-fid's FID Inception weights to the ``.npz`` gans_jax loads.

::

  python -m gans_jax.eval.tools.convert_inception \\
      --torch-weights=pt_inception-2015-12-05-6726825d.pth --out=inception_fid.npz

The PyTorch file comes from pytorch-fid's releases
(:data:`gans_jax.eval.inception.TORCH_WEIGHTS_URL`); torch is needed for this
command only. :func:`torch_to_flax` maps its names and layouts onto
:class:`gans_jax.eval.inception.InceptionV3`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
import os
import sys
from typing import Any

import numpy as np

from gans_jax.eval import inception as inception_lib

# PyTorch parameter suffix -> (this module's leaf, how to reorder the axes).
_TORCH_LEAVES = {
    "conv.weight": ("conv/kernel", (2, 3, 1, 0)),  # [O, I, kh, kw] -> [kh, kw, I, O]
    "bn.weight": ("bn/scale", None),
    "bn.bias": ("bn/bias", None),
    "bn.running_mean": ("bn/mean", None),
    "bn.running_var": ("bn/var", None),
}


def torch_to_flax(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """Maps a PyTorch FID Inception state dict to this network's flat names.

  Convolution kernels go from ``[out, in, kh, kw]`` to ``[kh, kw, in, out]``
  and the classifier's weight is transposed; ``num_batches_tracked`` is
  dropped. Every parameter of
  :class:`~gans_jax.eval.inception.InceptionV3` must be matched exactly,
  with the right shape.

  Args:
    state_dict: ``{'Mixed_5b.branch1x1.conv.weight': array, ...}`` (numpy
      arrays or anything ``np.asarray`` accepts).

  Returns:
    ``{'Mixed_5b/branch1x1/conv/kernel': float32 array, ...}``.

  Raises:
    ValueError: names missing, unexpected or of the wrong shape.
  """
  flat, unknown = {}, []
  for name, value in state_dict.items():
    if name.endswith("num_batches_tracked"):
      continue
    value = np.asarray(value, dtype=np.float32)
    if name == "fc.weight":
      flat["fc/kernel"] = value.T
    elif name == "fc.bias":
      flat["fc/bias"] = value
    else:
      for suffix, (leaf, axes) in _TORCH_LEAVES.items():
        if name.endswith("." + suffix):
          module = name[:-len(suffix) - 1].replace(".", "/")
          flat[f"{module}/{leaf}"] = value if axes is None else value.transpose(axes)
          break
      else:
        unknown.append(name)
  inception_lib.check_names(flat, "the PyTorch state dict", extra_names=unknown)
  return {name: np.ascontiguousarray(value) for name, value in flat.items()}


def convert_torch_weights(torch_path: str | os.PathLike,
                          out: str | os.PathLike) -> None:
  """Converts pytorch-fid's ``pt_inception-2015-12-05-*.pth`` to ``.npz``.

  The file is read with ``torch.load(..., weights_only=True)``; torch is
  imported here only.

  Raises:
    ImportError: torch is not installed.
    ValueError: the file is not the FID Inception state dict.
  """
  import torch  # pylint: disable=g-import-not-at-top

  state_dict = torch.load(os.fspath(torch_path), map_location="cpu",
                          weights_only=True)
  inception_lib.save_weights(out, torch_to_flax(
      {k: v.detach().cpu().numpy() for k, v in state_dict.items()}))


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m gans_jax.eval.tools.convert_inception",
      description="Convert pytorch-fid's FID Inception weights "
                  f"({inception_lib.TORCH_WEIGHTS_FILE}) to the .npz that "
                  "gans_jax loads.")
  parser.add_argument("--torch-weights", required=True,
                      help="the PyTorch file, from "
                           f"{inception_lib.TORCH_WEIGHTS_URL}")
  parser.add_argument("--out", required=True, help="the .npz to write")
  args = parser.parse_args(argv)
  try:
    convert_torch_weights(args.torch_weights, args.out)
  except ImportError:
    print("error: converting the weights needs torch (pip install torch); "
          "it is not needed afterwards", file=sys.stderr)
    return 2
  except (OSError, ValueError, RuntimeError) as error:
    print(f"error: {error}".splitlines()[0], file=sys.stderr)
    return 2
  print(f"wrote {args.out}; use it with --weights={args.out} or "
        f"{inception_lib.WEIGHTS_ENV}={args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
