r"""f-divergences and the variational objective of f-GAN.

Conventions (one for the whole module):

* :math:`D_f(P \| Q) = \int q(x)\, f\big(p(x) / q(x)\big)\, dx`, with ``P`` the
  data distribution (``real``) and ``Q`` the model (``fake``).
* The critic's raw output ``v = V(x)`` is mapped into the domain of the convex
  conjugate by the output activation, ``t = g_f(v)``, and the critic maximises
  the lower bound

  .. math::
    F = \mathbb{E}_{P}[g_f(V(x))] - \mathbb{E}_{Q}[f^*(g_f(V(x)))]
        \le D_f(P \| Q),

  with equality at :math:`T^* = g_f(V^*) = f'(p/q)`.
* :math:`f^*(t) = \sup_u \{u t - f(u)\}`, the supremum taken over the domain
  where the formula for ``f`` is convex (``FDivergence.f_domain``): all of
  :math:`\mathbb{R}` for total variation and Pearson, whose conjugates in the
  paper are those of the formula on the real line, and :math:`u \ge 0` (or
  :math:`u > 0`) for the rest. ``conjugate`` returns ``+inf`` outside
  ``conjugate_domain``.
* Pearson :math:`\chi^2` is :math:`f(u) = (u - 1)^2`, i.e.
  :math:`\int (p - q)^2 / q`, with :math:`f^*(t) = t^2/4 + t` and
  :math:`g_f(v) = v`. Neyman :math:`\chi^2` is :math:`f(u) = (1 - u)^2 / u`,
  i.e. :math:`\int (p - q)^2 / p`, with :math:`f^*(t) = 2 - 2\sqrt{1 - t}`
  on :math:`t \le 1` and :math:`g_f(v) = 1 - e^{-v}`. (The printed Table 1 of
  the paper names these two directions inconsistently.)
* ``jensen_shannon`` is the paper's
  :math:`f(u) = -(u + 1)\log\frac{1 + u}{2} + u \log u`, which is **twice**
  the textbook Jensen-Shannon divergence;
  ``jensen_shannon_weighted(pi=0.5)`` is the textbook one.
* ``gan`` is :math:`f(u) = u \log u - (u + 1)\log(u + 1)`, whose divergence is
  :math:`2\,\mathrm{JSD} - \log 4` (textbook JSD); its critic loss is the
  minimax GAN discriminator loss with ``v`` the logit.

Each divergence also provides ``conjugate_of_activation(v)``, a closed form of
:math:`f^*(g_f(v))` that never takes the exponential of a large number or the
logarithm of a non-positive one (for GAN it is :math:`\mathrm{softplus}(v)`);
use it, not ``conjugate(activation(v))``, in training, because the latter
rounds onto the domain boundary for large ``v`` (e.g. :math:`1 - e^{-50}`
is 1 in floating point).

References:
  Nowozin, Cseke & Tomioka, f-GAN: Training Generative Neural Samplers using
  Variational Divergence Minimization, 2016 (arXiv 1606.00709), Tables 1, 2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import dataclasses
import inspect
import math
import types

import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy

Array = jax.Array
ArrayLike = jax.typing.ArrayLike

_LOG2 = math.log(2.0)


def _as_float(x: ArrayLike) -> Array:
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.result_type(float))
  return x


# ----------------------------------------------------------------------------
# Lambert W.
# ----------------------------------------------------------------------------

# Below this argument W(e^s) = e^s to within float64 precision (the next term
# of the series is e^{2s}); the cut also keeps log(w) clear of float32
# underflow, which starts near s = -87.
_SMALL_LOG_ARGUMENT = -40.0


@jax.custom_jvp
def lambertw_of_exp(s: ArrayLike) -> Array:
  r"""Lambert W of an exponential, :math:`w = W_0(e^s)`, computed from ``s``.

  Solves :math:`w + \log w = s` for :math:`w > 0` without forming
  :math:`e^s`, so it is finite for any finite ``s`` (for large ``s``,
  :math:`w \approx s - \log s`). The initial guess is Winitzki's
  approximation :math:`L (1 - \log(1 + L) / (2 + L))` with
  :math:`L = \log(1 + e^s) = \mathrm{softplus}(s)` (relative error below 2%),
  refined by two steps of Fritsch's fourth-order iteration, which reach full
  float32 and float64 precision. Differentiable:
  :math:`dw/ds = w / (1 + w)`.

  .. math::
    w = W_0(e^s), \qquad w + \log w = s.

  Args:
    s: the logarithm of the argument of W.

  Returns:
    :math:`W_0(e^s)`, with the shape and floating dtype of ``s``.

  References:
    Fritsch, Shafer & Crowley, Solution of the transcendental equation
    w e^w = x, Communications of the ACM 16(2), 1973; Winitzki, Uniform
    approximations for transcendental functions, 2003.
  """
  s = _as_float(s)
  small = s < _SMALL_LOG_ARGUMENT
  s_safe = jnp.where(small, 0.0, s)
  softplus = jax.nn.softplus(s_safe)
  w = softplus * (1.0 - jnp.log1p(softplus) / (2.0 + softplus))
  for _ in range(2):
    # z = log(e^s / w) - w; for s <= 0 the ratio form avoids the cancellation
    # of s - log(w) when w is small.
    log_ratio = jnp.where(
        s_safe > 0,
        s_safe - jnp.log(w),
        jnp.log(jnp.exp(jnp.minimum(s_safe, 0.0)) / w),
    )
    z = log_ratio - w
    # Fritsch's step w (1 + z/(1+w) (q-z)/(q-2z)), q = 2(1+w)(1+w+2z/3),
    # written with z/q so that nothing overflows for w near the float max.
    r = z / (1.0 + w)
    z_over_q = r / (2.0 * (1.0 + w + 2.0 * z / 3.0))
    w = w * (1.0 + r * (1.0 - z_over_q) / (1.0 - 2.0 * z_over_q))
  return jnp.where(small, jnp.exp(s), w)


@lambertw_of_exp.defjvp
def _lambertw_of_exp_jvp(primals, tangents):
  (s,), (s_dot,) = primals, tangents
  w = lambertw_of_exp(s)
  return w, s_dot * w / (1.0 + w)


def _lambertw_halley(x: Array) -> Array:
  """W_0(x) for x in [-1/e, 1] by Halley's method on w e^w - x."""
  # Near the branch point x = -1/e use the series in p = sqrt(2 (e x + 1)).
  p = jnp.sqrt(jnp.maximum(2.0 * (math.e * x + 1.0), 0.0))
  branch_guess = -1.0 + p - p * p / 3.0 + (11.0 / 72.0) * p * p * p
  log1p_x = jnp.log1p(jnp.maximum(x, -0.25))
  winitzki_guess = log1p_x * (1.0 - jnp.log1p(log1p_x) / (2.0 + log1p_x))
  w = jnp.where(x < -0.25, branch_guess, winitzki_guess)
  at_branch_point = p < 1e-3
  # Iterate away from w = -1, where Halley's denominator vanishes.
  w_iter = jnp.where(at_branch_point, 0.0, w)
  for _ in range(4):
    ew = jnp.exp(w_iter)
    residual = w_iter * ew - x
    w_iter = w_iter - residual / (
        ew * (w_iter + 1.0)
        - (w_iter + 2.0) * residual / (2.0 * w_iter + 2.0))
  return jnp.where(at_branch_point, branch_guess, w_iter)


