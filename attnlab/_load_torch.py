"""Read ``torch.save`` files: describe them first with stand-ins, then load with ``weights_only``.

A ``torch.save`` file is a pickle that describes tensors and refers to storages of raw bytes:
zip records since PyTorch 1.6, a stream after the pickle before. attnlab first reads that
pickle with a stand-in for every class or function it names, so nothing is imported or called:
this tells which globals the file needs (anything beyond tensors and containers is refused) and
what each storage and tensor claims, which is checked against the bytes the file holds. Only
then does ``torch.load(weights_only=True)`` read it, with storages mapped (``mmap=True``) rather
than allocated, sparse tensors validated, and torch's warnings kept from the terminal.

References
----------
1. PyTorch, ``torch.load`` and ``torch.save``; "Serialization semantics" (the zip format, one
   record per storage, ``data.pkl`` holding the pickled description).
2. PKWARE, ZIP File Format Specification (APPNOTE.TXT), section 4.3.7: the local file header.
"""

from __future__ import annotations

import io
import pickle
import re
import struct
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from attnlab._load_checks import (
    NO_PICKLE,
    LoadError,
    check_repeats,
    check_shape,
    check_zip_directory,
    choose_key,
    content_of,
    reason,
    wrong_content,
)
from attnlab._pickle_scan import MAX_PICKLE, SAVE_HINT, Findings, Window, objects_error, scan

__all__ = ["read_torch_file"]

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # what torch.save's format before 1.6 pickles first


def read_torch_file(path: Path, size: int, head: bytes, key: str | None) -> np.ndarray:
    """The tensor (or stacked list of tensors) that ``key`` names in a ``torch.save`` file."""
    found = content_of(head)
    label = path.name
    # 1) describe the file without loading it
    zipped = found == "a zip archive"  # torch.save's format since 1.6: storages can be mapped
    if zipped:
        _check_zip(path, size)
    elif found == "a Python pickle":
        _refuse_tar(path)
        _check_stream(path, size)
    elif found is not None:
        raise wrong_content(path, found, "a file written by torch.save")
    else:
        raise LoadError(
            f"{label}: not a file written by torch.save (it starts with {head[:8]!r}, neither a "
            "zip archive, its format since PyTorch 1.6, nor the pickle stream of before)."
        )
    # 2) load it, through torch's restricted unpickler
    import torch

    try:
        with torch.sparse.check_sparse_tensor_invariants(True):
            content = torch.load(path, map_location="cpu", weights_only=True, mmap=zipped)
    except pickle.UnpicklingError as error:
        global_ = re.search(r"GLOBAL ([\w.]+)", str(error))
        raise objects_error(label, global_.group(1) if global_ else None) from None
    # 3) pick the tensor and make it a plain array
    tensor, where = _select(content, key, path)
    try:
        return _to_numpy(tensor, where)
    except LoadError:
        raise
    except Exception as error:  # torch's own refusal to convert an unusual tensor
        raise LoadError(f"{where}: cannot be drawn ({reason(error)}).") from None


# --- describing the file ------------------------------------------------------------------------


def _check_zip(path: Path, size: int) -> None:
    """Check the zip format: its records, and each storage's size against its record."""
    label = path.name
    with path.open("rb") as file:
        check_zip_directory(file, size, label)
        with zipfile.ZipFile(file) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            pickles = [
                name for name in names if name.endswith("/data.pkl") and name.count("/") == 1
            ]
            if any(name.endswith("constants.pkl") for name in names):
                raise LoadError(
                    f"{label} is a TorchScript model (torch.jit.save), not saved tensors; "
                    f"attnlab reads tensors written by torch.save, {SAVE_HINT}."
                )
            if len(pickles) != 1:
                if not pickles and any(name.endswith(".npy") for name in names):
                    raise LoadError(
                        f"{label} is a NumPy .npz archive, not a file written by torch.save; "
                        f"rename it to {path.stem}.npz."
                    )
                raise LoadError(
                    f"{label} is a zip archive but not a file written by torch.save (it holds "
                    f"{len(pickles)} data.pkl records where torch.save writes one)."
                )
            prefix = pickles[0].removesuffix("data.pkl")
            for info in infos:
                _check_record(file, info, size, label)
            description = archive.getinfo(pickles[0])
            if description.file_size > MAX_PICKLE:
                raise LoadError(
                    f"{label}: its pickled description is {description.file_size:,} bytes; "
                    "attnlab reads descriptions of at most 4 MiB (a dict of many thousand tensors)."
                )
            data = archive.read(description)
    records = {
        name.removeprefix(prefix + "data/"): info.file_size
        for name, info in zip(names, infos, strict=True)
        if name.startswith(prefix + "data/")
    }
    findings = Findings(label)
    scan(findings, Window(io.BytesIO(data), len(data)))
    for storage_key, storage in findings.storages.items():
        held = records.get(storage_key)
        if held is None:
            raise LoadError(
                f"{label}: not a file written by torch.save (its description refers to storage "
                f"{storage_key!r}, which the file does not hold)."
            )
        if storage.itemsize is not None and storage.numel * storage.itemsize != held:
            raise LoadError(
                f"{label}: storage {storage_key!r} is said to hold {storage.numel:,} values "
                f"({storage.numel * storage.itemsize:,} bytes) but its record holds {held:,} "
                "bytes; the file is corrupt."
            )


