"""A restricted unpickler for checkpoints that pickle whole model objects (SimSwap's
`arcface_checkpoint.tar`), turning them into plain state dicts without running their code.

`torch.save(model)` stores the module tree as pickled objects of the author's classes. Loading
it normally imports those classes and executes whatever the pickle asks for. Here every global
the pickle names is checked against an allow-list: tensor rebuilders and storage types map to
safe builders of our own; `torch.nn` layer classes and the names in `module_classes` map to an
inert record of their attributes. Anything else (os.system, eval, builtins...) stops the load.
The records are then flattened into `{"layer1.0.conv1.weight": tensor, ...}`.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import torch

from twoface.errors import ModelError
from twoface.runtime.checkpoints import allocation_limit, check_tensor_budget, check_zip_budget

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class _Record:
    """Stands in for a pickled module object: keeps its attributes, runs nothing."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        if isinstance(state, tuple):  # (dict, slots)
            state = state[0] or {}
        self.__dict__.update(state if isinstance(state, dict) else {})


def _rebuild_tensor(storage, offset, size, stride, *rest):
    return torch.as_strided(storage, tuple(size), tuple(stride), offset)


def _rebuild_parameter(data, requires_grad=False, hooks=None, *rest):
    return data


class _Unpickler(pickle.Unpickler):
    def __init__(
        self, file, archive: zipfile.ZipFile, prefix: str, module_classes, budget: int
    ) -> None:
        super().__init__(file)
        self.archive, self.prefix, self.module_classes = archive, prefix, set(module_classes)
        self.budget = budget  # bytes of storage this load may still read
        self.storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module in ("builtins", "__builtin__") and name in ("set", "frozenset"):
            return {"set": set, "frozenset": frozenset}[name]  # modules keep hook-name sets
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module.startswith("torch.nn.modules.") or f"{module}.{name}" in self.module_classes:
            return _Record
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) < 5:
            raise pickle.UnpicklingError("malformed persistent id")
        kind, dtype, key, _location, _numel = pid[:5]
        if kind != "storage" or not isinstance(dtype, torch.dtype) or not isinstance(key, str):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid[:2]}")
        if key in self.storages:  # shared by several tensors: read once
            return self.storages[key]
        try:
            info = self.archive.getinfo(f"{self.prefix}data/{key}")
        except KeyError:
            raise pickle.UnpicklingError(f"storage {key} is missing from the archive") from None
        self.budget -= info.file_size
        if self.budget < 0:
            raise pickle.UnpicklingError("its storages unpack to far more than the file's size")
        data = bytearray(self.archive.read(info))
        storage = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
        self.storages[key] = storage
        return storage


MAX_MODULES = 100_000  # far more than any face model has; bounds a walk over shared children


def _children(obj, attr: str) -> dict:
    value = getattr(obj, attr, None) if isinstance(obj, _Record) else None
    return value if isinstance(value, dict) else {}


def _flatten(root, out: dict) -> None:
    """Parameters and buffers of the module tree by dotted name, walked without recursion.

    A module that contains itself (a cycle) is refused; a module shared by several parents is
    listed under each name, as `state_dict` does, but the walk stops after MAX_MODULES visits,
    so a pickle whose sharing doubles at every level cannot make it run for ever.
    """
    stack: list[tuple[object, str, frozenset[int]]] = [(root, "", frozenset())]
    visits = 0
    while stack:
        obj, prefix, ancestors = stack.pop()
        visits += 1
        if visits > MAX_MODULES:
            raise ModelError(f"more than {MAX_MODULES} modules in the tree (shared children?)")
        for attr in ("_parameters", "_buffers"):
            for name, value in _children(obj, attr).items():
                if isinstance(value, torch.Tensor):
                    out[f"{prefix}{name}"] = value
        inside = ancestors | {id(obj)}
        for name, child in reversed(list(_children(obj, "_modules").items())):
            if child is None:
                continue
            if id(child) in inside:
                raise ModelError(f"module {prefix}{name} contains itself (a cyclic module tree)")
            stack.append((child, f"{prefix}{name}.", inside))


def load_pickled_module(path: str | os.PathLike, module_classes: tuple[str, ...]) -> dict:
    """The state dict of a `torch.save(model)` file whose classes are in `module_classes`."""
    p = Path(path)
    try:
        archive = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError):
        raise ModelError(
            f"{p}: not a PyTorch zip checkpoint (the legacy format is not read, for safety)"
        ) from None
    with archive:
        pkl = [n for n in archive.namelist() if n.endswith("data.pkl")]
        if not pkl:
            raise ModelError(f"{p}: no data.pkl inside: not a PyTorch checkpoint")
        prefix = pkl[0][: -len("data.pkl")]
        limit = allocation_limit(p)
        check_zip_budget(p, limit)
        try:
            with archive.open(pkl[0]) as f:
                obj = _Unpickler(f, archive, prefix, module_classes, limit).load()
        except pickle.UnpicklingError as e:
            raise ModelError(f"{p}: {e}; it is not the model it claims to be") from None
        except (
            TypeError,
            KeyError,
            ValueError,
            IndexError,
            AttributeError,
            EOFError,
            RuntimeError,
            OverflowError,
            MemoryError,
            RecursionError,
            zipfile.BadZipFile,
        ) as e:
            first = (str(e).splitlines() or [""])[0][:120] or type(e).__name__
            raise ModelError(f"{p}: a malformed pickle ({type(e).__name__}: {first})") from None
    out: dict = {}
    try:
        _flatten(obj, out)
    except ModelError as e:
        raise ModelError(f"{p}: {e}") from None
    if not out:
        raise ModelError(f"{p}: no module weights inside")
    check_tensor_budget(p, out.values(), limit)
    return out
