"""The ``attnlab`` command as a learner meets it: ``--help`` and ``attnlab demo``, end to end.

1. ``attnlab --help`` in fresh processes against ``python -c "import torch"`` (target: under
   0.2x; the command parses its arguments before importing torch).
2. ``attnlab demo`` (the default run, output piped as in a notebook's ``!attnlab demo`` or a CI
   log): when its first line appears, its total time, and the time of each stage, read from its
   stage lines as they arrive, against ``python -c "import torch, matplotlib.pyplot"`` (targets:
   first line within 0.2x of the total, total at most 2x the imports).

Run with ``python -m benchmarks command``.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._timing import fresh_process

COMMAND = [sys.executable, "-m", "attnlab"]


def bench_help() -> None:
    print("\n1) attnlab --help, fresh processes, median of 7 runs")
    torch_import, _ = fresh_process("import torch", repeats=7)
    code = "import sys; from attnlab.cli import main; sys.argv = ['attnlab', '--help']; main()"
    help_time, _ = fresh_process(code, repeats=7)
    ratio = help_time / torch_import
    print(f"  import torch      {torch_import * 1e3:7.0f} ms")
    print(
        f"  attnlab --help    {help_time * 1e3:7.0f} ms   {ratio:.2f}x import torch "
        f"(target < 0.2x: {'met' if ratio < 0.2 else 'MISSED'})",
        flush=True,
    )


def demo_run(folder: Path) -> tuple[float, list[tuple[float, str]]]:
    """Total seconds, and (seconds since start, line) for each stage line on stderr."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [*COMMAND, "demo", "--out", str(folder), "--force"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    stages = [(time.perf_counter() - start, line.rstrip()) for line in process.stderr]
    process.wait()
    assert process.returncode == 0, stages
    return time.perf_counter() - start, stages


def bench_demo(runs: int = 3) -> None:
    print(f"\n2) attnlab demo, output piped, median of {runs} runs")
    imports, _ = fresh_process("import torch, matplotlib.pyplot", repeats=5)
    folder = Path(tempfile.mkdtemp())
    try:
        demo_run(folder)  # warm the file cache
        results = sorted((demo_run(folder) for _ in range(runs)), key=lambda run: run[0])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    total, stages = results[len(results) // 2]
    first = stages[0][0]
    print(f"  python -c 'import torch, matplotlib.pyplot'   {imports:6.2f} s")
    print(f"  attnlab demo, in all                          {total:6.2f} s   "
          f"{total / imports:.2f}x the imports (target <= 2x: "
          f"{'met' if total <= 2 * imports else 'MISSED'})")  # fmt: skip
    print(f"  first line after                              {first:6.2f} s   "
          f"{first / total:.2f} of the total (target <= 0.2: "
          f"{'met' if first <= 0.2 * total else 'MISSED'})")  # fmt: skip
    print("  by stage (time until the next line):")
    for (at, text), (after, _) in zip(stages, [*stages[1:], (total, "")], strict=True):
        print(f"    {after - at:6.2f} s  {text.removeprefix('attnlab demo: ')}")
    spread = statistics.pstdev(run[0] for run in results)
    print(f"  totals of the {runs} runs: {', '.join(f'{run[0]:.2f}' for run in results)} s "
          f"(spread {spread:.2f} s)", flush=True)  # fmt: skip


def main() -> None:
    bench_help()
    bench_demo()


if __name__ == "__main__":
    main()
