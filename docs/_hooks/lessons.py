"""mkdocs hook: every lesson page shows the outputs its notebook produces, or the build fails.

1. **Execute.** The notebooks are committed without outputs. Before mkdocs-jupyter converts them,
   each ``notebooks/*.ipynb`` is run top to bottom in a fresh kernel of this interpreter, with
   Jupyter's inline matplotlib backend whatever ``MPLBACKEND`` the build inherited (a kernel
   started with ``MPLBACKEND=Agg`` draws nothing), and the page is made from the executed copy.
   A cell that raises stops the build.
2. **Cache.** Executed copies live in ``build/lessons/`` (ignored by git; the environment variable
   ``ATTNLAB_LESSONS_CACHE`` names another folder). A copy is reused only if the notebook, every
   source file of ``attnlab`` and the versions of the packages that draw the outputs are the same
   as when it ran, so an edit to a lesson or to the library re-executes it.
3. **Check.** Every code cell that draws (calls ``show_heatmaps``, a ``plot_*`` function or
   matplotlib) must have produced a figure, and every figure must reach the page; after the
   build, every lesson page is read back and must hold its figures.
4. **Page.** A link under the title downloads the notebook as committed (without outputs, to be
   run), which is copied next to the page. The table of contents is rebuilt from the headings
   of the page itself, so that a heading with code in it links to its real anchor.
   nbconvert's MathJax 2 loader (an empty ``<script src="">``) and its mermaid loader (a CDN
   import) are removed: the site's own MathJax typesets the page (``docs/_hooks/mathjax.py``).
"""

from __future__ import annotations

import hashlib
import html
import importlib.metadata
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.toc import get_toc

log = logging.getLogger("mkdocs.hooks.lessons")

NOTEBOOKS = "notebooks"
CACHE_ENV = "ATTNLAB_LESSONS_CACHE"
CACHE_FORMAT = "1"  # bump when this hook changes what an executed copy holds
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
CELL_TIMEOUT_S = 600
# packages whose version can change what a lesson prints or draws
OUTPUT_PACKAGES = ["torch", "numpy", "matplotlib", "scikit-learn", "matplotlib-inline", "ipykernel"]
DRAWS = re.compile(r"\b(show_heatmaps|plot_\w+)\s*\(|\bplt\.|\.(plot|imshow|scatter)\(")
FIGURE_TYPES = ("image/png", "image/svg+xml")
FIGURE_HTML = re.compile(r"<img\b[^>]*\bsrc=\"data:image/(png|svg\+xml)")
MATHJAX_2 = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
MERMAID = re.compile(r"<script type=\"module\">\s*document\.addEventListener.*?</script>", re.S)
DOLLAR_MATH = re.compile(r"\$([^$]+)\$")  # a heading's formula, typeset in the contents too
HEADING = re.compile(r"<h([1-6])\b[^>]*\bid=\"([^\"]+)\"[^>]*>(.*?)</h\1>", re.S)

_lessons: dict[str, Path] = {}  # src_uri -> the committed notebook
_expected: dict[str, int] = {}  # src_uri -> figures in the executed notebook


def _root(config) -> Path:
    return Path(config.config_file_path).resolve().parent


def _cache_dir(config) -> Path:
    return Path(os.environ.get(CACHE_ENV) or _root(config) / "build" / "lessons").resolve()


def _key(notebook: Path, root: Path) -> str:
    """What an executed copy depends on: the notebook, the library, the drawing packages."""
    digest = hashlib.sha256(f"format {CACHE_FORMAT}; python {sys.version}".encode())
    digest.update(notebook.read_bytes())
    for source in sorted((root / "attnlab").rglob("*.py")):
        digest.update(source.relative_to(root).as_posix().encode())
        digest.update(source.read_bytes())
    for package in OUTPUT_PACKAGES:
        try:
            digest.update(f"{package}=={importlib.metadata.version(package)}".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{package} missing".encode())
    return digest.hexdigest()


def _figures(cell) -> int:
    return sum(
        1
        for output in cell.get("outputs", [])
        if output.get("output_type") in ("display_data", "execute_result")
        and any(kind in output.get("data", {}) for kind in FIGURE_TYPES)
    )


def _check_figures(notebook, name: str) -> int:
    """The number of figures; a drawing cell without one is an error."""
    missing = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and DRAWS.search(cell.source) and not _figures(cell)
    ]
    if missing:
        raise PluginError(
            f"lessons: {name}: code cells {missing} draw but produced no figure (cells are "
            f"counted from 0). Does a kernel started with MPLBACKEND={INLINE_BACKEND} draw?"
        )
    total = sum(_figures(cell) for cell in notebook.cells)
    if not total:
        raise PluginError(f"lessons: {name} produced no figure; every lesson page shows some")
    return total


def _execute(notebook_path: Path, target: Path, key: str) -> None:
    """Run the notebook in a fresh kernel of this interpreter and write it, outputs and all."""
    import nbclient
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    notebook = nbformat.read(notebook_path, as_version=4)
    with tempfile.TemporaryDirectory() as kernels:
        spec = Path(kernels) / "attnlab-docs"
        spec.mkdir()
        kernel = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "attnlab docs",
            "language": "python",
            "env": {"MPLBACKEND": INLINE_BACKEND},
        }
        (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
        manager = KernelManager(
            kernel_name="attnlab-docs",
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernels]),
        )
        client = nbclient.NotebookClient(
            notebook,
            km=manager,
            timeout=CELL_TIMEOUT_S,
            allow_errors=False,
            resources={"metadata": {"path": str(notebook_path.parent)}},
        )
        try:
            client.execute()
        except nbclient.exceptions.CellExecutionError as error:
            raise PluginError(f"lessons: {notebook_path.name} failed:\n{error}") from None
        finally:
            if manager.has_kernel:  # a kernel manager passed in is ours to shut down
                manager.shutdown_kernel(now=True)
    _check_figures(notebook, notebook_path.name)
    notebook.metadata["attnlab_docs"] = {"key": key}
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    nbformat.write(notebook, partial)
    os.replace(partial, target)  # a concurrent build never reads half a notebook