@jax.custom_jvp
def lambertw(x: ArrayLike) -> Array:
  r"""Principal branch of the Lambert W function, :math:`W_0(x)`.

  Solves :math:`w e^w = x` for :math:`x \ge -1/e`, :math:`w \ge -1`. For
  :math:`x \le 1` it runs Halley's method from a Winitzki or branch-point
  series guess; above that it calls ``lambertw_of_exp(log x)``, so it is
  accurate to float32 precision up to the largest float. Returns NaN for
  :math:`x < -1/e`. Differentiable:
  :math:`W'(x) = e^{-W} / (1 + W)`.

  .. math::
    W_0(x)\, e^{W_0(x)} = x.

  Args:
    x: the argument, ``x >= -1/e``.

  Returns:
    :math:`W_0(x)`, with the shape and floating dtype of ``x``.

  References:
    Corless et al., On the Lambert W function, Advances in Computational
    Mathematics 5, 1996.
  """
  x = _as_float(x)
  large = x > 1.0
  w_large = lambertw_of_exp(jnp.log(jnp.where(large, x, 2.0)))
  w_small = _lambertw_halley(jnp.where(large, 0.0, x))
  w = jnp.where(large, w_large, w_small)
  outside = x < jnp.asarray(-1.0 / math.e, x.dtype)
  return jnp.where(outside, jnp.nan, w)


