"""Executes the notebooks in a Jupyter kernel, as a reader would run them.

    python notebooks/run.py                   # run every notebook, fail on any error
    python notebooks/run.py --write           # ... and store the outputs in them
    python notebooks/run.py dcgan.ipynb       # only the named ones

Each notebook runs top to bottom with nbclient in a fresh ``python3`` kernel
(ipykernel), with the notebooks folder as its working directory, so files it
writes land in ``notebooks/runs/`` (ignored by git). ``--write`` is how the
stored outputs, which GitHub and the documentation show, are regenerated.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def notebooks(names=()) -> list[str]:
  """Paths of the named notebooks, or of every notebook in this folder."""
  if names:
    return [os.path.join(HERE, os.path.basename(n)) for n in names]
  return sorted(os.path.join(HERE, n) for n in os.listdir(HERE)
                if n.endswith(".ipynb"))


def execute(path: str, *, cwd: str = HERE, timeout: int = 900):
  """Runs the notebook at ``path`` in a kernel; returns the executed notebook.

  Raises:
    nbclient.exceptions.CellExecutionError: a cell raised; the message shows
      the cell and the traceback.
  """
  import nbclient
  import nbformat

  notebook = nbformat.read(path, as_version=4)
  env_path = os.environ.get("PYTHONPATH", "")
  # The kernel imports gans_jax and experiments from this checkout.
  os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env_path) if p)
  try:
    client = nbclient.NotebookClient(
        notebook, timeout=timeout, kernel_name="python3",
        resources={"metadata": {"path": cwd}})
    client.execute()
  finally:
    os.environ["PYTHONPATH"] = env_path
  return notebook


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("names", nargs="*", help="notebooks to run (default: all)")
  parser.add_argument("--write", action="store_true",
                      help="store the outputs in the notebooks")
  args = parser.parse_args(argv)
  import nbformat
  for path in notebooks(args.names):
    start = time.perf_counter()
    notebook = execute(path)
    print(f"{os.path.basename(path)}: {time.perf_counter() - start:.0f} s",
          flush=True)
    if args.write:
      for i, cell in enumerate(notebook.cells):  # ids nbformat 4.5 asks for
        cell.setdefault("id", f"cell-{i}")
      nbformat.write(notebook, path)
  return 0


if __name__ == "__main__":
  sys.exit(main())
