"""Each stage of the classical engine (twoface.swap.classical.stages) alone, on drawn faces:
a rule's decision, not a whole swap. Fast tier."""

from __future__ import annotations

from functools import partial

import cv2
import numpy as np
import pytest

from twoface.schemes import IBUG68
from twoface.swap.base import RunState
from twoface.swap.classical import stages as st
from twoface.swap.classical.engine import stages_for
from twoface.swap.classical.geometry import WARP
from twoface.swap.classical.parts import region
from twoface.swap.classical.traits import SourceTraits
from twoface.swap.classical.work import Context, EngineOptions, Mode, Work, mark_live, mode_of
from twoface.swap.skin import lab

SKIN = (205, 150, 120)


def landmarks(cx=100.0, ey=100.0, w=120.0, eye_open=0.3, mouth_open=0.0, dx=0.0) -> np.ndarray:
    """A 68-point (ibug) face: `w` ear to ear, eyes on the line y = ey, features shifted `dx`
    face widths sideways (a turned head)."""
    pts = np.zeros((68, 2))
    a = np.pi * np.arange(17) / 16
    pts[:17] = np.stack([cx - w / 2 * np.cos(a), ey + 0.8 * w * np.sin(a)], 1)
    fx = cx + dx * w
    bx = np.linspace(0.38, 0.08, 5)
    arch = np.array([0.0, -0.03, -0.04, -0.03, 0.0]) * w
    pts[17:22] = np.stack([fx - bx * w, ey - 0.16 * w + arch], 1)
    pts[22:27] = np.stack([fx + bx[::-1] * w, ey - 0.16 * w + arch[::-1]], 1)
    pts[27:31] = np.stack([np.full(4, fx), ey + np.linspace(0.0, 0.3, 4) * w], 1)
    pts[31:36] = np.stack([fx + np.linspace(-0.1, 0.1, 5) * w, ey + 0.36 * w + np.zeros(5)], 1)
    for k, c in ((36, fx - 0.2 * w), (42, fx + 0.2 * w)):
        ew, eh = 0.14 * w, eye_open * 0.14 * w / 2
        pts[k : k + 6] = [
            (c - ew / 2, ey),
            (c - ew / 6, ey - eh),
            (c + ew / 6, ey - eh),
            (c + ew / 2, ey),
            (c + ew / 6, ey + eh),
            (c - ew / 6, ey + eh),
        ]
    my, mw = ey + 0.55 * w, 0.36 * w
    gap = mouth_open * mw / 2
    t = np.linspace(0, np.pi, 7)
    upper = np.stack([fx - mw / 2 * np.cos(t), my - gap - 0.05 * w * np.sin(t)], 1)
    lower = np.stack([fx + mw / 2 * np.cos(t[1:-1]), my + gap + 0.06 * w * np.sin(t[1:-1])], 1)
    pts[48:55], pts[55:60] = upper, lower
    ti = np.linspace(0, np.pi, 5)
    pts[60:65] = np.stack([fx - 0.3 * w * np.cos(ti), my - gap + 0 * ti], 1)
    pts[65:68] = np.stack([fx + 0.3 * w * np.cos(ti[1:-1]), my + gap + 0 * ti[1:-1]], 1)
    return pts


def draw(lm: np.ndarray, size=(220, 200), skin=SKIN, seed=0) -> np.ndarray:
    """A face drawn at `lm`: skin with a little grain, white eyes with dark irises, dark brows,
    red lips, on a blue-grey background."""
    rng = np.random.default_rng(seed)
    img = np.zeros((*size, 3), np.float32)
    img[:] = (70, 90, 120)
    outline = np.concatenate([lm[:17], lm[17:27][::-1] - (0, 0.12 * IBUG68.face_width(lm))])
    cv2.fillPoly(img, [np.round(cv2.convexHull(outline.astype(np.float32))).astype(np.int32)], skin)
    img += rng.normal(0, 3, img.shape).astype(np.float32)
    for k in (36, 42):
        eye = np.round(lm[k : k + 6]).astype(np.int32)
        cv2.fillConvexPoly(img, cv2.convexHull(eye), (235, 235, 230))
        c = lm[k : k + 6].mean(0)
        cv2.circle(img, tuple(int(v) for v in np.round(c)), 3, (40, 30, 25), -1)
    for k in (17, 22):
        cv2.polylines(img, [np.round(lm[k : k + 5]).astype(np.int32)], False, (60, 40, 30), 3)
    cv2.fillPoly(img, [np.round(lm[48:60]).astype(np.int32)], (180, 70, 80))
    if np.linalg.norm(lm[62] - lm[66]) > 2:
        cv2.fillPoly(img, [np.round(lm[60:68]).astype(np.int32)], (50, 20, 25))
    return np.clip(img, 0, 255).astype(np.uint8)


