"""Sphinx configuration of the gans_jax documentation.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
(the ``docs`` extra installs what it needs). The notebooks are rendered from
their stored outputs (``notebooks/run.py --write`` regenerates them); nothing
is trained while the documentation builds.
"""

import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # gans_jax and experiments, as from the repository
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# The notebooks live in notebooks/; Sphinx reads them from a copy under its
# source directory.
_NOTEBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notebooks")
shutil.rmtree(_NOTEBOOKS, ignore_errors=True)
shutil.copytree(os.path.join(ROOT, "notebooks"), _NOTEBOOKS,
                ignore=shutil.ignore_patterns("runs", "*.py", ".ipynb_checkpoints"))

project = "gans_jax"
author = "the gans_jax authors"
copyright = "2026, the gans_jax authors"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "**/runs", "**/.ipynb_checkpoints"]

# Notebooks are shown with the outputs stored in them.
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

html_theme = "sphinx_book_theme"
html_title = "gans_jax"
html_theme_options = {"show_toc_level": 2}


def _presets_as_literal(app, what, name, obj, options, lines):
  """Config modules list their presets as an aligned table of names and
  descriptions (the command line's ``--help`` reads it): shown as written."""
  del app, obj, options
  if what == "module" and name.startswith("experiments.configs."):
    lines[:] = ["::", ""] + ["   " + line for line in lines]


def setup(app):
  app.connect("autodoc-process-docstring", _presets_as_literal)
