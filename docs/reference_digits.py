"""The scores of real digits, the reference rows of the digit experiments.

Real images scored as a generator's samples are: the digit classifier's
Fréchet distance, classes covered and class entropy of the training digits
(1,297) and of the validation digits (200) against the test digits, and, as
the GAN paper's Table 1 protocol would score a generator that reproduced
its training set, the Parzen-window log-likelihood of the test digits under
windows centred on the training digits (width chosen on the validation
digits, pixels in [0, 1]).

``python docs/reference_digits.py --image_size=32 --workdir=DIR`` writes them
to ``DIR/results.json`` under ``train/...`` and ``validation/...`` (and
``train/parzen_...`` with ``--parzen``), for ``docs/results.py add``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def reference_scores(image_size: int, parzen: bool) -> dict[str, float]:
  """The classifier metrics (and Parzen estimate) of the real digits."""
  import numpy as np
  from experiments import common
  from gans_jax import data as gdata
  from gans_jax.eval import classifier as classifier_lib
  from gans_jax.eval import parzen as parzen_lib
  classifier = classifier_lib.load_or_train_digit_classifier(
      os.path.join(common.cache_dir(), "digit_classifier.npz"))
  split = lambda name: gdata.load_digits_split(name, image_size=image_size,
                                               channels=1)[0]
  test = split("test")
  results: dict[str, float] = {}
  for name in ("train", "validation"):
    metrics = classifier_lib.digit_metrics(classifier, split(name), test)
    results.update({f"{name}/{k.removeprefix('eval/')}": v
                    for k, v in metrics.items()})
  if parzen:
    to_unit = lambda x: (np.asarray(x, np.float32) + 1.0) / 2.0
    window = parzen_lib.parzen_evaluate(to_unit(split("train")),
                                        to_unit(split("validation")), to_unit(test))
    results["train/parzen_log_likelihood"] = window["log_likelihood_mean"]
    results["train/parzen_stderr"] = window["log_likelihood_stderr"]
    results["train/parzen_sigma"] = window["sigma"]
  return results


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--image_size", type=int, required=True)
  parser.add_argument("--parzen", action="store_true")
  parser.add_argument("--workdir", required=True)
  args = parser.parse_args(argv)
  sys.path.insert(0, ROOT)
  results = reference_scores(args.image_size, args.parzen)
  os.makedirs(args.workdir, exist_ok=True)
  with open(os.path.join(args.workdir, "results.json"), "w", encoding="utf-8") as f:
    json.dump(results, f, indent=2, sort_keys=True)
  for name, value in results.items():
    print(f"{name}  {value:.4f}" if isinstance(value, float) else f"{name}  {value}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
