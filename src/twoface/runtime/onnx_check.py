"""Checks an ONNX file before any runtime sees it.

onnxruntime will happily run whatever a graph says: a `Loop` of 10^15 iterations hangs it, and a
graph may point at external data files next to it. Every model family twoface runs is a plain
feed-forward network, so a graph is accepted only when each operator is one of those twoface's
own PyTorch interpreter implements (`runtime.onnx_torch`, which a test keeps equal to this list):
no control flow, no subgraphs, no custom domains, no graph-local functions, and every tensor
inside the file (none in external data, wherever it points).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from twoface.errors import ModelError

# The operators of the feed-forward families twoface runs (= runtime.onnx_torch's table).
SUPPORTED_OPS = frozenset(
    [
        "Abs",
        "Add",
        "And",
        "ArgMax",
        "ArgMin",
        "AveragePool",
        "BatchNormalization",
        "Cast",
        "Ceil",
        "Clip",
        "Concat",
        "Constant",
        "ConstantOfShape",
        "Conv",
        "ConvTranspose",
        "Cos",
        "DepthToSpace",
        "Div",
        "Dropout",
        "Equal",
        "Erf",
        "Exp",
        "Expand",
        "Flatten",
        "Floor",
        "Gather",
        "Gemm",
        "GlobalAveragePool",
        "GlobalMaxPool",
        "Greater",
        "HardSigmoid",
        "Identity",
        "InstanceNormalization",
        "LayerNormalization",
        "LeakyRelu",
        "Less",
        "Log",
        "MatMul",
        "Max",
        "MaxPool",
        "Min",
        "Mul",
        "Neg",
        "Not",
        "Or",
        "PRelu",
        "Pad",
        "Pow",
        "Reciprocal",
        "ReduceL2",
        "ReduceMax",
        "ReduceMean",
        "ReduceMin",
        "ReduceSum",
        "Relu",
        "Reshape",
        "Resize",
        "Shape",
        "Sigmoid",
        "Sin",
        "Slice",
        "Softmax",
        "Softplus",
        "SpaceToDepth",
        "Split",
        "Sqrt",
        "Squeeze",
        "Sub",
        "Sum",
        "Tanh",
        "Tile",
        "TopK",
        "Transpose",
        "Unsqueeze",
        "Upsample",
        "Where",
    ]
)
STANDARD_DOMAINS = ("", "ai.onnx")


def load_checked(path: str | os.PathLike):
    """The parsed `onnx.ModelProto` of a file twoface may run; a one-line ModelError otherwise."""
    import onnx
    from google.protobuf.message import DecodeError

    p = Path(path)
    try:
        model = onnx.load(str(p), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as e:
        detail = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise ModelError(f"{p}: not a readable ONNX file ({detail})") from None
    check_graph(model, p)
    return model


def check_graph(model, p: Path) -> None:
    from onnx import TensorProto

    graph = model.graph
    if not graph.node or not graph.input or not graph.output:
        raise ModelError(f"{p}: the ONNX file holds no usable graph (no nodes, inputs or outputs)")
    external = [
        t.name or "(unnamed)"
        for t in _tensors(model)
        if t.data_location == TensorProto.EXTERNAL or t.external_data
    ]
    if external:
        raise ModelError(
            f"{p}: its weights are stored in separate files ({len(external)} tensors, e.g. "
            f"{external[0]!r}); give a single-file ONNX export"
        )
    if model.functions:
        # Graph-local functions would shadow or extend the operators checked below (an Erf or
        # LayerNormalization of the file's own making): no published face model has any.
        names = ", ".join(sorted({f.name for f in model.functions})[:6])
        raise ModelError(f"{p}: defines its own ONNX functions ({names}); refusing to run it")
    odd_domain = sorted({n.domain for n in graph.node if n.domain not in STANDARD_DOMAINS})
    if odd_domain:
        raise ModelError(f"{p}: uses custom ONNX operator domains ({', '.join(odd_domain)})")
    unsupported = sorted({n.op_type for n in graph.node} - SUPPORTED_OPS)
    if unsupported:
        raise ModelError(
            f"{p}: uses ONNX operators no twoface model family needs "
            f"({', '.join(unsupported[:6])}); refusing to run it"
        )
    for n in graph.node:
        if any(a.type in (a.GRAPH, a.GRAPHS) for a in n.attribute):
            raise ModelError(f"{p}: node {n.name or n.op_type} carries a subgraph; refusing it")


def _tensors(model) -> Iterator:
    """Every TensorProto the file holds: initialisers, sparse initialisers (values and indices),
    and tensors in node attributes, of the graph, its subgraphs and its local functions. Walked
    with a stack, so a deep nesting of subgraphs cannot exhaust the recursion limit."""
    graphs = [model.graph]
    nodes: list = [n for f in model.functions for n in f.node]
    while graphs or nodes:
        if graphs:
            g = graphs.pop()
            yield from g.initializer
            for sparse in g.sparse_initializer:
                yield sparse.values
                yield sparse.indices
            nodes.extend(g.node)
            continue
        for a in nodes.pop().attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors
            sparse_tensors = list(a.sparse_tensors)
            if a.HasField("sparse_tensor"):
                sparse_tensors.append(a.sparse_tensor)
            for sparse in sparse_tensors:
                yield sparse.values
                yield sparse.indices
            if a.HasField("g"):
                graphs.append(a.g)
            graphs.extend(a.graphs)