def traits(**kw) -> SourceTraits:
    base = dict(
        fringe=False,
        glasses=False,
        skin=np.ones((220, 200), np.float32),
        holes=np.zeros((220, 200), np.float32),
        scale=1.0,
        mouth_covered=False,
        eye_light=(1.0, 1.0),
        hidden=(),
    )
    base.update(kw)
    return SourceTraits(**base)


def context(mode=Mode.STILL, run=None, track=None, **options) -> Context:
    track = track if track is not None or mode is Mode.STILL else 1
    return Context(mode, IBUG68, run or RunState(), EngineOptions(**options), track)


def work_for(target=None, source=None, t_lm=None, s_lm=None) -> Work:
    t_lm = landmarks() if t_lm is None else t_lm
    s_lm = t_lm if s_lm is None else s_lm
    target = draw(t_lm) if target is None else target
    source = draw(s_lm, skin=(170, 120, 95), seed=1) if source is None else source
    return Work(target, t_lm, source, s_lm, IBUG68.face_width(t_lm))


def _skin(work: Work, ctx: Context, tr: SourceTraits | None) -> Work:
    work = st.skin_models(work, ctx, WARP.work_face)
    if tr is not None:
        work.traits = tr
    return work


def upto(work: Work, ctx: Context, last, tr=None) -> Work:
    """`work` through the engine's own stages (before `check`) up to `last` ("skin": the skin
    models, which take the drawn source's traits `tr`)."""
    for stage in stages_for()[:-1]:
        skin = isinstance(stage, partial)  # skin_models, bound to the working face size
        work = _skin(work, ctx, tr) if skin else stage(work, ctx)
        if stage is last or (skin and last == "skin"):
            return work
    return work


def eye_mean(work: Work, mask: np.ndarray) -> float:
    eyes = region(work.crop.shape[:2], work.lm, IBUG68, ("eye_left", "eye_right"), work.face_w, 0)
    return float(mask[eyes > 0.5].mean())


# -- mode ---------------------------------------------------------------------------------------


def test_the_mode_is_a_still_without_a_track_and_live_when_the_run_says_so():
    run = RunState()
    assert mode_of(run, None) is Mode.STILL
    assert mode_of(run, 3) is Mode.VIDEO
    mark_live(run)
    assert mode_of(run, 3) is Mode.LIVE and Mode.LIVE.moving and not Mode.STILL.moving


# -- fit ----------------------------------------------------------------------------------------


def test_landmarks_that_do_not_fit_the_detectors_face_leave_it_as_it_is():
    work = work_for()
    kps = IBUG68.five_points(work.lm).astype(np.float64)
    work.kps = kps + (1.5, -1.0)  # a detector's points close to the landmarks' own
    assert not st.fit(work, context()).done
    # A frontal fit beside the face the detector found (a profile): its points 0.2 face
    # widths away.
    moved = work_for()
    moved.kps = kps + (0.2 * moved.face_w, 0.0)
    out = st.fit(moved, context())
    assert out.done and "left as it is" in out.notes[0]
    # In a video the decision is smoothed per person: one stray frame does not drop the face.
    run = RunState()
    first = work_for()
    first.kps = kps
    assert not st.fit(first, context(Mode.VIDEO, run)).done
    stray = work_for()
    stray.kps = kps + (0.2 * stray.face_w, 0.0)
    assert not st.fit(stray, context(Mode.VIDEO, run)).done and not stray.notes


# -- warp ---------------------------------------------------------------------------------------


