"""The weights loaders against crafted and fuzzed files: every bad file is one line, never a
traceback, never code run, never memory out of proportion to the file.

Each crafted file is refused through ``load_weights`` (a LoadError matching its message, no
warning) and through the command (exit 2, exactly that one line on stderr, no image). Files
that attnlab can draw are compared with an independent reader (NumPy, torch, safetensors).
"""

import gzip
import io
import json
import os
import pickle
import re
import struct
import subprocess
import sys
import tarfile
import tracemalloc
import warnings
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab._loading import LoadError, load_weights
from attnlab.cli import main

EYE = np.eye(3, dtype=np.float32)
MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of torch.save's format before PyTorch 1.6


# --- crafting files, byte by byte ---------------------------------------------------------------


def npy_bytes(header, data=b"", *, version=(1, 0), length=None):
    """A .npy file whose header text is exactly ``header``, however wrong."""
    raw = header.encode("utf-8" if version[0] == 3 else "latin-1")
    width = "<H" if version[0] == 1 else "<I"
    size = struct.pack(width, len(raw) if length is None else length)
    return b"\x93NUMPY" + bytes(version) + size + raw + data


def npy_header(descr="<f8", shape=(3, 3), fortran_order=False):
    return repr({"descr": descr, "fortran_order": fortran_order, "shape": shape})


def zip_bytes(members):
    """A zip archive of members ``{"name", "data", "method", "stored", "size"}``: each member's
    compressed bytes and declared size may be given, so they can disagree with its data."""
    out, directory = bytearray(), bytearray()
    for member in members:
        name, data, method = (
            member["name"].encode(),
            member.get("data", b""),
            member.get("method", 0),
        )
        stored = member.get("stored", zlib.compress(data)[2:-4] if method == 8 else data)
        size, crc = member.get("size", len(data)), zlib.crc32(data)
        fields = (method, 0, 0, crc, len(stored), size, len(name))
        directory += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, *fields,
                                 0, 0, 0, 0, 0, len(out)) + name  # fmt: skip
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, *fields, 0) + name + stored
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members),
                      len(directory), len(out), 0)  # fmt: skip
    return bytes(out + directory + end)


class Storage:
    """A storage as a torch.save pickle refers to it, with whatever size it claims."""

    def __init__(self, key, numel, kind=torch.FloatStorage):
        self.key, self.numel, self.kind = key, numel, kind


class Call:
    """Pickles as ``function(*args)``: how torch.save writes a tensor."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


class CodeOnUnpickle:
    """An object whose unpickling creates a marker file: what a malicious file would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def tensor(storage, offset, shape, stride):
    args = (storage, offset, tuple(shape), tuple(stride), False, OrderedDict())
    return Call(torch._utils._rebuild_tensor_v2, *args)


def description(content, *, legacy=False):
    """The pickle of a torch.save file: storages become persistent ids."""

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                tag = ("storage", obj.kind, obj.key, "cpu", obj.numel)
                return (*tag, None) if legacy else tag
            return None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(content)
    return buffer.getvalue()


def torch_zip(content, records, *, data_pkl=None, method=0):
    """A file in torch.save's zip format: data.pkl describes ``content``, records hold data."""
    data_pkl = description(content) if data_pkl is None else data_pkl
    members = [("data.pkl", data_pkl), ("byteorder", b"little")]
    members += [(f"data/{key}", data) for key, data in records.items()] + [("version", b"3\n")]
    return zip_bytes([{"name": f"archive/{n}", "data": d, "method": method} for n, d in members])


