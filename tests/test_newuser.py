"""What a new user hit (issue 22, items 19 and 23): a headless `twoface live` (figures only, or
recorded to a labelled video; a window that cannot open fails in one line within seconds), and
the learned path in one step (`twoface models get --recommended`, `--swapper auto`)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from twoface.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from videotools import face_frame, write_clip  # noqa: E402

CLIP_FRAMES = 12  # at 10 fps: 1.2 s of live input


def _run(argv, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.err.strip(), captured.out


def _one_line(err: str) -> bool:
    return err.count("\n") == 0 and "Traceback" not in err and err.startswith("twoface: ")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def clip(photos, tmp_path_factory) -> Path:
    """A short synthetic clip whose every frame holds obama.jpg's face."""
    from twoface.io.image import read_image

    rgb = read_image(photos / "obama.jpg").rgb
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_clip(path, [face_frame(rgb, shift=i) for i in range(CLIP_FRAMES)], rate=10)
    return path


def _live(photos, clip, home, *extra) -> list:
    source = photos / "biden.jpg"
    return ["live", "-s", source, "--camera", clip, "--frames", 100, "--json"] + [
        "--models-dir",
        home,
        *extra,
    ]


# -- 19: headless live ---------------------------------------------------------------------------
@pytest.mark.slow
def test_live_figures_only_run_prints_the_frame_counts(photos, clip, tmp_path, capsys):
    code, err, out = _run(_live(photos, clip, tmp_path / "store"), capsys)
    assert code == 0, err
    figures = json.loads(out)
    assert figures["frames_in"] == CLIP_FRAMES and figures["swapper"] == "classical"
    assert figures["frames_out"] >= 1 and figures["faces_swapped"] >= 1
    assert figures["frames_out"] + figures["dropped"] == CLIP_FRAMES
    assert "figures only" in err  # said once, as a note: nothing was shown or written
    assert "record" not in figures


