"""Grade a class: execute every student notebook in its own process and collect its checks.

Each notebook runs in a fresh kernel of its own process, with one time budget for the whole
notebook, so that an endless loop, a crash or a dying kernel ends that notebook only. The
``check(...)`` calls in it append their results to a file that the grader names in the
kernel's environment (``ATTNLAB_GRADE_RESULTS``), not to the notebook's outputs, so nothing a
student prints can pass for a result. The report is a table (notebook x exercise: passed,
failed, not attempted) and a CSV with one row per notebook and exercise.

Grading needs ``nbclient``, ``nbformat`` and ``ipykernel``: ``pip install "attnlab[grade]"``.

References
----------
1. The Jupyter ``nbclient`` documentation, "Executing notebooks".
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from attnlab._grading_worker import run_notebook

__all__ = [
    "DEFAULT_TIMEOUT",
    "DESCRIPTION",
    "EPILOG",
    "NOTEBOOK_ROW",
    "Grade",
    "Report",
    "grade",
    "grade_command",
    "require_grading_packages",
]

DEFAULT_TIMEOUT = 600.0
NOTEBOOK_ROW = "(notebook)"  # the exercise column of a row about the notebook as a whole
_INSTALL = 'pip install "attnlab[grade]"'

DESCRIPTION = (
    "Execute each student notebook in its own process and collect the results of its "
    "attnlab.exercises.check(...) calls: prints a table (notebook x exercise: passed, failed, "
    "not attempted) and, with --out, writes a CSV."
)
EPILOG = f"""\
NOTEBOOK_OR_DIR is a .ipynb file or a folder, searched recursively for *.ipynb (checkpoint
folders skipped). Each notebook runs in a fresh kernel of its own process with this Python,
for at most --timeout seconds in all; a notebook that cannot be read, whose kernel dies or
that runs out of time gets a row saying so, and the others are graded as usual. Cells that
raise do not stop a notebook: the checks after them still run.

The CSV has one row per notebook and exercise: file, exercise, status, feedback; a row with
exercise "{NOTEBOOK_ROW}" reports a notebook that could not be run to its end.

Grading needs nbclient, nbformat and ipykernel: {_INSTALL}

examples:
  attnlab grade submissions/
  attnlab grade alice.ipynb bob.ipynb --out report.csv --timeout 120

exit codes:
  0  every notebook was graded (whatever its students' results)
  1  runtime failure (grading packages missing, the CSV cannot be written)
  2  usage error (a path that does not exist, a folder without notebooks, a bad --timeout)"""


@dataclass(frozen=True)
class Grade:
    """One row of the report: a notebook's result for one exercise, or for itself.

    Examples
    --------
    >>> Grade("alice.ipynb", "causal_mask", "passed", "Correct on all 6 inputs.").status
    'passed'
    """

    file: str
    exercise: str
    status: str
    feedback: str


@dataclass
class Report:
    """Every notebook's grades, with the exercises as columns.

    Attributes
    ----------
    files : list of str
        The notebooks, as named in the report.
    exercises : list of str
        The exercises, in the order of :func:`attnlab.exercises.names`.
    rows : list of Grade
        One per notebook and exercise, plus one per notebook that could not be run to its end.

    Examples
    --------
    >>> report = Report(
    ...     ["alice.ipynb", "bob.ipynb"],
    ...     ["causal_mask"],
    ...     [
    ...         Grade("alice.ipynb", "causal_mask", "passed", ""),
    ...         Grade("bob.ipynb", "causal_mask", "not attempted", ""),
    ...         Grade("bob.ipynb", NOTEBOOK_ROW, "timed out", "stopped after 600 s"),
    ...     ],
    ... )
    >>> print(report.table())
    notebook     causal_mask    run
    -----------  -------------  ---------
    alice.ipynb  passed         ok
    bob.ipynb    not attempted  timed out
    >>> report.status("bob.ipynb", "causal_mask")
    'not attempted'
    """

    files: list[str]
    exercises: list[str]
    rows: list[Grade]

    def status(self, file: str, exercise: str) -> str:
        """The status of ``exercise`` in ``file``; ``""`` when there is no such row."""
        return next(
            (row.status for row in self.rows if (row.file, row.exercise) == (file, exercise)), ""
        )

    def table(self) -> str:
        """A plain-text table: one line per notebook, one column per exercise."""
        header = ["notebook", *self.exercises, "run"]
        lines = [header]
        for file in self.files:
            problem = self.status(file, NOTEBOOK_ROW)
            lines.append([file, *(self.status(file, e) for e in self.exercises), problem or "ok"])
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = [
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
            for line in lines
        ]
        return "\n".join([text[0], "  ".join("-" * w for w in widths), *text[1:]])

    def write_csv(self, path: str | os.PathLike) -> None:
        """Write the rows as CSV: ``file, exercise, status, feedback``."""
        with open(path, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["file", "exercise", "status", "feedback"])
            writer.writerows((r.file, r.exercise, r.status, r.feedback) for r in self.rows)


def require_grading_packages(func: str = "grade") -> None:
    """Raise ``ImportError`` saying how to install the grading packages when one is missing.

    Examples
    --------
    >>> require_grading_packages() is None  # nbclient, nbformat and ipykernel are installed
    True
    """
    missing = []
    for package in ("nbclient", "nbformat", "ipykernel"):
        try:
            __import__(package)
        except ImportError:
            missing.append(package)
    if missing:
        raise ImportError(
            f"{func}: grading notebooks needs {', '.join(missing)}, which are not installed. "
            f"Install them with: {_INSTALL}"
        )


def _notebooks(paths: Sequence[str | os.PathLike]) -> list[tuple[str, Path]]:
    """(name in the report, file) for every notebook the paths name, in the order given."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    found: list[tuple[str, Path]] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            inside = sorted(
                p
                for p in path.rglob("*.ipynb")
                if p.is_file() and ".ipynb_checkpoints" not in p.parts
            )
            if not inside:
                raise ValueError(
                    f"grade: paths must hold notebooks; found no *.ipynb in {str(given)!r}."
                )
            found += [(str(p.relative_to(path)), p) for p in inside]
        elif path.is_file():
            found.append((str(given), path))
        else:
            raise ValueError(
                f"grade: paths must be notebooks or folders; {str(given)!r} does not exist."
            )
    if not found:
        raise ValueError("grade: paths must name at least one notebook or folder; got none.")
    if len({name for name, _ in found}) < len(found):  # the same name in two folders
        found = [(str(path), path) for _, path in found]
    return found