def _check_record(file: Any, info: zipfile.ZipInfo, size: int, label: str) -> None:
    """A record as torch.save writes it: stored uncompressed, unencrypted, inside the file."""
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
        raise LoadError(
            f"{label}: its record {info.filename!r} is compressed or encrypted, which torch.save "
            "never does; the file was not written by torch.save, or was repacked."
        )
    if not 0 <= info.header_offset < size:
        raise LoadError(f"{label}: not a file written by torch.save (a broken zip record).")
    file.seek(info.header_offset)
    local = file.read(30)
    if len(local) < 30 or not local.startswith(b"PK\x03\x04"):
        raise LoadError(f"{label}: not a file written by torch.save (a broken zip record).")
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    if info.header_offset + 30 + name_length + extra_length + info.compress_size > size:
        raise LoadError(
            f"{label}: its record {info.filename!r} runs past the end of the file; the file is "
            "truncated or corrupt."
        )


def _check_stream(path: Path, size: int) -> None:
    """Check torch.save's format before 1.6: pickles, then each storage's count and bytes."""
    label = path.name
    with path.open("rb") as file:
        window = Window(file, size)
        findings = Findings(label)
        try:
            magic = scan(findings, window)
        except LoadError:
            if not findings.unsafe():
                raise
            magic = None
        if type(magic) is not int or magic != MAGIC_NUMBER:
            unsafe = findings.unsafe()
            refers = f" (it refers to {unsafe[0]})" if unsafe else ""
            raise LoadError(
                f"{label} is a plain Python pickle{refers}, not a file written by torch.save; "
                f"{NO_PICKLE}, {SAVE_HINT}."
            )
        version = scan(findings, window)
        if type(version) is not int or version != 1001:
            raise LoadError(f"{label}: not a file written by torch.save (format {version!r:.20}).")
        scan(findings, window)  # the system it was written on
        scan(findings, window)  # the object: tensors, and what holds them
        keys = scan(findings, window)
        if not (isinstance(keys, list) and all(isinstance(key, str) for key in keys)):
            raise LoadError(f"{label}: not a file written by torch.save (no list of storages).")
        offset = file.tell()
        for storage_key in keys:
            storage = findings.storages.get(storage_key)
            if storage is not None and storage.untyped:  # a float8 or uint16 tensor, say
                raise LoadError(
                    f"{label}: its storage has no dtype, which the format before PyTorch 1.6 "
                    "cannot load back; save the weights again with torch.save's default format."
                )
            if storage is None or storage.itemsize is None:
                raise LoadError(
                    f"{label}: not a file written by torch.save (storage {storage_key!r:.20} is "
                    "not described)."
                )
            file.seek(offset)
            count = int.from_bytes(file.read(8), "little", signed=True)
            if count != storage.numel:
                raise LoadError(
                    f"{label}: storage {storage_key!r:.20} is said to hold {storage.numel:,} "
                    f"values but the file says {count:,}; it is corrupt."
                )
            offset += 8 + count * storage.itemsize
            if offset > size:
                raise LoadError(
                    f"{label}: storage {storage_key!r:.20} runs past the end of the file; it is "
                    "truncated."
                )


def _refuse_tar(path: Path) -> None:
    """torch.load tries a tar archive (PyTorch before 0.4) before the pickle stream; so do we."""
    try:
        with tarfile.open(path, "r:"):
            pass
    except (tarfile.TarError, OSError, ValueError, EOFError):
        return
    raise LoadError(
        f"{path.name} is a tar archive, the format of PyTorch before version 0.4, which attnlab "
        "does not read; load it with that PyTorch and torch.save it again."
    )