def torch_stream(content, storages, *, counts=None, version=1001):
    """A file in torch.save's format before 1.6: five pickles, then each storage's bytes."""
    out = io.BytesIO()
    for part in (MAGIC, version, {"protocol_version": version, "little_endian": True}):
        pickle.dump(part, out, protocol=2)
    out.write(description(content, legacy=True))
    pickle.dump(list(storages), out, protocol=2)
    for key, data in storages.items():
        out.write(struct.pack("<q", (counts or {}).get(key, len(data) // 4)) + data)
    return out.getvalue()


def safetensors_bytes(header, data=b"", *, length=None):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def eye_tensor(key="0", numel=9, shape=(3, 3), stride=(3, 1), offset=0):
    return tensor(Storage(key, numel), offset, shape, stride)


def sparse_file(path, head, size):
    """A file of ``size`` bytes that starts with ``head``: a hole, so the disk holds nothing."""
    with open(path, "wb") as file:
        file.write(head)
        file.truncate(size)
    return path


def save_safetensors(path, tensors):
    pytest.importorskip("safetensors.torch").save_file(tensors, path)
    return path


# --- the corpus of bad files: each one refused with its own line --------------------------------

CASES = []


def case(pattern, key=None):
    """Register a builder ``folder -> path`` whose file must be refused with ``pattern``."""

    def register(build):
        CASES.append(pytest.param(build, pattern, key, id=build.__name__))
        return build

    return register


def write(folder, name, data):
    (folder / name).write_bytes(data)
    return folder / name


# files that are no file, or cannot be read


@case(r"empty\.npy: the file is empty \(0 bytes\)")
def empty_npy(folder):
    return write(folder, "empty.npy", b"")


@case(r"empty\.safetensors: the file is empty")
def empty_safetensors(folder):
    return write(folder, "empty.safetensors", b"")


@case(r"folder\.pt: not a file but a folder")
def folder_pt(folder):
    (folder / "folder.pt").mkdir()
    return folder / "folder.pt"


@case(r"dangling\.npy: a symbolic link to '.*gone\.npy', which does not exist")
def dangling_link(folder):
    (folder / "dangling.npy").symlink_to(folder / "gone.npy")
    return folder / "dangling.npy"


@case(r"loop\.npz: cannot be read \(Too many levels of symbolic links\)")
def link_loop(folder):
    (folder / "loop.npz").symlink_to(folder / "loop.npz")
    return folder / "loop.npz"


@case(r"zero\.npy: not a regular file \(a pipe, socket or device\)")
def device(folder):
    (folder / "zero.npy").symlink_to("/dev/zero")
    return folder / "zero.npy"


@case(r"fifo\.pt: not a regular file")
def named_pipe(folder):
    os.mkfifo(folder / "fifo.pt")
    return folder / "fifo.pt"


@case(r"w\.npy/x\.npy: cannot be read \(Not a directory\)")
def under_a_file(folder):
    np.save(folder / "w.npy", EYE)
    return folder / "w.npy" / "x.npy"


# a file of one format under another format's extension


@case(r"w\.npy is a zip archive, not a \.npy file: name it \.npz if np\.savez wrote it, \.pt if")
def npz_as_npy(folder):
    np.savez(folder / "w.npz", w=EYE)
    return (folder / "w.npz").rename(folder / "w.npy")


@case(r"w\.pt is a NumPy \.npy file, not a file written by torch\.save; rename it to w\.npy\.")
def npy_as_pt(folder):
    np.save(folder / "w.npy", EYE)
    return (folder / "w.npy").rename(folder / "w.pt")


@case(r"w\.npy is a safetensors file, not a \.npy file; rename it to w\.safetensors\.")
def safetensors_as_npy(folder):
    save_safetensors(folder / "w.safetensors", {"w": torch.eye(3)})
    return (folder / "w.safetensors").rename(folder / "w.npy")


@case(r"w\.npz is a PyTorch file written by torch\.save, not a \.npz archive; rename it to w\.pt")
def pt_as_npz(folder):
    torch.save(torch.eye(3), folder / "w.npz")
    return folder / "w.npz"


@case(r"w\.pt is a NumPy \.npz archive, not a file written by torch\.save; rename it to w\.npz")
def npz_as_pt(folder):
    np.savez(folder / "w.npz", w=EYE)
    return (folder / "w.npz").rename(folder / "w.pt")


@case(r"w\.safetensors is a zip archive, not a \.safetensors file\.")
def pt_as_safetensors(folder):
    torch.save(torch.eye(3), folder / "w.safetensors")
    return folder / "w.safetensors"


@case(r"w\.npy is a gzip file, not a \.npy file\.")
def gzipped_npy(folder):
    buffer = io.BytesIO()
    np.save(buffer, EYE)
    return write(folder, "w.npy", gzip.compress(buffer.getvalue()))


@case(r"w\.pth is an HDF5 file, not a file written by torch\.save\.")
def hdf5_as_pt(folder):
    return write(folder, "w.pth", b"\x89HDF\r\n\x1a\n" + bytes(100))


@case(r"w\.pt is a tar archive, not a file written by torch\.save\.")
def tar_as_pt(folder):
    with tarfile.open(folder / "w.pt", "w") as archive:
        archive.add(__file__, arcname="weights")
    return folder / "w.pt"


@case(r"w\.npy: not a readable \.npy file \(it does not start with the \.npy magic string")
def text_as_npy(folder):
    return write(folder, "w.npy", b"0.5 0.5\n0.5 0.5\n")


@case(r"w\.pt: not a file written by torch\.save \(it starts with b'0\.5 0\.5")
def text_as_pt(folder):
    return write(folder, "w.pt", b"0.5 0.5\n0.5 0.5\n")


# .npy headers


@case(r"not a readable \.npy file \(its header is not a Python dict literal: .*'shape': \(3, 3")
def unclosed_header(folder):  # numpy.load: tokenize.TokenError
    return write(folder, "w.npy", npy_bytes(npy_header()[:-1], bytes(72)))


@case(r"not a readable \.npy file \(its header is not a Python dict literal")
def header_of_nonsense(folder):
    return write(folder, "w.npy", npy_bytes("{'descr: '<f8', 'shape': (3, 3)}", bytes(72)))


@case(r"its header must be a dict of descr, fortran_order and shape; got b'\[1, 2\]'")
def header_a_list(folder):
    return write(folder, "w.npy", npy_bytes("[1, 2]", bytes(72)))


@case(r"its header must be a dict of descr, fortran_order and shape")
def header_with_another_key(folder):
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 3), 'mode': 'r'}"
    return write(folder, "w.npy", npy_bytes(header, bytes(72)))


@case(r"its shape must be a tuple of non-negative integers; got \(3, -3\)")
def negative_shape(folder):
    return write(folder, "w.npy", npy_bytes(npy_header(shape=(3, -3)), bytes(72)))


@case(r"its shape must be a tuple of non-negative integers; got \(3\.0, 3\)")
def float_shape(folder):
    return write(folder, "w.npy", npy_bytes(npy_header(shape=(3.0, 3)), bytes(72)))


@case(r"its fortran_order must be True or False; got 'yes'")
def fortran_order_text(folder):
    return write(folder, "w.npy", npy_bytes(npy_header(fortran_order="yes"), bytes(72)))


@case(r"its descr names no NumPy dtype: '<q9'")
def unknown_descr(folder):
    return write(folder, "w.npy", npy_bytes(npy_header(descr="<q9"), bytes(72)))


@case(r"not a readable \.npy file \(format version 9\.0; the versions are 1\.0, 2\.0 and 3\.0\)")
def unknown_version(folder):
    return write(folder, "w.npy", npy_bytes(npy_header(), bytes(72), version=(9, 0)))


@case(
    r"not a readable \.npy file \(a header of 60,000 bytes; NumPy reads headers of at most 10,000"
)
def header_too_long(folder):
    return write(folder, "w.npy", npy_bytes(npy_header() + " " * 59_000, length=60_000))


@case(r"\(the header says it is 900 bytes long but the file ends after \d+\)")
def header_cut_short(folder):
    return write(folder, "w.npy", npy_bytes(npy_header(), length=900)[:70])


@case(r"not a readable \.npy file \(the file ends inside its header\)")
def magic_only(folder):
    return write(folder, "w.npy", b"\x93NUMPY\x01\x00\x05")


@case(
    r"w\.npy: the header says shape \(900000, 900000\) of float64 \(6,480,000,000,000 bytes\) "
    r"but the file holds 72 bytes after it; it is truncated or corrupt\."
)
def huge_shape_few_bytes(folder):  # numpy.load: tries to allocate 5.89 TiB
    return write(folder, "w.npy", npy_bytes(npy_header(shape=(900000, 900000)), bytes(72)))


@case(r"the header says shape \(3, 3\) of float64 \(72 bytes\) but the file holds 40 bytes after")
def truncated_data(folder):
    return write(folder, "w.npy", npy_bytes(npy_header(), bytes(40)))


@case(r"shape \(8193, 8192\) is too large to draw \(67,117,056 values\); attnlab draws at most")
def too_many_values(folder):  # the bytes are there (a hole in a sparse file)
    head = npy_bytes(npy_header("<f4", (8193, 8192)).ljust(118) + "\n")
    return sparse_file(folder / "w.npy", head, len(head) + 8193 * 8192 * 4)


@case(r"shape \(4097, 4097\) is too large to draw \(16,785,409 values in a panel\)")
def panel_too_large(folder):
    head = npy_bytes(npy_header("|u1", (4097, 4097)).ljust(118) + "\n")
    return sparse_file(folder / "w.npy", head, len(head) + 4097 * 4097)


@case(r"shape \(33, 32, 2, 2\) is too large to draw \(1,056 panels\)")
def too_many_panels(folder):
    np.save(folder / "w.npy", np.ones((33, 32, 2, 2), dtype=np.float32))
    return folder / "w.npy"


@case(r"w\.npy: weights must be numeric; got dtype \[\('a', '<f8'\), \('b', '<i4'\)\]")
def structured_dtype(folder):
    np.save(folder / "w.npy", np.zeros(3, dtype=[("a", "<f8"), ("b", "<i4")]))
    return folder / "w.npy"


@case(r"w\.npy: weights must be numeric; got dtype datetime64\[s\]")
def datetime_dtype(folder):
    np.save(folder / "w.npy", np.zeros((2, 2), dtype="datetime64[s]"))
    return folder / "w.npy"


@case(r"w\.npy: weights must be real numbers; got dtype complex64")
def complex_npy(folder):
    np.save(folder / "w.npy", EYE.astype(np.complex64))
    return folder / "w.npy"


@case(r"w\.npy has an array of Python objects and could only be read by unpickling; attnlab never")
def object_npy(folder):
    np.save(folder / "w.npy", np.array([CodeOnUnpickle(folder / "marker")]), allow_pickle=True)
    return folder / "w.npy"


# .npz archives


@case(r"w\.npz: not a \.npz archive: the zip archive holds no \.npy arrays \(it holds 'a\.txt'\)")
def zip_of_text(folder):
    return write(folder, "w.npz", zip_bytes([{"name": "a.txt", "data": b"0.5"}]))


@case(r"w\.npz: the file holds no arrays\.")
def empty_zip(folder):
    return write(folder, "w.npz", zip_bytes([]))


@case(r"w\.npz: array 'w': not a readable \.npy file \(its header is not a Python dict literal")
def npz_member_bad_header(folder):
    member = npy_bytes(npy_header()[:-1], bytes(72))
    return write(folder, "w.npz", zip_bytes([{"name": "w.npy", "data": member, "method": 8}]))


@case(
    r"w\.npz: array 'w': the header says shape \(900000, 900000\) of float64 "
    r"\(6,480,000,000,000 bytes\) but the member holds 72 bytes after it"
)
def npz_member_huge_shape(folder):
    member = npy_bytes(npy_header(shape=(900000, 900000)), bytes(72))
    return write(folder, "w.npz", zip_bytes([{"name": "w.npy", "data": member, "method": 8}]))


@case(r"w\.npz: array 'w': the data end before the 72 bytes that shape \(3, 3\) of float64 needs")
def npz_member_shorter_than_declared(folder):  # the directory says 200 bytes, the data hold 140
    member = npy_bytes(npy_header(), bytes(12))
    entry = {"name": "w.npy", "data": member, "size": len(member) + 60}
    return write(folder, "w.npz", zip_bytes([entry]))


@case(r"w\.npz: not a readable \.npz file \((BadZipFile|error): ")
def npz_member_corrupt_stream(folder):
    member = npy_bytes(npy_header(), np.arange(9.0).tobytes())
    stored = bytearray(zlib.compress(member)[2:-4])
    stored[len(stored) // 2] ^= 0xFF
    entry = {"name": "w.npy", "data": member, "method": 8, "stored": bytes(stored)}
    return write(folder, "w.npz", zip_bytes([entry]))


@case(r"w\.npz: its zip directory claims 1 entries \(4,294,967,295 bytes\) in a file of")
def npz_directory_larger_than_file(folder):
    data = bytearray(zip_bytes([{"name": "w.npy", "data": npy_bytes(npy_header(), bytes(72))}]))
    data[-10:-6] = struct.pack("<I", 0xFFFFFFFF)  # the end record's directory size
    return write(folder, "w.npz", bytes(data))


@case(r"w\.npz: array 'w' holds Python objects, which only unpickling could read; attnlab never")
def object_npz(folder):
    np.savez(folder / "w.npz", w=np.array([CodeOnUnpickle(folder / "marker")]))
    return folder / "w.npz"


@case(r"w\.npz: array 'w' is encrypted\.")
def encrypted_member(folder):
    data = bytearray(zip_bytes([{"name": "w.npy", "data": npy_bytes(npy_header(), bytes(72))}]))
    at = data.find(b"PK\x01\x02")
    data[at + 8 : at + 10] = struct.pack("<H", 1)  # general purpose flag: encrypted
    return write(folder, "w.npz", bytes(data))


# .pt and .pth: what the tensors claim


@case(r"w\.pt: a meta tensor of shape \(3, 3\) has a shape but no values")
def meta_tensor(folder):
    torch.save(torch.empty(3, 3, device="meta"), folder / "w.pt")
    return folder / "w.pt"


@case(r"w\.pt: a nested tensor \(its rows have different lengths\) has no one shape to draw")
def nested_tensor(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the prototype warning of nested tensors
        nested = torch.nested.nested_tensor([torch.ones(2, 2), torch.ones(3, 2)])
    torch.save(nested, folder / "w.pt")
    return folder / "w.pt"


@case(r"w\.pt: weights must be real numbers; got dtype complex64\.")
def complex_tensor(folder):
    torch.save(torch.eye(3, dtype=torch.complex64), folder / "w.pt")
    return folder / "w.pt"


@case(r"w\.pt: weights must be real numbers; got dtype complex32\.")
def complex_half_tensor(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # complex32 is experimental
        torch.save(torch.eye(3, dtype=torch.complex64).to(torch.complex32), folder / "w.pt")
    return folder / "w.pt"


@case(r"w\.pt: not a file written by torch\.save \(RuntimeError: size is inconsistent with indices")
def sparse_index_out_of_bounds(folder):  # to_dense would write outside the tensor
    indices = torch.tensor([[0, 5], [0, 1]])
    sparse = torch.sparse_coo_tensor(indices, torch.ones(2), (3, 3), check_invariants=False)
    torch.save(sparse, folder / "w.pt")
    return folder / "w.pt"


@case(r"w\.pt: shape \(1000000, 1000000\) is too large to draw \(1,000,000,000,000 values\)")
def sparse_huge(folder):  # one value; to_dense would allocate 4 TB
    sparse = torch.sparse_coo_tensor(
        torch.zeros(2, 1, dtype=torch.long), torch.ones(1), (10**6,) * 2
    )
    torch.save(sparse, folder / "w.pt")
    return folder / "w.pt"


@case(r"w\.pt: a tensor of shape \(30, 30\) needs 900 values of its storage, which holds 9")
def storage_smaller_than_shape(folder):
    content = eye_tensor(shape=(30, 30), stride=(30, 1))
    return write(folder, "w.pt", torch_zip(content, {"0": EYE.tobytes()}))


@case(
    r"w\.pt: storage '0' is said to hold 1,000,000,000,000 values \(4,000,000,000,000 bytes\) "
    r"but its record holds 36 bytes; the file is corrupt\."
)
def storage_larger_than_record(folder):
    return write(folder, "w.pt", torch_zip(eye_tensor(numel=10**12), {"0": EYE.tobytes()}))


@case(r"w\.pt: .*refers to storage '7', which the file does not hold")
def storage_missing(folder):
    return write(folder, "w.pt", torch_zip(eye_tensor(key="7"), {"0": EYE.tobytes()}))


@case(r"w\.pt: shape \(1000000, 1000000\) is too large to draw")
def zero_strides(folder):  # a view of 10**12 values over 36 bytes
    content = eye_tensor(shape=(10**6, 10**6), stride=(0, 0))
    return write(folder, "w.pt", torch_zip(content, {"0": EYE.tobytes()}))


@case(
    r"w\.pt: not a file written by torch\.save \(a tensor of shape \(3, 3\) with strides \(-3, -1\)"
)
def negative_strides(folder):
    content = eye_tensor(stride=(-3, -1), offset=8)
    return write(folder, "w.pt", torch_zip(content, {"0": EYE.tobytes()}))


@case(r"w\.pt: shape \(100000, 100000\) is too large to draw")
def quantized_huge(folder):  # torch allocates a quantized tensor's values before it reads them
    args = (Storage("0", 9, torch.QUInt8Storage), 0, (10**5, 10**5), (10**5, 1))
    quantizer = (torch.per_tensor_affine, 0.1, 0)
    content = Call(torch._utils._rebuild_qtensor, *args, quantizer, False, OrderedDict())
    return write(folder, "w.pt", torch_zip(content, {"0": bytes(9)}))


@case(r"w\.pt: a tensor of shape \(9000, 9000\) holds 9 values in the file but would be drawn")
def device_copy_huge(folder):  # .to(dtype) of a broadcast view would write 81 million values
    view = eye_tensor(shape=(9000, 9000), stride=(0, 0))
    content = Call(
        torch._utils._rebuild_device_tensor_from_cpu_tensor, view, torch.float64, "cpu", False
    )
    return write(folder, "w.pt", torch_zip(content, {"0": EYE.tobytes()}))


@case(r"w\.pt: its tensors are too large to draw\.")
def device_copies_many(folder):  # each copy is small enough, all of them together are not
    view = eye_tensor(shape=(1024, 1024), stride=(0, 0))
    copy = torch._utils._rebuild_device_tensor_from_cpu_tensor
    copies = {str(n): Call(copy, view, torch.float64, "cpu", False) for n in range(65)}  # 65 calls
    return write(folder, "w.pt", torch_zip(copies, {"0": EYE.tobytes()}))


@case(
    r"w\.pt: a tensor of shape \(2048, 2048\) holds 9 values in the file but would be drawn as "
    r"4,194,304; attnlab draws at most 1,048,576 more than a file holds \(a view made by expand"
)
def broadcast_view_too_large(folder):
    content = eye_tensor(shape=(2048, 2048), stride=(0, 0))
    return write(folder, "w.pt", torch_zip(content, {"0": EYE.tobytes()}))


@case(r"w\.pt: a tensor of shape \(2048, 2048\) holds 1 values in the file but would be drawn")
def sparse_mostly_zeros(folder):
    sparse = torch.sparse_coo_tensor(
        torch.zeros(2, 1, dtype=torch.long), torch.ones(1), (2048,) * 2
    )
    torch.save(sparse, folder / "w.pt")
    return folder / "w.pt"


@case(r"w\.pt: a tensor of shape \(2048, 2048\) holds 9 values in the file but would be drawn")
def quantized_broadcast(folder):  # torch would allocate all its values before reading any
    args = (Storage("0", 9, torch.QUInt8Storage), 0, (2048, 2048), (0, 0))
    quantizer = (torch.per_tensor_affine, 0.1, 0)
    content = Call(torch._utils._rebuild_qtensor, *args, quantizer, False, OrderedDict())
    return write(folder, "w.pt", torch_zip(content, {"0": bytes(9)}))


@case(r"w\.pt: its dicts and lists are nested more than 32 levels deep\.")
def nested_too_deep(folder):
    content = torch.eye(3)
    for _ in range(40):
        content = {"inner": content}
    torch.save(content, folder / "w.pt")
    return folder / "w.pt"


@case(r"w\.pt: the list it holds has no tensors\.")
def list_without_tensors(folder):
    torch.save([1, 2.0, "three"], folder / "w.pt")
    return folder / "w.pt"


@case(r"w\.pt: expected a tensor, a list of tensors or a dict of tensors; got a str\.")
def a_string(folder):
    torch.save("weights", folder / "w.pt")
    return folder / "w.pt"


@case(r"w\.pt holds 2 arrays; choose one with --key \(one of 'encoder\.0\.attn', 'decoder\.attn'\)")
def nested_needs_key(folder):
    torch.save(
        {"encoder": [{"attn": torch.eye(2)}], "decoder": {"attn": torch.eye(3)}}, folder / "w.pt"
    )
    return folder / "w.pt"


@case(r"w\.pt: tensor 'layers': cannot stack the tensors of the list it holds; their shapes differ")
def nested_ragged_list(folder):
    torch.save({"layers": [torch.eye(2), torch.eye(3)], "step": 3}, folder / "w.pt")
    return folder / "w.pt"


# .pt and .pth: the file itself


@case(r"w\.pt is a TorchScript model \(torch\.jit\.save\), not saved tensors")
def torchscript(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript is deprecated
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), folder / "w.pt")
    return folder / "w.pt"


@case(r"w\.pt: its record 'archive/data\.pkl' is compressed or encrypted, which torch\.save never")
def compressed_records(folder):
    return write(folder, "w.pt", torch_zip(eye_tensor(), {"0": EYE.tobytes()}, method=8))


@case(
    r"w\.pt is a zip archive but not a file written by torch\.save \(it holds 2 data\.pkl records"
)
def two_descriptions(folder):
    members = [{"name": f"{root}/data.pkl", "data": description(1)} for root in ("a", "b")]
    return write(folder, "w.pt", zip_bytes(members))


@case(r"w\.pt: its record 'archive/data/0' runs past the end of the file; the file is truncated")
def record_past_the_end(folder):
    data = bytearray(torch_zip(eye_tensor(), {"0": EYE.tobytes()}))
    at = data.find(b"PK\x01\x02")  # the directory's entries, each with its name at 46
    while data[at + 46 : at + 60] != b"archive/data/0":
        at = data.find(b"PK\x01\x02", at + 4)
    data[at + 20 : at + 28] = struct.pack("<II", 10**6, 10**6)  # compressed and full size
    return write(folder, "w.pt", bytes(data))


@case(r"w\.pt: its pickled description is 5,000,\d{3} bytes; attnlab reads descriptions of at most")
def description_too_long(folder):
    return write(folder, "w.pt", torch_zip({"pad": "x" * 5_000_000}, {}))


@case(r"w\.pt: not a file written by torch\.save \(its pickle: ValueError: expected 4,?0*")
def pickle_claims_long_bytes(folder):  # BINBYTES8: the C unpickler would allocate first
    data_pkl = b"\x80\x04\x8e" + struct.pack("<Q", 4 * 10**11) + b"abc"
    return write(folder, "w.pt", torch_zip(None, {}, data_pkl=data_pkl))


@case(r"w\.pt: not a file written by torch\.save \(its pickle: ")
def pickle_truncated(folder):
    return write(folder, "w.pt", torch_zip(None, {}, data_pkl=description(eye_tensor())[:40]))


@case(r"w\.pt: not a file written by torch\.save \(an unknown reference 'module'\)")
def unknown_persistent_id(folder):
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return "module" if obj == "x" else None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(["x"])
    return write(folder, "w.pt", torch_zip(None, {}, data_pkl=buffer.getvalue()))


# the format before PyTorch 1.6: a stream of pickles and storages


@case(r"w\.pt: storage '0' is said to hold 9 values but the file says 1,000,000,000,000; it is")
def stream_count_disagrees(folder):
    data = torch_stream(eye_tensor(), {"0": EYE.tobytes()}, counts={"0": 10**12})
    return write(folder, "w.pt", data)


@case(r"w\.pt: storage '0' is said to hold 1,000,000,000 values but the file says 9; it is")
def stream_numel_huge(folder):  # torch would allocate 4 GB for it before reading
    return write(folder, "w.pt", torch_stream(eye_tensor(numel=10**9), {"0": EYE.tobytes()}))


@case(r"w\.pt: storage '0' runs past the end of the file; it is truncated\.")
def stream_truncated(folder):
    return write(folder, "w.pt", torch_stream(eye_tensor(), {"0": EYE.tobytes()})[:-10])


@case(r"w\.pt: its pickled part is larger than the 4 MiB attnlab reads\.")
def stream_pickle_too_long(folder):
    return write(folder, "w.pt", torch_stream({"pad": "x" * 5_000_000}, {}))


@case(r"w\.pt: not a file written by torch\.save \(format 7\)")
def stream_wrong_version(folder):
    return write(folder, "w.pt", torch_stream(eye_tensor(), {"0": EYE.tobytes()}, version=7))


@case(r"w\.pt is a tar archive, the format of PyTorch before version 0\.4, which attnlab")
def tar_that_starts_like_a_pickle(folder):  # torch.load would read it as a tar archive
    with tarfile.open(folder / "w.pt", "w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tar:
        info = tarfile.TarInfo("\x80\x02storages")
        tar.addfile(info, io.BytesIO(b""))
    return folder / "w.pt"


# pickles, plain or hidden: refused by attnlab's own message, never unpickled


@case(
    r"w\.pt is a plain Python pickle \(it refers to [\w.]*open\), not a file written by "
    r"torch\.save; attnlab never unpickles, because unpickling can run arbitrary code; "
    r"save plain numeric arrays or tensors instead, e\.g\. torch\.save\(weights\.detach\(\)\.cpu\(\), "
)
def plain_pickle_with_code(folder):
    return write(folder, "w.pt", pickle.dumps({"w": CodeOnUnpickle(folder / "marker")}))


@case(
    r"w\.pth is a plain Python pickle, not a file written by torch\.save; attnlab never unpickles"
)
def plain_pickle_of_numbers(folder):
    return write(folder, "w.pth", pickle.dumps({"w": [[0.5, 0.5], [0.5, 0.5]]}))


@case(r"w\.pt is a plain Python pickle \(it refers to numpy[\w.]*\), not a file written by torch")
def plain_pickle_of_an_array(folder):
    return write(folder, "w.pt", pickle.dumps(EYE))


@case(r"w\.pt holds Python objects \(it refers to [\w.]*open\), not only tensors")
def zip_with_code(folder):
    torch.save({"w": torch.eye(3), "x": CodeOnUnpickle(folder / "marker")}, folder / "w.pt")
    return folder / "w.pt"


@case(r"w\.pt holds Python objects \(it refers to (posix|os|nt)\.system\), not only tensors")
def zip_with_system_call(folder):
    payload = Call(os.system, f"touch {folder / 'marker'}")
    return write(folder, "w.pt", torch_zip({"w": payload}, {}))


@case(r"w\.pt holds Python objects \(it refers to [\w.]*open\), not only tensors")
def stream_with_code(folder):
    content = {"w": eye_tensor(), "x": CodeOnUnpickle(folder / "marker")}
    return write(folder, "w.pt", torch_stream(content, {"0": EYE.tobytes()}))


@case(r"w\.pt holds Python objects \(it refers to torch\.nn\.modules\.linear\.Linear\)")
def torch_module(folder):  # a torch global that torch's own safe loader refuses
    torch.save(torch.nn.Linear(2, 2), folder / "w.pt")
    return folder / "w.pt"


# .safetensors


@case(r"not a readable \.safetensors file \(the header is said to be 1,000,000 bytes long but ")
def safetensors_header_past_end(folder):
    return write(folder, "w.safetensors", safetensors_bytes({}, length=10**6))


@case(r"not a readable \.safetensors file \(a header of 17,000,000 bytes; attnlab reads headers of")
def safetensors_header_too_long(folder):
    head = struct.pack("<Q", 17_000_000) + b'{"w": '
    return sparse_file(folder / "w.safetensors", head, 17_000_008)


@case(r"not a readable \.safetensors file \(its header is not JSON: 'utf-8' codec")
def safetensors_header_not_utf8(folder):
    return write(folder, "w.safetensors", safetensors_bytes(b'{"\xff": 1}'))


@case(r"not a readable \.safetensors file \(its header is not JSON: Expecting")
def safetensors_header_not_json(folder):
    return write(folder, "w.safetensors", safetensors_bytes(b"{w: 1}"))


@case(r"not a readable \.safetensors file \(its header is not JSON: maximum recursion depth")
def safetensors_header_deep(folder):
    return write(folder, "w.safetensors", safetensors_bytes(b'{"a": ' + b"[" * 100_000))


@case(r"its header must be a JSON object; got list")
def safetensors_header_list(folder):
    return write(folder, "w.safetensors", safetensors_bytes(b"[1, 2]  "))


@case(r"tensor 'w' is described by a str, not an object")
def safetensors_entry_text(folder):
    return write(folder, "w.safetensors", safetensors_bytes({"w": "F32"}))


@case(r"tensor 'w' has dtype 'F128'; attnlab reads BOOL, U8, I8")
def safetensors_unknown_dtype(folder):
    entry = {"dtype": "F128", "shape": [3], "data_offsets": [0, 48]}
    return write(folder, "w.safetensors", safetensors_bytes({"w": entry}, bytes(48)))


@case(r"tensor 'w' has shape \[3, -3\], not a list of sizes")
def safetensors_negative_shape(folder):
    entry = {"dtype": "F32", "shape": [3, -3], "data_offsets": [0, 36]}
    return write(folder, "w.safetensors", safetensors_bytes({"w": entry}, bytes(36)))


@case(r"tensor 'w' has data_offsets \[36, 0\], not \[begin, end\]")
def safetensors_offsets_backwards(folder):
    entry = {"dtype": "F32", "shape": [3, 3], "data_offsets": [36, 0]}
    return write(folder, "w.safetensors", safetensors_bytes({"w": entry}, bytes(36)))


@case(r"tensor 'w' ends at byte 3,600 of the data, which hold 36 bytes")
def safetensors_offsets_past_end(folder):
    entry = {"dtype": "F32", "shape": [30, 30], "data_offsets": [0, 3600]}
    return write(folder, "w.safetensors", safetensors_bytes({"w": entry}, bytes(36)))


@case(r"tensor 'w' of shape \(1000000, 1000000\) and dtype F32 needs 4,000,000,000,000 bytes, but")
def safetensors_huge_shape(folder):
    entry = {"dtype": "F32", "shape": [10**6, 10**6], "data_offsets": [0, 36]}
    return write(folder, "w.safetensors", safetensors_bytes({"w": entry}, bytes(36)))


@case(
    r"w\.safetensors: tensor 'w': shape \(8193, 8192\) is too large to draw \(67,117,056 values\)"
)
def safetensors_too_many_values(folder):
    size = 8193 * 8192
    head = safetensors_bytes(
        {"w": {"dtype": "U8", "shape": [8193, 8192], "data_offsets": [0, size]}}
    )
    return sparse_file(folder / "w.safetensors", head, len(head) + size)


@case(r"w\.safetensors: tensor 'w': weights must be real numbers; got dtype complex64\.")
def safetensors_complex(folder):
    entry = {"dtype": "C64", "shape": [3, 3], "data_offsets": [0, 72]}
    return write(folder, "w.safetensors", safetensors_bytes({"w": entry}, bytes(72)))


@case(r"w\.safetensors holds 2 arrays; choose one with --key \(one of 'a', 'b'\)")
def safetensors_needs_key(folder):
    return save_safetensors(folder / "w.safetensors", {"a": torch.eye(2), "b": torch.eye(3)})


# names that the user or the file chose: shown, never ending the line or driving the terminal


@case(r"two\\nlines\\x1b\[2J\.npy: the file is empty")
def file_name_with_escapes(folder):
    return write(folder, "two\nlines\x1b[2J.npy", b"")


@case(r"w\.safetensors holds 2 arrays; choose one with --key \(one of '\\x1b\[31mred', 'a\\nb'\)")
def tensor_names_with_escapes(folder):
    return save_safetensors(
        folder / "w.safetensors", {"\x1b[31mred": torch.eye(2), "a\nb": torch.eye(2)}
    )


@case(r"w\.npz: no array named '\\r\\x1b\[Kx'; it holds 'w'", key="\r\x1b[Kx")
def key_with_escapes(folder):
    np.savez(folder / "w.npz", w=EYE)
    return folder / "w.npz"


@case(r"w\.pt holds 2 arrays; choose one with --key \(one of 'a{57}'\.\.\., 'b'\)")
def very_long_name(folder):
    torch.save({"a" * 100_000: torch.eye(2), "b": torch.eye(2)}, folder / "w.pt")
    return folder / "w.pt"


@pytest.mark.parametrize(("build", "pattern", "key"), CASES)
def test_bad_file_is_refused_in_one_line(tmp_path, capfd, build, pattern, key):
    path = build(tmp_path)
    assert_refused(path, pattern, capfd, key=key)
    assert not (tmp_path / "marker").exists(), "a crafted file ran code"


def assert_refused(path, pattern, capfd, key=None):
    """``load_weights`` raises one line matching ``pattern`` with no warning; the command
    prints that line alone and exits 2, and writes no image."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(LoadError, match=pattern) as error:
            load_weights(path, key=key)
    assert not caught, [str(warning.message) for warning in caught]
    message = str(error.value)
    assert "\n" not in message and "weights_only" not in message, message
    out = path.parent / "out.png" if path.parent.is_dir() else path.parent.parent / "out.png"
    capfd.readouterr()
    code = main(["heatmap", str(path), *(["--key", key] if key else []), "--out", str(out)])
    captured = capfd.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1 and captured.err.endswith(f": {message}\n"), captured.err
    assert captured.out == "" and "Traceback" not in captured.err
    assert not out.exists()


def test_corpus_covers_each_kind():
    """The corpus holds several cases of every kind of bad file the loaders refuse."""
    names = {param.id for param in CASES}
    assert len(names) == len(CASES)  # each builder once
    for prefix, least in [
        ("safetensors_", 12),
        ("stream_", 5),
        ("npz_", 4),
        ("plain_pickle_", 3),
    ]:
        assert sum(name.startswith(prefix) for name in names) >= least, prefix
    assert len(CASES) >= 90


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_is_refused(tmp_path, capfd):
    np.save(tmp_path / "w.npy", EYE)
    (tmp_path / "w.npy").chmod(0)
    assert_refused(
        tmp_path / "w.npy", r"w\.npy: permission denied; attnlab needs to read the file", capfd
    )


def test_permission_denied_is_one_line(tmp_path, capfd, monkeypatch):
    """As the test above, for a process that runs as root (which any file lets read)."""
    np.save(tmp_path / "w.npy", EYE)

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", denied)
    assert_refused(
        tmp_path / "w.npy", r"w\.npy: permission denied; attnlab needs to read the file", capfd
    )


def test_unclosed_header_is_the_issue_case(tmp_path):
    """Control: the header that the corpus' unclosed_header case writes is the one on which
    numpy.load raises tokenize's error, and the huge shape the one it tries to allocate."""
    import tokenize

    with pytest.raises(tokenize.TokenError):
        np.load(unclosed_header(tmp_path))
    with pytest.raises(MemoryError):
        np.load(huge_shape_few_bytes(tmp_path))


# --- files that are drawn: the values an independent reader finds -------------------------------


def weights(*shape, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(*shape, generator=generator), dim=-1)


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized and sparse compressed tensors warn
        return function(*args, **kwargs)


def drawn_tensors():
    """(name, tensor as saved, what torch itself makes of its values)"""
    w = weights(2, 3, 4)
    quantized = quiet(torch.quantize_per_tensor, w, 0.01, 3, torch.quint8)
    per_channel = quiet(
        torch.quantize_per_channel, w[0], torch.tensor([0.01, 0.02, 0.05]), torch.zeros(3), 0,
        torch.qint8,
    )  # fmt: skip
    cases = [
        ("quantized", quantized, quantized.dequantize()),
        ("quantized per channel", per_channel, per_channel.dequantize()),
        ("sparse coo", w.to_sparse(), w),
        ("sparse csr", quiet(w[0].to_sparse_csr), w[0]),
        ("sparse csc", quiet(w[0].to_sparse_csc), w[0]),
        ("sparse bsr", quiet(w[0, :2].to_sparse_bsr, (2, 2)), w[0, :2]),
        ("parameter", torch.nn.Parameter(w), w),
        ("bfloat16", w.bfloat16(), w.bfloat16().float()),
        ("float8", w.to(torch.float8_e4m3fn), w.to(torch.float8_e4m3fn).float()),
        ("bool", w > 0.3, (w > 0.3).float()),
        ("uint8", (w * 100).to(torch.uint8), (w * 100).to(torch.uint8).float()),
        ("uint16", (w * 1000).to(torch.uint16), (w * 1000).to(torch.int32).float()),
        ("int64", (w * 1000).long(), (w * 1000).long().double()),
        ("float64", w.double(), w.double()),
        ("non-contiguous", w.transpose(1, 2), w.transpose(1, 2)),
        ("broadcast view", w[0, 0].expand(5, 4), w[0, 0].expand(5, 4)),
        ("negated view", torch.eye(3)._neg_view(), -torch.eye(3)),
    ]
    return [pytest.param(saved, expected, id=name) for name, saved, expected in cases]


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "stream"])
@pytest.mark.parametrize(("saved", "expected"), drawn_tensors())
def test_drawable_tensors_are_drawn_as_torch_reads_them(tmp_path, saved, expected, legacy):
    if legacy and saved.layout != torch.strided:
        pytest.skip("torch.save writes sparse tensors in its zip format only")
    if legacy and saved.dtype in (torch.float8_e4m3fn, torch.uint16):
        quiet(torch.save, saved, tmp_path / "w.pt", _use_new_zipfile_serialization=False)
        with pytest.raises(AttributeError):  # torch cannot read them back either
            torch.load(tmp_path / "w.pt", weights_only=True)
        with pytest.raises(LoadError, match=r"w\.pt: its storage has no dtype, which the format "):
            load_weights(tmp_path / "w.pt")
        return
    quiet(torch.save, saved, tmp_path / "w.pt", _use_new_zipfile_serialization=not legacy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_weights(tmp_path / "w.pt")
    assert not caught, [str(warning.message) for warning in caught]
    np.testing.assert_array_equal(loaded, expected.numpy().astype(loaded.dtype))
    assert loaded.flags.writeable and loaded.flags.owndata  # not a view of the mapped file


def test_stream_format_larger_than_the_pickle_budget(tmp_path):
    """Only the pickles of the format before 1.6 count against its 4 MiB: the storages that
    follow them may be as large as any array attnlab draws."""
    w = weights(1100, 1024)  # 4.5 MB of values
    torch.save({"w": w}, tmp_path / "w.pt", _use_new_zipfile_serialization=False)
    assert (tmp_path / "w.pt").stat().st_size > 4 * 2**20
    np.testing.assert_array_equal(load_weights(tmp_path / "w.pt"), w.numpy())


def test_nested_containers_are_named_by_path(tmp_path):
    layers = [weights(2, 3, 3, seed=seed) for seed in range(3)]
    content = {"encoder": {"layers": layers, "step": 7}, "decoder": [{"cross": weights(4, 4)}]}
    torch.save(content, tmp_path / "w.pt")
    stacked = load_weights(tmp_path / "w.pt", key="encoder.layers")  # the list, stacked
    np.testing.assert_array_equal(stacked, torch.stack(layers).numpy())
    np.testing.assert_array_equal(load_weights(tmp_path / "w.pt", key="decoder.0.cross"),
                                  content["decoder"][0]["cross"].numpy())  # fmt: skip
    torch.save({"outputs": {"attentions": tuple(layers)}}, tmp_path / "one.pt")
    np.testing.assert_array_equal(load_weights(tmp_path / "one.pt"), torch.stack(layers).numpy())


def test_containers_that_hold_themselves_are_walked_once(tmp_path):
    loop = []
    loop.append(loop)
    shared = {"w": weights(3, 3)}
    torch.save({"loop": loop, "a": shared, "b": shared}, tmp_path / "w.pt")
    assert load_weights(tmp_path / "w.pt", key="a.w").shape == (3, 3)
    with pytest.raises(LoadError, match=r"no array named 'b\.w'; it holds 'a\.w'"):
        load_weights(tmp_path / "w.pt", key="b.w")


def test_crafted_storage_with_views_in_the_stream_format(tmp_path):
    """The format before 1.6 could save a view into a larger storage: (key, offset, size)."""

    class ViewPickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", torch.FloatStorage, "0", "cpu", 18, ("1", 9, 9))
            return None

    out = io.BytesIO()
    for part in (MAGIC, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(part, out, protocol=2)
    ViewPickler(out, protocol=2).dump(eye_tensor())
    pickle.dump(["0"], out, protocol=2)
    data = np.concatenate([np.zeros(9, np.float32), EYE.ravel()]).tobytes()
    (tmp_path / "w.pt").write_bytes(out.getvalue() + struct.pack("<q", 18) + data)
    expected = torch.load(tmp_path / "w.pt", weights_only=True)  # the oracle: torch itself
    np.testing.assert_array_equal(load_weights(tmp_path / "w.pt"), expected.numpy())
    np.testing.assert_array_equal(expected.numpy(), EYE)


@pytest.mark.parametrize(
    "array",
    [
        pytest.param(np.asfortranarray(weights(3, 4).numpy()), id="fortran order"),
        pytest.param(weights(3, 4).numpy().astype(">f8"), id="big-endian"),
        pytest.param(weights(2, 3, 4).numpy().astype(np.float16), id="float16"),
        pytest.param(np.arange(12, dtype=np.uint32).reshape(3, 4), id="uint32"),
    ],
)
@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_npy_files_are_read_as_numpy_reads_them(tmp_path, array, version):
    with open(tmp_path / "w.npy", "wb") as file:
        np.lib.format.write_array(file, array, version=version)
    loaded = load_weights(tmp_path / "w.npy")
    np.testing.assert_array_equal(loaded, np.load(tmp_path / "w.npy").astype(loaded.dtype))


def test_python_2_headers_are_read(tmp_path):
    """Python 2 wrote its long integers as 3L, and NumPy still reads those files."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 3L), }"
    (tmp_path / "w.npy").write_bytes(npy_bytes(header, EYE.tobytes()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy asks for the file to be saved again
        expected = np.load(tmp_path / "w.npy")
    np.testing.assert_array_equal(load_weights(tmp_path / "w.npy"), expected)


def test_npz_keys_with_or_without_their_extension(tmp_path):
    np.savez_compressed(tmp_path / "w.npz", first=EYE, second=2 * EYE)
    for key in ("second", "second.npy"):
        np.testing.assert_array_equal(load_weights(tmp_path / "w.npz", key=key), 2 * EYE)


def test_npz_member_is_decompressed_only_as_far_as_its_header_allows(tmp_path):
    """A member that claims 67 million values, deflated to a few kilobytes (a zip bomb), is
    refused from its header: nothing like its 268 MB is ever decompressed."""
    header = npy_bytes(npy_header("<f4", (4096, 4097)).ljust(118) + "\n")
    size = len(header) + 4096 * 4097 * 4
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    stored = packer.compress(header) + b"".join(packer.compress(bytes(2**20)) for _ in range(64))
    stored += packer.compress(bytes(size - len(header) - 64 * 2**20)) + packer.flush()
    member = {"name": "w.npy", "data": header, "method": 8, "stored": stored, "size": size}
    (tmp_path / "w.npz").write_bytes(zip_bytes([member]))
    tracemalloc.start()
    try:
        with pytest.raises(LoadError, match=r"shape \(4096, 4097\) is too large to draw"):
            load_weights(tmp_path / "w.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, f"{peak:,} bytes allocated"


@pytest.mark.parametrize(
    "dtype",
    [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.uint8,
     torch.bool, torch.float8_e4m3fn, torch.float8_e5m2],
)  # fmt: skip
def test_safetensors_are_read_as_safetensors_reads_them(tmp_path, dtype):
    safetensors = pytest.importorskip("safetensors.torch")
    content = {"attn": (weights(2, 3, 4) * 10).to(dtype), "other": torch.zeros(3)}
    safetensors.save_file(content, tmp_path / "w.safetensors", metadata={"format": "pt"})
    expected = safetensors.load_file(tmp_path / "w.safetensors")["attn"]  # the oracle
    loaded = load_weights(tmp_path / "w.safetensors", key="attn")
    np.testing.assert_array_equal(loaded, expected.float().numpy().astype(loaded.dtype))


def test_the_scan_imports_nothing_that_a_pickle_names(tmp_path):
    """The stand-ins only record names: a module that a file names is never imported."""
    assert "antigravity" not in sys.modules  # importing it opens a web browser
    call = b"\x80\x02cantigravity\ngeohash\n)R."  # GLOBAL, EMPTY_TUPLE, REDUCE, STOP
    (tmp_path / "zip.pt").write_bytes(torch_zip(None, {}, data_pkl=call))
    (tmp_path / "plain.pt").write_bytes(call)
    with pytest.raises(LoadError, match=r"zip\.pt holds Python objects \(it refers to antigravity"):
        load_weights(tmp_path / "zip.pt")
    with pytest.raises(LoadError, match=r"plain\.pt is a plain Python pickle \(it refers to anti"):
        load_weights(tmp_path / "plain.pt")
    assert "antigravity" not in sys.modules


def test_files_naming_other_globals_never_reach_torch_load(tmp_path, monkeypatch):
    """A pickle that names anything beyond tensors and containers is refused by attnlab
    itself: no unpickler, not even torch's restricted one, is ever given it."""
    paths = []
    for build in (zip_with_code, zip_with_system_call, stream_with_code, plain_pickle_with_code):
        (tmp_path / build.__name__).mkdir()
        paths.append(build(tmp_path / build.__name__))

    def refuse(*args, **kwargs):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", refuse)
    for path in paths:
        with pytest.raises(LoadError, match=r"(holds|plain) Python (objects|pickle) \(it refers"):
            load_weights(path)


# --- pickles never run: the control that they would --------------------------------------------


def payloads(folder):
    """Files of every format that create ``folder/marker`` when unpickled, and how to do it."""
    marker = folder / "marker"
    np.save(folder / "evil.npy", np.array([CodeOnUnpickle(marker)]), allow_pickle=True)
    np.savez(folder / "evil.npz", w=np.array([CodeOnUnpickle(marker)]))
    torch.save({"w": torch.eye(3), "x": CodeOnUnpickle(marker)}, folder / "zip.pt")
    content = {"w": eye_tensor(), "x": CodeOnUnpickle(marker)}
    (folder / "stream.pt").write_bytes(torch_stream(content, {"0": EYE.tobytes()}))
    (folder / "plain.pt").write_bytes(pickle.dumps(CodeOnUnpickle(marker)))
    (folder / "plain.npy").write_bytes(pickle.dumps(CodeOnUnpickle(marker)))
    (folder / "plain.safetensors").write_bytes(pickle.dumps(CodeOnUnpickle(marker)))
    unsafe = {
        "evil.npy": lambda path: np.load(path, allow_pickle=True),
        "evil.npz": lambda path: np.load(path, allow_pickle=True)["w"],
        "zip.pt": lambda path: torch.load(path, weights_only=False),
        "stream.pt": lambda path: torch.load(path, weights_only=False),
        "plain.pt": lambda path: pickle.loads(path.read_bytes()),
        "plain.npy": lambda path: np.load(path, allow_pickle=True),
        "plain.safetensors": lambda path: pickle.loads(path.read_bytes()),
    }
    return marker, unsafe


def test_payloads_would_run_code_if_unpickled(tmp_path):
    marker, unsafe = payloads(tmp_path)
    for name, load in unsafe.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load(tmp_path / name)
        assert marker.exists(), name
        marker.unlink()


def test_payloads_never_run(tmp_path, capfd):
    marker, unsafe = payloads(tmp_path)
    for name in unsafe:
        with pytest.raises(LoadError, match=r"never unpickles|is a Python pickle") as error:
            load_weights(tmp_path / name)
        assert "weights_only" not in str(error.value)
        code = main(["heatmap", str(tmp_path / name), "--out", str(tmp_path / "out.png")])
        assert code == 2 and capfd.readouterr().err.count("\n") == 1
        assert not marker.exists(), f"{name} ran code"


@pytest.mark.slow
def test_no_warning_reaches_the_terminal(tmp_path):
    """In a fresh process with every warning shown (-W always), files that make torch and
    NumPy warn as they are read print only their one line, or nothing when drawn."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save(
            torch.quantize_per_tensor(weights(3, 3), 0.1, 0, torch.quint8), tmp_path / "q.pt"
        )
        torch.save(weights(3, 3).to_sparse_csr(), tmp_path / "csr.pt")
        torch.save(
            torch.nested.nested_tensor([torch.ones(2, 2), torch.ones(3, 2)]), tmp_path / "n.pt"
        )
        torch.save(weights(3, 3), tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    (tmp_path / "plain.pt").write_bytes(pickle.dumps({"w": [[0.5, 0.5]]}, protocol=4))
    np.save(tmp_path / "wide.npy", np.full((3, 3), np.longdouble("1e4000")))  # inf as float64
    (tmp_path / "py2.npy").write_bytes(npy_bytes("{'descr': '<f4', 'fortran_order': False, "
                                                 "'shape': (3L, 3L), }", EYE.tobytes()))  # fmt: skip
    expected = {  # file: what stderr holds after the separator
        "q.pt": "",
        "csr.pt": "",
        "old.pt": "",
        "py2.npy": "",
        "n.pt": "attnlab heatmap: error: n.pt: a nested tensor",
        "plain.pt": "attnlab heatmap: error: plain.pt is a plain Python pickle, not a file",
        "wide.npy": "attnlab heatmap: error: wide.npy: weights must be finite",
    }
    script = (
        "import sys\nfrom attnlab.cli import main\n"
        "for name in sys.argv[1:]:\n"
        "    print('=== ' + name, file=sys.stderr, flush=True)\n"
        "    main(['heatmap', name, '--out', name + '.png', '--dpi', '20'])\n"
        "    sys.stderr.flush()\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", script, *expected],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    chunks = dict(re.findall(r"=== (\S+)\n(.*?)(?=^=== |\Z)", result.stderr, re.S | re.M))
    assert set(chunks) == set(expected), result.stderr
    for name, start in expected.items():
        lines = chunks[name].splitlines()
        assert len(lines) == (1 if start else 0), (name, chunks[name])
        assert chunks[name].startswith(start), (name, chunks[name])
        assert (tmp_path / f"{name}.png").exists() == (not start), name


# --- fuzzing: random and mutated files of every format -----------------------------------------

GROWTH_MIB = 256  # what the worker's peak resident memory may grow by over all cases
HEADROOM_MIB = 1024  # its address space beyond its warm size: larger allocations fail


class Worker:
    """One ``heatmap_worker.py`` process that runs ``attnlab heatmap`` on case after case."""

    def __init__(self, folder):
        script = Path(__file__).with_name("heatmap_worker.py")
        self.process = subprocess.Popen(
            [sys.executable, str(script), "--headroom", str(HEADROOM_MIB)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "MPLBACKEND": "Agg"},
        )  # fmt: skip
        self.folder, self.cases = folder, 0
        self.baseline_kib = self._answer()["peak_kib"]

    def _answer(self, timeout=120):
        import select

        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.process.kill()
            raise AssertionError(f"the worker did not answer within {timeout} s")
        line = self.process.stdout.readline()
        assert line, "the worker died"
        return json.loads(line)

    def run(self, content, extension):
        self.cases += 1
        path = self.folder / f"case{extension}"
        out = self.folder / "case.png"
        out.unlink(missing_ok=True)
        path.write_bytes(content)
        small = ["--dpi", "10"]  # drawing costs most of the time of a case
        request = {"file": str(path), "out": str(out), "args": small}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self):
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    if not sys.platform.startswith("linux"):
        pytest.skip("the worker reads /proc/self/status")
    process = Worker(tmp_path_factory.mktemp("fuzz"))
    yield process
    process.close()


def seed_files():
    """Small valid files of each format: the fuzzer's starting points."""
    w = weights(2, 3)
    files = {".npy": [], ".npz": [], ".pt": [], ".safetensors": []}
    for array, version in [(w.numpy(), (1, 0)), (w.double().numpy().T, (2, 0)),
                           ((w * 10).to(torch.int8).numpy()[None], (3, 0))]:  # fmt: skip
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array, version=version)
        files[".npy"].append(buffer.getvalue())
    for save in (np.savez, np.savez_compressed):
        buffer = io.BytesIO()
        save(buffer, w=w.numpy())
        files[".npz"].append(buffer.getvalue())
    for content, legacy in [(w, False), ({"a": {"w": w}, "n": 3}, False), ([w, w], False),
                            (w.T, True)]:  # fmt: skip
        buffer = io.BytesIO()
        torch.save(content, buffer, _use_new_zipfile_serialization=not legacy)
        files[".pt"].append(buffer.getvalue())
    for dtype, data in [
        ("F32", w.numpy().tobytes()),
        ("BF16", w.bfloat16().view(torch.int16).numpy().tobytes()),
    ]:
        entry = {"dtype": dtype, "shape": [2, 3], "data_offsets": [0, len(data)]}
        files[".safetensors"].append(
            safetensors_bytes({"__metadata__": {"k": "v"}, "w": entry}, data)
        )
    return files


SEEDS = seed_files()
NUMBERS = [0, 1, 7, 255, 2**16 - 1, 2**31 - 1, 2**32 - 1, 10**12, 2**63 - 1, 2**64 - 1]
DIGITS = [b"0", b"1", b"-1", b"99999999999", b"3.5", b"4097", b"100000", b"", b"1e9", b"None"]


def mutate(data, edits):
    """Apply edits to ``data``: flip a bit, cut, overwrite, insert, write a number over a
    length field, or replace one of the decimal numbers (shapes, offsets) in its text."""
    data = bytearray(data)
    for edit, where, what in edits:
        at = where % (len(data) + 1)
        if edit == "flip" and data:
            data[at % len(data)] ^= 1 << (what % 8)
        elif edit == "cut":
            del data[at:]
        elif edit == "write":
            data[at : at + len(what)] = what
        elif edit == "insert":
            data[at:at] = what
        elif edit == "number":
            value, width = what
            data[at : at + width] = (value % 256**width).to_bytes(width, "little")
        elif edit == "digits":
            runs = list(re.finditer(rb"\d+", bytes(data)))
            if runs:
                run = runs[where % len(runs)]
                data[run.start() : run.end()] = what
    return bytes(data)


EDITS = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 2**20), st.integers(0, 7)),
    st.tuples(st.just("cut"), st.integers(0, 2**20), st.none()),
    st.tuples(st.just("write"), st.integers(0, 2**20), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("insert"), st.integers(0, 2**20), st.binary(min_size=1, max_size=8)),
    st.tuples(
        st.just("number"),
        st.integers(0, 2**20),
        st.tuples(st.sampled_from(NUMBERS), st.sampled_from([1, 2, 4, 8])),
    ),
    st.tuples(st.just("digits"), st.integers(0, 2**20), st.sampled_from(DIGITS)),
)


