"""Execute one student notebook in a fresh kernel of its own process, for attnlab.grading.

:func:`run_notebook` (the grader's side) runs this file as a script, ``NOTEBOOK STATUS_FILE
TIMEOUT``, in a new process for each notebook, so
that nothing a notebook does reaches the grader or the other notebooks, and kills its process
group if it overruns. The kernel runs this interpreter (a kernelspec written to a temporary
folder), so it imports the same attnlab; the checks in the notebook append their results to the
file named by ``ATTNLAB_GRADE_RESULTS``. How the run ended goes to STATUS_FILE as JSON:
``{"status": "ok" | "unreadable" | "timed out" | "kernel died" | "error", "detail": ...,
"cell_errors": ...}``.

References
----------
1. The Jupyter ``nbclient`` documentation, "Executing notebooks".
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["execute", "run_notebook"]

KERNEL_NAME = "attnlab-grade-python"
_GRACE_S = 180.0  # kernel start-up (120 s at most) and shut-down, beyond the cells' budget
# the worker runs this file as a script: it needs only the standard library and nbclient, so
# it starts without importing attnlab (the kernel does that, when the notebook asks for it)
_BOOT = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"


def _results(path: Path) -> dict[str, dict]:
    """The last result of each exercise in a results file; lines that are not results skipped."""
    from attnlab.exercises import STATUSES

    results: dict[str, dict] = {}
    if not path.is_file():
        return results
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(record, dict)
            and isinstance(record.get("name"), str)
            and record.get("status") in STATUSES
        ):
            results[record["name"]] = {
                "status": record["status"],
                "feedback": str(record.get("feedback", "")),
            }
    return results


def run_notebook(path: Path, timeout: float, folder: Path) -> tuple[dict, dict[str, dict]]:
    """Execute one notebook in a worker process (the grader's side); how it ended, its results."""
    from attnlab.exercises import GRADE_RESULTS_VARIABLE

    results, status_file, log = folder / "results.jsonl", folder / "status.json", folder / "log.txt"
    environment = {**os.environ, GRADE_RESULTS_VARIABLE: str(results), "MPLBACKEND": "Agg"}
    script = str(Path(__file__).resolve())
    command = [sys.executable, "-c", _BOOT, script, str(path.resolve()), str(status_file)]
    command.append(str(timeout))
    with open(log, "wb") as stderr:
        worker = subprocess.Popen(
            command,
            env=environment,
            stdin=subprocess.DEVNULL,
            cwd=folder,
            stdout=stderr,
            stderr=stderr,
            start_new_session=True,  # its own process group, killed as one if it overruns
        )
        try:
            worker.wait(timeout + _GRACE_S)
        except BaseException as stop:  # overrun, or the teacher pressed Ctrl-C: end it all
            _kill(worker)
            if not isinstance(stop, subprocess.TimeoutExpired):
                raise
            return {"status": "timed out", "detail": f"stopped after {timeout:g} s"}, _results(
                results
            )
    try:
        status = json.loads(status_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
        status = {
            "status": "error",
            "detail": f"the grading process failed ({' '.join(tail) or worker.returncode})",
        }
    return status, _results(results)


def _kill(worker: subprocess.Popen) -> None:
    try:
        os.killpg(worker.pid, signal.SIGKILL)
    except (AttributeError, ProcessLookupError, PermissionError):
        worker.kill()
    worker.wait()


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300]}" if text else type(error).__name__


def _kernelspec(root: Path) -> None:
    spec = root / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "attnlab grading", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")


def execute(notebook_path: Path, timeout: float) -> dict:
    """Execute the notebook; return how it ended (never raises)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    try:
        notebook = nbformat.read(notebook_path, as_version=4)
    except Exception as error:  # not JSON, not a notebook, unreadable bytes
        return {"status": "unreadable", "detail": f"not a readable notebook ({_first_line(error)})"}
    deadline: list[float] = []

    def remaining(cell) -> int:
        # one budget for all the cells of the notebook, from the first cell on (the kernel's
        # start-up has its own limit): each cell gets what is left of it
        if not deadline:
            deadline.append(time.monotonic() + timeout)
        return max(1, math.ceil(deadline[0] - time.monotonic()))

    with tempfile.TemporaryDirectory(prefix="attnlab-grade-") as folder:
        _kernelspec(Path(folder))
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [folder, *filter(None, [os.environ.get("JUPYTER_PATH")])]
        )
        client = NotebookClient(
            notebook,
            timeout_func=remaining,
            startup_timeout=120,
            kernel_name=KERNEL_NAME,
            allow_errors=True,  # a cell that raises must not keep the later checks from running
            record_timing=False,
            resources={"metadata": {"path": str(notebook_path.parent)}},
        )
        try:
            client.execute()
            status = {"status": "ok", "detail": ""}
        except CellTimeoutError:
            status = {"status": "timed out", "detail": f"stopped after {timeout:g} s"}
        except DeadKernelError as error:
            status = {"status": "kernel died", "detail": f"the kernel died ({_first_line(error)})"}
        except Exception as error:
            status = {"status": "error", "detail": f"could not run it ({_first_line(error)})"}
    status["cell_errors"] = sum(
        output.get("output_type") == "error"
        for cell in notebook.cells
        if cell.get("cell_type") == "code"
        for output in cell.get("outputs", [])
    )
    return status


def main(argv: list[str]) -> int:
    notebook, status_file, timeout = argv
    status = execute(Path(notebook), float(timeout))
    Path(status_file).write_text(json.dumps(status), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[-3:]))
