"""mkdocs hook: MathJax 3 served from the site itself, so that math renders with no network.

1. **Where it comes from.** The ``docs`` extra installs ``django-static-mathjax``, a plain copy
   of MathJax 3 on PyPI (no Django needed): its files are under
   ``mathjax/static/mathjax/es5/`` in site-packages. No page loads anything from a CDN.
2. **What is copied.** The ``tex-chtml.js`` component that the pages load, and the files it
   may load later from beside itself: the TeX extensions that ``autoload`` fetches (for example
   ``\\boldsymbol``), the CommonHTML fonts, the context menu and its accessibility modules. They go
   to ``assets/mathjax/`` in the site; ``mkdocs serve`` serves them too.
3. **How it is used.** ``docs/javascripts/mathjax.js`` configures MathJax before it loads:
   ``\\( \\)`` and ``\\[ \\]`` from pymdownx.arithmatex on Markdown pages and in docstrings,
   ``$ $`` and ``$$ $$`` in the notebooks' Markdown cells, nothing else.

A heading's inline formula also appears in the table of contents, where it is typeset too. The
build fails if MathJax is not installed, or if ``extra_javascript`` loads a script from another
host.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

DESTINATION = "assets/mathjax"
COMPONENT = "tex-chtml.js"  # TeX in, CommonHTML out: the pages have no MathML
# what the component loads on demand, relative to itself
ON_DEMAND = ["input/tex/extensions", "output/chtml/fonts/woff-v2", "ui", "a11y", "sre"]


def _mathjax_dir() -> Path:
    spec = importlib.util.find_spec("mathjax")  # finds the folder without importing it
    folder = None
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    if folder is None or not (folder / COMPONENT).is_file():
        raise PluginError(
            "mathjax hook: MathJax 3 is not installed (the package django-static-mathjax, "
            "files under mathjax/static/mathjax/es5/); install the docs extra: "
            "python -m pip install '.[docs]'"
        )
    return folder


def on_config(config):
    remote = [
        str(script)
        for script in config.extra_javascript
        if str(script).startswith(("http://", "https://", "//"))
    ]
    if remote:
        raise PluginError(f"mathjax hook: extra_javascript must come from the site; got {remote}")
    return config


def on_files(files: Files, config) -> Files:
    source = _mathjax_dir()
    paths = [source / COMPONENT, source.parent / "LICENSE"]
    for folder in ON_DEMAND:
        paths += sorted(path for path in (source / folder).rglob("*") if path.is_file())
    for path in paths:
        relative = path.relative_to(source if path.is_relative_to(source) else source.parent)
        uri = f"{DESTINATION}/{relative.as_posix()}"
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


INLINE_TEX = re.compile(r"\\\((.+?)\\\)")


def _typeset_titles(items) -> None:
    for item in items:
        if "\\(" in item.title and "arithmatex" not in item.title:  # not wrapped already
            item.title = INLINE_TEX.sub(r'<span class="arithmatex">\\(\1\\)</span>', item.title)
        _typeset_titles(item.children)


def on_page_content(html: str, page, config, files) -> str:
    """A heading's formula, as the table of contents shows it, is typeset as in the heading."""
    _typeset_titles(page.toc.items)
    return html
