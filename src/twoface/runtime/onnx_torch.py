"""Run an ONNX graph as a PyTorch module: the same weights, batched on any device and precision.

The graph's initializers become buffers (so `.to(device)`, `.half()` work) and its nodes run in
file order (ONNX requires topological order). The batch dimension is free even where the file
fixes it to 1: shape constants that name batch 1 are widened to the input's batch (see
`_reshape`). Only the operators the published face models use are implemented; any other one
is refused by name when the module is built, never mid-run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

Op = Callable[..., object]
_OPS: dict[str, Op] = {}


def _op(*names: str):
    def register(fn):
        for n in names:
            _OPS[n] = fn
        return fn

    return register


def _attrs(node) -> dict:
    """A node's attributes as plain Python values (tensor attributes: scalars or torch tensors),
    so nothing ONNX-specific runs in `forward` and torch.compile can trace it."""
    from onnx import TensorProto, helper, numpy_helper

    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        if isinstance(value, TensorProto):
            arr = np.array(numpy_helper.to_array(value))
            value = arr.reshape(-1)[0].item() if arr.size == 1 else torch.from_numpy(arr)
        out[a.name] = value
    return out


def _constant_value(node) -> torch.Tensor:
    """A Constant node's value, whichever attribute carries it."""
    from onnx import helper, numpy_helper

    a = node.attribute[0]
    if a.name == "value":
        return torch.from_numpy(np.array(numpy_helper.to_array(a.t)))
    value = helper.get_attribute_value(a)
    dtype = torch.int64 if a.name.startswith("value_int") else torch.float32
    return torch.tensor(value, dtype=dtype)


def _ints(t) -> list[int]:
    return [int(v) for v in (t.tolist() if isinstance(t, torch.Tensor) else t)]


HOST_INTS = 64  # integer constants up to this size are shape arithmetic, kept on the host
# Float inputs that are shape parameters too (Resize's roi, scales and sizes), by position.
HOST_INPUTS = {"Resize": (1, 2, 3), "Upsample": (1,)}


def _same_device(a, b):
    """`a`, `b` on one device when one is a CPU tensor of shape arithmetic and the other lives
    on a GPU (0-dim CPU tensors mix with GPU ones as they are)."""
    if (
        isinstance(a, torch.Tensor)
        and isinstance(b, torch.Tensor)
        and a.device != b.device
        and a.dim()
        and b.dim()
    ):
        if a.device.type == "cpu":
            return a.to(b.device), b
        return a, b.to(a.device)
    return a, b


class OnnxModule(torch.nn.Module):
    """`OnnxModule(path)(x, ...)` returns the graph's outputs in order (a tuple)."""

    def __init__(self, model) -> None:
        super().__init__()
        import onnx
        from onnx import numpy_helper

        if not isinstance(model, onnx.ModelProto):
            model = (
                onnx.load(str(model))
                if not isinstance(model, bytes)
                else onnx.load_from_string(model)
            )
        graph = model.graph
        unknown = sorted({n.op_type for n in graph.node} - set(_OPS) - {"Constant"})
        if unknown:
            raise NotImplementedError(f"ONNX operators not supported: {', '.join(unknown)}")
        self._names: dict[str, str] = {}
        for i, init in enumerate(graph.initializer):
            arr = numpy_helper.to_array(init)
            key = f"w{i}"
            self._names[init.name] = key
            self.register_buffer(key, torch.from_numpy(np.array(arr)), persistent=False)
        constants = {}
        for node in graph.node:
            if node.op_type == "Constant":
                constants[node.output[0]] = _constant_value(node)
        for j, (name, value) in enumerate(constants.items()):
            key = f"c{j}"
            self._names[name] = key
            self.register_buffer(key, value, persistent=False)
        init_names = set(self._names)
        self.input_names = [i.name for i in graph.input if i.name not in init_names]
        self.output_names = [o.name for o in graph.output]
        self._nodes = [
            (n.op_type, list(n.input), list(n.output), _attrs(n))
            for n in graph.node
            if n.op_type != "Constant"
        ]

    def shapes_on_host(self) -> OnnxModule:
        """Keep the small integer constants (shape arithmetic: Gather indices, Concat and
        Reshape/Slice parameters) and Resize's scales on the CPU after the module moved to a
        GPU; with `Shape` answering on the CPU, a graph's shape arithmetic then never waits for
        the GPU (each `int(tensor)` on a GPU tensor was a synchronisation) and never copies to
        it -- which is also what lets a run be captured in a CUDA graph."""
        parameters = {
            ins[i]
            for op, ins, _, _ in self._nodes
            for i in HOST_INPUTS.get(op, ())
            if i < len(ins) and ins[i] in self._names
        }
        for name, key in self._names.items():
            t = getattr(self, key)
            if t.numel() > HOST_INTS or t.device.type == "cpu":
                continue
            if t.dtype == torch.int64 or name in parameters:
                self.register_buffer(key, t.cpu(), persistent=False)
        return self

    def initializer(self, name: str) -> torch.Tensor:
        return getattr(self, self._names[name])

    def forward(self, *inputs: torch.Tensor):
        env: dict[str, object] = {"": None}
        for name, key in self._names.items():
            env[name] = getattr(self, key)
        env.update(zip(self.input_names, inputs, strict=True))
        batch = inputs[0].shape[0] if inputs and inputs[0].dim() > 0 else 1
        for op, ins, outs, attrs in self._nodes:
            args = [env.get(i) if i else None for i in ins]
            result = _OPS[op](*args, batch=batch, **attrs)
            if len(outs) == 1:
                env[outs[0]] = result
            else:
                for o, r in zip(outs, result, strict=False):
                    env[o] = r
        return tuple(env[o] for o in self.output_names)


