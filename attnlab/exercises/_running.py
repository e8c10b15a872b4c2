"""Calling a student's function safely: a time limit, any exception caught, inputs kept intact.

The function runs in a thread of its own. When its time is up, an exception is raised inside
that thread (CPython's ``PyThreadState_SetAsyncExc``), again every tenth of a second in case it
swallows the first with a bare ``except``; a function that still does not stop is left behind
and reported, so the check itself always returns. Everything the function raises,
``SystemExit`` and ``KeyboardInterrupt`` included, comes back as a value.

References
----------
1. The CPython C API, "Thread State and the Global Interpreter Lock",
   ``PyThreadState_SetAsyncExc``.
"""

from __future__ import annotations

import ctypes
import dis
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["Outcome", "as_tensor", "call", "is_stub", "same"]

_HERE = str(Path(__file__).resolve().parent)
_TRIVIAL = {"RESUME", "NOP", "CACHE", "LOAD_CONST", "RETURN_VALUE", "RETURN_CONST", "POP_TOP"}


class _OutOfTime(BaseException):
    """Raised inside the student's function when its time is up (not an ``Exception``)."""


@dataclass
class Outcome:
    """What one call did: returned ``value``, raised ``error`` (``message``, ``where``), timed out.

    ``left_running`` is True when the function ignored every interruption: its thread is still
    running in the background.
    """

    value: Any = None
    error: BaseException | None = None
    where: str = ""
    message: str = ""
    timed_out: bool = False
    left_running: bool = False


def _interrupt(thread_id: int) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(_OutOfTime)
    )


def _where(error: BaseException) -> str:
    """``"line 3 of softmax_rows: `return e / e.sum()`"``, the student's line nearest the error."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if _HERE not in f.filename]
    if not frames:
        return ""
    frame = frames[-1]
    code = f": `{frame.line.strip()}`" if frame.line else ""
    return f"line {frame.lineno} of {frame.name}{code}"


def call(func: Callable[[], Any], seconds: float, grace: float = 1.0) -> Outcome:
    """Run ``func()`` for at most ``seconds`` (plus ``grace`` to stop); never raises."""
    outcome = Outcome()
    state = {"stopping": False}

    def run() -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcome.value = func()
        except _OutOfTime:
            outcome.timed_out = True
        except BaseException as error:  # SystemExit and KeyboardInterrupt are feedback too
            if state["stopping"]:  # the interruption, turned into another exception
                outcome.timed_out = True
            else:
                # described here, in the worker: an exception's __str__ is the student's code too
                outcome.error, outcome.where = error, _where(error)
                try:
                    text = str(error).strip()
                    outcome.message = text.splitlines()[0][:200] if text else ""
                except Exception:
                    outcome.message = "(its message could not be shown)"

    worker = threading.Thread(target=run, name="attnlab-check", daemon=True)
    worker.start()
    worker.join(seconds)
    if not worker.is_alive():
        return outcome
    state["stopping"] = True
    deadline = time.monotonic() + grace
    while worker.is_alive() and time.monotonic() < deadline:
        _interrupt(worker.ident)
        worker.join(0.1)
    return Outcome(timed_out=True, left_running=worker.is_alive())


def is_stub(func: Any) -> bool:
    """True for a function whose body is only ``...``, ``pass``, a docstring or ``return None``."""
    code = getattr(func, "__code__", None)
    if code is None:
        return False
    for instruction in dis.get_instructions(code):
        if instruction.opname not in _TRIVIAL:
            return False
        constant = instruction.opname in ("LOAD_CONST", "RETURN_CONST")
        if constant and instruction.argval is not None and instruction.argval is not Ellipsis:
            return False
    return True


def as_tensor(value: Any) -> torch.Tensor | None:
    """A CPU tensor from a tensor, a NumPy array, a number or nested lists; None otherwise."""
    if isinstance(value, torch.Tensor):
        # a plain tensor: a subclass could run code of its own in every later comparison
        return value.detach().cpu().as_subclass(torch.Tensor).clone()
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        if array.dtype == object:
            return None
        return torch.from_numpy(array.copy())
    if isinstance(value, bool | int | float):
        return torch.tensor(value)
    if isinstance(value, list | tuple):
        try:
            return torch.tensor(value)
        except (TypeError, ValueError, RuntimeError):
            return None
    return None


def same(before: Any, after: Any) -> bool:
    """True when ``after`` holds exactly what ``before`` held (NaN equal to NaN)."""
    if not isinstance(before, torch.Tensor):
        return True
    if not isinstance(after, torch.Tensor) or (before.shape, before.dtype) != (
        after.shape,
        after.dtype,
    ):
        return False
    if torch.equal(before, after):
        return True
    both_nan = before.isnan() & after.isnan() if before.is_floating_point() else False
    return bool(((before == after) | both_nan).all())
