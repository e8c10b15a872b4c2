"""What every weights reader shares: the bounds of what is drawn, the one error, and the checks
that a reader runs on a header before it reads any data.

References
----------
1. PKWARE, ZIP File Format Specification (APPNOTE.TXT), sections 4.3.7 and 4.3.16.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_CELLS",
    "MAX_MEMBERS",
    "MAX_PANELS",
    "MAX_PANEL_CELLS",
    "MAX_REPEATED",
    "NO_PICKLE",
    "LoadError",
    "check_repeats",
    "check_shape",
    "check_zip_directory",
    "choose_key",
    "content_of",
    "printable",
    "read_exactly",
    "reason",
    "wrong_content",
]


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


class LoadError(ValueError):
    """A weights file that cannot be read safely or does not hold drawable weights."""


def printable(text: str, limit: int = 2000) -> str:
    r"""``text`` with unprintable characters escaped (``\n``, ``\x1b``), cut at ``limit``.

    Examples
    --------
    >>> printable("w\nx\x1b[2J.npy: no such file.")
    'w\\nx\\x1b[2J.npy: no such file.'
    """
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else shown[: limit - 4] + " ..."


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
