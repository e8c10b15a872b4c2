"""Read attention weights that a user saved from their own model, never running what a file holds.

A pickle can run any code when it is loaded, and a file's header can claim any shape, so a
weights file from a stranger is read in two steps: first its headers alone (the ``.npy`` header,
the zip directory, the pickled description of a ``torch.save`` file, the safetensors JSON), each
checked against the bytes that the file really holds and against the size of what can be drawn;
then only the data of the one array that is drawn. Every failure, of any format, becomes one
:class:`LoadError` saying what the file is and what attnlab expects.

References
----------
1. NumPy, "The .npy format" (``numpy.lib.format``): magic string, version, a header that is a
   Python dict literal with ``descr``, ``fortran_order`` and ``shape``; and ``numpy.load``:
   "Loading files that contain object arrays uses the pickle module, which is not secure
   against erroneous or maliciously constructed data."
2. PyTorch, ``torch.load``: ``weights_only=True`` restricts the unpickler to tensors,
   primitive types and dictionaries; ``mmap=True`` maps storages instead of reading them.
3. Hugging Face, safetensors format: an 8-byte little-endian header length, a JSON header
   ``{name: {dtype, shape, data_offsets}}``, then the raw data (no pickle).
4. PKWARE, ZIP File Format Specification (APPNOTE.TXT), sections 4.3.7 and 4.3.16.
"""

from __future__ import annotations

import stat
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from attnlab._load_checks import (
    MAX_CELLS,
    MAX_PANEL_CELLS,
    MAX_PANELS,
    MAX_REPEATED,
    LoadError,
    check_shape,
    printable,
    reason,
)

__all__ = [
    "EXTENSIONS",
    "MAX_CELLS",
    "MAX_PANELS",
    "MAX_PANEL_CELLS",
    "MAX_REPEATED",
    "LoadError",
    "load_weights",
]

EXTENSIONS: tuple[str, ...] = (".npy", ".npz", ".pt", ".pth", ".safetensors")
"""File extensions that :func:`load_weights` reads."""


# what attnlab calls a file of each extension that it cannot read at all
_NOT_READABLE = {
    ".npy": "not a readable .npy file",
    ".npz": "not a readable .npz file",
    ".pt": "not a file written by torch.save",
    ".pth": "not a file written by torch.save",
    ".safetensors": "not a readable .safetensors file",
}


def load_weights(path: str | Path, key: str | None = None) -> np.ndarray:
    """Read a 2-D to 4-D array of attention weights from a NumPy, PyTorch or safetensors file.

    Parameters
    ----------
    path : str or Path
        The file; its extension picks the loader (one of :data:`EXTENSIONS`).
    key : str, optional
        Which array of a file that holds several (``.npz``, a dict in ``.pt``, ``.safetensors``).
        Not needed when the file holds exactly one. Nested dicts and lists of a ``.pt`` file
        are named by their path, e.g. ``"encoder.layers.0"``.

    Returns
    -------
    weights : numpy.ndarray with 2 to 4 axes
        ``(n_queries, n_keys)``, ``(panels, n_queries, n_keys)`` or
        ``(rows, cols, n_queries, n_keys)``, floating point and finite. Leading axes of size 1
        beyond four are dropped, so a ``(1, layers, heads, q, k)`` stack is drawn as
        ``layers x heads``. At most :data:`MAX_CELLS` values, :data:`MAX_PANEL_CELLS` per
        panel and :data:`MAX_PANELS` panels.

    Raises
    ------
    LoadError
        With a one-line reason, for every file that is not such an array: missing, unreadable
        or empty files, an extension that does not match the content, a file that needs
        unpickling, a corrupt or truncated file, a header that claims more data than the file
        holds, weights too large to draw, a missing or ambiguous key, a wrong rank, non-numeric
        values, NaN.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> path = Path(tempfile.mkdtemp()) / "weights.npy"
    >>> np.save(path, np.eye(3))
    >>> load_weights(path).shape
    (3, 3)
    >>> (path.parent / "empty.pt").write_bytes(b"")
    0
    >>> try:
    ...     load_weights(path.parent / "empty.pt")
    ... except LoadError as error:
    ...     print(error)
    empty.pt: the file is empty (0 bytes).
    """
    try:
        return _load(Path(path), key)
    except LoadError as error:
        # names come from the user and from the file: show them, never let them end the line
        # or drive the terminal (a newline, an escape sequence)
        raise LoadError(printable(str(error))) from None


