"""Gradient reversal and its schedule (DANN), ADDA's adaptation step, and the
domain-adaptation networks."""

import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from gans_jax import adaptation, losses
from gans_jax.nn import domain


# ---------------------------------------------------- gradient reversal --

def test_gradient_reversal_is_the_identity_forward():
  x = {"a": jnp.arange(3.0), "b": jnp.ones((2, 2))}
  out = adaptation.gradient_reversal(x, 0.7)
  jax.tree.map(np.testing.assert_array_equal, out, x)


def test_gradient_reversal_multiplies_the_gradient_by_minus_scale():
  x = jnp.array([0.5, -1.0, 2.0])
  weights = jnp.array([1.0, 2.0, -3.0])
  f = lambda x: jnp.sum(weights * jnp.tanh(x))
  plain = jax.grad(f)(x)

  @jax.jit
  def reversed_grad(x, scale):
    return jax.grad(lambda x: f(adaptation.gradient_reversal(x, scale)))(x)

  # Checked against the un-reversed gradient: a flipped sign or a scale of
  # lambda^2, 1 or 1/lambda would all fail.
  for scale in (0.3, 1.0, 2.5):
    np.testing.assert_allclose(reversed_grad(x, scale), -scale * plain, rtol=1e-6)
  np.testing.assert_array_equal(reversed_grad(x, 0.0), jnp.zeros(3))


def test_gradient_reversal_reverses_only_what_lies_below_it():
  # Domain loss d(h), features h = f(x, theta): the classifier's gradient is
  # untouched, the extractor's is reversed.
  def domain_loss(theta, phi, scale):
    h = jnp.tanh(theta * jnp.array([1.0, -2.0]))
    return jnp.sum((phi * adaptation.gradient_reversal(h, scale)) ** 2)

  g_theta, g_phi = jax.grad(domain_loss, argnums=(0, 1))(0.4, 1.3, 0.5)
  p_theta, p_phi = jax.grad(domain_loss, argnums=(0, 1))(0.4, 1.3, 0.0)
  plain_theta = jax.grad(lambda t: jnp.sum(
      (1.3 * jnp.tanh(t * jnp.array([1.0, -2.0]))) ** 2))(0.4)
  np.testing.assert_allclose(g_phi, p_phi, rtol=1e-6)
  np.testing.assert_allclose(g_theta, -0.5 * plain_theta, rtol=1e-6)
  np.testing.assert_allclose(
      jax.grad(lambda s: jnp.sum(adaptation.gradient_reversal(
          jnp.ones(2), s)))(0.5), 0.0)


def test_dann_lambda_rises_from_zero_to_one_as_in_the_paper():
  p = jnp.linspace(0.0, 1.0, 11)
  lam = adaptation.dann_lambda(p)
  assert lam[0] == 0.0
  assert np.all(np.diff(np.asarray(lam)) > 0)
  np.testing.assert_allclose(lam[5], 2 / (1 + math.exp(-5.0)) - 1, rtol=1e-6)
  np.testing.assert_allclose(lam[-1], 2 / (1 + math.exp(-10.0)) - 1, rtol=1e-6)
  assert lam[-1] > 0.9999
  np.testing.assert_allclose(adaptation.dann_lambda(0.5, gamma=1.0),
                             2 / (1 + math.exp(-0.5)) - 1, rtol=1e-6)


def test_dann_learning_rate_anneals_from_the_initial_rate():
  np.testing.assert_allclose(adaptation.dann_learning_rate(0.0), 0.01)
  np.testing.assert_allclose(adaptation.dann_learning_rate(1.0),
                             0.01 / 11 ** 0.75, rtol=1e-6)


# ------------------------------------------------------------ networks --

def test_lenet_encoder_has_the_papers_layers():
  encoder = domain.LeNetEncoder(image_size=32, rngs=nnx.Rngs(0))
  assert encoder.conv1.kernel.shape == (5, 5, 1, 20)
  assert encoder.conv2.kernel.shape == (5, 5, 20, 50)
  assert encoder.fc.kernel.shape == (5 * 5 * 50, 500)
  assert domain.lenet_feature_size(28) == 4
  small = domain.LeNetEncoder(image_size=16, channels=3, features=8,
                              rngs=nnx.Rngs(0))
  features = small(jax.random.normal(jax.random.key(0), (2, 16, 16, 3)))
  assert features.shape == (2, 8) and bool(jnp.all(features >= 0))
  with pytest.raises(ValueError, match="expects images"):
    small(jnp.zeros((2, 32, 32, 3)))
  head = domain.LeNetClassifier(in_features=8, rngs=nnx.Rngs(0))
  assert head(features).shape == (2, 10)


@pytest.mark.slow
def test_two_unit_adversary_logit_gives_the_softmax_cross_entropy():
  adversary = domain.DomainAdversary(in_features=6, hidden=(5, 5),
                                     rngs=nnx.Rngs(0))
  assert adversary.output.kernel.shape == (5, 2)
  features = jax.random.normal(jax.random.key(0), (4, 6))
  logit = adversary(features)
  assert logit.shape == (4,)
  h = features
  for layer in adversary.hidden:
    h = jax.nn.leaky_relu(layer(h), 0.1)
  two = adversary.output(h)   # unit 0: source, unit 1: target
  np.testing.assert_allclose(
      losses.generator_nonsaturating_loss(logit),
      optax.softmax_cross_entropy_with_integer_labels(two, jnp.zeros(4, jnp.int32)),
      rtol=1e-5)
  single = domain.DomainAdversary(in_features=6, num_logits=1, rngs=nnx.Rngs(0))
  assert single(features).shape == (4,)


