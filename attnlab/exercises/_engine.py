"""How an answer is judged: run it on many inputs, compare with attnlab, and name the mistake.

An exercise is a reference (attnlab's own implementation), a list of inputs ordered from the
smallest, and the mistakes learners make, each a wrong implementation or a symptom with words
and a hint. The answer runs on every input; where it is wrong, the mistake that explains the
smallest such input (and, of those, the most inputs) is named, with that input, the expected
and the returned values, and the hint.

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, chapter 10
   (Chinese 2nd ed.) / 11 (English).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from attnlab.exercises._inputs import Case, Outputs, close, show
from attnlab.exercises._result import Result
from attnlab.exercises._running import as_tensor, call, is_stub, same

__all__ = ["Exercise", "Mistake", "grade", "like"]


@dataclass(frozen=True, eq=False)
class Mistake:
    """A mistake learners make: what it is in plain words, a hint, and how to recognise it.

    ``explains(case, got, expected)`` is True when the returned outputs ``got`` show it.
    """

    says: str
    hint: str
    explains: Callable[[Case, Outputs, Outputs], bool]


def like(model: Callable[..., Outputs], atol: float = 1e-5) -> Callable:
    """Recognise a mistake by a wrong implementation that returns what the answer returned."""

    def explains(case: Case, got: Outputs, expected: Outputs) -> bool:
        wrong = tuple(model(*case.fresh()))
        return close(got, wrong, case.dtype, atol) and not close(wrong, expected, case.dtype, atol)

    return explains


@dataclass(eq=False)
class Exercise:
    """An exercise: the task, attnlab's reference, the inputs and the mistakes it recognises."""

    name: str
    signature: str
    task: str
    outputs: tuple[str, ...]
    reference: Callable[..., Outputs]
    make_cases: Callable[[], list[Case]]
    mistakes: list[Mistake]
    hint: str
    covered: str
    atol: float = 1e-5
    mutation_hint: str = "work on new tensors: out-of-place operations never touch the input."
    _cases: list[Case] | None = field(default=None, repr=False)

    @property
    def cases(self) -> list[Case]:
        if self._cases is None:
            cases = sorted(self.make_cases(), key=lambda case: case.size)  # stable
            for case in cases:
                upcast = tuple(
                    a.double() if isinstance(a, torch.Tensor) and a.is_floating_point() else a
                    for a in case.fresh()
                )
                case.expected = tuple(t.detach() for t in self.reference(*upcast))
            self._cases = cases
        return self._cases


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if value is None:
        return "None"
    text = repr(value)
    return f"{type(value).__name__} {text[:40] + '...' if len(text) > 40 else text}"


def _convert(exercise: Exercise, value: Any) -> Outputs | str:
    """The returned outputs as tensors, or a sentence saying why they are not."""
    names = exercise.outputs
    if len(names) == 1:
        items = (value,)
    elif isinstance(value, tuple | list) and len(value) == len(names):
        items = tuple(value)
    else:
        return f"Your function returned {_describe(value)}; expected a pair ({', '.join(names)})."
    tensors = tuple(as_tensor(item) for item in items)
    for name, item, tensor in zip(names, items, tensors, strict=True):
        if tensor is None:
            return f"Your function returned {_describe(item)} as {name}; expected a tensor."
    return tensors


def _returned(exercise: Exercise, value: Any) -> Outputs | str:
    if value is None:
        return "Your function returned None: is a `return` missing?"
    return _convert(exercise, value)


