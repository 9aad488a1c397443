"""The classical engine's stages, in order (`STAGES`). Each is `(work, context) -> work`, reads
the record's fields its predecessors filled, and keeps its constants in a frozen parameters
dataclass beside it, each with the measured reason for its value. Where a rule cannot decide,
the target's pixels stay."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from twoface.blend import match_sharpness, membrane_paste, transfer_tone
from twoface.geometry import estimate_similarity
from twoface.mask import MOUTH, face_mask, mouth_open_ratio
from twoface.swap.classical.geometry import extended_points, piecewise_affine_maps, stretched
from twoface.swap.classical.parts import (
    below_nose,
    cheeks,
    inner_face,
    ramp,
    region,
    shown_eyes,
    surroundings_shown,
    with_brow,
    without,
)
from twoface.swap.classical.traits import (
    eye_light,
    fill_from_skin,
    hidden_features,
    skin_fill,
    source_traits,
)
from twoface.swap.classical.traits import glasses as wears_glasses
from twoface.swap.classical.work import Context, Mode, Work
from twoface.swap.skin import (
    SkinModel,
    clean,
    eye_openness,
    gaze,
    highlights,
    lab,
    pitch_ratio,
    shaded_skin,
    yaw_sign,
)

# -- the landmarks' fit ---------------------------------------------------------------------


@dataclass(frozen=True)
class FitParams:
    """When the target's landmarks do not fit the face the detector found: the median distance
    between the detector's five keypoints and the landmarks' own (eyes, nose tip, mouth
    corners), x face width, above `limit`. Every face of photos/, hard/ and more/ reads 0.11 or
    less (profile90_oldman_sidelight.jpg 0.10); hamilton_clip.mp4's profile frames (20-45),
    where dlib fits a frontal face over the hair and the background, 0.18-0.21 -- swapped,
    a whole frontal face was pasted over a profile."""

    limit: float = 0.15


FIT = FitParams()


def fit(work: Work, ctx: Context, p: FitParams = FIT) -> Work:
    """Do no harm: a face whose landmarks do not fit the detector's face is left as it is (a
    still says so; a video smooths the decision per person, so a face turning away fades out
    of the swap rather than flickering)."""
    if work.kps is None:
        return work
    ours = ctx.scheme.five_points(work.lm).astype(np.float64)
    d = np.linalg.norm(ours - np.asarray(work.kps, np.float64), axis=1) / max(work.face_w, 1.0)
    misfit = float(ctx.smooth("misfit", np.float32(np.median(d) > p.limit)))
    if misfit >= 0.5:
        work.done = True
        if ctx.mode is Mode.STILL:
            work.notes.append(
                f"face at {_where(work)}: left as it is (its landmarks do not fit the face "
                "the detector found: a profile or a covered face)"
            )
    return work


# -- warp ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShapeParams:
    """How far the target's inner features (brows, eyes, nose, mouth) move to the source's
    arrangement (the source's inner points brought onto the target's by a similarity): the
    warp kept the target's geometry, and dlib still recognised the target in 90 of 102 swaps
    over photos/ and more/ (output -> target 0.44, -> source 0.67). The jaw stays the
    target's (it meets the target's own cheeks and background). Each point moves at most
    `max_shift` face widths (a brow moved further leaves the mask's top edge); poses apart
    move less (`yaw_start`/`yaw_ramp` in yaw_sign units, `pitch_start`/`pitch_ramp` in
    pitch_ratio units): the source's arrangement is then partly its pose's."""

    amount: float = 1.0
    max_shift: float = 0.08
    yaw_start: float = 0.1
    yaw_ramp: float = 0.3
    pitch_start: float = 0.06
    pitch_ramp: float = 0.08


SHAPE = ShapeParams()
INNER = ("brows", "nose", "eye_left", "eye_right", "mouth_outer", "mouth_inner")


def shape(work: Work, ctx: Context, p: ShapeParams = SHAPE) -> Work:
    """Where the source's features go on the target (`work.feature_lm`): the target's inner
    landmarks moved towards the source's arrangement. The mouth does not move when either
    mouth is open (the target keeps its mouth or its interior there), nor the eyes when the
    target's are clearly closed or far from the source's in openness (the target keeps them)."""
    s, lm, src_lm = ctx.scheme, work.lm, work.src_lm
    work.feature_lm = lm
    if p.amount <= 0 or not all(s.has(g) for g in INNER):
        return work
    idx = np.unique(np.concatenate([np.asarray(s.groups[g]) for g in INNER]))
    m = estimate_similarity(np.asarray(src_lm, np.float64)[idx], np.asarray(lm, np.float64)[idx])
    placed = np.asarray(src_lm, np.float64) @ m[:, :2].T + m[:, 2]
    yaw_gap = abs(yaw_sign(lm, s) - yaw_sign(src_lm, s))
    pitch_gap = abs(pitch_ratio(lm, s) - pitch_ratio(src_lm, s))
    k = p.amount * (1 - ramp(yaw_gap, p.yaw_start, p.yaw_ramp))
    k *= 1 - ramp(pitch_gap, p.pitch_start, p.pitch_ramp)
    weight = np.zeros(len(lm))
    weight[idx] = k
    if max(mouth_open_ratio(lm, s), mouth_open_ratio(src_lm, s)) > MOUTH.open_ratio:
        for g in ("mouth_outer", "mouth_inner"):
            weight[list(s.groups[g])] = 0.0
    t_open, s_open = eye_openness(lm, s), eye_openness(src_lm, s)
    if min(t_open, s_open) < EYES.closed or abs(t_open - s_open) > EYES.openness_gap:
        for g in ("eye_left", "eye_right"):
            weight[list(s.groups[g])] = 0.0
    shift = (placed - lm) * weight[:, None]
    length = np.linalg.norm(shift, axis=1, keepdims=True)
    limit = p.max_shift * work.face_w
    shift *= np.minimum(1.0, limit / np.maximum(length, 1e-9))
    work.feature_lm = lm + shift
    return work


def warp(work: Work, ctx: Context) -> Work:
    """The source photo warped piecewise-affinely onto the target's geometry (Delaunay triangles
    over the landmarks, a ring outside the jaw and points over the forehead). Video and live:
    only the triangles between landmarks, the similarity beyond them -- the ring round the jaw
    follows dlib's jaw points, which shake frame to frame (dance.mp4's landmark jitter 0.079 ->
    0.082-0.085 of a 0.083 bound with it)."""
    n = len(work.lm)
    dst = extended_points(work.lm if work.feature_lm is None else work.feature_lm)
    dst[: len(work.lm)][list(ctx.scheme.groups["jaw"])] = np.asarray(work.lm)[
        list(ctx.scheme.groups["jaw"])
    ]
    src = extended_points(work.src_lm)
    work.fallback = estimate_similarity(dst[:n], src[:n])
    ch, cw = work.crop.shape[:2]
    inner = n if ctx.mode.moving else None
    work.map_x, work.map_y = piecewise_affine_maps(dst, src, work.fallback, cw, ch, inner)
    work.warped = cv2.remap(
        work.src_image, work.map_x, work.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    work.crop_lab, work.warped_lab = lab(work.crop), lab(work.warped)
    return work


# -- skin models -----------------------------------------------------------------------------


def skin_models(work: Work, ctx: Context, work_face: float) -> Work:
    """Each face's skin model and map (twoface.swap.skin), and the source photo's traits
    (decided once per photo). Stills also map skin in any light (shade included), taken before
    any fill changes the warped source."""
    work.model_t = SkinModel.fit(work.crop_lab, work.lm, ctx.scheme)
    work.skin_t = work.model_t.skin(work.crop_lab)
    work.traits = source_traits(
        ctx.run, work.src_image, work.src_lm, ctx.scheme, work_face, ctx.parsed
    )
    work.model_s = SkinModel.fit(work.warped_lab, _flm(work), ctx.scheme)
    work.skin_s = work.model_s.skin(work.warped_lab)
    if ctx.mode is Mode.STILL:
        # (Video: the light measured on shaded skin moved the output's landmarks frame to
        # frame -- dance.mp4's jitter 0.079 -> 0.082 of a 0.083 bound.)
        work.skin_s_any = work.model_s.skin(work.warped_lab, any_light=True)
        work.skin_t_any = work.model_t.skin(work.crop_lab, any_light=True)
    return work


# -- pose ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoseParams:
    """Poses apart (after any mirroring) blend more softly rather than show stretched texture up
    to a sharp edge: the mask's erosion and feather grow by up to `extra_softness` times as the
    yaw gap (yaw_sign units) passes `yaw_start` (all of it `yaw_ramp` further) or the pitch gap
    (pitch_ratio units) passes `pitch_start` (`pitch_ramp`)."""

    extra_softness: float = 1.5
    # The mask's erosion and feather (x face width): 0.05 and 0.08 left a wide band of the
    # target's own cheeks, jaw and brows' surroundings inside the face, and dlib still
    # recognised the target in most swaps (eight pairs of photos/ and more/: output -> target
    # 0.53); at 0.025 and 0.056, 0.58, with the seam held by the `check` stage.
    erode: float = 0.025
    blur: float = 0.056
    yaw_start: float = 0.2
    yaw_ramp: float = 0.4
    pitch_start: float = 0.12
    pitch_ramp: float = 0.06


POSE = PoseParams()


def pose_mask(work: Work, ctx: Context, p: PoseParams = POSE) -> Work:
    """The base swap mask: inner face and brows, eroded and feathered (softer for poses apart),
    less an open mouth's interior (twoface.mask.face_mask)."""
    lm, src_lm, s = work.lm, work.src_lm, ctx.scheme
    work.source_open = mouth_open_ratio(src_lm, s) > MOUTH.open_ratio
    work.yaw_gap = abs(yaw_sign(lm, s) - yaw_sign(src_lm, s))
    work.pitch_gap = abs(pitch_ratio(lm, s) - pitch_ratio(src_lm, s))
    work.soft = face_mask(
        work.crop.shape[:2],
        lm,
        keep_open_mouth=ctx.options.keep_open_mouth,
        source_mouth_open=work.source_open,
        erode=p.erode,
        blur=p.blur,
        softness=1.0
        + p.extra_softness
        * max(
            ramp(work.yaw_gap, p.yaw_start, p.yaw_ramp),
            ramp(work.pitch_gap, p.pitch_start, p.pitch_ramp),
        ),
    )
    return work