@pytest.mark.slow
def test_live_record_writes_what_was_shown_labelled(photos, clip, tmp_path, capsys):
    import av

    from twoface.io.video import read_video_label

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    record = out_dir / "shown.mp4"
    code, err, out = _run(_live(photos, clip, tmp_path / "store", "--record", record), capsys)
    assert code == 0, err
    figures = json.loads(out)
    assert figures["frames_in"] == CLIP_FRAMES and figures["record"] == str(record)
    assert figures["frames_recorded"] == figures["frames_out"] >= 1
    with av.open(str(record)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(decoded) == figures["frames_out"]
    assert decoded[0].shape == (240, 320, 3)  # the clip's size
    label = read_video_label(record)
    assert label is not None and label.source_type == "compositeSynthetic"
    assert _run(["inspect", record], capsys)[0] == 0  # `twoface inspect` finds the label
    assert sorted(p.name for p in out_dir.iterdir()) == ["shown.mp4"]  # no temporary file left


def test_live_record_refuses_a_bad_path_before_any_work(photos, clip, tmp_path, capsys):
    home = tmp_path / "store"
    code, err, _ = _run(_live(photos, clip, home, "--record", tmp_path / "x.jpg"), capsys)
    assert code == 2 and _one_line(err) and "--record writes a video" in err
    code, err, _ = _run(_live(photos, clip, home, "--record", clip), capsys)  # the camera file
    assert code == 2 and _one_line(err) and "inputs are never overwritten" in err
    assert clip.stat().st_size > 0 and not (tmp_path / "x.jpg").exists()
    assert _leftovers(tmp_path) == [] and _leftovers(clip.parent) == []


def _live_show(
    photos, clip, tmp_path, display: str | None
) -> tuple[subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    if display is not None:
        env["DISPLAY"] = display
    argv = [str(a) for a in _live(photos, clip, tmp_path / "store", "--show")]
    start = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "twoface", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=90,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("twoface live --show hung instead of failing in one line")
    return done, time.monotonic() - start


def test_show_without_a_display_fails_in_one_line(photos, clip, tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("DISPLAY is how Linux names a display")
    done, seconds = _live_show(photos, clip, tmp_path, None)
    err = done.stderr.strip()
    assert done.returncode == 2 and _one_line(err), err
    assert "--show needs a display" in err and "--record" in err  # and what to use instead
    assert seconds < 20


def _free_display() -> int:
    """A display number whose X socket and TCP port (6000 + N) nobody uses."""
    for n in range(60, 100):
        if Path(f"/tmp/.X11-unix/X{n}").exists():
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", 6000 + n))
                return n
            except OSError:
                continue
    pytest.skip("no free X display number")


def test_show_on_a_display_that_refuses_fails_in_one_line(photos, clip, tmp_path):
    """Qt aborted the whole process (exit 134, four lines of Qt messages) before the fix."""
    if not sys.platform.startswith("linux"):
        pytest.skip("an X display")
    done, seconds = _live_show(photos, clip, tmp_path, f"127.0.0.1:{_free_display()}")
    err = done.stderr.strip()
    assert done.returncode == 2 and _one_line(err), err
    assert err.startswith("twoface: error: --show: no window") and "--record" in err
    assert seconds < 20


@pytest.mark.slow
def test_show_on_a_display_that_never_answers_fails_within_seconds(photos, clip, tmp_path):
    """An X server that accepts the connection and then says nothing: OpenCV's window waited
    for ever before the fix."""
    if not sys.platform.startswith("linux"):
        pytest.skip("an X display")
    n = _free_display()
    server = socket.socket()
    server.bind(("127.0.0.1", 6000 + n))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])  # kept open, never answered
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        done, seconds = _live_show(photos, clip, tmp_path, f"127.0.0.1:{n}")
    finally:
        stop.set()
        thread.join(timeout=5)
        for c in held:
            c.close()
        server.close()
    err = done.stderr.strip()
    assert done.returncode == 2 and _one_line(err), err
    assert "--show: no window" in err and "--record" in err
    assert seconds < 20  # the probe gives up after 5 s; before the fix it never returned


# -- 23: --swapper auto ----------------------------------------------------------------------------
def _install_stubs(home: Path, *names: str) -> None:
    """Empty files where the store keeps these models: enough for `auto` to count them as
    installed (it looks at files only and loads nothing)."""
    from twoface.zoo.catalogue import CATALOGUE

    (home / "models").mkdir(parents=True, exist_ok=True)
    for name in names:
        (home / "models" / CATALOGUE[name].filename).write_bytes(b"")


@pytest.mark.slow
def test_auto_with_an_empty_store_is_classical_with_one_note(photos, tmp_path, capsys, monkeypatch):
    from twoface.build import FALLBACK_NOTE

    home = tmp_path / "store"
    args = ["swap", "-s", photos / "biden.jpg", "-t", photos / "obama.jpg", "--models-dir", home]
    args += ["--progress", "off"]  # the tests below pretend stderr is a terminal
    # In a script (stderr not a terminal) it is in --json's notes, and stderr stays quiet.
    code, err, out = _run([*args, "-o", tmp_path / "o.jpg", "--json"], capsys)
    assert code == 0 and json.loads(out)["engine"] == "classical" and err == ""
    assert FALLBACK_NOTE in json.loads(out)["notes"]
    assert (
        "offline fallback" in FALLBACK_NOTE
        and "`twoface models get --recommended`" in FALLBACK_NOTE
    )
    # Offline: nothing fetched; the store holds at most the per-install signing key (made on
    # first use for the content credentials).
    assert not home.exists() or [p.name for p in home.iterdir()] == ["credentials"]
    # At a terminal: one note, after the work.
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, err, out = _run([*args, "-o", tmp_path / "t.jpg"], capsys)
    assert code == 0 and err.splitlines()[0] == f"twoface: note: {FALLBACK_NOTE}"
    assert err.count("offline fallback") == 1  # said once; other lines are per-face details
    # A failing run says only its error.
    code, err, _ = _run(
        [*args[:3], "-t", tmp_path / "none.jpg", *args[5:], "-o", tmp_path / "p.jpg"], capsys
    )
    assert code == 3 and _one_line(err) and "note" not in err
    # Named explicitly, classical says nothing more.
    code, err, _ = _run([*args, "-o", tmp_path / "q.jpg", "--swapper", "classical"], capsys)
    assert code == 0 and "offline fallback" not in err
    assert all(line.startswith("twoface: note: face at") for line in err.splitlines())


@pytest.mark.slow
def test_auto_in_the_api_and_the_config_default(photos, tmp_path):
    from twoface import Swapper
    from twoface.build import FALLBACK_NOTE
    from twoface.config import ModelsConfig

    assert ModelsConfig().swapper == "auto"
    for sw in (Swapper(models_dir=tmp_path), Swapper(swapper="auto", models_dir=tmp_path)):
        assert sw.config.models.swapper == "classical" and sw.engine.name == "classical"
        assert sw.notes == [FALLBACK_NOTE]
    result = sw.swap_image(photos / "biden.jpg", photos / "obama.jpg")
    assert result.engine == "classical" and result.notes[0] == FALLBACK_NOTE
    named = Swapper(swapper="classical", models_dir=tmp_path)
    assert (
        named.notes == []
        and named.swap_image(photos / "biden.jpg", photos / "obama.jpg").notes == []
    )


def test_auto_prefers_the_best_learned_swapper_installed(tmp_path):
    from twoface.build import choose_swapper
    from twoface.zoo.store import ModelStore

    store = ModelStore(tmp_path)
    assert choose_swapper(store)[0] == "classical"
    _install_stubs(tmp_path, "reswapper_128_1019500_onnx")
    assert choose_swapper(store)[0] == "classical"  # its identity encoder is missing
    _install_stubs(tmp_path, "arcface_w600k_r50")
    assert choose_swapper(store) == ("reswapper_128_1019500_onnx", None)
    _install_stubs(tmp_path, "inswapper_128")
    assert choose_swapper(store) == ("inswapper_128", None)


def test_ui_swapper_menu_puts_the_auto_choice_first(tmp_path):
    from twoface.ui.server import Backend, Settings

    def menu() -> list[str]:
        backend = Backend(Settings(models_dir=str(tmp_path)))
        try:
            return backend.options()["swappers"]
        finally:
            backend.close()

    assert menu() == ["classical"]
    _install_stubs(tmp_path, "inswapper_128", "arcface_w600k_r50")
    assert menu() == ["inswapper_128", "classical"]  # the first entry is the menu's default


# -- 23: models get --recommended, against a server on loopback ----------------------------------
class _Files(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    cut_once: set[str] = set()
    seen: list[tuple[str, str | None]] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self.seen.append((self.path, self.headers.get("Range")))
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if self.path in self.cut_once:  # half the body, then the connection drops
            self.cut_once.discard(self.path)
            self.wfile.write(body[start : start + (len(body) - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body[start:])


@pytest.fixture()
def recommended(monkeypatch):
    """The recommended entries pointed at a loopback server holding small stand-in files (ONNX's
    first byte, then the name), their sizes and digests patched to match, in this process only."""
    from twoface.zoo.catalogue import CATALOGUE, RECOMMENDED

    _Files.files, _Files.cut_once, _Files.seen = {}, set(), []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    bodies = {}
    for name in RECOMMENDED:
        entry = CATALOGUE[name]
        body = b"\x08\x07" + (name.encode() * 4096)
        bodies[name] = body
        _Files.files[f"/{entry.filename}"] = body
        monkeypatch.setitem(
            CATALOGUE,
            name,
            replace(
                entry,
                urls=(f"{base}/{entry.filename}",),
                size=len(body),
                sha256=hashlib.sha256(body).hexdigest(),
                member=None,
            ),
        )
    yield bodies, _Files
    httpd.shutdown()
    httpd.server_close()


def test_models_get_recommended_shows_licences_then_downloads_each(recommended, tmp_path, capsys):
    from twoface.build import choose_swapper
    from twoface.zoo.catalogue import CATALOGUE, RECOMMENDED
    from twoface.zoo.store import ModelStore

    bodies, server = recommended
    assert {CATALOGUE[n].task for n in RECOMMENDED} == {
        "swap",
        "identity",
        "detect",
        "parse",
        "occlude",
        "restore",
    }
    code, err, out = _run(["models", "get", "--recommended", "--models-dir", tmp_path], capsys)
    assert code == 0, err
    lines = out.splitlines()
    for name in RECOMMENDED:
        shown = next(i for i, x in enumerate(lines) if x.strip().startswith(f"{name} ("))
        fetched = next(i for i, x in enumerate(lines) if x.startswith(f"{name}: "))
        assert CATALOGUE[name].licence in lines[shown] and shown < fetched
        assert (tmp_path / "models" / CATALOGUE[name].filename).read_bytes() == bodies[name]
    # Every licence is shown before the first file is fetched.
    assert max(i for i, x in enumerate(lines) if x.startswith("  ")) < min(
        i for i, x in enumerate(lines) if ": /" in x or f": {tmp_path}" in x
    )
    assert "[NC]" in out  # the InsightFace models are flagged non-commercial
    assert len(server.seen) == len(RECOMMENDED)
    assert choose_swapper(ModelStore(tmp_path)) == ("inswapper_128", None)
    # Again: nothing is fetched twice.
    code, _, out = _run(["models", "get", "--recommended", "--models-dir", tmp_path], capsys)
    assert code == 0 and "already here" in out and len(server.seen) == len(RECOMMENDED)


def test_models_get_resumes_after_a_cut_download(recommended, tmp_path, capsys):
    from twoface.zoo.catalogue import CATALOGUE, RECOMMENDED

    bodies, server = recommended
    broken = CATALOGUE["scrfd_10g"]
    server.cut_once.add(f"/{broken.filename}")
    code, err, _ = _run(["models", "get", "--recommended", "--models-dir", tmp_path], capsys)
    assert code == 4 and _one_line(err)
    assert "scrfd_10g" in err and "run the same command again" in err
    models = tmp_path / "models"
    done_before = [n for n in RECOMMENDED[: RECOMMENDED.index("scrfd_10g")]]
    assert sorted(p.name for p in models.iterdir()) == sorted(
        CATALOGUE[n].filename for n in done_before
    )
    assert not (models / broken.filename).exists()  # nothing half-written in the store
    code, err, _ = _run(["models", "get", "--recommended", "--models-dir", tmp_path], capsys)
    assert code == 0, err
    half = len(bodies["scrfd_10g"]) // 2
    assert (f"/{broken.filename}", f"bytes={half}-") in server.seen  # resumed, not restarted
    for name in RECOMMENDED:
        assert (models / CATALOGUE[name].filename).read_bytes() == bodies[name]
    assert list((tmp_path / "partial").iterdir()) == []


def test_models_get_names_and_refusals(recommended, tmp_path, capsys):
    from twoface.zoo.catalogue import CATALOGUE

    bodies, _ = recommended
    code, _, out = _run(["models", "get", "xseg_1", "--models-dir", tmp_path], capsys)
    assert code == 0 and "GPL-3.0" in out
    assert (tmp_path / "models" / CATALOGUE["xseg_1"].filename).read_bytes() == bodies["xseg_1"]
    code, err, _ = _run(["models", "get", "--models-dir", tmp_path], capsys)
    assert code == 2 and _one_line(err) and "--recommended" in err
    code, err, _ = _run(["models", "get", "nope", "--models-dir", tmp_path], capsys)
    assert code == 4 and _one_line(err) and "unknown model 'nope'" in err
    offline = ["models", "--offline", "get", "--recommended", "--models-dir", tmp_path]
    code, err, _ = _run(offline, capsys)
    assert code == 4 and _one_line(err) and "--offline forbids downloading" in err