# -- elementwise --------------------------------------------------------------------------------
for _name, _fn in {
    "Add": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "Div": lambda a, b: a / b if a.is_floating_point() else torch.div(a, b, rounding_mode="trunc"),
    "Pow": torch.pow,
    "Equal": torch.eq,
    "Greater": torch.gt,
    "Less": torch.lt,
    "Max": torch.maximum,
    "Min": torch.minimum,
}.items():
    _OPS[_name] = lambda a, b, _fn=_fn, batch=None: _fn(
        *_same_device(
            a, b.to(a.dtype) if a.is_floating_point() and isinstance(b, torch.Tensor) else b
        )
    )

for _name, _fn in {
    "Relu": F.relu,
    "Sigmoid": torch.sigmoid,
    "Tanh": torch.tanh,
    "Exp": torch.exp,
    "Log": torch.log,
    "Sqrt": torch.sqrt,
    "Neg": torch.neg,
    "Abs": torch.abs,
    "Erf": torch.erf,
    "Floor": torch.floor,
    "Ceil": torch.ceil,
    "Reciprocal": torch.reciprocal,
    "Identity": lambda x: x,
    "Dropout": lambda x: x,
}.items():
    _OPS[_name] = lambda x, *rest, _fn=_fn, batch=None, **kw: _fn(x)


@_op("LeakyRelu")
def _leaky(x, batch=None, alpha=0.01):
    return F.leaky_relu(x, alpha)


@_op("PRelu")
def _prelu(x, slope, batch=None):
    if (
        slope.dim() > 1
        and x.dim() == 4
        and slope.shape[0] == x.shape[1]
        or slope.dim() == 1
        and x.dim() == 4
        and slope.numel() == x.shape[1]
    ):
        slope = slope.reshape(1, -1, 1, 1)
    return torch.where(x >= 0, x, x * slope.to(x.dtype))


@_op("Clip")
def _clip(x, lo=None, hi=None, batch=None, min=None, max=None):  # noqa: A002
    lo = lo if lo is not None else min
    hi = hi if hi is not None else max
    return torch.clamp(x, None if lo is None else float(lo), None if hi is None else float(hi))


@_op("Softmax")
def _softmax(x, batch=None, axis=-1):
    return torch.softmax(x, axis)


@_op("Cast")
def _cast(x, batch=None, to=1):
    dtypes = {1: torch.float32, 6: torch.int32, 7: torch.int64, 9: torch.bool, 10: torch.float16}
    target = dtypes[to]
    if target == torch.float32 and x.is_floating_point():
        return x  # keep the module's precision (fp16/bf16 runs)
    return x.to(target)


# -- convolutions, pooling, normalisation ---------------------------------------------------------
def _pad_args(pads: Sequence[int], nd: int) -> tuple[list[int] | None, int | tuple]:
    """ONNX pads [x1_begin, x2_begin, x1_end, x2_end] -> symmetric padding or an F.pad list."""
    begin, end = list(pads[:nd]), list(pads[nd:])
    if begin == end:
        return None, tuple(begin)
    flat = []
    for b, e in zip(reversed(begin), reversed(end), strict=True):
        flat += [b, e]
    return flat, 0