@lambertw.defjvp
def _lambertw_jvp(primals, tangents):
  (x,), (x_dot,) = primals, tangents
  w = lambertw(x)
  return w, x_dot * jnp.exp(-w) / (1.0 + w)


# ----------------------------------------------------------------------------
# The divergence type and its registry.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Interval:
  """An interval of the real line, each end open or closed.

  Attributes:
    low: lower end, possibly ``-inf``.
    high: upper end, possibly ``inf``.
    low_closed: whether ``low`` belongs to the interval.
    high_closed: whether ``high`` belongs to the interval.
  """

  low: float = -math.inf
  high: float = math.inf
  low_closed: bool = False
  high_closed: bool = False

  def contains(self, x: ArrayLike) -> Array:
    """Element-wise membership of ``x``."""
    x = jnp.asarray(x)
    above = x >= self.low if self.low_closed else x > self.low
    below = x <= self.high if self.high_closed else x < self.high
    return above & below

  def interior_point(self) -> float:
    """Some point strictly inside the interval."""
    if math.isinf(self.low) and math.isinf(self.high):
      return 0.0
    if math.isinf(self.low):
      return self.high - 1.0
    if math.isinf(self.high):
      return self.low + 1.0
    return 0.5 * (self.low + self.high)


@dataclasses.dataclass(frozen=True)
class FDivergence:
  r"""An f-divergence with everything f-GAN needs.

  Attributes:
    name: the registry name.
    f: the generator function, convex on ``f_domain``, with ``f(1) = 0``
      except for ``gan`` (``f(1) = -log 4``).
    f_domain: where the supremum defining ``conjugate`` ranges.
    f_prime: derivative of ``f``; :math:`T^*(x) = f'(p(x)/q(x))` is the
      optimal critic output (a subgradient for total variation).
    conjugate: :math:`f^*(t) = \sup_u \{u t - f(u)\}`, ``+inf`` outside
      ``conjugate_domain``.
    conjugate_domain: the domain of :math:`f^*`.
    activation: the output activation :math:`g_f`, mapping the real line into
      ``conjugate_domain``.
    conjugate_of_activation: a numerically stable closed form of
      :math:`f^*(g_f(v))`.
  """

  name: str
  f: Callable[[ArrayLike], Array] = dataclasses.field(repr=False)
  f_domain: Interval = dataclasses.field(repr=False)
  f_prime: Callable[[ArrayLike], Array] = dataclasses.field(repr=False)
  conjugate: Callable[[ArrayLike], Array] = dataclasses.field(repr=False)
  conjugate_domain: Interval
  activation: Callable[[ArrayLike], Array] = dataclasses.field(repr=False)
  conjugate_of_activation: Callable[[ArrayLike], Array] = dataclasses.field(
      repr=False)


def _restricted(
    fn: Callable[[Array], Array],
    domain: Interval,
) -> Callable[[ArrayLike], Array]:
  """Extends ``fn`` by ``+inf`` outside ``domain``, with finite gradients."""

  def restricted(t: ArrayLike) -> Array:
    t = _as_float(t)
    inside = domain.contains(t)
    # Outside the domain, evaluate at a point inside it so that no NaN reaches
    # the gradient through the unselected branch of the where.
    value = fn(jnp.where(inside, t, domain.interior_point()))
    return jnp.where(inside, value, jnp.inf)

  return restricted


def _log1mexp(a: Array) -> Array:
  """log(1 - e^a) for a < 0, accurate at both ends (Maechler 2012)."""
  tiny = jnp.finfo(a.dtype).tiny
  return jnp.where(a > -_LOG2,
                   jnp.log(-jnp.expm1(jnp.minimum(a, -tiny))),
                   jnp.log1p(-jnp.exp(jnp.minimum(a, -_LOG2))))


def _float_fn(fn: Callable[[Array], Array]) -> Callable[[ArrayLike], Array]:
  return lambda x: fn(_as_float(x))


_REAL_LINE = Interval()
_NONNEGATIVE = Interval(0.0, math.inf, low_closed=True)
_POSITIVE = Interval(0.0, math.inf)

