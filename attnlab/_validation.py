"""Argument checks shared by every public function: one path, run once per call.

Each check raises ``TypeError`` or ``ValueError`` with a message of the form
``"<function>: <argument> must be <what was expected>; got <what came>."`` so that a learner
sees at once which call, which argument and what to change. The names here are shared across
the package (no underscore); the module is private because users never call it.

The functional core validates its inputs with :func:`check_queries_keys_values` and
:func:`check_mask` and then computes; the ``torch.nn`` modules validate once the same way and
call the core's unchecked kernels, so no call is validated twice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import torch

__all__ = [
    "QueryKeyValue",
    "as_float_tensor",
    "broadcast_shapes",
    "check_bandwidth",
    "check_choice",
    "check_finite",
    "check_mask",
    "check_positive_int",
    "check_probability",
    "check_queries_keys_values",
    "check_valid_lens",
    "common_float_dtype",
    "compute_dtype",
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
    if tensor.layout != torch.strided or tensor.is_nested or tensor.is_quantized:
        raise TypeError(
            f"{func}: {name} must be a dense tensor; got a {tensor.layout} tensor. "
            f"Convert it first, e.g. {name}.to_dense()."
        )
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.get_default_dtype())
    return tensor


def common_float_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """The floating dtype that all ``tensors`` promote to."""
    dtype = tensors[0].dtype
    for tensor in tensors[1:]:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return dtype


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype to compute scores in: float32 for half precision, whose range (65504) a
    product of two moderate numbers or a distance over a small bandwidth overflows."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def broadcast_shapes(func: str, what: str, shapes: dict[str, Sequence[int]]) -> tuple[int, ...]:
    """Broadcast named shapes (NumPy rules), or raise ``ValueError`` naming them.

    Pure Python: ``torch.broadcast_shapes`` imports hundreds of modules on its first call.

    Examples
    --------
    >>> broadcast_shapes("f", "batch axes", {"queries": (2, 1), "keys": (3,)})
    (2, 3)
    """
    result: list[int] = []
    for shape in shapes.values():
        shape = tuple(shape)
        padded = [1] * (len(shape) - len(result)) + result
        aligned = (1,) * (len(padded) - len(shape)) + shape
        for axis, (size, other) in enumerate(zip(padded, aligned, strict=True)):
            if size == 1:
                padded[axis] = other
            elif other not in (1, size):
                listed = ", ".join(f"{name}.shape={tuple(s)}" for name, s in shapes.items())
                raise ValueError(f"{func}: the {what} must broadcast; got {listed}.")
        result = padded
    return tuple(result)


def check_finite(tensor: torch.Tensor, name: str, func: str) -> None:
    """Raise ``ValueError`` if ``tensor`` holds NaN or infinity."""
    finite = torch.isfinite(tensor.detach())
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(
            f"{func}: {name} must be finite; got {bad} NaN or infinite value(s) "
            f"in {name}.shape={tuple(tensor.shape)}."
        )


@dataclass(frozen=True)
class QueryKeyValue:
    """Checked queries, keys and values of one call, ``(*batch, n, d)`` each, in one dtype."""

    queries: torch.Tensor
    keys: torch.Tensor
    values: torch.Tensor
    batch_shape: tuple[int, ...]
    """The broadcast leading (batch) axes of the three."""
    scalar_values: bool
    """The values were scalars ``(n,)``: the output drops its feature axis again."""


def check_queries_keys_values(
    func: str,
    queries: Any,
    keys: Any,
    values: Any,
    *,
    scalar_items: bool = False,
    same_features: bool = True,
    finite: bool = False,
) -> QueryKeyValue:
    """Validate queries, keys and values once, for every pooling and attention.

    Parameters
    ----------
    func : str
        The public function or module, for messages.
    scalar_items : bool
        Accept 1-D ``(n,)`` scalar items (the regression case), viewed as ``(n, 1)``.
    same_features : bool
        Queries and keys must have the same number of features (dot products, distances).
    finite : bool
        Refuse NaN and infinity (data-level functions; models keep NaN-in, NaN-out).
    """
    named = {
        "queries": as_float_tensor(queries, "queries", func),
        "keys": as_float_tensor(keys, "keys", func),
        "values": as_float_tensor(values, "values", func),
    }
    for name, tensor in named.items():
        if tensor.ndim == 0 or (tensor.ndim == 1 and not scalar_items):
            expected = "(n,) for scalar items or (*batch, n, d)" if scalar_items else (
                "(*batch, n, d) with a feature axis"
            )  # fmt: skip
            hint = "" if scalar_items else " For scalar items use x[:, None]."
            raise ValueError(
                f"{func}: {name} must have shape {expected}; "
                f"got {name}.shape={tuple(tensor.shape)}.{hint}"
            )
    scalar_values = named["values"].ndim == 1
    queries, keys, values = (t[:, None] if t.ndim == 1 else t for t in named.values())
    shapes = f"got keys.shape={tuple(keys.shape)}, values.shape={tuple(values.shape)}"
    if keys.shape[-2] != values.shape[-2]:
        raise ValueError(
            f"{func}: keys and values must have the same number of keys; {shapes}. "
            "Keys and values are paired, one value per key."
        )
    if keys.shape[-2] == 0:
        raise ValueError(
            f"{func}: keys must hold at least one key; got keys.shape={tuple(keys.shape)}."
        )
    for name, tensor in (("queries", queries), ("keys", keys)):
        if tensor.shape[-1] == 0:
            raise ValueError(
                f"{func}: {name} must have at least one feature (last axis) to score with; "
                f"got {name}.shape={tuple(named[name].shape)}."
            )
    if same_features and queries.shape[-1] != keys.shape[-1]:
        raise ValueError(
            f"{func}: queries and keys must have the same number of features d (last axis); "
            f"got queries.shape={tuple(queries.shape)}, keys.shape={tuple(keys.shape)}."
        )
    batch_shape = broadcast_shapes(
        func,
        "leading (batch) axes of queries, keys and values",
        {"queries": queries.shape[:-2], "keys": keys.shape[:-2], "values": values.shape[:-2]},
    )
    devices = {t.device for t in (queries, keys, values)}
    if len(devices) > 1:
        listed = ", ".join(
            f"{name}: {t.device}" for name, t in zip(named, (queries, keys, values), strict=True)
        )
        raise ValueError(f"{func}: queries, keys and values must be on one device; got {listed}.")
    if finite:
        for name, tensor in zip(named, (queries, keys, values), strict=True):
            check_finite(tensor, name, func)
    dtype = common_float_dtype(queries, keys, values)
    return QueryKeyValue(
        queries.to(dtype), keys.to(dtype), values.to(dtype), batch_shape, scalar_values
    )


def check_valid_lens(valid_lens: Any, func: str, device: torch.device | None) -> torch.Tensor:
    """``valid_lens`` as an integer-valued tensor of lengths >= 0."""
    if isinstance(valid_lens, torch.Tensor):
        lengths = valid_lens.to(device) if device is not None else valid_lens
    else:
        try:
            lengths = torch.as_tensor(valid_lens, device=device)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(
                f"{func}: valid_lens must be a tensor of integers (how many keys each sequence "
                f"or query may attend to); got {describe(valid_lens)}."
            ) from None
    if lengths.dtype == torch.bool or lengths.is_complex():
        raise TypeError(
            f"{func}: valid_lens must be integers (how many keys each query may attend to); "
            f"got dtype {lengths.dtype}. For a boolean mask pass mask=... instead."
        )
    if lengths.is_floating_point():
        if not bool(torch.isfinite(lengths).all()) or not bool((lengths == lengths.round()).all()):
            raise ValueError(
                f"{func}: valid_lens must hold whole numbers of keys; got {lengths.tolist()}."
            )
    if bool((lengths < 0).any()):
        raise ValueError(f"{func}: valid_lens must be >= 0; got {lengths.tolist()}.")
    return lengths


def check_mask(
    mask: Any, scores_shape: Sequence[int], func: str, device: torch.device | None
) -> torch.Tensor:
    """A boolean mask (True = may attend) that broadcasts *to* ``scores_shape``.

    A mask with more (or larger) axes than the scores would silently widen the result, so it
    is refused rather than broadcast up.
    """
    if not isinstance(mask, torch.Tensor):
        try:
            mask = torch.as_tensor(mask, device=device)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(
                f"{func}: mask must be a boolean tensor where True means 'may attend'; "
                f"got {describe(mask)}."
            ) from None
    if mask.dtype != torch.bool:
        raise TypeError(
            f"{func}: mask must be a boolean tensor where True means 'may attend'; got dtype "
            f"{mask.dtype}. A float mask is ambiguous: torch adds float masks to the scores "
            "as a bias (0 or -inf), while 0/1 masks elsewhere mean the opposite. Convert it "
            "explicitly, e.g. mask=(float_mask == 0) for an additive mask, or add a bias to "
            "the scores yourself."
        )
    scores_shape = tuple(scores_shape)
    fits = mask.ndim <= len(scores_shape) and all(
        size in (1, target)
        for size, target in zip(reversed(mask.shape), reversed(scores_shape), strict=False)
    )
    if not fits:
        raise ValueError(
            f"{func}: mask must broadcast to the scores' shape {scores_shape}; got "
            f"mask.shape={tuple(mask.shape)}. A mask may not add or widen axes of the result."
        )
    return mask if device is None else mask.to(device)


def check_bandwidth(bandwidth: Any, func: str, *, n_features: int | None = None) -> torch.Tensor:
    """Validate a bandwidth: a positive finite number, or a tensor of them (scalar or per feature).

    Returns a tensor (the same object when a tensor was given, so gradients flow).
    """
    if bandwidth is None or isinstance(bandwidth, str | bool):
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
        expected = "a scalar" if n_features in (None, 1) else f"a scalar or {n_features} values"
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
    if not isinstance(value, str) or value not in choices:
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
