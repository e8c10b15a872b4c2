"""Read attention weights that a user saved from their own model, without ever unpickling.

A pickle can run any code when it is loaded, so a weights file from a stranger must be read
with loaders that refuse it: NumPy with ``allow_pickle=False``, PyTorch with
``weights_only=True`` and safetensors, which has no code path for objects at all.

References
----------
1. NumPy, ``numpy.load``: "Loading files that contain object arrays uses the pickle module,
   which is not secure against erroneous or maliciously constructed data."
2. PyTorch, ``torch.load``: ``weights_only=True`` restricts the unpickler to tensors,
   primitive types and dictionaries.
3. Hugging Face, safetensors: a format for storing tensors safely (no pickle).
"""

from __future__ import annotations

import pickle
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EXTENSIONS", "LoadError", "load_weights"]

EXTENSIONS: tuple[str, ...] = (".npy", ".npz", ".pt", ".pth", ".safetensors")
"""File extensions that :func:`load_weights` reads."""

_NO_PICKLE = (
    "attnlab never unpickles, because unpickling can run arbitrary code; "
    "save plain numeric arrays or tensors instead"
)


class LoadError(ValueError):
    """A weights file that cannot be read safely or does not hold drawable weights."""


def load_weights(path: str | Path, key: str | None = None) -> np.ndarray:
    """Read a 2-D to 4-D array of attention weights from a NumPy, PyTorch or safetensors file.

    Parameters
    ----------
    path : str or Path
        The file; its extension picks the loader (one of :data:`EXTENSIONS`).
    key : str, optional
        Which array of a file that holds several (``.npz``, a dict in ``.pt``, ``.safetensors``).
        Not needed when the file holds exactly one.

    Returns
    -------
    weights : numpy.ndarray with 2 to 4 axes
        ``(n_queries, n_keys)``, ``(panels, n_queries, n_keys)`` or
        ``(rows, cols, n_queries, n_keys)``, floating point and finite. Leading axes of size 1
        beyond four are dropped, so a ``(1, layers, heads, q, k)`` stack is drawn as
        ``layers x heads``.

    Raises
    ------
    LoadError
        With a one-sentence reason: missing file, unknown extension, a file that needs
        unpickling, a missing or ambiguous key, a wrong rank, non-numeric values, NaN.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> path = Path(tempfile.mkdtemp()) / "weights.npy"
    >>> np.save(path, np.eye(3))
    >>> load_weights(path).shape
    (3, 3)
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        raise LoadError(
            f"{path.name}: unknown file type {suffix or '(no extension)'!r}; "
            f"expected one of {', '.join(EXTENSIONS)}."
        )
    if not path.exists():
        raise LoadError(f"{path}: no such file.")
    if not path.is_file():
        raise LoadError(f"{path}: not a file.")
    if suffix == ".npy":
        array = _load_npy(path)
        if key is not None:
            raise LoadError(
                f"{path.name}: --key is for files that hold several arrays; a .npy file holds one."
            )
    elif suffix == ".npz":
        array = _load_npz(path, key)
    elif suffix == ".safetensors":
        array = _tensor_to_numpy(_pick(_load_safetensors(path), key, path), path)
    else:
        array = _load_torch(path, key)
    return _check_weights(array, path)


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        if "pickle" not in str(error):
            raise LoadError(f"{path.name}: not a readable .npy file ({_reason(error)}).") from None
        with path.open("rb") as file:
            is_npy = file.read(6) == b"\x93NUMPY"
        what = "an array of Python objects" if is_npy else "no NumPy array header"
        raise LoadError(
            f"{path.name} has {what} and could only be read by unpickling; {_NO_PICKLE}, "
            "e.g. np.save(path, weights.astype(float))."
        ) from None
    except (OSError, EOFError) as error:
        raise LoadError(f"{path.name}: not a readable .npy file ({_reason(error)}).") from None


def _load_npz(path: Path, key: str | None) -> np.ndarray:
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as error:
        if "pickle" in str(error):
            raise LoadError(
                f"{path.name} is not a .npz archive but a pickle; {_NO_PICKLE}."
            ) from None
        raise LoadError(f"{path.name}: not a readable .npz file ({_reason(error)}).") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise LoadError(f"{path.name}: not a readable .npz file ({_reason(error)}).") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise LoadError(f"{path.name}: not a .npz archive (it holds a single array; name it .npy).")
    with archive:
        name = _choose_key(list(archive.files), key, path)
        try:
            return archive[name]
        except ValueError as error:
            if "pickle" in str(error):
                raise LoadError(
                    f"{path.name}: array {name!r} holds Python objects, which only unpickling "
                    f"could read; {_NO_PICKLE}."
                ) from None
            raise LoadError(
                f"{path.name}: cannot read array {name!r} ({_reason(error)})."
            ) from None
        except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
            raise LoadError(
                f"{path.name}: cannot read array {name!r} ({_reason(error)})."
            ) from None


def _load_torch(path: Path, key: str | None) -> np.ndarray:
    import torch

    try:
        # weights_only=True: the unpickler accepts tensors, numbers, strings, lists and dicts and
        # refuses every other global, so a crafted file cannot run code
        content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # the restricted unpickler names the global (class or function) that it refused to load
        found = re.search(r"GLOBAL ([\w.]+)", str(error))
        if found or "global" in str(error).lower():
            refers = f" (it refers to {found.group(1)})" if found else ""
            raise LoadError(
                f"{path.name} holds Python objects{refers}, not only tensors, and could only be "
                f"read by unpickling; {_NO_PICKLE}, e.g. torch.save(weights.detach().cpu(), path)."
            ) from None
        raise LoadError(
            f"{path.name}: not a file written by torch.save ({_reason(error)})."
        ) from None
    except Exception as error:  # torch raises RuntimeError, EOFError, ... on a corrupt file
        raise LoadError(
            f"{path.name}: not a file written by torch.save ({_reason(error)})."
        ) from None
    if isinstance(content, dict):
        tensors = {
            str(name): value for name, value in content.items() if isinstance(value, torch.Tensor)
        }
        if not tensors:
            raise LoadError(f"{path.name}: the dictionary it holds has no tensors.")
        content = _pick(tensors, key, path)
    elif key is not None:
        raise LoadError(
            f"{path.name}: --key is for a saved dictionary of tensors; "
            f"this file holds a {type(content).__name__}."
        )
    if (
        isinstance(content, list | tuple)
        and content
        and all(isinstance(item, torch.Tensor) for item in content)
    ):
        # a tuple of per-layer weights, as models return with output_attentions=True
        shapes = {tuple(item.shape) for item in content}
        if len(shapes) != 1:
            raise LoadError(
                f"{path.name}: cannot stack the tensors of the list it holds; their shapes "
                f"differ: {sorted(shapes)}."
            )
        content = torch.stack(list(content))  # (layers, *shape)
    if not isinstance(content, torch.Tensor):
        raise LoadError(
            f"{path.name}: expected a tensor, a list of tensors or a dict of tensors; "
            f"got a {type(content).__name__}."
        )
    return _tensor_to_numpy(content, path)


def _load_safetensors(path: Path) -> dict[str, Any]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise LoadError(
            f"{path.name}: reading .safetensors needs the safetensors package "
            "(pip install safetensors)."
        ) from None
    try:
        tensors = load_file(path, device="cpu")
    except Exception as error:  # safetensors raises its own SafetensorError
        raise LoadError(
            f"{path.name}: not a readable .safetensors file ({_reason(error)})."
        ) from None
    return tensors


def _tensor_to_numpy(tensor: Any, path: Path) -> np.ndarray:
    tensor = tensor.detach().cpu()
    if tensor.dtype.is_floating_point and tensor.element_size() <= 2:
        tensor = tensor.float()  # NumPy has no bfloat16 or float8
    try:
        return tensor.numpy()
    except TypeError as error:
        raise LoadError(
            f"{path.name}: weights of dtype {tensor.dtype} cannot be drawn ({_reason(error)})."
        ) from None


def _pick(arrays: dict[str, Any], key: str | None, path: Path) -> Any:
    return arrays[_choose_key(list(arrays), key, path)]


def _choose_key(names: list[str], key: str | None, path: Path) -> str:
    shown = ", ".join(repr(name) for name in names[:20]) + (" ..." if len(names) > 20 else "")
    if key is None:
        if len(names) == 1:
            return names[0]
        if not names:
            raise LoadError(f"{path.name}: the file holds no arrays.")
        raise LoadError(
            f"{path.name} holds {len(names)} arrays; choose one with --key (one of {shown})."
        )
    if key not in names:
        raise LoadError(f"{path.name}: no array named {key!r}; it holds {shown}.")
    return key


def _check_weights(array: np.ndarray, path: Path) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype.kind == "c":
        raise LoadError(f"{path.name}: weights must be real numbers; got dtype {array.dtype}.")
    if array.dtype.kind not in "biuf":
        raise LoadError(f"{path.name}: weights must be numeric; got dtype {array.dtype}.")
    # drop leading axes of size 1 beyond the four that are drawn: (1, layers, heads, q, k)
    while array.ndim > 4 and 1 in array.shape[:-2]:
        array = array.squeeze(array.shape.index(1))
    if not 2 <= array.ndim <= 4:
        raise LoadError(
            f"{path.name}: weights must have 2 to 4 axes, (n_queries, n_keys), (panels, n_queries, "
            f"n_keys) or (rows, cols, n_queries, n_keys); got shape {array.shape}."
        )
    if array.size == 0:
        raise LoadError(f"{path.name}: weights are empty; got shape {array.shape}.")
    array = array.astype(np.float64 if array.dtype == np.float64 else np.float32, copy=False)
    finite = np.isfinite(array)
    if not finite.all():
        raise LoadError(
            f"{path.name}: weights must be finite; got {int((~finite).sum())} NaN or infinite "
            f"value(s) in shape {array.shape}."
        )
    return array


def _reason(error: BaseException) -> str:
    """The first line of an error message, prefixed by its type: ``"KeyError: '101'"``."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