TOTAL_VARIATION = FDivergence(
    name="total_variation",
    f=_float_fn(lambda u: 0.5 * jnp.abs(u - 1.0)),
    f_domain=_REAL_LINE,
    f_prime=_float_fn(lambda u: 0.5 * jnp.sign(u - 1.0)),
    conjugate=_restricted(lambda t: t, Interval(-0.5, 0.5, True, True)),
    conjugate_domain=Interval(-0.5, 0.5, True, True),
    activation=_float_fn(lambda v: 0.5 * jnp.tanh(v)),
    conjugate_of_activation=_float_fn(lambda v: 0.5 * jnp.tanh(v)),
)

KL = FDivergence(
    name="kl",
    f=_float_fn(lambda u: xlogy(u, u)),
    f_domain=_NONNEGATIVE,
    f_prime=_float_fn(lambda u: 1.0 + jnp.log(u)),
    conjugate=_float_fn(lambda t: jnp.exp(t - 1.0)),
    conjugate_domain=_REAL_LINE,
    activation=_float_fn(lambda v: v),
    conjugate_of_activation=_float_fn(lambda v: jnp.exp(v - 1.0)),
)

REVERSE_KL = FDivergence(
    name="reverse_kl",
    f=_float_fn(lambda u: -jnp.log(u)),
    f_domain=_POSITIVE,
    f_prime=_float_fn(lambda u: -1.0 / u),
    conjugate=_restricted(lambda t: -1.0 - jnp.log(-t),
                          Interval(-math.inf, 0.0)),
    conjugate_domain=Interval(-math.inf, 0.0),
    activation=_float_fn(lambda v: -jnp.exp(-v)),
    conjugate_of_activation=_float_fn(lambda v: v - 1.0),
)

PEARSON = FDivergence(
    name="pearson",
    f=_float_fn(lambda u: jnp.square(u - 1.0)),
    f_domain=_REAL_LINE,
    f_prime=_float_fn(lambda u: 2.0 * (u - 1.0)),
    conjugate=_float_fn(lambda t: 0.25 * t * t + t),
    conjugate_domain=_REAL_LINE,
    activation=_float_fn(lambda v: v),
    conjugate_of_activation=_float_fn(lambda v: 0.25 * v * v + v),
)

# f*(t) = 2 - 2 sqrt(1 - t) is finite at t = 1 (the supremum is approached as
# u -> inf), so the domain is closed there.
NEYMAN = FDivergence(
    name="neyman",
    f=_float_fn(lambda u: jnp.square(1.0 - u) / u),
    f_domain=_POSITIVE,
    f_prime=_float_fn(lambda u: 1.0 - 1.0 / jnp.square(u)),
    conjugate=_restricted(lambda t: 2.0 - 2.0 * jnp.sqrt(1.0 - t),
                          Interval(-math.inf, 1.0, high_closed=True)),
    conjugate_domain=Interval(-math.inf, 1.0, high_closed=True),
    activation=_float_fn(lambda v: -jnp.expm1(-v)),
    conjugate_of_activation=_float_fn(lambda v: -2.0 * jnp.expm1(-0.5 * v)),
)

SQUARED_HELLINGER = FDivergence(
    name="squared_hellinger",
    f=_float_fn(lambda u: jnp.square(jnp.sqrt(u) - 1.0)),
    f_domain=_NONNEGATIVE,
    f_prime=_float_fn(lambda u: 1.0 - 1.0 / jnp.sqrt(u)),
    conjugate=_restricted(lambda t: t / (1.0 - t), Interval(-math.inf, 1.0)),
    conjugate_domain=Interval(-math.inf, 1.0),
    activation=_float_fn(lambda v: -jnp.expm1(-v)),
    conjugate_of_activation=_float_fn(jnp.expm1),
)


def _jeffrey_conjugate(t: Array) -> Array:
  # With w = W(e^s), s = 1 - t: f*(t) = w + 1/w + t - 2 = 1/w - log(w) - 1,
  # the second form free of the cancellation between w and t for t << 0.
  s = 1.0 - t
  w = lambertw_of_exp(s)
  # log(w) = s - w is exact enough when w < 1 and needs no log of a tiny w.
  log_w = jnp.where(s > 0.0, jnp.log(jnp.where(s > 0.0, w, 1.0)), s - w)
  return jnp.exp(-log_w) - log_w - 1.0