# -- eyes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EyeParams:
    """When the target keeps its own eyes (and lids). Eye height over width from dlib's points
    (lashes included): open eyes 0.25-0.47 on the shared photos, the closed eyes of
    closed_eyes_woman.jpg 0.19, the near-closed ones of pitch_down_woman.jpg 0.22."""

    closed: float = 0.23  # a still's clearly closed eye
    video_closed: float = 0.2  # a video's (dlib's eye points wobble there)
    closed_ramp: float = 0.03
    openness_gap: float = 0.1  # openness apart by this counts as "the eyes differ"
    openness_ramp: float = 0.05
    # Iris position between the eye corners (0..1): the source looking aside onto a target
    # looking ahead (or the reverse) keeps the target's eyes.
    gaze_gap: float = 0.15
    gaze_ramp: float = 0.08
    # pitch_ratio apart by this much starts keeping the target's eyes: frontal faces read
    # 0.21-0.36 on the shared photos, pitch_up_woman.jpg 0.14 (two_people.jpg's slightly raised
    # chin 0.16: a gap of 0.13 from mark.jpg's 0.29 must not count yet).
    pitch_gap: float = 0.135
    pitch_ramp: float = 0.03
    # A source eye whose light (`eye_light`) is below `dim_eye`, and below `dim_eye` of the
    # target eye's, starts giving way to the target's, all of it `dim_ramp` below.
    # sidelight_beard_yaw_man's eyes (0.12 in the side light's shadow, 0.70 under low lids)
    # and beckham's deep-set squint (0.60-0.65) came out as dark holes in open, lit eyes (1.0);
    # obama, roblowe2, rdj1 and elon's eyes read 0.78-1.0 and stay the source's.
    dim_eye: float = 0.75
    dim_ramp: float = 0.1
    # A source eye a little darker than the target's, but not dark enough to give way, is
    # lifted to the target's light (the ratio of their `eye_light`, at most `lift_max`) over
    # its outline grown `lift_grow` face widths, the lids' shade included: beckham's eyes
    # (0.60-0.65) on a child's or an old greyscale portrait's (0.76-0.83) came out as dark
    # sockets.
    lift_max: float = 1.5
    lift_grow: float = 0.04
    # The target's eye is kept this far round its outline (x face width).
    kept_grow: float = 0.1