def _load(path: Path, key: str | None) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        raise LoadError(
            f"{path.name}: unknown file type {suffix or '(no extension)'!r}; "
            f"expected one of {', '.join(EXTENSIONS)}."
        )
    size, head = _examine(path)
    # 1) the format's own reader: headers first, then the data of one array
    # 2) one check of what came out, whatever the format
    # Anything that a reader did not foresee still becomes one line, never a traceback, and
    # warnings from the libraries underneath (torch's, NumPy's) are not shown to the user.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array = _reader(suffix)(path, size, head, key)
            return _check_weights(array, path)
    except LoadError:
        raise
    except MemoryError:
        raise LoadError(f"{path.name}: not enough memory to read it.") from None
    except RecursionError:
        raise LoadError(f"{path.name}: {_NOT_READABLE[suffix]} (nested too deeply).") from None
    except Exception as error:  # a library's own error on a corrupt file, whatever its type
        raise LoadError(f"{path.name}: {_NOT_READABLE[suffix]} ({reason(error)}).") from None


def _reader(suffix: str):
    """The reader of one format: ``reader(path, size, head, key) -> array or tensor``."""
    if suffix == ".npy":
        from attnlab._load_numpy import read_npy_file

        return read_npy_file
    if suffix == ".npz":
        from attnlab._load_numpy import read_npz_file

        return read_npz_file
    if suffix == ".safetensors":
        from attnlab._load_safetensors import read_safetensors_file

        return read_safetensors_file
    from attnlab._load_torch import read_torch_file

    return read_torch_file


def _examine(path: Path) -> tuple[int, bytes]:
    """Size and first bytes of a readable regular file, or a LoadError saying why not."""
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            try:
                info = path.stat()
            except FileNotFoundError:
                raise LoadError(
                    f"{path}: a symbolic link to {str(path.readlink())!r}, which does not exist."
                ) from None
    except FileNotFoundError:
        raise LoadError(f"{path}: no such file.") from None
    except OSError as error:
        raise LoadError(f"{path}: cannot be read ({error.strerror or reason(error)}).") from None
    if stat.S_ISDIR(info.st_mode):
        raise LoadError(f"{path}: not a file but a folder; give the weights file in it.")
    if not stat.S_ISREG(info.st_mode):
        raise LoadError(
            f"{path}: not a regular file (a pipe, socket or device); attnlab reads saved files."
        )
    if info.st_size == 0:
        raise LoadError(f"{path.name}: the file is empty (0 bytes).")
    try:
        with path.open("rb") as file:
            head = file.read(512)
    except PermissionError:
        raise LoadError(f"{path}: permission denied; attnlab needs to read the file.") from None
    except OSError as error:
        raise LoadError(f"{path}: cannot be read ({error.strerror or reason(error)}).") from None
    return info.st_size, head


def _check_weights(array: Any, path: Path) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype.kind == "c":
        raise LoadError(f"{path.name}: weights must be real numbers; got dtype {array.dtype}.")
    if array.dtype.kind not in "biuf":
        raise LoadError(f"{path.name}: weights must be numeric; got dtype {array.dtype}.")
    check_shape(tuple(array.shape), path.name)
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
    # float64 and wide integers stay exact in float64; everything narrower fits float32
    wide = array.dtype.itemsize >= 8 or (array.dtype.kind in "iu" and array.dtype.itemsize >= 4)
    array = array.astype(np.float64 if wide else np.float32, copy=False)
    finite = np.isfinite(array)
    if not finite.all():
        raise LoadError(
            f"{path.name}: weights must be finite; got {int((~finite).sum())} NaN or infinite "
            f"value(s) in shape {array.shape}."
        )
    return array
