"""Several encoders over segments (`--encoders`, twoface.io.segments): the output has the same
frames (lossless: the same pixels), timestamps and audio packets as one encoder's, one keyframe
per segment, increasing decode timestamps; a failing encoder is one error with nothing left
running; `--encoders` on the command line."""

from __future__ import annotations

import threading

import av
import numpy as np
import pytest
from conftest import rgb
from videotools import face_frame, write_clip

from twoface.cli import main
from twoface.io.packets import VideoPacket
from twoface.io.segments import SegmentEncoder, auto_encoders, segment_frames
from twoface.io.video import VideoWriter, probe, read_video

# irregular timestamps (ms): a variable-rate clip, as phones write them
PTS = [int(i * 100 + (i % 3) * 17) for i in range(40)]


def _clip(tmp_path):
    frames = [(np.random.default_rng(i).random((48, 64, 3)) * 255).astype(np.uint8) for i in PTS]
    src = tmp_path / "src.mp4"
    write_clip(src, frames, pts_ms=PTS, audio="aac")
    return src


def _write(src, out, encoders: int) -> None:
    info = probe(src)
    w = VideoWriter(out, src, info, None, crf=0, preset="ultrafast", encoders=encoders)
    for packet in read_video(src, info):
        w.write(packet)
    w.close()


def _read(path):
    with av.open(str(path)) as c:
        video = [(p.pts, p.dts, p.is_keyframe) for p in c.demux(c.streams.video[0]) if p.size]
    with av.open(str(path)) as c:
        audio = [(p.pts, p.dts, bytes(p)) for p in c.demux(c.streams.audio[0]) if p.size]
    with av.open(str(path)) as c:
        frames = [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    return video, audio, frames


def test_segments_join_into_the_same_frames_timestamps_and_audio(tmp_path):
    src = _clip(tmp_path)
    _write(src, tmp_path / "one.mp4", 1)
    _write(src, tmp_path / "three.mp4", 3)
    v1, a1, f1 = _read(tmp_path / "one.mp4")
    v3, a3, f3 = _read(tmp_path / "three.mp4")
    assert len(f3) == len(f1) == 40
    assert [p for p, _ in f3] == [p for p, _ in f1]  # every frame's timestamp
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(f1, f3, strict=True))  # lossless
    assert a3 == a1 and len(a1) > 10  # the audio packets, byte for byte
    length = segment_frames(probe(src).rate)
    assert length == 12  # 10 fps x 1 s, raised to the 12-frame floor
    assert sum(k for *_, k in v3) == 4 == -(-40 // length)  # an IDR frame opens each segment
    assert sum(k for *_, k in v1) == 1
    dts = [d for _, d, _ in v3]
    assert dts == sorted(dts) and len(set(dts)) == len(dts)  # decode order kept across joins


def test_a_failing_encoder_is_raised_and_nothing_is_left_running(tmp_path):
    calls = {"n": 0}

    class Broken:
        def encode(self, frame):
            calls["n"] += 1
            if calls["n"] == 5:
                raise av.FFmpegError(-22, "Invalid argument")
            return []

    seg = SegmentEncoder(Broken, workers=2, length=3)
    with pytest.raises(av.FFmpegError):
        for i in range(1000):
            seg.push(i)
    seg.abort()
    assert not [t for t in threading.enumerate() if t.name.startswith("twoface-x264")]


def test_auto_takes_one_encoder_per_four_cores_from_eight():
    assert [auto_encoders(c) for c in (1, 2, 4, 7, 8, 12, 16, 64)] == [1, 1, 1, 1, 2, 3, 4, 4]


@pytest.mark.slow
def test_the_command_line_takes_encoders_and_refuses_nonsense(photos, tmp_path, capsys):
    frame = face_frame(rgb(photos / "obama2.jpg"))
    clip = tmp_path / "clip.mp4"
    write_clip(clip, [np.roll(frame, i, axis=1) for i in range(30)], audio="aac")
    base = ["swap", "-s", str(photos / "biden.jpg"), "-t", str(clip), "--swapper", "classical"]
    base += ["--preset", "ultrafast"]
    for n in ("1", "2"):
        assert main([*base, "-o", str(tmp_path / f"e{n}.mp4"), "--encoders", n]) == 0
    capsys.readouterr()
    v1, a1, f1 = _read(tmp_path / "e1.mp4")
    v2, a2, f2 = _read(tmp_path / "e2.mp4")
    assert [p for p, _ in f2] == [p for p, _ in f1] and len(f1) == 30 and a2 == a1
    assert sum(k for *_, k in v2) == 3  # 30 frames at 10 fps in segments of 12
    assert main([*base, "-o", str(tmp_path / "x.mp4"), "--encoders", "lots"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("'lots': give a number of encoders or auto (see twoface swap --help)")
    assert main([*base, "-o", str(tmp_path / "x.mp4"), "--encoders", "17"]) == 2
    assert "--encoders must be auto (0) or 1-16, got 17" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_frames_in_order_reach_the_segment_workers(tmp_path):
    """The packets of each segment leave only after every earlier segment's."""

    class Echo:
        def __init__(self):
            self.held = []

        def encode(self, frame):
            if frame is None:
                return list(self.held)
            self.held.append(frame)
            return []

    seg = SegmentEncoder(Echo, workers=3, length=4)
    out = []
    for i in range(22):
        out += seg.push(VideoPacket(np.zeros((1, 1, 3), np.uint8), pts=i).pts)
    out += seg.close()
    assert out == list(range(22))


@pytest.mark.parametrize("encoders", [1, 3])
def test_a_size_the_codec_refuses_is_one_line(encoders, tmp_path, monkeypatch):
    from twoface.errors import InputError
    from twoface.io import video

    def refuse(*args):
        raise av.FFmpegError(-22, "Invalid argument")

    monkeypatch.setattr(video, "_trial_open", refuse)
    src = _clip(tmp_path)
    with pytest.raises(InputError) as e:
        VideoWriter(tmp_path / "out.mp4", src, probe(src), None, encoders=encoders)
    assert "libx264 cannot encode a 64x48 video (Invalid argument)" in str(e.value)