def test_the_warp_brings_the_source_onto_the_targets_geometry():
    t_lm = landmarks()
    s_lm = landmarks(cx=90, ey=95, w=100)  # smaller and elsewhere in its photo
    work = upto(work_for(t_lm=t_lm, s_lm=s_lm, source=draw(s_lm)), context(), st.warp)
    # The source's eyes land on the target's eyes, its lips on the target's lips: the same
    # drawing at the target's place.
    drawn = draw(t_lm)
    for group in ("eye_left", "eye_right", "mouth_outer"):
        inside = region(work.crop.shape[:2], t_lm, IBUG68, (group,), work.face_w, 0) > 0.9
        d = np.abs(work.warped[inside].astype(float) - drawn[inside].astype(float)).mean()
        assert d < 30, (group, d)


def test_a_moving_face_keeps_only_the_triangles_between_landmarks():
    t_lm = landmarks()
    s_lm = landmarks()
    s_lm[5:12, 1] += 12  # a longer chin: the ring's triangles are no similarity
    still = upto(work_for(t_lm=t_lm, s_lm=s_lm), context(), st.warp)
    video = upto(work_for(t_lm=t_lm, s_lm=s_lm), context(Mode.VIDEO), st.warp)
    # Beyond the jaw the video follows the one similarity (a straight map), the still the ring.
    y, x = 206, 100  # below the chin, within the ring
    fx = video.fallback @ np.array([x, y, 1.0])
    assert np.allclose([video.map_x[y, x], video.map_y[y, x]], fx, atol=1e-3)
    assert not np.allclose([still.map_x[y, x], still.map_y[y, x]], fx, atol=0.5)


# -- skin -------------------------------------------------------------------------------------


def test_the_skin_models_call_the_cheeks_skin_and_the_eyes_not():
    work = upto(work_for(), context(), "skin")
    cheek = (100 - 35, 100 + 25)  # (x, y) on the left cheek
    assert work.skin_t[cheek[1], cheek[0]] and work.skin_s[cheek[1], cheek[0]]
    assert eye_mean(work, work.skin_t) < 0.3
    assert work.skin_t_any is not None
    moving = upto(work_for(), context(Mode.VIDEO), "skin")
    assert moving.skin_t_any is None and moving.skin_s_any is None  # stills only


# -- pose ---------------------------------------------------------------------------------------


def test_poses_apart_blend_more_softly():
    t_lm = landmarks()
    same = upto(work_for(t_lm=t_lm), context(), st.pose_mask)
    turned = upto(work_for(t_lm=t_lm, s_lm=landmarks(dx=0.3)), context(), st.pose_mask)
    assert turned.yaw_gap > 0.4

    def partial(m):
        return int(((m > 0.05) & (m < 0.95)).sum())

    assert partial(turned.soft) > 1.3 * partial(same.soft)


def test_an_open_source_mouth_leaves_the_target_its_mouth():
    t_lm = landmarks()
    work = upto(work_for(t_lm=t_lm, s_lm=landmarks(mouth_open=0.4)), context(), st.pose_mask)
    assert work.source_open
    mouth = region(work.crop.shape[:2], t_lm, IBUG68, ("mouth_outer",), work.face_w, 0) > 0.9
    assert work.soft[mouth].max() < 0.2


# -- eyes ---------------------------------------------------------------------------------------


def test_a_still_keeps_closed_target_eyes_outright():
    t_lm = landmarks(eye_open=0.1)
    work = upto(work_for(t_lm=t_lm, s_lm=landmarks(eye_open=0.35)), context(), st.eye_rules)
    assert eye_mean(work, work.soft) < 0.05
    open_eyes = upto(work_for(), context(), st.eye_rules)
    assert eye_mean(open_eyes, open_eyes.soft) > 0.9


def test_a_video_smooths_the_eye_decision_over_frames():
    run = RunState()
    closed, opened = landmarks(eye_open=0.1), landmarks(eye_open=0.35)
    ctx = context(Mode.VIDEO, run)
    first = upto(work_for(t_lm=closed, s_lm=opened), ctx, st.eye_rules)
    assert eye_mean(first, first.soft) < 0.05  # the first frame decides alone
    after = upto(work_for(t_lm=opened, s_lm=opened), ctx, st.eye_rules)
    # One open frame moves the decision by the smoothing weight only: no flicker.
    level = eye_mean(after, after.soft)
    assert 0.05 < level < 0.35, level