JEFFREY = FDivergence(
    name="jeffrey",
    f=_float_fn(lambda u: (u - 1.0) * jnp.log(u)),
    f_domain=_POSITIVE,
    f_prime=_float_fn(lambda u: jnp.log(u) + 1.0 - 1.0 / u),
    conjugate=_float_fn(_jeffrey_conjugate),
    conjugate_domain=_REAL_LINE,
    activation=_float_fn(lambda v: v),
    conjugate_of_activation=_float_fn(_jeffrey_conjugate),
)

JENSEN_SHANNON = FDivergence(
    name="jensen_shannon",
    f=_float_fn(lambda u: xlogy(u, u) - (u + 1.0) * jnp.log(0.5 * (u + 1.0))),
    f_domain=_NONNEGATIVE,
    f_prime=_float_fn(lambda u: _LOG2 + jnp.log(u) - jnp.log1p(u)),
    # -log(2 - e^t) = -log 2 - log(1 - e^{t - log 2}).
    conjugate=_restricted(lambda t: -_LOG2 - _log1mexp(t - _LOG2),
                          Interval(-math.inf, _LOG2)),
    conjugate_domain=Interval(-math.inf, _LOG2),
    activation=_float_fn(lambda v: _LOG2 - jax.nn.softplus(-v)),
    conjugate_of_activation=_float_fn(lambda v: jax.nn.softplus(v) - _LOG2),
)

GAN = FDivergence(
    name="gan",
    f=_float_fn(lambda u: xlogy(u, u) - xlogy(u + 1.0, u + 1.0)),
    f_domain=_NONNEGATIVE,
    f_prime=_float_fn(lambda u: jnp.log(u) - jnp.log1p(u)),
    conjugate=_restricted(lambda t: -_log1mexp(t), Interval(-math.inf, 0.0)),
    conjugate_domain=Interval(-math.inf, 0.0),
    activation=_float_fn(lambda v: -jax.nn.softplus(-v)),
    conjugate_of_activation=_float_fn(jax.nn.softplus),
)


def jensen_shannon_weighted(pi: float = 0.5) -> FDivergence:
  r"""The :math:`\pi`-weighted Jensen-Shannon divergence.

  With :math:`m = \pi p + (1 - \pi) q`,

  .. math::
    D = \pi\, \mathrm{KL}(p \| m) + (1 - \pi)\, \mathrm{KL}(q \| m), \quad
    f(u) = \pi u \log u - (1 - \pi + \pi u) \log(1 - \pi + \pi u),

  .. math::
    f^*(t) = (1 - \pi) \log \frac{1 - \pi}{1 - \pi e^{t / \pi}}, \quad
    t < -\pi \log \pi.

  The activation is chosen so that, as for ``gan`` and ``jensen_shannon``,
  the optimal raw output is :math:`V^* = \log(p/q)`:
  :math:`g_f(v) = -\pi \log \pi - \pi\, \mathrm{softplus}(-v - \lambda)` with
  :math:`\lambda = \log(\pi / (1 - \pi))`, giving
  :math:`f^*(g_f(v)) = (1 - \pi)(\log(1 - \pi) + \mathrm{softplus}(v +
  \lambda))`. At :math:`\pi = 1/2` every piece is half of
  ``jensen_shannon``'s: the textbook JSD.

  Args:
    pi: the weight of ``P``, in ``(0, 1)``.

  Returns:
    The divergence.

  References:
    Nowozin, Cseke & Tomioka, f-GAN, 2016 (arXiv 1606.00709), Table 1.
  """
  pi = float(pi)
  if not 0.0 < pi < 1.0:
    raise ValueError(f"jensen_shannon_weighted: pi must lie in (0, 1), got {pi}.")
  log_pi, log_1mpi = math.log(pi), math.log1p(-pi)
  logit_pi = log_pi - log_1mpi
  domain = Interval(-math.inf, -pi * log_pi)

  def f(u):
    mixture = 1.0 - pi + pi * u
    return pi * xlogy(u, u) - mixture * jnp.log(mixture)

  def f_prime(u):
    return pi * (jnp.log(u) - jnp.log1p(pi * (u - 1.0)))

  def conjugate(t):
    # 1 - pi e^{t/pi} = 1 - e^{t/pi + log pi}.
    return (1.0 - pi) * (log_1mpi - _log1mexp(t / pi + log_pi))

  def activation(v):
    return -pi * log_pi - pi * jax.nn.softplus(-v - logit_pi)

  def conjugate_of_activation(v):
    return (1.0 - pi) * (log_1mpi + jax.nn.softplus(v + logit_pi))

  return FDivergence(
      name="jensen_shannon_weighted",
      f=_float_fn(f),
      f_domain=_NONNEGATIVE,
      f_prime=_float_fn(f_prime),
      conjugate=_restricted(conjugate, domain),
      conjugate_domain=domain,
      activation=_float_fn(activation),
      conjugate_of_activation=_float_fn(conjugate_of_activation),
  )


