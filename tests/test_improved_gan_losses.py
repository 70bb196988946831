"""Feature matching and the K+1 semi-supervised losses (arXiv 1606.03498),
against hand-computed values and finite differences."""

import functools

import jax
import jax.numpy as jnp
from jax.test_util import check_grads
import numpy as np
import pytest

from gans_jax import losses

REAL_FEATURES = np.array([[1.0, 2.0], [3.0, -2.0], [2.0, 3.0]], np.float32)
FAKE_FEATURES = np.array([[0.0, 1.0], [1.0, -1.0]], np.float32)
# Batch means: real (2, 1), fake (0.5, 0); differences (1.5, 1).

CLASS_LOGITS = np.array([[0.5, -1.0, 2.0], [-3.0, 0.0, 1.0]], np.float32)
FAKE_LOGITS = np.array([[1.0, 1.0, -2.0], [0.0, -0.5, 0.25]], np.float32)
LABELS = np.array([2, 0], np.int32)


def _z(logits):
  return np.sum(np.exp(np.asarray(logits, np.float64)), axis=-1)


# ---------------------------------------------------------------------------
# Feature matching.
# ---------------------------------------------------------------------------


def test_feature_matching_is_the_squared_difference_of_batch_means():
  got = jax.jit(losses.feature_matching_loss)(REAL_FEATURES, FAKE_FEATURES)
  np.testing.assert_allclose(got, [2.25, 1.0], rtol=1e-6)
  # The paper's squared norm is the sum over features.
  assert float(jnp.sum(got)) == pytest.approx(3.25)
  absolute = losses.feature_matching_loss(REAL_FEATURES, FAKE_FEATURES,
                                          distance="absolute")
  np.testing.assert_allclose(absolute, [1.5, 1.0], rtol=1e-6)


def test_feature_matching_compares_means_not_examples():
  # The same batch mean from different examples: the loss is zero.
  fake = np.array([[2.0, 0.0], [2.0, 2.0]], np.float32)
  np.testing.assert_allclose(
      losses.feature_matching_loss(REAL_FEATURES, fake), [0.0, 0.0], atol=1e-7)


def test_feature_matching_keeps_the_image_feature_shape():
  real = np.arange(2 * 3 * 3 * 4, dtype=np.float32).reshape(2, 3, 3, 4)
  got = losses.feature_matching_loss(real, np.zeros((5, 3, 3, 4), np.float32))
  np.testing.assert_allclose(got, np.square(real.mean(axis=0)), rtol=1e-6)


def test_feature_matching_sends_no_gradient_to_the_real_features():
  def total(real, fake):
    return jnp.sum(losses.feature_matching_loss(real, fake))

  grad_real, grad_fake = jax.jit(jax.grad(total, argnums=(0, 1)))(
      REAL_FEATURES, FAKE_FEATURES)
  np.testing.assert_array_equal(grad_real, np.zeros_like(REAL_FEATURES))
  # d/df_ik of sum_k (m_k - mean_i f_ik)^2 = -2 (m_k - mean f_k) / B'.
  np.testing.assert_allclose(grad_fake, np.tile([[-1.5, -1.0]], (2, 1)),
                             rtol=1e-6)
  check_grads(lambda fake: total(REAL_FEATURES, fake), (FAKE_FEATURES,),
              order=2, modes=("fwd", "rev"), eps=1e-2)


def test_feature_matching_rejects_mismatched_features_and_unknown_distance():
  with pytest.raises(ValueError, match="feature shape"):
    losses.feature_matching_loss(REAL_FEATURES, np.zeros((2, 3), np.float32))
  with pytest.raises(ValueError, match="distance"):
    losses.feature_matching_loss(REAL_FEATURES, FAKE_FEATURES, distance="l2")


# ---------------------------------------------------------------------------
# The K+1 discriminator.
# ---------------------------------------------------------------------------


def test_k_plus_one_logit_gives_d_equal_to_z_over_z_plus_one():
  for logits in (CLASS_LOGITS, FAKE_LOGITS):
    d = jax.nn.sigmoid(jax.jit(losses.k_plus_one_logit)(logits))
    z = _z(logits)
    np.testing.assert_allclose(d, z / (z + 1.0), rtol=1e-6)


def test_k_plus_one_logit_is_finite_for_large_logits():
  logit = losses.k_plus_one_logit(np.array([[100.0, 100.0], [-100.0, -100.0]],
                                           np.float32))
  np.testing.assert_allclose(logit, [100.0 + np.log(2.0), -100.0 + np.log(2.0)],
                             rtol=1e-6)