def grade(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    exercises: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Execute every notebook and collect the results of its exercise checks.

    Parameters
    ----------
    paths : path or sequence of paths
        Notebooks, and folders searched recursively for ``*.ipynb``.
    timeout : float, default 600
        Seconds for each notebook as a whole; a notebook still running then is stopped.
    exercises : sequence of str, optional
        The report's columns; by default every exercise checked in any notebook.
    progress : callable, optional
        Called with one line per notebook as it is graded (for example ``print``).

    Returns
    -------
    Report
        ``.rows`` (file, exercise, status, feedback), ``.table()`` and ``.write_csv(path)``.

    Raises
    ------
    ImportError
        When nbclient, nbformat or ipykernel is missing (the message says how to install them).
    ValueError
        For a path that does not exist, a folder without notebooks or a bad ``timeout``.

    Examples
    --------
    >>> report = grade("submissions/")  # doctest: +SKIP
    >>> print(report.table())  # doctest: +SKIP
    """
    require_grading_packages("grade")
    from attnlab.exercises import STATUSES, names  # torch, only once there is work to do

    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout < float("inf")
    ):
        raise ValueError(f"grade: timeout must be a positive number of seconds; got {timeout!r}.")
    notebooks = _notebooks(paths)
    outcomes = []
    for name, path in notebooks:
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="attnlab-grade-") as folder:
            status, results = run_notebook(path, float(timeout), Path(folder))
        outcomes.append((name, status, results))
        if progress is not None:
            counts = {s: sum(r["status"] == s for r in results.values()) for s in STATUSES}
            summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no checks"
            ended = "" if status["status"] == "ok" else f"; {status['status']}"
            progress(f"{name}: {summary}{ended} ({time.monotonic() - start:.1f} s)")
    if exercises is None:
        seen = {exercise for _, _, results in outcomes for exercise in results}
        exercises = [n for n in names() if n in seen] + sorted(seen - set(names()))
    rows = []
    for name, status, results in outcomes:
        errors = status.get("cell_errors", 0)
        if status["status"] != "ok":
            note = f" before the notebook stopped ({status['status']})"
        elif errors:
            note = f" ({errors} cell{'s' if errors != 1 else ''} raised an error)"
        else:
            note = ""
        for exercise in exercises:
            if exercise in results:
                rows.append(
                    Grade(
                        name, exercise, results[exercise]["status"], results[exercise]["feedback"]
                    )
                )
            else:
                missing = f"No check of this exercise ran in the notebook{note}."
                rows.append(Grade(name, exercise, "not attempted", missing))
        if status["status"] != "ok":
            rows.append(Grade(name, NOTEBOOK_ROW, status["status"], status.get("detail", "")))
    return Report([name for name, _, _ in outcomes], list(exercises), rows)


def grade_command(
    paths: Sequence[str],
    out: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    quiet: bool = False,
) -> int:
    """``attnlab grade``: grade, print the table to stdout, write the CSV; return the exit code.

    Progress and messages go to stderr (nothing with ``quiet`` but errors). Returns 0 when
    every notebook was graded, 1 on a runtime failure, 2 on a usage error.

    Examples
    --------
    >>> grade_command(["no-such-folder/"])  # says why on stderr
    2
    """

    def say(message: str) -> None:
        print(message, file=sys.stderr)

    def error(message: str) -> None:
        say(f"attnlab grade: error: {message.removeprefix('grade: ')}")

    if out is not None and Path(out).is_dir():
        error(f"--out must be a file name; {out!r} is a folder.")
        return 2
    try:
        report = grade(paths, timeout=timeout, progress=None if quiet else say)
    except ImportError as problem:
        error(str(problem))
        return 1
    except ValueError as problem:
        error(str(problem))
        return 2
    print(report.table())
    if out is not None:
        try:
            report.write_csv(out)
        except OSError as problem:
            error(f"cannot write {out!r}: {problem.strerror or problem}.")
            return 1
        if not quiet:
            say(f"wrote {out} ({len(report.rows)} rows)")
    return 0
