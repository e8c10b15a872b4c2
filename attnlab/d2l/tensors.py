"""The book's framework-neutral tensor vocabulary: ``d2l.ones``, ``d2l.reshape``, ``d2l.numpy``, ...

The book writes its cells once for several frameworks through short aliases; for PyTorch each
is a torch function or a one-line method call. This module gives the same names the same
meaning, plus the small checks (``check_shape``, ``check_len``) and device helpers the cells use.

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning* (English edition,
   2023, and Chinese 2nd edition), the aliases of its ``d2l.torch`` module.
"""

from __future__ import annotations

from typing import Any

import torch

from attnlab._validation import describe

__all__ = [
    "ShapeMismatchError",
    "abs",
    "add_to_class",
    "arange",
    "argmax",
    "astype",
    "batch_matmul",
    "check_len",
    "check_shape",
    "concat",
    "cos",
    "cosh",
    "cpu",
    "exp",
    "expand_dims",
    "eye",
    "float32",
    "gpu",
    "int32",
    "int64",
    "linspace",
    "log",
    "matmul",
    "meshgrid",
    "normal",
    "num_gpus",
    "numpy",
    "ones",
    "ones_like",
    "rand",
    "randn",
    "reduce_mean",
    "reduce_sum",
    "repeat",
    "reshape",
    "sigmoid",
    "sin",
    "sinh",
    "size",
    "stack",
    "swapaxes",
    "tanh",
    "tensor",
    "to",
    "transpose",
    "try_all_gpus",
    "try_gpu",
    "zeros",
    "zeros_like",
]

# torch functions under the book's names (the book's aliases are these very functions)
ones, ones_like, zeros, zeros_like = torch.ones, torch.ones_like, torch.zeros, torch.zeros_like
tensor, arange, linspace, eye, meshgrid = (
    torch.tensor,
    torch.arange,
    torch.linspace,
    torch.eye,
    torch.meshgrid,
)
sin, sinh, cos, cosh, tanh, sigmoid = (
    torch.sin,
    torch.sinh,
    torch.cos,
    torch.cosh,
    torch.tanh,
    torch.sigmoid,
)
exp, log, abs = torch.exp, torch.log, torch.abs
normal, rand, randn = torch.normal, torch.rand, torch.randn
matmul, batch_matmul, concat, stack = torch.matmul, torch.bmm, torch.cat, torch.stack
int32, int64, float32 = torch.int32, torch.int64, torch.float32


# the book's method aliases: each calls the tensor's method of the same meaning
def numpy(x: torch.Tensor, *args, **kwargs):
    """``x`` as a NumPy array, detached (and copied to the CPU first if needed)."""
    return x.detach().cpu().numpy(*args, **kwargs)


def size(x: torch.Tensor) -> int:
    """Number of elements of ``x``."""
    return x.numel()


def reshape(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.reshape(*args)``."""
    return x.reshape(*args, **kwargs)


def to(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.to(*args)``."""
    return x.to(*args, **kwargs)


def reduce_sum(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.sum(*args)``."""
    return x.sum(*args, **kwargs)


def reduce_mean(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.mean(*args)``."""
    return x.mean(*args, **kwargs)


def argmax(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.argmax(*args)``."""
    return x.argmax(*args, **kwargs)


def astype(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.type(dtype)``: ``x`` converted to ``dtype``."""
    return x.type(*args, **kwargs)


def transpose(x: torch.Tensor) -> torch.Tensor:
    """``x.t()``: the transpose of a matrix (a tensor of at most two axes)."""
    return x.t()


def expand_dims(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.unsqueeze(axis)``."""
    return x.unsqueeze(*args, **kwargs)


def swapaxes(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.swapaxes(axis0, axis1)``."""
    return x.swapaxes(*args, **kwargs)


def repeat(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.repeat(*sizes)``."""
    return x.repeat(*args, **kwargs)


class ShapeMismatchError(ValueError, AssertionError):
    """Raised by :func:`check_shape` and :func:`check_len`.

    An ``AssertionError`` as in the book, and a ``ValueError`` as everywhere in attnlab.
    """


def check_shape(a: Any, shape) -> None:
    """Raise unless tensor ``a`` has shape ``shape`` (the book's ``check_shape``).

    Unlike an ``assert``, the check also runs under ``python -O``.

    Examples
    --------
    >>> import torch
    >>> check_shape(torch.ones(2, 3), (2, 3))
    >>> try:
    ...     check_shape(torch.ones(2, 3), (3, 2))
    ... except AssertionError as error:  # also a ValueError
    ...     print(error)
    check_shape: tensor's shape (2, 3) != expected shape (3, 2).
    """
    if not hasattr(a, "shape"):
        raise TypeError(f"check_shape: a must be a tensor; got {describe(a)}.")
    if tuple(a.shape) != tuple(shape):
        raise ShapeMismatchError(
            f"check_shape: tensor's shape {tuple(a.shape)} != expected shape {tuple(shape)}."
        )


def check_len(a: Any, n: int) -> None:
    """Raise unless ``len(a) == n`` (the book's ``check_len``).

    Examples
    --------
    >>> check_len([1, 2], 2)
    """
    if len(a) != n:
        raise ShapeMismatchError(f"check_len: list's length {len(a)} != expected length {n}.")


def add_to_class(cls: type):
    """Decorator that adds the decorated function to ``cls`` as a method (the book's).

    Examples
    --------
    >>> class A:
    ...     pass
    >>> @add_to_class(A)
    ... def twice(self, x):
    ...     return 2 * x
    >>> A().twice(3)
    6
    """
    if not isinstance(cls, type):
        raise TypeError(f"add_to_class: cls must be a class; got {describe(cls)}.")

    def register(function):
        setattr(cls, function.__name__, function)
        return function

    return register


def cpu() -> torch.device:
    """The CPU device."""
    return torch.device("cpu")


def num_gpus() -> int:
    """Number of CUDA devices available."""
    return torch.cuda.device_count()


def gpu(i: int = 0) -> torch.device:
    """The ``i``-th CUDA device (which need not exist)."""
    return torch.device(f"cuda:{i}")


def try_gpu(i: int = 0) -> torch.device:
    """The ``i``-th CUDA device if it exists, else the CPU.

    Examples
    --------
    >>> import torch
    >>> try_gpu() == (torch.device("cuda:0") if torch.cuda.is_available() else cpu())
    True
    """
    return gpu(i) if num_gpus() >= i + 1 else cpu()


def try_all_gpus() -> list[torch.device]:
    """Every CUDA device, or ``[cpu()]`` when there is none."""
    return [gpu(i) for i in range(num_gpus())] or [cpu()]
