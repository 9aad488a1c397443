"""The offline default on hard faces (issue 13): identity moves, colour stays clean, the
target's closed eyes and glasses stay, the source's glasses and fringe do not come along, and
anime art goes to the anime engine. Photos from ../shared/data/hard and data/photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import SHARED, rgb, shared_model

from twoface.mask import face_polygon, polygon_mask
from twoface.quality import chroma_anomaly
from twoface.schemes import IBUG68

HARD = SHARED / "data" / "hard"


@pytest.fixture(scope="module")
def hard():
    if not HARD.is_dir():
        pytest.skip(f"hard-case photos not found at {HARD} (set TWOFACE_SHARED)")
    return HARD


def _face(swapper, image, identity=False):
    return max(swapper.analyse([image], identity=identity)[0], key=lambda f: f.area)


# Same-pose pairs (source, target). Before (session 3): chroma p95 up to 18.6 on these and on
# the glasses pairs; the 1,040-px face of frontal_neutral_man took 42 s (now ~1 s).
PAIRS = [
    ("photos/obama.jpg", "photos/biden.jpg"),
    ("photos/biden.jpg", "photos/obama.jpg"),
    ("hard/roblowe2_frontal.jpg", "hard/frontal_neutral_man.jpg"),
    ("hard/rdj1_frontal_goatee.webp", "hard/roblowe2_frontal.jpg"),
    ("photos/elon_musk.jpg", "photos/mark.jpg"),
    ("photos/beckham.jpg", "photos/elon_musk.jpg"),
]
CHROMA_BOUND = 15.0  # calibrated: 8.4-13.7 on these swaps now, up to 18.6 before


@pytest.mark.parametrize(
    "pair", PAIRS, ids=[f"{a.split('/')[1]}->{b.split('/')[1]}" for a, b in PAIRS]
)
def test_identity_moves_and_colour_stays_clean(swapper, hard, pair):
    source, target = (rgb(SHARED / "data" / p) for p in pair)
    fs, ft = _face(swapper, source, True), _face(swapper, target, True)
    result = swapper.swap_image(source, target)
    fo = _face(swapper, result.image, True)
    before = np.linalg.norm(ft.embedding - fs.embedding)
    after = np.linalg.norm(fo.embedding - fs.embedding)
    assert before - after >= 0.1, (before, after)
    assert chroma_anomaly(result.image, target, ft.landmarks) < CHROMA_BOUND


@pytest.mark.parametrize(
    "source,target",
    [
        ("photos/obama.jpg", "hard/closed_eyes_woman.jpg"),  # open eyes onto closed ones
        ("hard/rdj2_yaw30_stubble.webp", "hard/roblowe2_frontal.jpg"),  # gaze aside onto ahead
    ],
)
def test_the_targets_eyes_stay_when_opening_or_gaze_differ(swapper, hard, source, target):
    target = rgb(SHARED / "data" / target)
    ft = _face(swapper, target)
    out = swapper.swap_image(SHARED / "data" / source, target).image
    fw = IBUG68.face_width(ft.landmarks)
    for group in ("eye_left", "eye_right"):
        eye = np.zeros(target.shape[:2], np.uint8)
        hull = cv2.convexHull(IBUG68.group(ft.landmarks, group).astype(np.float32))
        cv2.fillConvexPoly(eye, np.round(hull).astype(np.int32), 1)
        eye = cv2.dilate(eye, np.ones((3, 3), np.uint8), iterations=max(1, int(0.03 * fw)))
        diff = np.abs(out.astype(int) - target.astype(int))[eye > 0]
        assert diff.mean() < 3, group  # no hollow or open eyes pasted over closed ones
    face = polygon_mask(target.shape[:2], face_polygon(ft.landmarks)) > 0
    assert np.abs(out.astype(int) - target.astype(int))[face].mean() > 5  # the face did change


def _thin_lines(image: np.ndarray, face) -> np.ndarray:
    """Pixels of thin dark lines (rims) in the ring round the eyes, outside the eyes."""
    lm = face.landmarks
    fw = IBUG68.face_width(lm)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    k = max(3, int(0.04 * fw) | 1)
    lines = cv2.morphologyEx(
        grey, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    )
    ring = np.zeros(grey.shape, np.uint8)
    eyes = np.zeros(grey.shape, np.uint8)
    for group in ("eye_left", "eye_right"):
        hull = np.round(cv2.convexHull(IBUG68.group(lm, group).astype(np.float32))).astype(np.int32)
        cv2.fillConvexPoly(ring, hull, 1)
        cv2.fillConvexPoly(eyes, hull, 1)
    ring = cv2.dilate(ring, np.ones((3, 3), np.uint8), iterations=int(0.15 * fw))
    eyes = cv2.dilate(eyes, np.ones((3, 3), np.uint8), iterations=max(1, int(0.03 * fw)))
    return (lines > 25) & (ring > 0) & (eyes == 0)


def test_glasses_of_the_target_keep_their_rims(swapper, hard, photos):
    target = rgb(hard / "glasses_beard_mic_occlusion.png")
    rims = _thin_lines(target, _face(swapper, target))
    assert rims.sum() > 200  # the test sees the rims
    out = swapper.swap_image(photos / "obama.jpg", target).image
    diff = np.abs(out.astype(int) - target.astype(int)).max(2)
    # 76% of the rim pixels within 12 levels (the rest where the source's brows meet the top
    # rim); before, the swap painted the source's skin over the lower rims.
    assert (diff[rims] < 12).mean() > 0.7


def test_glasses_of_the_source_are_not_carried_over(swapper, hard, photos):
    target = rgb(photos / "obama.jpg")
    ft = _face(swapper, target)
    out = swapper.swap_image(hard / "old_man_glasses_cap.jpg", target).image
    # No new rim lines round the target's eyes.
    assert _thin_lines(out, ft).sum() <= _thin_lines(target, ft).sum() * 1.5 + 50


def test_a_fringe_over_the_source_brows_is_not_carried_over(swapper, hard):
    target = rgb(hard / "roblowe2_frontal.jpg")
    ft = _face(swapper, target)
    out = swapper.swap_image(hard / "kun1_bangs.png", target).image
    lm = ft.landmarks
    brows = IBUG68.group(lm, "brows")
    up = brows.mean(0) - IBUG68.point(lm, "chin")
    up /= np.linalg.norm(up)
    band = np.concatenate([brows, (brows + up * 0.1 * IBUG68.face_width(lm))[::-1]])
    m = polygon_mask(target.shape[:2], band) > 0
    lo, lt = (cv2.cvtColor(x, cv2.COLOR_RGB2LAB)[..., 0].astype(float) for x in (out, target))
    assert abs(lo[m].mean() - lt[m].mean()) < 12  # no dark band of source hair on the brows


@pytest.mark.slow
def test_the_anime_grid_goes_to_the_anime_engine_by_default(tmp_path):
    from twoface import Swapper

    home = tmp_path / "home"
    Swapper  # noqa: B018 - imported for the store below
    from twoface.zoo.store import ModelStore

    ModelStore(home).import_file(shared_model("lbpcascade_animeface.xml"), "anime_lbpcascade")
    grid_path = SHARED / "data" / "anime" / "anime_group.jpg"
    if not grid_path.is_file():
        pytest.skip(f"{grid_path} not found")
    grid = rgb(grid_path)
    result = Swapper(models_dir=home).swap_image(grid[512:1024, 512:1024].copy(), grid, many=True)
    # RetinaFace finds 14 unsure "faces" in the drawings; the cascade 37 real ones.
    assert result.engine == "anime" and len(result.faces_swapped) >= 30
    assert result.label.source_type == "compositeSynthetic"


def test_photos_stay_photos_with_the_anime_cascade_installed(tmp_path, photos, hard):
    from twoface import Swapper
    from twoface.zoo.store import ModelStore

    home = tmp_path / "home"
    ModelStore(home).import_file(shared_model("lbpcascade_animeface.xml"), "anime_lbpcascade")
    sw = Swapper(models_dir=home)
    for target in (hard / "kun1_bangs.png", photos / "obama.jpg"):  # the cascade fires on both
        assert sw.swap_image(photos / "biden.jpg", target).engine == "classical"


def test_a_turned_source_is_made_symmetric_before_the_warp(swapper, hard, photos):
    """A source turned far (yaw sign -0.52) onto a frontal target (0.03): the foreshortened half
    is replaced by the mirrored visible half, so the warp does not stretch a narrow half."""
    from twoface.swap.classical import _facing
    from twoface.swap.skin import yaw_sign

    source = rgb(hard / "pitch_down_woman.jpg")
    target = rgb(photos / "obama.jpg")
    fs, ft = _face(swapper, source), _face(swapper, target)
    assert abs(yaw_sign(fs.landmarks) - yaw_sign(ft.landmarks)) > 0.4
    made, lm = _facing(source, fs.landmarks, ft.landmarks, IBUG68)
    assert lm is fs.landmarks and made.shape == source.shape  # same geometry, new texture
    changed = (made != source).any(2)
    assert changed.sum() > 1000
    # Only the foreshortened half (on the side the nose points to), and only near the face.
    x1, y1, x2, y2 = fs.box
    ys, xs = np.nonzero(changed)
    assert xs.min() >= x1 - 0.5 * (x2 - x1) and xs.max() <= x2 + 0.5 * (x2 - x1)
    nose_x = IBUG68.point(fs.landmarks, "nose_tip")[0]
    assert np.mean(xs < nose_x) > 0.8  # turned to image left: the left half is rebuilt
    out = swapper.swap_image(source, target).image
    face = polygon_mask(target.shape[:2], face_polygon(ft.landmarks)) > 0
    assert np.abs(out.astype(int) - target.astype(int))[face].mean() > 5


def test_source_detail_is_softened_to_the_targets_and_a_soft_source_takes_the_targets_grain():
    """A sharp, high-contrast source on a soft target: its fine and mid detail scaled down to the
    target's (over skin); a target with more fine detail than the source lends its grain."""
    import cv2

    from twoface.blend import match_detail

    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.uniform(40, 70, (200, 200)).astype(np.float32), (0, 0), 20)
    sharp = base * np.exp(rng.normal(0, 0.08, base.shape)).astype(np.float32)
    soft = base * np.exp(cv2.GaussianBlur(rng.normal(0, 0.08, base.shape), (0, 0), 2)).astype(
        np.float32
    )
    skin = np.ones(base.shape, bool)

    def fine(lum):
        log = np.log(lum)
        return float((log - cv2.GaussianBlur(log, (0, 0), 1.6)).std())

    out = match_detail(sharp, soft, skin, face_w=200)
    # Scaled down as far as the floor allows (0.3: a trace of the source's texture stays).
    assert fine(soft) < fine(out) <= 0.32 * fine(sharp)
    # The target is the sharper one: the source's own detail is not scaled up; the target's
    # grain makes up the fine band's missing energy (what a small source scaled up has lost).
    grained = match_detail(soft, sharp, skin, face_w=200)
    assert abs(fine(grained) - fine(sharp)) < 0.1 * fine(sharp)
    blur = 8.0  # ... and nothing coarser than the fine band moves
    assert (
        np.abs(
            cv2.GaussianBlur(np.log(grained), (0, 0), blur)
            - cv2.GaussianBlur(np.log(soft), (0, 0), blur)
        ).max()
        < 0.01
    )


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _group_mask(shape, lm, group: str) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    hull = cv2.convexHull(IBUG68.group(lm, group).astype(np.float32))
    cv2.fillConvexPoly(m, np.round(hull).astype(np.int32), 1)
    return m > 0


