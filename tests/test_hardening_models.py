"""Model files and the model store under crafted input (issue 22, items 1-7): each crafted file,
planted store file or hostile server gets one line and exit 4 (or stops on a signal), never an
internal error, and nothing is cached or written."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from twoface.cli import main
from twoface.errors import ModelError


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.err.strip(), captured.out


def _one_line(err: str) -> bool:
    return err.count("\n") == 0 and "Traceback" not in err and err.startswith("twoface: ")


def _model(nodes, inputs, outputs, initialisers=(), opset: int = 17):
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initialisers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8  # what onnxruntime reads
    return model


def _save(model, path: Path) -> Path:
    import onnx

    onnx.save(model, str(path))
    return path


def _image(path: Path, size: int = 96) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), np.uint8)).save(path)
    return path


def _constant_outputs(input_shape, outputs: dict[str, np.ndarray], declare=False, in_name="x"):
    """A graph whose outputs are the given arrays (plus 0 x the input's mean, so they depend on
    the input and nothing is folded away). declare: the outputs' shapes are written in the file;
    otherwise they are left open (checked at the first run)."""
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info(in_name, TensorProto.FLOAT, input_shape)
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    nodes = [
        helper.make_node("ReduceMean", [in_name], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
    ]
    inits, outs = [zero], []
    for name, value in outputs.items():
        inits.append(numpy_helper.from_array(value.astype(np.float32), f"c_{name}"))
        nodes.append(helper.make_node("Add", [f"c_{name}", "z"], [name]))
        shape = list(value.shape) if declare else None
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    return _model(nodes, [x], outs, inits)


def _scrfd_outputs(size: int = 640, fill: float = 0.0, bad_level: int | None = None):
    outs = {}
    for k, width in enumerate((1, 4, 10)):
        for i, stride in enumerate((8, 16, 32)):
            anchors = (size // stride) ** 2 * 2
            shape = (1, 5) if bad_level == k * 3 + i else (1, anchors, width)
            outs[f"o{k * 3 + i}"] = np.full(shape, fill, np.float32)
    return outs


def _import_like(home: Path, file: Path, name: str, like: str, capsys) -> None:
    code, err, _ = _run(
        ["models", "--models-dir", home, "import", file, "--name", name, "--like", like], capsys
    )
    assert code == 0, err


# -- 1: outputs that are not the family's ---------------------------------------------------------
@pytest.mark.slow
def test_detector_outputs_of_the_wrong_shape_or_nan_are_one_line(tmp_path, capsys):
    home, img = tmp_path / "home", _image(tmp_path / "p.png")
    shapes = _constant_outputs(["N", 3, "H", "W"], _scrfd_outputs(bad_level=6))
    _import_like(home, _save(shapes, tmp_path / "shapes.onnx"), "badshape", "scrfd_500m", capsys)
    nan = _constant_outputs(["N", 3, "H", "W"], _scrfd_outputs(fill=np.nan))
    _import_like(home, _save(nan, tmp_path / "nan.onnx"), "nandet", "scrfd_500m", capsys)
    names = _constant_outputs(
        ["N", 3, "H", "W"], {f"out{i}": np.zeros((1, 4, 1), np.float32) for i in range(12)}
    )
    _import_like(home, _save(names, tmp_path / "names.onnx"), "badnames", "yunet_n", capsys)
    detect = ["detect", img, "--models-dir", home, "--detector"]
    for runtime in ("onnxruntime", "torch"):
        code, err, out = _run([*detect, "badshape", "--runtime", runtime], capsys)
        assert code == 4 and _one_line(err) and out == "", err
        assert "user-badshape.onnx: not a valid SCRFD model (output o6 has shape (1, 5), " in err
        assert "expected (1, 12800, 10))" in err
        code, err, _ = _run([*detect, "nandet", "--runtime", runtime], capsys)
        assert code == 4 and _one_line(err), err
        assert "not a valid SCRFD model (output o0 holds NaN or infinite values)" in err
        code, err, _ = _run([*detect, "badnames", "--runtime", runtime], capsys)
        assert code == 4 and _one_line(err), err
        assert "not a valid YuNet model (output cls_8 is missing" in err


def test_fixed_shapes_are_checked_when_the_file_is_loaded(tmp_path):
    from twoface.detect.scrfd import ScrfdDetector
    from twoface.identity.arcface import ArcFaceEncoder
    from twoface.landmarks.det106 import Landmark106

    path = _save(
        _constant_outputs([1, 3, 640, 640], _scrfd_outputs(bad_level=0), declare=True),
        tmp_path / "s.onnx",
    )
    with pytest.raises(ModelError, match=r"s.onnx: not a valid SCRFD model \(output o0 has shape"):
        ScrfdDetector(path)  # at load: the file fixes every shape
    arc = _save(
        _constant_outputs(["N", 3, 112, 112], {"emb": np.ones((1, 5), np.float32)}),
        tmp_path / "a.onnx",
    )
    encoder = ArcFaceEncoder(arc)  # open shapes: checked at the first run
    kps = np.array([[38, 52], [74, 52], [56, 72], [42, 92], [70, 92]], np.float32)
    with pytest.raises(
        ModelError, match=r"not a valid ArcFace model \(output emb has shape \(1, 5\), expected"
    ):
        encoder.embed([np.zeros((112, 112, 3), np.uint8)], [kps])
    lm = _save(
        _constant_outputs(["N", 3, 192, 192], {"fc1": np.ones((1, 10), np.float32)}),
        tmp_path / "l.onnx",
    )
    with pytest.raises(ModelError, match=r"not a valid 2d106det model \(output fc1 has shape"):
        Landmark106(lm)([np.zeros((200, 200, 3), np.uint8)], [[_face()]])


def _face():
    from twoface.types import Face

    kps = np.array([[80, 90], [120, 90], [100, 110], [85, 130], [115, 130]], np.float32)
    return Face(box=np.array([60, 60, 140, 150], np.float32), score=0.9, kps=kps)


def test_swapper_output_of_the_wrong_shape_is_one_line(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    from twoface.swap.inswapper import InswapperGenerator

    target = helper.make_tensor_value_info("target", TensorProto.FLOAT, ["N", 3, 128, 128])
    source = helper.make_tensor_value_info("source", TensorProto.FLOAT, ["N", 512])
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, None)
    emap = numpy_helper.from_array(np.eye(512, dtype=np.float32), "emap")
    nodes = [helper.make_node("ReduceMean", ["target"], ["output"], axes=[1], keepdims=1)]
    path = _save(_model(nodes, [target, source], [out], [emap], opset=13), tmp_path / "sw.onnx")
    gen = InswapperGenerator(path, encoder=None)
    with pytest.raises(
        ModelError,
        match=r"sw.onnx: not a valid inswapper model \(output output has shape "
        r"\(1, 1, 128, 128\), expected \(1, 3, 128, 128\)\)",
    ):
        gen.generate(np.zeros((1, 128, 128, 3), np.uint8), np.zeros((1, 512), np.float32))


def test_an_external_emap_is_refused_before_its_path_is_read(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    from twoface.swap.inswapper import InswapperGenerator

    target = helper.make_tensor_value_info("target", TensorProto.FLOAT, ["N", 3, 128, 128])
    source = helper.make_tensor_value_info("source", TensorProto.FLOAT, ["N", 512])
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, None)
    emap = numpy_helper.from_array(np.eye(512, dtype=np.float32), "emap")
    emap.ClearField("raw_data")
    emap.data_location = TensorProto.EXTERNAL
    (tmp_path / "elsewhere").mkdir()  # reading it would fail with IsADirectoryError
    for k, v in {"location": "elsewhere", "offset": "0", "length": str(512 * 512 * 4)}.items():
        emap.external_data.add(key=k, value=v)
    nodes = [helper.make_node("Identity", ["target"], ["output"])]
    path = _save(_model(nodes, [target, source], [out], [emap]), tmp_path / "sw.onnx")
    with pytest.raises(ModelError, match="sw.onnx: its weights are stored in separate files"):
        InswapperGenerator(path, encoder=None)


# -- 2: a .pth whose tensors are not the architecture's ------------------------------------------
def test_pth_with_a_mismatched_tensor_names_the_first_key(tmp_path):
    torch = pytest.importorskip("torch")
    from twoface.parse.bisenet import BiSeNet
    from twoface.parse.models import FaceParser

    state = BiSeNet().state_dict()
    key = next(k for k, v in state.items() if v.dim() == 4)
    state[key] = torch.zeros(3, 3, 3, 3)
    path = tmp_path / "parser.pth"
    torch.save(state, path)
    with pytest.raises(
        ModelError,
        match=rf"parser.pth: not a BiSeNet face-parsing file \(tensor {key} has shape "
        r"\(3, 3, 3, 3\), the architecture's is",
    ):
        FaceParser.from_checkpoint(path, "cpu")


def test_pth_whose_tensors_cannot_size_the_network_is_one_line(tmp_path):
    torch = pytest.importorskip("torch")
    from twoface.enhance.restorers import GfpganRestorer, GhostSRRestorer

    for cls in (GfpganRestorer, GhostSRRestorer):
        path = tmp_path / f"{cls.__name__}.pth"
        torch.save({cls.KEY: torch.tensor(1.0)}, path)  # no dimensions to read a width from
        with pytest.raises(ModelError, match=rf"{path.name}: not .* \(its tensors cannot size"):
            cls(path, device="cpu")


# -- 3: safetensors headers ------------------------------------------------------------------------
def _safetensors(path: Path, header: bytes, data: bytes = b"\x00" * 8) -> Path:
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    return path


@pytest.mark.parametrize(
    "header",
    [
        b'{"w": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": ["0", "8"]}}',
        b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0.5, {"a": 1}]}}',
        b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [true, 8]}}',
    ],
    ids=["nested", "strings", "floats", "bool"],
)
def test_safetensors_headers_that_nest_or_give_odd_offsets(tmp_path, capsys, header):
    path = _safetensors(tmp_path / "w.safetensors", header)
    home = tmp_path / "home"
    args = ["models", "--models-dir", home, "import", path]
    code, err, _ = _run([*args, "--name", "mine", "--like", "anime_hrnetv2_safetensors"], capsys)
    assert code == 4 and _one_line(err), err
    assert "w.safetensors: " in err and "safetensors header" in err or "data_offsets" in err
    assert not list((home / "models").glob("user-*"))


# -- 4: external data and local functions ----------------------------------------------------------
def _with_external(kind: str, location: str):
    """A one-Mul graph whose weight points at `location` outside the file, held as `kind`."""
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])
    ys = [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, None) for i in range(9)]
    w = numpy_helper.from_array(np.ones((1,), np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in {"location": location, "offset": "0", "length": "4"}.items():
        w.external_data.add(key=k, value=v)
    nodes = [helper.make_node("Mul", ["x", "w"], [f"y{i}"]) for i in range(9)]
    if kind == "initializer":
        return _model(nodes, [x], ys, [w])
    if kind == "constant":
        return _model([helper.make_node("Constant", [], ["w"], value=w), *nodes], [x], ys)
    indices = numpy_helper.from_array(np.zeros((1,), np.int64), "w_idx")
    sparse = helper.make_sparse_tensor(w, indices, [1])
    model = _model(nodes, [x], ys)
    model.graph.sparse_initializer.append(sparse)
    return model


def test_external_data_anywhere_is_refused_at_import_and_load(tmp_path, capsys):
    from twoface.runtime import load_graph

    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\x00\x00\x80\x3f")
    home = tmp_path / "home"
    places = [str(secret), "../secret.bin", "secret.bin"]
    for i, (kind, location) in enumerate(
        (k, p) for k in ("constant", "sparse", "initializer") for p in places
    ):
        folder = tmp_path / f"d{i}"
        folder.mkdir()
        path = _save(_with_external(kind, location), folder / "ext.onnx")
        args = ["models", "--models-dir", home, "import", path, "--name", f"ext{i}"]
        code, err, _ = _run([*args, "--like", "scrfd_500m"], capsys)
        assert code == 4 and _one_line(err), err
        assert "its weights are stored in separate files" in err
        assert not list((home / "models").glob("user-*"))
        for runtime in ("onnxruntime", "torch"):
            with pytest.raises(ModelError, match="its weights are stored in separate files"):
                load_graph(path, runtime)


def test_graph_local_functions_are_refused_in_both_runtimes(tmp_path, capsys):
    from onnx import TensorProto, helper

    from twoface.runtime import load_graph

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])
    erf = helper.make_function(
        "local", "Erf", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])],
        [helper.make_opsetid("", 17)],
    )  # fmt: skip
    model = _model([helper.make_node("Erf", ["x"], ["y"], domain="local")], [x], [y])
    model.functions.append(erf)
    model.opset_import.append(helper.make_opsetid("local", 1))
    path = _save(model, tmp_path / "fn.onnx")
    shadow = _model([helper.make_node("Erf", ["x"], ["y"])], [x], [y])
    shadow.functions.append(
        helper.make_function(
            "", "Erf", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])],
            [helper.make_opsetid("", 17)],
        )
    )  # fmt: skip
    shadow_path = _save(shadow, tmp_path / "shadow.onnx")
    for file in (path, shadow_path):
        for runtime in ("onnxruntime", "torch"):
            with pytest.raises(ModelError, match=r"defines its own ONNX functions \(Erf\)"):
                load_graph(file, runtime)
    code, err, _ = _run(
        ["models", "--models-dir", tmp_path / "h", "import", shadow_path, "--name", "fn"]
        + ["--like", "landmarks_2d106det"],
        capsys,
    )
    assert code == 4 and _one_line(err) and "defines its own ONNX functions" in err, err


# -- 5: the store's user model list names no code ---------------------------------------------------
def _plant(home: Path, entries) -> None:
    home.mkdir(parents=True, exist_ok=True)
    text = entries if isinstance(entries, str) else json.dumps(entries)
    (home / "user_models.json").write_text(text)


def _legacy(name: str = "mine", like: str = "yunet_n", **changes) -> dict:
    """An entry as an older twoface wrote it (the whole catalogue entry)."""
    from dataclasses import asdict

    from twoface.zoo.catalogue import CATALOGUE

    entry = asdict(CATALOGUE[like])
    entry.update(
        name=name,
        filename=f"user-{name}.onnx",
        urls=[],
        size=None,
        sha256=None,
        source="user",
        notes=f"your model, imported like {like}",
    )
    entry.update(changes)
    return entry


@pytest.mark.parametrize(
    "planted, fragment",
    [
        ([_legacy(impl="this:s")], "names an implementation of its own; refused"),
        ([_legacy(impl="os:system")], "names an implementation of its own; refused"),
        ([{"name": "mine", "like": "yunet_n", "suffix": ".onnx", "impl": "this:s"}], "its own"),
        ("[" * 100_000 + "]" * 100_000, "not a user model list twoface wrote (not JSON)"),
        ([_legacy(preprocess=5)], "preprocess is not what twoface writes"),
        ([_legacy(filename="/etc/passwd")], "file is not a user model file in the store"),
        ([_legacy(filename="../../outside.onnx")], "file is not a user model file in the store"),
        ([{"name": "mine", "like": "yunet_n", "suffix": "/../../x"}], "not a user model file"),
        ([{"name": "mine", "like": "this:s", "suffix": ".onnx"}], "not like any built-in model"),
        ([{"name": ["x"]}], "an entry is not a named user model"),
        ({"name": "mine"}, "not a JSON list"),
    ],
)
def test_planted_user_model_lists_are_one_line_and_run_nothing(tmp_path, capsys, planted, fragment):
    home = tmp_path / "home"
    _plant(home, planted)
    sys.modules.pop("this", None)
    code, err, out = _run(["models", "--models-dir", home, "list"], capsys)
    assert code == 4 and _one_line(err), err
    assert "user_models.json: " in err and fragment in err
    assert "this" not in sys.modules and "Beautiful is better" not in out + err


def test_import_writes_only_the_name_the_model_it_is_like_and_its_suffix(tmp_path, capsys):
    from test_zoo import tiny_onnx

    home = tmp_path / "home"
    mine = tmp_path / "m.onnx"
    mine.write_bytes(tiny_onnx(12))
    _import_like(home, mine, "mine", "yunet_n", capsys)
    rows = json.loads((home / "user_models.json").read_text())
    assert rows == [{"name": "mine", "like": "yunet_n", "suffix": ".onnx"}]
    code, err, out = _run(["models", "--models-dir", home, "path", "mine"], capsys)
    assert code == 0 and out.strip().endswith("models/user-mine.onnx"), err
    # A list an older twoface wrote (whole entries) still loads where `impl` is the built-in's.
    from twoface.zoo.store import ModelStore

    _plant(home, [_legacy("old", "scrfd_500m", impl="twoface.detect.scrfd:ScrfdDetector")])
    entry = ModelStore(home).entry("old")
    assert entry.arch == "scrfd" and entry.filename == "user-old.onnx"


def test_symlinks_planted_in_the_store_are_refused(tmp_path, capsys):
    from test_zoo import tiny_onnx

    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    home = tmp_path / "home"
    (home / "locks").mkdir(parents=True)
    (home / "locks" / "mine.lock").symlink_to(outside)
    mine = tmp_path / "m.onnx"
    mine.write_bytes(tiny_onnx(12))
    args = ["models", "--models-dir", home, "import", mine, "--name", "mine", "--like", "yunet_n"]
    code, err, _ = _run(args, capsys)
    assert code == 4 and _one_line(err) and "mine.lock: cannot take the store's lock" in err, err
    assert outside.read_text() == "keep" and not (home / "user_models.json").exists()
    assert not list((home / "models").iterdir())
    (home / "user_models.json").symlink_to(outside)
    code, err, _ = _run(["models", "--models-dir", home, "list"], capsys)
    assert code == 4 and _one_line(err) and "a symlink is refused" in err, err
    assert outside.read_text() == "keep"


def test_a_planted_pins_file_nested_deep_or_linked_is_one_line(tmp_path, capsys):
    from test_zoo import tiny_onnx

    home = tmp_path / "home"
    home.mkdir()
    mine = tmp_path / "m.onnx"
    mine.write_bytes(tiny_onnx(12))
    (home / "pins.json").write_text("[" * 100_000 + "]" * 100_000)
    args = ["models", "--models-dir", home, "import", mine, "--name", "yunet_s"]
    code, err, _ = _run(args, capsys)
    assert code == 4 and _one_line(err) and "pins.json: not a pins file (RecursionError)" in err
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (home / "pins.json").unlink()
    (home / "pins.json").symlink_to(outside)
    code, err, _ = _run(args, capsys)
    assert code == 4 and _one_line(err) and "pins.json: not a pins file (OSError)" in err, err
    assert outside.read_text() == "{}" and not list((home / "models").glob("*.onnx"))


# -- 6: Ctrl-C and SIGTERM stop a long onnxruntime run ---------------------------------------------
def _slow_scrfd(path: Path) -> Path:
    """An SCRFD-shaped graph that computes for minutes: a chain of 2048 x 2048 MatMuls (of a
    matrix made at run time from the input, so loading has nothing to fold or pre-pack)."""
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    eps = numpy_helper.from_array(np.full((), 1e-4, np.float32), "eps")
    side = numpy_helper.from_array(np.array([2048, 2048], np.int64), "side")
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["s"], keepdims=0),
        helper.make_node("Mul", ["s", "zero"], ["s0"]),
        helper.make_node("Add", ["s0", "eps"], ["e"]),
        helper.make_node("Expand", ["e", "side"], ["m0"]),
    ]
    steps = 400
    nodes += [helper.make_node("MatMul", [f"m{i}", "m0"], [f"m{i + 1}"]) for i in range(steps)]
    nodes += [
        helper.make_node("ReduceSum", [f"m{steps}"], ["t"], keepdims=0),
        helper.make_node("Mul", ["t", "zero"], ["z"]),
    ]
    inits, outs = [zero, eps, side], []
    for name, value in _scrfd_outputs().items():
        inits.append(numpy_helper.from_array(value, f"c_{name}"))
        nodes.append(helper.make_node("Add", [f"c_{name}", "z"], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    return _save(_model(nodes, [x], outs, inits), path)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.slow
def test_a_signal_stops_a_long_onnxruntime_run(tmp_path, capsys, sig, code):
    home = tmp_path / "home"
    slow = _slow_scrfd(tmp_path / "slow.onnx")
    code_, err, _ = _run(
        ["models", "--models-dir", home, "import", slow, "--name", "scrfd_2.5g"], capsys
    )
    assert code_ == 0, err
    src, tgt = _image(tmp_path / "s.png"), _image(tmp_path / "t.png")
    out = tmp_path / "o.png"
    argv = ["swap", "-s", src, "-t", tgt, "-o", out, "--detector", "scrfd_2.5g"]
    argv += ["--models-dir", home]
    proc = subprocess.Popen(
        [sys.executable, "-m", "twoface", *map(str, argv)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        time.sleep(10)  # imports and loading done: the run is under way (it takes minutes)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(sig)
        t0 = time.monotonic()
        assert proc.wait(timeout=20) == code
        assert time.monotonic() - t0 < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert "nothing was written" in err and "Traceback" not in err, err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir() if p.name[0] == ".") == []


# -- 7: a deadline that covers connecting, headers and body ------------------------------------------
@pytest.mark.slow
def test_a_server_trickling_its_headers_meets_the_deadline(tmp_path):
    from twoface.zoo.catalogue import ModelEntry
    from twoface.zoo.store import ModelStore

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            header = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000
            for byte in header:  # a byte every 2 s: each read is quick, the whole never ends
                if stop.wait(2.0 if byte == ord("a") else 0.0):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    entry = ModelEntry(
        "slow_model", "detect", "scrfd", "onnx", "m.onnx",
        (f"http://127.0.0.1:{port}/m.onnx",), "MIT", False,
    )  # fmt: skip
    store = ModelStore(tmp_path)
    result: dict = {}

    def download() -> None:
        try:
            store.download(entry, timeout=30, deadline=3.0)
        except ModelError as e:
            result["error"] = str(e)

    t0 = time.monotonic()
    worker = threading.Thread(target=download, daemon=True)
    worker.start()
    worker.join(20)
    elapsed = time.monotonic() - t0
    stop.set()
    listener.close()
    assert not worker.is_alive(), "the download ignored its deadline"
    assert elapsed < 10 and "no complete answer in the time allowed" in result.get("error", "")
    assert not list(store.models_dir.glob("*"))