EYES = EyeParams()


def _eye_area(work: Work, ctx: Context, grow: float, parts=("eye_left", "eye_right")):
    """The parts where the target has them and where the source's land (`shape`)."""
    return _both(work, ctx, parts, grow)


def _both(work: Work, ctx: Context, parts, grow: float) -> np.ndarray:
    """Soft map of `parts` at the target's landmarks and at the source's features' places."""
    area = region(work.crop.shape[:2], work.lm, ctx.scheme, parts, work.face_w, grow)
    if work.feature_lm is None or work.feature_lm is work.lm:
        return area
    moved = region(work.crop.shape[:2], work.feature_lm, ctx.scheme, parts, work.face_w, grow)
    return np.maximum(area, moved)


def _flm(work: Work) -> np.ndarray:
    return work.lm if work.feature_lm is None else work.feature_lm


def eye_rules(work: Work, ctx: Context, p: EyeParams = EYES) -> Work:
    """The target keeps its own eyes where the two pairs differ: a clearly closed target; in
    stills also openness far apart, a gaze elsewhere, or a head tilted back or bowed far from
    the source's (the source's eyes warped that far smear or double). A still decides outright
    (half of each pair of eyes showed as a doubled eye: kun1 with roblowe2 at 0.5); a video or
    live stream keeps the ramp, smoothed, so the decision does not flicker (openness and gaze
    are too noisy frame to frame there: they shook the output's landmarks by 15%)."""
    if not ctx.options.keep_eyes:
        keep = 0.0
    else:
        lm, src_lm, s = work.lm, work.src_lm, ctx.scheme
        closed = p.video_closed if ctx.mode.moving else p.closed
        keep = ramp(closed - eye_openness(lm, s), 0.0, p.closed_ramp)
        if ctx.mode is Mode.STILL:
            gap = abs(
                gaze(work.crop_lab[..., 0], lm, s) - gaze(work.warped_lab[..., 0], _flm(work), s)
            )
            t, o = eye_openness(lm, s), eye_openness(src_lm, s)
            differ = max(
                ramp(abs(t - o), p.openness_gap, p.openness_ramp),
                ramp(p.closed - min(t, o), 0.0, p.closed_ramp),
            )
            keep = max(
                keep,
                differ,
                ramp(gap, p.gaze_gap, p.gaze_ramp),
                ramp(work.pitch_gap, p.pitch_gap, p.pitch_ramp),
            )
    if ctx.mode is Mode.STILL:
        keep = float(keep >= 0.5)
    keep = ctx.smooth("eyes", np.float32(keep))
    if keep > 0.01:
        work.soft *= 1.0 - float(keep) * _eye_area(work, ctx, p.kept_grow)
    return work


