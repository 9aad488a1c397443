"""The classical, model-free swap: landmark-driven warp, shading transfer, seam-mended blend.

For each target face: the chosen source photo is warped piecewise-affinely (Delaunay triangles
over the 68 landmarks plus a ring around the jaw and points over the forehead) onto the target's
geometry; the warped face takes the target's low-frequency colour and lighting; a soft mask of the
inner face and brows (minus an open mouth's interior and what covers the face) has its seam mended
where both faces show skin along its edge and is feathered into the target.
Everything happens in a crop around the face, so cost follows face size, not frame size.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

from twoface.blend import alpha_composite, masked_blur, membrane_paste, transfer_tone
from twoface.errors import UsageError
from twoface.geometry import estimate_similarity, template
from twoface.mask import OPEN_MOUTH, face_mask, mouth_open_ratio
from twoface.schemes import scheme_of
from twoface.swap.base import Engine, RunState, SourceFace, SourceIdentity, SwapJob
from twoface.swap.skin import (
    SkinModel,
    clean,
    eye_openness,
    face_outline,
    gaze,
    highlights,
    lab,
    pitch_ratio,
    shaded_skin,
    yaw_sign,
)
from twoface.types import Face


class SourceTraits(NamedTuple):
    """What a source photo holds, decided once per photo (ClassicalEngine._source_traits)."""

    fringe: bool  # hair over the brows
    glasses: bool
    skin: np.ndarray  # its skin map (float 0/1, at `scale`)
    holes: np.ndarray  # its sizeable non-skin areas (float 0/1, at `scale`)
    scale: float
    mouth_covered: bool  # hair (a moustache, a beard) round its mouth
    eye_light: tuple[float, float]  # each eye's brightest tenth over the skin's lightness
    hidden: tuple[str, ...]  # its features under a hand or another skin-coloured cover


def extended_points(lm: np.ndarray) -> np.ndarray:
    """The landmarks + the jaw pushed outwards (a ring) + points over the brows (forehead)."""
    lm = np.asarray(lm, np.float64)
    s = scheme_of(lm)
    jaw, brows = s.group(lm, "jaw"), s.group(lm, "brows")
    centre = s.group(lm, "nose").mean(0)
    ring = centre + (jaw - centre) * 1.25
    up = brows.mean(0) - s.point(lm, "chin")
    forehead = brows + up * 0.35
    return np.concatenate([lm, ring, forehead])


def _triangles(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Delaunay triangles over `points` as index triples."""
    subdiv = cv2.Subdiv2D((-width, -height, 3 * width, 3 * height))
    index = {}
    # Subdiv2D keeps float32 coordinates: the keys must be float32 values too, or a point
    # computed in float64 (a scaled-down large face's) is never found and no triangle is kept.
    for i, (x, y) in enumerate(np.asarray(points, np.float32)):
        key = (float(x), float(y))
        if key in index:
            continue
        index[key] = i
        subdiv.insert(key)
    tris = []
    for t in subdiv.getTriangleList():
        pts = [(float(t[0]), float(t[1])), (float(t[2]), float(t[3])), (float(t[4]), float(t[5]))]
        if all(p in index for p in pts):
            tris.append([index[p] for p in pts])
    return np.array(tris, np.int32)


