"""Read the pickle of a ``torch.save`` file with stand-ins: what it names and claims, not objects.

The pickle that ``torch.save`` writes describes tensors: which storage each one views, at what
offset, with what shape and strides. attnlab reads it before torch does, with a stand-in for
every class or function that it names, so that nothing is imported or called and nothing is
allocated; ``pickletools`` first walks the opcodes, which checks every length the pickle claims
against the bytes that follow. What the scan learns (the globals named, each storage's size,
each tensor's reach into its storage) is checked against the file before it is loaded.

References
----------
1. Python, ``pickle``: "Restricting globals", ``Unpickler.find_class`` and ``persistent_load``;
   ``pickletools.genops``.
2. PyTorch, ``torch/serialization.py`` and ``torch/_utils.py``: the persistent ids
   ``("storage", storage_type, key, location, numel)`` and the ``_rebuild_tensor_v2(storage,
   storage_offset, size, stride, ...)`` calls that a saved tensor is pickled as.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
from typing import Any

from attnlab._load_checks import MAX_CELLS, NO_PICKLE, LoadError, check_repeats, check_shape, reason

__all__ = ["MAX_PICKLE", "SAVE_HINT", "Findings", "Window", "objects_error", "scan"]

MAX_PICKLE = 4 * 2**20  # the pickled description; tensors' data are records of their own
SAVE_HINT = "e.g. torch.save(weights.detach().cpu(), path)"
# globals a file of tensors may name beyond torch's own (the weights_only allow-list)
CONTAINERS = {
    "collections.OrderedDict",
    "collections.Counter",
    "builtins.set",
    "builtins.bytearray",
    "builtins.complex",
    "_codecs.encode",
}
RENAMED = {"__builtin__": "builtins", "copy_reg": "copyreg"}  # names in protocol 2 pickles
STORAGE = ("storage", b"storage")  # the tag of a persistent id that refers to a storage
REBUILDS = {f"torch._utils._rebuild_{name}" for name in ("tensor", "tensor_v2", "tensor_v3")}
QTENSOR = "torch._utils._rebuild_qtensor"
UNTYPED = ("torch.UntypedStorage", "torch.storage.UntypedStorage")  # bytes; the dtype apart


def objects_error(label: str, global_: str | None) -> LoadError:
    refers = f" (it refers to {global_})" if global_ else ""
    return LoadError(
        f"{label} holds Python objects{refers}, not only tensors, and could only be read by "
        f"unpickling; {NO_PICKLE}, {SAVE_HINT}."
    )


class Window:
    """A file read through a budget, so that no length a pickle claims can allocate memory."""

    def __init__(self, file: Any, size: int) -> None:
        self.file, self.size, self.budget, self.spent = file, size, MAX_PICKLE, False

    def _allowed(self, wanted: int) -> int:
        left = max(min(self.size - self.file.tell(), self.budget), 0)
        return left if wanted < 0 else min(wanted, left)

    def _spend(self, data: bytes, short: bool) -> bytes:
        self.budget -= len(data)
        # short of what was asked because of the budget, not because the file ends
        self.spent = self.spent or (short and self.budget <= 0 and self.file.tell() < self.size)
        return data

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(self._allowed(size))
        return self._spend(data, size < 0 or len(data) < size)

    def readline(self, size: int = -1) -> bytes:
        line = self.file.readline(self._allowed(size))
        return self._spend(line, not line.endswith(b"\n"))

    def tell(self) -> int:
        return self.file.tell()

    def reread(self, start: int, end: int) -> bytes:
        """The bytes from ``start`` to ``end`` again (already paid for), leaving it at ``end``."""
        self.file.seek(start)
        return self.file.read(end - start)


class _Storage:
    __slots__ = ("itemsize", "numel", "untyped")

    def __init__(self, numel: int, itemsize: int | None, untyped: bool = False) -> None:
        self.numel, self.itemsize, self.untyped = numel, itemsize, untyped


class _Tensor:
    __slots__ = ("held", "shape")

    def __init__(self, shape: tuple[int, ...], held: int | None) -> None:
        self.shape, self.held = shape, held  # held: values of its storage, if known


class _Record:
    """What the scan builds where the pickle builds an object: nothing that could run."""

    __slots__ = ()

    def __init__(self, *args: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


class _StandIn(type):
    """The type of the stand-in for a class or function that a pickle names.

    A stand-in is a class, so that a pickle may also instantiate it as a class (``NEWOBJ``);
    calling it (``REDUCE``) records the call with the scan instead of making anything.
    """

    findings: Findings
    qualified: str

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls.findings.call(cls.qualified, args)


class Findings:
    """What the scan learns: the globals a file names, its storages, and its tensors' claims."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.globals: dict[str, _StandIn] = {}  # in order of appearance
        self.storages: dict[str, _Storage] = {}
        self.copied = 0  # values that loading would copy rather than map

    def unsafe(self) -> list[str]:
        return [
            name for name in self.globals if not (name.startswith("torch.") or name in CONTAINERS)
        ]

    def corrupt(self, what: str) -> LoadError:
        return LoadError(f"{self.label}: not a file written by torch.save ({what}).")

    def storage(self, pid: Any) -> _Storage:
        if not (
            isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] in ("storage", b"storage")
        ):
            raise self.corrupt(f"an unknown reference {pid!r:.40}")
        kind, key, numel = pid[1], pid[2], pid[4]
        key = key.decode("latin-1") if isinstance(key, bytes) else key
        if not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise self.corrupt(f"a storage reference {pid!r:.60}")
        untyped = isinstance(kind, _StandIn) and kind.qualified in UNTYPED
        storage = self.storages.setdefault(key, _Storage(numel, _itemsize(kind), untyped))
        view = pid[5] if len(pid) == 6 else None
        if view is not None:  # the old format's views: (key, offset, size) within a storage
            if not (isinstance(view, tuple) and len(view) == 3 and _naturals(view[1:])):
                raise self.corrupt(f"a storage view {view!r:.60}")
            if view[1] + view[2] > storage.numel:
                raise self.corrupt(f"a view past the end of storage {key!r:.20}")
            return _Storage(view[2], storage.itemsize, storage.untyped)
        return storage

    def call(self, name: str, args: tuple) -> Any:
        if name == "torch.Size" and args and isinstance(args[0], tuple | list):
            return tuple(args[0])
        if name in ("collections.OrderedDict", "collections.Counter"):
            return {}
        if name.startswith("torch._utils._rebuild_parameter") and args:
            return args[0]
        if name == "torch._tensor._rebuild_from_type_v2" and len(args) >= 3:
            function, arguments = args[0], args[2]
            if isinstance(function, _StandIn) and isinstance(arguments, tuple):
                return function(*arguments)
        if name in REBUILDS or name == QTENSOR:
            return self.tensor(name, args)
        if name == "torch._utils._rebuild_device_tensor_from_cpu_tensor" and args:
            if isinstance(args[0], _Tensor):  # .to(dtype) copies: bound what it may copy
                if args[0].held is not None:
                    check_repeats(args[0].shape, args[0].held, self.label)
                self.copied += math.prod(args[0].shape)
                if self.copied > MAX_CELLS:
                    raise LoadError(f"{self.label}: its tensors are too large to draw.")
            return args[0]
        return _Record()

    def tensor(self, name: str, args: tuple) -> Any:
        """Check a tensor's claim against its storage: ``(storage, offset, size, stride, ...)``."""
        if len(args) < 4 or not isinstance(args[0], _Storage):
            return _Record()
        storage, offset, shape, stride = args[:4]
        if not (_naturals((offset,)) and _integers(shape) and _integers(stride)):
            return _Record()  # torch judges what the scan cannot read
        shape, stride = tuple(shape), tuple(stride)
        if len(shape) != len(stride) or min(shape + stride, default=0) < 0:
            raise self.corrupt(f"a tensor of shape {shape} with strides {stride}")
        cells = math.prod(shape)
        if name == QTENSOR and cells > MAX_CELLS:  # quantized tensors are allocated first
            check_shape(shape, self.label)
        itemsize = storage.itemsize
        if name.endswith("v3") and len(args) >= 7:  # an untyped storage, and the dtype apart
            itemsize = _itemsize(args[6], dtype=True)
            values = storage.numel // itemsize if itemsize else None
        else:
            values = storage.numel
        reach = sum((n - 1) * s for n, s in zip(shape, stride, strict=True))  # farthest value
        needed = 0 if cells == 0 else offset + reach + 1
        if values is not None and needed > values:
            raise LoadError(
                f"{self.label}: a tensor of shape {shape} needs {needed:,} values of its storage, "
                f"which holds {values:,}; the file is corrupt."
            )
        if name == QTENSOR and values is not None:  # allocated with all its values
            check_repeats(shape, values, self.label)
        return _Tensor(shape, values)


