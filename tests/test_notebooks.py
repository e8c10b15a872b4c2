"""Execute every lesson in ``notebooks/``: a cell that raises fails the test suite.

Each notebook runs in a fresh kernel started with this interpreter (a kernelspec written to a
temporary folder at the front of ``JUPYTER_PATH``), so the lessons import the attnlab installed
here, whatever other ``python3`` kernels the machine has, and with Jupyter's inline backend, so
that every figure is really drawn.

The lessons run twice. As shipped, every exercise check reports "not attempted" (its answer
cell is a stub) and nothing fails. Then the exercise sections of all lessons run once more in a
single kernel, each answer cell replaced by the teacher's solution from
``notebooks/solutions/NN_name.py``, and every check must pass: only those sections, since the
answers are self-contained functions and the lessons' own cells have just run.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
SOLUTIONS = NOTEBOOKS / "solutions"
KERNEL_NAME = "attnlab-test-python"
CELL_TIMEOUT_S = 120
RESULTS_VARIABLE = "ATTNLAB_GRADE_RESULTS"  # where check() records its results for a grader


def exercise_cells(notebook) -> list:
    """The cells from the lesson's "## Exercises" heading on."""
    starts = [
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "markdown" and "## Exercises" in cell.source
    ]
    return notebook.cells[starts[-1] :] if starts else []


def tagged(notebook, tag: str) -> list:
    return [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]


def checked_name(cell) -> str:
    """The exercise a check cell checks: the first argument of its check(...) call."""
    calls = [
        node
        for node in ast.walk(ast.parse(cell.source))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "check"
    ]
    assert len(calls) == 1, f"a check cell makes one check(...) call; got:\n{cell.source}"
    return calls[0].args[0].value


def solution_file(path: Path) -> Path:
    return SOLUTIONS / f"{path.stem}.py"


def solutions(path: Path) -> tuple[str, dict[str, str]]:
    """The solution file's imports, and the source of each function it defines, by name."""
    source = solution_file(path).read_text(encoding="utf-8")
    tree = ast.parse(source)
    imports = [
        ast.get_source_segment(source, node)
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    functions = {
        node.name: ast.get_source_segment(source, node)
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
    }
    return "\n".join(imports), functions


def results(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def execute(notebook, what: str) -> None:
    """Run ``notebook`` in place in the test kernel; a cell that raises fails the test."""
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{what} raised:\n{str(error)[-3000:]}", pytrace=False)


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
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and "$" in first.source, (
        f"{path.name} must open with the idea and its equation"
    )
    exercises = exercise_cells(notebook)
    assert exercises, f"{path.name} must end with exercises (a '## Exercises' markdown cell)"
    # after the heading: the questions (Markdown) and the answer and check cells, nothing else
    for cell in exercises:
        tags = cell.metadata.get("tags", [])
        assert cell.cell_type == "markdown" or tags in (["answer"], ["check"]), (
            f"{path.name}: after '## Exercises', a code cell must be an answer or a check cell "
            f"(tags ['answer'] or ['check']); got:\n{cell.source[:200]}"
        )
    source = "\n".join(cell.source for cell in code)
    assert "import attnlab" in source or "from attnlab" in source


@pytest.mark.parametrize("path", PATHS, ids=[path.stem for path in PATHS])
def test_every_lesson_has_checked_exercises_with_solutions(path):
    import attnlab.exercises

    notebook = nbformat.read(path, as_version=4)
    answers, checks = tagged(notebook, "answer"), tagged(notebook, "check")
    assert checks, f"{path.name} asks for no function with a check(...) cell"
    names = [checked_name(cell) for cell in checks]
    assert set(names) <= set(attnlab.exercises.names()), names
    # each check follows the answer cell that defines its function, as a stub
    for name in names:
        defining = [cell for cell in answers if f"def {name}(" in cell.source]
        assert len(defining) == 1, f"{path.name}: one answer cell must define {name}"
        assert attnlab.exercises.check(name, _defined(defining[0].source, name)).status == (
            "not attempted"
        ), f"{path.name}: the answer cell of {name} must be a stub"
    assert solution_file(path).is_file(), f"{path.name} has no {solution_file(path).name}"
    _, functions = solutions(path)
    assert sorted(functions) == sorted(names), (
        f"{solution_file(path).name} must define exactly the functions the lesson checks"
    )


def _defined(source: str, name: str):
    namespace: dict = {}
    exec(compile(source, "<answer cell>", "exec"), namespace)
    return namespace[name]


def test_every_exercise_is_asked_for_in_some_lesson():
    import attnlab.exercises

    asked = {
        checked_name(cell)
        for path in PATHS
        for cell in tagged(nbformat.read(path, as_version=4), "check")
    }
    missing = sorted(set(attnlab.exercises.names()) - asked)
    assert not missing, f"no lesson asks for {missing}"
    assert sorted(path.stem for path in SOLUTIONS.glob("*.py")) == [path.stem for path in PATHS]


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=[path.stem for path in PATHS])
def test_notebook_executes(path, kernel_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir))
    monkeypatch.setenv(RESULTS_VARIABLE, str(tmp_path / "results.jsonl"))
    # draw every figure as Jupyter does (an MPLBACKEND=Agg from the environment never draws, so
    # an error raised only when a figure is rendered would go unnoticed)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(path, as_version=4)
    execute(notebook, f"{path.name}: a cell")
    # every lesson draws: a figure that is never rendered would be an error left unseen
    figures = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]
    assert figures, f"{path.name} executed but displayed no figure"
    # as shipped, every answer is a stub: every check ran, and says so
    checks = [checked_name(cell) for cell in tagged(notebook, "check")]
    recorded = results(tmp_path / "results.jsonl")
    assert [r["name"] for r in recorded] == checks, f"{path.name}: the checks did not all run"
    assert {r["status"] for r in recorded} == {"not attempted"}, recorded


@pytest.mark.slow
def test_lessons_pass_their_checks_with_the_solutions(kernel_dir, monkeypatch, tmp_path):
    """Every lesson's exercise section, answers replaced by the solutions, in one kernel."""
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir))
    monkeypatch.setenv(RESULTS_VARIABLE, str(tmp_path / "results.jsonl"))
    cells, expected = [], []
    for path in PATHS:
        notebook = nbformat.read(path, as_version=4)
        imports, functions = solutions(path)
        for cell in exercise_cells(notebook):
            tags = cell.metadata.get("tags", [])
            if "answer" in tags:
                (name,) = [name for name in functions if f"def {name}(" in cell.source]
                source = f"{imports}\n\n\n{functions[name]}"
                cells.append(nbformat.v4.new_code_cell(source, metadata={"lesson": path.stem}))
            elif "check" in tags:
                cells.append(nbformat.v4.new_code_cell(cell.source, metadata={"lesson": path.stem}))
                expected.append((path.stem, checked_name(cell)))
    solved = nbformat.v4.new_notebook(cells=cells)
    execute(solved, "a solution or check cell")
    recorded = results(tmp_path / "results.jsonl")
    assert [r["name"] for r in recorded] == [name for _, name in expected]
    failed = [
        f"{lesson} {r['name']}: {r['status']}\n{r['feedback']}"
        for (lesson, _), r in zip(expected, recorded, strict=True)
        if r["status"] != "passed"
    ]
    assert not failed, "\n\n".join(failed)
