"""The web UI: its JSON API through Starlette's test client, and the real page in Chromium driven by
Playwright (skipped, with the reason, only where no Chromium can be had)."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
from conftest import chromium_path, rgb

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")

from twoface.ui.server import Settings, create_app  # noqa: E402


def _upload(client, path, name=None):
    return client.post(f"/api/upload?name={name or path.name}", content=path.read_bytes())


@pytest.fixture()
def client(tmp_path):
    from starlette.testclient import TestClient

    app = create_app(Settings(port=7860, max_upload_mb=2, models_dir=str(tmp_path / "zoo")))
    with TestClient(app, base_url="http://127.0.0.1:7860") as c:
        c.backend = app.state.backend
        yield c
    assert not c.backend.files.root.exists()  # the private folder goes with the UI


def _wait(client, job, seconds=120):
    end = time.monotonic() + seconds
    while job["state"] in ("queued", "running") and time.monotonic() < end:
        time.sleep(0.1)
        job = client.get(f"/api/jobs/{job['id']}").json()
    return job


def test_uploads_are_checked_sized_and_private(client, photos, tmp_path):
    r = _upload(client, photos / "obama.jpg", name="../../etc/passwd<script>.jpg")
    assert r.status_code == 200
    stored = r.json()
    assert stored["kind"] == "image" and (stored["width"], stored["height"]) == (910, 1137)
    assert stored["name"] == "passwdscript.jpg"  # a name to show, never a path
    root = client.backend.files.root
    assert (root.stat().st_mode & 0o777) == 0o700
    assert [p.name for p in root.iterdir()] == [stored["id"] + ".jpg"]
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    r = _upload(client, text)
    assert r.status_code == 415 and r.json() == {
        "error": "notes.jpg: not an image or video twoface reads"
    }
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + bytes(3 * 2**20))
    r = _upload(client, big)
    assert r.status_code == 413 and "larger than the 2 MiB upload limit" in r.json()["error"]
    assert len(list(root.iterdir())) == 1  # refused uploads leave nothing behind
    r = client.get("/api/results/..%2F..%2Fetc%2Fpasswd")
    assert r.status_code == 404
    r = client.get(f"/api/results/{stored['id']}")  # an upload is not a result to serve
    assert r.status_code == 404 and "no such file" in r.json()["error"]
    assert client.delete(f"/api/files/{stored['id']}").json() == {"removed": True}
    assert not any(root.iterdir())


def test_other_hosts_and_origins_are_refused(client):
    assert client.get("/api/options", headers={"host": "evil.example"}).status_code == 400
    r = client.post("/api/swap", json={}, headers={"origin": "http://evil.example"})
    assert r.status_code == 403 and r.json()["error"] == "cross-origin request refused"
    r = client.post("/api/swap", json={"sources": []}, headers={"origin": "http://127.0.0.1:7860"})
    assert r.status_code == 400 and r.json()["error"] == "add at least one source photo"


def test_faces_swap_and_label_through_the_api(client, photos):
    source = _upload(client, photos / "obama.jpg").json()["id"]
    target = _upload(client, photos / "two_people.jpg").json()["id"]
    faces = client.post("/api/faces", json={"target": target}).json()["faces"]
    assert [f["index"] for f in faces] == [0, 1] and faces[0]["thumb"].startswith("data:image/jpeg")
    job = client.post(
        "/api/swap", json={"sources": [source], "target": target, "mode": "all"}
    ).json()
    job = _wait(client, job)
    assert job["state"] == "done", job
    summary = job["result"]["summary"]
    assert summary["faces_swapped"] == 2 and summary["digital_source_type"] == "compositeSynthetic"
    r = client.get(f"/api/results/{job['result']['file']}?download=1")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert r.content[:2] == b"\xff\xd8" and len(r.content) > 10_000


def test_bad_requests_are_one_line(client, photos):
    source = _upload(client, photos / "obama.jpg").json()["id"]
    target = _upload(client, photos / "two_people.jpg").json()["id"]
    job = client.post(
        "/api/swap",
        json={"sources": [source], "target": target, "mode": "pick", "picks": [{"face": 5}]},
    ).json()
    job = _wait(client, job)
    assert job["state"] == "failed"
    assert (
        job["error"]
        == "two_people.jpg: face 5 asked for, but the target has 2 face(s), numbered 0-1"
    )
    r = client.post("/api/swap", json={"sources": [source], "target": "nope-nope-nope-nope"})
    assert r.status_code == 404
    r = client.post("/api/faces", content=b"[1, 2]", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "the request body must be a JSON object"


def test_models_page_lists_what_is_installed(client):
    models = {m["name"]: m for m in client.get("/api/models").json()["models"]}
    assert models["classical"]["installed"] and models["retinaface"]["installed"]
    assert not models["inswapper_128"]["installed"] and models["inswapper_128"]["downloadable"]
    assert models["inswapper_128"]["non_commercial"] and models["codeformer"]["runs"] is False
    options = client.get("/api/options").json()
    assert options["swappers"] == ["classical"] and options["enhancers"] == []
    r = client.post("/api/models/no_such_model/download")
    assert r.status_code == 400 and "unknown model 'no_such_model'" in r.json()["error"]


@pytest.mark.slow
def test_webcam_frames_are_swapped_and_marked(client, photos):
    from PIL import Image

    source = _upload(client, photos / "obama.jpg").json()["id"]
    session = client.post("/api/live", json={"sources": [source]}).json()["session"]
    frame = (photos / "biden.jpg").read_bytes()
    r = client.post(f"/api/live/{session}/frame", content=frame)
    assert r.status_code == 200 and r.headers["x-faces"] == "1"
    import io

    out = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(int)
    before = rgb(photos / "biden.jpg").astype(int)
    assert out.shape == before.shape and np.abs(out - before).max() > 60
    assert client.post("/api/live/unknown-session-xyz/frame", content=frame).status_code == 404


# -- in a real browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(port=port, models_dir=str(tmp_path_factory.mktemp("ui-zoo")))
    app = create_app(settings)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not srv.started and time.monotonic() < end:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app.state.backend
    srv.should_exit = True
    thread.join(10)
    assert not app.state.backend.files.root.exists()


def _camera_file(folder) -> str | None:
    """The first second of dance.mp4 as a Y4M file: Chromium's fake camera plays it."""
    import av
    from conftest import SHARED

    clip = SHARED / "data" / "video" / "dance.mp4"
    if not clip.is_file():
        return None
    out = folder / "camera.y4m"
    with av.open(str(clip)) as src, av.open(str(out), "w", format="yuv4mpegpipe") as dst:
        stream = dst.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = 464, 560, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i == 25:
                break
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return str(out)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    sync = pytest.importorskip("playwright.sync_api")
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium on this machine (Debian: apt install chromium)")
    args = ["--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    camera = _camera_file(tmp_path_factory.mktemp("camera"))
    if camera:
        args.append(f"--use-file-for-fake-video-capture={camera}")
    with sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=args)
        b.camera = camera
        yield b
        b.close()