def _comparison(exercise: Exercise, got: Outputs, expected: Outputs, dtype) -> list[str]:
    lines = []
    for name, a, b in zip(exercise.outputs, got, expected, strict=True):
        if close((a,), (b,), dtype, exercise.atol):
            continue
        if a.shape != b.shape:
            lines.append(f"    your {name} have shape {tuple(a.shape)}; expected {tuple(b.shape)}")
            if a.numel() > 24 or b.numel() > 24:
                continue
        if a.numel() <= 24 and b.numel() <= 24:
            lines += _labelled(f"expected {name}", show(b)) + _labelled(f"your {name}", show(a))
            if a.dtype != b.dtype and b.dtype == torch.bool:
                lines.append(f"    (yours: dtype {a.dtype}; expected torch.bool)")
            continue
        bad = ~torch.isclose(a.double(), b.double(), rtol=1e-4, atol=exercise.atol, equal_nan=True)
        index = tuple(bad.nonzero()[0].tolist())
        lines.append(
            f"    {name}{list(index)}: expected {b[index].item():.4g}, yours {a[index].item():.4g} "
            f"({int(bad.sum())} of {bad.numel()} entries differ)"
        )
    return lines


def _labelled(label: str, text: str) -> list[str]:
    if "\n" not in text:
        return [f"    {label + ':':<20} {text}"]
    return [f"    {label}:"] + [f"      {line}" for line in text.splitlines()]


def _paragraphs(*parts: str | list[str]) -> str:
    return "\n\n".join("\n".join(p) if isinstance(p, list) else p for p in parts if p)


@dataclass
class _Problem:
    index: int
    key: Any
    text: str
    short: str


def _safely(mistake: Mistake, case: Case, got: Outputs, expected: Outputs) -> bool:
    try:
        return bool(mistake.explains(case, got, expected))
    except Exception:  # a recogniser that cannot apply to this output does not explain it
        return False


def _raised(error: BaseException, message: str, where: str) -> tuple[str, str]:
    """What was raised and where (one line), and a sentence on what it usually means."""
    kind = type(error).__name__
    said = f"{kind}: {message}" if message else kind
    place = f"It was raised at {where}." if where else ""
    if isinstance(error, SystemExit):
        why = "A function should return its result; exit() and sys.exit() stop the program."
    elif isinstance(error, KeyboardInterrupt):
        why = "That is what an interrupt raises: was the function stopped by hand?"
    elif isinstance(error, NotImplementedError):
        why = "Part of your function is still to write."
    else:
        why = ""
    return f"Your function raised {said}", f"{place} {why}".strip()


def grade(exercise: Exercise, answer: Any, time_limit: float) -> Result:
    """Judge ``answer`` on every input of ``exercise``; never raises because of the answer."""
    name = exercise.name
    if answer is None or answer is Ellipsis or is_stub(answer):
        return Result(name, "not attempted", _not_attempted(exercise))
    if not callable(answer):
        return Result(
            name,
            "failed",
            f"check expects your function itself, as in check({name!r}, {name}); got "
            f"{_describe(answer)}.",
        )
    deadline = time.monotonic() + time_limit
    problems: list[_Problem] = []
    wrong: list[tuple[int, Case, Outputs]] = []
    seen: set = set()
    cases = exercise.cases
    for index, case in enumerate(cases):
        args = case.fresh()
        # the conversion runs inside the time limit too: a returned object is the student's code
        outcome = call(
            lambda args=args: _returned(exercise, answer(*args)),
            max(deadline - time.monotonic(), 0.01),
        )
        if outcome.timed_out:
            problems.append(_timeout(index, case, time_limit, len(cases), outcome.left_running))
            break
        if outcome.error is not None:
            if index == 0 and isinstance(outcome.error, NotImplementedError):
                return Result(name, "not attempted", _not_attempted(exercise))
            said, why = _raised(outcome.error, outcome.message, outcome.where)
            key = ("raised", type(outcome.error))
            if key not in seen:
                seen.add(key)
                if case.dtype == torch.float16:
                    why += " This input is float16: its numbers stop at 65504 (-1e6 does not fit)."
                text = _paragraphs(f"{said}, on this input:", case.lines(), why.strip())
                problems.append(_Problem(index, key, text, f"{said}, on another input."))
            continue
        for arg_name, before, after in zip(case.names, case.args, args, strict=True):
            if not same(before, after) and "mutated" not in seen:
                seen.add("mutated")
                problems.append(_mutated(exercise, index, case, arg_name, before, after))
        got = outcome.value
        if isinstance(got, str):
            if "type" not in seen:
                seen.add("type")
                problems.append(_Problem(index, "type", _paragraphs(got, case.lines()), got))
            continue
        if not close(got, case.expected, case.dtype, exercise.atol):
            wrong.append((index, case, got))
    problems += _diagnose(exercise, wrong)
    if not problems:
        return Result(name, "passed", f"Correct on all {len(cases)} inputs: {exercise.covered}.")
    problems.sort(key=lambda problem: problem.index)
    feedback = [problems[0].text]
    feedback += [f"Also: {problem.short}" for problem in problems[1:3]]
    return Result(name, "failed", _paragraphs(*feedback))