def test_a_dim_source_eye_leaves_the_targets_eye():
    work = upto(work_for(), context(), st.dim_eyes, tr=traits(eye_light=(0.3, 1.0)))
    left = region(work.crop.shape[:2], work.lm, IBUG68, ("eye_left",), work.face_w, 0) > 0.5
    right = region(work.crop.shape[:2], work.lm, IBUG68, ("eye_right",), work.face_w, 0) > 0.5
    assert work.soft[left].max() < 0.05 and work.soft[right].mean() > 0.9


def test_a_slightly_dim_source_eye_is_lifted_to_the_targets_light():
    t_lm = landmarks()
    target = draw(t_lm)
    eyes = region(target.shape[:2], t_lm, IBUG68, ("eye_left", "eye_right"), 100, 0) > 0.5
    target[eyes] = (target[eyes] * 0.55).astype(np.uint8)  # eyes in a little shade
    probe = upto(work_for(target=target, t_lm=t_lm), context(), "skin")
    t_light = st.eye_light(probe.crop_lab, probe.lm, IBUG68, probe.model_t)
    # The source's left eye a little darker than the target's: dim (below dim_eye) but not
    # enough to give way; its right one as light as the target's.
    s_left = 0.85 * t_light[0]
    assert s_left < st.EYES.dim_eye and s_left / t_light[0] > st.EYES.dim_eye - 0.05
    tr = traits(eye_light=(s_left, t_light[1]))
    # (stretch runs just before dim_eyes: the source's light as the eye rules left it)
    before = upto(work_for(target=target, t_lm=t_lm), context(), st.stretch, tr=tr)
    work = upto(work_for(target=target, t_lm=t_lm), context(), st.dim_eyes, tr=tr)
    shape, fw = work.crop.shape[:2], work.face_w
    left = region(shape, work.lm, IBUG68, ("eye_left",), fw, 0) > 0.5
    right = region(shape, work.lm, IBUG68, ("eye_right",), fw, 0) > 0.5
    gain = work.warped_lab[..., 0][left].mean() / before.warped_lab[..., 0][left].mean()
    assert 1.12 < gain < 1.18, gain  # 1 / 0.85 = 1.18, feathered at the outline
    assert np.allclose(work.warped_lab[..., 0][right], before.warped_lab[..., 0][right])
    assert work.soft[left].mean() > 0.9  # lifted, not given way


# -- stretch ------------------------------------------------------------------------------------


def test_a_stretched_cheek_gives_way_in_stills_only():
    t_lm = landmarks()
    s_lm = t_lm.copy()
    s_lm[:, 0] = 100 + (s_lm[:, 0] - 100) * np.where(s_lm[:, 0] < 100, 0.3, 1.0)  # a narrow half
    still = upto(work_for(t_lm=t_lm, s_lm=s_lm), context(), st.stretch)
    video = upto(work_for(t_lm=t_lm, s_lm=s_lm), context(Mode.VIDEO), st.stretch)
    base = upto(work_for(t_lm=t_lm, s_lm=s_lm), context(), st.eye_rules)
    cheek = (125, 60)  # (y, x): the stretched left cheek
    assert still.soft[cheek] < 0.5 * base.soft[cheek]
    assert np.array_equal(
        video.soft, upto(work_for(t_lm=t_lm, s_lm=s_lm), context(Mode.VIDEO), st.eye_rules).soft
    )


# -- occluders ----------------------------------------------------------------------------------


def test_a_beard_round_the_sources_mouth_leaves_the_target_its_mouth():
    work = upto(work_for(), context(), st.source_occluders, tr=traits(mouth_covered=True))
    assert "mouth_outer" not in work.parts
    mouth = region(work.crop.shape[:2], work.lm, IBUG68, ("mouth_outer",), work.face_w, 0) > 0.5
    assert work.kept[mouth].min() > 0.75


