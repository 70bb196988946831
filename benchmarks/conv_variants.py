"""DCGAN's stride-2 4x4 convolution on XLA:CPU, written four ways.

The DCGAN discriminator's downsampling convolutions dominate its step on a
CPU. This script times, for the four layers of the 64x64 discriminator at
batch 64, the forward pass and the forward pass plus both gradients (input and
kernel) of four numerically equivalent formulations:

  direct       ``lax.conv_general_dilated`` with stride 2 (what nnx.Conv does)
  im2col       the 16 strided taps gathered into patches, one matmul
  s2d          space-to-depth of the padded input, then a stride-1 2x2 conv
  custom_vjp   the direct forward pass with a hand-written backward pass: the
               input gradient as the phase-form transposed convolution
               (``gans_jax.nn.layers.conv_transpose_stride2``), the kernel
               gradient as 16 matmuls

    python benchmarks/conv_variants.py

It prints one line per layer and formulation, then the totals, and checks
each formulation's outputs and gradients against the direct form.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import jax.numpy as jnp

from gans_jax.nn.layers import conv_transpose_stride2

_DIMS = ("NHWC", "HWIO", "NHWC")
# (input size, input channels, output channels) of the 64x64 discriminator.
LAYERS = ((64, 3, 64), (32, 64, 128), (16, 128, 256), (8, 256, 512))
BATCH = 64


def direct(x, k):
  return jax.lax.conv_general_dilated(x, k, (2, 2), ((1, 1), (1, 1)),
                                      dimension_numbers=_DIMS)


def _taps(x):
  """The 16 strided views x_pad[2i + a, 2j + b], (a, b) in row-major order."""
  _, h, w, _ = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  return [xp[:, a:a + h:2, b:b + w:2] for a in range(4) for b in range(4)]


def im2col(x, k):
  patches = jnp.concatenate(_taps(x), axis=-1)
  return jnp.einsum("bhwk,ko->bhwo", patches, k.reshape(-1, k.shape[-1]))


def s2d(x, k):
  b, h, w, c = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  s = xp.reshape(b, h // 2 + 1, 2, w // 2 + 1, 2, c).transpose(0, 1, 3, 2, 4, 5)
  s = s.reshape(b, h // 2 + 1, w // 2 + 1, 4 * c)
  # kernel[2p + r, 2q + s] -> kernel'[p, q, (r, s, c)]
  k2 = k.reshape(2, 2, 2, 2, c, -1).transpose(0, 2, 1, 3, 4, 5)
  return jax.lax.conv_general_dilated(s, k2.reshape(2, 2, 4 * c, -1), (1, 1),
                                      "VALID", dimension_numbers=_DIMS)


@jax.custom_vjp
def custom_vjp(x, k):
  return direct(x, k)


def _custom_fwd(x, k):
  return direct(x, k), (x, k)


def _custom_bwd(residuals, dy):
  x, k = residuals
  # The input gradient is the stride-2 transposed convolution of dy with the
  # same kernel (input and output channels swapped).
  dx = conv_transpose_stride2(dy, jnp.swapaxes(k, 2, 3), implementation="phase")
  taps = _taps(x)
  dk = jnp.stack([jnp.einsum("bhwc,bhwo->co", t, dy) for t in taps])
  return dx, dk.reshape(k.shape)


custom_vjp.defvjp(_custom_fwd, _custom_bwd)

FORMS = {"direct": direct, "im2col": im2col, "s2d": s2d, "custom_vjp": custom_vjp}


def _best_of(fn, *args, repeats=3):
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return min(times)


def main():
  print(f"jax {jax.__version__}, {jax.devices()[0].platform}, batch {BATCH}")
  totals = {}
  loss = lambda f: lambda x, k: jnp.sum(f(x, k) ** 2)
  for size, c_in, c_out in LAYERS:
    x = jax.random.normal(jax.random.key(0), (BATCH, size, size, c_in))
    k = 0.02 * jax.random.normal(jax.random.key(1), (4, 4, c_in, c_out))
    reference = jax.grad(loss(direct), argnums=(0, 1))(x, k)
    for name, f in FORMS.items():
      grads = jax.jit(jax.grad(loss(f), argnums=(0, 1)))
      error = max(float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
                  for a, b in zip(grads(x, k), reference))
      forward = _best_of(jax.jit(f), x, k)
      both = _best_of(grads, x, k)
      totals[name] = [t + d for t, d in zip(totals.get(name, (0, 0)),
                                            (forward, both))]
      print(f"{size:3d}x{size:<3d} {c_in:3d}->{c_out:<3d} {name:10s} "
            f"forward {forward * 1e3:7.1f} ms, forward+gradients "
            f"{both * 1e3:7.1f} ms, gradient error {error:.1e}", flush=True)
  for name, (forward, both) in totals.items():
    print(f"total {name:10s} forward {forward * 1e3:7.1f} ms, "
          f"forward+gradients {both * 1e3:7.1f} ms")


if __name__ == "__main__":
  main()
