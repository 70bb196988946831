"""Gumbel-softmax, REINFORCE, SeqGAN's rollout rewards and the gradient
penalty on one-hot sequences, against hand computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from gans_jax import losses, penalties, sequence
from gans_jax.nn import LSTMGenerator, ResNetTextCritic

# --------------------------------------------------------- Gumbel-softmax --


def test_gumbel_softmax_draws_its_own_noise_for_every_row_and_position():
  logits = jnp.zeros((64, 3, 10))
  y = losses.gumbel_softmax(jax.random.key(0), logits, temperature=0.5)
  np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)
  winners = np.asarray(jnp.argmax(y, -1))
  # Shared noise across the batch (or positions) would make every row (or
  # position) pick the same class.
  assert len({tuple(w) for w in winners}) > 50
  assert len(np.unique(winners[:, 0])) == 10
  assert (winners[:, 0] != winners[:, 1]).any()


def test_gumbel_softmax_is_the_softmax_of_logits_plus_gumbel_noise():
  key = jax.random.key(3)
  logits = jnp.array([[1.0, -0.5, 2.0, 0.0]])
  g = jax.random.gumbel(key, logits.shape)
  expected = jax.nn.softmax((logits + g) / 0.7, axis=-1)
  np.testing.assert_allclose(
      losses.gumbel_softmax(key, logits, temperature=0.7), expected, rtol=1e-5)


def test_gumbel_argmax_samples_follow_the_softmax_probabilities():
  logits = jnp.log(jnp.array([0.6, 0.3, 0.1]))
  y = losses.gumbel_softmax(jax.random.key(1), jnp.tile(logits, (20000, 1)),
                            temperature=1.0, hard=True)
  np.testing.assert_allclose(np.asarray(y).mean(0), [0.6, 0.3, 0.1], atol=0.015)


def test_straight_through_is_one_hot_forward_and_soft_gradient_backward():
  key = jax.random.key(2)
  logits = jnp.array([[0.3, -1.0, 0.8, 0.1], [2.0, 0.0, -0.5, 0.4]])
  weights = jnp.array([[1.0, -2.0, 0.5, 3.0], [0.2, 1.0, -1.0, 0.0]])
  hard = losses.gumbel_softmax(key, logits, temperature=0.5, hard=True)
  soft = losses.gumbel_softmax(key, logits, temperature=0.5)
  np.testing.assert_array_equal(hard, jax.nn.one_hot(jnp.argmax(soft, -1), 4))

  def objective(l, is_hard):
    return jnp.sum(weights * losses.gumbel_softmax(key, l, temperature=0.5,
                                                   hard=is_hard))

  grad_hard = jax.grad(objective)(logits, True)
  grad_soft = jax.grad(objective)(logits, False)
  np.testing.assert_allclose(grad_hard, grad_soft, rtol=1e-5, atol=1e-7)
  assert np.abs(np.asarray(grad_hard)).min() > 1e-4


def test_gumbel_softmax_refuses_a_nonpositive_temperature():
  with pytest.raises(ValueError, match="temperature"):
    losses.gumbel_softmax(jax.random.key(0), jnp.zeros((2, 3)), temperature=0.0)


def test_annealed_temperature_decays_exponentially_to_its_floor():
  np.testing.assert_allclose(
      sequence.annealed_temperature(0, initial=1.0, minimum=0.5, rate=1e-3), 1.0)
  np.testing.assert_allclose(
      sequence.annealed_temperature(100, initial=1.0, minimum=0.5, rate=1e-3),
      np.exp(-0.1), rtol=1e-6)
  np.testing.assert_allclose(
      sequence.annealed_temperature(10_000, initial=1.0, minimum=0.5,
                                    rate=1e-3), 0.5)


# --------------------------------------------------------------- REINFORCE --


def test_reinforce_loss_is_minus_reward_times_log_prob():
  log_p = jnp.array([[-0.5, -2.0], [-1.0, -0.1]])
  rewards = jnp.array([[1.0, 0.25], [-1.0, 2.0]])
  np.testing.assert_allclose(losses.reinforce_loss(log_p, rewards),
                             -rewards * log_p)
  with pytest.raises(ValueError, match="same shape"):
    losses.reinforce_loss(log_p, rewards[:, :1])


@pytest.mark.parametrize("reward, direction", [(1.0, 1), (-1.0, -1)])
def test_a_descent_step_on_reinforce_raises_the_log_prob_of_rewarded_tokens(
    reward, direction):
  logits = jnp.array([0.2, -0.3, 0.1, 0.0])
  action = 2

  def loss(l):
    log_p = jax.nn.log_softmax(l)[action][None]
    return jnp.sum(losses.reinforce_loss(log_p, jnp.array([reward])))

  after = logits - 0.1 * jax.grad(loss)(logits)
  change = jax.nn.log_softmax(after)[action] - jax.nn.log_softmax(logits)[action]
  assert direction * float(change) > 1e-3


def test_no_gradient_flows_into_the_rewards():
  grad = jax.grad(lambda r: jnp.sum(losses.reinforce_loss(
      jnp.array([-1.0, -2.0]), r)))(jnp.array([0.5, 1.0]))
  np.testing.assert_array_equal(grad, 0.0)


# -------------------------------------------------------- rollout rewards --

VOCAB, LENGTH, BATCH = 2000, 6, 4


@pytest.fixture(scope="module")
def rollout_net():
  # A wide uniform-ish policy: a re-sampled token matches the original one
  # with probability about 1/2000; one chance match moves a reward by 1/18.
  return LSTMGenerator(VOCAB, embedding_dim=4, hidden_dim=4, init_stddev=0.01,
                       rngs=nnx.Rngs(0))


def _sample_fn(net):
  return lambda key, prefix, t: net.sample(key, prefix.shape[0], LENGTH,
                                           prefix=prefix, prefix_length=t)


@pytest.mark.slow
def test_rollouts_keep_the_prefix_and_resample_the_suffix(rollout_net):
  tokens = rollout_net.sample(jax.random.key(5), BATCH, LENGTH)

  def matching_fraction(completed):
    # The fraction of positions equal to the sequence being rewarded: t / T
    # for a kept prefix of t and a fresh suffix; 1 if the suffix were
    # reused, about 0 if the prefix were not kept.
    reference = jnp.tile(tokens, (completed.shape[0] // BATCH, 1))
    return jnp.mean(completed == reference, axis=1)

  rewards = jax.jit(lambda k: sequence.rollout_rewards(
      _sample_fn(rollout_net), matching_fraction, tokens, k,
      num_rollouts=3))(jax.random.key(6))
  assert rewards.shape == (BATCH, LENGTH)
  expected = np.broadcast_to(np.arange(1, LENGTH + 1) / LENGTH, (BATCH, LENGTH))
  np.testing.assert_allclose(rewards[:, :-1], expected[:, :-1], atol=0.06)
  np.testing.assert_allclose(rewards[:, -1], 1.0)


def test_rollout_rewards_average_independent_completions_and_end_with_d_of_the_sequence(
    rollout_net):
  tokens = rollout_net.sample(jax.random.key(7), BATCH, LENGTH)
  tiled_batch = 64 * BATCH

  def last_token_is_even(completed):
    return (completed[:, -1] % 2 == 0).astype(jnp.float32)

  def sample_fn(key, prefix, t):
    assert prefix.shape == (tiled_batch, LENGTH)
    return _sample_fn(rollout_net)(key, prefix, t)

  rewards = sequence.rollout_rewards(sample_fn, last_token_is_even, tokens,
                                     jax.random.key(8), num_rollouts=64)
  # Shared randomness across rollouts would give 0 or 1, not about 1/2.
  assert 0.3 < float(rewards[:, :-1].mean()) < 0.7
  assert np.unique(np.asarray(rewards[:, :-1])).size > 2
  np.testing.assert_array_equal(rewards[:, -1], tokens[:, -1] % 2 == 0)


def test_delayed_update_weights_the_old_rollout_parameters_by_the_rate():
  rollout = {"w": jnp.array([1.0, 2.0]), "b": jnp.array(0.0)}
  current = {"w": jnp.array([3.0, -2.0]), "b": jnp.array(10.0)}
  new = sequence.delayed_update(rollout, current, update_rate=0.8)
  np.testing.assert_allclose(new["w"], [1.4, 1.2], rtol=1e-6)
  np.testing.assert_allclose(new["b"], 2.0, rtol=1e-6)
  same = sequence.delayed_update(rollout, current, update_rate=0.0)
  np.testing.assert_array_equal(same["w"], current["w"])


# ------------------------------------- gradient penalty on one-hot inputs --


def test_gradient_penalty_interpolates_one_hot_reals_and_softmax_fakes_on_the_simplex():
  b, l, v = 3, 4, 5
  real = jax.nn.one_hot(jnp.array([[0, 1, 2, 3]] * b), v)
  fake = jax.nn.softmax(jax.random.normal(jax.random.key(0), (b, l, v)), -1)
  w = jax.random.normal(jax.random.key(1), (l, v))

  def critic(x):
    # Linear plus a term whose gradient vanishes only where every position
    # sums to one: the penalty is (|W| - 1)^2 exactly on the simplex.
    off_simplex = jnp.sum(jnp.square(x.sum(-1) - 1.0), axis=-1)
    return jnp.einsum("blv,lv->b", x, w) + 5.0 * off_simplex

  penalty = penalties.gradient_penalty(critic, real, fake, jax.random.key(2),
                                       mode="per_example")
  np.testing.assert_allclose(penalty, (np.linalg.norm(w) - 1.0) ** 2,
                             rtol=1e-5)


@pytest.mark.slow
def test_wgan_gp_text_critic_takes_the_penalty_on_b_l_v_inputs():
  b, l, v = 2, 8, 6
  critic = ResNetTextCritic(v, length=l, features=8, num_blocks=1,
                            rngs=nnx.Rngs(0))
  real = jax.nn.one_hot(jax.random.randint(jax.random.key(0), (b, l), 0, v), v)
  fake = jax.nn.softmax(jax.random.normal(jax.random.key(1), (b, l, v)), -1)
  penalty = penalties.gradient_penalty(critic, real, fake, jax.random.key(2),
                                       mode="per_example")
  assert penalty.shape == (b,) and np.isfinite(penalty).all()
  tokens = jnp.argmax(real, -1)
  np.testing.assert_allclose(critic(tokens), critic(real), rtol=1e-6)


@pytest.mark.slow
def test_seqgan_generator_steps_raise_the_reward_of_the_samples():
  # A fixed reward (the fraction of zeros) in place of D: REINFORCE with
  # rollouts and a delayed rollout copy must learn to emit zeros.
  v, length, b = 4, 3, 32
  graphdef, params = nnx.split(LSTMGenerator(v, embedding_dim=4, hidden_dim=8,
                                             rngs=nnx.Rngs(0)))

  def reward_fn(tokens):
    return jnp.mean(tokens == 0, axis=1).astype(jnp.float32)

  @jax.jit
  def step(params, rollout_params, key):
    rollout = nnx.merge(graphdef, rollout_params)
    tokens = nnx.merge(graphdef, params).sample(key, b, length)
    rewards = sequence.rollout_rewards(
        lambda k, p, t: rollout.sample(k, p.shape[0], length, prefix=p,
                                       prefix_length=t),
        reward_fn, tokens, jax.random.fold_in(key, 1), num_rollouts=4)

    def loss(params):
      log_p = nnx.merge(graphdef, params).token_log_probs(tokens)
      return jnp.sum(losses.reinforce_loss(log_p, rewards)) / b

    grads = jax.grad(loss)(params)
    params = jax.tree.map(lambda p, g: p - 1.0 * g, params, grads)
    return (params, sequence.delayed_update(rollout_params, params),
            reward_fn(tokens).mean())

  rollout_params, history = params, []
  for i in range(40):
    params, rollout_params, reward = step(params, rollout_params,
                                          jax.random.key(i))
    history.append(float(reward))
  assert np.mean(history[:5]) < 0.4 and np.mean(history[-5:]) > 0.7, history