class _Scan(pickle.Unpickler):
    def __init__(self, file: Any, findings: Findings) -> None:
        super().__init__(file, encoding="latin-1")
        self.findings = findings

    def find_class(self, module: str, name: str) -> _StandIn:
        qualified = f"{RENAMED.get(module, module)}.{name}"
        stand_in = self.findings.globals.get(qualified)
        if stand_in is None:
            namespace = {"findings": self.findings, "qualified": qualified, "__slots__": ()}
            stand_in = _StandIn("StandIn", (_Record,), namespace)
            self.findings.globals[qualified] = stand_in
        return stand_in

    def persistent_load(self, pid: Any) -> _Storage:
        return self.findings.storage(pid)


def scan(findings: Findings, window: Window) -> Any:
    """Read the next pickle of ``window`` with stand-ins; refuse it if it names unsafe globals.

    pickletools walks it first, which checks every length it claims against the bytes that
    follow without building anything, so that the unpickler never allocates what is not there.
    """
    start, failure, result = window.tell(), None, None
    try:
        for _ in pickletools.genops(window):
            pass
        end = window.tell()
        result = _Scan(io.BytesIO(window.reread(start, end)), findings).load()
    except LoadError as error:
        failure = error
    except Exception as error:  # a malformed pickle: ValueError, UnpicklingError, EOFError, ...
        failure = findings.corrupt(f"its pickle: {reason(error)}")
    if window.spent:
        failure = LoadError(
            f"{findings.label}: its pickled part is larger than the 4 MiB attnlab reads."
        )
    unsafe = findings.unsafe()
    if unsafe:
        raise objects_error(findings.label, unsafe[0])
    if failure is not None:
        raise failure
    return result


def _itemsize(kind: Any, *, dtype: bool = False) -> int | None:
    """Bytes per value of a storage class (``torch.FloatStorage``) or dtype (``torch.float32``)."""
    import torch

    name = kind.qualified if isinstance(kind, _StandIn) else ""
    if name in UNTYPED and not dtype:
        return 1
    module, _, attribute = name.rpartition(".")
    if module != "torch" or not (dtype or attribute.endswith("Storage")):
        return None
    found = getattr(torch, attribute, None)
    found = found if dtype else getattr(found, "dtype", None)
    return found.itemsize if isinstance(found, torch.dtype) else None


def _naturals(values: Any) -> bool:
    return all(type(value) is int and value >= 0 for value in values)


def _integers(values: Any) -> bool:
    return isinstance(values, tuple | list) and all(type(value) is int for value in values)