def dim_eyes(work: Work, ctx: Context, p: EyeParams = EYES) -> Work:
    """A source eye in shadow or under low lids (a side light, deep-set eyes, a look down) came
    out as a dark hole in a target's open, lit eye: where the source's eye is far darker than
    the target's (its brightest tenth against the skin), the target keeps that eye; where it is
    a little darker, its light is lifted to the target's."""
    if not ctx.options.keep_eyes:
        return work
    target_light = eye_light(work.crop_lab, work.lm, ctx.scheme, work.model_t)
    for part, s_light, t_light in zip(
        ("eye_left", "eye_right"), work.traits.eye_light, target_light, strict=True
    ):
        if s_light >= p.dim_eye:  # an eye with its whites showing is never a hole
            continue
        amount = ramp(p.dim_eye - s_light / max(t_light, 1e-3), 0.0, p.dim_ramp)
        if ctx.mode is Mode.STILL:
            amount = float(amount >= 0.5)
        amount = float(ctx.smooth(f"shadow_{part}", np.float32(amount)))
        if amount > 0.01:
            work.soft *= 1.0 - amount * _eye_area(work, ctx, p.kept_grow, (part,))
        gain = float(np.clip(t_light / max(s_light, 1e-3), 1.0, p.lift_max))
        gain = float(ctx.smooth(f"lift_{part}", np.float32(gain)))
        if amount < 0.99 and gain > 1.01:
            shape, fw = work.crop.shape[:2], work.face_w
            area = region(shape, _flm(work), ctx.scheme, (part,), fw, p.lift_grow)
            work.warped_lab[..., 0] *= 1.0 + (gain - 1.0) * area
    return work


# -- stretch ---------------------------------------------------------------------------------


def stretch(work: Work, ctx: Context) -> Work:
    """A frontal source on a turned face spreads its cheek over the target's wide near cheek:
    its folds and shine came out stretched into dark curves and patches. Where the warp
    stretches the source far beyond the face's own scale the target's skin stays; eyes, brows
    and mouth come from the source whatever the stretch. (Stills: in a video the stretch,
    changing with dlib's shaking points, moved the output's landmarks -- dance.mp4's jitter
    0.079 -> 0.081.)"""
    if ctx.mode.moving:
        return work
    amount = stretched(work.map_x, work.map_y, work.fallback, work.face_w)
    if amount is not None:
        parts = ("eye_left", "eye_right", "brows", "mouth_outer")
        features_soft = _eye_area(work, ctx, 0.03, parts)
        work.soft *= 1.0 - amount * (1.0 - features_soft)
    return work


# -- the source's occluders ------------------------------------------------------------------