def _executed(notebook_path: Path, cache: Path, root: Path) -> Path:
    """The executed copy of a lesson, from the cache when nothing it depends on changed."""
    import nbformat

    target = cache / NOTEBOOKS / notebook_path.name
    key = _key(notebook_path, root)
    if target.is_file():
        cached = nbformat.read(target, as_version=4)
        if cached.metadata.get("attnlab_docs", {}).get("key") == key:
            log.info("lessons: %s unchanged, outputs from %s", notebook_path.name, target)
            return target
    start = time.perf_counter()
    _execute(notebook_path, target, key)
    log.info("lessons: executed %s in %.1f s", notebook_path.name, time.perf_counter() - start)
    return target


@event_priority(90)  # after sections.py adds the notebooks (100), before mkdocs-jupyter (0)
def on_files(files: Files, config) -> Files:
    root, cache = _root(config), _cache_dir(config)
    _lessons.clear()
    _expected.clear()
    for file in list(files):
        uri = file.src_uri
        if not (uri.startswith(f"{NOTEBOOKS}/") and uri.endswith(".ipynb")):
            continue
        original = Path(file.abs_src_path)
        executed = _executed(original, cache, root)
        import nbformat

        _expected[uri] = _check_figures(nbformat.read(executed, as_version=4), original.name)
        _lessons[uri] = original
        files.remove(file)
        files.append(File(uri, str(cache), config.site_dir, config.use_directory_urls))
    return files


def _toc(content: str) -> list[dict]:
    """Table-of-contents tokens for the headings of the rendered page, nested by level.

    A formula in a heading stays a formula in the contents: MathJax typesets ``.arithmatex``.
    """
    tokens: list[dict] = []
    stack: list[dict] = []
    for level, anchor, inner in HEADING.findall(content):
        inner = re.sub(r"<a class=\"anchor-link\".*?</a>", "", inner, flags=re.S)
        text = html.unescape(re.sub(r"<[^>]+>", "", inner)).strip()
        name = DOLLAR_MATH.sub(r'<span class="arithmatex">\\(\1\\)</span>', html.escape(text))
        token = {"level": int(level), "id": anchor, "name": name, "children": []}
        while stack and stack[-1]["level"] >= token["level"]:
            stack.pop()
        (stack[-1]["children"] if stack else tokens).append(token)
        stack.append(token)
    return tokens


def _download_link(name: str, page, files) -> str:
    link = f'<a href="{name}" download>Download this lesson as a notebook ({name})</a>'
    guide = files.get_file_from_path("getting-started.md")
    if guide is not None:
        url = guide.url_relative_to(page.file)
        guide_link = f'<a href="{url}#opening-the-lessons">opening the lessons</a>'
        link += f", to run it in Jupyter (see {guide_link})"
    return f'<p class="attnlab-download">{link}.</p>'


def on_page_content(content: str, page, config, files) -> str:
    uri = page.file.src_uri
    if uri not in _lessons:
        return content
    name = _lessons[uri].name
    content = MATHJAX_2.sub("", content)
    if "jp-Mermaid" not in content:
        content = MERMAID.sub("", content)
    title_end = content.find("</h1>")
    if title_end < 0:
        raise PluginError(f"lessons: {name} has no title (a first cell starting with '# ')")
    title_end += len("</h1>")
    content = content[:title_end] + _download_link(name, page, files) + content[title_end:]
    shown = len(FIGURE_HTML.findall(content))
    if shown < _expected[uri]:
        raise PluginError(f"lessons: {name} has {_expected[uri]} figures but its page {shown}")
    page.toc = get_toc(_toc(content))
    return content


def on_post_page(output: str, page, config) -> str:
    uri = page.file.src_uri
    if uri in _lessons:  # the notebook as committed, next to its page, for the download link
        folder = Path(page.file.abs_dest_path).parent
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_lessons[uri], folder / _lessons[uri].name)
    return output


def on_post_build(config) -> None:
    """Read every lesson page back from the site: each must exist and hold its figures."""
    site = Path(config.site_dir)
    for uri, expected in _expected.items():
        stem = Path(uri).stem
        page = site / NOTEBOOKS / stem / "index.html"
        if not config.use_directory_urls:
            page = site / NOTEBOOKS / f"{stem}.html"
        if not page.is_file():
            raise PluginError(f"lessons: {uri} was not rendered to {page}")
        shown = len(FIGURE_HTML.findall(page.read_text(encoding="utf-8")))
        if shown < expected:
            raise PluginError(f"lessons: {page} shows {shown} of {expected} figures")
        if not (page.parent / Path(uri).name).is_file():
            raise PluginError(f"lessons: the download of {uri} is missing from {page.parent}")
    cache = _cache_dir(config) / NOTEBOOKS
    current = {Path(uri).name for uri in _lessons}
    for stale in cache.glob("*.ipynb") if cache.is_dir() else []:
        if stale.name not in current:
            stale.unlink()