def check_outcome(worker, outcome, content):
    """The command drew an image and said nothing, or printed one line and exited 2; and
    neither took memory out of proportion to the file."""
    stderr, shown = outcome["stderr"], content[:200]
    assert outcome["code"] in (0, 2), (outcome, shown)
    assert "Traceback" not in stderr and "Warning" not in stderr, (stderr, shown)
    if outcome["code"] == 0:
        assert outcome["image"] and stderr == "", (outcome, shown)
    else:
        assert stderr.count("\n") == 1 and stderr.startswith("attnlab heatmap: error: "), stderr
        assert not outcome["image"]
        assert not re.search(r"memory|allocat", stderr, re.I), (stderr, shown)
    growth = (outcome["peak_kib"] - worker.baseline_kib) / 1024
    assert growth < GROWTH_MIB, f"peak resident memory grew by {growth:.0f} MiB: {shown}"


@pytest.mark.parametrize("extension", list(SEEDS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_mutated_files_draw_or_fail_in_one_line(worker, extension, data):
    seed = data.draw(st.sampled_from(SEEDS[extension]), label="seed")
    content = mutate(seed, data.draw(st.lists(EDITS, min_size=1, max_size=4), label="edits"))
    check_outcome(worker, worker.run(content, extension), content)


@pytest.mark.parametrize("extension", list(SEEDS))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_random_bytes_fail_in_one_line(worker, extension, data):
    """Random bytes, alone or after the first bytes of a valid file, so that they reach past
    each format's first check."""
    seed = data.draw(st.sampled_from(SEEDS[extension]), label="seed")
    prefix = seed[: data.draw(st.sampled_from([0, 6, 8, 10, 64, 128]), label="prefix")]
    content = prefix + data.draw(st.binary(max_size=512), label="bytes")
    check_outcome(worker, worker.run(content, extension), content)


SIZES = st.one_of(st.integers(0, 8), st.integers(0, 2**64), st.sampled_from([4096, 4097, 2**31]))
SHAPES = st.lists(SIZES, max_size=5).map(tuple)
DESCRS = ["<f4", "<f8", ">f8", "<f2", "|b1", "<i8", "|u1", "<c8", "|O", "<U3", "|V8", "<M8[s]",
          "<q9", [("a", "<f8")], 3]  # fmt: skip
SAFETENSORS_DTYPES = ["F32", "F16", "BF16", "F64", "I64", "U8", "BOOL", "F8_E4M3", "C64", "X"]
STORAGES = [
    (torch.FloatStorage, 4),
    (torch.DoubleStorage, 8),
    (torch.HalfStorage, 2),
    (torch.BoolStorage, 1),
    (torch.LongStorage, 8),
    (torch.ComplexFloatStorage, 8),
    (torch.QUInt8Storage, 1),
]  # fmt: skip  (the storage, its bytes per value)


@st.composite
def edited_npy(draw, *, data=None):
    """A .npy file whose header claims another shape, dtype or order than its bytes hold."""
    header = {"descr": draw(st.sampled_from(DESCRS)), "fortran_order": draw(st.booleans()),
              "shape": draw(SHAPES)}  # fmt: skip
    if data is None:
        data = draw(st.sampled_from([b"", bytes(6), np.arange(6, dtype=np.float32).tobytes()]))
    version = draw(st.sampled_from([(1, 0), (2, 0), (3, 0)]))
    return npy_bytes(repr(header), data, version=version)


@st.composite
def edited_npz(draw):
    """A .npz archive whose member claims what edited_npy claims, and any size in the
    directory: the member's own, or another."""
    member = draw(edited_npy())
    size = draw(st.one_of(st.just(len(member)), st.integers(0, 2**32 - 1)))
    method = draw(st.sampled_from([0, 8]))
    return zip_bytes([{"name": "w.npy", "data": member, "method": method, "size": size}])


@st.composite
def edited_torch(draw):
    """A torch.save file (either format) whose description claims any storage size, shape,
    strides, offset and dtype over a record of any length."""
    kind, itemsize = draw(st.sampled_from(STORAGES))
    held = draw(st.sampled_from([9, 9, 0, 1]))  # values in the storage's record
    record = bytes(range(held * itemsize))
    claim = draw(st.sampled_from(["consistent", "broadcast", "any"]))
    if claim == "consistent":  # what torch.save writes, or a view within it
        numel, offset = held, 0
        shape, stride = draw(
            st.sampled_from([((3, 3), (3, 1)), ((3, 3), (1, 3)), ((2, 2), (3, 1))])
        )
    elif claim == "broadcast":  # any shape over one value: strides of 0
        numel, offset = held, 0
        shape = tuple(draw(st.lists(SIZES, min_size=2, max_size=4)))
        stride = (0,) * len(shape)
    else:
        numel = draw(st.one_of(st.just(held), st.integers(0, 16), st.integers(0, 2**62)))
        shape = draw(SHAPES)
        strides = st.lists(st.integers(-2, 2**40), min_size=len(shape), max_size=len(shape))
        stride = draw(st.one_of(strides, SHAPES))
        offset = draw(st.one_of(st.integers(0, 8), st.integers(-1, 2**62)))
    storage = Storage(draw(st.sampled_from(["0", "0", "0", "1"])), numel, kind)
    content = tensor(storage, offset, shape, stride)
    wrap = draw(st.sampled_from(["tensor", "dict", "list", "quantized", "copy"]))
    if wrap == "dict":
        content = {"w": content, "n": 3}
    elif wrap == "list":
        content = [content, content]
    elif wrap == "quantized":
        args = (storage, offset, tuple(shape), tuple(stride), (torch.per_tensor_affine, 0.5, 0))
        content = Call(torch._utils._rebuild_qtensor, *args, False, OrderedDict())
    elif wrap == "copy":
        content = Call(torch._utils._rebuild_device_tensor_from_cpu_tensor, content,
                       torch.float64, "cpu", False)  # fmt: skip
    if draw(st.booleans()):
        return torch_zip(content, {"0": record})
    count = draw(st.one_of(st.just(held), st.integers(-1, 2**62)))
    return torch_stream(content, {"0": record}, counts={"0": count})


@st.composite
def edited_safetensors(draw):
    """A .safetensors file whose header claims any dtype, shape and offsets, and any length."""
    data = draw(st.sampled_from([b"", bytes(6), np.arange(6, dtype=np.float32).tobytes()]))
    offsets = draw(st.one_of(st.just([0, len(data)]), st.lists(SIZES, min_size=2, max_size=2)))
    entry = {"dtype": draw(st.sampled_from(SAFETENSORS_DTYPES)), "shape": list(draw(SHAPES)),
             "data_offsets": offsets}  # fmt: skip
    raw = json.dumps({"w": entry}).encode()
    length = draw(st.one_of(st.just(len(raw)), SIZES))
    return safetensors_bytes(raw, data, length=length % 2**64)


EDITED = {".npy": edited_npy(), ".npz": edited_npz(), ".pt": edited_torch(),
          ".safetensors": edited_safetensors()}  # fmt: skip


@pytest.mark.parametrize("extension", list(EDITED))
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_edited_headers_draw_or_fail_in_one_line(worker, extension, data):
    """Headers that claim any shape, dtype, size or offset over the bytes that follow."""
    content = data.draw(EDITED[extension], label="file")
    check_outcome(worker, worker.run(content, extension), content)