@dataclass(frozen=True)
class OccluderParams:
    """How far round a feature the target's own pixels stay when the feature is not the
    source's to give, and how occluders are grown and feathered (x face width)."""

    feature_grow: float = 0.03  # the features taken by region, grown
    # Round the target's mouth when the source's mouth is covered by hair.
    mouth_kept: float = 0.02
    # Round a source's feature under a hand: the fingers reach beyond the eye.
    hand_kept: float = 0.1
    # Round a target's feature under a hand.
    target_hand_kept: float = 0.05
    # Video: the gaps closed in a source's beard before its area is left to the target's
    # pixels (the stubble between the hairs, skin-coloured, left a ragged edge), and its
    # feather (the target's lower face and the source's skin meet there).
    beard_close: float = 0.04
    beard_feather: float = 0.03
    # The inner face's colour-only fill is feathered by this: a hard step in a*b* at the
    # hull's edge would be a seam of its own.
    inner_feather: float = 0.01


OCCLUDERS = OccluderParams()


def keep_targets(work: Work, ctx: Context, part: str, grow: float) -> None:
    """The target keeps its own feature (and, for an eye, its brow) and the skin `grow` face
    widths round it; the source's is no feature."""
    work.parts = without(work.parts, part, ctx.scheme)
    area = region(
        work.crop.shape[:2], work.lm, ctx.scheme, with_brow(part, ctx.scheme), work.face_w, grow
    )
    work.kept = area if work.kept is None else np.maximum(work.kept, area)


def source_occluders(work: Work, ctx: Context, p: OccluderParams = OCCLUDERS) -> Work:
    """Beards, fringes, glasses, microphones in the source are not carried: eyes, brows and lips
    come from the source by region; a moustache or beard round the source's mouth (its lips,
    carried with the hair round them, came out as a dark band) and a hand over one of its eyes
    leave the target its own feature; the source's sizeable occluders are filled with its own
    surrounding skin rather than opened onto the target, whose skin sat in another light and
    tone and showed as a pale patch. Inside the inner face (`inner_face`: no hair grows there)
    what fails the skin test is the source's own lids, creases and nostrils, which carry its
    identity: there only their colour is filled from the skin, their light stays (filled
    whole, with the target's non-skin kept there too, a swap was recognised as the target in
    88 of bench_identity's 102 pairs, 81 without; filled not at all, a source's orange nose
    shine showed as a patch on a grey-lit face; their light filled too, keeping only their
    finer detail, hamilton_clip.mp4's identity moved less, 0.099 against 0.108 on its worst
    sampled frame). A source with glasses or a hand over an eye
    keeps the whole fill (its frames and fingers are not its features)."""
    if not ctx.options.occlusion:
        return work
    traits = work.traits
    work.parts = ("eye_left", "eye_right", "mouth_outer")
    if not traits.fringe:
        work.parts += ("brows",)
    if traits.mouth_covered:
        keep_targets(work, ctx, "mouth_outer", p.mouth_kept)
    for part in traits.hidden:
        keep_targets(work, ctx, part, p.hand_kept)
    work.features = _both(work, ctx, work.parts, p.feature_grow) > 0.5

    def warped(src_map: np.ndarray) -> np.ndarray:
        s = traits.scale
        return cv2.remap(src_map, work.map_x * s, work.map_y * s, cv2.INTER_LINEAR) > 0.5

    # (Videos too, since the seam is mended near the edge only: with a Poisson clone over the
    # whole face the fill had moved the output's landmarks, dance.mp4's jitter 0.076 -> 0.087;
    # now 0.073.)
    work.source_holes = warped(traits.holes)
    holes = work.source_holes & ~work.features
    if not holes.any():
        return work
    skin = warped(traits.skin) & ~holes
    # (One fill for both: the skin's average is the same whichever holes it paints.)
    smooth = skin_fill(work.warped_lab, skin, work.face_w, texture=work.crop_lab)
    filled = fill_from_skin(work.warped_lab, holes, skin, work.face_w, smooth=smooth)
    if not (traits.glasses or traits.hidden):
        inner = holes & inner_face(work.crop.shape[:2], _flm(work), ctx.scheme)
        colour = cv2.GaussianBlur(
            inner.astype(np.float32), (0, 0), max(0.7, p.inner_feather * work.face_w)
        )
        whole = fill_from_skin(work.warped_lab, holes & ~inner, skin, work.face_w, smooth=smooth)
        whole[..., 1:] += (filled[..., 1:] - whole[..., 1:]) * colour[..., None]
        filled = whole
    work.warped_lab = filled
    return work


# -- the target's occluders ------------------------------------------------------------------


