"""The model store against a real HTTP server on loopback: download, resume, corrupt, errors."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from twoface.cli import main
from twoface.errors import ModelError
from twoface.zoo.catalogue import CATALOGUE, ModelEntry
from twoface.zoo.store import ModelStore

BODY = b"\x08\x07" + bytes(range(256)) * 4096  # ONNX-looking bytes, 1 MiB and a bit
DIGEST = hashlib.sha256(BODY).hexdigest()


def tiny_onnx(outputs: int = 9, pad: int = 0) -> bytes:
    """A real ONNX graph with a detector's interface: image in, `outputs` tensors out."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])
    outs = [helper.make_tensor_value_info(f"o{i}", TensorProto.FLOAT, None) for i in range(outputs)]
    w = numpy_helper.from_array(np.full((1,), 2.0 + pad, np.float32), "w")
    nodes = [helper.make_node("Mul", ["input", "w"], [f"o{i}"]) for i in range(outputs)]
    graph = helper.make_graph(nodes, "tiny", [x], outs, [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


class _Handler(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    modes: dict[str, str] = {}
    seen: list[tuple[str, str | None]] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self.seen.append((self.path, self.headers.get("Range")))
        mode = self.modes.get(self.path, "ok")
        if mode == "500":
            self.send_error(500, "boom")
            return
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and mode != "ignore-range":
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if mode == "cut-once":
            self.modes[self.path] = "ok"
            self.wfile.write(body[start : start + len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body[start:])


@pytest.fixture()
def server():
    _Handler.files, _Handler.modes, _Handler.seen = {}, {}, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler
    httpd.shutdown()
    httpd.server_close()


def _entry(base, path="/m.onnx", **kw) -> ModelEntry:
    fields = dict(size=len(BODY), sha256=DIGEST)
    fields.update(kw)
    return ModelEntry(
        "test_model", "detect", "scrfd", "onnx", "m.onnx", (base + path,), "MIT", False, **fields
    )


def _cached(store: ModelStore) -> list[str]:
    return sorted(p.name for p in store.models_dir.glob("*")) if store.models_dir.exists() else []


def test_complete_download_is_checked_and_atomic(server, tmp_path):
    base, h = server
    h.files["/m.onnx"] = BODY
    store = ModelStore(tmp_path)
    seen = []
    path = store.download(_entry(base), progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == BODY and _cached(store) == ["m.onnx"]
    assert seen[-1] == (len(BODY), len(BODY))
    assert list(store.partial_dir.iterdir()) == []


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    base, h = server
    h.files["/m.onnx"], h.modes["/m.onnx"] = BODY, "cut-once"
    store = ModelStore(tmp_path)
    with pytest.raises(ModelError, match="connection closed after"):
        store.download(_entry(base))
    part = store.partial_dir / "m.onnx.part"
    assert part.stat().st_size == len(BODY) // 2 and _cached(store) == []
    path = store.download(_entry(base))
    assert h.seen[-1] == ("/m.onnx", f"bytes={len(BODY) // 2}-")
    assert path.read_bytes() == BODY and not part.exists()


def test_server_ignoring_the_range_restarts_from_zero(server, tmp_path):
    base, h = server
    h.files["/m.onnx"], h.modes["/m.onnx"] = BODY, "ignore-range"
    store = ModelStore(tmp_path)
    store.partial_dir.mkdir(parents=True)
    (store.partial_dir / "m.onnx.part").write_bytes(BODY[:1000])
    assert store.download(_entry(base)).read_bytes() == BODY


def test_corrupt_file_is_removed_with_a_clear_error(server, tmp_path):
    base, h = server
    h.files["/m.onnx"] = BODY[:-1] + b"\x00"  # same size, one byte different
    store = ModelStore(tmp_path)
    with pytest.raises(ModelError, match="does not match test_model.*corrupt or not this model"):
        store.download(_entry(base))
    assert _cached(store) == [] and list(store.partial_dir.iterdir()) == []


def test_server_error_and_wrong_size(server, tmp_path):
    base, h = server
    h.files["/m.onnx"], h.modes["/m.onnx"] = BODY, "500"
    store = ModelStore(tmp_path)
    with pytest.raises(ModelError, match=r"could not download test_model: .*HTTP 500"):
        store.download(_entry(base))
    h.modes["/m.onnx"] = "ok"
    with pytest.raises(ModelError, match=f"offers {len(BODY)} bytes but test_model has 12345"):
        store.download(_entry(base, size=12345))
    assert _cached(store) == []


def test_unknown_digest_is_pinned_on_first_download_then_enforced(server, tmp_path):
    base, h = server
    h.files["/m.onnx"] = tiny_onnx()
    store = ModelStore(tmp_path)
    entry = _entry(base, sha256=None, size=None)
    store.download(entry)
    pins = json.loads(store.pins_file.read_text())
    digest = hashlib.sha256(tiny_onnx()).hexdigest()
    assert pins["test_model"]["sha256"] == digest and pins["test_model"]["from"] == "download"
    store.path(entry).unlink()
    h.files["/m.onnx"] = tiny_onnx(pad=1)  # another file under the same name
    with pytest.raises(ModelError, match="does not match"):
        store.download(entry)


def test_offline_never_touches_the_network(server, tmp_path):
    base, h = server
    h.files["/m.onnx"] = BODY
    with pytest.raises(ModelError, match="--offline forbids downloading"):
        ModelStore(tmp_path, offline=True).download(_entry(base))
    assert h.seen == []


def test_zip_member_is_extracted(server, tmp_path):
    base, h = server
    import torch

    pth = io.BytesIO()
    torch.save({"layer.weight": torch.ones(3)}, pth)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("people/latest_net_G.pth", pth.getvalue())
        z.writestr("other.txt", b"nothing")
    h.files["/checkpoints.zip"] = buf.getvalue()
    entry = ModelEntry(
        "zipped",
        "swap",
        "simswap",
        "torch",
        "g.pth",
        (base + "/checkpoints.zip",),
        "x",
        True,
        member="people/latest_net_G.pth",
    )
    path = ModelStore(tmp_path).download(entry)
    assert path.read_bytes() == pth.getvalue()


def test_cli_import_path_list_and_verify(tmp_path, capsys):
    home = str(tmp_path / "home")
    mine = tmp_path / "yunet.onnx"
    mine.write_bytes(tiny_onnx(12))  # a model without a published digest: pinned on import
    args = ["models", "--models-dir", home]
    assert main([*args, "import", str(mine), "--name", "yunet_s"]) == 0
    assert main([*args, "path", "yunet_s"]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("models/yunet_s_dynamic.onnx")
    assert main([*args, "list", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert listed["yunet_s"]["present"] and not listed["inswapper_128"]["present"]
    assert listed["inswapper_128"]["sha256"].startswith("e4a3f08c")
    assert listed["yunet_s"]["hash"] == "pinned on first download"
    assert len(listed) == len(CATALOGUE)
    assert main([*args, "verify"]) == 0
    assert "yunet_s: pinned (pinned on first import)" in capsys.readouterr().out

    cached = tmp_path / "home/models/yunet_s_dynamic.onnx"
    cached.write_bytes(tiny_onnx(12, pad=1))
    assert main([*args, "verify"]) == 4
    assert "yunet_s: corrupt" in capsys.readouterr().out

    # A cascade that is not nagadomi's: the catalogue knows the real file's digest.
    fake = tmp_path / "cascade.xml"
    head = b'<?xml version="1.0"?>\n<opencv_storage>\n<cascade type_id="opencv-cascade-classifier">'
    tail = b"</cascade></opencv_storage>"
    fake.write_bytes(head + b" " * (246_945 - len(head) - len(tail)) + tail)
    assert main([*args, "import", str(fake), "--name", "anime_lbpcascade"]) == 4
    assert "does not match anime_lbpcascade" in capsys.readouterr().err
    assert not (tmp_path / "home/models/lbpcascade_animeface.xml").exists()


def test_cli_refuses_wrong_files_and_caches_nothing(tmp_path, capsys):
    home = tmp_path / "home"
    args = ["models", "--models-dir", str(home)]
    jpeg = tmp_path / "photo.onnx"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    assert main([*args, "import", str(jpeg), "--name", "scrfd_500m"]) == 4
    err = capsys.readouterr().err.strip()
    assert "photo.onnx: not a onnx file (looks like unknown data); it is not scrfd_500m" in err
    short = tmp_path / "w600k_r50.onnx"
    short.write_bytes(b"\x08\x07" + b"\x00" * 1000)
    assert main([*args, "import", str(short), "--name", "arcface_w600k_r50"]) == 4
    err = capsys.readouterr().err
    assert "1002 bytes, but arcface_w600k_r50 has 174383860 (truncated or another file)" in err
    assert main([*args, "path", "inswapper_128"]) == 4
    err = capsys.readouterr().err
    assert (
        "twoface models download inswapper_128" in err and err[-1] == "\n" and err.count("\n") == 1
    )
    assert main([*args, "download", "no_such_model"]) == 4
    assert "unknown model 'no_such_model'" in capsys.readouterr().err
    assert not (home / "models").exists() or list((home / "models").iterdir()) == []


def test_torch_models_without_pytorch_say_so_in_one_line(tmp_path, photos, capsys, monkeypatch):
    """The default install has no PyTorch: asking for a PyTorch-only model is a usage error
    with the fix, not an ImportError traceback."""
    import sys

    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    for name in ("G_unet_2blocks.pth", "backbone.pth", "scrfd_2.5g_mmdet.pth"):
        (home / "models" / name).write_bytes(b"PK\x03\x04")
    monkeypatch.setitem(sys.modules, "torch", None)
    out = tmp_path / "o.jpg"
    base = ["-s", str(photos / "biden.jpg"), "-t", str(photos / "obama.jpg"), "-o", str(out)]
    cases = [
        (
            ["swap", *base, "--swapper", "ghost_unet_2blocks"],
            "swapper ghost_unet_2blocks needs PyTorch",
        ),
        (
            ["detect", str(photos / "obama.jpg"), "--detector", "scrfd_2.5g_mmdet"],
            "detector scrfd_2.5g_mmdet needs PyTorch",
        ),
    ]
    for args, message in cases:
        code = main([*args, "--models-dir", str(home)])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "pip install torch" in err and err.count("\n") == 1
    assert not out.exists()
