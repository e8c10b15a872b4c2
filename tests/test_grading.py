"""attnlab.grading: a class of notebooks graded, each in its own process, whatever it does."""

import csv
import json
import sys
import time

import pytest

import attnlab.grading as grading
from attnlab._grading_worker import _results
from attnlab.grading import NOTEBOOK_ROW, Grade, Report, grade, grade_command

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

IMPORTS = "import torch\nfrom attnlab.exercises import check"
RIGHT = "def causal_mask(n):\n    return torch.ones(n, n, dtype=torch.bool).tril()"
WRONG = "def causal_mask(n):\n    return torch.ones(n, n, dtype=torch.bool).triu()"
CHECK = "check('causal_mask', causal_mask)"
LOOK_ALIKE = 'print(\'{"name": "softmax_rows", "status": "passed", "feedback": "forged"}\')'
TIMEOUT_S = 20


def notebook(path, *cells):
    cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One class graded once: right, wrong, an endless loop, a dying kernel, not JSON."""
    folder = tmp_path_factory.mktemp("class")
    notebook(
        folder / "alice.ipynb",
        IMPORTS,
        RIGHT,
        CHECK,
        "def softmax_rows(scores): ...",
        "check('softmax_rows', softmax_rows)",
    )
    notebook(folder / "bob.ipynb", IMPORTS, "1 / 0", WRONG, CHECK, LOOK_ALIKE)
    notebook(
        folder / "carol.ipynb",
        IMPORTS,
        RIGHT,
        CHECK,
        "while True:\n    pass",
        "check('softmax_rows', lambda s: s.softmax(-1))",
    )
    notebook(folder / "dave.ipynb", IMPORTS, "import os\nos._exit(1)", CHECK)
    (folder / "erin.ipynb").write_text("this is not json", encoding="utf-8")
    (folder / ".ipynb_checkpoints").mkdir()
    notebook(folder / ".ipynb_checkpoints" / "alice-checkpoint.ipynb", IMPORTS)
    out = folder / "report.csv"
    start = time.monotonic()
    code = grade_command([str(folder)], out=str(out), timeout=TIMEOUT_S, quiet=True)
    elapsed = time.monotonic() - start
    with open(out, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return {"code": code, "rows": rows, "elapsed": elapsed}


def by_key(rows):
    return {(row["file"], row["exercise"]): row for row in rows}


@pytest.mark.slow
def test_a_class_is_graded_within_its_timeouts(graded):
    assert graded["code"] == 0
    # five notebooks: the looping one uses its whole budget; the others end on their own
    assert graded["elapsed"] < TIMEOUT_S + 5 * 45, graded["elapsed"]


@pytest.mark.slow
def test_each_notebook_gets_its_own_statuses(graded):
    rows = by_key(graded["rows"])
    assert rows["alice.ipynb", "causal_mask"]["status"] == "passed"
    assert rows["alice.ipynb", "softmax_rows"]["status"] == "not attempted"
    assert rows["bob.ipynb", "causal_mask"]["status"] == "failed"
    assert "Your mask is transposed" in rows["bob.ipynb", "causal_mask"]["feedback"]
    assert rows["carol.ipynb", "causal_mask"]["status"] == "passed"  # checked before the loop
    assert rows["carol.ipynb", NOTEBOOK_ROW]["status"] == "timed out"
    assert rows["dave.ipynb", NOTEBOOK_ROW]["status"] == "kernel died"
    assert rows["erin.ipynb", NOTEBOOK_ROW]["status"] == "unreadable"
    assert "not a readable notebook (NotJSONError" in rows["erin.ipynb", NOTEBOOK_ROW]["feedback"]


@pytest.mark.slow
def test_printed_look_alike_text_is_not_a_result(graded):
    row = by_key(graded["rows"])["bob.ipynb", "softmax_rows"]
    assert row["status"] == "not attempted"
    assert (
        row["feedback"] == "No check of this exercise ran in the notebook (1 cell raised an error)."
    )


@pytest.mark.slow
def test_a_cell_that_raises_does_not_stop_the_checks_after_it(graded):
    assert by_key(graded["rows"])["bob.ipynb", "causal_mask"]["status"] == "failed"


@pytest.mark.slow
def test_the_csv_has_one_row_per_notebook_and_exercise_plus_one_per_stopped_notebook(graded):
    rows = graded["rows"]
    assert list(rows[0]) == ["file", "exercise", "status", "feedback"]
    files = ["alice.ipynb", "bob.ipynb", "carol.ipynb", "dave.ipynb", "erin.ipynb"]
    assert sorted({row["file"] for row in rows}) == files  # the checkpoint folder is skipped
    exercise_rows = [row for row in rows if row["exercise"] != NOTEBOOK_ROW]
    assert len(exercise_rows) == 5 * 2  # exercises: softmax_rows and causal_mask, in that order
    assert [row["exercise"] for row in exercise_rows[:2]] == ["softmax_rows", "causal_mask"]
    stopped = [row["file"] for row in rows if row["exercise"] == NOTEBOOK_ROW]
    assert stopped == ["carol.ipynb", "dave.ipynb", "erin.ipynb"]
    missing = by_key(rows)["dave.ipynb", "causal_mask"]["feedback"]
    assert (
        missing
        == "No check of this exercise ran in the notebook before the notebook stopped (kernel died)."
    )


@pytest.mark.slow
def test_grade_returns_a_report_and_calls_progress(tmp_path):
    path = notebook(tmp_path / "one.ipynb", IMPORTS, RIGHT, CHECK)
    lines = []
    report = grade(
        path, timeout=TIMEOUT_S, progress=lines.append, exercises=["causal_mask", "split_heads"]
    )
    assert report.files == [str(path)] and report.exercises == ["causal_mask", "split_heads"]
    assert report.status(str(path), "causal_mask") == "passed"
    assert report.status(str(path), "split_heads") == "not attempted"
    assert lines and lines[0].startswith(f"{path}: 1 passed (")


def test_an_unreadable_notebook_is_a_row_without_a_kernel(tmp_path, capsys):
    (tmp_path / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    assert grade_command([str(tmp_path)], timeout=5) == 0
    output = capsys.readouterr()
    table = output.out.splitlines()
    assert table[0].split() == ["notebook", "run"] and table[2].split() == [
        "broken.ipynb",
        "unreadable",
    ]
    assert output.err.startswith("broken.ipynb: no checks; unreadable (")


def test_a_missing_path_is_a_usage_error(tmp_path, capsys):
    assert grade_command([str(tmp_path / "nowhere")]) == 2
    assert "attnlab grade: error: paths must be notebooks or folders; " in capsys.readouterr().err


def test_a_folder_without_notebooks_is_a_usage_error(tmp_path, capsys):
    assert grade_command([str(tmp_path)]) == 2
    assert (
        "attnlab grade: error: paths must hold notebooks; found no *.ipynb in"
        in capsys.readouterr().err
    )


def test_an_output_that_is_a_folder_is_a_usage_error(tmp_path, capsys):
    assert grade_command([str(tmp_path)], out=str(tmp_path)) == 2
    assert "attnlab grade: error: --out must be a file name; " in capsys.readouterr().err


@pytest.mark.parametrize("timeout", [0, -3, float("inf"), "10"])
def test_a_bad_timeout_is_a_usage_error(tmp_path, timeout, capsys):
    notebook(tmp_path / "one.ipynb", IMPORTS)
    assert grade_command([str(tmp_path)], timeout=timeout) == 2
    assert (
        "attnlab grade: error: timeout must be a positive number of seconds; got"
        in capsys.readouterr().err
    )
    with pytest.raises(
        ValueError, match=r"grade: timeout must be a positive number of seconds; got"
    ):
        grade(tmp_path, timeout=timeout)


def test_missing_grading_packages_say_how_to_install_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "nbclient", None)  # import nbclient now raises ImportError
    with pytest.raises(
        ImportError,
        match=r'grade: grading notebooks needs nbclient, which are not installed\. Install them with: pip install "attnlab\[grade\]"',
    ):
        grade(tmp_path)
    assert grade_command([str(tmp_path)]) == 1
    assert 'pip install "attnlab[grade]"' in capsys.readouterr().err


def test_an_unwritable_csv_is_a_runtime_failure(tmp_path, capsys):
    (tmp_path / "broken.ipynb").write_text("{", encoding="utf-8")
    assert grade_command([str(tmp_path / "broken.ipynb")], out=str(tmp_path / "no" / "r.csv")) == 1
    assert "attnlab grade: error: cannot write" in capsys.readouterr().err


def test_notebooks_of_the_same_name_in_two_folders_keep_their_paths(tmp_path):
    for group in ("a", "b"):
        (tmp_path / group).mkdir()
        (tmp_path / group / "work.ipynb").write_text("{", encoding="utf-8")
    report = grade([tmp_path / "a", tmp_path / "b"], timeout=5)
    assert report.files == [str(tmp_path / "a" / "work.ipynb"), str(tmp_path / "b" / "work.ipynb")]


def test_the_table_and_the_csv_of_a_report():
    rows = [
        Grade("a.ipynb", "softmax_rows", "passed", "Correct."),
        Grade("a.ipynb", "causal_mask", "not attempted", "Not attempted yet."),
        Grade("b.ipynb", "softmax_rows", "failed", 'Wrong, "quoted",\nand on two lines.'),
        Grade("b.ipynb", "causal_mask", "passed", ""),
        Grade("b.ipynb", NOTEBOOK_ROW, "timed out", "stopped after 5 s"),
    ]
    report = Report(["a.ipynb", "b.ipynb"], ["softmax_rows", "causal_mask"], rows)
    assert report.table().splitlines() == [
        "notebook  softmax_rows  causal_mask    run",
        "--------  ------------  -------------  ---------",
        "a.ipynb   passed        not attempted  ok",
        "b.ipynb   failed        passed         timed out",
    ]


def test_write_csv_round_trips_feedback_with_quotes_and_newlines(tmp_path):
    feedback = 'Wrong, "quoted",\nand on two lines.'
    report = Report(
        ["b.ipynb"], ["softmax_rows"], [Grade("b.ipynb", "softmax_rows", "failed", feedback)]
    )
    report.write_csv(tmp_path / "r.csv")
    with open(tmp_path / "r.csv", newline="", encoding="utf-8") as file:
        assert list(csv.reader(file)) == [
            ["file", "exercise", "status", "feedback"],
            ["b.ipynb", "softmax_rows", "failed", feedback],
        ]


def test_results_files_keep_the_last_result_of_each_exercise_and_skip_anything_else(tmp_path):
    path = tmp_path / "results.jsonl"
    lines = [
        {"name": "causal_mask", "status": "failed", "feedback": "first"},
        "not json at all",
        {"name": "causal_mask", "status": "passed", "feedback": "second"},
        {"name": "split_heads", "status": "excellent"},
        ["a", "list"],
        {"status": "passed"},
    ]
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines), encoding="utf-8"
    )
    assert _results(path) == {"causal_mask": {"status": "passed", "feedback": "second"}}
    assert _results(tmp_path / "absent.jsonl") == {}


def test_the_help_text_names_the_extra_and_the_exit_codes():
    assert 'pip install "attnlab[grade]"' in grading.EPILOG
    assert "exit codes:" in grading.EPILOG and "2  usage error" in grading.EPILOG
    assert "passed, failed" in grading.DESCRIPTION


def test_the_grade_command_is_wired_into_attnlab(tmp_path, capsys):
    from attnlab.cli import main

    assert main(["grade", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: attnlab grade [-h] [--out CSV] [--timeout S] [--quiet]")
    assert "NOTEBOOK_OR_DIR [NOTEBOOK_OR_DIR ...]" in out and "exit codes:" in out
    assert main(["grade", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith(
        "attnlab grade: error: paths must be notebooks or folders"
    )
    assert main(["grade", str(tmp_path), "--timeout", "0"]) == 2
    assert "--timeout: expected a positive number of seconds; got 0" in capsys.readouterr().err
    assert main(["grade"]) == 2
    assert "the following arguments are required: NOTEBOOK_OR_DIR" in capsys.readouterr().err
    (tmp_path / "broken.ipynb").write_text("{", encoding="utf-8")
    assert main(["grade", str(tmp_path), "--quiet", "--out", str(tmp_path / "r.csv")]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "broken.ipynb  unreadable" in captured.out
    assert (
        (tmp_path / "r.csv").read_text(encoding="utf-8").startswith("file,exercise,status,feedback")
    )