def piecewise_affine_maps(
    dst_pts: np.ndarray,
    src_pts: np.ndarray,
    fallback: np.ndarray,
    width: int,
    height: int,
    inner: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Remap tables (for cv2.remap) that pull each destination pixel from the source image.

    Pixels inside a triangle use that triangle's affine map; pixels outside all triangles use
    `fallback` (a 2x3 destination-to-source similarity), so the warp covers the whole crop.
    With `inner`, only the triangles whose corners are all among the first `inner` points.
    """
    tris = _triangles(dst_pts, width, height)
    if inner is not None and len(tris):
        tris = tris[(tris < inner).all(1)]
    labels = np.full((height, width), -1, np.int32)
    mats = np.zeros((len(tris) + 1, 2, 3), np.float64)
    mats[-1] = fallback
    for k, tri in enumerate(tris):
        mats[k] = cv2.getAffineTransform(
            dst_pts[tri].astype(np.float32), src_pts[tri].astype(np.float32)
        )
        cv2.fillConvexPoly(labels, np.round(dst_pts[tri]).astype(np.int32), k)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    m = mats[labels].astype(np.float32)  # label -1 picks the fallback
    map_x = m[..., 0, 0] * xs + m[..., 0, 1] * ys + m[..., 0, 2]
    map_y = m[..., 1, 0] * xs + m[..., 1, 1] * ys + m[..., 1, 2]
    return map_x, map_y


def pose_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Shape difference of two landmark sets after removing position, scale and rotation."""
    m = estimate_similarity(a, b)
    moved = a @ m[:, :2].T + m[:, 2]
    scale = scheme_of(b).face_width(b)
    return float(np.linalg.norm(moved - b, axis=1).mean() / max(scale, 1e-6))


def pick_source(identity: SourceIdentity, target: Face) -> SourceFace:
    """The source photo whose head pose and expression are closest to the target's."""
    if len(identity.faces) == 1:
        return identity.faces[0]
    return min(identity.faces, key=lambda s: pose_distance(s.face.landmarks, target.landmarks))


class ClassicalEngine(Engine):
    name = "classical"
    source_type = "compositeSynthetic"  # a warp of the source photo; no trained model

    def __init__(
        self,
        shading_sigma: float = 0.12,
        poisson: bool = True,  # mend the seam (a smooth offset; the name is historical)
        keep_open_mouth: bool = True,
        keep_eyes: bool = True,
        occlusion: bool = True,
        maskers: Sequence | None = None,
    ) -> None:
        self.shading_sigma = shading_sigma  # times the face width
        self.poisson = poisson
        self.keep_open_mouth = keep_open_mouth
        self.keep_eyes = keep_eyes  # the target's eyes where openness differs
        self.occlusion = occlusion  # non-skin in either face keeps the target's pixels
        # Model maskers (a face parser's regions, an occlusion model): where installed and
        # asked for, what they leave out of the target's face keeps the target's pixels,
        # instead of the colour test's answer (a hand is skin-coloured; a parser knows it is
        # not face).
        self.maskers = list(maskers or ())

    def with_maskers(self, maskers: Sequence) -> ClassicalEngine:
        """A new engine of these settings that also takes the target's face from `maskers`."""
        return ClassicalEngine(
            self.shading_sigma,
            self.poisson,
            self.keep_open_mouth,
            self.keep_eyes,
            self.occlusion,
            maskers=maskers,
        )

    def swap(self, frames: Sequence[np.ndarray], jobs: Sequence[SwapJob]) -> list[np.ndarray]:
        out = list(frames)
        # A still comes without a run: its faces share one, so a source photo is read once.
        call_run = RunState()
        # The model masks of all the batch's faces at once (batch-first), on the frames as
        # they came in: a face swapped first must not hide a neighbour from the parser.
        face_maps = self._face_maps(frames, jobs) if self.maskers else [None] * len(jobs)
        touched: set[int] = set()
        for job, face_map in zip(jobs, face_maps, strict=True):
            if job.frame_index not in touched:
                out[job.frame_index] = out[job.frame_index].copy()
                touched.add(job.frame_index)
            self.swap_one(
                out[job.frame_index],
                job.target,
                pick_source(job.source, job.target),
                face_map,
                job.run or call_run,
            )
        return out

    def _face_maps(self, frames, jobs) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per job: the maskers' combined mask (1 = the target's own face, to be swapped) on a
        crop aligned to the ArcFace template, and that crop's frame-to-crop affine."""
        from twoface.mask import combine
        from twoface.swap.engine import align_jobs

        crops, affines = align_jobs(frames, jobs, MASK_CROP, "arcface")
        targets = [job.target for job in jobs]
        masks = combine([m.masks(crops, targets, affines) for m in self.maskers], crops.shape[:3])
        return list(zip(masks, affines, strict=True))

    def swap_one(
        self,
        frame: np.ndarray,
        target: Face,
        source: SourceFace,
        face_map: tuple[np.ndarray, np.ndarray] | None = None,
        run: RunState | None = None,
    ) -> None:
        """Swap one face of `frame` in place. `face_map`: the model maskers' (mask, affine) for
        it (`_face_maps`). `run`: the run's memory (per track, per source photo)."""
        run = run or RunState()
        if target.landmarks is None or source.face.landmarks is None:
            raise UsageError(
                "the classical engine needs landmarks: use a landmarker such as dlib68, not none",
                "landmarks",
            )
        if len(target.landmarks) != len(source.face.landmarks):
            raise ValueError("source and target landmarks must come from one scheme")
        scheme = scheme_of(target.landmarks, target.landmark_scheme)
        src_image, src_lm = _facing(source.image, source.face.landmarks, target.landmarks, scheme)
        h, w = frame.shape[:2]
        dst = extended_points(target.landmarks)
        face_w = scheme.face_width(target.landmarks)
        margin = int(face_w * 0.1) + 4
        x0 = max(int(np.floor(dst[:, 0].min())) - margin, 0)
        y0 = max(int(np.floor(dst[:, 1].min())) - margin, 0)
        x1 = min(int(np.ceil(dst[:, 0].max())) + margin, w)
        y1 = min(int(np.ceil(dst[:, 1].max())) + margin, h)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return
        crop = frame[y0:y1, x0:x1]
        # Work at a bounded size per face: a 1,500-px face costs what a 320-px one does.
        scale = min(1.0, WORK_FACE / max(face_w, 1.0))
        lm_local = (target.landmarks.astype(np.float64) - (x0, y0)) * scale
        work = (
            crop
            if scale == 1.0
            else cv2.resize(
                crop,
                (max(8, round((x1 - x0) * scale)), max(8, round((y1 - y0) * scale))),
                interpolation=cv2.INTER_AREA,
            )
        )
        face_only = None
        if face_map is not None:
            # The aligned crop's mask, brought into the working crop: work -> frame -> aligned.
            mask, affine = face_map
            to_frame = np.array([[1 / scale, 0, x0], [0, 1 / scale, y0], [0, 0, 1]], np.float64)
            # (Beyond the aligned crop the maskers say nothing: 1.)
            face_only = _unaligned(mask, np.asarray(affine, np.float64) @ to_frame, work, 1.0)
        shaded, soft = self._swap_crop(
            work, lm_local, src_image, src_lm, scheme, run, target.track_id, face_only
        )
        if shaded is None:
            return
        if scale != 1.0:
            size = (x1 - x0, y1 - y0)
            shaded = cv2.resize(shaded, size, interpolation=cv2.INTER_CUBIC)
            soft = np.clip(cv2.resize(soft, size, interpolation=cv2.INTER_LINEAR), 0, 1)
        frame[y0:y1, x0:x1] = alpha_composite(shaded, crop, soft)

    # Video: per-track decisions are smoothed over time (exponential moving average), so a mask
    # edge or an eye decision near its threshold does not flicker from frame to frame.
    SMOOTH = 0.15  # weight of the new frame
    TRACKS_KEPT = 64

    def _smooth(self, run: RunState, track_id, key: str, value, weight: float | None = None):
        if track_id is None:
            return value
        w = self.SMOOTH if weight is None else weight
        tracks: OrderedDict = run.slot("classical.tracks", OrderedDict)
        state = tracks.setdefault(track_id, {})
        old = state.get(key)
        new = value if old is None else w * value + (1 - w) * old
        state[key] = new
        tracks.move_to_end(track_id)
        while len(tracks) > self.TRACKS_KEPT:
            tracks.popitem(last=False)
        return new

    def _smooth_mask(self, run: RunState, track_id, mask: np.ndarray, lm, scheme) -> np.ndarray:
        """`mask` averaged with the track's earlier ones, in a face-aligned frame (so the
        average follows the face as it moves)."""
        m = estimate_similarity(scheme.five_points(lm), template("arcface", CANONICAL))
        aligned = cv2.warpAffine(mask, m, (CANONICAL, CANONICAL), flags=cv2.INTER_LINEAR)
        smoothed = self._smooth(run, track_id, "allowed", aligned, MASK_SMOOTH)
        h, w = mask.shape
        back = cv2.warpAffine(
            smoothed, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=1.0
        )
        return np.clip(back, 0.0, 1.0)

    def _source_traits(self, run: RunState, image, lm, scheme):
        """What a source photo holds (`SourceTraits`), decided once per photo and run on the
        photo itself at the working size, so a video's frames all get the same answer."""
        cache: dict = run.slot("classical.traits", dict)
        key = (id(image), image.shape)
        if key not in cache:
            fw = scheme.face_width(lm)
            scale = min(1.0, WORK_FACE / max(fw, 1.0))
            small = (
                image
                if scale == 1.0
                else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            )
            small_lm = np.asarray(lm, np.float64) * scale
            small_lab = lab(small)
            model = SkinModel.fit(small_lab, small_lm, scheme)
            skin = model.skin(small_lab)
            parsed = self._parsed_face(small, small_lm, scheme)
            if parsed is not None:
                # A face parser is installed: what it calls face is the source's skin (a beard,
                # hair or a hand are not, whatever their colour).
                skin = parsed
            holes = 1 - clean(skin, fw * scale, SOURCE_HOLE)
            traits = SourceTraits(
                _fringe(skin, small_lm, scheme),
                _glasses(small_lab[..., 0], small_lm, scheme),
                skin.astype(np.float32),
                holes.astype(np.float32),
                scale,
                not _surroundings_shown(skin, small_lm, scheme, "mouth_outer", fw * scale),
                eye_light(small_lab, small_lm, scheme, model),
                tuple(_hidden_features(small_lab, skin, model, small_lm, scheme, fw * scale)),
            )
            cache[key] = (image, traits)  # the image kept: its id stays its own
            while len(cache) > 8:
                cache.pop(next(iter(cache)))
        return cache[key][1]

    def _parsed_face(self, image, lm, scheme) -> np.ndarray | None:
        """Where the engine's face parser (a region masker) calls a photo's pixels face, as a
        boolean map of the photo; None without a parser."""
        from twoface.identity.arcface import align
        from twoface.mask.base import RegionMasker

        region = next((m for m in self.maskers if isinstance(m, RegionMasker)), None)
        if region is None:
            return None
        crop, m = align(image, scheme.five_points(lm), MASK_CROP, "arcface")
        face = region.masks(crop[None], [None], m[None])[0]
        return _unaligned(face, m, image, 0.0) > 0.5

    def _swap_crop(
        self, crop, lm_local, src_image, src_lm, scheme, run, track_id=None, face_only=None
    ):
        """The swapped crop and its soft mask (crop coordinates), or (None, None). face_only:
        the model maskers' map of the target's own face in crop coordinates, or None."""
        n = len(lm_local)
        dst_local = extended_points(lm_local)
        src = extended_points(src_lm)
        fallback = estimate_similarity(dst_local[:n], src[:n])
        ch, cw = crop.shape[:2]
        # Video: only the triangles between landmarks, the similarity beyond them -- the ring
        # round the jaw follows dlib's jaw points, which shake frame to frame (dance.mp4's
        # landmark jitter 0.079 -> 0.082-0.085 of a 0.083 bound with it).
        inner = n if track_id is not None else None
        map_x, map_y = piecewise_affine_maps(dst_local, src, fallback, cw, ch, inner)
        warped = cv2.remap(src_image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        face_w = scheme.face_width(lm_local)
        crop_lab, warped_lab = lab(crop), lab(warped)
        source_open = mouth_open_ratio(src_lm, scheme) > OPEN_MOUTH
        # Poses apart (after any mirroring): blend more softly rather than show stretched
        # texture up to a sharp edge.
        yaw_gap = abs(yaw_sign(lm_local, scheme) - yaw_sign(src_lm, scheme))
        pitch_gap = abs(pitch_ratio(lm_local, scheme) - pitch_ratio(src_lm, scheme))
        soft = face_mask(
            crop.shape[:2],
            lm_local,
            keep_open_mouth=self.keep_open_mouth,
            source_mouth_open=source_open,
            softness=1.0 + 1.5 * max(_ramp(yaw_gap, 0.2, 0.4), _ramp(pitch_gap, 0.12, 0.06)),
        )
        # How much the target's own eyes should stay (0..1, continuous so video does not
        # flicker): closed against open, or a gaze elsewhere.
        keep = 0.0
        if self.keep_eyes:
            # A clearly closed target (stills: CLOSED; videos, where dlib's eye points wobble,
            # VIDEO_CLOSED).
            closed = CLOSED if track_id is None else VIDEO_CLOSED
            keep = _ramp(closed - eye_openness(lm_local, scheme), 0.0, 0.03)
            if track_id is None:
                # Stills also keep eyes whose openness or gaze differ; in a video those measures
                # are too noisy frame to frame (they shook the output's landmarks by 15%).
                gap = abs(
                    gaze(crop_lab[..., 0], lm_local, scheme)
                    - gaze(warped_lab[..., 0], lm_local, scheme)
                )
                # A head tilted back or bowed far from the source's: the source's eyes, warped
                # that far, smear or double; the target's own stay.
                keep = max(
                    keep,
                    _eyes_keep(lm_local, src_lm, scheme),
                    _ramp(gap, GAZE_GAP, 0.08),
                    _ramp(pitch_gap, PITCH_GAP, 0.03),
                )
        if track_id is None:
            # A still decides: half of each pair of eyes showed as a doubled, ghostly eye (kun1
            # with roblowe2 at 0.5). A video keeps the ramp, smoothed, so the decision does not
            # flicker.
            keep = float(keep >= 0.5)
        keep = self._smooth(run, track_id, "eyes", np.float32(keep))

        def eye_area(grow: float) -> np.ndarray:
            return _region(
                crop.shape[:2], lm_local, scheme, ("eye_left", "eye_right"), face_w, grow
            )

        if keep > 0.01:
            soft *= 1.0 - float(keep) * eye_area(0.1)
        # A frontal source on a turned face spreads its cheek over the target's wide near cheek:
        # its folds and shine came out stretched into dark curves and patches. Where the warp
        # stretches the source far beyond the face's own scale the target's skin stays; eyes,
        # brows and mouth come from the source whatever the stretch.
        # (Stills: in a video the stretch, changing with dlib's shaking points, moved the
        # output's landmarks -- dance.mp4's jitter 0.079 -> 0.081.)
        stretched = _stretched(map_x, map_y, fallback, face_w) if track_id is None else None
        if stretched is not None:
            parts = ("eye_left", "eye_right", "brows", "mouth_outer")
            features_soft = _region(crop.shape[:2], lm_local, scheme, parts, face_w, 0.03)
            soft *= 1.0 - stretched * (1.0 - features_soft)
        model_t = SkinModel.fit(crop_lab, lm_local, scheme)
        skin_t = model_t.skin(crop_lab)
        traits = self._source_traits(run, src_image, src_lm, scheme)
        if self.keep_eyes:
            # A source eye in shadow or under low lids (a side light, deep-set eyes, a look
            # down) came out as a dark hole in a target's open, lit eye: where the source's eye
            # is far darker than the target's (its brightest tenth against the skin), the
            # target keeps that eye. (The source's side is measured once on its photo.)
            target_light = eye_light(crop_lab, lm_local, scheme, model_t)
            for part, s_light, t_light in zip(
                ("eye_left", "eye_right"), traits.eye_light, target_light, strict=True
            ):
                if s_light >= DIM_EYE:  # an eye with its whites showing is never a hole
                    continue
                amount = _ramp(DIM_EYE - s_light / max(t_light, 1e-3), 0.0, 0.1)
                if track_id is None:
                    amount = float(amount >= 0.5)
                amount = float(self._smooth(run, track_id, f"shadow_{part}", np.float32(amount)))
                if amount > 0.01:
                    area = _region(crop.shape[:2], lm_local, scheme, (part,), face_w, 0.1)
                    soft *= 1.0 - amount * area
        model_s = SkinModel.fit(warped_lab, lm_local, scheme)
        skin_s = model_s.skin(warped_lab)
        # (Taken before the fill below changes the warped source.)
        skin_s_any = model_s.skin(warped_lab, any_light=True) if track_id is None else None
        skin_t_any = model_t.skin(crop_lab, any_light=True) if track_id is None else None
        kept = None  # the target's own features kept (a source mouth in a beard, a hidden eye)
        pin_skin = None  # stills: the target's skin (occluders out), where the seam is mended
        beard_left = None  # video: the source's beard, left to the target's pixels
        if self.occlusion:
            # Beards, fringes, glasses, microphones -- in either face -- keep the target's pixels;
            # eyes, brows and lips come from the source by region.
            parts = ("eye_left", "eye_right", "mouth_outer")
            if not traits.fringe:
                parts += ("brows",)

            def keep_targets(part: str, grow: float) -> None:
                # The target keeps its own feature (and, for an eye, its brow) and the skin
                # `grow` face widths round it; the source's is no feature.
                nonlocal parts, kept
                parts = _without(parts, part, scheme)
                region = _region(
                    crop.shape[:2], lm_local, scheme, _with_brow(part, scheme), face_w, grow
                )
                kept = region if kept is None else np.maximum(kept, region)

            if traits.mouth_covered:
                # A moustache or beard round the source's mouth: its lips, carried with the
                # hair round them, came out as a dark band; the target keeps its own mouth and
                # the source's hair is filled like any occluder.
                keep_targets("mouth_outer", MOUTH_KEPT)
            # A hand over one of the source's eyes (or its mouth) would be warped onto the
            # target's: the target keeps that feature and the skin round it (hand_over_eye_woman
            # as the source on kun1_bangs: fingers over his eye).
            for part in traits.hidden:
                keep_targets(part, HAND_KEPT)
            features = _region(crop.shape[:2], lm_local, scheme, parts, face_w, 0.03) > 0.5

            # The source's sizeable occluders (a beard, a hand, hair) are not carried over: they
            # are filled with the source's own surrounding skin rather than opened onto the
            # target, whose skin sat in another light and tone and showed as a pale patch.
            # Found once on the source photo and warped with it; small non-skin blobs (a
            # smile's creases, shadows by the eyes) are part of the face.
            def warp(src_map: np.ndarray) -> np.ndarray:
                s = traits.scale
                return cv2.remap(src_map, map_x * s, map_y * s, cv2.INTER_LINEAR) > 0.5

            # (Videos too, since the seam is mended near the edge only: with a Poisson clone
            # over the whole face the fill had moved the output's landmarks, dance.mp4's jitter
            # 0.076 -> 0.087; now 0.073.)
            source_holes = warp(traits.holes)
            holes = source_holes & ~features
            warped_lab = fill_from_skin(
                warped_lab, holes, warp(traits.skin) & ~holes, face_w, texture=crop_lab
            )
            if track_id is None:
                # The target's own occluders, down to a glasses rim, keep the target's pixels.
                # A mouth whose surroundings are mostly covered in the target (a face mask, a
                # full beard) is covered too, and grey things over the lips (a microphone) are
                # never lips: there the target's pixels stay, not the source's mouth. (Eyes:
                # lashes and lids make their surroundings too unlike skin to judge this way.)
                # (Skin in shade is skin: a nose's shadow kept as an occluder left the target's
                # own patch in the middle of the swap.)
                target_skin = skin_t | shaded_skin(
                    model_t, crop_lab, lm_local, scheme, face_w, any_light=skin_t_any
                )
                target_skin |= highlights(target_skin, crop_lab[..., 0], model_t.median[0], face_w)
                target_skin = clean(target_skin, face_w).astype(bool)
                pin_skin = target_skin
                if face_only is not None:
                    # A parser's or occlusion model's answer replaces the colour test: a hand
                    # or a pink face mask is skin-coloured, but not face.
                    target_skin = face_only > 0.5
                if not _surroundings_shown(target_skin, lm_local, scheme, "mouth_outer", face_w):
                    parts = _without(parts, "mouth_outer", scheme)
                parts = _shown_eyes(parts, target_skin, lm_local, scheme, face_w)
                # A hand or a microphone over an eye or the mouth: skin-coloured, so the colour
                # test lets the source's eye or lips be painted on the fingers. Such a feature
                # is no feature, and the target keeps its own pixels there.
                for part in _hidden_features(crop_lab, skin_t, model_t, lm_local, scheme, face_w):
                    keep_targets(part, 0.05)
                mouth = _region(crop.shape[:2], lm_local, scheme, ("mouth_outer",), face_w, 0.03)
                features = (
                    _region(crop.shape[:2], lm_local, scheme, parts, face_w, 0.03) > 0.5
                ) & ~((mouth > 0.5) & model_t.colourless(crop_lab))
                allowed = target_skin | features
            else:
                # Video: the per-frame skin test made the output's landmarks shake (dance.mp4:
                # +11% jitter); the source's traits below are decided once per photo. A beard
                # round the source's mouth (decided on the photo, warped with it) is not
                # carried: the target's own pixels show there.
                allowed = np.ones(crop.shape[:2], bool)
                if traits.mouth_covered:
                    # (Closed: the stubble between the hairs, skin-coloured, left a ragged edge.)
                    k = max(1, int(round(BEARD_CLOSE * face_w)))
                    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
                    beard = source_holes & _below_nose(crop.shape[:2], lm_local, scheme)
                    beard = cv2.morphologyEx(beard.astype(np.uint8), cv2.MORPH_CLOSE, disc) > 0
                    # (Feathered wide: the target's lower face and the source's skin meet there.)
                    beard_left = cv2.GaussianBlur(
                        (beard & ~features).astype(np.float32), (0, 0), BEARD_FEATHER * face_w
                    )
            if traits.glasses:
                # The source wears glasses: thin rims pass a colour test, so the whole ring
                # round the eyes (not the eyes) comes from the target.
                allowed &= ~((eye_area(0.2) > 0.5) & (eye_area(0.015) < 0.5))
            allowed = cv2.GaussianBlur(allowed.astype(np.float32), (0, 0), max(0.7, 0.005 * face_w))
            if beard_left is not None:
                allowed = np.minimum(allowed, 1.0 - beard_left)
            if face_only is not None:
                # What the models leave out is left out whatever the features (an eye under a
                # hand stays the hand).
                allowed = np.minimum(allowed, face_only)
            if track_id is not None:
                allowed = self._smooth_mask(run, track_id, allowed, lm_local, scheme)
        else:
            allowed = np.ones_like(soft) if face_only is None else face_only
        # Stills: the seam is mended along the occlusion holes' edges too (where skin meets
        # skin). Video: over the whole face area, holes and all -- holes moving from frame to
        # frame would make the offset jump -- and the occluders are put back by the final
        # composite.
        face_area = (soft > 0.02).astype(np.uint8)
        soft = soft * allowed
        hard = (soft > 0.02).astype(np.uint8) if track_id is None else face_area
        if kept is not None:
            # The target's kept features go in by the final composite, not as holes the clone
            # is pinned to: the lips' dark edge greyed the skin round them.
            soft = soft * (1.0 - kept)
        if (soft > 0.02).sum() < 16:
            return None, None
        tone_mask = (hard > 0) & skin_t & skin_s
        if tone_mask.sum() < 16:
            tone_mask = hard > 0
        sigma = max(1.0, self.shading_sigma * face_w)
        lips = _region(crop.shape[:2], lm_local, scheme, ("mouth_outer",), face_w, 0.0) * (
            1.0 - _region(crop.shape[:2], lm_local, scheme, ("mouth_inner",), face_w, 0.0)
        )
        # The light measured on the skin in shadow too. (Stills: in a video it moved the
        # output's landmarks frame to frame -- dance.mp4's jitter 0.079 -> 0.082 of a 0.083 bound.)
        shading = tone_mask
        if skin_s_any is not None:
            in_any_light = (hard > 0) & skin_t_any & skin_s_any
            if in_any_light.sum() >= 16:
                shading = in_any_light
        shaded = transfer_tone(
            warped_lab,
            crop_lab,
            tone_mask,
            sigma,
            face_w=face_w,
            area=hard > 0,
            lips=lips,
            shading=shading | tone_mask,
            creases=_cheeks(crop.shape[:2], lm_local, scheme, face_w),
        )
        if self.poisson:
            # A Poisson clone is pinned to the target along the whole mask edge; where that edge
            # runs along hair, stubble or the background it pulled the whole face towards their
            # colour (the low-frequency lightness error inside the face: frontal_neutral_man
            # with obama 7.0 L*, dance.mp4 with obama 10.6). The seam is mended only where both
            # faces show skin, and only near the edge: the tone transfer has set the face's
            # light already (3.0, 2.6; dance.mp4's landmark jitter 0.079 -> 0.073).
            both = (skin_t if pin_skin is None else pin_skin) & (
                skin_s if skin_s_any is None else skin_s | skin_s_any
            )
            shaded = membrane_paste(shaded, crop, hard, both, SEAM_REACH * face_w)
        return shaded, soft


# Side of the ArcFace-aligned crop the model maskers (parser, occluder) see.
MASK_CROP = 256
# How far into the face (x face width) the clone's edge correction reaches.
SEAM_REACH = 0.08
# Faces are swapped at most this wide (ear to ear, pixels), then scaled back.
WORK_FACE = 320
# The smallest non-skin area of the source (x face width^2) kept out of the swap as an occluder.
SOURCE_HOLE = 0.01
# Eye height over width from dlib's points (lashes included): open eyes 0.25-0.47 on the shared
# photos, the closed eyes of closed_eyes_woman.jpg 0.19, the near-closed ones of
# pitch_down_woman.jpg 0.22.
OPENNESS_GAP = 0.1  # a difference that counts as "the eyes differ"
CLOSED = 0.23
# Iris position between the eye corners (0..1): the source looking aside onto a target looking
# ahead (or the reverse) keeps the target's eyes.
GAZE_GAP = 0.15
VIDEO_CLOSED = 0.2
# pitch_ratio apart by this much (source against target) starts keeping the target's eyes:
# frontal faces read 0.21-0.36 on the shared photos, pitch_up_woman.jpg 0.14 (two_people.jpg's
# slightly raised chin 0.16: a gap of 0.13 from mark.jpg's 0.29 must not count yet).
PITCH_GAP = 0.135


def _stretched(map_x, map_y, to_source: np.ndarray, face_w: float) -> np.ndarray | None:
    """0..1 per crop pixel: how far the warp stretches the source there beyond the face's own
    scale (the similarity `to_source`): 0 up to STRETCH times the area, 1 from STRETCH +
    STRETCH_RAMP; smooth across the warp's triangles. None where nothing is stretched."""
    scale = abs(float(np.linalg.det(to_source[:, :2])))
    jxx, jxy = np.gradient(map_x, axis=1), np.gradient(map_x, axis=0)
    jyx, jyy = np.gradient(map_y, axis=1), np.gradient(map_y, axis=0)
    area = np.abs(jxx * jyy - jxy * jyx)  # source area per crop pixel
    stretch = scale / np.maximum(area, 1e-6)
    amount = np.clip((stretch - STRETCH) / STRETCH_RAMP, 0.0, 1.0).astype(np.float32)
    if amount.max() <= 0:
        return None
    return cv2.GaussianBlur(amount, (0, 0), max(1.0, 0.05 * face_w))


# A source area spread over more than STRETCH times its share of the face starts giving way to
# the target's skin, all of it STRETCH_RAMP further (profile75_woman's near cheek: up to 4.6x
# against a frontal source; frontal pairs stay below 1.3x).
STRETCH, STRETCH_RAMP = 1.6, 1.0


def _below_nose(shape, lm, scheme) -> np.ndarray:
    """Where a beard can be: below the nose tip, along the face's own downward axis."""
    eye_l, eye_r = scheme.eye_centres(lm)
    tip = scheme.point(lm, "nose_tip").reshape(-1)
    down = scheme.point(lm, "chin").reshape(-1) - (eye_l + eye_r) / 2
    down = down / max(float(np.linalg.norm(down)), 1e-6)
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    return (xs - tip[0]) * down[0] + (ys - tip[1]) * down[1] > 0


def fill_from_skin(image_lab, holes, skin, face_w: float, texture=None):
    """`image_lab` with the `holes` painted over by the surrounding `skin` (normalised
    convolution at a tenth of the face width, then the seam feathered). With `texture` (an
    L*a*b* image of the same place, the target's), its fine lightness detail is laid over the
    fill: a flat fill read as a smooth patch next to stubble or pores."""
    if not holes.any():
        return image_lab
    smooth = masked_blur(image_lab, skin, max(1.0, 0.1 * face_w))
    if texture is not None:
        log = np.log(np.maximum(texture[..., 0], 1.0))
        detail = log - cv2.GaussianBlur(log, (0, 0), max(1.0, FILL_DETAIL * face_w))
        smooth[..., 0] *= np.exp(detail)
    weight = cv2.GaussianBlur(holes.astype(np.float32), (0, 0), max(0.7, 0.01 * face_w))
    weight = np.maximum(weight, holes)[..., None]
    return image_lab * (1 - weight) + smooth * weight


# The target's detail finer than this (x face width) is laid over a filled hole.
FILL_DETAIL = 0.02


def _cheeks(shape, lm, scheme, face_w: float) -> np.ndarray:
    """Soft map of the face's skin away from its features: inside the jaw and brows' outline
    (shrunk by 0.05 face widths), outside the eyes, brows, nose and mouth (grown by 0.04) --
    where a smile's folds and creases are, and nothing that carries the identity's shapes."""
    k = max(1, int(round(0.05 * face_w)))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    outline = cv2.erode(face_outline(shape, lm, scheme).astype(np.uint8), disc)
    parts = ("eye_left", "eye_right", "brows", "nose", "mouth_outer")
    features = _region(shape, lm, scheme, parts, face_w, 0.04)
    zone = outline.astype(np.float32) * (1.0 - features)
    return cv2.GaussianBlur(zone, (0, 0), max(1.0, 0.04 * face_w))


def _ramp(x: float, start: float, width: float) -> float:
    return float(np.clip((x - start) / width, 0.0, 1.0))


def _eyes_keep(target_lm, source_lm, scheme) -> float:
    """0..1: how clearly the eyes differ (one pair closed, or openness far apart)."""
    t, s = eye_openness(target_lm, scheme), eye_openness(source_lm, scheme)
    return max(_ramp(abs(t - s), OPENNESS_GAP, 0.05), _ramp(CLOSED - min(t, s), 0.0, 0.03))


CANONICAL = 128  # side of the face-aligned frame temporal smoothing happens in
MASK_SMOOTH = 0.05


def _region(shape, lm, scheme, groups, face_w, grow) -> np.ndarray:
    """Soft mask of the named landmark groups (filled outlines), grown by `grow` face widths."""
    hard = np.zeros(shape, np.uint8)
    for g in groups:
        if g == "brows":
            for part in ("brow_left", "brow_right"):
                pts = scheme.group(lm, part) if scheme.has(part) else scheme.group(lm, "brows")
                cv2.fillConvexPoly(
                    hard, np.round(cv2.convexHull(pts.astype(np.float32))).astype(np.int32), 255
                )
            continue
        pts = scheme.group(lm, g).astype(np.float32)
        cv2.fillConvexPoly(hard, np.round(cv2.convexHull(pts)).astype(np.int32), 255)
    k = max(1, int(round(grow * face_w)))
    hard = cv2.dilate(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    return cv2.GaussianBlur(hard.astype(np.float32) / 255.0, (0, 0), max(0.8, 0.01 * face_w))


def _unaligned(mask: np.ndarray, to_crop: np.ndarray, like: np.ndarray, border: float):
    """A mask made on an aligned crop, brought onto the pixels of `like` (`to_crop`: the 2x3
    map from those pixels to the crop's)."""
    return cv2.warpAffine(
        mask.astype(np.float32),
        to_crop,
        (like.shape[1], like.shape[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderValue=border,
    )


def _ring_share(skin: np.ndarray, lm, scheme, part: str, face_w: float) -> float:
    """The share of skin in a ring round a feature (a landmark group); 1 for a ring too small
    to tell."""
    inner = _region(skin.shape, lm, scheme, (part,), face_w, 0.03) > 0.5
    outer = _region(skin.shape, lm, scheme, (part,), face_w, SURROUNDINGS) > 0.5
    ring = outer & ~inner
    return float(skin[ring].mean()) if ring.sum() >= 16 else 1.0


def _surroundings_shown(skin: np.ndarray, lm, scheme, part: str, face_w: float) -> bool:
    """Whether most of a ring round a feature (a landmark group) is the face's skin."""
    return _ring_share(skin, lm, scheme, part, face_w) >= SHOWN


# The ring round a feature that tells whether the target shows it (x face width), and the
# share of it that must be skin.
SURROUNDINGS = 0.08
SHOWN = 0.5


def _hidden_features(image_lab, skin, model: SkinModel, lm, scheme, face_w: float) -> list[str]:
    """A face's eyes and mouth covered by something skin-coloured (a hand, fingers round a
    microphone; the target's per image, the source's once per photo). An eye shows dark iris and lashes and is mostly not skin; under fingers its
    outline holds skin with nothing dark (hand_over_eye_woman: 76% skin, its darkest tenth
    0.30 of the skin's lightness below it; real eyes on the shared photos at most 29% or at
    least 0.42). Lips are redder than the skin round them; fingers and a microphone over them
    are not (glasses_beard_mic: a* 9 below the skin's; real mouths at most 3 below, a face
    mask's). A greyscale photo says nothing here."""
    if not model.coloured:
        return []
    hidden = []
    light = image_lab[..., 0]
    for part in ("eye_left", "eye_right", "mouth_outer"):
        inside = _region(skin.shape, lm, scheme, (part,), face_w, 0.0) > 0.5
        if inside.sum() < 16:
            continue
        if part == "mouth_outer":
            redness = np.percentile(image_lab[..., 1][inside], 75) - model.median[1]
            covered = redness < -UNRED_LIPS
        else:
            dark = (model.median[0] - np.percentile(light[inside], 10)) / max(model.median[0], 1.0)
            covered = skin[inside].mean() > SKIN_EYE and dark < DARK_EYE
        if covered:
            hidden.append(part)
    return hidden


# How far round a source's feature under a hand the target's own pixels stay (x face width):
# the fingers reach beyond the eye.
HAND_KEPT = 0.1
# An eye outline more than this share skin, with its darkest tenth less than DARK_EYE of the
# skin's lightness below it, is covered; lips whose redder quarter is UNRED_LIPS a* below
# the skin's median are.
SKIN_EYE, DARK_EYE, UNRED_LIPS = 0.6, 0.36, 5.0


def eye_light(image_lab, lm, scheme, model: SkinModel) -> tuple[float, float]:
    """Per eye (eye_left, eye_right): the lightness of the brightest tenth inside its outline
    (the eye's whites, the lit lid) over the skin's median lightness; 1.0 for an eye too small
    to tell."""
    out = []
    fw = scheme.face_width(lm)
    for part in ("eye_left", "eye_right"):
        inside = _region(image_lab.shape[:2], lm, scheme, (part,), fw, 0.0) > 0.5
        if inside.sum() < 8:
            out.append(1.0)
            continue
        bright = float(np.percentile(image_lab[..., 0][inside], 90))
        out.append(bright / max(float(model.median[0]), 1.0))
    return out[0], out[1]


# A source eye whose light (`eye_light`) is below DIM_EYE, and below DIM_EYE of the target eye's,
# starts giving way to the target's, all of it 0.1 below. Looked at: sidelight_beard_yaw_man's
# eyes (0.12 in the side light's shadow, 0.70 under low lids looking down) and beckham's
# deep-set squint (0.60-0.65) came out as dark holes in frontal_neutral_man's and elon_musk's
# open eyes (1.0); with the target's eyes they look right (beckham -> elon_musk's identity
# distance drop is smaller for it, 0.25 -> 0.14). obama, roblowe2, rdj1 and elon's eyes read
# 0.78-1.0 and always stay the source's.
DIM_EYE = 0.75


def _shown_eyes(parts: tuple, skin: np.ndarray, lm, scheme, face_w: float) -> tuple:
    """`parts` without the eyes (and their brows) whose surroundings show next to no skin: a
    landmark fit that put a turned face's far eye out on the background (profile90's dlib fit)
    must not paint the source's eye there. Lids and lashes darken any eye's ring, so the share
    asked of an eye is low."""
    for eye in ("eye_left", "eye_right"):
        if _ring_share(skin, lm, scheme, eye, face_w) < EYE_SHOWN:
            parts = _without(parts, eye, scheme)
    return parts


def _with_brow(part: str, scheme) -> tuple[str, ...]:
    """A feature and, for an eye, the brow over it (where the scheme names brows apiece)."""
    brow = f"brow_{part.removeprefix('eye_')}"
    return (part, brow) if part.startswith("eye_") and scheme.has(brow) else (part,)


def _without(parts: tuple, part: str, scheme) -> tuple:
    """`parts` without `part`, and without the brow over it when it is an eye."""
    gone = _with_brow(part, scheme)
    out = [p for p in parts if p not in gone]
    if len(gone) == 2 and "brows" in out:  # both brows as one group: keep the other one
        other = "brow_right" if gone[1] == "brow_left" else "brow_left"
        out = [p for p in out if p != "brows"] + [other]
    return tuple(out)


# The gaps closed in a source's beard before its area is left to the target's pixels (x face
# width).
BEARD_CLOSE = 0.04
BEARD_FEATHER = 0.03
# How far round the target's mouth its own pixels stay when the source's mouth is covered by
# hair (x face width).
MOUTH_KEPT = 0.02
# Share of the ring round an eye that must be skin for the eye to count as shown: the far eye
# dlib put on profile90_oldman_sidelight.jpg's background reads 0.0; the lowest shown eye on the
# shared photos, in sidelight_beard_yaw_man.png's shadow, 0.18.
EYE_SHOWN = 0.08


def _fringe(skin: np.ndarray, lm, scheme) -> bool:
    """Whether hair covers the brows in this (warped source) face: most of the band just above
    and over the brows is not skin."""
    brows = scheme.group(lm, "brows").astype(np.float64)
    up = brows.mean(0) - scheme.point(lm, "chin")
    up /= max(np.linalg.norm(up), 1e-6)
    band = np.concatenate([brows, (brows + up * 0.12 * scheme.face_width(lm))[::-1]])
    m = np.zeros(skin.shape, np.uint8)
    cv2.fillPoly(m, [np.round(band).astype(np.int32)], 1)
    inside = m > 0
    return bool(inside.sum() > 16 and (~skin[inside]).mean() > 0.5)


def _glasses(lightness: np.ndarray, lm, scheme) -> bool:
    """Whether a face wears glasses: the smooth skin between the inner eye corners shows thin
    lines (a bridge) -- dark or bright, so rims of any colour count."""
    left = scheme.group(lm, "eye_left").astype(np.float64)
    right = scheme.group(lm, "eye_right").astype(np.float64)
    inner_l = left[np.argmax(left[:, 0])]
    inner_r = right[np.argmin(right[:, 0])]
    fw = scheme.face_width(lm)
    dy = np.array([0.0, 0.06 * fw])
    centre = (inner_l + inner_r) / 2  # the middle 60% of the gap: not the eye corners
    a, b = centre + (inner_l - centre) * 0.6, centre + (inner_r - centre) * 0.6
    quad = np.array([a - dy, b - dy, b + dy, a + dy])
    m = np.zeros(lightness.shape, np.uint8)
    cv2.fillConvexPoly(m, np.round(quad).astype(np.int32), 1)
    if m.sum() < 16:
        return False
    k = max(3, int(round(0.04 * fw)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    lines = np.maximum(
        cv2.morphologyEx(lightness, cv2.MORPH_BLACKHAT, kernel),
        cv2.morphologyEx(lightness, cv2.MORPH_TOPHAT, kernel),
    )
    return bool((lines[m > 0] > GLASSES_LINE).mean() > GLASSES_SHARE)


# Measured at the working size on the shared photos: the two faces with glasses cover 21% and
# 41% of the bridge with such lines; twelve without, 0-8%.
GLASSES_LINE = 10.0  # L* units of a thin line against its surroundings
GLASSES_SHARE = 0.15  # share of the bridge area such lines cover


def _facing(image, lm, target_lm, scheme):
    """The source photo made to face like the target when their poses differ by far: faces are
    near symmetric. Turned the other way (the target clearly so): the whole photo mirrored.
    Otherwise (e.g. a turned source onto a frontal target): the better-visible half mirrored onto
    the foreshortened one, so the warp does not stretch the narrow half across the face."""
    if scheme.flip is None:
        return image, lm
    ys, yt = yaw_sign(lm, scheme), yaw_sign(target_lm, scheme)
    if abs(ys - yt) <= MIRROR_YAW:
        return image, lm
    if ys * yt < 0 and abs(yt) > FRONTAL_YAW:
        return np.ascontiguousarray(image[:, ::-1]), scheme.mirrored(lm, image.shape[1])
    return _symmetric(image, lm, scheme, ys), lm


def _symmetric(image: np.ndarray, lm: np.ndarray, scheme, yaw: float) -> np.ndarray:
    """`image` with the face's foreshortened half replaced by its other half, mirrored and
    warped into place (the landmarks stay where they were)."""
    h, w = image.shape[:2]
    lm = np.asarray(lm, np.float64)
    fw = scheme.face_width(lm)
    flipped = np.ascontiguousarray(image[:, ::-1])
    lm_f = scheme.mirrored(lm, w).astype(np.float64)
    pts = extended_points(lm)
    margin = int(0.1 * fw) + 4
    x0, y0 = max(int(pts[:, 0].min()) - margin, 0), max(int(pts[:, 1].min()) - margin, 0)
    x1, y1 = min(int(pts[:, 0].max()) + margin, w), min(int(pts[:, 1].max()) + margin, h)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return image
    n = len(lm)
    dst = pts - (x0, y0)
    src = extended_points(lm_f)
    fallback = estimate_similarity(dst[:n], src[:n])
    map_x, map_y = piecewise_affine_maps(dst, src, fallback, x1 - x0, y1 - y0)
    mirrored = cv2.remap(flipped, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # The face's midline: a line x = a*y + b through the nose points; the hidden half is on
    # the side the nose points to.
    nose = scheme.group(lm, "nose") - (x0, y0)
    a, b = (
        np.polyfit(nose[:, 1], nose[:, 0], 1)
        if np.ptp(nose[:, 1]) > 1
        else (0.0, nose[:, 0].mean())
    )
    ys, xs = np.mgrid[0 : y1 - y0, 0 : x1 - x0].astype(np.float32)
    side = (xs - (a * ys + b)) * (1.0 if yaw > 0 else -1.0)
    weight = np.clip(side / max(0.06 * fw, 1.0) + 0.5, 0.0, 1.0)[..., None]
    out = image.copy()
    region = image[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(weight * mirrored + (1 - weight) * region + 0.5, 0, 255).astype(
        np.uint8
    )
    return out


FRONTAL_YAW = 0.15
MIRROR_YAW = 0.4
