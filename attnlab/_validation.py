"""Argument checks shared by every public function.

Each check raises ``TypeError`` or ``ValueError`` with a message of the form
``"<function>: <argument> must be <what was expected>; got <what came>."`` so that a learner
sees at once which call, which argument and what to change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import torch

__all__ = [
    "as_float_tensor",
    "check_bandwidth",
    "check_choice",
    "check_finite",
    "check_positive_int",
    "check_probability",
    "common_float_dtype",
    "describe",
]


def describe(value: Any) -> str:
    """Short description of ``value`` for an error message."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"an array of shape {tuple(shape)} and dtype {dtype}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def as_float_tensor(value: Any, name: str, func: str) -> torch.Tensor:
    """Convert ``value`` (tensor, NumPy array, nested list, number) to a floating tensor.

    Floating tensors pass through unchanged (same object, same device, grad kept); integer
    and boolean input becomes the default float dtype.
    """
    if isinstance(value, torch.Tensor):
        tensor = value
    else:
        try:
            tensor = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"{func}: {name} must be a tensor, a NumPy array or a nested list of numbers; "
                f"got {describe(value)}."
            ) from error
    if tensor.is_complex():
        raise TypeError(f"{func}: {name} must be real-valued; got {describe(tensor)}.")
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.get_default_dtype())
    return tensor


def common_float_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """The floating dtype that all ``tensors`` promote to."""
    dtype = tensors[0].dtype
    for tensor in tensors[1:]:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return dtype


def check_finite(tensor: torch.Tensor, name: str, func: str) -> None:
    """Raise ``ValueError`` if ``tensor`` holds NaN or infinity."""
    if not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise ValueError(
            f"{func}: {name} must be finite; got {bad} NaN or infinite value(s) "
            f"in {name}.shape={tuple(tensor.shape)}."
        )


def check_bandwidth(bandwidth: Any, func: str, *, n_features: int | None = None) -> torch.Tensor:
    """Validate a bandwidth: a positive finite number, or a tensor of them (scalar or per feature).

    Returns a tensor (the same object when a tensor was given, so gradients flow).
    """
    if isinstance(bandwidth, str | bool):
        hint = (
            " (Bandwidth selection by name, such as 'loo', belongs to NadarayaWatsonRegressor.)"
            if isinstance(bandwidth, str)
            else ""
        )
        raise TypeError(
            f"{func}: bandwidth must be a positive number or a tensor of positive numbers; "
            f"got {describe(bandwidth)}.{hint}"
        )
    tensor = as_float_tensor(bandwidth, "bandwidth", func)
    values = tensor.detach()
    if values.ndim > 1 or (
        values.ndim == 1 and n_features is not None and values.numel() not in (1, n_features)
    ):
        expected = "a scalar" if n_features is None else f"a scalar or {n_features} values"
        raise ValueError(
            f"{func}: bandwidth must be {expected} (one per feature); "
            f"got bandwidth.shape={tuple(values.shape)}."
        )
    if (
        values.numel() == 0
        or not bool((values > 0).all())
        or not bool(torch.isfinite(values).all())
    ):
        shown = values.item() if values.numel() == 1 else values.tolist()
        raise ValueError(f"{func}: bandwidth must be positive and finite; got bandwidth={shown}.")
    return tensor


def check_positive_int(value: Any, name: str, func: str) -> int:
    """Raise ``ValueError`` unless ``value`` is an integer >= 1 (a bool is not an integer here)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{func}: {name} must be a positive integer; got {value!r}.")
    return value


def check_choice(value: Any, name: str, func: str, choices: Sequence[str]) -> str:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        options = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{func}: {name} must be one of {options}; got {value!r}.")
    return value


def check_probability(value: Any, name: str, func: str) -> float:
    """Raise unless ``value`` is a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value):
        raise TypeError(f"{func}: {name} must be a number in [0, 1); got {describe(value)}.")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{func}: {name} must be in [0, 1); got {name}={value}.")
    return float(value)
