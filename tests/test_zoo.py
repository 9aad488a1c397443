"""The model store against a real HTTP server on loopback: download, resume, corrupt, errors."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import import_model

from twoface.cli import main
from twoface.errors import ModelError
from twoface.zoo.catalogue import CATALOGUE, ModelEntry
from twoface.zoo.store import ModelStore

BODY = b"\x08\x07" + bytes(range(256)) * 4096  # ONNX-looking bytes, 1 MiB and a bit
DIGEST = hashlib.sha256(BODY).hexdigest()


def tiny_onnx(outputs: int = 9, pad: int = 0) -> bytes:
    """A real ONNX graph with a detector's interface: image in, `outputs` tensors out."""
    import numpy as np
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
        if mode.startswith("redirect:"):
            self.send_response(302)
            self.send_header("Location", mode[len("redirect:") :])
            self.end_headers()
            return
        if self._special(mode):
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

    def _special(self, mode: str) -> bool:
        """Misbehaving servers; True when the reply is sent."""
        body = self.files.get(self.path, b"")
        rng = self.headers.get("Range")
        if mode == "chunked-cut":  # chunked transfer cut inside a chunk: IncompleteRead
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n" % len(body) + body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return True
        if mode == "endless":  # no Content-Length, far more bytes than the model has
            self.send_response(200)
            self.end_headers()
            for _ in range(40):
                self.wfile.write(body)
            self.close_connection = True
            return True
        if mode == "trickle":  # a byte at a time, for ever
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for b in body:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return True
        if mode == "wrong-range" and rng:  # 206, but not from the byte asked for
            self.send_response(206)
            self.send_header("Content-Range", f"bytes 0-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return True
        if mode == "416" and rng:  # "your range starts past the end", whatever was asked
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.modes[self.path] = "ok"
            return True
        return False


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


# -- issue 9: downloads that misbehave, and the store's own files ---------------------------------
def test_cut_inside_a_chunk_is_one_line_and_keeps_the_partial(server, tmp_path):
    base, h = server
    h.files["/m.onnx"], h.modes["/m.onnx"] = BODY, "chunked-cut"
    store = ModelStore(tmp_path)
    with pytest.raises(ModelError, match="connection closed in the middle of a chunk") as e:
        store.download(_entry(base))
    assert "\n" not in str(e.value) and _cached(store) == []


def test_a_server_sending_too_much_is_stopped_at_the_size(server, tmp_path):
    base, h = server
    h.files["/m.onnx"], h.modes["/m.onnx"] = BODY, "endless"
    store = ModelStore(tmp_path)
    with pytest.raises(
        ModelError, match=f"sent more than the {len(BODY)} bytes test_model can have"
    ):
        store.download(_entry(base))
    assert _cached(store) == [] and list(store.partial_dir.iterdir()) == []


def test_a_trickling_server_meets_the_deadline(server, tmp_path):
    base, h = server
    h.files["/m.onnx"], h.modes["/m.onnx"] = BODY, "trickle"
    store = ModelStore(tmp_path)
    t0 = time.monotonic()
    with pytest.raises(ModelError, match="too slow"):
        store.download(_entry(base), deadline=1.0)
    assert time.monotonic() - t0 < 10 and _cached(store) == []


def test_a_206_from_the_wrong_byte_restarts_from_zero(server, tmp_path):
    base, h = server
    h.files["/m.onnx"], h.modes["/m.onnx"] = BODY, "wrong-range"
    store = ModelStore(tmp_path)
    store.partial_dir.mkdir(parents=True)
    (store.partial_dir / "m.onnx.part").write_bytes(BODY[:1000])
    assert store.download(_entry(base)).read_bytes() == BODY  # not BODY[:1000] + BODY


def test_a_416_on_a_truncated_partial_is_not_taken_as_complete(server, tmp_path):
    base, h = server
    h.files["/m.onnx"], h.modes["/m.onnx"] = tiny_onnx(), "416"
    store = ModelStore(tmp_path)
    entry = _entry(base, sha256=None, size=None)  # nothing to catch a short file but the 416
    store.partial_dir.mkdir(parents=True)
    (store.partial_dir / "m.onnx.part").write_bytes(tiny_onnx()[:40])
    assert store.download(entry).read_bytes() == tiny_onnx()


def test_redirects_to_other_hosts_or_schemes_are_refused(server, tmp_path):
    base, h = server
    port = base.rsplit(":", 1)[1]
    h.files["/m.onnx"] = BODY
    store = ModelStore(tmp_path)
    for target in (f"http://localhost:{port}/m.onnx", "file:///etc/passwd", "ftp://127.0.0.1/m"):
        h.modes["/r.onnx"] = f"redirect:{target}"
        with pytest.raises(ModelError, match="refused|is not allowed"):
            store.download(_entry(base, path="/r.onnx"))
    h.modes["/r.onnx"] = f"redirect:{base}/m.onnx"  # same host: followed
    assert store.download(_entry(base, path="/r.onnx")).read_bytes() == BODY


def test_two_downloads_of_one_model_at_once_both_succeed(server, tmp_path):
    base, h = server
    h.files["/m.onnx"] = BODY
    results, errors = [], []

    def fetch():
        try:
            results.append(ModelStore(tmp_path).download(_entry(base)).read_bytes())
        except Exception as e:  # noqa: BLE001 - the test reports whatever went wrong
            errors.append(e)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and results == [BODY, BODY]


def test_random_bytes_that_look_like_onnx_are_never_pinned(server, tmp_path, capsys):
    base, h = server
    h.files["/m.onnx"] = b"\x08" + os.urandom(5000)
    store = ModelStore(tmp_path)
    with pytest.raises(ModelError, match="not a readable ONNX file"):
        store.download(_entry(base, sha256=None, size=None))
    assert "test_model" not in store.pins() and _cached(store) == []
    # The wrong interface is refused too: a YuNet file has 12 outputs.
    wrong = tmp_path / "yunet.onnx"
    wrong.write_bytes(tiny_onnx(9))
    assert import_model(tmp_path / "h", wrong, "yunet_s") == 4
    assert "has 1 input(s) and 9 output(s); yunet_s (yunet) has 1 and 12" in capsys.readouterr().err


def test_unpin_forgets_a_pin_and_import_recognises_files_by_hash(tmp_path, capsys):
    home = tmp_path / "home"
    args = ["models", "--models-dir", str(home)]
    first = tmp_path / "a.onnx"
    first.write_bytes(tiny_onnx(12))
    assert main([*args, "import", str(first), "--name", "yunet_s"]) == 0
    store = ModelStore(home)
    installed = store.path(store.entry("yunet_s"))
    assert store.pins()["yunet_s"]["sha256"] == hashlib.sha256(installed.read_bytes()).hexdigest()
    again = tmp_path / "copy.onnx"
    again.write_bytes(tiny_onnx(12))
    installed.unlink()
    assert main([*args, "import", str(again)]) == 0  # no --name: the pin says what it is
    assert "yunet_s: " in capsys.readouterr().out
    stranger = tmp_path / "s.onnx"
    stranger.write_bytes(tiny_onnx(12, pad=3))
    assert main([*args, "import", str(stranger)]) == 2
    assert (
        "is not in the catalogue; say which model it is with --name NAME" in capsys.readouterr().err
    )
    # A wrong pin: forget it, then the genuine file is accepted.
    assert main([*args, "import", str(stranger), "--name", "yunet_s"]) == 4
    assert main([*args, "unpin", "yunet_s"]) == 0
    assert "removed pin" in capsys.readouterr().out and not installed.exists()
    assert main([*args, "import", str(stranger), "--name", "yunet_s"]) == 0
    assert main([*args, "unpin", "inswapper_128"]) == 2  # its digest is published, not pinned


def test_a_planted_symlink_in_the_partial_folder_is_not_followed(server, tmp_path):
    base, h = server
    h.files["/m.onnx"] = BODY
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    store = ModelStore(tmp_path / "home")
    store.partial_dir.mkdir(parents=True)
    (store.partial_dir / "m.onnx.part").symlink_to(victim)
    assert store.download(_entry(base)).read_bytes() == BODY
    assert victim.read_text() == "precious"


def test_catalogue_digests_found_for_more_entries():
    hashed = {e.name for e in CATALOGUE.values() if e.sha256}
    assert {"scrfd_500m", "gfpgan_1.4", "codeformer", "inswapper_128", "scrfd_10g"} <= hashed
    for e in CATALOGUE.values():
        if e.sha256:
            assert len(e.sha256) == 64 and e.source, e.name
