"""Video: frame count, rate, audio and label kept; identity moved; jitter bounded; bad inputs."""

import numpy as np
import pytest

from twoface.cli import main
from twoface.identity import identity_distance
from twoface.track import jitter

pytestmark = pytest.mark.slow  # real clips / training: the full tier

av = pytest.importorskip("av")


def _frames(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _streams(path):
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        audio = [(a.codec_context.name, a.rate, a.frames) for a in c.streams.audio]
        return v.frames, v.average_rate, (v.width, v.height), audio, float(c.duration or 0) / 1e6


@pytest.fixture(scope="module")
def hamilton(photos, tmp_path_factory):
    clip = photos.parent / "video" / "hamilton_clip.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    from twoface import Swapper

    out = tmp_path_factory.mktemp("video") / "out.mp4"
    result = Swapper().swap_video(photos / "obama.jpg", clip, out, many=True, progress=False)
    return clip, out, result


def test_frames_rate_size_duration_and_audio_are_kept(hamilton):
    clip, out, result = hamilton
    n, rate, size, audio, duration = _streams(clip)
    n2, rate2, size2, audio2, duration2 = _streams(out)
    assert (n2, rate2, size2) == (n, rate, size) == (275, rate, (640, 360))
    assert audio2 == audio and audio[0][0] == "aac"  # copied, not re-encoded
    assert result.audio_packets == audio[0][2]
    assert abs(duration2 - duration) <= 1 / float(rate)


def test_video_is_labelled(hamilton, capsys):
    assert main(["inspect", str(hamilton[1])]) == 0
    assert "AI-generated (face swap)" in capsys.readouterr().out


def test_identity_moves_towards_the_source_on_sampled_frames(hamilton, photos, swapper):
    clip, out, _ = hamilton
    src = swapper.analyse([swapper_source(photos)], identity=True)[0][0].embedding
    before, after = _frames(clip), _frames(out)
    moved = []
    # (Frame 20 is the singer in profile: left as it is, see the next test.)
    for i in (100, 120, 220):
        a = swapper.analyse([before[i]], identity=True)[0]
        b = swapper.analyse([after[i]], identity=True)[0]
        if not a or not b:
            continue
        fa = max(a, key=lambda f: f.area)
        fb = min(b, key=lambda f: np.linalg.norm(f.center - fa.center))
        moved.append(identity_distance(fa.embedding, src) - identity_distance(fb.embedding, src))
    assert len(moved) >= 2 and min(moved) > 0.1, moved


def test_a_profile_the_landmarks_do_not_fit_is_left_as_it_is(hamilton, swapper):
    """Frames 20-45 show the singer in profile; dlib fits a frontal face over his hair and the
    background (its points 0.18-0.21 face widths from the detector's), and a whole frontal
    face was pasted there. Such a face is now left as it is."""
    clip, out, _ = hamilton
    for i in (23, 29):
        before, after = _frames(clip)[i], _frames(out)[i]
        face = max(swapper.analyse([before])[0], key=lambda f: f.area)
        assert face.width > 150  # the frame is 360 px high
        x0, y0, x1, y1 = face.box.astype(int)
        box = (slice(max(y0, 0), y1), slice(max(x0, 0), x1))
        change = np.abs(after[box].astype(float) - before[box].astype(float)).mean()
        assert change < 3.0, (i, change)  # the codec's own difference only


def test_faces_in_the_dark_stay_dark(hamilton, swapper):
    """hamilton_clip.mp4's audience sits in the dark (L* ~10 against obama.jpg's 65): the light
    ratio, clamped at 0.4 round 1, left those faces as pale masks once the seam no longer
    pinned them to their surroundings. Bounded round the faces' overall ratio, each face keeps
    the frame's light."""
    from twoface.swap.skin import lab

    clip, out, _ = hamilton
    before, after = _frames(clip)[20], _frames(out)[20]
    faces = [f for f in swapper.analyse([before])[0] if f.area < 80 * 80]  # the audience's
    assert faces
    for face in faces:
        x0, y0, x1, y1 = face.box.astype(int)
        box = (slice(max(y0, 0), y1), slice(max(x0, 0), x1))
        # (The brightest twentieth of the box: the masks rose from L* 5-8 to 26.)
        lift = np.percentile(lab(after[box])[..., 0], 95) - np.percentile(
            lab(before[box])[..., 0], 95
        )
        assert lift < 8.0, (face.box, lift)


def swapper_source(photos):
    from twoface.io.image import read_image

    return read_image(photos / "obama.jpg").rgb


def test_jitter_stays_within_ten_percent_and_the_light_is_kept(photos, swapper, tmp_path):
    """The output's landmarks shake no more than 10% beyond the input's; the swapped face keeps
    the frame's light (low-frequency lightness error inside the face: 10.6 L* with a Poisson
    clone pinned along hair and background, which darkened and greyed the face; now ~2.6)."""
    import cv2

    from twoface.mask import face_polygon, polygon_mask
    from twoface.schemes import IBUG68
    from twoface.swap.skin import lab

    clip = photos.parent / "video" / "dance.mp4"
    out = tmp_path / "dance.mp4"
    swapper.swap_video(photos / "obama.jpg", clip, out, progress=False)
    frames_in, frames_out = _frames(clip), _frames(out)

    def track(frames):
        pts = []
        for f in frames:
            faces = swapper.analyse([f])[0]
            pts.append(max(faces, key=lambda x: x.area).landmarks)
        return pts

    lm_in = track(frames_in)
    j_in, j_out = jitter(lm_in), jitter(track(frames_out))
    assert j_out <= 1.10 * j_in, f"jitter {j_in:.4f} -> {j_out:.4f}"
    errors = []
    for a, b, lm in list(zip(frames_in, frames_out, lm_in, strict=True))[::5]:
        fw = IBUG68.face_width(lm)
        face = polygon_mask(a.shape[:2], face_polygon(lm)) > 0

        def low(image, fw=fw):
            return cv2.GaussianBlur(lab(image)[..., 0], (0, 0), 0.08 * fw)

        errors.append(np.abs(low(b) - low(a))[face].mean())
    assert np.mean(errors) < 5.0, np.round(errors, 1)


def test_a_bearded_source_leaves_no_beard_in_a_video(photos, swapper, tmp_path):
    """rdj1's goatee and moustache were carried onto every frame (5% more dark pixels below
    the nose than the input, 7.4% at most); the beard round the source's mouth is decided once
    on the photo and the target's own lower face shows there (0.2%), with the jitter held."""
    import cv2

    from twoface.mask import face_polygon, polygon_mask
    from twoface.schemes import IBUG68

    source = photos.parent / "hard" / "rdj1_frontal_goatee.webp"
    if not source.exists():
        pytest.skip(f"{source} is not there (the shared hard photos)")
    clip = photos.parent / "video" / "dance.mp4"
    out = tmp_path / "dance.mp4"
    swapper.swap_video(source, clip, out, progress=False)
    before, after = _frames(clip), _frames(out)

    def dark(image, low):
        lightness = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)[..., 0]
        return ((lightness < 30) & low).sum() / low.sum()

    extra, marks_in, marks_out = [], [], []
    for a, b in zip(before, after, strict=True):
        lm = max(swapper.analyse([a])[0], key=lambda f: f.area).landmarks
        marks_in.append(lm)
        marks_out.append(max(swapper.analyse([b])[0], key=lambda f: f.area).landmarks)
        face = polygon_mask(a.shape[:2], face_polygon(lm)) > 0
        rows = np.arange(a.shape[0])[:, None].repeat(a.shape[1], 1)
        low = face & (rows > IBUG68.point(lm, "nose_tip").reshape(-1)[1])
        extra.append(dark(b, low) - dark(a, low))
    assert np.mean(extra) < 0.01 and max(extra) < 0.02, (np.mean(extra), max(extra))
    assert jitter(marks_out) <= 1.10 * jitter(marks_in)


def _write_clip(path, frames, rate=10):
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def test_video_without_faces_is_refused_and_nothing_written(photos, tmp_path, capsys):
    clip = tmp_path / "grey.mp4"
    _write_clip(clip, [np.full((64, 96, 3), 100 + i, np.uint8) for i in range(8)])
    out = tmp_path / "out.mp4"
    code = main(["swap", "-s", str(photos / "obama.jpg"), "-t", str(clip), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 3 and "grey.mp4: no face found in any frame" in err and "\n" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grey.mp4"]


def test_corrupt_video_is_refused(photos, tmp_path, capsys):
    clip = tmp_path / "broken.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"garbage" * 100)
    out = tmp_path / "out.mp4"
    code = main(["swap", "-s", str(photos / "obama.jpg"), "-t", str(clip), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 3 and "broken.mp4: not a readable video" in err
    assert not out.exists()