def test_the_sources_holes_are_filled_from_its_skin():
    s_lm = landmarks()
    source = draw(s_lm, skin=(170, 120, 95), seed=1)
    source[120:140, 50:70] = (40, 30, 25)  # a dark patch (a beard, a hand's shadow) on a cheek
    holes = np.zeros(source.shape[:2], np.float32)
    holes[118:142, 48:72] = 1
    tr = traits(holes=holes, skin=1 - holes)
    work = upto(work_for(source=source, s_lm=s_lm), context(), st.source_occluders, tr=tr)
    filled = work.warped_lab[124:136, 54:66, 0].mean()
    assert filled > lab(np.array([[(170, 120, 95)]], np.uint8))[0, 0, 0] - 12


def test_a_grey_object_over_the_targets_cheek_keeps_the_targets_pixels():
    t_lm = landmarks()
    target = draw(t_lm)
    target[115:145, 40:75] = (128, 128, 128)  # a microphone
    work = upto(work_for(target=target, t_lm=t_lm), context(), st.target_occluders)
    assert not work.allowed[125:135, 50:65].any()
    assert work.allowed[130, 130]  # the other cheek is skin
    video = upto(work_for(target=target, t_lm=t_lm), context(Mode.VIDEO), st.target_occluders)
    assert video.allowed.all()  # no per-frame skin test in a video


def test_the_targets_own_shade_inside_the_inner_face_is_no_occluder():
    t_lm = landmarks()
    target = draw(t_lm)
    target[116:128, 90:97] = (110, 70, 55)  # a crease beside the nose, too dark for skin
    work = upto(work_for(target=target, t_lm=t_lm), context(), st.target_occluders)
    assert work.allowed[118:126, 91:96].all()  # the source's nose shows there
    # The same crease on a face whose mouth is covered (a face mask): the rule cannot tell a
    # crease from the mask's edge there, and the target keeps its pixels.
    masked = target.copy()
    masked[150:215, 40:160] = (235, 235, 240)
    work = upto(work_for(target=masked, t_lm=t_lm), context(), st.target_occluders)
    assert not work.allowed[118:126, 91:96].any()
    assert not work.allowed[170:190, 80:120].any()  # the mask itself