@_op("Conv")
def _conv(
    x,
    w,
    b=None,
    batch=None,
    strides=(1, 1),
    pads=None,
    dilations=(1, 1),
    group=1,
    kernel_shape=None,
    auto_pad="NOTSET",
):
    nd = w.dim() - 2
    w = w.to(x.dtype)
    b = b.to(x.dtype) if b is not None else None
    if auto_pad not in ("NOTSET", b"NOTSET") and pads is None:
        k = w.shape[2:]
        pads = [(kk - 1) * d // 2 for kk, d in zip(k, dilations, strict=True)] * 2
    flat, padding = _pad_args(pads or [0] * (2 * nd), nd)
    if flat is not None:
        x = F.pad(x, flat)
    conv = F.conv2d if nd == 2 else F.conv1d
    return conv(x, w, b, tuple(strides), padding, tuple(dilations), group)


@_op("ConvTranspose")
def _deconv(
    x,
    w,
    b=None,
    batch=None,
    strides=(1, 1),
    pads=None,
    dilations=(1, 1),
    group=1,
    output_padding=(0, 0),
    kernel_shape=None,
):
    pads = pads or [0, 0, 0, 0]
    if pads[:2] != pads[2:]:
        raise NotImplementedError("asymmetric ConvTranspose padding")
    return F.conv_transpose2d(
        x,
        w.to(x.dtype),
        None if b is None else b.to(x.dtype),
        tuple(strides),
        tuple(pads[:2]),
        tuple(output_padding),
        group,
        tuple(dilations),
    )


@_op("MaxPool")
def _maxpool(
    x,
    batch=None,
    kernel_shape=(2, 2),
    strides=None,
    pads=None,
    ceil_mode=0,
    dilations=(1, 1),
    storage_order=0,
):
    flat, padding = _pad_args(pads or [0, 0, 0, 0], 2)
    if flat is not None:
        x = F.pad(x, flat, value=-math.inf)
    return F.max_pool2d(
        x,
        tuple(kernel_shape),
        tuple(strides or kernel_shape),
        padding,
        tuple(dilations),
        bool(ceil_mode),
    )


@_op("AveragePool")
def _avgpool(
    x, batch=None, kernel_shape=(2, 2), strides=None, pads=None, ceil_mode=0, count_include_pad=0
):
    flat, padding = _pad_args(pads or [0, 0, 0, 0], 2)
    if flat is not None:
        x = F.pad(x, flat)
    return F.avg_pool2d(
        x,
        tuple(kernel_shape),
        tuple(strides or kernel_shape),
        padding,
        bool(ceil_mode),
        bool(count_include_pad),
    )


@_op("GlobalAveragePool")
def _gap(x, batch=None):
    return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)


@_op("BatchNormalization")
def _bn(x, scale, bias, mean, var, batch=None, epsilon=1e-5, momentum=0.9, **kw):
    return F.batch_norm(
        x,
        mean.to(x.dtype),
        var.to(x.dtype),
        scale.to(x.dtype),
        bias.to(x.dtype),
        False,
        0.0,
        epsilon,
    )


@_op("InstanceNormalization")
def _instnorm(x, scale, bias, batch=None, epsilon=1e-5):
    return F.instance_norm(x, weight=scale.to(x.dtype), bias=bias.to(x.dtype), eps=epsilon)


# -- linear algebra --------------------------------------------------------------------------------
@_op("Gemm")
def _gemm(a, b, c=None, batch=None, alpha=1.0, beta=1.0, transA=0, transB=0):  # noqa: N803
    a = a.t() if transA else a
    b = b.to(a.dtype)
    b = b.t() if transB else b
    y = alpha * (a @ b)
    return y if c is None else y + beta * c.to(a.dtype)


@_op("MatMul")
def _matmul(a, b, batch=None):
    return a @ b.to(a.dtype)


# -- reductions ---------------------------------------------------------------------------------------
def _reduce(fn):
    def run(x, axes_in=None, batch=None, axes=None, keepdims=1, noop_with_empty_axes=0):
        ax = axes if axes is not None else (None if axes_in is None else _ints(axes_in))
        if ax is None:
            ax = list(range(x.dim()))
        return fn(x, tuple(ax), bool(keepdims))

    return run


_OPS["ReduceMean"] = _reduce(lambda x, a, k: x.mean(a, keepdim=k))
_OPS["ReduceSum"] = _reduce(lambda x, a, k: x.sum(a, keepdim=k))
_OPS["ReduceMax"] = _reduce(lambda x, a, k: x.amax(a, keepdim=k))
_OPS["ReduceL2"] = _reduce(lambda x, a, k: torch.sqrt((x * x).sum(a, keepdim=k)))
_OPS["ReduceMin"] = _reduce(lambda x, a, k: x.amin(a, keepdim=k))


