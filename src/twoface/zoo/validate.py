"""Whole-file checks for a model file whose digest nobody has published yet.

Before such a file is pinned (trusted from then on), it must parse completely in its format and
look like its architecture: an ONNX graph passes twoface's operator check and has the inputs and
outputs the family has; a PyTorch checkpoint loads through the weights-only loaders into a state
dict of tensors; a safetensors header describes exactly the bytes that follow; an OpenCV cascade
loads in OpenCV. A few random bytes that happen to start like an ONNX file are refused here.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from twoface.errors import ModelError
from twoface.zoo.catalogue import ModelEntry

# ONNX families: (allowed numbers of graph inputs, allowed numbers of outputs).
ONNX_IO: dict[str, tuple[frozenset[int], frozenset[int]]] = {
    "inswapper": (frozenset({2}), frozenset({1})),
    "reswapper": (frozenset({2}), frozenset({1})),
    "iresnet50": (frozenset({1}), frozenset({1})),
    "scrfd": (frozenset({1}), frozenset({6, 9})),
    "yunet": (frozenset({1}), frozenset({12})),
    "2d106det": (frozenset({1}), frozenset({1})),
    "bisenet_onnx": (frozenset({1}), frozenset({1, 3})),
    "restorer_onnx": (frozenset({1, 2}), frozenset({1})),  # CodeFormer adds its weight
    "xseg": (frozenset({1}), frozenset({1})),
}
# Families whose image input is N x H x W x 3 (XSeg, exported from TensorFlow).
NHWC = frozenset({"xseg"})


def validate_file(entry: ModelEntry, path: Path, label: str) -> None:
    """ModelError unless `path` is a complete, well-formed file of `entry`'s architecture."""
    check = {
        "onnx": _onnx,
        "torch": _torch,
        "safetensors": _safetensors,
        "cascade-xml": _cascade,
    }[entry.format]
    check(entry, path, label)


def _onnx(entry: ModelEntry, path: Path, label: str) -> None:
    from twoface.runtime.onnx_check import load_checked

    try:
        model = load_checked(path)
    except ModelError as e:
        raise ModelError(f"{label}: {str(e).split(': ', 1)[-1]}; it is not {entry.name}") from None
    graph = model.graph
    initialisers = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialisers]
    want = ONNX_IO.get(entry.arch)
    if want is not None and (len(inputs) not in want[0] or len(graph.output) not in want[1]):
        raise ModelError(
            f"{label}: its graph has {len(inputs)} input(s) and {len(graph.output)} output(s); "
            f"{entry.name} ({entry.arch}) has {'/'.join(map(str, sorted(want[0])))} and "
            f"{'/'.join(map(str, sorted(want[1])))}"
        )
    dims = inputs[0].type.tensor_type.shape.dim
    channel_axis = 3 if entry.arch in NHWC else 1
    channels = dims[channel_axis].dim_value if len(dims) == 4 else None
    if entry.arch in ONNX_IO and (len(dims) != 4 or channels not in (0, 3)):
        layout = "N x H x W x 3" if entry.arch in NHWC else "N x 3 x H x W"
        raise ModelError(f"{label}: its image input is not {layout}; it is not {entry.name}")


def _torch(entry: ModelEntry, path: Path, label: str) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ModelError(
            f"{label}: a PyTorch file with no published digest can only be checked with "
            "PyTorch installed (pip install torch, then 'twoface[torch]')"
        ) from None
    if entry.arch == "simswap_arcface":
        from twoface.runtime.restricted import load_pickled_module
        from twoface.swap.simswap import ARCFACE_CLASSES

        state = load_pickled_module(path, ARCFACE_CLASSES)
    else:
        from twoface.runtime.checkpoints import load_torch_state

        state = load_torch_state(path)
    if not state:
        raise ModelError(f"{label}: no weights inside; it is not {entry.name}")


def _safetensors(entry: ModelEntry, path: Path, label: str) -> None:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ModelError(f"{label}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, 100_000_000):
            raise ModelError(f"{label}: safetensors header longer than the file")
        try:
            header = json.loads(f.read(n))
        except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
            raise ModelError(f"{label}: safetensors header is not JSON") from None
    if not isinstance(header, dict):
        raise ModelError(f"{label}: safetensors header is not a JSON object")
    data = size - 8 - n
    spans = []
    for name, t in header.items():
        if name == "__metadata__":
            continue
        offsets = t.get("data_offsets") if isinstance(t, dict) else None
        ok = (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(type(o) is int for o in offsets)  # not bool, float or a nested value
            and 0 <= offsets[0] <= offsets[1]
        )
        if not ok:
            raise ModelError(f"{label}: tensor {name[:60]!r} has no valid data_offsets")
        spans.append(offsets)
    if not spans or max(end for _, end in spans) != data:
        raise ModelError(
            f"{label}: its tensors do not cover the file's {data} data bytes; "
            f"it is not a complete {entry.name}"
        )


def _cascade(entry: ModelEntry, path: Path, label: str) -> None:
    import cv2

    try:
        ok = not cv2.CascadeClassifier(str(path)).empty()
    except cv2.error:
        ok = False
    if not ok:
        raise ModelError(f"{label}: OpenCV cannot load it as a cascade; it is not {entry.name}")
