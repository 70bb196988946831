"""Plain eager PyTorch references for the benchmark suite (``benchmarks/run.py``).

Each module writes one experiment's architecture, losses, optimiser and batch
the way the paper's official (or the canonical PyTorch) code writes them:
modules built from ``torch.nn`` layers, one Python loop iteration per
optimiser update, ``loss.backward()`` and ``optimizer.step()``. Each exposes a
``Reference`` class whose ``step()`` runs one generator iteration (with its
discriminator / critic updates) on a batch that was made once, outside the
timed region, so data loading is never measured.

PyTorch is a benchmark-only dependency (``pip install .[bench]``); nothing in
``gans_jax`` imports these modules or torch.
"""
