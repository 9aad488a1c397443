"""Live swapping with a video file as the camera: frames come at the file's rate, the newest is
swapped, the rest are dropped and counted; figures are measured; the CLI's errors are one line."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import SHARED

from twoface.cli import main
from twoface.live import LatestFrame, LiveSwapper, frames_from, run_live

CLIP = SHARED / "data" / "video" / "dance.mp4"


@pytest.fixture(scope="module")
def clip():
    if not CLIP.is_file():
        pytest.skip(f"{CLIP} not found (set TWOFACE_SHARED)")
    return CLIP


def test_latest_frame_keeps_the_newest_and_counts_the_rest():
    buf = LatestFrame()
    for i in range(3):
        buf.put(i)
    assert buf.get(timeout=0) == 2 and buf.dropped == 2
    assert buf.get(timeout=0) is None
    buf.put(7)
    buf.close()
    assert buf.get() == 7 and buf.get() is None  # closed and empty: None at once


@pytest.mark.slow
def test_a_video_file_as_the_camera(clip, swapper, photos):
    shown: list[np.ndarray] = []
    live = LiveSwapper(swapper, [photos / "obama.jpg"])
    stats = run_live(live, frames_from(str(clip)), [shown.append])
    assert stats.frames_in == 66  # every frame of the file came in, at its 25 fps
    assert stats.frames_out == len(shown) >= 3
    assert stats.frames_out + stats.dropped == stats.frames_in
    assert stats.seconds >= 66 / 25 * 0.9  # paced like a camera, not read as fast as possible
    assert stats.fps > 0 and 0 < stats.latency_ms(50) <= stats.latency_ms(95) < 60_000
    assert stats.faces >= stats.frames_out - 2  # the dancer's face in (nearly) every frame
    first = next(frames_from(str(clip), realtime=False))
    assert shown[0].shape == first.shape
    h, w = first.shape[:2]
    # The visible mark in the bottom-right corner: a live picture has no file for the label.
    assert np.abs(shown[-1][h - 30 :, w - 150 :].astype(int) - 0).max() > 0
    summary = stats.summary()
    assert set(summary) >= {"frames_in", "frames_out", "dropped", "fps", "latency_ms_p50"}


def test_live_stops_when_asked(clip, swapper, photos):
    live = LiveSwapper(swapper, [photos / "obama.jpg"])
    stop = threading.Event()
    shown = []

    def sink(frame):
        shown.append(frame)
        stop.set()  # e.g. the UI's stop button

    stats = run_live(live, frames_from(str(clip)), [sink], stop=stop)
    assert stats.frames_out == 1 and stats.frames_in < 66


def test_live_cli_errors_are_one_line(clip, photos, capsys, tmp_path):
    src = str(photos / "obama.jpg")
    # No --show, --virtual-cam or --record is a figures-only run now (tests/test_newuser.py).
    missing = tmp_path / "nope.mp4"
    assert main(["live", "-s", src, "--camera", str(missing), "--virtual-cam"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{missing}: no such camera, file or stream" in err


def test_live_cli_show_without_a_display(clip, photos, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code = main(["live", "-s", str(photos / "obama.jpg"), "--camera", str(clip), "--show"])
    assert code == 2
    assert (
        "--show needs a display (DISPLAY is not set); use --virtual-cam" in capsys.readouterr().err
    )


@pytest.mark.slow
def test_live_cli_sends_to_a_virtual_camera(clip, photos, capsys, monkeypatch):
    """pyvirtualcam's interface, faked: the CLI opens the camera at the first frame's size and
    sends every swapped frame; figures at the end."""
    import json
    import sys
    import types

    sent, opened = [], []

    class Camera:
        def __init__(self, width, height, fps):
            opened.append((width, height, fps))

        def send(self, frame):
            sent.append(frame.shape)

        def close(self):
            opened.append("closed")

    monkeypatch.setitem(sys.modules, "pyvirtualcam", types.SimpleNamespace(Camera=Camera))
    argv = ["live", "-s", str(photos / "obama.jpg"), "--camera", str(clip), "--virtual-cam"]
    assert main([*argv, "--frames", "20", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["swapper"] == "classical"  # the fastest installed on a CPU-only machine
    assert figures["frames_in"] == 20 and figures["frames_out"] == len(sent) >= 1
    assert figures["frames_out"] + figures["dropped"] == 20
    assert opened == [(464, 560, 30.0), "closed"] and set(sent) == {(560, 464, 3)}
    # Where a shown frame's time went: every stage named, each within a frame's share (the
    # stages run in threads of their own, so together they may take more than that share)
    stages = figures["stage_ms"]
    assert set(stages) == {"detect", "landmarks", "select", "swap", "paste"}
    assert stages["detect"] > 0 and stages["paste"] > 0
    share = figures["seconds"] * 1000 / figures["frames_out"]
    assert stages["detect"] + stages["landmarks"] <= share + 1
    assert stages["select"] + stages["swap"] <= share + 1 and stages["paste"] <= share + 1


def _stream_frames(photos, n=6):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import rgb
    from videotools import face_frame

    photo = rgb(photos / "obama.jpg")
    return [face_frame(photo, shift=3 * i) for i in range(n)]


def test_frames_in_flight_overlap_without_changing_a_pixel(swapper, photos):
    """`StreamSwapper.run` with two frames in flight (as on a GPU: one frame's faces found
    while the previous one is swapped) delivers every frame taken, in order, with the same
    pixels and face counts as one frame at a time; capture times drive the smoothing."""
    from twoface.select import Selection
    from twoface.swap import SourceIdentity
    from twoface.video_pipeline import StreamSwapper

    identity = SourceIdentity.combine(swapper.source_faces([photos / "biden.jpg"], identity=False))
    results = {}
    for in_flight in (1, 2):
        stream = StreamSwapper(swapper.stages(), [identity], Selection(), fps=25)
        frames = [(f, i / 25) for i, f in enumerate(_stream_frames(photos))]
        got = []
        stream.run(
            iter(frames), lambda out, n, t, got=got: got.append((out.copy(), n, t)), in_flight
        )
        results[in_flight] = got
    one, two = results[1], results[2]
    assert [t for _, _, t in two] == [i / 25 for i in range(6)]  # every frame, in order
    assert [n for _, n, _ in two] == [n for _, n, _ in one] == [1] * 6
    for (a, _, _), (b, _, _) in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_failing_stage_in_flight_is_raised_and_nothing_hangs(swapper, photos):
    from twoface.select import Selection
    from twoface.swap import SourceIdentity
    from twoface.video_pipeline import StreamSwapper

    identity = SourceIdentity.combine(swapper.source_faces([photos / "biden.jpg"], identity=False))
    stream = StreamSwapper(swapper.stages(), [identity], Selection(), fps=25)
    frames = iter([(f, i / 25) for i, f in enumerate(_stream_frames(photos, 4))])

    def deliver(out, n, t):
        raise OSError("the virtual camera went away")

    with pytest.raises(OSError, match="the virtual camera went away"):
        stream.run(frames, deliver, in_flight=2)


def test_read_only_frames_are_marked_on_a_copy(swapper, photos):
    """Frames from the caller that cannot be written (a frame without a face passes the swap
    as it came) get the mark on a copy, and stay as they were."""
    frames = _stream_frames(photos, 3)
    blank = np.full_like(frames[0], 200)
    blank.flags.writeable = False
    shown = []
    live = LiveSwapper(swapper, [photos / "obama.jpg"])
    stats = run_live(live, iter([blank]), [shown.append])
    assert stats.frames_out == 1 and (blank == 200).all()
    assert (shown[0] != 200).any()  # the mark is there
