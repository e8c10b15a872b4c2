"""Read ``.npy`` files and ``.npz`` archives header first, so that no header can cost memory.

A ``.npy`` header is a short Python dict literal that states the dtype and shape of the bytes
after it. attnlab parses it itself, refuses object arrays (which only unpickling could read)
before any data, compares the bytes the shape needs with the bytes the file (or the archive
member) holds, and only then reads exactly those bytes.

References
----------
1. NumPy, "The .npy format" (``numpy.lib.format``), versions 1.0, 2.0 and 3.0.
2. NumPy, ``numpy.savez``: a zip archive of ``.npy`` files, one per array, named by its key.
"""

from __future__ import annotations

import ast
import math
import re
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from attnlab._load_checks import (
    NO_PICKLE,
    LoadError,
    check_shape,
    check_zip_directory,
    choose_key,
    content_of,
    read_exactly,
    wrong_content,
)

__all__ = ["read_npy", "read_npy_file", "read_npz_file"]

MAGIC = b"\x93NUMPY"
MAX_HEADER = 10_000  # the bound numpy.load itself puts on a header it evaluates


def read_npy_file(path: Path, size: int, head: bytes, key: str | None) -> np.ndarray:
    """The array of a ``.npy`` file."""
    if not head.startswith(MAGIC):
        found = content_of(head)
        if found == "a Python pickle":
            raise LoadError(
                f"{path.name} has no NumPy array header and could only be read by unpickling; "
                f"{NO_PICKLE}, e.g. np.save(path, weights.astype(float))."
            )
        if found == "a zip archive":
            raise LoadError(
                f"{path.name} is a zip archive, not a .npy file: name it .npz if np.savez "
                "wrote it, .pt if torch.save did."
            )
        if found is not None:
            raise wrong_content(path, found, "a .npy file")
        raise LoadError(
            f"{path.name}: not a readable .npy file (it does not start with the .npy magic "
            "string \\x93NUMPY); attnlab reads arrays saved with np.save."
        )
    if key is not None:
        raise LoadError(
            f"{path.name}: --key is for files that hold several arrays; a .npy file holds one."
        )
    with path.open("rb") as file:
        return read_npy(file, size, path.name)


def read_npz_file(path: Path, size: int, head: bytes, key: str | None) -> np.ndarray:
    """The array named ``key`` (or the only one) of a ``.npz`` archive."""
    found = content_of(head)
    if found == "a NumPy .npy file":
        raise LoadError(f"{path.name}: not a .npz archive (it holds a single array; name it .npy).")
    if found == "a Python pickle":
        raise LoadError(f"{path.name} is not a .npz archive but a pickle; {NO_PICKLE}.")
    if found != "a zip archive":
        if found is not None:
            raise wrong_content(path, found, "a .npz archive")
        raise LoadError(
            f"{path.name}: not a readable .npz file (it does not start like a zip archive); "
            "attnlab reads archives saved with np.savez."
        )
    with path.open("rb") as file:
        check_zip_directory(file, size, path.name)
        with zipfile.ZipFile(file) as archive:
            infos = [info for info in archive.infolist() if not info.is_dir()]
            arrays = {
                info.filename.removesuffix(".npy"): info
                for info in infos
                if info.filename.endswith(".npy")
            }
            if not arrays and any(info.filename.endswith("data.pkl") for info in infos):
                raise LoadError(
                    f"{path.name} is a PyTorch file written by torch.save, not a .npz archive; "
                    f"rename it to {path.stem}.pt."
                )
            if not arrays and infos:
                others = ", ".join(repr(info.filename) for info in infos[:5])
                raise LoadError(
                    f"{path.name}: not a .npz archive: the zip archive holds no .npy arrays "
                    f"(it holds {others}{' ...' if len(infos) > 5 else ''})."
                )
            if key is not None and key.endswith(".npy") and key not in arrays:
                key = key.removesuffix(".npy")  # np.load accepts either spelling
            name = choose_key(list(arrays), key, path)
            info = arrays[name]
            if info.flag_bits & 0x1:
                raise LoadError(f"{path.name}: array {name!r} is encrypted.")
            with archive.open(info) as stream:
                return read_npy(stream, info.file_size, path.name, member=name)