# -- shapes ------------------------------------------------------------------------------------------
@_op("Shape")
def _shape(x, batch=None, start=0, end=None):
    return torch.tensor(x.shape[start:end], dtype=torch.int64)  # on the host: see shapes_on_host


@_op("Gather")
def _gather(x, idx, batch=None, axis=0):
    idx = idx.to(torch.int64)
    if idx.dim() == 0:
        return x.select(axis, int(idx) % x.shape[axis])
    idx = idx.to(x.device)
    return torch.index_select(x, axis, idx.reshape(-1) % x.shape[axis]).reshape(
        *x.shape[:axis], *idx.shape, *x.shape[axis + 1 :]
    )


@_op("Unsqueeze")
def _unsqueeze(x, axes_in=None, batch=None, axes=None):
    ax = sorted(axes if axes is not None else _ints(axes_in))
    for a in ax:
        x = x.unsqueeze(a if a >= 0 else a + x.dim() + 1)
    return x


@_op("Squeeze")
def _squeeze(x, axes_in=None, batch=None, axes=None):
    ax = axes if axes is not None else (None if axes_in is None else _ints(axes_in))
    if ax is None:
        return x.squeeze()
    for a in sorted((a % x.dim() for a in ax), reverse=True):
        x = x.squeeze(a)
    return x


@_op("Concat")
def _concat(*xs, batch=None, axis=0):
    xs = [x for x in xs if x is not None and x.numel() > 0] or [xs[0]]
    dtype = xs[0].dtype
    devices = {x.device for x in xs}
    device = next((d for d in devices if d.type != "cpu"), xs[0].device)
    return torch.cat([x.to(device, dtype) for x in xs], axis)


@_op("Slice")
def _slice(x, starts, ends, axes=None, steps=None, batch=None):
    starts, ends = _ints(starts), _ints(ends)
    axes = _ints(axes) if axes is not None else list(range(len(starts)))
    steps = _ints(steps) if steps is not None else [1] * len(starts)
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        a = a % x.dim()
        n = x.shape[a]
        if st > 0:
            s = max(min(s + n if s < 0 else s, n), 0)
            e = max(min(e + n if e < 0 else e, n), 0)
            index = [slice(None)] * x.dim()
            index[a] = slice(s, e, st)
            x = x[tuple(index)]
        else:  # torch has no negative steps: gather the indices ONNX describes
            s = max(min(s + n if s < 0 else s, n - 1), -1)
            e = max(min(e + n if e < -n else (e + n if e < 0 else e), n - 1), -1)
            idx = torch.arange(s, e, st, device=x.device)
            x = torch.index_select(x, a, idx)
    return x


@_op("Reshape")
def _reshape(x, shape, batch=None, allowzero=0):
    dims = _ints(shape)
    dims = [x.shape[i] if d == 0 and not allowzero else d for i, d in enumerate(dims)]
    # A file exported with batch 1 bakes 1 into its reshape constants: widen it to the batch.
    if dims and dims[0] == 1 and x.dim() > 0 and x.shape[0] == batch != 1:
        dims[0] = batch
    return x.reshape(dims)


@_op("Flatten")
def _flatten(x, batch=None, axis=1):
    return x.reshape(math.prod(x.shape[:axis]), -1)


@_op("Transpose")
def _transpose(x, batch=None, perm=None):
    return x.permute(*(perm or reversed(range(x.dim()))))


@_op("Expand")
def _expand(x, shape, batch=None):
    return x * torch.ones(_ints(shape), dtype=x.dtype, device=x.device)


@_op("ConstantOfShape")
def _const_of_shape(shape, batch=None, value=0.0):
    fill = float(value) if not isinstance(value, torch.Tensor) else float(value.reshape(-1)[0])
    return torch.full(_ints(shape), fill, device=shape.device)


