"""The ONNX operators twoface accepts are exactly those its PyTorch interpreter runs, and the ones
added for the realism models (XSeg's DepthToSpace, CodeFormer's TopK/ArgMax/LayerNormalization ...)
give onnxruntime's results."""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from twoface.runtime.onnx_check import SUPPORTED_OPS  # noqa: E402
from twoface.runtime.onnx_torch import _OPS, OnnxModule  # noqa: E402


def test_the_allow_list_is_the_interpreter_table():
    assert set(SUPPORTED_OPS) == set(_OPS) | {"Constant"}  # Constant is folded at load time


def _run_both(node, inputs: dict[str, np.ndarray], outputs: list[str], initialisers=()):
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info(k, _type(v), v.shape) for k, v in inputs.items()],
        [helper.make_empty_tensor_value_info(o) for o in outputs],
        [numpy_helper.from_array(v, k) for k, v in initialisers],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    expected = ort.InferenceSession(model.SerializeToString()).run(outputs, inputs)
    # TWOFACE_TEST_DEVICE=cuda runs the interpreter on a GPU (shape arithmetic on the host).
    device = os.environ.get("TWOFACE_TEST_DEVICE", "cpu")
    module = OnnxModule(model).to(device).eval().shapes_on_host()
    with torch.no_grad():
        got = module(*(torch.from_numpy(v).to(device) for v in inputs.values()))
    return expected, [g.cpu().numpy() for g in got]


def _type(v):
    return {np.float32: TensorProto.FLOAT, np.int64: TensorProto.INT64, np.bool_: TensorProto.BOOL}[
        v.dtype.type
    ]


rng = np.random.default_rng(0)
X = rng.normal(size=(2, 8, 4, 6)).astype(np.float32)


@pytest.mark.parametrize(
    ("op", "attrs"),
    [
        ("DepthToSpace", {"blocksize": 2, "mode": "DCR"}),
        ("DepthToSpace", {"blocksize": 2, "mode": "CRD"}),
        ("SpaceToDepth", {"blocksize": 2}),
        ("ArgMax", {"axis": 1, "keepdims": 0}),
        ("ArgMin", {"axis": 2, "keepdims": 1}),
        ("ReduceMin", {"axes": [2, 3], "keepdims": 1}),
        ("GlobalMaxPool", {}),
        ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
        ("Softplus", {}),
        ("Sin", {}),
        ("Cos", {}),
    ],
)
def test_unary_ops_match_onnxruntime(op, attrs):
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    (want,), (got,) = _run_both(node, {"x": X}, ["y"])
    assert got.shape == want.shape
    assert np.allclose(got, want, atol=1e-5)


def test_topk_layernorm_tile_sum_and_logic_match_onnxruntime():
    k = np.array([3], np.int64)
    want, got = _run_both(
        helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=1), {"x": X, "k": k}, ["v", "i"]
    )
    assert np.allclose(got[0], want[0]) and np.array_equal(got[1], want[1])
    scale = rng.normal(size=(6,)).astype(np.float32)
    bias = rng.normal(size=(6,)).astype(np.float32)
    node = helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"], axis=-1, epsilon=1e-5)
    (want,), (got,) = _run_both(node, {"x": X, "s": scale, "b": bias}, ["y"])
    assert np.allclose(got, want, atol=1e-5)
    reps = np.array([1, 2, 1, 3], np.int64)
    (want,), (got,) = _run_both(
        helper.make_node("Tile", ["x", "r"], ["y"]), {"x": X, "r": reps}, ["y"]
    )
    assert np.array_equal(got, want)
    (want,), (got,) = _run_both(
        helper.make_node("Sum", ["x", "x2", "x3"], ["y"]), {"x": X, "x2": X * 2, "x3": X}, ["y"]
    )
    assert np.allclose(got, want)
    a, b = X > 0, X < 0.5
    for op in ("And", "Or"):
        (want,), (got,) = _run_both(
            helper.make_node(op, ["a", "b"], ["y"]), {"a": a, "b": b}, ["y"]
        )
        assert np.array_equal(got, want)
    (want,), (got,) = _run_both(helper.make_node("Not", ["a"], ["y"]), {"a": a}, ["y"])
    assert np.array_equal(got, want)
