"""Timing helpers shared by the benchmarks: best of several runs, wall and CPU time, ratios."""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import time
from typing import NamedTuple

import torch

__all__ = ["Timing", "best_of", "fresh_process", "header", "line", "once", "threads"]


class Timing(NamedTuple):
    wall: float
    """Wall-clock seconds."""
    cpu: float
    """CPU seconds of this process, all threads: steadier on a machine shared with other jobs."""


def best_of(func, repeats: int = 5) -> Timing:
    """Best wall and CPU time of ``repeats`` calls after one warm-up call."""
    func()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        func()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Timing(min(walls), min(cpus))


def once(func) -> tuple[Timing, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), result


def line(name: str, timing: Timing, reference: Timing | None = None, extra: str = "") -> None:
    """Print wall and CPU milliseconds, and the speed-up over ``reference`` on both."""
    ratio = ""
    if reference is not None:
        ratio = f"x{reference.wall / timing.wall:5.1f} x{reference.cpu / timing.cpu:5.1f}"
    print(
        f"  {name:<44} {timing.wall * 1e3:8.1f} {timing.cpu * 1e3:8.1f}  {ratio:<13} {extra}",
        flush=True,
    )


def header() -> None:
    print(f"  {'':<44} {'wall ms':>8} {'CPU ms':>8}  {'x wall x CPU':<13}")


@contextlib.contextmanager
def threads(count: int):
    """Run with ``count`` torch threads, then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fresh_process(code: str, repeats: int = 5) -> tuple[float, list[float]]:
    """Median wall time of ``python -c code`` in fresh processes (after one warm-up run, which
    fills the file cache), and every run's time."""

    def run() -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        return time.perf_counter() - start

    run()
    times = [run() for _ in range(repeats)]
    return statistics.median(times), times