def _grown(shape, lm, group: str, grow: float) -> np.ndarray:
    """A landmark group's hull grown by `grow` face widths (at least a pixel)."""
    m = _group_mask(shape, lm, group).astype(np.uint8)
    steps = max(1, int(grow * IBUG68.face_width(lm)))
    return cv2.dilate(m, np.ones((3, 3), np.uint8), iterations=steps) > 0


@pytest.mark.parametrize("target", ["hepburn1_bw.png", "einstein1_bw_sidelight_old.png"])
def test_a_greyscale_target_stays_grey(swapper, hard, photos, target):
    """The source's colourful eyes, lips and skin are brought down to the target's palette
    (session 4: blue eyes and brows, chroma p99 16-20 inside the face; now 2-3)."""
    tgt = rgb(hard / target)
    ft = _face(swapper, tgt)
    out = swapper.swap_image(photos / "obama.jpg", tgt).image
    face = polygon_mask(tgt.shape[:2], face_polygon(ft.landmarks)) > 0
    chroma = np.linalg.norm(_lab(out)[..., 1:], axis=-1)[face]
    assert np.percentile(chroma, 99) < 5.0
    assert np.abs(out.astype(int) - tgt.astype(int))[face].mean() > 5  # the face did change


@pytest.mark.parametrize("target", ["rdj2_yaw30_stubble.webp", "hand_over_eye_woman.jpg"])
def test_dark_brows_keep_their_colour(swapper, hard, photos, target):
    """The skin's colour offset no longer turns dark brows blue: the a*b* shift of the brow
    area against the target's stays small (before: 9.8 and 6.6; now 4.8 and 3.4)."""
    tgt = rgb(hard / target)
    ft = _face(swapper, tgt)
    out = swapper.swap_image(photos / "obama.jpg", tgt).image
    brows = _group_mask(tgt.shape[:2], ft.landmarks, "brows")
    shift = _lab(out)[brows].mean(0) - _lab(tgt)[brows].mean(0)
    assert np.linalg.norm(shift[1:]) < 6.0, shift


