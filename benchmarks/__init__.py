"""The benchmark suite: gans_jax train steps against eager PyTorch (``run.py``)."""
