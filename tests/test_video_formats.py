"""Video details on synthetic clips: timestamps, pass-through, tracks, trim, audio, rotation,
colour range, codecs, animations, watermark and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from twoface.cli import main

av = pytest.importorskip("av")
from videotools import audio_seconds, decode, face_frame, write_clip  # noqa: E402


@pytest.fixture(scope="module")
def face_rgb(photos):
    from twoface.io.image import read_image

    return read_image(photos / "obama2.jpg").rgb


def _area(face) -> float:
    return face.area


def _roundtrip(rgb: np.ndarray) -> np.ndarray:
    """What an untouched frame looks like after the RGB -> YUV 4:2:0 -> RGB of a lossless encode."""
    f = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    return f.to_ndarray(format="rgb24")


@pytest.mark.slow
def test_vfr_timestamps_kept_faceless_frames_pass_through_and_person_keeps_track(
    face_rgb, photos, swapper, tmp_path
):
    # A face, 8 frames of an empty room (longer than the tracker bridges), the face again
    # elsewhere; irregular timestamps.
    room = np.full((240, 320, 3), (90, 110, 130), np.uint8)
    room[100:140] = (200, 180, 160)
    frames = (
        [face_frame(face_rgb, shift=-40)] * 6 + [room] * 8 + [face_frame(face_rgb, shift=60)] * 6
    )
    pts = np.cumsum(
        [0, 40, 95, 33, 120, 40, 61, 40, 40, 200, 33, 33, 90, 40, 40, 75, 40, 33, 40, 50]
    )
    clip = tmp_path / "vfr.mkv"
    write_clip(clip, frames, pts_ms=pts.tolist(), codec="libx264", options={"qp": "0"})
    src_frames, src_pts, _ = decode(clip)

    out = tmp_path / "out.mkv"
    result = swapper.swap_video(
        photos / "biden.jpg", clip, out, crf=0, preset="ultrafast", progress=False
    )
    out_frames, out_pts, _ = decode(out)
    assert out_pts == src_pts == pts.tolist()
    assert result.frames == 20 and result.frames_swapped == 12
    assert (result.tracks, result.tracks_swapped) == (1, 1)  # same person, same track
    for i in range(6, 14):  # no face: the frame's content is untouched
        assert np.array_equal(out_frames[i], _roundtrip(src_frames[i])), i
    for i in (0, 19):  # the face changed, and only the face
        face = max(swapper.analyse([src_frames[i]])[0], key=_area)
        x0, y0, x1, y1 = face.box.astype(int)
        diff = np.abs(out_frames[i].astype(int) - src_frames[i].astype(int)).max(2)
        inside = np.zeros(diff.shape, bool)
        inside[max(y0, 0) : y1, max(x0, 0) : x1] = True
        # (Inside the box 9-10 levels on average, 15-17% of it by more than 20; outside, the
        # lossless round trip's 1.5.)
        assert diff[inside].mean() > 5 * diff[~inside].mean()
        assert (diff[inside] > 20).mean() > 0.1

    alone = swapper.swap_video(
        photos / "biden.jpg", clip, tmp_path / "b.mkv", progress=False, track_identity=False
    )
    assert alone.tracks == 2  # without identity the returning person is someone new


def test_trim_cuts_video_and_audio_together(face_rgb, photos, swapper, tmp_path):
    clip = tmp_path / "talk.mp4"
    frames = [face_frame(face_rgb, shift=i) for i in range(30)]  # 3 s at 10 fps
    write_clip(clip, frames, audio="aac", audio_seconds=3.0)
    out = tmp_path / "cut.mp4"
    result = swapper.swap_video(photos / "biden.jpg", clip, out, trim=(1.0, 2.0), progress=False)
    _, pts, _ = decode(out)
    assert result.frames == len(pts) == 10
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert float(pts[0] * v.time_base) == pytest.approx(0.0, abs=0.051)
        assert float(pts[-1] * v.time_base) == pytest.approx(0.9, abs=0.051)
    [(codec, seconds)] = audio_seconds(out)
    assert codec == "aac" and seconds == pytest.approx(1.0, abs=0.05)


@pytest.mark.slow
def test_audio_the_container_cannot_hold_is_reencoded(face_rgb, photos, swapper, tmp_path):
    clip = tmp_path / "pcm.mkv"
    write_clip(clip, [face_frame(face_rgb)] * 10, audio="pcm_s16le")
    out = tmp_path / "out.mp4"  # MP4 does not take PCM: AAC instead
    swapper.swap_video(photos / "biden.jpg", clip, out, progress=False)
    [(codec, seconds)] = audio_seconds(out)
    [(_, seconds_in)] = audio_seconds(clip)
    assert codec == "aac" and seconds == pytest.approx(seconds_in, abs=0.05)
    kept = tmp_path / "out.mkv"  # Matroska takes PCM as it is
    swapper.swap_video(photos / "biden.jpg", clip, kept, progress=False)
    assert audio_seconds(kept)[0][0] == "pcm_s16le"


@pytest.mark.slow
def test_rotation_and_full_colour_range_are_kept(face_rgb, photos, swapper, tmp_path):
    upright = face_frame(face_rgb, size=(240, 320))  # portrait as shown
    stored = np.ascontiguousarray(np.rot90(upright, -1))  # stored sideways, like a phone's
    clip = tmp_path / "phone.mp4"
    write_clip(clip, [stored] * 6, rotation=90, full_range=True)
    out = tmp_path / "out.mp4"
    result = swapper.swap_video(photos / "biden.jpg", clip, out, progress=False)
    assert result.frames_swapped == 6  # found only if frames were stood upright for detection
    src, _, src_meta = decode(clip)
    dst, _, dst_meta = decode(out)
    assert src_meta[0] == (90, 2) and dst_meta[0] == (90, 2)
    assert dst[0].shape == src[0].shape == (240, 320, 3)  # stored sideways, as the input
    # Outside the face the picture is where it was and as bright (a range mix-up shifts ~10%).
    corner = (slice(0, 40), slice(0, 40))
    assert abs(dst[0][corner].mean() - src[0][corner].mean()) < 3


CODECS = [
    ("libx264", ".mp4", "yuv420p", "h264"),
    ("libx265", ".mkv", "yuv420p", "hevc"),
    ("libvpx-vp9", ".webm", "yuv420p", "vp9"),
    ("libsvtav1", ".mkv", "yuv420p", "av1"),
    ("mpeg4", ".avi", "yuv420p", "mpeg4"),
    ("prores_ks", ".mov", "yuv422p10le", "prores"),
]


@pytest.mark.parametrize(("encoder", "ext", "pix", "name"), CODECS, ids=[c[3] for c in CODECS])
def test_decodes_each_codec(encoder, ext, pix, name, tmp_path):
    from twoface.io.packets import VideoPacket
    from twoface.io.video import probe, read_video

    if encoder not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {encoder} encoder to make the test clip")
    colours = [(200, 60, 40), (40, 200, 60), (60, 40, 200)] * 2
    frames = [np.full((96, 128, 3), c, np.uint8) for c in colours]
    clip = tmp_path / f"clip{ext}"
    write_clip(clip, frames, codec=encoder, pix_fmt=pix)
    info = probe(clip)
    got = [p.frame for p in read_video(clip, info) if isinstance(p, VideoPacket)]
    assert info.codec.startswith(name[:3]) or name in info.codec or info.codec == "libdav1d"
    assert len(got) == 6 and got[0].shape == (96, 128, 3)
    for g, c in zip(got, colours, strict=True):
        assert np.abs(g.reshape(-1, 3).mean(0) - c).max() < 12


def test_animated_gif_in_and_out_keeps_frames_durations_and_label(
    face_rgb, photos, swapper, tmp_path, capsys
):
    from PIL import Image

    frames = [Image.fromarray(face_frame(face_rgb, shift=s)) for s in (0, 4, 8, 12)]
    gif = tmp_path / "loop.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=[100, 150, 100, 200])
    out = tmp_path / "out.gif"
    assert main(["swap", "-s", str(photos / "biden.jpg"), "-t", str(gif), "-o", str(out)]) == 0
    with Image.open(out) as im:
        assert im.n_frames == 4
        durations = []
        for i in range(4):
            im.seek(i)
            durations.append(im.info["duration"])
        first = np.asarray(im.convert("RGB")) if im.seek(0) is None else None
    assert durations == [100, 150, 100, 200]
    assert np.abs(first.astype(int) - np.asarray(frames[0]).astype(int)).max(2).mean() > 3
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    assert "AI-generated" in capsys.readouterr().out


def test_animated_webp_to_mp4_keeps_timestamps(face_rgb, photos, swapper, tmp_path):
    from PIL import Image

    frames = [Image.fromarray(face_frame(face_rgb, shift=s)) for s in (0, 6, 12)]
    webp = tmp_path / "anim.webp"
    frames[0].save(webp, save_all=True, append_images=frames[1:], duration=[80, 120, 200])
    out = tmp_path / "out.mp4"
    result = swapper.swap_video(photos / "biden.jpg", webp, out, progress=False)
    _, pts, _ = decode(out)
    with av.open(str(out)) as c:
        tb = c.streams.video[0].time_base
    assert result.frames_swapped == 3
    assert [round(float(p * tb) * 1000) for p in pts] == [0, 80, 200]


@pytest.mark.slow
def test_watermark_is_drawn_only_in_its_corner(photos, tmp_path):
    from twoface import Swapper

    plain = Swapper().swap_image(photos / "biden.jpg", photos / "obama.jpg").image
    marked = Swapper().swap_image(
        photos / "biden.jpg", photos / "obama.jpg", watermark="AI-generated"
    )
    diff = np.abs(marked.image.astype(int) - plain.astype(int)).max(2) > 0
    h, w = diff.shape
    ys, xs = np.nonzero(diff)
    assert len(ys) > 100  # visible
    assert ys.min() > h * 0.85 and xs.min() > w * 0.5  # bottom-right only


def _swap(photos, target, out, *extra):
    return main(
        ["swap", "-s", str(photos / "biden.jpg"), "-t", str(target), "-o", str(out), *extra]
    )


@pytest.mark.slow
def test_bad_videos_get_one_line_exit_3_and_no_output(
    face_rgb, photos, tmp_path, capsys, monkeypatch
):
    import twoface.io.video as video

    audio_only = tmp_path / "sound.mp4"
    with av.open(str(audio_only), "w") as c:
        a = c.add_stream("aac", rate=44100)
        a.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "fltp", "mono")
        frame.sample_rate, frame.pts = 44100, 0
        for p in [*a.encode(frame), *a.encode(None)]:
            c.mux(p)
    empty = tmp_path / "empty.mkv"
    with av.open(str(empty), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        c.start_encoding()  # a header, then no frame at all
    good = tmp_path / "good.mp4"
    write_clip(good, [face_frame(face_rgb)] * 5)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])

    cases = [
        (audio_only, "sound.mp4: no video stream"),
        (empty, "empty.mkv: the video ends before its first frame (empty or cut short)"),
        (truncated, "truncated.mp4: not a readable video"),
    ]
    for target, message in cases:
        out = tmp_path / "out.mp4"
        before = target.read_bytes()
        code = _swap(photos, target, out)
        err = capsys.readouterr().err.strip()
        assert code == 3 and message in err and "\n" not in err, (target, err)
        assert not out.exists() and target.read_bytes() == before

    monkeypatch.setattr(video, "MAX_VIDEO_PIXELS", 1000)
    code = _swap(photos, good, tmp_path / "out.mp4")
    err = capsys.readouterr().err.strip()
    assert code == 3 and "good.mp4: unsupported video dimensions 320x240" in err
    monkeypatch.undo()

    code = _swap(photos, good, tmp_path / "out.mp4", "--trim", "5", "6")
    err = capsys.readouterr().err.strip()
    assert code == 3 and "good.mp4: --trim starts at 5 s but the video lasts 0.50 s" in err
    code = _swap(photos, good, tmp_path / "out.mp4", "--trim", "2", "1")
    assert code == 2 and "--trim needs 0 <= START < END, got 2 1" in capsys.readouterr().err
    code = _swap(photos, photos / "obama.jpg", tmp_path / "o.jpg", "--trim", "0", "1")
    assert code == 2 and "--trim applies to videos" in capsys.readouterr().err
    code = _swap(photos, good, tmp_path / "out.avi")
    assert code == 2 and "unsupported video output extension '.avi'" in capsys.readouterr().err
    code = _swap(photos, good, tmp_path / "out.mp4", "--watermark", "é")
    assert code == 2 and "--watermark: watermark text must be printable ASCII" in (
        capsys.readouterr().err
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["sound.mp4", "empty.mkv", "good.mp4", "truncated.mp4"]
    )


def test_progress_line_shows_bar_fps_and_eta():
    from twoface.progress import ProgressLine

    line = ProgressLine().line("frames", 50, 200, 5.0)
    assert line.startswith("[######..................]  25% 50/200 frames")
    assert "10.0 fps" in line and "ETA 0:15" in line
    assert ProgressLine().line("frames", 30, 0, 65.0).startswith("30 frames    0.5 fps  1:05")


def test_tracker_revives_the_same_person_and_not_a_stranger():
    from twoface.track import Tracker
    from twoface.types import Face

    def face(x):
        kps = np.array([[x + 10, 30], [x + 30, 30], [x + 20, 40], [x + 12, 50], [x + 28, 50]])
        return Face(box=np.array([x, 10, x + 40, 60], np.float32), score=0.9, kps=kps)

    ids = {"a": np.zeros(128), "b": np.full(128, 0.2)}  # 0.2 * sqrt(128) = 2.26 apart
    who = {}

    def identify(frame, faces):
        return [ids[who[int(f.box[0])]] for f in faces]

    t = Tracker(identify=identify, max_missed=2)
    frame = np.zeros((8, 8, 3), np.uint8)
    who[0] = "a"
    first = t.update([face(0)], 0.04, frame)[0][0]
    # Every new track is identified once, so anyone can be recognised after a cut.
    assert len(first.embeddings) == 1
    for _ in range(5):
        t.update([], 0.04, frame)
    who[200] = "a"
    again = t.update([face(200)], 0.04, frame)[0][0]
    who[400] = "b"
    other = t.update([face(200), face(400)], 0.04, frame)[0]
    assert again is first and len(t.all_tracks) == 2
    assert {tr.id for tr in other} == {first.id, 1}


def test_undecodable_stream_is_refused(face_rgb, photos, tmp_path, capsys):
    clip = tmp_path / "scrambled.mkv"
    write_clip(clip, [face_frame(face_rgb)] * 6)
    data = bytearray(clip.read_bytes())
    with av.open(str(clip)) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    rng = np.random.default_rng(0)
    for pos, size in packets:  # the container stays valid; the H.264 payload becomes noise
        data[pos + 4 : pos + size] = rng.integers(0, 255, size - 4, dtype=np.uint8).tobytes()
    clip.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    assert _swap(photos, clip, out) == 3
    err = capsys.readouterr().err.strip()
    assert "scrambled.mkv: not a readable video" in err and "\n" not in err
    assert not out.exists()


def _run_on_a_long_clip(stages, swapper, face_rgb, photos, tmp_path, **options):
    """run_video on a 40-frame clip in `tmp_path` (biden.jpg as the source)."""
    from twoface.io.video import probe
    from twoface.video_pipeline import run_video

    clip = tmp_path / "long.mp4"
    write_clip(clip, [face_frame(face_rgb, shift=i) for i in range(40)])
    selection, identities = swapper._selection_and_sources(
        [photos / "biden.jpg"], False, None, None
    )
    from twoface.config import OutputConfig

    write = OutputConfig(preset="ultrafast", batch_size=options.pop("batch_size", 8))
    args = (str(clip), probe(clip), str(tmp_path / "out.mp4"), None, write)
    return run_video(stages, identities, selection, *args, progress=False, **options)


@pytest.mark.slow
def test_interrupted_video_leaves_nothing_behind(face_rgb, photos, swapper, tmp_path):
    def ctrl_c(n):
        if n == 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run_on_a_long_clip(swapper, swapper, face_rgb, photos, tmp_path, on_frame=ctrl_c)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]  # no output, no temp file


@pytest.mark.slow
def test_a_model_failing_mid_video_surfaces_as_itself(face_rgb, photos, swapper, tmp_path):
    """Faces are found in a thread of their own (overlapping the swap); a detector failing
    there reaches the caller as its own error, not as a failed write, without a hang, leaving
    nothing behind."""
    from twoface.analyze import FrameAnalyzer
    from twoface.errors import ModelError
    from twoface.video_pipeline import Stages

    calls = []

    class Failing:
        def detect(self, frames):
            calls.append(len(frames))
            if len(calls) == 3:
                raise ModelError("detector: out of memory on the device")
            return swapper.detector.detect(frames)

    stages = Stages(
        FrameAnalyzer(Failing(), swapper.landmarker, lambda: swapper.encoder), swapper.engine
    )
    with pytest.raises(ModelError, match="out of memory on the device"):
        _run_on_a_long_clip(stages, swapper, face_rgb, photos, tmp_path, batch_size=8)
    assert len(calls) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]  # no output, no temp file