def test_lips_take_the_targets_colour(swapper, hard):
    """Pale source lips on a darker, redder face were made red by the skin's offset (a*b* shift
    of the lips 9.1); the lips now take their own offset (0.8)."""
    tgt = rgb(hard / "dark_skin_woman.jpg")
    lm = _face(swapper, tgt).landmarks
    out = swapper.swap_image(hard / "roblowe2_frontal.jpg", tgt).image
    lips = _group_mask(tgt.shape[:2], lm, "mouth_outer") & ~_group_mask(
        tgt.shape[:2], lm, "mouth_inner"
    )
    shift = _lab(out)[lips].mean(0) - _lab(tgt)[lips].mean(0)
    assert np.linalg.norm(shift[1:]) < 3.0, shift


def test_a_face_mask_on_the_target_stays(swapper, hard, photos):
    """A white face mask is near a pale skin's chroma but has almost none of its own; it is
    no longer learnt as the skin (the cheeks under it are outvoted by the skin sampled below the
    eyes, between them and on the forehead, and left out for their low chroma), and the source's
    mouth is not forced onto it: round the mouth the output differs from the target by 0.7
    levels (session 4: 5.6)."""
    tgt = rgb(hard / "face_mask_woman.png")
    lm = _face(swapper, tgt).landmarks
    out = swapper.swap_image(photos / "obama.jpg", tgt).image
    fw = IBUG68.face_width(lm)
    mouth = _group_mask(tgt.shape[:2], lm, "mouth_outer").astype(np.uint8)
    around = cv2.dilate(mouth, np.ones((3, 3), np.uint8), iterations=int(0.08 * fw)) > 0
    assert np.abs(out.astype(int) - tgt.astype(int))[around].mean() < 2.0
    face = polygon_mask(tgt.shape[:2], face_polygon(lm)) > 0
    changed = np.abs(out.astype(int) - tgt.astype(int)).max(-1) > 8
    # Nowhere on the cloth: with both cheeks under it, the skin's colour was a blend of cloth
    # and skin and the source's nose and lips showed through in spots (8.5% of the cloth
    # changed by more than 8 levels; now 0.3%).
    lab_t = _lab(tgt)
    rows = np.mgrid[0 : tgt.shape[0], 0 : tgt.shape[1]][0]
    white = (np.linalg.norm(lab_t[..., 1:], axis=-1) < 4) & (lab_t[..., 0] > 75)
    cloth = face & (rows > lm[29, 1]) & white
    assert cloth.sum() > 20000
    assert changed[cloth].mean() < 0.02
    # The skin that shows was swapped (little does: the cloth, hair over a brow, and eyes that
    # look aside, which stay the target's: 6% of the rest of the face changed).
    assert changed[face & ~around & ~cloth].mean() > 0.03