# --- from what torch loaded to an array -------------------------------------------------------


def _select(content: Any, key: str | None, path: Path) -> tuple[Any, str]:
    """The tensor to draw, or the list of tensors to stack, and how to name it in messages."""
    import torch

    label = path.name
    if isinstance(content, torch.Tensor) or _tensors(content):
        if key is not None:
            raise LoadError(
                f"{label}: --key is for a saved dictionary of tensors; "
                f"this file holds a {type(content).__name__}."
            )
        return content, label
    if not isinstance(content, dict | list | tuple):
        raise LoadError(
            f"{label}: expected a tensor, a list of tensors or a dict of tensors; "
            f"got a {type(content).__name__}."
        )
    found: dict[str, Any] = {}
    _flatten(content, "", found, set(), label)
    if not found:
        kind = "dictionary" if isinstance(content, dict) else type(content).__name__
        raise LoadError(f"{label}: the {kind} it holds has no tensors.")
    name = choose_key(list(found), key, path)
    return found[name], f"{label}: tensor {name!r}"


def _tensors(content: Any) -> bool:
    import torch

    return (
        isinstance(content, list | tuple)
        and bool(content)
        and all(isinstance(item, torch.Tensor) for item in content)
    )


def _flatten(content: Any, prefix: str, found: dict, seen: set, label: str, depth: int = 0) -> None:
    """Name every tensor (or list of tensors) in nested dicts and lists by its path: ``a.b.0``."""
    import torch

    if isinstance(content, torch.Tensor) or _tensors(content):
        found.setdefault(prefix, content)
        return
    if not isinstance(content, dict | list | tuple) or id(content) in seen:
        return
    if depth >= 32:
        raise LoadError(f"{label}: its dicts and lists are nested more than 32 levels deep.")
    seen.add(id(content))
    items = content.items() if isinstance(content, dict) else enumerate(content)
    for name, value in items:
        _flatten(value, f"{prefix}.{name}" if prefix else str(name), found, seen, label, depth + 1)


def _to_numpy(content: Any, where: str) -> np.ndarray:
    import torch

    if isinstance(content, list | tuple):  # per-layer weights: stack them as (layers, ...)
        shapes = {tuple(item.shape) for item in content}
        if len(shapes) != 1:
            raise LoadError(
                f"{where}: cannot stack the tensors of the list it holds; their shapes "
                f"differ: {sorted(shapes)}."
            )
        check_shape((len(content), *shapes.pop()), where)
        return torch.stack([_dense(item, where) for item in content]).numpy()  # (layers, ...)
    # a copy: a tensor that torch.load mapped from the file must not outlive it as a view
    return np.array(_dense(content, where).numpy(), copy=True)


def _dense(tensor: Any, where: str) -> Any:
    """A plain CPU tensor of real values that NumPy can hold, or a LoadError saying why not."""
    import torch

    if tensor.is_nested:
        raise LoadError(
            f"{where}: a nested tensor (its rows have different lengths) has no one shape to "
            "draw; save torch.nested.to_padded_tensor(weights, 0.0) instead."
        )
    if tensor.is_meta:
        raise LoadError(
            f"{where}: a meta tensor of shape {tuple(tensor.shape)} has a shape but no values "
            "(a model built on the meta device); save the weights of a model that has run."
        )
    check_shape(tuple(tensor.shape), where)  # before anything is copied or made dense
    check_repeats(tuple(tensor.shape), _held(tensor), where)
    if tensor.is_quantized:
        tensor = tensor.dequantize()
    elif tensor.layout != torch.strided:  # sparse COO, CSR, CSC, BSR, BSC: checked at load
        tensor = tensor.to_dense()
    if tensor.is_complex():
        raise LoadError(
            f"{where}: weights must be real numbers; got dtype "
            f"{str(tensor.dtype).removeprefix('torch.')}."
        )
    tensor = tensor.detach().resolve_neg()
    if tensor.dtype.is_floating_point and tensor.element_size() <= 2:
        tensor = tensor.float()  # NumPy has no bfloat16 or float8
    return tensor


def _held(tensor: Any) -> int:
    """How many values the file holds for ``tensor`` (fewer than it has if it repeats them)."""
    import torch

    if tensor.layout == torch.sparse_coo:
        return tensor.coalesce().values().numel()
    if tensor.layout != torch.strided:  # CSR, CSC, BSR, BSC
        return tensor.values().numel()
    return tensor.untyped_storage().nbytes() // tensor.element_size()
