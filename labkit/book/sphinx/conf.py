"""Sphinx configuration of the course site (``labkit book`` passes this folder as Sphinx's confdir).

The stack is Jupyter Book 1's — Sphinx, myst-nb and sphinx-book-theme — configured directly.
Notebooks are never executed here: the pages show the outputs of the last ``labkit run``.
"""
import importlib.util
from pathlib import Path

from labkit.launch import BRANCH, REPOSITORY

project = "labkit"
author = "the labkit authors"
copyright = "the labkit authors, MIT licence"
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.githubpages"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# Notebooks: the outputs they were saved with; nothing runs while the site builds.
nb_execution_mode = "off"
nb_merge_streams = True
# $...$ and $$...$$ math in Markdown and notebooks, \begin{align} environments, heading anchors.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# MathJax 3 is served from the site itself, so formulas render offline: the copy in the
# sphinx-mathjax-offline package goes to _static/mathjax (its Sphinx extension is not used, as it
# would make Sphinx read the pages one at a time).
_MATHJAX_PACKAGE = importlib.util.find_spec("sphinx-mathjax-offline").submodule_search_locations[0]
html_static_path = [str(Path(_MATHJAX_PACKAGE) / "static")]
mathjax_path = "mathjax/tex-chtml.js"

# API reference: members in source order, signatures with their type hints, no import of a GPU.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = False

html_theme = "sphinx_book_theme"
html_title = "labkit: a deep-learning course"
html_copy_source = False             # pages are the product; students download labs from GitHub
html_show_sourcelink = False
html_theme_options = {
    "repository_url": f"https://github.com/{REPOSITORY}",
    "repository_branch": BRANCH,
    "path_to_docs": "",
    "use_repository_button": True,
    "use_download_button": False,
    "launch_buttons": {"binderhub_url": "https://mybinder.org", "colab_url": "https://colab.research.google.com",
                       "notebook_interface": "jupyterlab"},
    "show_navbar_depth": 1,
}