# ----------------------------------------------------------------- ADDA --

def _encode(p, images):
  return jnp.tanh(images.reshape(images.shape[0], -1) @ p["w"] + p["b"])


def _discriminate(p, features):
  return jnp.tanh(features @ p["v"]) @ p["u"] + p["c"]


def _adda_problem():
  keys = jax.random.split(jax.random.key(0), 6)
  source = {"w": jax.random.normal(keys[0], (12, 4)), "b": jnp.zeros(4)}
  params = adaptation.ADDAParams(
      source_encoder=source,
      target_encoder=jax.tree.map(jnp.copy, source),
      adversary={"v": jax.random.normal(keys[1], (4, 5)),
                 "u": jax.random.normal(keys[2], (5,)), "c": jnp.zeros(())})
  source_images = jax.random.normal(keys[3], (8, 3, 4))
  target_images = 0.5 + jax.random.normal(keys[4], (8, 3, 4))
  return params, source_images, target_images


def _step(params, source_images, target_images, learning_rate=0.1):
  tx = optax.sgd(learning_rate)
  opt_states = adaptation.ADDAOptimizerStates(
      tx.init(params.target_encoder), tx.init(params.adversary))
  return adaptation.adda_adaptation_step(
      params, opt_states, source_images, target_images, encode=_encode,
      discriminate=_discriminate, target_optimizer=tx, adversary_optimizer=tx)


@pytest.mark.slow
def test_adda_step_follows_equations_8_and_9():
  params, xs, xt = _adda_problem()
  new, _, metrics = jax.jit(_step)(params, xs, xt)

  def adversary_loss(phi):
    return jnp.mean(jax.nn.softplus(-_discriminate(phi, _encode(params.source_encoder, xs)))
                    + jax.nn.softplus(_discriminate(phi, _encode(params.target_encoder, xt))))

  def mapping_loss(theta):   # target features labelled as source
    return jnp.mean(jax.nn.softplus(-_discriminate(params.adversary, _encode(theta, xt))))

  expected_adversary = jax.tree.map(lambda p, g: p - 0.1 * g, params.adversary,
                                    jax.grad(adversary_loss)(params.adversary))
  expected_target = jax.tree.map(lambda p, g: p - 0.1 * g, params.target_encoder,
                                 jax.grad(mapping_loss)(params.target_encoder))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               (new.adversary, new.target_encoder),
               (expected_adversary, expected_target))
  np.testing.assert_allclose(metrics["adversary_loss"],
                             adversary_loss(params.adversary), rtol=1e-6)
  np.testing.assert_allclose(metrics["mapping_loss"],
                             mapping_loss(params.target_encoder), rtol=1e-6)


def test_adda_step_leaves_the_source_encoder_alone():
  params, xs, xt = _adda_problem()
  new, _, _ = jax.jit(lambda p: _step(p, xs, xt, learning_rate=10.0))(params)
  jax.tree.map(np.testing.assert_array_equal, new.source_encoder,
               params.source_encoder)
  assert not np.allclose(new.target_encoder["w"], params.target_encoder["w"])
  # Not even a gradient reaches it: the source features are constants.
  grads = jax.grad(lambda source: sum(
      jnp.sum(leaf) for leaf in jax.tree.leaves(
          _step(params._replace(source_encoder=source), xs, xt)[0][1:])))(
              params.source_encoder)
  jax.tree.map(lambda g: np.testing.assert_array_equal(g, 0.0), grads)


def test_adda_step_takes_no_target_labels():
  parameters = inspect.signature(adaptation.adda_adaptation_step).parameters
  assert not [name for name in parameters if "label" in name]
  assert {"source_images", "target_images"} <= set(parameters)


@pytest.mark.slow
def test_adda_step_runs_on_the_lenet_networks():
  encoder = domain.LeNetEncoder(image_size=16, features=8, rngs=nnx.Rngs(0))
  adversary = domain.DomainAdversary(in_features=8, hidden=(6,), rngs=nnx.Rngs(1))
  encoder_def, source = nnx.split(encoder)
  adversary_def, adversary_params = nnx.split(adversary)
  params = adaptation.ADDAParams(source, jax.tree.map(jnp.copy, source),
                                 adversary_params)
  tx = optax.adam(2e-4, b1=0.5)
  opt_states = adaptation.ADDAOptimizerStates(tx.init(source), tx.init(adversary_params))
  step = jax.jit(lambda params, opt_states, xs, xt: adaptation.adda_adaptation_step(
      params, opt_states, xs, xt,
      encode=lambda p, x: nnx.merge(encoder_def, p)(x),
      discriminate=lambda p, f: nnx.merge(adversary_def, p)(f),
      target_optimizer=tx, adversary_optimizer=tx))
  xs, xt = jax.random.normal(jax.random.key(2), (2, 4, 16, 16, 1))
  new, _, metrics = step(params, opt_states, xs, xt)
  jax.tree.map(np.testing.assert_array_equal, new.source_encoder, source)
  assert 0.0 <= float(metrics["adversary_accuracy"]) <= 1.0
  assert np.isfinite(float(metrics["mapping_loss"]))
