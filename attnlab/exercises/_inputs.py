"""The inputs of a check and how outputs are compared: small tensors that print as code.

Each input is a :class:`Case` of named arguments. Random arguments carry the line of code that
recreates them (a seeded ``torch.Generator``), so feedback can show any input as code that a
student can paste and run; small ones print as ``torch.tensor([...])`` literals.

References
----------
1. The PyTorch documentation, "Reproducibility": seeded ``torch.Generator`` objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "Case",
    "Given",
    "Outputs",
    "arange",
    "close",
    "literal",
    "non_finite",
    "ones",
    "randn",
    "show",
    "zeros",
]

Outputs = tuple[torch.Tensor, ...]
_PRECISION = {torch.float16: 0, torch.bfloat16: 0, torch.float32: 1, torch.float64: 2}


@dataclass(frozen=True)
class Given:
    """An argument and the code that makes it, for inputs too long to print (random ones)."""

    value: Any
    code: str


def randn(*shape: int, seed: int, scale: float = 1.0, dtype=torch.float32) -> Given:
    """Reproducible normal numbers, with the line of code that recreates them."""
    generator = torch.Generator().manual_seed(seed)
    value = (torch.randn(*shape, generator=generator, dtype=torch.float64) * scale).to(dtype)
    size = ", ".join(map(str, shape))
    code = f"torch.randn({size}, generator=torch.Generator().manual_seed({seed}))"
    code = code if scale == 1 else f"{scale:g} * {code}"
    if dtype != torch.float32:
        code = f"({code}).to({dtype})"
    return Given(value, code)


def literal(value: Any) -> str:
    """Python code that recreates a small tensor or a number."""
    if not isinstance(value, torch.Tensor):
        return repr(value)
    suffix = "" if value.dtype in (torch.float32, torch.int64) else f", dtype={value.dtype}"
    return f"torch.tensor({value.tolist()!r}{suffix})"


def show(tensor: torch.Tensor) -> str:
    """A small tensor's values to 4 significant digits, one row per line; else its shape."""
    if tensor.numel() > 24:
        return f"a tensor of shape {tuple(tensor.shape)}"
    values = tensor.tolist()
    if not isinstance(values, list):
        return f"{values:.4g}" if isinstance(values, float) else repr(values)
    flat = tensor.flatten().tolist()
    text = [repr(x) if isinstance(x, bool | int) else f"{x:.4g}" for x in flat]
    width = max(map(len, text), default=0)
    cells = iter(item.rjust(width) for item in text)

    def nested(shape: tuple[int, ...], depth: int) -> str:
        if len(shape) == 1:
            return "[" + ", ".join(next(cells) for _ in range(shape[0])) + "]"
        separator = ",\n" + " " * (depth + 1)
        return "[" + separator.join(nested(shape[1:], depth + 1) for _ in range(shape[0])) + "]"

    return nested(tuple(tensor.shape), 0)


def zeros(*shape: int) -> Given:
    return Given(torch.zeros(*shape), f"torch.zeros({', '.join(map(str, shape))})")


def ones(*shape: int) -> Given:
    return Given(torch.ones(*shape), f"torch.ones({', '.join(map(str, shape))})")


def arange(*shape: int) -> Given:
    """``0, 1, 2, ...`` in the given shape: inputs whose every entry is told apart."""
    size = 1
    for n in shape:
        size *= n
    code = f"torch.arange({size}.0).reshape({', '.join(map(str, shape))})"
    return Given(torch.arange(float(size)).reshape(shape), code)


class Case:
    """One input: named arguments, tags saying what it tests, and the expected outputs."""

    def __init__(self, tags: Sequence[str] = (), **arguments: Any) -> None:
        self.names = tuple(arguments)
        self.code = {k: v.code for k, v in arguments.items() if isinstance(v, Given)}
        self.args = tuple(v.value if isinstance(v, Given) else v for v in arguments.values())
        self.tags = frozenset(tags)
        self.expected: Outputs | None = None
        tensors = [a for a in self.args if isinstance(a, torch.Tensor) and a.is_floating_point()]
        self.dtype = min((t.dtype for t in tensors), key=_PRECISION.get, default=torch.float32)
        self.size = sum(
            a.numel() if isinstance(a, torch.Tensor) else abs(a) if isinstance(a, int) else 1
            for a in self.args
            if a is not None
        )

    def fresh(self) -> tuple:
        """Copies of the arguments, so that nothing a call does reaches the case itself."""
        return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in self.args)

    def lines(self) -> list[str]:
        return [
            f"    {name} = {self.code.get(name) or literal(value)}"
            for name, value in zip(self.names, self.args, strict=True)
        ]


def close(got: Outputs, expected: Outputs, dtype=torch.float32, atol: float = 1e-5) -> bool:
    """Same shapes and values within float tolerances (float16 looser); NaN equals NaN."""
    if len(got) != len(expected):
        return False
    if dtype in (torch.float16, torch.bfloat16):
        atol, rtol = max(atol, 5e-3), 1e-2
    else:
        rtol = 1e-4
    for a, b in zip(got, expected, strict=True):
        if a.shape != b.shape or (b.dtype == torch.bool) != (a.dtype == torch.bool):
            return False
        if a.is_complex() or not bool(
            torch.isclose(a.double(), b.double(), rtol=rtol, atol=atol, equal_nan=True).all()
        ):
            return False
    return True


def non_finite(got: Outputs, expected: Outputs) -> bool:
    """True when ``got`` has NaN or infinity where ``expected`` is finite."""
    return any(
        a.shape == b.shape and bool((~torch.isfinite(a.double()) & torch.isfinite(b)).any())
        for a, b in zip(got, expected, strict=True)
    )