def target_occluders(work: Work, ctx: Context, p: OccluderParams = OCCLUDERS) -> Work:
    """Stills: the target's own occluders, down to a glasses rim, keep the target's pixels
    (skin in shade and small highlights are skin: kept as occluders they left the target's own
    patches in the middle of the swap). A mouth whose surroundings are mostly covered (a face
    mask, a full beard) is no feature, nor grey things over the lips (a microphone), nor an eye
    fitted onto the background, nor a feature under a hand. Inside the inner face
    (`inner_face`: eyes and nose) the target's non-skin is its own lids, creases and shadows,
    not an occluder, and the source's show there -- unless the face wears glasses, a feature
    is covered or hidden, or a model masker decides (a face mask over the nose, fingers over an
    eye stay the target's). A model masker's map, where given,
    replaces the colour test. Video and live: the per-frame skin test made the output's
    landmarks shake (dance.mp4: +11% jitter); a beard round the source's mouth (decided on the
    photo, warped with it) is left to the target's pixels instead."""
    if not ctx.options.occlusion:
        work.allowed = np.ones_like(work.soft) if work.face_only is None else work.face_only
        return work
    lm, s, fw, shape = work.lm, ctx.scheme, work.face_w, work.crop.shape[:2]
    if ctx.mode is Mode.STILL:
        model_t, crop_lab = work.model_t, work.crop_lab
        target_skin = work.skin_t | shaded_skin(
            model_t, crop_lab, lm, s, fw, any_light=work.skin_t_any
        )
        target_skin |= highlights(target_skin, crop_lab[..., 0], model_t.median[0], fw)
        target_skin = clean(target_skin, fw).astype(bool)
        work.pin_skin = target_skin
        if work.face_only is not None:
            # A parser's or occlusion model's answer replaces the colour test: a hand or a pink
            # face mask is skin-coloured, but not face.
            target_skin = work.face_only > 0.5
        covered = not surroundings_shown(target_skin, lm, s, "mouth_outer", fw)
        if covered:
            work.parts = without(work.parts, "mouth_outer", s)
        before = work.parts
        work.parts = shown_eyes(work.parts, target_skin, lm, s, fw)
        covered |= work.parts != before
        hidden = hidden_features(crop_lab, work.skin_t, model_t, lm, s, fw)
        for part in hidden:
            keep_targets(work, ctx, part, p.target_hand_kept)
        mouth = region(shape, lm, s, ("mouth_outer",), fw, p.feature_grow)
        work.features = (_both(work, ctx, work.parts, p.feature_grow) > 0.5) & ~(
            (mouth > 0.5) & model_t.colourless(crop_lab)
        )
        work.allowed = target_skin | work.features
        own = not (covered or hidden or work.face_only is not None)
        if own and not wears_glasses(crop_lab[..., 0], lm, s):
            work.allowed |= inner_face(shape, lm, s)
    else:
        work.allowed = np.ones(shape, bool)
        if work.traits.mouth_covered:
            k = max(1, int(round(p.beard_close * fw)))
            disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
            beard = work.source_holes & below_nose(shape, lm, s)
            beard = cv2.morphologyEx(beard.astype(np.uint8), cv2.MORPH_CLOSE, disc) > 0
            work.beard_left = cv2.GaussianBlur(
                (beard & ~work.features).astype(np.float32), (0, 0), p.beard_feather * fw
            )
    return work


# -- glasses ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GlassesParams:
    """A source wearing glasses gives the target's ring round the eyes: from `inner` to `outer`
    face widths round the eye outlines (thin rims pass a colour test)."""

    inner: float = 0.015
    outer: float = 0.2


GLASSES = GlassesParams()


def glasses(work: Work, ctx: Context, p: GlassesParams = GLASSES) -> Work:
    """The source's glasses are not carried: the whole ring round the eyes (not the eyes)
    comes from the target."""
    if ctx.options.occlusion and work.traits.glasses:
        ring = (_eye_area(work, ctx, p.outer) > 0.5) & (_eye_area(work, ctx, p.inner) < 0.5)
        work.allowed &= ~ring
    return work


# -- mask assembly ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskParams:
    """The final mask: the occlusion map's feather (x face width, at least `blur_px`), and the
    level above which a pixel counts as inside (the tone's and seam's area)."""

    blur: float = 0.005
    blur_px: float = 0.7
    inside: float = 0.02
    min_pixels: int = 16  # fewer inside: nothing to swap


MASK = MaskParams()