def test_a_head_tilted_far_back_keeps_its_eyes(swapper, hard):
    """A frontal source on a head tilted far back: the source's eyes, warped that far, smeared
    into doubled eyes (mean change in the eye areas 34 levels); the target's eyes now mostly
    stay (10), while the face still changes."""
    tgt = rgb(hard / "pitch_up_woman.jpg")
    lm = _face(swapper, tgt).landmarks
    out = swapper.swap_image(hard / "roblowe2_frontal.jpg", tgt).image
    fw = IBUG68.face_width(lm)
    for group in ("eye_left", "eye_right"):
        eye = _group_mask(tgt.shape[:2], lm, group).astype(np.uint8)
        eye = cv2.dilate(eye, np.ones((3, 3), np.uint8), iterations=max(1, int(0.03 * fw)))
        assert np.abs(out.astype(int) - tgt.astype(int))[eye > 0].mean() < 15, group
    face = polygon_mask(tgt.shape[:2], face_polygon(lm)) > 0
    assert np.abs(out.astype(int) - tgt.astype(int))[face].mean() > 5


def test_two_open_mouths_keep_the_targets_whole_mouth(swapper, hard, photos):
    """A smiling source (teeth showing, thin lips) on a surprised open mouth: the source's
    lip band carried its teeth onto the target's lips (mean change in the mouth 21 levels);
    now the target's whole mouth stays (0.1)."""
    tgt = rgb(hard / "open_mouth_surprised_man.jpg")
    lm = _face(swapper, tgt).landmarks
    out = swapper.swap_image(photos / "obama.jpg", tgt).image
    mouth = _group_mask(tgt.shape[:2], lm, "mouth_outer")
    assert np.abs(out.astype(int) - tgt.astype(int))[mouth].mean() < 3
    face = polygon_mask(tgt.shape[:2], face_polygon(lm)) > 0
    assert np.abs(out.astype(int) - tgt.astype(int))[face].mean() > 5


def test_an_eye_fitted_onto_the_background_is_not_painted(swapper, hard, photos):
    """dlib fits a 90-degree profile as a turned face and puts the far eye out on the dark
    background, where the source's eye was painted (mean change there 7.7 levels, a floating
    eye in the grid); an eye whose surroundings show no skin is no feature now (0.0), while
    the near eye is still swapped."""
    tgt = rgb(hard / "profile90_oldman_sidelight.jpg")
    lm = _face(swapper, tgt).landmarks
    out = swapper.swap_image(photos / "obama.jpg", tgt).image
    change = {}
    for group in ("eye_left", "eye_right"):
        eye = _grown(tgt.shape[:2], lm, group, 0.03)
        change[group] = np.abs(out.astype(int) - tgt.astype(int))[eye].mean()
    assert change["eye_left"] < 1.0 and change["eye_right"] > 5.0, change


