"""mkdocs hook: publish the lessons in ``notebooks/`` as pages of the site.

The notebooks live at the top of the repository, where Jupyter users and the test suite open
them, outside ``docs/``, which is all that mkdocs reads by itself. Rather than copies or symbolic
links, which go stale or break on some checkouts, this hook

1. adds every ``notebooks/*.ipynb`` to the build as it is, under its path in the repository
   (``notebooks/01_attention_cues.ipynb`` in links, ``notebooks/01_attention_cues/`` on the
   site), before mkdocs-jupyter's own ``on_files`` turns notebooks into pages;
2. appends to the "Lessons" section of ``nav`` every notebook that ``nav`` does not list yet,
   in file-name order, so that a new lesson needs no edit of mkdocs.yml;
3. replaces the line ``<!-- lessons -->`` in a page with a list of links to the lessons, each
   titled by the notebook's first heading.

``watch:`` in mkdocs.yml makes ``mkdocs serve`` reload when a notebook changes.
"""

from __future__ import annotations

import json
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

FOLDER = "notebooks"
SECTION = "Lessons"
PLACEHOLDER = "<!-- lessons -->"


def _notebooks(config) -> list[Path]:
    root = Path(config.config_file_path).resolve().parent
    return sorted((root / FOLDER).glob("*.ipynb"))


def _listed(nav) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, dict):
        return set().union(*(_listed(value) for value in nav.values()))
    if isinstance(nav, list):
        return set().union(*(_listed(item) for item in nav))
    return set()


def _title(path: Path) -> str:
    """The text of the notebook's first markdown heading, or its file name."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", [])).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return path.stem


def on_config(config):
    nav = config.nav
    if not nav:
        return config
    missing = [f"{FOLDER}/{path.name}" for path in _notebooks(config)]
    missing = [uri for uri in missing if uri not in _listed(nav)]
    for item in nav:
        if isinstance(item, dict) and SECTION in item:
            section = item[SECTION]
            item[SECTION] = ([section] if isinstance(section, str) else list(section)) + missing
            break
    return config


@event_priority(100)  # before mkdocs-jupyter (priority 0) turns .ipynb files into pages
def on_files(files: Files, config) -> Files:
    root = Path(config.config_file_path).resolve().parent
    for path in _notebooks(config):
        src_uri = f"{FOLDER}/{path.name}"
        if files.get_file_from_path(src_uri) is None:
            files.append(File(src_uri, str(root), config.site_dir, config.use_directory_urls))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    if PLACEHOLDER not in markdown:
        return markdown
    depth = page.file.src_uri.count("/")
    links = [
        f"- [{_title(path)}]({'../' * depth}{FOLDER}/{path.name})" for path in _notebooks(config)
    ]
    return markdown.replace(PLACEHOLDER, "\n".join(links))