def _page(browser, url):
    # bypass_csp: wait_for_function evaluates its string in the page, which the UI's CSP (no
    # eval, no inline script) forbids; tests/test_ui_hardening.py runs the page under its CSP.
    page = browser.new_page(
        viewport={"width": 1200, "height": 1400}, accept_downloads=True, bypass_csp=True
    )
    page.goto(url)
    return page


def _download(page, tmp_path):
    with page.expect_download() as info:
        page.click("#download")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    return path


def test_browser_swap_download_and_label(server, browser, photos, tmp_path, capsys):
    from twoface.cli import main

    url, _ = server
    page = _page(browser, url)
    page.set_input_files("#source-input", str(photos / "obama.jpg"))
    page.set_input_files("#target-input", str(photos / "biden.jpg"))
    page.wait_for_selector(".face[data-index='0']")
    page.click("#swap-btn")
    page.wait_for_selector("#label-note", timeout=60_000)
    assert "done: swapped 1 of 1 face(s) with classical" in page.inner_text("#status")
    assert "Labelled, machine-readably, as synthetic media" in page.inner_text("#label-note")
    page.screenshot(path=str(tmp_path / "ui.png"), full_page=True)
    out = _download(page, tmp_path)
    assert out.name == "swapped-biden.jpg"
    after, before = rgb(out).astype(int), rgb(photos / "biden.jpg").astype(int)
    assert after.shape == before.shape
    diff = np.abs(after - before).max(2)
    assert (diff > 20).sum() > 8000  # the face changed
    assert np.abs(after[-200:] - before[-200:]).mean() < 2  # far from it: as it was (JPEG)
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0  # the label travelled with the download
    page.close()


def test_browser_picks_the_second_face_only(server, browser, photos, tmp_path):
    url, _ = server
    page = _page(browser, url)
    page.set_input_files("#source-input", str(photos / "obama.jpg"))
    page.set_input_files("#target-input", str(photos / "two_people.jpg"))
    page.wait_for_selector(".face[data-index='1']")
    assert page.locator(".face").count() == 2
    page.click(".face[data-index='1']")
    assert page.is_checked("input[name='mode'][value='pick']")
    page.click("#swap-btn")
    page.wait_for_selector("#label-note", timeout=60_000)
    assert "swapped 1 of 2 face(s)" in page.inner_text("#status")
    out = _download(page, tmp_path)
    after, before = rgb(out).astype(int), rgb(photos / "two_people.jpg").astype(int)
    diff = np.abs(after - before).max(2)
    left = int((diff[25:227, 235:384] > 30).sum())  # face 0's box: JPEG noise only
    right = int((diff[50:257, 789:937] > 30).sum())  # face 1's box: swapped
    assert left < 20 and right > 800, (left, right)
    page.close()


