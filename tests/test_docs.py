"""The documentation site: every public module and name has an API page, the navigation points
at files that exist, every lesson is listed, and ``mkdocs build --strict`` passes.

``mkdocs build --strict --quiet`` does not fail on warnings (``--quiet`` hides them from the
strict-mode counter; mkdocs issue #4126), so the build here runs without ``--quiet``.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
pytest.importorskip("mkdocs")

import attnlab  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NOTEBOOKS = ROOT / "notebooks"
LESSONS_URI = "notebooks/"  # docs/_hooks/sections.py publishes notebooks/*.ipynb here
PUBLIC_MODULES = sorted(
    info.name for info in pkgutil.iter_modules(attnlab.__path__) if not info.name.startswith("_")
)


def _config() -> dict:
    # mkdocs.yml may use tags such as !ENV; a loader that ignores unknown tags is enough here
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    return yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)


def _nav_files(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [path for value in node.values() for path in _nav_files(value)]
    if isinstance(node, list):
        return [path for item in node for path in _nav_files(item)]
    return []


NAV = _nav_files(_config()["nav"])


@pytest.mark.parametrize("path", NAV)
def test_nav_points_at_an_existing_file(path):
    if path.startswith(LESSONS_URI) and path.endswith(".ipynb"):
        assert (NOTEBOOKS / path.removeprefix(LESSONS_URI)).is_file(), path
    else:
        assert (DOCS / path).is_file(), path


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_module_has_an_api_page(module):
    page = DOCS / "api" / f"{module}.md"
    assert page.is_file(), f"attnlab.{module} has no API page: write {page.relative_to(ROOT)}"
    assert f"::: attnlab.{module}" in page.read_text(encoding="utf-8")
    assert f"api/{module}.md" in NAV, f"add api/{module}.md to the API section of mkdocs.yml"


def test_every_public_name_is_in_the_api_reference():
    documented = {
        line.removeprefix("::: ").strip()
        for page in (DOCS / "api").glob("*.md")
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith("::: ")
    }
    # a page documents its module's __all__, re-exports included (plotting's lesson plots)
    covered = set(documented)
    for entry in documented:
        if importlib.util.find_spec(entry.rpartition(".")[0] or entry) is None:
            continue
        try:
            module = importlib.import_module(entry)
        except ModuleNotFoundError:  # an entry for one function or class, not a module
            continue
        covered |= {f"{entry}.{name}" for name in getattr(module, "__all__", [])}
    missing = []
    for name in attnlab.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(attnlab, name)
        if isinstance(obj, type(attnlab)):
            found = obj.__name__ in documented
        else:
            found = any(entry.endswith(f".{name}") for entry in covered)
        if not found:
            missing.append(f"attnlab.{name}")
    assert not missing, f"not in any API page: {missing}"


@pytest.mark.parametrize(
    "page", sorted(DOCS.rglob("*.md")), ids=lambda page: str(page.relative_to(DOCS))
)
def test_names_the_pages_mention_exist(page):
    text = page.read_text(encoding="utf-8")
    for name in sorted(set(re.findall(r"\battnlab\.([A-Za-z_]\w*)", text))):
        exists = hasattr(attnlab, name) or importlib.util.find_spec(f"attnlab.{name}")
        assert exists, f"{page.relative_to(ROOT)} mentions attnlab.{name}, which does not exist"


@pytest.mark.slow
def test_mkdocs_build_is_strict_clean(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    # mkdocs' own warnings (a Jupyter kernel's "[IPKernelApp] WARNING" on stderr is not one)
    warnings = [line for line in result.stderr.splitlines() if re.match(r"WARNING\s+-", line)]
    assert result.returncode == 0 and not warnings, result.stderr[-4000:]
    assert (tmp_path / "index.html").is_file()
    lessons = (tmp_path / "lessons" / "index.html").read_text(encoding="utf-8")
    for path in NOTEBOOKS.glob("*.ipynb"):
        assert (tmp_path / "notebooks" / path.stem / "index.html").is_file(), path.name
        assert f"notebooks/{path.stem}/" in lessons, f"lessons/index.md does not list {path.name}"
    # the teachers' solutions stay in the repository: nothing of notebooks/solutions/ is published
    assert not [p for p in tmp_path.rglob("*") if "solutions" in p.relative_to(tmp_path).parts]
    benchmarks = (tmp_path / "benchmarks" / "index.html").read_text(encoding="utf-8")
    for path in (DOCS / "benchmarks").glob("*.md"):
        if path.name != "index.md":
            assert f'href="{path.stem}/"' in benchmarks, f"benchmarks/index.md misses {path.name}"


def _python_object(path: str):
    """The object at a dotted path, found by importing, independently of griffe."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for part in parts[split:]:
            if part in getattr(obj, "__dataclass_fields__", {}):  # a field without a default
                return obj.__dataclass_fields__[part]
            obj = getattr(obj, part)
        return obj
    raise ImportError(path)


def test_docstring_roles_become_links_to_objects_that_exist():
    griffe = pytest.importorskip("griffe")
    roles = re.compile(r":(?:py:)?(?:func|meth|class|data|attr|mod|obj|exc|const):`")
    extension = griffe.load_extensions(str(DOCS / "_hooks" / "crossrefs.py"))
    package = griffe.load("attnlab", search_paths=[str(ROOT)], extensions=extension)
    plain = griffe.load("attnlab", search_paths=[str(ROOT)])
    links, left = [], []
    for module in [package, *package.modules.values()]:
        for obj in [module, *(m for m in module.members.values() if not m.is_alias)]:
            for item in [obj, *getattr(obj, "members", {}).values()]:
                if item.is_alias or item.docstring is None:
                    continue
                if roles.search(item.docstring.value):
                    left.append(item.path)
                links += re.findall(r"\[`[^`]+`\]\[([\w.]+)\]", item.docstring.value)
    assert not left, f"roles left in the docstrings of {left}"
    written = sum(
        len(roles.findall(item.docstring.value))
        for module in [plain, *plain.modules.values()]
        for obj in [module, *(m for m in module.members.values() if not m.is_alias)]
        for item in [obj, *getattr(obj, "members", {}).values()]
        if not item.is_alias and item.docstring is not None
    )
    assert written and len(links) >= written - 2, (written, links)  # a role outside attnlab: code
    for path in links:
        assert path.startswith("attnlab"), path
        _python_object(path)  # raises if the link points at nothing
