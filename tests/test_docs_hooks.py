"""The site's build hooks on small inputs: lessons executed with figures whatever MPLBACKEND says,
a cache that notices every change, a table of contents that matches the page, MathJax found.
"""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("mkdocs")

from mkdocs.exceptions import PluginError  # noqa: E402

HOOKS = Path(__file__).resolve().parent.parent / "docs" / "_hooks"


def _hook(name: str):
    spec = importlib.util.spec_from_file_location(f"attnlab_docs_{name}", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lessons = _hook("lessons")
mathjax = _hook("mathjax")


def _notebook(path: Path, *sources: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# A lesson\n\n$x$")]
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)
    return path


@pytest.mark.slow
def test_a_lesson_draws_its_figures_even_when_the_build_runs_with_agg(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as .ci/run sets it
    source = _notebook(
        tmp_path / "lesson.ipynb", "import matplotlib.pyplot as plt\nplt.plot([1, 2]);"
    )
    target = tmp_path / "cache" / "lesson.ipynb"
    lessons._execute(source, target, key="k")
    executed = nbformat.read(target, as_version=4)
    assert "image/png" in executed.cells[1].outputs[0]["data"]
    assert executed.metadata["attnlab_docs"]["key"] == "k"


@pytest.mark.slow
def test_a_build_whose_lesson_draws_nothing_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(lessons, "INLINE_BACKEND", "agg")  # what inheriting MPLBACKEND=Agg does
    source = _notebook(
        tmp_path / "lesson.ipynb", "x = 1", "import matplotlib.pyplot as plt\nplt.plot([1, 2]);"
    )
    with pytest.raises(
        PluginError, match=r"lesson\.ipynb: code cells \[2\] draw but produced no figure"
    ):
        lessons._execute(source, tmp_path / "out.ipynb", key="k")
    assert not (tmp_path / "out.ipynb").exists(), "a failed lesson must not be cached"


@pytest.mark.slow
def test_a_cell_that_raises_fails_the_build(tmp_path):
    source = _notebook(tmp_path / "lesson.ipynb", "raise ValueError('broken lesson')")
    with pytest.raises(PluginError, match=r"lesson\.ipynb failed:(.|\n)*broken lesson"):
        lessons._execute(source, tmp_path / "out.ipynb", key="k")


def test_the_cache_key_follows_the_notebook_the_library_and_nothing_else(tmp_path):
    (tmp_path / "attnlab").mkdir()
    library = tmp_path / "attnlab" / "pooling.py"
    library.write_text("A = 1\n")
    notebook = _notebook(tmp_path / "lesson.ipynb", "print(1)")
    key = lessons._key(notebook, tmp_path)
    assert lessons._key(notebook, tmp_path) == key
    (tmp_path / "notes.txt").write_text("not part of the library")
    assert lessons._key(notebook, tmp_path) == key
    library.write_text("A = 2\n")
    assert lessons._key(notebook, tmp_path) != key
    library.write_text("A = 1\n")
    assert lessons._key(notebook, tmp_path) == key
    _notebook(notebook, "print(2)")
    assert lessons._key(notebook, tmp_path) != key


def test_the_table_of_contents_is_read_from_the_page():
    page = (
        '<h1 id="title">Title<a class="anchor-link" href="#title">¶</a></h1>'
        '<h2 id="5-what-record_attention-does">5. What <code>record_attention</code> does</h2>'
        '<h3 id="a-b">A &amp; B</h3><h2 id="why">Why divide by $\\sqrt{d}$?</h2>'
    )
    [title] = lessons._toc(page)
    assert title["name"] == "Title" and title["id"] == "title"
    first, second = title["children"]
    assert (first["id"], first["name"]) == (
        "5-what-record_attention-does",
        "5. What record_attention does",
    )
    assert [child["name"] for child in first["children"]] == ["A &amp; B"]
    assert second["name"] == 'Why divide by <span class="arithmatex">\\(\\sqrt{d}\\)</span>?'
    assert not second["children"]


def test_a_figure_lost_between_notebook_and_page_is_noticed():
    cell = nbformat.v4.new_code_cell("plot_fits(...)")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"})]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    assert lessons._check_figures(notebook, "lesson.ipynb") == 1
    assert len(lessons.FIGURE_HTML.findall('<img alt="" src="data:image/png;base64,iVBOR">')) == 1
    cell.outputs = []
    with pytest.raises(PluginError, match=r"code cells \[0\] draw but produced no figure"):
        lessons._check_figures(notebook, "lesson.ipynb")


def test_mathjax_is_found_in_the_installed_package():
    pytest.importorskip("mathjax")
    folder = mathjax._mathjax_dir()
    assert (folder / mathjax.COMPONENT).is_file()
    assert (
        folder / "output" / "chtml" / "fonts" / "woff-v2" / "MathJax_Main-Regular.woff"
    ).is_file()
    assert (folder / "input" / "tex" / "extensions" / "boldsymbol.js").is_file()  # lesson 05


def test_a_script_from_another_host_is_refused():
    config = types.SimpleNamespace(
        extra_javascript=["javascripts/mathjax.js", "https://cdn.example.org/mathjax.js"]
    )

    with pytest.raises(
        PluginError, match=r"extra_javascript must come from the site; got \['https"
    ):
        mathjax.on_config(config)


def test_a_formula_in_a_heading_is_typeset_in_the_table_of_contents_once():
    from mkdocs.structure.toc import get_toc

    toc = get_toc([{"level": 2, "id": "h", "name": "Bandwidth \\(h\\)", "children": []}])
    mathjax._typeset_titles(toc.items)
    mathjax._typeset_titles(toc.items)  # a second hook, or a second pass, must not nest it
    assert toc.items[0].title == 'Bandwidth <span class="arithmatex">\\(h\\)</span>'