def test_the_sources_creases_inside_the_inner_face_keep_their_light_not_their_colour():
    s_lm = landmarks()
    source = draw(s_lm, skin=(170, 120, 95), seed=1)
    crease = np.zeros(source.shape[:2], bool)
    crease[118:122, 88:97] = True  # beside the nose: inside the inner face
    crease[150:154, 45:54] = True  # on the cheek beyond it
    source[crease] = (70, 40, 90)  # dark and purple: a crease under make-up
    holes = cv2.dilate(crease.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(np.float32)
    tr = traits(holes=holes, skin=1 - holes)
    work = upto(work_for(source=source, s_lm=s_lm), context(), st.source_occluders, tr=tr)
    skin = lab(np.array([[(170, 120, 95)]], np.uint8))[0, 0]
    inner = work.warped_lab[119:121, 90:95]
    assert inner[..., 0].mean() < skin[0] - 15  # the crease's line is still there
    assert np.abs(inner[..., 1:].mean((0, 1)) - skin[1:]).max() < 8  # in the skin's colour
    cheek = work.warped_lab[151:153, 47:52]
    assert cheek[..., 0].mean() > skin[0] - 12  # beyond the inner face: filled whole
    # A source with glasses: its frames are no features, the whole fill as before.
    framed = upto(
        work_for(source=source, s_lm=s_lm),
        context(),
        st.source_occluders,
        tr=traits(holes=holes, skin=1 - holes, glasses=True),
    )
    assert framed.warped_lab[119:121, 90:95, 0].mean() > inner[..., 0].mean() + 10


def test_a_source_wearing_glasses_gives_the_targets_ring_round_the_eyes():
    work = upto(work_for(), context(), st.glasses, tr=traits(glasses=True))
    ring = region(work.crop.shape[:2], work.lm, IBUG68, ("eye_left",), work.face_w, 0.1) > 0.5
    eye = region(work.crop.shape[:2], work.lm, IBUG68, ("eye_left",), work.face_w, 0.0) > 0.5
    assert not work.allowed[ring & ~eye].mean() > 0.2
    assert work.allowed[eye].mean() > 0.8


# -- mask, tone, seam ---------------------------------------------------------------------------


def test_the_mask_leaves_out_kept_features_and_says_when_nothing_is_left():
    work = upto(work_for(), context(), st.mask_assembly, tr=traits(mouth_covered=True))
    mouth = region(work.crop.shape[:2], work.lm, IBUG68, ("mouth_outer",), work.face_w, 0) > 0.5
    assert work.soft[mouth].max() < 0.1 and not work.done
    empty = upto(work_for(), context(), st.target_occluders)
    empty.allowed[:] = False
    assert st.mask_assembly(empty, context()).done


def test_the_tone_takes_the_targets_skin_colour():
    work = upto(work_for(), context(), st.tone)
    cheek = (slice(120, 135), slice(60, 75))
    out, tgt, src = (
        lab(x[cheek]).reshape(-1, 3).mean(0) for x in (work.shaded, work.crop, work.warped)
    )
    assert np.linalg.norm(out - tgt) < 0.4 * np.linalg.norm(src - tgt)


def test_the_seam_meets_the_target_along_the_masks_edge():
    work = upto(work_for(), context(), st.seam)
    edge = (work.hard > 0) & ~(cv2.erode(work.hard, np.ones((3, 3), np.uint8)) > 0)
    skin = edge & work.pin_skin & (work.skin_s | work.skin_s_any)  # both faces show skin
    d = np.abs(work.shaded.astype(float) - work.crop.astype(float))[skin].mean()
    assert d < 6, d
    assert np.array_equal(work.shaded[work.hard == 0], work.crop[work.hard == 0])


@pytest.mark.parametrize("mode", [Mode.STILL, Mode.VIDEO, Mode.LIVE])
def test_every_mode_runs_the_same_stages_to_a_result(mode):
    work = upto(work_for(), context(mode), st.seam)
    assert work.shaded is not None and work.shaded.shape == work.crop.shape


# -- do no harm -----------------------------------------------------------------------------------


def test_the_quality_measures_see_a_hard_edged_patch_and_not_a_smooth_change():
    from twoface.quality import blotch, skin_seam, visible_change

    lm = landmarks()
    target = draw(lm)
    smooth = np.clip(target.astype(int) + 12, 0, 255).astype(np.uint8)  # lighter all over
    patch = target.copy()
    patch[118:138, 55:75] = np.clip(patch[118:138, 55:75].astype(int) + 45, 0, 255)
    assert blotch(smooth, target, lm) < 2 and skin_seam(smooth, target, lm) < 2
    assert blotch(patch, target, lm) > 10 and skin_seam(patch, target, lm) > 10
    assert visible_change(target, target, lm) == 0 and visible_change(smooth, target, lm) > 5


def test_a_face_over_the_limits_gets_a_softer_blend_and_a_note():
    from twoface.blend import alpha_composite
    from twoface.quality import blotch

    ctx = context()
    work = upto(work_for(), ctx, st.seam)
    work.shaded = work.shaded.copy()
    work.shaded[115:140, 52:77] = np.clip(work.shaded[115:140, 52:77].astype(int) + 80, 0, 255)
    before = blotch(alpha_composite(work.shaded, work.crop, work.soft), work.crop, work.lm)
    work = st.check(work, ctx)
    after = blotch(alpha_composite(work.shaded, work.crop, work.soft), work.crop, work.lm)
    assert before > st.CHECK.blotch and after < 0.6 * before, (before, after)
    assert work.notes and "blend" in work.notes[0] and "blotch" in work.notes[0]
    clean = upto(work_for(), context(), st.seam)
    kept = clean.shaded.copy()
    assert np.array_equal(st.check(clean, context()).shaded, kept) and not clean.notes


def test_a_moving_face_over_the_limits_never_takes_the_targets_light_back():
    # A pale patch with a red cast: a still's softer blend takes its lightness out too, a
    # video's only its colour, and a video's skin never goes back to the target's (mixed
    # back, the target's creases and features showed as a ghost over the source's).
    patch, inside = (slice(115, 140), slice(52, 77)), (slice(120, 135), slice(57, 72))
    out = {}
    for mode in (Mode.STILL, Mode.VIDEO):
        work = upto(work_for(), context(mode), st.seam)
        work.shaded = work.shaded.copy()
        work.shaded[patch] = np.clip(work.shaded[patch].astype(int) + (100, 60, 60), 0, 255)
        before, soft = lab(work.shaded)[inside], work.soft.copy()
        work = st.check(work, context(mode))
        out[mode] = (lab(work.shaded)[inside] - before, soft, work)
    still, video = out[Mode.STILL][0], out[Mode.VIDEO][0]
    assert still[..., 0].mean() < -8  # the still's patch is taken out
    assert np.abs(video[..., 0]).max() < 1.0  # the video's light is its own
    assert np.abs(video[..., 1:]).mean() > 0.5  # its colour cast is taken out
    soft, work = out[Mode.VIDEO][1], out[Mode.VIDEO][2]
    assert work.soft[soft > 0.99].min() > 0.9  # no conservative blend in a video
    assert not work.notes


def test_the_shape_stage_moves_the_targets_features_towards_the_sources_arrangement():
    t_lm = landmarks()
    s_lm = landmarks()
    s_lm[36:48, 1] -= 6  # the source's eyes sit higher, its mouth lower
    s_lm[48:68, 1] += 6
    work = st.shape(work_for(t_lm=t_lm, s_lm=s_lm), context())
    moved = work.feature_lm - t_lm
    # (A similarity takes the arrangement's size out: the gap between them grows.)
    assert moved[48:68, 1].mean() - moved[36:48, 1].mean() > 5
    assert np.array_equal(work.feature_lm[:17], t_lm[:17])  # the jaw stays the target's
    opened = st.shape(work_for(t_lm=t_lm, s_lm=landmarks(mouth_open=0.4)), context())
    assert np.allclose(opened.feature_lm[48:68], t_lm[48:68])  # an open mouth does not move


def test_a_greyscale_source_takes_the_targets_colour():
    from twoface.blend import greyness

    work = upto(
        work_for(source=draw(landmarks(), skin=(150, 150, 150), seed=1)), context(), st.tone
    )
    assert greyness(work.warped_lab[..., 1:], work.crop_lab[..., 1:], work.skin_t) == 1.0
    cheek = (slice(120, 135), slice(60, 75))
    out_ab = lab(work.shaded[cheek])[..., 1:].reshape(-1, 2).mean(0)
    tgt_ab = work.crop_lab[cheek][..., 1:].reshape(-1, 2).mean(0)
    assert np.linalg.norm(out_ab - tgt_ab) < 3


def test_a_sharp_source_is_blurred_to_a_soft_targets_sharpness():
    from twoface.blend import fine_energy, match_sharpness

    lm = landmarks()
    soft = cv2.GaussianBlur(draw(lm), (0, 0), 2.5)
    work = upto(work_for(target=soft, t_lm=lm), context(), "skin")
    area = work.skin_t | (region(soft.shape[:2], lm, IBUG68, ("eye_left",), work.face_w, 0) > 0.5)
    fw = work.face_w
    out = match_sharpness(work.warped_lab, work.crop_lab, area, fw)
    goal = fine_energy(work.crop_lab[..., 0] + 1, area, fw)
    assert fine_energy(work.warped_lab[..., 0] + 1, area, fw) > 1.5 * goal
    assert fine_energy(out[..., 0] + 1, area, fw) <= 1.1 * goal + 1e-6


def test_a_swap_that_changed_nothing_visible_is_reported():
    from types import SimpleNamespace

    from twoface.api import _unchanged
    from twoface.swap.base import SwapJob
    from twoface.types import Face

    lm = landmarks()
    target = draw(lm)
    face = Face(np.array([40, 80, 160, 200], np.float32), 1.0, None, lm.astype(np.float32))
    jobs = [SwapJob(0, face, None)]
    changed = target.copy()
    changed[110:180, 60:140] = np.clip(changed[110:180, 60:140].astype(int) - 30, 0, 255)
    assert _unchanged(SimpleNamespace(rgb=target), jobs, target.copy()) == [0]
    assert _unchanged(SimpleNamespace(rgb=target), jobs, changed) == []
