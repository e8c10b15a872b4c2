"""mkdocs hook: the lessons from ``notebooks/`` and the benchmark pages, listed without upkeep.

1. **Lessons.** The notebooks live at the top of the repository, where Jupyter users and the test
   suite open them, outside ``docs/``, which is all that mkdocs reads by itself. Rather than
   copies or symbolic links, which go stale or break on some checkouts, every
   ``notebooks/*.ipynb`` is added to the build as it is, under its path in the repository
   (``notebooks/01_attention_cues.ipynb`` in links, ``notebooks/01_attention_cues/`` on the
   site), before mkdocs-jupyter's own ``on_files`` turns notebooks into pages.
2. **Navigation.** The "Lessons" and "Benchmarks" sections of ``nav`` get every notebook, and
   every ``docs/benchmarks/*.md``, that ``nav`` does not list yet, in file-name order: a new
   lesson or benchmark page needs no edit of mkdocs.yml.
3. **Index pages.** A line ``<!-- lessons -->`` or ``<!-- benchmarks -->`` in a page becomes a
   list of links to those pages, each titled by the page's first heading.

``watch:`` in mkdocs.yml makes ``mkdocs serve`` reload when a notebook changes.
"""

from __future__ import annotations

import json
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

NOTEBOOKS = "notebooks"


def _root(config) -> Path:
    return Path(config.config_file_path).resolve().parent


def _pages(config) -> dict[str, list[tuple[str, Path]]]:
    """For each section: (uri in the site's sources, file on disk), in file-name order."""
    root, docs = _root(config), Path(config.docs_dir)
    lessons = sorted((root / NOTEBOOKS).glob("*.ipynb"))
    benchmarks = sorted(p for p in (docs / "benchmarks").glob("*.md") if p.name != "index.md")
    return {
        "Lessons": [(f"{NOTEBOOKS}/{path.name}", path) for path in lessons],
        "Benchmarks": [(f"benchmarks/{path.name}", path) for path in benchmarks],
    }


def _listed(nav) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, dict):
        return set().union(*(_listed(value) for value in nav.values()))
    if isinstance(nav, list):
        return set().union(*(_listed(item) for item in nav))
    return set()


def _title(path: Path) -> str:
    """The text of the first heading of a notebook or a Markdown page, or the file name."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        cells = json.loads(text).get("cells", [])
        text = "\n".join(
            "".join(cell.get("source", [])) for cell in cells if cell.get("cell_type") == "markdown"
        )
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return path.stem


def on_config(config):
    nav = config.nav
    if not nav:
        return config
    listed = _listed(nav)
    for name, pages in _pages(config).items():
        missing = [uri for uri, _ in pages if uri not in listed]
        for item in nav:
            if isinstance(item, dict) and name in item:
                section = item[name]
                item[name] = ([section] if isinstance(section, str) else list(section)) + missing
                break
    return config


@event_priority(100)  # before mkdocs-jupyter (priority 0) turns .ipynb files into pages
def on_files(files: Files, config) -> Files:
    root = str(_root(config))
    for uri, _ in _pages(config)["Lessons"]:
        if files.get_file_from_path(uri) is None:
            files.append(File(uri, root, config.site_dir, config.use_directory_urls))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    depth = page.file.src_uri.count("/")
    for name, pages in _pages(config).items():
        placeholder = f"<!-- {name.lower()} -->"
        if placeholder in markdown:
            links = [f"- [{_title(path)}]({'../' * depth}{uri})" for uri, path in pages]
            markdown = markdown.replace(placeholder, "\n".join(links))
    return markdown
