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

import math
import stat
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np

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

MAX_CELLS = 2**26
"""Most values a weights file may hand over (67,108,864: 256 MiB as float32), e.g. 16 x 16 heads
of 512 x 512; a header that claims more is refused before anything is allocated."""

MAX_PANEL_CELLS = 2**24
"""Most values in one ``(n_queries, n_keys)`` panel (16,777,216, e.g. 4096 x 4096): drawing one
panel costs matplotlib about 70 bytes per value."""

MAX_PANELS = 1024
"""Most panels in one figure (e.g. 32 layers x 32 heads): each panel costs matplotlib time."""

MAX_REPEATED = 2**20
"""Most values a file may describe beyond those it holds (1,048,576): a broadcast view (strides
of 0) or the zeros of a sparse tensor cost real memory once drawn, so that a small file could
otherwise claim as much memory as the largest array."""

MAX_MEMBERS = 100_000  # entries of a zip directory that attnlab reads

NO_PICKLE = (
    "attnlab never unpickles, because unpickling can run arbitrary code; "
    "save plain numeric arrays or tensors instead"
)

# what attnlab calls a file of each extension that it cannot read at all
_NOT_READABLE = {
    ".npy": "not a readable .npy file",
    ".npz": "not a readable .npz file",
    ".pt": "not a file written by torch.save",
    ".pth": "not a file written by torch.save",
    ".safetensors": "not a readable .safetensors file",
}


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
    >>> load_weights(path.parent / "empty.pt")
    Traceback (most recent call last):
    ...
    attnlab._loading.LoadError: empty.pt: the file is empty (0 bytes).
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


def printable(text: str, limit: int = 2000) -> str:
    r"""``text`` with unprintable characters escaped (``\n``, ``\x1b``), cut at ``limit``.

    Examples
    --------
    >>> printable("w\nx\x1b[2J.npy: no such file.")
    'w\\nx\\x1b[2J.npy: no such file.'
    """
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else shown[: limit - 4] + " ..."


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


def content_of(head: bytes) -> str | None:
    """What a file is, judged by its first bytes (up to 512), or None if attnlab cannot tell."""
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy file"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "a zip archive"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "a Python pickle"
    if len(head) > 8 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") < 2**27:
        return "a safetensors file"
    if head[257:262] == b"ustar":
        return "a tar archive"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip file"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "an HDF5 file"
    return None


def wrong_content(path: Path, found: str, expected: str) -> LoadError:
    """The error for a file whose content is another format than its extension says."""
    rename = {
        "a NumPy .npy file": ".npy",
        "a safetensors file": ".safetensors",
    }.get(found)
    hint = f"; rename it to {path.stem}{rename}" if rename else ""
    return LoadError(f"{path.name} is {found}, not {expected}{hint}.")


def check_zip_directory(file: Any, size: int, label: str) -> None:
    """Refuse a zip archive whose directory lists more entries than attnlab reads.

    Python's zipfile builds an object per entry, so a small file that claims millions of
    entries would cost memory out of all proportion; the count is read from the end record.
    """
    tail_size = min(size, 22 + 65535)  # the end record plus the longest comment
    file.seek(size - tail_size)
    tail = file.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return  # zipfile itself reports the missing end record
    entries, directory_size = struct.unpack("<xxxxxxxxxxHI", tail[at : at + 16])
    at64 = tail.rfind(b"PK\x06\x06", 0, at)  # zip64: counts too large for the end record
    if entries == 0xFFFF and at64 >= 0 and at64 + 56 <= len(tail):
        entries, directory_size = struct.unpack("<QQ", tail[at64 + 32 : at64 + 48])
    if entries > MAX_MEMBERS or directory_size > size:
        raise LoadError(
            f"{label}: its zip directory claims {entries:,} entries ({directory_size:,} bytes) "
            f"in a file of {size:,} bytes; attnlab reads archives of at most "
            f"{MAX_MEMBERS:,} entries."
        )
    file.seek(0)


def check_shape(shape: tuple[int, ...], label: str) -> None:
    """Refuse a shape too large to draw, or empty, before its values are read or allocated."""
    cells = math.prod(shape)
    panel = shape[-2] * shape[-1] if len(shape) >= 2 else cells
    panels = math.prod(shape[:-2])
    if cells > MAX_CELLS:
        too_many = f"{cells:,} values"
    elif panel > MAX_PANEL_CELLS:
        too_many = f"{panel:,} values in a panel"
    elif panels > MAX_PANELS:
        too_many = f"{panels:,} panels"
    elif cells == 0:
        raise LoadError(f"{label}: weights are empty; got shape {shape}.")
    else:
        return
    raise LoadError(
        f"{label}: shape {shape} is too large to draw ({too_many}); attnlab draws at most "
        f"{MAX_CELLS:,} values, {MAX_PANEL_CELLS:,} per panel (4096 x 4096) and {MAX_PANELS:,} "
        "panels: save a part, e.g. weights[..., :512, :512]."
    )


def check_repeats(shape: tuple[int, ...], held: int, label: str) -> None:
    """Refuse a tensor that would be drawn with far more values than the file holds for it."""
    cells = math.prod(shape)
    if cells > held + MAX_REPEATED:
        raise LoadError(
            f"{label}: a tensor of shape {shape} holds {held:,} values in the file but would be "
            f"drawn as {cells:,}; attnlab draws at most {MAX_REPEATED:,} more than a file holds "
            "(a view made by expand(), the zeros of a sparse tensor): save "
            "weights.contiguous() or weights.to_dense()."
        )


def choose_key(names: list[str], key: str | None, path: Path) -> str:
    """The one array to draw: ``key``, or the only array the file holds."""
    shown = ", ".join(_quoted(name) for name in names[:20]) + (" ..." if len(names) > 20 else "")
    if key is None:
        if len(names) == 1:
            return names[0]
        if not names:
            raise LoadError(f"{path.name}: the file holds no arrays.")
        raise LoadError(
            f"{path.name} holds {len(names)} arrays; choose one with --key (one of {shown})."
        )
    if key not in names:
        raise LoadError(f"{path.name}: no array named {_quoted(key)}; it holds {shown}.")
    return key


def _quoted(name: str) -> str:
    """A name as messages show it: quoted, and cut short if a file made it long."""
    return repr(name) if len(name) <= 60 else repr(name[:57]) + "..."


def read_exactly(stream: Any, size: int) -> bytearray | None:
    """``size`` bytes from ``stream``, or None if it ends first (read in bounded pieces)."""
    buffer = bytearray(size)
    view, done = memoryview(buffer), 0
    while done < size:
        got = stream.readinto(view[done : done + min(size - done, 1 << 24)])
        if not got:
            return None
        done += got
    return buffer


def reason(error: BaseException) -> str:
    """The first line of an error message, prefixed by its type: ``"KeyError: '101'"``."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    if "weights_only" in text:  # torch's advice to load unsafely is not attnlab's to give
        text = ""
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


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
