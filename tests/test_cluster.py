"""Jobs on a Ray cluster (`--ray`): two nodes started on 127.0.0.1 by the test, CPU only.

The same jobs as the local runner, with the same results: image outputs identical, a video cut
into segments over the actors with every frame at its time, the audio packets untouched and
the label; an actor killed mid-video is replaced and its segment run again; a bad job fails
alone with its one line; a re-run resumes from the state file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import rgb
from videotools import face_frame, write_clip

from twoface.cli import main

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="the cluster extra (Ray) is not installed")
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head and a worker node on loopback, one CPU each; stopped afterwards."""
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    subprocess.run(
        [RAY, "start", "--head", f"--port={port}", "--include-dashboard=false", *common],
        check=True, env=env, capture_output=True, timeout=120,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    subprocess.run(
        [RAY, "start", f"--address={address}", *common],
        check=True, env=env, capture_output=True, timeout=120,
    )  # fmt: skip
    os.environ["RAY_AUTH_MODE"] = "disabled"
    try:
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def work(tmp_path_factory, photos):
    w = tmp_path_factory.mktemp("cluster")
    for n in ("biden.jpg", "obama.jpg", "two_people.jpg"):
        shutil.copy(photos / n, w / n)
    photo = rgb(photos / "obama2.jpg")
    frames = [face_frame(photo, (320, 240), shift=i % 7) for i in range(60)]
    write_clip(
        w / "clip.mp4", frames, rate=10, audio="aac", options={"g": "10", "keyint_min": "10"}
    )
    return w


def _jobs(w: Path, out: Path) -> list[dict]:
    c = {"swapper": "classical"}
    return [
        {"sources": [str(w / "biden.jpg")], "target": str(w / "obama.jpg"),
         "output": str(out / "a.png"), "models": c},
        {"sources": [str(w / "obama.jpg")], "target": str(w / "two_people.jpg"),
         "output": str(out / "b.jpg"), "selection": {"many": True}, "models": c},
        {"sources": [str(w / "biden.jpg")], "target": str(w / "clip.mp4"),
         "output": str(out / "c.mp4"), "models": c},
        {"sources": [str(w / "missing.jpg")], "target": str(w / "obama.jpg"),
         "output": str(out / "d.png"), "models": c},
    ]  # fmt: skip


def _batch(w: Path, name: str, extra: list[str], capsys) -> tuple[int, dict, Path]:
    out = w / name
    out.mkdir(exist_ok=True)
    manifest = w / f"{name}.jsonl"
    manifest.write_text("\n".join(json.dumps(j) for j in _jobs(w, out)) + "\n")
    code = main(["batch", str(manifest), "--json", *extra])
    return code, json.loads(capsys.readouterr().out), out


def _video(path):
    with av.open(str(path)) as c:
        frames = [
            (Fraction(f.pts) * f.time_base, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)
        ]
    with av.open(str(path)) as c:
        audio = [(p.pts, bytes(p)) for p in c.demux(audio=0) if p.dts is not None]
        label = c.metadata.get("comment")
    return frames, audio, label


def test_a_batch_on_two_nodes_equals_the_local_runner(cluster, work, capsys):
    code_local, local, out_local = _batch(work, "local", [], capsys)
    code_ray, remote, out_ray = _batch(work, "ray", ["--ray", cluster, "--actors", "2"], capsys)
    assert code_local == code_ray == 6  # one job failed, the rest done
    assert [o["status"] for o in remote["results"]] == ["done", "done", "done", "failed"]
    failed = remote["results"][3]
    assert (
        failed["error"] == f"{work / 'missing.jpg'}: file not found"
        or "missing.jpg" in failed["error"]
    )
    assert failed["error"].count("\n") == 0 and failed["error"] == local["results"][3]["error"]
    for name in ("a.png", "b.jpg"):  # images: the same bytes' pixels as the local runner's
        a = av.open(str(out_local / name)).decode(video=0).__next__().to_ndarray(format="rgb24")
        b = av.open(str(out_ray / name)).decode(video=0).__next__().to_ndarray(format="rgb24")
        assert np.array_equal(a, b)
    f1, a1, l1 = _video(out_local / "c.mp4")
    f2, a2, l2 = _video(out_ray / "c.mp4")
    assert len(f1) == len(f2) == 60 and [t for t, _ in f1] == [t for t, _ in f2]
    assert a1 == a2 and len(a1) > 40  # every audio packet, untouched
    assert l2 is not None and "AI-generated" in l2 and l1 == l2
    # Segments are encoded apart (each opens with its own keyframe): the pixels stay within
    # a few levels of the one-encoder output, and the faces were swapped in every frame.
    diff = [
        np.abs(x.astype(int) - y.astype(int)).mean() for (_, x), (_, y) in zip(f1, f2, strict=True)
    ]
    assert max(diff) < 3.0
    assert not list(out_ray.glob(".*"))[1:] or all(
        "twoface-batch" in p.name for p in out_ray.glob(".*")
    )
    # A re-run resumes: what is done is skipped, the failed job is tried again (and fails alone).
    code, again, _ = _batch(work, "ray", ["--ray", cluster, "--actors", "2"], capsys)
    assert code == 6
    assert [o["status"] for o in again["results"]] == ["skipped", "skipped", "skipped", "failed"]


def test_an_actor_killed_mid_video_is_replaced_and_the_video_completes(cluster, work):
    from twoface.cluster import RayPool, RaySettings
    from twoface.config import ModelsConfig
    from twoface.jobs import VideoJob
    from twoface.parallel import swap_video_segments

    out = work / "killed.mp4"
    job = VideoJob(
        (str(work / "biden.jpg"),), str(work / "clip.mp4"), str(out),
        models=ModelsConfig(swapper="classical"),
    )  # fmt: skip
    pool = RayPool(RaySettings(address=cluster, actors=2, retries=2))
    try:
        victim = ray.get(pool.actors[0].pid.remote())
        done: dict = {}
        t = threading.Thread(target=lambda: done.update(swap_video_segments(job, pool, pieces=6)))
        t.start()
        deadline = time.time() + 60
        while time.time() < deadline and not list(work.glob(".killed.mp4.part*")):
            time.sleep(0.05)
        os.kill(victim, signal.SIGKILL)  # mid-run: its segment must be run again elsewhere
        t.join(timeout=600)
        assert not t.is_alive()
        assert pool.replaced >= 1
    finally:
        pool.close()
    frames, audio, label = _video(out)
    assert len(frames) == 60 and done["frames"] == 60 and len(done["segments"]) == 6
    assert label is not None and "AI-generated" in label
    assert not list(work.glob(".killed.mp4.part*"))  # no part left behind


def test_ray_without_a_video_or_several_targets_is_one_line(work, capsys):
    code = main(["swap", "-s", str(work / "biden.jpg"), "-t", str(work / "obama.jpg"),
                 "-o", str(work / "x.png"), "--ray"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.strip().count("\n") == 0 and "--ray applies to videos" in err
    assert not (work / "x.png").exists()
