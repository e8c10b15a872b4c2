"""Exercises that check themselves: write a function, ``check`` it, read why it is wrong.

``check(name, answer)`` runs the student's function on many inputs (random, edge cases, several
dtypes and batch shapes), compares it with attnlab's own implementation, and when it differs,
names the mistake in plain words, with the smallest input that shows it and a hint. It never
raises because of the answer: an exception, an endless loop or a changed input is feedback.

- ``softmax_rows``: ``f(scores) -> weights``, softmax over the last axis (lesson 01)
- ``nadaraya_watson``: ``f(queries, keys, values, bandwidth) -> (output, weights)``, 1-D (02)
- ``leave_one_out_weights``: ``f(x, bandwidth) -> weights``, each point's on the others (02)
- ``masked_softmax``: ``f(scores, valid_lens) -> weights``, the book's masking (03)
- ``scaled_dot_product``: ``f(queries, keys, values, valid_lens=None) -> (output, weights)`` (03)
- ``positional_encoding``: ``f(max_len, num_hiddens) -> P``, the sinusoid table (04)
- ``split_heads``: ``f(X, num_heads)``, ``(b, n, d)`` to ``(b * num_heads, n, d / num_heads)`` (04)
- ``padding_mask``: ``f(valid_lens, n_keys) -> mask``, True where a key may be attended (05)
- ``leave_one_out_error``: ``f(x, y, bandwidth) -> error``, the mean squared error (06)
- ``additive_attention``: ``f(queries, keys, values, W_q, W_k, w_v, valid_lens=None)`` (07)
- ``causal_mask``: ``f(n) -> mask``, boolean, True where a query may attend (08)

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, chapter 10
   (Chinese 2nd ed.) / 11 (English).
"""

from __future__ import annotations

from typing import Any

from attnlab.exercises._additive import ADDITIVE_ATTENTION
from attnlab.exercises._engine import Exercise, grade
from attnlab.exercises._leave_one_out import LEAVE_ONE_OUT_ERROR, LEAVE_ONE_OUT_WEIGHTS
from attnlab.exercises._masks import CAUSAL_MASK, PADDING_MASK
from attnlab.exercises._pooling import NADARAYA_WATSON
from attnlab.exercises._result import GRADE_RESULTS_VARIABLE, STATUSES, Result, record
from attnlab.exercises._scoring import SCALED_DOT_PRODUCT
from attnlab.exercises._softmax import MASKED_SOFTMAX, SOFTMAX_ROWS
from attnlab.exercises._transformer import POSITIONAL_ENCODING, SPLIT_HEADS

__all__ = ["GRADE_RESULTS_VARIABLE", "STATUSES", "Result", "check", "describe", "names"]

_EXERCISES: dict[str, Exercise] = {
    exercise.name: exercise
    for exercise in (
        SOFTMAX_ROWS,
        NADARAYA_WATSON,
        LEAVE_ONE_OUT_WEIGHTS,
        MASKED_SOFTMAX,
        SCALED_DOT_PRODUCT,
        POSITIONAL_ENCODING,
        SPLIT_HEADS,
        PADDING_MASK,
        LEAVE_ONE_OUT_ERROR,
        ADDITIVE_ATTENTION,
        CAUSAL_MASK,
    )
}


def names() -> list[str]:
    """The exercises :func:`check` knows, in the order of the lessons that ask for them.

    Examples
    --------
    >>> names()[:3]
    ['softmax_rows', 'nadaraya_watson', 'leave_one_out_weights']
    """
    return list(_EXERCISES)


def _exercise(name: Any, func: str) -> Exercise:
    if not isinstance(name, str):
        raise TypeError(
            f"{func}: name must be a string, one of {names()}; got {type(name).__name__} {name!r}."
        )
    if name not in _EXERCISES:
        close = [known for known in _EXERCISES if name.lower() in known or known in name.lower()]
        also = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{func}: name must be one of {names()}; got {name!r}.{also}")
    return _EXERCISES[name]


def describe(name: str) -> str:
    """What the exercise ``name`` asks for, and the mistakes its check recognises.

    Examples
    --------
    >>> print(describe("causal_mask").splitlines()[0])
    causal_mask(n) -> mask
    """
    exercise = _exercise(name, "describe")
    mistakes = "\n".join(f"- {mistake.says.split(': ')[0]}" for mistake in exercise.mistakes)
    return f"{exercise.signature}\n\n{exercise.task}\n\nMistakes it recognises:\n{mistakes}"


def check(name: str, answer: Any, *, time_limit: float = 10.0) -> Result:
    """Check a student's function for the exercise ``name`` against attnlab's own.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    answer : callable
        The student's function, with the signature the exercise asks for. A stub (a body of
        ``...`` or ``pass``, or one that raises ``NotImplementedError``) is "not attempted".
    time_limit : float, default 10.0
        Seconds for all the calls of one check together; a function still running then is
        stopped and reported.

    Returns
    -------
    Result
        ``.passed``, ``.status`` ("passed", "failed" or "not attempted"), ``.name`` and
        ``.feedback``: what is wrong, the smallest input that shows it, and a hint. It prints
        readably in a terminal and renders in Jupyter.

    Raises
    ------
    TypeError, ValueError
        For an unknown exercise name or a bad ``time_limit`` (never because of the answer).

    Examples
    --------
    >>> import torch
    >>> def causal_mask(n):
    ...     return torch.ones(n, n, dtype=torch.bool).triu()
    >>> result = check("causal_mask", causal_mask)
    >>> result.passed
    False
    >>> print(result)
    causal_mask: FAILED
      Your mask is transposed: it lets each query see the future (the keys after it) and hides
      the past. Row i is query i; it may attend to keys 0 to i.
    <BLANKLINE>
      Smallest input that shows it:
    <BLANKLINE>
          n = 2
    <BLANKLINE>
          expected mask:
            [[ True, False],
             [ True,  True]]
          your mask:
            [[ True,  True],
             [False,  True]]
    <BLANKLINE>
      Hint: Which entries of row 0 (the first query) may be True?
    >>> check("causal_mask", lambda n: torch.ones(n, n, dtype=torch.bool).tril()).status
    'passed'
    """
    exercise = _exercise(name, "check")
    if (
        isinstance(time_limit, bool)
        or not isinstance(time_limit, int | float)
        or not (0 < time_limit < float("inf"))
    ):
        raise ValueError(
            f"check: time_limit must be a positive number of seconds; got {time_limit!r}."
        )
    try:
        result = grade(exercise, answer, float(time_limit))
    except Exception as error:  # a flaw in the check itself must not look like the student's
        result = Result(
            name,
            "failed",
            f"attnlab could not check this answer ({type(error).__name__}: {error}). This is a "
            "bug in attnlab, not necessarily in your answer; please report it.",
        )
    record(result)
    return result
