"""mkdocs hook: publish the lessons in ``notebooks/`` as pages of the site.

The notebooks live at the top of the repository, where Jupyter users and the test suite open
them, outside ``docs/``, which is all that mkdocs reads by itself. Rather than copies or symbolic
links, which go stale or break on some checkouts, this hook adds every ``notebooks/*.ipynb`` to
the build as it is, under its path in the repository: ``notebooks/01_attention_cues.ipynb`` in
``nav`` and in links, ``notebooks/01_attention_cues/`` on the site. It runs before
mkdocs-jupyter's own ``on_files`` (a higher priority), so mkdocs-jupyter renders them like any
notebook in ``docs/``; ``watch:`` in mkdocs.yml makes ``mkdocs serve`` reload when one changes.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

FOLDER = "notebooks"


@event_priority(100)  # before mkdocs-jupyter (priority 0) turns .ipynb files into pages
def on_files(files: Files, config) -> Files:
    root = Path(config.config_file_path).resolve().parent
    for path in sorted((root / FOLDER).glob("*.ipynb")):
        src_uri = f"{FOLDER}/{path.name}"
        if files.get_file_from_path(src_uri) is None:
            files.append(File(src_uri, str(root), config.site_dir, config.use_directory_urls))
    return files