def test_browser_video_preview_progress_and_cancel(server, browser, tmp_path):
    from conftest import SHARED

    clip = SHARED / "data" / "video" / "dance.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found (set TWOFACE_SHARED)")
    photos = SHARED / "data" / "photos"
    url, backend = server
    page = _page(browser, url)
    page.set_input_files("#source-input", str(photos / "obama.jpg"))
    page.set_input_files("#target-input", str(clip))
    page.wait_for_selector(".face[data-index='0']")
    assert "464x560, 25.00 fps" in page.inner_text("#target-info")
    page.click("#preview-btn")  # one frame, as an image
    page.wait_for_selector("#result-media", timeout=60_000)
    assert page.get_attribute("#result-media", "src").startswith("/api/results/")
    results_before = {p.name for p in backend.files.root.iterdir()}
    page.click("#swap-btn")
    page.wait_for_function(
        "document.querySelector('#status').textContent.includes('frames')", timeout=60_000
    )
    page.click("#cancel-btn")
    page.wait_for_function(
        "document.querySelector('#status').textContent.includes('cancelled')", timeout=60_000
    )
    assert page.inner_text("#status") == "cancelled; nothing was written"
    time.sleep(0.5)
    assert {p.name for p in backend.files.root.iterdir()} == results_before  # no half video
    page.close()


def test_browser_webcam_is_swapped_live(server, browser, photos):
    if browser.camera is None:
        pytest.skip("dance.mp4 not found for the fake camera (set TWOFACE_SHARED)")
    url, _ = server
    page = _page(browser, url)
    page.set_input_files("#source-input", str(photos / "obama.jpg"))
    page.wait_for_selector("#sources img")
    page.click("nav .tab[data-tab='live']")
    page.click("#live-start")
    page.wait_for_function(
        "document.querySelector('#live-stats').textContent.includes('fps')", timeout=60_000
    )
    page.wait_for_timeout(3000)
    stats = page.inner_text("#live-stats")
    fps = float(stats.split(" fps")[0])
    assert fps > 0.2 and "latency" in stats, stats
    # The camera's frames come back swapped, at their size (waited for: the newest picture may
    # still be loading when the figures update).
    page.wait_for_function(
        "document.querySelector('#live-out').naturalWidth === 464", timeout=30_000
    )
    page.click("#live-stop")
    page.close()


def test_browser_models_page_downloads_with_progress(server, browser, monkeypatch):
    import hashlib
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from onnx import TensorProto, helper

    from twoface.zoo.catalogue import CATALOGUE, ModelEntry

    image = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 512, 512])
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, 512, 512])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])], "r", [image], [out]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.metadata_props.add(key="padding", value="x" * 2**20)  # 1 MiB: progress to watch
    body = model.SerializeToString()
    served = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            served.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(0, len(body), 65536):
                self.wfile.write(body[i : i + 65536])
                time.sleep(0.02)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    entry = ModelEntry(
        "test_restorer",
        "restore",
        "restorer_onnx",
        "onnx",
        "test_restorer.onnx",
        (f"http://127.0.0.1:{httpd.server_address[1]}/test_restorer.onnx",),
        "MIT",
        False,
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
    )
    monkeypatch.setitem(CATALOGUE, entry.name, entry)
    url, backend = server
    try:
        page = _page(browser, url)
        page.click("nav .tab[data-tab='models']")
        row = page.locator("#models tr", has_text="test_restorer")
        assert "not downloaded" in row.inner_text()
        row.locator("button").click()
        page.wait_for_function(
            "[...document.querySelectorAll('#models .state')].some(c => "
            "c.textContent.startsWith('downloading') && c.querySelector('.progress'))",
            timeout=30_000,
        )
        page.wait_for_function(
            "[...document.querySelectorAll('#models tr')].some(r => r.textContent.includes("
            "'test_restorer') && r.querySelector('.state').textContent === 'installed')",
            timeout=60_000,
        )
        assert served == ["/test_restorer.onnx"]
        path = backend.store.path(entry)
        assert path.read_bytes() == body
        page.close()
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.slow
def test_a_video_swap_with_a_picked_person_through_the_api(client, photos):
    """In a video the gallery's face is followed by identity: the crop of the picked face
    becomes the target-face photo for that source."""
    from conftest import SHARED

    clip = SHARED / "data" / "video" / "dance.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    client.backend.files.max_bytes = 64 * 2**20
    source = _upload(client, photos / "obama.jpg").json()["id"]
    video = _upload(client, clip).json()
    assert video["kind"] == "video" and video["fps"] == 25.0
    faces = client.post("/api/faces", json={"target": video["id"], "time": 1.0}).json()["faces"]
    assert len(faces) == 1
    request = {
        "sources": [source],
        "target": video["id"],
        "mode": "pick",
        "picks": [{"face": 0, "source": 0}],
        "time": 1.0,
        "preset": "ultrafast",
    }
    job = _wait(client, client.post("/api/swap", json=request).json(), seconds=300)
    assert job["state"] == "done", job
    summary = job["result"]["summary"]
    assert summary["frames"] == 66 and summary["frames_swapped"] >= 60
    assert summary["digital_source_type"] == "compositeSynthetic"
    r = client.get(f"/api/results/{job['result']['file']}")
    assert r.status_code == 200 and r.content[4:8] == b"ftyp"
