"""One video over several workers: split at keyframes, swapped in parallel processes, joined by
stream copy with the audio muxed once -- the same frames, timestamps and audio as one worker."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest
from conftest import rgb, swap_argv
from videotools import face_frame, write_clip

from twoface.cli import main
from twoface.parallel import keyframe_times, plan_segments

pytestmark = pytest.mark.slow  # real clips / training: the full tier


def test_segments_start_at_zero_and_cut_at_the_nearest_keyframes():
    keys = [Fraction(k, 2) for k in (1, 4, 7, 10)]  # the clip opens mid-GOP (first key at 0.5)
    assert plan_segments(keys, Fraction(6), 2) == [(0, Fraction(7, 2)), (Fraction(7, 2), 7)]
    assert plan_segments(keys, Fraction(6), 1) == [(0, 7)]
    assert len(plan_segments([Fraction(0)], Fraction(6), 4)) == 1  # one keyframe: one segment


@pytest.fixture(scope="module")
def clip(tmp_path_factory, photos):
    photo = rgb(photos / "obama.jpg")
    frames = [face_frame(photo, (320, 240), shift=i % 7) for i in range(40)]
    path = tmp_path_factory.mktemp("par") / "talk.mp4"
    write_clip(path, frames, rate=10, audio="aac", options={"g": "10", "keyint_min": "10"})
    return path


def _streams(path):
    with av.open(str(path)) as c:
        times = [Fraction(f.pts) * f.time_base for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = [(p.pts, bytes(p)) for p in c.demux(audio=0) if p.dts is not None]
        label = c.metadata.get("comment")
    return times, audio, label


def test_two_workers_match_one(clip, photos, tmp_path, capsys):
    keys, _ = keyframe_times(clip)
    assert len(keys) >= 4
    one, two = tmp_path / "one.mp4", tmp_path / "two.mp4"
    base = ["swap", "-s", str(photos / "biden.jpg"), "-t", str(clip)]
    assert main([*base, "-o", str(one)]) == 0
    assert main([*base, "-o", str(two), "--devices", "cpu,cpu", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"segments"' in out and out.count("[") >= 3  # two segments listed
    t1, a1, l1 = _streams(one)
    t2, a2, l2 = _streams(two)
    assert len(t1) == len(t2) == 40 and t1 == t2  # every frame, at its time
    assert a1 == a2 and len(a1) > 30  # the audio packets, untouched
    assert l2 is not None and "AI-generated" in l2
    capsys.readouterr()
    assert main(["inspect", str(two)]) == 0
    with av.open(str(two)) as c:
        last = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)][-1]
    source_frame = face_frame(rgb(photos / "obama.jpg"), (320, 240), shift=39 % 7)
    assert np.abs(last.astype(int) - source_frame.astype(int)).max() > 40  # swapped to the end
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.mp4", "two.mp4"]  # no parts left


def test_several_workers_refuse_what_they_cannot_do(clip, photos, tmp_path, capsys):
    base = ["swap", "-s", str(photos / "biden.jpg"), "-o", str(tmp_path / "o.mp4")]
    assert main([*base, "-t", str(clip), "--devices", "cpu,cpu", "--trim", "0", "1"]) == 2
    assert "several workers swap whole videos; drop --trim" in capsys.readouterr().err
    out = tmp_path / "o.jpg"
    argv = swap_argv(photos, out)
    assert main([*argv, "--devices", "cpu,cpu"]) == 2
    assert "--devices applies to videos" in capsys.readouterr().err


def test_a_report_over_devices_is_written_and_said(clip, photos, tmp_path, capsys):
    out, report = tmp_path / "out.mp4", tmp_path / "out.json"
    argv = ["swap", "-s", str(photos / "biden.jpg"), "-t", str(clip), "-o", str(out)]
    assert main([*argv, "--devices", "cpu,cpu", "--report", str(report)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"{out}: 40 frames") and lines[0].endswith("2 workers")
    assert lines[1].startswith(f"report: {report} (") and lines[1].endswith("flag(s))")
    data = json.loads(report.read_text())
    assert data["kind"] == "video" and data["output"] == str(out)
    assert data["summary"]["frames"] == 40 and data["summary"]["frames_not_swapped"] == 0
