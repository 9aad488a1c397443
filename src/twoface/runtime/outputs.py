"""What each ONNX model family's outputs must look like, checked before any decoder sees them.

A file that loads and runs may still not be the model it claims: an output missing or named
otherwise, a tensor of the wrong shape, NaN weights. Decoders would then fail deep inside
(`KeyError 'cls_8'`, `cannot reshape array`, `SVD did not converge`). Each family states its
outputs here as an `OutputSpec`; `Graph.expect(spec)` checks the output count and names when
the file is loaded, the shapes then too where the file fixes them, and otherwise the shapes
and values of every run (one line: "FILE: not a valid <family> model (output X has shape S,
expected T)").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Shape = tuple[int, ...]
# (output names, output shapes, input shapes by name) -> the problem, or None when all is well.
ShapeCheck = Callable[[Sequence[str], Sequence[Shape], dict[str, Shape]], str | None]


@dataclass(frozen=True)
class OutputSpec:
    family: str
    counts: tuple[int, ...] | None = None  # allowed numbers of outputs; None: any (at least 1)
    names: tuple[str, ...] = ()  # outputs that must be present by name
    shapes: ShapeCheck | None = None


def _show(shape: Sequence[int | str]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def mismatch(name: str, got: Shape, want: Sequence[int | str]) -> str:
    return f"output {name} has shape {_show(got)}, expected {_show(want)}"


def _image(inputs: dict[str, Shape], name: str | None = None) -> Shape:
    """The named image input's shape, else the first 4-D input's (CodeFormer's `weight` is not
    an image)."""
    if name:
        return inputs[name]
    return next((s for s in inputs.values() if len(s) == 4), next(iter(inputs.values())))


# -- detectors ------------------------------------------------------------------------------------
def _scrfd(names, shapes, inputs) -> str | None:
    n, _, h, w = _image(inputs)
    for i, (name, got) in enumerate(zip(names, shapes, strict=True)):
        stride, per = (8, 16, 32)[i % 3], (1, 4, 10)[i // 3]
        anchors = (h // stride) * (w // stride) * 2
        # Batch-1 exports drop the batch axis: (anchors, C) instead of (N, anchors, C).
        if got != (n, anchors, per) and not (n == 1 and got == (anchors, per)):
            return mismatch(name, got, (n, anchors, per))
    return None


SCRFD = OutputSpec("SCRFD", counts=(6, 9), shapes=_scrfd)

YUNET_NAMES = tuple(f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in (8, 16, 32))
_YUNET_WIDTH = {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}


def _yunet(names, shapes, inputs) -> str | None:
    n, _, h, w = _image(inputs)
    by_name = dict(zip(names, shapes, strict=True))
    for name in YUNET_NAMES:
        kind, stride = name.split("_")
        want = (n, (h // int(stride)) * (w // int(stride)), _YUNET_WIDTH[kind])
        if by_name[name] != want:
            return mismatch(name, by_name[name], want)
    return None


YUNET = OutputSpec("YuNet", counts=(12,), names=YUNET_NAMES, shapes=_yunet)


# -- one output of a fixed size per image -----------------------------------------------------
def per_image(width: int, shown: Shape) -> ShapeCheck:
    """The first output holds `width` numbers per image (shown as (N, *shown))."""

    def check(names, shapes, inputs) -> str | None:
        n = _image(inputs)[0]
        got = shapes[0]
        if not got or got[0] != n or math.prod(got[1:]) != width:
            return mismatch(names[0], got, (n, *shown))
        return None

    return check


ARCFACE = OutputSpec("ArcFace", shapes=per_image(512, (512,)))
LANDMARK106 = OutputSpec("2d106det", shapes=per_image(212, (212,)))


# -- image to image -------------------------------------------------------------------------------
def image_out(channels: int, input_name: str | None = None) -> ShapeCheck:
    """The first output is (N, channels, H, W) at the (named) NCHW image input's size."""

    def check(names, shapes, inputs) -> str | None:
        n, _, h, w = _image(inputs, input_name)
        if shapes[0] != (n, channels, h, w):
            return mismatch(names[0], shapes[0], (n, channels, h, w))
        return None

    return check


INSWAPPER = OutputSpec("inswapper", counts=(1,), shapes=image_out(3, "target"))
RESTORER = OutputSpec("face restorer", shapes=image_out(3))
BISENET = OutputSpec("BiSeNet face parser", shapes=image_out(19))


def _xseg(names, shapes, inputs) -> str | None:
    n, h, w, _ = _image(inputs)  # NHWC in; a probability per pixel out
    got = shapes[0]
    if not got or got[0] != n or math.prod(got[1:]) != h * w:
        return mismatch(names[0], got, (n, h, w, 1))
    return None


XSEG = OutputSpec("XSeg occluder", shapes=_xseg)


def check_static(
    spec: OutputSpec,
    names: Sequence[str],
    out_shapes: Sequence[Shape | None],
    in_shapes: dict[str, Shape | None],
) -> str | None:
    """The problem with a graph's declared outputs: their count and names always, their shapes
    when the file fixes every input and output dimension."""
    if spec.counts is not None and len(names) not in spec.counts:
        counts = " or ".join(map(str, spec.counts))
        return f"{len(names)} outputs, expected {counts}"
    missing = [n for n in spec.names if n not in names]
    if missing:
        return f"output {missing[0]} is missing (it has {', '.join(names[:12])})"
    fixed = all(s is not None for s in out_shapes) and all(
        s is not None for s in in_shapes.values()
    )
    return _apply(spec, names, out_shapes, in_shapes) if fixed else None  # type: ignore[arg-type]


def check_run(
    spec: OutputSpec,
    names: Sequence[str],
    outs: Sequence,
    inputs: Sequence,
    input_names: Sequence[str],
) -> str | None:
    """The problem with one run's output shapes (NaN or infinite values are checked by the
    caller, which knows whether they are numpy arrays or tensors)."""
    shapes = [tuple(int(d) for d in o.shape) for o in outs]
    in_shapes = {
        k: tuple(int(d) for d in x.shape) for k, x in zip(input_names, inputs, strict=False)
    }
    return _apply(spec, names, shapes, in_shapes)


def _apply(spec: OutputSpec, names, shapes, in_shapes) -> str | None:
    if spec.shapes is None:
        return None
    try:
        return spec.shapes(names, shapes, in_shapes)
    except (ValueError, KeyError, IndexError, TypeError):  # an input of another rank
        return f"outputs {', '.join(_show(s) for s in shapes)} do not fit its input"