def test_the_light_is_measured_on_skin_in_shadow_too():
    """A side-lit face: its shadowed half is too dark for the skin test, and the light measured
    on the lit skin alone carried that light into the shadow (a bright patch on a dark cheek).
    Skin in any light (same hue, chroma falling with lightness) now counts for the shading, and
    the shadowed half of the output takes the target's lightness."""
    from twoface.blend import transfer_tone
    from twoface.swap.skin import SkinModel

    h, w = 60, 80
    skin_lab = np.array([65.0, 18.0, 20.0], np.float32)
    target = np.tile(skin_lab, (h, w, 1))
    target[:, w // 2 :] *= np.array([0.35, 0.35, 0.35], np.float32)  # the shadowed half
    source = np.tile(np.array([60.0, 15.0, 22.0], np.float32), (h, w, 1))
    model = SkinModel(skin_lab, np.array([8.0, 3.0, 3.0], np.float32))
    lit_only = model.skin(target)
    any_light = model.skin(target, any_light=True)
    assert lit_only[:, : w // 2].all() and not lit_only[:, w // 2 :].any()
    assert any_light.all()
    before = transfer_tone(source, target, lit_only, sigma=6.0)
    after = transfer_tone(source, target, lit_only, sigma=6.0, shading=any_light)
    shadow = (slice(None), slice(w // 2 + 10, None))  # away from the edge's blur
    want = _lab(cv2.cvtColor(target, cv2.COLOR_LAB2RGB) * 255)[shadow][..., 0].mean()
    got_before = _lab(before)[shadow][..., 0].mean()
    got_after = _lab(after)[shadow][..., 0].mean()
    assert abs(got_after - want) < 2.0 < abs(got_before - want), (want, got_before, got_after)


def test_a_mouth_in_a_beard_is_not_carried_over(swapper, hard):
    """A goatee and moustache round the source's mouth: its lips, carried with the hair round
    them, made a dark band on a clean-shaven target (mean change round the mouth 57 levels,
    L* -13); the target now keeps its own mouth (3.0) while the rest of the face is swapped."""
    tgt = rgb(hard / "frontal_neutral_man.jpg")
    lm = _face(swapper, tgt).landmarks
    out = swapper.swap_image(hard / "rdj1_frontal_goatee.webp", tgt).image
    mouth = _grown(tgt.shape[:2], lm, "mouth_outer", 0.03)
    diff = np.abs(out.astype(int) - tgt.astype(int))
    assert diff[mouth].mean() < 6.0
    face = polygon_mask(tgt.shape[:2], face_polygon(lm)) > 0
    assert diff[face & ~mouth].mean() > 8.0


@pytest.mark.parametrize(
    ("target", "hidden", "shown"),
    [
        ("hand_over_eye_woman.jpg", ("eye_left", "brow_left"), "eye_right"),
        # (Its eyes stay the target's: obama's smiling eyes are far less open than these.)
        ("glasses_beard_mic_occlusion.png", ("mouth_outer",), "nose"),
    ],
)
def test_features_under_a_hand_keep_the_hand(swapper, hard, photos, target, hidden, shown):
    """Fingers over an eye, or round a microphone over the mouth, are skin-coloured: the source's
    eye and brow were painted on the fingers (mean change 48 and 17 levels) and its teeth on
    the hand (21). A covered eye (mostly skin, nothing dark) or mouth (no redder than the skin)
    is no feature now and keeps the target's pixels (0.0-0.3); the rest still swaps."""
    tgt = rgb(hard / target)
    lm = _face(swapper, tgt).landmarks
    out = swapper.swap_image(photos / "obama.jpg", tgt).image
    diff = np.abs(out.astype(int) - tgt.astype(int))

    def change(group):
        return diff[_grown(tgt.shape[:2], lm, group, 0.03)].mean()

    for group in hidden:
        assert change(group) < 2.0, group
    assert change(shown) > 5.0


def test_the_warp_keeps_every_triangle_of_float64_points():
    """Subdiv2D keeps float32 coordinates; points computed in float64 (the ring round the jaw,
    a scaled-down large face's landmarks) were looked up as they were and never found, so the
    warp lost its triangles (all of them on 9 of the 33 shared targets)."""
    from twoface.swap.classical import _triangles

    rng = np.random.default_rng(3)
    points = rng.uniform(0, 200, (40, 2)) + 1 / 3  # not representable in float32
    exact = points.astype(np.float32).astype(np.float64)
    assert len(_triangles(points, 200, 200)) == len(_triangles(exact, 200, 200)) >= 60


def test_a_frontal_source_is_not_stretched_over_a_turned_cheek(swapper, hard, photos):
    """obama.jpg on profile75_woman: his cheek, spread over her wide near cheek, showed a
    stretched fold and shine (low-frequency lightness error inside the face 2.67); where the
    warp stretches the source far past the face's scale her skin stays (1.19) while the brows
    still come from the source (her eyes and mouth stay hers here: pose and gaze differ)."""
    tgt = rgb(hard / "profile75_woman.jpg")
    lm = _face(swapper, tgt).landmarks
    out = swapper.swap_image(photos / "obama.jpg", tgt).image
    fw = IBUG68.face_width(lm)
    face = polygon_mask(tgt.shape[:2], face_polygon(lm)) > 0

    def low(image):
        return cv2.GaussianBlur(_lab(image)[..., 0], (0, 0), 0.08 * fw)

    assert np.abs(low(out) - low(tgt))[face].mean() < 1.8
    brows = _group_mask(tgt.shape[:2], lm, "brows")
    assert np.abs(out.astype(int) - tgt.astype(int))[brows].mean() > 8


@pytest.mark.parametrize(
    ("source", "target", "bound"),
    [
        ("photos/obama.jpg", "hard/frontal_neutral_man.jpg", 4.0),
        ("photos/obama.jpg", "hard/open_mouth_surprised_man.jpg", 3.0),
    ],
)
def test_the_swap_keeps_the_targets_light(swapper, hard, source, target, bound):
    """The clone used to be pinned to the target along the whole mask edge -- hair, stubble,
    the background -- and pulled the whole face darker than the tone transfer made it: the
    low-frequency lightness error inside the face was 7.0 and 5.3 L* on these pairs (the face
    visibly darker and greyer). Pinned only where both faces show skin, and only near the
    edge: 3.0 and 1.2."""
    tgt = rgb(hard.parent / target)
    lm = _face(swapper, tgt).landmarks
    out = swapper.swap_image(hard.parent / source, tgt).image
    fw = IBUG68.face_width(lm)
    face = polygon_mask(tgt.shape[:2], face_polygon(lm)) > 0

    def low(image):
        return cv2.GaussianBlur(_lab(image)[..., 0], (0, 0), 0.08 * fw)

    assert np.abs(low(out) - low(tgt))[face].mean() < bound


def test_the_seam_is_mended_only_where_both_faces_show_skin():
    """membrane_paste: along the trusted part of the edge the result meets the target; a dark
    untrusted stretch of edge (hair) pulls nothing; beyond `reach` the source is untouched."""
    from twoface.blend import membrane_paste

    h, w = 120, 160
    target = np.full((h, w, 3), 150, np.uint8)
    target[:, w // 2 + 30 :] = 20  # the target's hair along the right part of the edge
    source = np.full((h, w, 3), 170, np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[20:100, 20:140] = 1
    trusted = np.zeros((h, w), bool)
    trusted[:, : w // 2] = True
    out = membrane_paste(source, target, mask, trusted, reach=25).astype(int)
    assert abs(out[60, 22, 0] - 150) <= 2  # the trusted edge meets the target
    assert abs(out[60, 70, 0] - 170) <= 1  # beyond the reach: the source
    assert out[60, 137, 0] >= 145  # no pull towards the hair at the untrusted edge
    assert (out[mask == 0] == target[mask == 0]).all()


def test_skin_in_shade_is_skin_and_a_beard_is_not(swapper, hard):
    """The plain skin test calls a cheek's shadow beside the nose too dark: kept as an occluder
    it left the target's own patch inside the swap. `shaded_skin` takes smooth shade of the
    skin's hue back (at the engine's working size); beards and a face mask stay out."""
    from twoface.schemes import scheme_of
    from twoface.swap.skin import SkinModel, lab, shaded_skin

    def shares(name, corners):
        image = rgb(hard / name)
        lm = _face(swapper, image).landmarks.astype(np.float64)
        scheme = scheme_of(lm)
        scale = min(1.0, 320 / scheme.face_width(lm))
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        lm = lm * scale
        image_lab = lab(image)
        model = SkinModel.fit(image_lab, lm, scheme)
        plain = model.skin(image_lab)
        shade = shaded_skin(model, image_lab, lm, scheme, scheme.face_width(lm))
        region = np.zeros(image.shape[:2], np.uint8)
        hull = cv2.convexHull(lm[corners].astype(np.float32))
        cv2.fillConvexPoly(region, np.round(hull).astype(np.int32), 1)
        region = region > 0
        return plain[region].mean(), (plain | shade)[region].mean()

    cheek = [35, 42, 45, 54, 13, 14, 15]  # the image-right cheek beside the nose
    chin = [57, 55, 59, 6, 7, 8, 9, 10]  # below the lower lip: a beard's place
    nose = [27, 31, 33, 35]
    before, after = shares("frontal_neutral_man.jpg", cheek)
    assert after > before + 0.1, (before, after)  # 0.77 -> 0.90
    for name, corners in (
        ("rdj1_frontal_goatee.webp", chin),
        ("sidelight_beard_yaw_man.png", chin),
        ("face_mask_woman.png", nose),
    ):
        before, after = shares(name, corners)
        assert after - before < 0.03, (name, before, after)


def test_a_filled_occluder_takes_the_targets_grain():
    """A source's beard is filled from its skin round it; flat, the fill read as a smooth
    beige patch next to the target's stubble. With the target's texture it carries the
    target's fine detail, and its tone stays the fill's."""
    from twoface.swap.classical import fill_from_skin

    rng = np.random.default_rng(1)
    h, w, face_w = 160, 160, 150.0
    source = np.zeros((h, w, 3), np.float32)
    source[..., 0], source[..., 1:] = 60.0, 15.0
    holes = np.zeros((h, w), bool)
    holes[50:110, 50:110] = True
    source[holes, 0] = 20.0  # the beard
    target = source.copy()
    target[..., 0] = 70.0 * np.exp(rng.normal(0, 0.1, (h, w))).astype(np.float32)
    flat = fill_from_skin(source, holes, ~holes, face_w)
    grained = fill_from_skin(source, holes, ~holes, face_w, texture=target)
    core = (slice(60, 100), slice(60, 100))

    def fine(lum):
        log = np.log(lum)
        return float((log - cv2.GaussianBlur(log, (0, 0), 3.0))[core].std())

    assert fine(flat[..., 0]) < 0.01
    assert fine(grained[..., 0]) > 0.5 * fine(target[..., 0])
    assert abs(float(np.median(grained[core][..., 0])) - 60.0) < 3.0


def test_small_bright_blobs_are_highlights_and_large_or_dark_ones_occluders():
    from twoface.swap.skin import highlights

    face_w = 100.0
    skin = np.ones((200, 200), bool)
    light = np.full((200, 200), 50.0, np.float32)
    skin[10:20, 10:25] = False  # a shine: small and bright
    light[10:20, 10:25] = 90.0
    skin[100:190, 20:190] = False  # a white face mask: bright but large
    light[100:190, 20:190] = 90.0
    skin[40:50, 100:110] = False  # a dark blob (a mole, hair): small but dark
    light[40:50, 100:110] = 15.0
    found = highlights(skin, light, 50.0, face_w)
    assert found[10:20, 10:25].all()
    assert not found[100:190, 20:190].any()
    assert not found[40:50, 100:110].any()
    assert not found[skin].any()


@pytest.mark.parametrize("target", ["frontal_neutral_man.jpg", "open_mouth_surprised_man.jpg"])
def test_a_dim_source_eye_leaves_no_dark_hole(swapper, hard, target):
    """sidelight_beard_yaw_man.png's eyes, one in the side light's shadow and one under low lids
    looking down, came out as dark holes in open, lit eyes (mean L* inside the eye outlines
    50-56 -> 17-20). Far darker than the target's, the target keeps its eyes."""
    tgt = rgb(hard / target)
    lm = _face(swapper, tgt).landmarks
    out = swapper.swap_image(hard / "sidelight_beard_yaw_man.png", tgt).image
    for eye in ("eye_left", "eye_right"):
        inside = _group_mask(tgt.shape[:2], lm, eye)
        before, after = _lab(tgt)[inside][..., 0].mean(), _lab(out)[inside][..., 0].mean()
        assert abs(after - before) < 6.0, (eye, before, after)


@pytest.mark.parametrize(
    ("target", "bound"),
    [("frontal_neutral_man.jpg", 1.0), ("kun1_bangs.png", 1.3), ("pitch_up_woman.jpg", 1.7)],
)
def test_a_smiles_folds_are_not_pasted_on_a_face_that_does_not_smile(
    swapper, hard, photos, target, bound
):
    """obama.jpg smiles: his folds and creases, carried onto neutral faces, made them look old
    and strained. The detail (finer than 0.04 face widths) on the cheeks, away from the
    features, over the target's own: 1.20 / 1.44 / 2.89 before, 0.84 / 1.13 / 1.49 now."""
    from twoface.swap.classical import _cheeks

    tgt = rgb(hard / target)
    lm = _face(swapper, tgt).landmarks.astype(np.float64)
    out = swapper.swap_image(photos / "obama.jpg", tgt).image
    fw = IBUG68.face_width(lm)
    cheeks = _cheeks(tgt.shape[:2], lm, IBUG68, fw) > 0.5

    def detail(image):
        log = np.log(np.maximum(_lab(image)[..., 0], 1.0))
        return (log - cv2.GaussianBlur(log, (0, 0), 0.04 * fw))[cheeks].std()

    assert detail(out) < bound * detail(tgt)


def test_local_gain_follows_the_targets_detail_place_by_place():
    from twoface.blend import local_gain

    rng = np.random.default_rng(2)
    band_s = rng.normal(0, 0.1, (100, 200)).astype(np.float32)
    band_t = band_s.copy()
    band_t[:, 100:] *= 0.25  # the target is smooth on its right half
    gain = local_gain(band_t, band_s, face_w=100.0)
    assert gain[:, :80].min() > 0.95  # as detailed as the source: untouched
    assert abs(float(np.median(gain[:, 130:])) - 0.25) < 0.05
    assert gain.min() >= 0.1  # never below the floor


def test_a_still_keeps_or_swaps_eyes_never_a_blend_of_both(swapper, hard, photos):
    """obama.jpg's smiling eyes (openness 0.25) on glasses_beard_mic's open ones (0.38): the
    eyes rule read 0.63 and the still showed 63% of the target's eyes over 37% of the source's,
    a doubled eye. A still decides: here the target keeps its eyes, untouched."""
    tgt = rgb(hard / "glasses_beard_mic_occlusion.png")
    lm = _face(swapper, tgt).landmarks
    out = swapper.swap_image(photos / "obama.jpg", tgt).image
    diff = np.abs(out.astype(int) - tgt.astype(int))
    for eye in ("eye_left", "eye_right"):
        assert diff[_group_mask(tgt.shape[:2], lm, eye)].mean() < 1.0, eye


def test_a_bright_source_on_a_face_in_the_dark_takes_its_light():
    """L* 65 onto L* 10: the local light ratio was clamped at 0.4 round 1, leaving the face at
    26; it is now bounded round the faces' overall ratio."""
    from twoface.blend import transfer_tone

    rng = np.random.default_rng(3)
    h, w = 80, 80
    source = np.zeros((h, w, 3), np.float32)
    source[..., 0] = 65 + rng.normal(0, 2, (h, w))
    source[..., 1:] = (15, 20)
    target = source.copy()
    target[..., 0] = 10 + rng.normal(0, 0.5, (h, w))
    skin = np.ones((h, w), bool)
    out = _lab(transfer_tone(source, target, skin, sigma=8.0))
    assert abs(float(np.median(out[..., 0])) - 10.0) < 2.0


def test_a_hand_over_the_sources_eye_is_not_carried_over(swapper, hard):
    """hand_over_eye_woman.jpg as the source: her fingers over one eye were warped onto the
    target's eye (kun1_bangs: a brown patch of fingers over it, mean change 43 levels). The
    source's covered eye is found on its photo; the target keeps its own eye there."""
    tgt = rgb(hard / "kun1_bangs.png")
    lm = _face(swapper, tgt).landmarks
    out = swapper.swap_image(hard / "hand_over_eye_woman.jpg", tgt).image
    diff = np.abs(out.astype(int) - tgt.astype(int))
    # (Her covered eye lands on the target's eye_right here.)
    assert diff[_grown(tgt.shape[:2], lm, "eye_right", 0.03)].mean() < 2.0
    assert diff[_grown(tgt.shape[:2], lm, "eye_left", 0.03)].mean() > 5.0  # the other swaps


MORE = SHARED / "data" / "more"


def _more(name: str):
    path = MORE / name
    if not path.is_file():
        pytest.skip(f"{path} not found (set TWOFACE_SHARED)")
    return path


def test_a_greyscale_source_takes_the_targets_colour(swapper, photos):
    """A greyscale or sepia source on a colour target gave a grey, blue-grey face (chroma p95
    24 on biden): the colour is the target's, place by place (now ~2)."""
    target = rgb(photos / "biden.jpg")
    out = swapper.swap_image(_more("codeformer_gray_faces_Hepburn02.png"), target).image
    assert chroma_anomaly(out, target, _face(swapper, target).landmarks) < 6


def test_a_face_over_the_fault_limits_gets_a_softer_blend_and_says_so(swapper, photos):
    """obama.jpg's light on a side-lit greyscale child (RDJ) left pale and dark patches with
    hard edges (blotch 23, seam 25): the engine's check gives that face a softer blend
    (blotch ~9) and a note."""
    from twoface.quality import blotch

    target = rgb(_more("codeformer_gray_faces_132_Robert_Downey_Jr_00.png"))
    result = swapper.swap_image(photos / "obama.jpg", target)
    assert blotch(result.image, target, _face(swapper, target).landmarks) < 14
    assert any("softer blend" in n or "conservative blend" in n for n in result.details)
    assert result.unchanged == []
