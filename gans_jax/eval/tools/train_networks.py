"""Trains the small networks that some metrics score with, and saves them::

  python -m gans_jax.eval.tools.train_networks digit_classifier --out=digits.npz
  python -m gans_jax.eval.tools.train_networks domain_classifiers \\
      --digit_out=digit.npz --domain_out=domain.npz
  python -m gans_jax.eval.tools.train_networks facade_segmenter --out=facades.npz

- ``digit_classifier``: the digit classifier of the digit metrics
  (:func:`gans_jax.eval.classifier.train_digit_classifier`);
- ``domain_classifiers``: the cross-domain digit classifier and the domain
  classifier of unpaired digit translation
  (:func:`gans_jax.eval.domain.train_digit_domain_classifier`);
- ``facade_segmenter``: the facade segmenter of pix2pix's FCN-scores
  (:func:`gans_jax.eval.segmentation.train_facade_segmenter`; one per image
  size).

The metrics train a missing network themselves and cache it
(``load_or_train_...``); this command makes the files ahead of time. Each
line it prints gives the network's test score, the training time and the
file.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import time
from typing import Any, Callable

from gans_jax.eval import classifier as classifier_lib
from gans_jax.eval import domain as domain_lib
from gans_jax.eval import segmentation as segmentation_lib

# A network to train: () -> (the network, a line on its test score).
Training = Callable[[], tuple[Any, str]]


def _digit_classifier(args: argparse.Namespace) -> list[tuple[str, Training]]:
  def train():
    classifier = classifier_lib.train_digit_classifier(
        seed=args.seed, num_steps=args.steps)
    return classifier, f"test accuracy {classifier.test_accuracy:.4f}"
  return [(args.out, train)]


def _domain_classifiers(args: argparse.Namespace) -> list[tuple[str, Training]]:
  def training(task):
    def train():
      classifier = domain_lib.train_digit_domain_classifier(task, seed=args.seed)
      accuracies = ", ".join(f"{d} {a:.4f}"
                             for d, a in classifier.test_accuracies.items())
      return classifier, f"{task} classifier: test accuracy {accuracies}"
    return train
  return [(out, training(task)) for task, out in
          (("digit", args.digit_out), ("domain", args.domain_out)) if out]


def _facade_segmenter(args: argparse.Namespace) -> list[tuple[str, Training]]:
  def train():
    segmenter = segmentation_lib.train_facade_segmenter(
        image_size=args.image_size, data_seed=args.data_seed, seed=args.seed,
        num_steps=args.steps)
    scores = ", ".join(f"{k} {v:.4f}" for k, v in segmenter.test_scores.items())
    return segmenter, f"test photos: {scores}"
  return [(args.out, train)]


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="python -m gans_jax.eval.tools.train_networks",
      description="Train a network that metrics score with, and save it.")
  networks = parser.add_subparsers(dest="network", required=True)
  digits = networks.add_parser(
      "digit_classifier", help="the digit classifier of the digit metrics")
  digits.add_argument("--out", required=True, help="output .npz file")
  digits.add_argument("--steps", type=int, default=600, help="Adam steps")
  domains = networks.add_parser(
      "domain_classifiers", help="the digit and domain classifiers that score "
      "unpaired digit translation")
  domains.add_argument("--digit_out", help="output .npz file of the digit classifier")
  domains.add_argument("--domain_out", help="output .npz file of the domain classifier")
  facades = networks.add_parser(
      "facade_segmenter", help="the facade segmenter of the FCN-scores")
  facades.add_argument("--out", required=True, help="output .npz file")
  facades.add_argument("--image_size", type=int, default=64, help="photo size")
  facades.add_argument("--data_seed", type=int, default=0, help="facades seed")
  facades.add_argument("--steps", type=int, default=800, help="Adam steps")
  for network in (digits, domains, facades):
    network.add_argument("--seed", type=int, default=0, help="training seed")
  return parser


_NETWORKS = {"digit_classifier": _digit_classifier,
             "domain_classifiers": _domain_classifiers,
             "facade_segmenter": _facade_segmenter}


def main(argv: Sequence[str] | None = None) -> None:
  parser = _parser()
  args = parser.parse_args(argv)
  jobs = _NETWORKS[args.network](args)
  if not jobs:
    parser.error("give --digit_out, --domain_out or both")
  for out, train in jobs:
    start = time.perf_counter()
    network, score = train()
    network.save(out)
    print(f"{score}; trained in {time.perf_counter() - start:.1f} s, saved to {out}")


if __name__ == "__main__":
  main()
