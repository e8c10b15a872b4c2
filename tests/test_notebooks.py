"""Execute every lesson in ``notebooks/``: a cell that raises fails the test suite.

Each notebook runs in a fresh kernel started with this interpreter (a kernelspec written to a
temporary folder at the front of ``JUPYTER_PATH``), so the lessons import the attnlab installed
here, whatever other ``python3`` kernels the machine has, and with Jupyter's inline backend, so
that every figure is really drawn.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
KERNEL_NAME = "attnlab-test-python"
CELL_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory) -> Path:
    """A folder holding one kernelspec that runs ipykernel with ``sys.executable``."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "attnlab tests", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return root


def test_lessons_are_numbered():
    names = [path.name for path in PATHS]
    assert len(names) >= 5, f"the course has at least five lessons; found {names}"
    assert all(name[:2].isdigit() and name[2] == "_" for name in names), names
    numbers = [name[:2] for name in names]
    assert len(set(numbers)) == len(numbers), f"two lessons share a number: {names}"


@pytest.mark.parametrize("path", PATHS, ids=[path.stem for path in PATHS])
def test_notebook_is_committed_clean(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{path.name} has no code cells"
    dirty = [i for i, cell in enumerate(code) if cell.outputs or cell.execution_count]
    assert not dirty, f"{path.name}: code cells {dirty} were committed with outputs"
    first, last = notebook.cells[0], notebook.cells[-1]
    assert first.cell_type == "markdown" and "$" in first.source, (
        f"{path.name} must open with the idea and its equation"
    )
    assert last.cell_type == "markdown" and "exercise" in last.source.lower(), (
        f"{path.name} must end with exercises"
    )
    source = "\n".join(cell.source for cell in code)
    assert "import attnlab" in source or "from attnlab" in source


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=[path.stem for path in PATHS])
def test_notebook_executes(path, kernel_dir, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir))
    # draw every figure as Jupyter does (an MPLBACKEND=Agg from the environment never draws, so
    # an error raised only when a figure is rendered would go unnoticed)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name}: a cell raised:\n{str(error)[-3000:]}", pytrace=False)
    # every lesson draws: a figure that is never rendered would be an error left unseen
    figures = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]
    assert figures, f"{path.name} executed but displayed no figure"
