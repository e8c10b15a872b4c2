"""Read one tensor of a ``.safetensors`` file: its JSON header first, then only its bytes.

A safetensors file is an 8-byte little-endian header length, a JSON header that gives every
tensor's dtype, shape and byte range, and the raw little-endian data. attnlab checks the whole
header against the file (lengths, offsets, sizes) before it reads the one tensor it draws.

References
----------
1. Hugging Face, safetensors format: ``{name: {"dtype", "shape", "data_offsets"}}`` plus an
   optional ``"__metadata__"`` of strings; offsets are relative to the end of the header.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from attnlab._load_checks import (
    LoadError,
    check_shape,
    choose_key,
    content_of,
    read_exactly,
    wrong_content,
)

__all__ = ["read_safetensors_file"]

MAX_HEADER = 16 * 2**20  # 16 MiB of JSON: a hundred thousand tensors
# safetensors dtype -> (torch dtype name, bytes per value); complex is refused by name
DTYPES = {
    "BOOL": ("bool", 1),
    "U8": ("uint8", 1),
    "I8": ("int8", 1),
    "F8_E5M2": ("float8_e5m2", 1),
    "F8_E4M3": ("float8_e4m3fn", 1),
    "I16": ("int16", 2),
    "U16": ("uint16", 2),
    "F16": ("float16", 2),
    "BF16": ("bfloat16", 2),
    "I32": ("int32", 4),
    "U32": ("uint32", 4),
    "F32": ("float32", 4),
    "I64": ("int64", 8),
    "U64": ("uint64", 8),
    "F64": ("float64", 8),
    "C64": ("complex64", 8),
}


def read_safetensors_file(path: Path, size: int, head: bytes, key: str | None) -> np.ndarray:
    """The tensor named ``key`` (or the only one) of a ``.safetensors`` file, as an array."""
    found = content_of(head)
    if found not in (None, "a safetensors file"):
        raise wrong_content(path, found, "a .safetensors file")

    def corrupt(what: str) -> LoadError:
        return LoadError(f"{path.name}: not a readable .safetensors file ({what}).")

    # 1) the header length, checked against the file before the header is read
    if size < 8:
        raise corrupt(f"{size} bytes, too short for the 8-byte header length")
    length = int.from_bytes(head[:8], "little")
    if length > size - 8:
        raise corrupt(
            f"the header is said to be {length:,} bytes long but the file holds "
            f"{size - 8:,} bytes after its length"
        )
    if length > MAX_HEADER:
        raise corrupt(f"a header of {length:,} bytes; attnlab reads headers of at most 16 MiB")
    with path.open("rb") as file:
        file.seek(8)
        raw = file.read(length)
        # 2) the JSON header: every entry checked against the data that follow it
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeError, ValueError, RecursionError) as error:
            raise corrupt(f"its header is not JSON: {str(error).splitlines()[0][:80]}") from None
        if not isinstance(header, dict):
            raise corrupt(f"its header must be a JSON object; got {type(header).__name__}")
        header.pop("__metadata__", None)
        data_size = size - 8 - length
        entries = {name: _entry(name, value, data_size, corrupt) for name, value in header.items()}
        # 3) one tensor: its bytes only
        name = choose_key(list(entries), key, path)
        dtype, shape, begin, end = entries[name]
        where = f"{path.name}: tensor {name!r}"
        if dtype == "C64":
            raise LoadError(f"{where}: weights must be real numbers; got dtype complex64.")
        check_shape(shape, where)
        file.seek(8 + length + begin)
        data = read_exactly(file, end - begin)
    if data is None:  # the file shrank while it was read
        raise corrupt(f"tensor {name!r} is cut short")
    return _to_array(data, dtype, shape, where)


def _entry(name: str, value: Any, data_size: int, corrupt) -> tuple[str, tuple[int, ...], int, int]:
    """``(dtype, shape, begin, end)`` of one header entry, each checked."""
    if not isinstance(value, dict):
        raise corrupt(f"tensor {name!r} is described by a {type(value).__name__}, not an object")
    dtype, shape, offsets = value.get("dtype"), value.get("shape"), value.get("data_offsets")
    if dtype not in DTYPES:
        known = ", ".join(DTYPES)
        raise corrupt(f"tensor {name!r} has dtype {dtype!r:.40}; attnlab reads {known}")
    if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
        raise corrupt(f"tensor {name!r} has shape {shape!r:.60}, not a list of sizes")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(type(n) is int for n in offsets)
        and 0 <= offsets[0] <= offsets[1]
    ):
        raise corrupt(f"tensor {name!r} has data_offsets {offsets!r:.60}, not [begin, end]")
    begin, end = offsets
    needed = math.prod(shape) * DTYPES[dtype][1]
    if end > data_size:
        raise corrupt(
            f"tensor {name!r} ends at byte {end:,} of the data, which hold {data_size:,} bytes"
        )
    if end - begin != needed:
        raise corrupt(
            f"tensor {name!r} of shape {tuple(shape)} and dtype {dtype} needs {needed:,} bytes, "
            f"but its data_offsets span {end - begin:,}"
        )
    return dtype, tuple(shape), begin, end


def _to_array(data: bytearray, dtype: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    """The values of ``data`` as an array NumPy can hold (bfloat16 and float8 become float32)."""
    import torch

    torch_dtype = getattr(torch, DTYPES[dtype][0], None)
    if torch_dtype is None:
        raise LoadError(f"{where}: dtype {dtype} needs a newer PyTorch than {torch.__version__}.")
    if not data:
        return np.zeros(shape, dtype=np.float32)
    tensor = torch.frombuffer(data, dtype=torch_dtype).reshape(shape)  # (*shape)
    if tensor.dtype.is_floating_point and tensor.element_size() <= 2:
        tensor = tensor.float()  # NumPy has no bfloat16 or float8
    return tensor.numpy()
