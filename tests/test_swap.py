import numpy as np
import pytest
from conftest import rgb

from twoface.identity import identity_distance
from twoface.mask import face_mask, mouth_open_ratio
from twoface.swap.classical import extended_points


def _embedding(swapper, image, near_box):
    faces = swapper.analyse([image], identity=True)[0]
    centre = (np.asarray(near_box[:2]) + np.asarray(near_box[2:])) / 2
    return min(faces, key=lambda f: np.linalg.norm(f.center - centre)).embedding


@pytest.mark.parametrize(
    "source,target",
    [("obama.jpg", "biden.jpg"), ("elon_musk.jpg", "tgt1.png"), ("biden.jpg", "beckham.jpg")],
)
@pytest.mark.slow
def test_swap_moves_identity_towards_the_source(photos, swapper, source, target):
    result = swapper.swap_image(photos / source, photos / target)
    src = _embedding(swapper, rgb(photos / source), (0, 0, 1e4, 1e4))
    face = result.faces_swapped[0]
    before = identity_distance(_embedding(swapper, rgb(photos / target), face.box), src)
    after = identity_distance(_embedding(swapper, result.image, face.box), src)
    assert before > 0.6  # different people to start with
    assert after < before - 0.2, f"identity distance to source {before:.2f} -> {after:.2f}"


def test_pixels_outside_the_face_region_are_unchanged(photos, swapper):
    target = rgb(photos / "two_people.jpg")
    result = swapper.swap_image(photos / "mark.jpg", photos / "two_people.jpg", many=True)
    changed = np.any(result.image != target, axis=2)
    allowed = np.zeros_like(changed)
    for face in result.faces_swapped:
        pts = extended_points(face.landmarks)
        x1, y1 = np.floor(pts.min(0)).astype(int)
        x2, y2 = np.ceil(pts.max(0)).astype(int)
        allowed[max(y1, 0) : y2, max(x1, 0) : x2] = True
    assert changed.any()
    assert not (changed & ~allowed).any(), "pixels changed outside the swapped faces"
    # Each face is a swap, not a tint: its identity moved towards the source. (A mean pixel
    # change says little: a swap whose tone matches the target's well changes fewer levels.)
    src = _embedding(swapper, rgb(photos / "mark.jpg"), (0, 0, 1e4, 1e4))
    assert len(result.faces_swapped) == 2
    for face in result.faces_swapped:
        before = identity_distance(_embedding(swapper, target, face.box), src)
        after = identity_distance(_embedding(swapper, result.image, face.box), src)
        assert after < before - 0.15, (before, after)


def test_no_visible_seam_at_the_mask_edge(photos, swapper):
    """Along the mask boundary the output is as smooth as the photo itself."""
    target = rgb(photos / "biden.jpg").astype(np.float32)
    result = swapper.swap_image(photos / "obama.jpg", photos / "biden.jpg")
    face = result.faces_swapped[0]
    mask = face_mask(target.shape[:2], face.landmarks)
    edge = (mask > 0.05) & (mask < 0.5)
    out = result.image.astype(np.float32)

    def grad(img):
        gy, gx = np.gradient(img.mean(2))
        return np.hypot(gx, gy)

    assert grad(out)[edge].mean() < 2.0 * grad(target)[edge].mean() + 1.0


def test_alpha_channel_is_kept(photos, swapper, tmp_path):
    from PIL import Image

    out = tmp_path / "out.png"
    swapper.swap_image(photos / "obama.jpg", photos / "32bit.png", output=out)
    with Image.open(photos / "32bit.png") as a, Image.open(out) as b:
        assert b.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(a)[..., 3], np.asarray(b)[..., 3])


def test_open_mouth_interior_is_excluded_from_the_mask():
    # Synthetic 68-point face: a mouth whose inner lips are 30% of the mouth width apart.
    lm = np.zeros((68, 2), np.float32)
    t = np.linspace(0, np.pi, 17)
    lm[0:17] = np.c_[100 - 60 * np.cos(t), 100 + 70 * np.sin(t)]  # jaw, left to right
    lm[17:27] = np.c_[np.linspace(55, 145, 10), np.full(10, 60)]
    lm[27:36] = np.c_[np.full(9, 100), np.linspace(70, 115, 9)]
    lm[36:48] = np.c_[np.r_[np.linspace(65, 90, 6), np.linspace(110, 135, 6)], np.full(12, 80)]
    mouth = [
        (75, 140),
        (85, 135),
        (95, 133),
        (100, 134),
        (105, 133),
        (115, 135),
        (125, 140),
        (115, 150),
        (105, 152),
        (100, 153),
        (95, 152),
        (85, 150),
    ]
    lm[48:60] = mouth
    lm[60:68] = [
        (78, 140),
        (90, 134),
        (100, 134),
        (110, 134),
        (122, 140),
        (110, 146),
        (100, 146),
        (90, 146),
    ]
    assert mouth_open_ratio(lm) > 0.2
    open_mask = face_mask((220, 220), lm)
    closed = lm.copy()
    closed[[65, 66, 67], 1] = closed[[63, 62, 61], 1]
    closed_mask = face_mask((220, 220), closed)
    assert open_mask[140, 100] < 0.1  # inside the open mouth: target kept
    assert closed_mask[140, 100] > 0.9  # closed mouth: swapped
    assert open_mask[100, 100] > 0.9 and open_mask[5, 5] == 0.0


def test_seam_mending_handles_a_mask_touching_the_border():
    from twoface.blend import membrane_paste

    src = np.full((40, 50, 3), 200, np.uint8)
    dst = np.full((40, 50, 3), 50, np.uint8)
    mask = np.zeros((40, 50), np.uint8)
    mask[0:20, 0:25] = 1  # touches the top and left edges
    out = membrane_paste(src, dst, mask, np.ones((40, 50), bool))
    assert out.shape == dst.shape
    np.testing.assert_array_equal(out[mask == 0], dst[mask == 0])
    assert abs(int(out[19, 24, 0]) - 50) <= 2  # meets the target along the edge