def _diagnose(exercise: Exercise, wrong: list[tuple[int, Case, Outputs]]) -> list[_Problem]:
    explained_by = {
        mistake: {i for i, case, got in wrong if _safely(mistake, case, got, case.expected)}
        for mistake in exercise.mistakes
    }
    explained: set[int] = set()
    problems = []
    for index, case, got in wrong:
        if index in explained:
            continue
        candidates = [m for m in exercise.mistakes if index in explained_by[m]]
        comparison = _comparison(exercise, got, case.expected, case.dtype)
        intro = "Smallest input that shows it:"
        if candidates:
            mistake = max(candidates, key=lambda m: len(explained_by[m]))  # first of the most
            explained |= explained_by[mistake]
            text = _paragraphs(
                mistake.says, intro, [*case.lines(), "", *comparison], f"Hint: {mistake.hint}"
            )
            first = mistake.says.split(". ")[0]
            problems.append(_Problem(index, mistake, text, first.rstrip(".") + "."))
        elif not any(problem.key == "wrong" for problem in problems):
            says = f"Your function returns wrong {' and '.join(exercise.outputs)}."
            short = "your function returns wrong values on another input too; check again "
            short += "after fixing the first problem."
            text = _paragraphs(
                says, intro, [*case.lines(), "", *comparison], f"Hint: {exercise.hint}"
            )
            problems.append(_Problem(index, "wrong", text, short))
    return problems


def _not_attempted(exercise: Exercise) -> str:
    return (
        f"Not attempted yet: write {exercise.signature} in the answer cell, run that cell, then "
        f"run this check again. {exercise.task}"
    )


def _timeout(index: int, case: Case, time_limit: float, n_cases: int, left: bool) -> _Problem:
    says = (
        f"Your function did not return within the time limit ({time_limit:g} s for all "
        f"{n_cases} inputs of this exercise); it was stopped on this input:"
    )
    if left:
        says = says.replace("it was stopped", "it ignored every attempt to stop it")
        left_text = (
            "It is still running in the background and slows everything down: restart the "
            "kernel (an `except:` that catches everything also catches the stop)."
        )
    else:
        left_text = ""
    hint = "Hint: is there a loop that never ends, or one over far more items than needed?"
    short = says.split(";")[0] + "."
    return _Problem(index, "timeout", _paragraphs(says, case.lines(), left_text, hint), short)


def _mutated(exercise, index, case, arg_name, before, after) -> _Problem:
    says = (
        f"Your function changed its input `{arg_name}` in place: the caller's tensor is not the "
        "same after the call, so whoever still needs it (another head, the next layer, the "
        "backward pass) gets wrong numbers without any error."
    )
    values = _labelled(f"{arg_name} before", show(before)) + _labelled(
        f"{arg_name} after", show(after)
    )
    text = _paragraphs(
        says, "Input:", [*case.lines(), "", *values], f"Hint: {exercise.mutation_hint}"
    )
    return _Problem(index, "mutated", text, says.split(":")[0] + ".")