def mask_assembly(work: Work, ctx: Context, p: MaskParams = MASK) -> Work:
    """The swap mask: the base mask times what may show (occluders out, feathered; video and
    live: smoothed per track in a face-aligned frame), less the target's kept features. The
    tone and seam work on the area inside: in stills the occlusion holes' edges are seams too
    (where skin meets skin); in video the whole face area, holes and all -- holes moving from
    frame to frame would make the seam's offset jump -- with the occluders put back by the
    final composite. The kept features go in by the composite, not as holes the seam is pinned
    to: the lips' dark edge greyed the skin round them."""
    if ctx.options.occlusion:
        allowed = cv2.GaussianBlur(
            work.allowed.astype(np.float32), (0, 0), max(p.blur_px, p.blur * work.face_w)
        )
        if work.beard_left is not None:
            allowed = np.minimum(allowed, 1.0 - work.beard_left)
        if work.face_only is not None:
            # What the models leave out is left out whatever the features (an eye under a
            # hand stays the hand).
            allowed = np.minimum(allowed, work.face_only)
        if ctx.mode.moving:
            allowed = ctx.smooth_mask(allowed, work.lm)
        work.allowed = allowed
    face_area = (work.soft > p.inside).astype(np.uint8)
    work.soft = work.soft * work.allowed
    work.hard = (work.soft > p.inside).astype(np.uint8) if ctx.mode is Mode.STILL else face_area
    if work.kept is not None:
        work.soft = work.soft * (1.0 - work.kept)
    if (work.soft > p.inside).sum() < p.min_pixels:
        work.done = True
    return work


# -- tone ------------------------------------------------------------------------------------


def tone(work: Work, ctx: Context) -> Work:
    """The warped source under the target's light and colour (twoface.blend.transfer_tone),
    measured on the skin both faces show; in stills on their skin in shadow too."""
    inside = work.hard > 0
    tone_mask = inside & work.skin_t & work.skin_s
    if tone_mask.sum() < 16:
        tone_mask = inside
    sigma = max(1.0, ctx.options.shading_sigma * work.face_w)
    shape, lm, s, fw = work.crop.shape[:2], work.lm, ctx.scheme, work.face_w
    flm = _flm(work)
    lips = region(shape, flm, s, ("mouth_outer",), fw, 0.0) * (
        1.0 - region(shape, flm, s, ("mouth_inner",), fw, 0.0)
    )
    shading = tone_mask
    if work.skin_s_any is not None:
        in_any_light = inside & work.skin_t_any & work.skin_s_any
        if in_any_light.sum() >= 16:
            shading = in_any_light
    source = match_sharpness(work.warped_lab, work.crop_lab, inside, fw)
    work.shaded = transfer_tone(
        source,
        work.crop_lab,
        tone_mask,
        sigma,
        face_w=fw,
        area=inside,
        lips=lips,
        brows=region(shape, flm, s, ("brows",), fw, 0.01) if "brows" in work.parts else None,
        shading=shading | tone_mask,
        creases=cheeks(shape, lm, s, fw),
    )
    return work


# -- seam ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeamParams:
    """How far into the face (x face width) the seam's correction reaches: the tone transfer
    has set the face's light already (a correction over the whole face, a Poisson clone pinned
    along hair and background, pulled it darker and greyer: low-frequency lightness error 7.0
    L* for obama -> frontal_neutral_man, 10.6 on dance.mp4; with the reach 3.0 and 2.6)."""

    reach: float = 0.08


SEAM = SeamParams()


def seam(work: Work, ctx: Context, p: SeamParams = SEAM) -> Work:
    """The seam mended with a smooth offset pinned to the target only where both faces show
    skin along the mask's edge (twoface.blend.membrane_paste)."""
    if not ctx.options.seam:
        return work
    both = (work.skin_t if work.pin_skin is None else work.pin_skin) & (
        work.skin_s if work.skin_s_any is None else work.skin_s | work.skin_s_any
    )
    work.shaded = membrane_paste(work.shaded, work.crop, work.hard, both, p.reach * work.face_w)
    return work


# -- do no harm ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckParams:
    """The limits a face's result is held to (twoface.quality's measures, on the working crop)
    and the softer blend a face over them gets. Limits: the worst tenth of the swaps over
    photos/ and more/ before this check (bench_identity.py's sample of 102 pairs: blotch p90
    15.1, seam p90 16.6, colour p90 19.0); those looked at over them all showed pale or dark
    patches with hard edges (a side-lit child from obama.jpg: blotch 23, seam 25). Lower
    limits (11, 12.5, 16) also caught a turned child's patch across the nose (seam 13) but
    sent more faces on to the conservative blend, which costs identity (biden.jpg on
    beckham.jpg, a dark patch by the beard at blotch 18: distance to the source 0.88 -> 0.72
    conservative, 0.67 softer, 0.57 unchecked)."""

    blotch: float = 14.0
    seam: float = 16.0
    colour: float = 18.0
    # The softer blend: the L*a*b* difference from the target between `band_fine` and
    # `band_wide` face widths (a patch's scale) is taken out over the skin away from the
    # features; the mask's edges are feathered `feather` face widths more.
    band_fine: float = 0.02
    band_wide: float = 0.12
    feather: float = 0.015
    # Still over the limits after that: the skin away from the features keeps this much of
    # the target's (the features, which carry the identity, stay the source's).
    conservative: float = 0.6


