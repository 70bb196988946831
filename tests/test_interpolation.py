"""``--interpolate`` for any generator with a latent
(gans_jax.eval.report.interpolate_generator): the end frames are the two
endpoints' own samples, slerp keeps to the sphere, a class-conditional
generator keeps one class along a path, and the files it writes."""

import jax
import numpy as np
import pytest
from flax import nnx
from PIL import Image

import gans_jax as gj
from gans_jax.eval import interpolation
from gans_jax.eval import report


def _generator(num_classes=None, noise="normal"):
  spec = dict(module="gans_jax.nn.MLPGenerator", mode="eval",
              kwargs=dict(latent_dim=4, output_shape=[8, 8, 1], hidden=[8],
                          output_activation="tanh", num_classes=num_classes),
              inputs=dict(latent_dim=4, noise=noise, num_classes=num_classes))
  return gj.nn.Generator(gj.nn.build_module(spec, rngs=nnx.Rngs(0)), spec)


@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_the_end_frames_are_the_endpoints_own_samples(method):
  generator = _generator()
  key = jax.random.key(5)
  codes, labels, frames = report.interpolate_generator(generator, key, pairs=3, steps=6,
                                                       method=method)
  assert labels is None and codes.shape == (6, 3, 4) and frames.shape == (6, 3, 8, 8, 1)
  # The endpoints are the generator's own latent draws, reproduced here.
  ends = generator.latent(jax.random.split(key, 3)[0], 6)
  np.testing.assert_array_equal(codes[0], ends[:3])
  np.testing.assert_array_equal(codes[-1], ends[3:])
  np.testing.assert_allclose(frames[0], generator(ends[:3]), atol=1e-6)
  np.testing.assert_allclose(frames[-1], generator(ends[3:]), atol=1e-6)
  path = {"lerp": interpolation.lerp, "slerp": interpolation.slerp}[method]
  np.testing.assert_allclose(codes, path(ends[:3], ends[3:], 6), atol=1e-6)
  # The middle frames are the generator's outputs along the path.
  np.testing.assert_allclose(frames[2], generator(codes[2]), atol=1e-6)


def test_slerp_keeps_equal_norm_endpoints_on_their_sphere():
  a, b = jax.random.normal(jax.random.key(0), (2, 5, 16))
  b = b / np.linalg.norm(b, axis=-1, keepdims=True) * np.linalg.norm(a, axis=-1,
                                                                       keepdims=True)
  frames = interpolation.slerp(a, b, 9)
  norms = np.linalg.norm(frames, axis=-1)
  np.testing.assert_allclose(norms, np.broadcast_to(norms[0], norms.shape), rtol=1e-5)
  # ... while the straight line cuts inside it.
  assert np.all(np.linalg.norm(interpolation.lerp(a, b, 9)[4], axis=-1) < norms[4])
  # Equal angular steps: the angle between consecutive frames is constant.
  unit = frames / norms[..., None]
  cosines = np.sum(unit[1:] * unit[:-1], -1)
  np.testing.assert_allclose(cosines, np.broadcast_to(cosines[0], cosines.shape),
                             atol=1e-5)


def test_a_conditional_generator_keeps_one_class_along_each_path():
  generator = _generator(num_classes=10)
  codes, labels, frames = report.interpolate_generator(
      generator, jax.random.key(1), pairs=4, steps=5)
  assert labels.shape == (4,)
  for k in range(5):
    np.testing.assert_allclose(frames[k], generator(codes[k], labels), atol=1e-6)


def test_write_interpolation_writes_a_grid_a_gif_and_the_codes(tmp_path):
  frames = np.linspace(-1, 1, 3 * 2 * 8 * 8).reshape(3, 2, 8, 8, 1)
  paths = report.write_interpolation(frames, str(tmp_path), "walk",
                                     codes=np.zeros((3, 2, 4)))
  assert [p.rsplit(".", 1)[1] for p in paths] == ["npz", "png", "gif"]
  gif = Image.open(tmp_path / "walk.gif")
  assert gif.n_frames == 3
  grid = np.asarray(Image.open(tmp_path / "walk.png"))
  assert grid.shape == (2 + 2 * 10, 2 + 3 * 10)  # a row per pair, a column per frame
  saved = np.load(tmp_path / "walk.npz")
  np.testing.assert_array_equal(saved["frames"], frames)
  # Points (a 2-D toy's generator): a plot of the paths.
  report.write_interpolation(np.zeros((4, 3, 2)), str(tmp_path), "points")
  assert (tmp_path / "points.png").stat().st_size > 0


def test_interpolate_from_the_command_line_for_a_latent_generator(tmp_path, capsys):
  from experiment_runs import run_experiment
  workdir = tmp_path / "run"
  assert run_experiment("template", "--config=experiments/configs/template.py:smoke",
                        f"--workdir={workdir}") == 0
  assert run_experiment("template", f"--workdir={workdir}", "--interpolate=2",
                        "--interpolation=slerp") == 0
  saved = np.load(workdir / "step_2" / "interpolation_2_slerp.npz")
  assert saved["codes"].shape == (10, 2, 2) and saved["frames"].shape == (10, 2, 2)
  np.testing.assert_allclose(saved["codes"], interpolation.slerp(
      saved["codes"][0], saved["codes"][-1], 10), atol=1e-5)
  assert (workdir / "step_2" / "interpolation_2_slerp.png").stat().st_size > 0
  capsys.readouterr()
  assert run_experiment("template", f"--workdir={workdir}", "--interpolation=slerp") == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "--interpolation" in err[0]
