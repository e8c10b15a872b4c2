"""Argument checks of the d2l layer, in attnlab's form: "f: x must be ...; got ..."."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import torch

__all__ = ["check_dropout", "check_size", "describe"]


def describe(value: Any) -> str:
    """Short description of ``value`` for an error message."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def check_dropout(value: Any, func: str, name: str = "dropout") -> float:
    """A dropout probability in [0, 1), as a float."""
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value):
        raise TypeError(f"{func}: {name} must be a number in [0, 1); got {describe(value)}.")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{func}: {name} must be in [0, 1); got {name}={value}.")
    return float(value)


def check_size(value: Any, func: str, name: str) -> int:
    """A positive integer size (a bool is not an integer here)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{func}: {name} must be a positive integer; got {value!r}.")
    return int(value)
