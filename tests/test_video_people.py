"""Who is swapped in a video across scene cuts (issue 9): the main person is not lost after a
cut, a person returning after a cut keeps their decision, and --reference follows its person
through the whole video, including frames whose first look did not match."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import SHARED, rgb  # noqa: E402
from videotools import face_frame, write_clip  # noqa: E402

pytestmark = pytest.mark.slow  # real clips / training: the full tier


@pytest.fixture(scope="module")
def cut_clip(photos, tmp_path_factory):
    """12 frames of obama, a cut to 12 of biden framed alike (box overlap would join them),
    a cut back to obama framed otherwise (box overlap cannot rejoin him)."""
    obama, biden = rgb(photos / "obama.jpg"), rgb(photos / "biden.jpg")
    frames = [face_frame(obama, shift=i) for i in range(12)]
    frames += [face_frame(biden[200:1400], shift=i) for i in range(12)]
    frames += [face_frame(obama[100:900, 100:800], shift=i) for i in range(12)]
    path = tmp_path_factory.mktemp("cuts") / "cuts.mp4"
    write_clip(path, frames, rate=10)
    return path


def test_scene_cuts_are_found_where_the_shot_changes(cut_clip):
    import av

    from twoface.track import SceneCuts

    cuts = SceneCuts()
    with av.open(str(cut_clip)) as c:
        found = [i for i, f in enumerate(c.decode(video=0)) if cuts(f.to_ndarray(format="rgb24"))]
    assert found == [12, 24]


def test_default_keeps_swapping_the_person_on_screen_after_cuts(
    swapper, photos, cut_clip, tmp_path
):
    r = swapper.swap_video(photos / "elon_musk.jpg", cut_clip, tmp_path / "o.mp4", progress=False)
    assert list(r.faces_per_frame) == [1] * 36  # before: the frames after the first cut passed
    assert r.tracks == 2  # obama's return after the second cut joined his first track


def test_reference_swaps_only_its_person_on_both_sides_of_a_cut(
    swapper, photos, cut_clip, tmp_path
):
    r = swapper.swap_video(
        photos / "elon_musk.jpg",
        cut_clip,
        tmp_path / "o.mp4",
        reference=photos / "obama2.jpg",
        progress=False,
    )
    assert list(r.faces_per_frame) == [1] * 12 + [0] * 12 + [1] * 12


def test_reference_follows_a_person_whose_first_frames_do_not_match(swapper, photos, tmp_path):
    base = face_frame(rgb(photos / "obama.jpg"))
    blurred = cv2.GaussianBlur(base, (0, 0), 3)  # dlib distance to obama2.jpg: 0.65 > 0.6
    frames = [np.roll(blurred, i, 1) for i in range(10)] + [
        np.roll(base, 10 + i, 1) for i in range(14)
    ]
    clip = tmp_path / "blur_first.mp4"
    write_clip(clip, frames, rate=10)
    r = swapper.swap_video(
        photos / "elon_musk.jpg",
        clip,
        tmp_path / "o.mp4",
        reference=photos / "obama2.jpg",
        progress=False,
    )
    # Decided once on the first frame, this person was never swapped; now they are matched once
    # sharp, and the frames held while looking are swapped too.
    assert sum(r.faces_per_frame) == 24 and r.tracks == 1


@pytest.fixture(scope="module")
def hamilton():
    path = SHARED / "data" / "video" / "hamilton_clip.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not found (set TWOFACE_SHARED)")
    return path


def test_hamilton_performer_is_followed_by_reference_and_audience_left_alone(
    swapper, photos, hamilton, tmp_path
):
    """A frame of the performer as --reference: the wide shot (0-19) and the close-ups
    (82-210) are swapped, the audience shots (20-81, 211-274) are not."""
    import av
    from PIL import Image

    with av.open(str(hamilton)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == 150:
                Image.fromarray(f.to_ndarray(format="rgb24")).save(tmp_path / "performer.png")
                break
    r = swapper.swap_video(
        photos / "elon_musk.jpg",
        hamilton,
        tmp_path / "o.mp4",
        reference=tmp_path / "performer.png",
        progress=False,
    )
    swapped = np.array(r.faces_per_frame)
    assert r.frames == 275
    assert (swapped[90:205] == 1).all()  # the close-ups: 20 of 275 frames were swapped before
    assert swapped[215:].sum() == 0 and swapped[25:80].sum() == 0  # audience shots


def test_hamilton_default_swaps_the_performers_close_ups(swapper, photos, hamilton, tmp_path):
    """The most prominent person, re-decided at each cut: before, a face in the audience kept
    the decision and the performer's close-ups (82-210) were never swapped."""
    r = swapper.swap_video(photos / "elon_musk.jpg", hamilton, tmp_path / "o.mp4", progress=False)
    swapped = np.array(r.faces_per_frame)
    assert (swapped[82:211] == 1).all() and swapped.sum() >= 250


def test_runs_on_one_engine_keep_their_own_memory(swapper, photos):
    """Per-track memory (the classical engine's smoothed masks and decisions) belongs to the run:
    two live streams on the same engine -- the web UI's two webcams -- never see each other's
    people, and a new run starts from nothing. Before, the engine kept it by track id, so a
    second stream's person 0 was smoothed with the first stream's person 0 (and a new video
    had to remember to reset it)."""
    from twoface.live import frames_from
    from twoface.select import Selection
    from twoface.swap import SourceIdentity
    from twoface.video_pipeline import StreamSwapper

    clip = SHARED / "data" / "video" / "dance.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found (set TWOFACE_SHARED)")
    frames = [f for _, f in zip(range(8), frames_from(str(clip), realtime=False), strict=False)]
    other = [rgb(photos / "biden.jpg")] * len(frames)  # another person, also track 0 there
    identity = SourceIdentity.combine(swapper.source_faces([photos / "elon_musk.jpg"]))

    def stream():
        return StreamSwapper(swapper.stages(), [identity], Selection(), fps=25)

    alone = stream()
    expected = [alone.swap(f, 0.04)[0] for f in frames]
    a, b = stream(), stream()
    for f, g, want in zip(frames, other, expected, strict=True):
        b.swap(g, 0.04)  # the other stream's person 0, in between every frame
        got, n = a.swap(f, 0.04)
        assert n == 1 and np.array_equal(got, want)
    assert not any(k in vars(swapper.engine) for k in ("_state", "_traits"))