@_op("Split")
def _split(x, split=None, batch=None, axis=0, num_outputs=None, **kw):
    sizes = _ints(split) if split is not None else kw.get("split")
    if sizes is None:
        n = num_outputs or 2
        sizes = [x.shape[axis] // n] * n
    return torch.split(x, list(sizes), axis)


@_op("Where")
def _where(c, a, b, batch=None):
    return torch.where(c.bool(), a, b)


@_op("DepthToSpace")
def _depth_to_space(x, batch=None, blocksize=2, mode="DCR"):
    if isinstance(mode, bytes):
        mode = mode.decode()
    if mode == "CRD":
        return F.pixel_shuffle(x, blocksize)
    b, c, h, w = x.shape
    k = blocksize
    y = x.reshape(b, k, k, c // (k * k), h, w).permute(0, 3, 4, 1, 5, 2)
    return y.reshape(b, c // (k * k), h * k, w * k)


@_op("SpaceToDepth")
def _space_to_depth(x, batch=None, blocksize=2):
    b, c, h, w = x.shape
    k = blocksize
    y = x.reshape(b, c, h // k, k, w // k, k).permute(0, 3, 5, 1, 2, 4)
    return y.reshape(b, c * k * k, h // k, w // k)


@_op("TopK")
def _topk(x, k, batch=None, axis=-1, largest=1, sorted=1):  # noqa: A002
    values, indices = torch.topk(x, int(k.reshape(-1)[0]), axis, bool(largest), bool(sorted))
    return values, indices


def _arg(fn):
    def run(x, batch=None, axis=0, keepdims=1, select_last_index=0):
        if select_last_index:
            flipped = fn(x.flip(axis), axis, bool(keepdims))
            return x.shape[axis] - 1 - flipped
        return fn(x, axis, bool(keepdims))

    return run


_OPS["ArgMax"] = _arg(lambda x, a, k: torch.argmax(x, a, keepdim=k))
_OPS["ArgMin"] = _arg(lambda x, a, k: torch.argmin(x, a, keepdim=k))


@_op("LayerNormalization")
def _layer_norm(x, scale, bias=None, batch=None, axis=-1, epsilon=1e-5, stash_type=1):
    axis = axis % x.dim()
    shape = x.shape[axis:]
    out = F.layer_norm(
        x, shape, scale.to(x.dtype), None if bias is None else bias.to(x.dtype), epsilon
    )
    return out


@_op("Tile")
def _tile(x, repeats, batch=None):
    return x.repeat(*_ints(repeats))


@_op("Sum")
def _sum(*xs, batch=None):
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


@_op("GlobalMaxPool")
def _global_max_pool(x, batch=None):
    return x.amax(tuple(range(2, x.dim())), keepdim=True)


@_op("HardSigmoid")
def _hard_sigmoid(x, batch=None, alpha=0.2, beta=0.5):
    return torch.clamp(alpha * x + beta, 0, 1)


@_op("Softplus")
def _softplus(x, batch=None):
    return F.softplus(x)


@_op("Not")
def _not(x, batch=None):
    return torch.logical_not(x)


for _name, _fn in {"And": torch.logical_and, "Or": torch.logical_or}.items():
    _OPS[_name] = lambda a, b, _fn=_fn, batch=None: _fn(a.bool(), b.bool())
_OPS["Sin"] = lambda x, batch=None: torch.sin(x)
_OPS["Cos"] = lambda x, batch=None: torch.cos(x)


# -- resampling and padding ----------------------------------------------------------------------------
@_op("Resize", "Upsample")
def _resize(
    x,
    roi=None,
    scales=None,
    sizes=None,
    batch=None,
    mode=b"nearest",
    coordinate_transformation_mode=b"half_pixel",
    nearest_mode=b"round_prefer_floor",
    cubic_coeff_a=-0.75,
    exclude_outside=0,
    extrapolation_value=0.0,
):
    mode = mode.decode() if isinstance(mode, bytes) else mode
    ctm = coordinate_transformation_mode
    ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
    if sizes is not None and sizes.numel():
        size = _ints(sizes)[2:]
        kw = {"size": size}
    else:
        if scales is None or scales.numel() == 0:  # Upsample-7 style: scales in roi's place
            scales = roi
        sc = [float(v) for v in scales.tolist()][2:]
        size = [int(math.floor(n * s)) for n, s in zip(x.shape[2:], sc, strict=True)]
        kw = {"size": size}
    if mode == "nearest":
        return F.interpolate(x, mode="nearest", **kw)
    align = ctm == "align_corners"
    return F.interpolate(
        x, mode="bilinear" if mode == "linear" else "bicubic", align_corners=align, **kw
    )


@_op("Pad")
def _pad(x, pads=None, value=None, axes=None, batch=None, mode=b"constant", **kw):
    mode = mode.decode() if isinstance(mode, bytes) else mode
    p = _ints(pads) if pads is not None else list(kw.get("pads", []))
    nd = x.dim()
    begin, end = p[:nd], p[nd:]
    flat = []
    for b, e in zip(reversed(begin[2:]), reversed(end[2:]), strict=True):
        flat += [b, e]
    if any(begin[:2]) or any(end[:2]):
        raise NotImplementedError("Pad on batch or channel axes")
    torch_mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}[mode]
    if torch_mode == "constant":
        fill = float(value) if value is not None and value.numel() else 0.0
        return F.pad(x, flat, value=fill)
    return F.pad(x, flat, mode=torch_mode)