def _constant(divergence: FDivergence) -> Callable[[], FDivergence]:
  def factory() -> FDivergence:
    return divergence
  return factory


REGISTRY: Mapping[str, Callable[..., FDivergence]] = types.MappingProxyType({
    "total_variation": _constant(TOTAL_VARIATION),
    "kl": _constant(KL),
    "reverse_kl": _constant(REVERSE_KL),
    "pearson": _constant(PEARSON),
    "neyman": _constant(NEYMAN),
    "squared_hellinger": _constant(SQUARED_HELLINGER),
    "jeffrey": _constant(JEFFREY),
    "jensen_shannon": _constant(JENSEN_SHANNON),
    "jensen_shannon_weighted": jensen_shannon_weighted,
    "gan": _constant(GAN),
})
"""Divergence name -> factory; only ``jensen_shannon_weighted`` takes ``pi``."""


def get(name: str, **params: float) -> FDivergence:
  """Looks up a divergence by name.

  Args:
    name: a key of ``REGISTRY``.
    **params: parameters of a parametrised divergence
      (``get("jensen_shannon_weighted", pi=0.3)``).

  Returns:
    The divergence.

  Raises:
    ValueError: for an unknown name or parameters the divergence does not take.
  """
  if name not in REGISTRY:
    raise ValueError(
        f"Unknown f-divergence {name!r}; valid names are: "
        f"{', '.join(sorted(REGISTRY))}.")
  factory = REGISTRY[name]
  try:
    inspect.signature(factory).bind(**params)
  except TypeError as e:
    raise ValueError(
        f"Bad parameters {sorted(params)} for f-divergence {name!r}: {e}."
    ) from None
  return factory(**params)


def _resolve(divergence: FDivergence | str) -> FDivergence:
  return get(divergence) if isinstance(divergence, str) else divergence


def divergence_integrand(
    divergence: FDivergence | str,
    log_p: ArrayLike,
    log_q: ArrayLike,
) -> Array:
  r"""The integrand :math:`q\, f(p/q)` of :math:`D_f(P \| Q)`, from log-densities.

  Summed with quadrature weights over a grid it gives the exact divergence,
  e.g. to find the best fit of a model family by numerical optimisation. The
  ratio :math:`u = p/q` overflows where :math:`q` is far smaller than
  :math:`p`, so there the integrand is evaluated in the equal form
  :math:`p \cdot f(u)/u`:

  .. math::
    q\, f\!\left(\frac{p}{q}\right) =
    \begin{cases} q\, f(u) & u \le 1, \\ p\, f(u)/u & u > 1, \end{cases}
    \qquad D_f(P \| Q) = \int q(x)\, f\!\left(\frac{p(x)}{q(x)}\right) dx.

  :math:`\log u` is clipped to half the dtype's exponent range (about
  :math:`\pm 354` in float64, :math:`\pm 43` in float32), so that
  :math:`f(u)` stays finite even where it grows like :math:`u^2`; this only
  matters where one density is that many orders of magnitude below the
  other. Use float64 (``jax.enable_x64``) for accurate integrals.

  Args:
    divergence: an ``FDivergence`` or a registry name.
    log_p: :math:`\log p(x)` at the grid points (data distribution ``P``).
    log_q: :math:`\log q(x)` at the same points (model ``Q``).

  Returns:
    :math:`q(x) f(p(x)/q(x))` with the broadcast shape of the inputs.

  References:
    Nowozin, Cseke & Tomioka, f-GAN, 2016 (arXiv 1606.00709), equation 1.
  """
  divergence = _resolve(divergence)
  log_p, log_q = jnp.broadcast_arrays(_as_float(log_p), _as_float(log_q))
  bound = 0.5 * math.log(jnp.finfo(log_p.dtype).max) - 1.0
  log_u = jnp.clip(log_p - log_q, -bound, bound)
  u = jnp.exp(log_u)
  f_u = divergence.f(u)
  return jnp.where(log_u > 0.0, jnp.exp(log_p) * (f_u / u),
                   jnp.exp(log_q) * f_u)


