"""The README's code runs as printed."""

import os
import re

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python_blocks(path):
  text = open(path, encoding="utf-8").read()
  return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.slow
def test_readme_custom_gan_example_trains(tmp_path, monkeypatch):
  blocks = [b for b in _python_blocks(os.path.join(ROOT, "README.md"))
            if "class WGANGP" in b]
  assert len(blocks) == 1
  monkeypatch.chdir(tmp_path)
  namespace = {}
  exec(compile(blocks[0], "README.md", "exec"), namespace)  # pylint: disable=exec-used
  records = [__import__("json").loads(l)
             for l in open(tmp_path / "runs" / "my_wgan_gp" / "metrics.jsonl")]
  assert records[-1]["step"] == 2000
  state = namespace["state"]
  assert {k: int(v) for k, v in state.updates.items()} == {"generator": 2000,
                                                           "critic": 2000}
  # It learned: the EMA generator's samples sit near the 8 modes, which the
  # untrained generator's do not.
  import gans_jax as gj
  toy = gj.data.get_toy("8gaussians")
  samples = np.asarray(namespace["samples"])
  assert samples.shape == (2500, 2)
  distance = lambda x: np.min(np.linalg.norm(
      x[:, None] - toy.centers[None], axis=-1), axis=1).mean()
  untrained = namespace["WGANGP"].create(
      generator=gj.nn.MLPGenerator(2, 2, hidden=(128, 128), output_activation=None,
                                   rngs=gj.train.init_rngs(0)),
      critic=state.critic.module(), optimizers={})
  before = np.asarray(untrained.generator.module()(
      np.random.default_rng(0).normal(size=(2500, 2)).astype(np.float32)))
  assert distance(samples) < 0.3 * distance(before), (distance(samples),
                                                      distance(before))


def test_every_library_module_has_a_section_in_the_api_docs():
  import pkgutil
  import gans_jax
  documented = set(re.findall(r"automodule:: (gans_jax[\w.]*)",
                              "".join(open(os.path.join(ROOT, "docs", "api", f)).read()
                                      for f in os.listdir(os.path.join(ROOT, "docs", "api")))))
  modules = {m.name for m in pkgutil.walk_packages(gans_jax.__path__, "gans_jax.")
             if not m.ispkg}
  assert modules - documented == set()
