"""Commands around the metrics: each prepares a file the metrics load, or
scores images from the shell. Run as ``python -m gans_jax.eval.tools.NAME``.

- :mod:`~gans_jax.eval.tools.fid`: FID, KID, Inception Score and
  precision/recall of generated images (:func:`gans_jax.eval.image_quality`).
- :mod:`~gans_jax.eval.tools.convert_inception`: pytorch-fid's Inception
  weights converted once to the ``.npz`` that :mod:`gans_jax.eval.inception`
  loads (needs torch, for this command only).
- :mod:`~gans_jax.eval.tools.train_networks`: the small networks some metrics
  score with (the digit classifier, the digit-domain classifiers, the facade
  segmenter), trained and saved ahead of time.
"""