def test_k_plus_one_has_no_free_fake_logit():
  # The fake class's logit is fixed at 0, so shifting all K logits changes
  # D(x) (a softmax over K+1 free logits would not) but not the class
  # posterior, nor so the supervised loss.
  shifted = CLASS_LOGITS + 1.0
  assert not np.allclose(losses.k_plus_one_logit(shifted),
                         losses.k_plus_one_logit(CLASS_LOGITS))
  np.testing.assert_allclose(
      losses.semi_supervised_labelled_loss(shifted, LABELS),
      losses.semi_supervised_labelled_loss(CLASS_LOGITS, LABELS), rtol=1e-6)


def test_labelled_loss_is_cross_entropy_given_a_real_class():
  # -log p(y | x, y < K+1) with p the softmax over [l_1..l_K, 0].
  full = np.concatenate([CLASS_LOGITS.astype(np.float64),
                         np.zeros((2, 1))], axis=1)
  p = np.exp(full) / np.exp(full).sum(axis=1, keepdims=True)
  want = -np.log(p[np.arange(2), LABELS] / (1.0 - p[:, -1]))
  got = jax.jit(losses.semi_supervised_labelled_loss)(CLASS_LOGITS, LABELS)
  np.testing.assert_allclose(got, want, rtol=1e-6)
  # By hand for the first example: logsumexp(0.5, -1, 2) - 2.
  assert float(got[0]) == pytest.approx(
      np.log(np.exp(0.5) + np.exp(-1.0) + np.exp(2.0)) - 2.0, rel=1e-6)


def test_unlabelled_loss_is_the_gan_loss_of_z_over_z_plus_one():
  d_real = _z(CLASS_LOGITS) / (_z(CLASS_LOGITS) + 1.0)
  d_fake = _z(FAKE_LOGITS) / (_z(FAKE_LOGITS) + 1.0)
  want = -np.log(d_real) - np.log(1.0 - d_fake)
  got = jax.jit(losses.semi_supervised_unlabelled_loss)(CLASS_LOGITS,
                                                        FAKE_LOGITS)
  np.testing.assert_allclose(got, want, rtol=1e-6)


def test_discriminator_loss_matches_the_official_code_at_half_weight():
  labelled = np.array([[0.2, 0.1, -0.3], [1.0, -2.0, 0.5], [0.0, 0.0, 3.0]],
                      np.float32)
  labels = np.array([1, 0, 2], np.int32)

  def lse(x):
    x = np.asarray(x, np.float64)
    return np.log(np.exp(x).sum(axis=1))

  def softplus(x):
    return np.log1p(np.exp(x))

  # train_mnist_feature_matching.py, with three batches of different sizes.
  loss_lab = (-np.mean(labelled.astype(np.float64)[np.arange(3), labels])
              + np.mean(lse(labelled)))
  loss_unl = (-0.5 * np.mean(lse(CLASS_LOGITS))
              + 0.5 * np.mean(softplus(lse(CLASS_LOGITS)))
              + 0.5 * np.mean(softplus(lse(FAKE_LOGITS[:1]))))
  loss = jax.jit(functools.partial(losses.semi_supervised_discriminator_loss,
                                   unlabelled_weight=0.5))
  got = loss(labelled, labels, CLASS_LOGITS, FAKE_LOGITS[:1])
  assert float(got) == pytest.approx(loss_lab + loss_unl, rel=1e-6)
  # The paper's sum (w = 1) is the mean supervised loss plus the mean GAN loss.
  paper = losses.semi_supervised_discriminator_loss(
      labelled, labels, CLASS_LOGITS, FAKE_LOGITS, unlabelled_weight=1.0)
  want = (np.mean(losses.semi_supervised_labelled_loss(labelled, labels))
          + np.mean(losses.semi_supervised_unlabelled_loss(CLASS_LOGITS,
                                                           FAKE_LOGITS)))
  assert float(paper) == pytest.approx(float(want), rel=1e-6)


def test_discriminator_loss_gradients_match_finite_differences():
  def loss(labelled, unlabelled, fake):
    return losses.semi_supervised_discriminator_loss(
        labelled, LABELS, unlabelled, fake, unlabelled_weight=0.5)

  check_grads(jax.jit(loss), (CLASS_LOGITS, CLASS_LOGITS[::-1], FAKE_LOGITS),
              order=2, modes=("fwd", "rev"), eps=1e-2)


def test_semi_supervised_losses_reject_bad_arguments():
  with pytest.raises(ValueError, match="unlabelled_weight"):
    losses.semi_supervised_discriminator_loss(
        CLASS_LOGITS, LABELS, CLASS_LOGITS, FAKE_LOGITS, unlabelled_weight=-1.0)
  with pytest.raises(ValueError, match="labels"):
    losses.semi_supervised_labelled_loss(CLASS_LOGITS, LABELS[:1])
  with pytest.raises(TypeError):
    losses.semi_supervised_discriminator_loss(  # pylint: disable=missing-kwoa
        CLASS_LOGITS, LABELS, CLASS_LOGITS, FAKE_LOGITS)