# ----------------------------------------------------------------------------
# The f-GAN objective.
# ----------------------------------------------------------------------------


def variational_objective(
    divergence: FDivergence | str,
    real_outputs: ArrayLike,
    fake_outputs: ArrayLike,
) -> Array:
  r"""The f-GAN variational lower bound on :math:`D_f(P \| Q)`, a scalar.

  .. math::
    F = \frac{1}{n}\sum_i g_f(v^{P}_i)
        - \frac{1}{m}\sum_j f^*(g_f(v^{Q}_j))

  The critic maximises ``F``; at the optimal critic it equals the divergence.
  The two batches may differ in size.

  Args:
    divergence: an ``FDivergence`` or a registry name.
    real_outputs: raw critic outputs ``V(x)`` on samples of ``P``.
    fake_outputs: raw critic outputs ``V(G(z))`` on samples of ``Q``.

  Returns:
    The scalar estimate ``F``.

  References:
    Nowozin, Cseke & Tomioka, f-GAN, 2016 (arXiv 1606.00709), equation 6.
  """
  divergence = _resolve(divergence)
  return (jnp.mean(divergence.activation(real_outputs))
          - jnp.mean(divergence.conjugate_of_activation(fake_outputs)))


def critic_loss(
    divergence: FDivergence | str,
    real_outputs: ArrayLike,
    fake_outputs: ArrayLike,
) -> Array:
  r"""Per-pair f-GAN critic loss, the negated integrand of ``F``.

  .. math::
    L_V = f^*(g_f(V(G(z)))) - g_f(V(x))

  Its mean is ``-variational_objective``. For ``gan`` it equals
  ``losses.discriminator_minimax_loss`` with ``V`` as the logit.

  Args:
    divergence: an ``FDivergence`` or a registry name.
    real_outputs: raw critic outputs on samples of ``P``.
    fake_outputs: raw critic outputs on samples of ``Q``, same shape.

  Returns:
    Per-pair losses with the shape of the inputs.

  References:
    Nowozin, Cseke & Tomioka, f-GAN, 2016 (arXiv 1606.00709), equation 6.
  """
  divergence = _resolve(divergence)
  real_outputs = _as_float(real_outputs)
  fake_outputs = _as_float(fake_outputs)
  if real_outputs.shape != fake_outputs.shape:
    raise ValueError(
        "critic_loss: real and fake outputs must have the same shape, got "
        f"{real_outputs.shape} and {fake_outputs.shape}; use "
        "variational_objective for batches of different sizes.")
  return (divergence.conjugate_of_activation(fake_outputs)
          - divergence.activation(real_outputs))


def generator_loss(
    divergence: FDivergence | str,
    fake_outputs: ArrayLike,
    *,
    trick: bool = False,
) -> Array:
  r"""Per-example f-GAN generator loss, to be minimised.

  Without the trick the generator minimises ``F``, whose only term that
  depends on it gives :math:`L_G = -f^*(g_f(V(G(z))))`. With ``trick=True`` it
  instead maximises :math:`\mathbb{E}_Q[g_f(V(G(z)))]` (Section 3.2 of the
  paper), :math:`L_G = -g_f(V(G(z)))`, which has stronger gradients early on;
  for ``gan`` these are the saturating and the non-saturating GAN losses.

  Args:
    divergence: an ``FDivergence`` or a registry name.
    fake_outputs: raw critic outputs on generated samples.
    trick: use the paper's alternative generator objective.

  Returns:
    Per-example losses with the shape of ``fake_outputs``.

  References:
    Nowozin, Cseke & Tomioka, f-GAN, 2016 (arXiv 1606.00709), Section 3.2.
  """
  divergence = _resolve(divergence)
  if trick:
    return -divergence.activation(fake_outputs)
  return -divergence.conjugate_of_activation(fake_outputs)