def read_npy(stream: Any, available: int, label: str, *, member: str | None = None) -> np.ndarray:
    """Read one ``.npy`` array from ``stream``, which holds ``available`` bytes in all.

    The header is parsed and checked first; the data are read only if the file holds every
    byte that the header claims and the shape can be drawn. ``member`` names the array of an
    archive, for the messages.
    """
    where = f"{label}: array {member!r}" if member is not None else label
    dtype, shape, fortran_order, header_size = _read_header(stream, where)
    if dtype.hasobject:
        if member is not None:
            raise LoadError(
                f"{label}: array {member!r} holds Python objects, which only unpickling could "
                f"read; {NO_PICKLE}."
            )
        raise LoadError(
            f"{label} has an array of Python objects and could only be read by unpickling; "
            f"{NO_PICKLE}, e.g. np.save(path, weights.astype(float))."
        )
    if dtype.kind == "c":
        raise LoadError(f"{where}: weights must be real numbers; got dtype {dtype}.")
    if dtype.kind not in "biuf" or dtype.shape:
        raise LoadError(f"{where}: weights must be numeric; got dtype {dtype}.")
    # 1) does the file hold the bytes its header claims? 2) can that shape be drawn?
    needed = math.prod(shape) * dtype.itemsize
    holds = available - header_size
    if needed > holds:
        raise LoadError(
            f"{where}: the header says shape {shape} of {dtype} ({needed:,} bytes) but the "
            f"{'member' if member is not None else 'file'} holds {max(holds, 0):,} bytes "
            "after it; it is truncated or corrupt."
        )
    check_shape(shape, where)
    # 3) exactly those bytes, and nothing else
    data = read_exactly(stream, needed)
    if data is None:
        raise LoadError(
            f"{where}: the data end before the {needed:,} bytes that shape {shape} of {dtype} "
            "needs; it is truncated or corrupt."
        )
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape))
    return array.reshape(shape, order="F" if fortran_order else "C")


def _read_header(stream: Any, where: str) -> tuple[np.dtype, tuple[int, ...], bool, int]:
    """``(dtype, shape, fortran_order, header size in bytes)`` of a ``.npy`` header."""

    def corrupt(what: str) -> LoadError:
        return LoadError(f"{where}: not a readable .npy file ({what}).")

    start = stream.read(8)
    if not start.startswith(MAGIC):
        raise corrupt("it does not start with the .npy magic string \\x93NUMPY")
    if len(start) < 8:
        raise corrupt("the file ends inside its header")
    major, minor = start[6], start[7]
    if major not in (1, 2, 3):
        raise corrupt(f"format version {major}.{minor}; the versions are 1.0, 2.0 and 3.0")
    width = 2 if major == 1 else 4
    length_bytes = stream.read(width)
    if len(length_bytes) < width:
        raise corrupt("the file ends inside its header")
    (length,) = struct.unpack("<H" if width == 2 else "<I", length_bytes)
    if length > MAX_HEADER:
        raise corrupt(
            f"a header of {length:,} bytes; NumPy reads headers of at most {MAX_HEADER:,}"
        )
    raw = stream.read(length)
    if len(raw) < length:
        raise corrupt(
            f"the header says it is {length} bytes long but the file ends after {len(raw)}"
        )
    try:
        text = raw.decode("utf-8" if major == 3 else "latin-1")
        if major == 1:  # Python 2 wrote long integers with a suffix: (3L, 4L)
            text = re.sub(r"(?<=\d)L(?=[\s,)])", "", text)
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, UnicodeError):
        raise corrupt(f"its header is not a Python dict literal: {_shorten(raw)}") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise corrupt(
            f"its header must be a dict of descr, fortran_order and shape; got {_shorten(raw)}"
        )
    shape, fortran_order = header["shape"], header["fortran_order"]
    if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
        raise corrupt(f"its shape must be a tuple of non-negative integers; got {shape!r:.60}")
    if not isinstance(fortran_order, bool):
        raise corrupt(f"its fortran_order must be True or False; got {fortran_order!r:.60}")
    try:
        dtype = np.lib.format.descr_to_dtype(header["descr"])
    except Exception:  # NumPy raises ValueError, TypeError, ... on a descr it does not know
        raise corrupt(f"its descr names no NumPy dtype: {header['descr']!r:.60}") from None
    return dtype, shape, fortran_order, 8 + width + length


def _shorten(raw: bytes) -> str:
    text = repr(raw.strip()[:60])
    return text + (" ..." if len(raw.strip()) > 60 else "")
