"""What pix2pix and CycleGAN share (experiments/translation.py): the learning
rate, the data of each task and direction, test-time translation, grids."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gans_jax as gj
from experiments import pix2pix
from experiments import translation
from experiments.configs import cyclegan as cyclegan_config
from experiments.configs import pix2pix as pix2pix_config


def test_learning_rate_is_constant_then_linear_to_zero_at_the_last_step():
  config = pix2pix_config.get_config("smoke")
  config.train.num_steps = 10
  config.optim.update(learning_rate=2e-4, decay_fraction=0.4)
  rate = translation.learning_rate(config)
  # Constant for updates 0..6, then 2e-4 * (10 - n) / 4.
  expected = [2e-4] * 7 + [1.5e-4, 1e-4, 0.5e-4, 0.0]
  np.testing.assert_allclose([float(rate(n)) for n in range(11)], expected,
                             rtol=1e-6, atol=1e-12)
  config.optim.decay_fraction = 0.0
  rate = translation.learning_rate(config)
  assert float(rate(0)) == float(rate(10)) == 2e-4


def test_synthetic_facades_pairs_follow_the_direction():
  config = pix2pix_config.get_config("smoke")
  facades = gj.data.load_facades("test", image_size=32)
  pairs = translation.eval_pairs(config)
  n = config.eval.num_test
  np.testing.assert_array_equal(pairs["a"], facades["a"][:n])  # labels
  np.testing.assert_array_equal(pairs["b"], facades["b"][:n])  # photos
  np.testing.assert_array_equal(pairs["label_map"], facades["label_map"][:n])
  config.data.direction = "BtoA"
  swapped = translation.eval_pairs(config)
  np.testing.assert_array_equal(swapped["a"], facades["b"][:n])
  np.testing.assert_array_equal(swapped["b"], facades["a"][:n])
  # Training pairs (unjittered here) are a labels image and its own photo.
  config.data.update(direction="AtoB", jitter=False)
  train = gj.data.load_facades("train", image_size=32)
  batch = translation.training_batches(config, paired=True).get_batch(0)
  index = np.argmin(np.abs(train["a"] - batch["a"][0]).sum(axis=(1, 2, 3)))
  np.testing.assert_allclose(batch["a"][0], train["a"][index], atol=1e-6)
  np.testing.assert_allclose(batch["b"][0], train["b"][index], atol=1e-6)


def test_unpaired_digits_keep_their_labels_and_swap_with_the_direction():
  config = cyclegan_config.get_config("smoke")
  domains = translation.eval_domains(config)
  hand, hand_labels = gj.data.load_digits_split("test", image_size=16)
  font, font_labels = gj.data.load_font_digits("test", image_size=16)
  n = config.eval.num_test
  np.testing.assert_allclose(domains["a"], hand[:n], atol=1e-6)
  np.testing.assert_array_equal(domains["a_labels"], hand_labels[:n])
  np.testing.assert_allclose(domains["b"], font[:n], atol=1e-6)
  np.testing.assert_array_equal(domains["b_labels"], font_labels[:n])
  config.data.direction = "BtoA"
  swapped = translation.eval_domains(config)
  np.testing.assert_allclose(swapped["a"], font[:n], atol=1e-6)
  np.testing.assert_array_equal(swapped["b_labels"], hand_labels[:n])


@pytest.fixture(scope="module")
def unet_state():
  config = pix2pix_config.get_config("smoke")
  return config, pix2pix.create_state(config)


@pytest.mark.slow
def test_each_image_is_translated_on_its_own_in_train_mode(unet_state):
  # Train mode: BatchNorm on the image's own statistics, dropout on. An
  # output must not depend on which images share the call.
  config, state = unet_state
  translate = translation.make_translate("generator", "train")
  images = jax.random.uniform(jax.random.key(0), (3, 32, 32, 3), minval=-1,
                              maxval=1)
  key = jax.random.key(1)
  together = np.asarray(translate(state, images, key))
  other = np.asarray(translate(state, images.at[1:].set(-images[1:]), key))
  np.testing.assert_allclose(together[0], other[0], atol=1e-6)
  assert not np.allclose(together[1], other[1], atol=1e-3)
  # Image i alone, as a batch of one, with key split(key, 3)[i].
  keys = jax.random.split(key, 3)
  generator = lambda x, k: state.sampling_module("generator", mode="train")(
      x, rngs=k)
  alone = np.asarray(jax.jit(generator)(images[2:3], keys[2]))[0]
  np.testing.assert_allclose(together[2], alone, atol=1e-5)
  # Dropout is on: another key, another output; eval mode ignores the key.
  assert not np.allclose(together, translate(state, images, jax.random.key(2)),
                         atol=1e-4)
  evaluate = translation.make_translate("generator", "eval")
  np.testing.assert_array_equal(evaluate(state, images, key),
                                evaluate(state, images, jax.random.key(2)))


def test_translate_all_covers_every_image_with_one_call_shape(unet_state):
  config, state = unet_state
  evaluate = translation.make_translate("generator", "eval")
  images = np.asarray(jax.random.uniform(jax.random.key(3), (5, 32, 32, 3),
                                         minval=-1, maxval=1))
  out = translation.translate_all(evaluate, state, images, jax.random.key(0),
                                  batch_size=2)
  assert out.shape == images.shape
  np.testing.assert_allclose(out, evaluate(state, jnp.asarray(images),
                                           jax.random.key(0)), atol=1e-5)


def test_test_sampler_translates_test_inputs_drawn_with_the_key(unet_state):
  config, state = unet_state
  evaluate = translation.make_translate("generator", "eval")
  inputs = translation.eval_pairs(config)["a"]
  sample = translation.make_test_sampler(evaluate, inputs, 6)
  out = np.asarray(sample(state, jax.random.key(0)))
  assert out.shape == (6, 32, 32, 3)
  np.testing.assert_array_equal(out, sample(state, jax.random.key(0)))
  assert not np.array_equal(out, sample(state, jax.random.key(1)))
  # Every output is the translation of one of the test inputs.
  every = np.asarray(evaluate(state, jnp.asarray(inputs), jax.random.key(0)))
  distance = np.abs(out[:, None] - every[None]).max(axis=(2, 3, 4))
  assert np.all(distance.min(axis=1) < 1e-5)


def test_interleave_puts_each_examples_columns_side_by_side():
  grey = np.full((2, 4, 4, 1), -1.0, np.float32)
  colour = np.stack([np.full((4, 4, 3), v, np.float32) for v in (0.25, 0.5)])
  out = translation.interleave([grey, colour])
  assert out.shape == (4, 4, 4, 3)
  np.testing.assert_array_equal(out[0], -1.0)  # example 0: grey as RGB
  np.testing.assert_array_equal(out[1], 0.25)  # example 0: colour
  np.testing.assert_array_equal(out[3], 0.5)   # example 1: colour


def test_the_test_report_holds_every_number_and_every_test_image(tmp_path):
  from PIL import Image
  rng = np.random.default_rng(0)
  columns = {"real_A": rng.uniform(-1, 1, (3, 4, 5, 3)),
             "fake_B": rng.uniform(-1, 1, (3, 4, 5, 1)),
             "real_B": rng.uniform(-1, 1, (3, 4, 5, 3))}
  results = {"eval/l1": 0.25, "eval/fcn_iou": 0.5, "eval/fcn_iou_real": 0.75,
             "eval/classes": 7}
  translation.write_test_report(str(tmp_path), 12, results, columns)
  table = (tmp_path / "results.md").read_text().splitlines()
  assert table[0] == "Results at step 12"
  assert table[4:] == ["| l1 | 0.2500 |  |", "| fcn_iou | 0.5000 | 0.7500 |",
                       "| classes | 7 |  |"]
  page = (tmp_path / "test_results" / "index.html").read_text()
  assert page.count("<tr>") == 1 + 3
  for i in range(3):
    for name, images in columns.items():
      file = f"images/{i:04d}_{name}.png"
      assert f'src="{file}"' in page
      saved = np.asarray(Image.open(tmp_path / "test_results" / file))
      expected = np.round((images[i] + 1) * 127.5).astype(np.uint8)
      np.testing.assert_array_equal(saved.reshape(expected.shape), expected)
  with pytest.raises(ValueError, match="as many images"):
    translation.write_test_report(str(tmp_path), 12, results,
                                  {"a": columns["real_A"], "b": columns["real_B"][:2]})


def test_a_split_the_synthetic_facades_lack_is_refused_by_validation():
  config = pix2pix_config.get_config("smoke")
  config.eval.split = "AtoB"
  with pytest.raises(ValueError, match="eval.split"):
    pix2pix.validate(config)
  config.eval.split = "validation"
  pix2pix.validate(config)