CHECK = CheckParams()


def _measures(work: Work, ctx: Context) -> dict[str, float]:
    from twoface.blend import alpha_composite
    from twoface.quality import blotch, chroma_anomaly
    from twoface.quality import skin_seam as seam_measure

    out = alpha_composite(work.shaded, work.crop, work.soft)
    return {
        "blotch": blotch(out, work.crop, work.lm),
        "seam": seam_measure(out, work.crop, work.lm),
        "colour": chroma_anomaly(out, work.crop, work.lm),
    }


def _over(m: dict[str, float], p: CheckParams) -> list[str]:
    return [k for k in ("blotch", "seam", "colour") if m[k] > getattr(p, k)]


def _zone(work: Work, ctx: Context) -> np.ndarray:
    from twoface.quality import skin_zone

    zone = skin_zone(work.crop.shape[:2], work.lm).astype(np.float32)
    return cv2.GaussianBlur(zone, (0, 0), max(0.7, 0.02 * work.face_w))


def _soften(work: Work, amount: float, zone: np.ndarray, p: CheckParams, light=True) -> None:
    """The softer blend, `amount` of it (0..1): patches taken out over the skin (their colour,
    and with `light` their lightness), edges feathered further."""
    from twoface.mask import face_polygon, polygon_mask

    fw = work.face_w
    face = (polygon_mask(work.crop.shape[:2], face_polygon(work.lm)) > 0).astype(np.float32)

    def blur(x: np.ndarray, sigma: float) -> np.ndarray:
        s = max(0.7, sigma * fw)
        num = cv2.GaussianBlur(x * face[..., None], (0, 0), s)
        return num / np.maximum(cv2.GaussianBlur(face, (0, 0), s), 1e-4)[..., None]

    out_lab = lab(work.shaded)
    d = out_lab - work.crop_lab
    band = blur(d, p.band_fine) - blur(d, p.band_wide)
    if not light:
        band[..., 0] = 0.0
    out_lab -= band * (zone * amount)[..., None]
    rgb = cv2.cvtColor(out_lab, cv2.COLOR_LAB2RGB)
    work.shaded = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    support = work.soft > 0
    wider = cv2.GaussianBlur(work.soft, (0, 0), max(0.7, p.feather * fw)) * support
    work.soft = (1 - amount) * work.soft + amount * np.minimum(work.soft, wider)


def check(work: Work, ctx: Context, p: CheckParams = CHECK) -> Work:
    """Do no harm: the face's result measured against the target (colour anomaly, blotch,
    seam: twoface.quality); over a limit, the face gets a softer blend (patches taken out,
    edges feathered), and still over one, a conservative one (the skin mostly the target's,
    the features the source's). A still says so in the run's notes. Video and live smooth how
    much of the softer blend a track gets, so a face does not flicker between the two, and
    take out only the patches' colour, never mixing the target's light back in: the target's
    own creases and features taken back over a moving face showed as a ghost of it over the
    source's (hamilton_clip.mp4 frames 96-98, a frowning singer: the source's face clean
    before the check, a grey double face after it, over many frames as the choice is smoothed)."""
    if work.shaded is None:
        return work
    measured = _measures(work, ctx)
    over = _over(measured, p)
    amount = float(ctx.smooth("check", np.float32(1.0 if over else 0.0)))
    if amount <= 0.01:
        return work
    zone = _zone(work, ctx)
    _soften(work, amount, zone, p, light=not ctx.mode.moving)
    if ctx.mode.moving:
        return work
    level = "a softer blend"
    still_over = float(bool(_over(_measures(work, ctx), p)))
    conservative = float(ctx.smooth("conservative", np.float32(still_over)))
    if conservative > 0.01:
        work.soft = work.soft * (1.0 - p.conservative * conservative * zone)
        level = "a conservative blend (the target's skin, the source's features)"
    if ctx.mode is Mode.STILL and over:
        figures = ", ".join(f"{k} {measured[k]:.0f} > {getattr(p, k):.0f}" for k in over)
        work.notes.append(f"face at {_where(work)}: {level} ({figures})")
    return work


def _where(work: Work) -> str:
    return "({:.0f}, {:.0f})".format(*work.lm.mean(0))
