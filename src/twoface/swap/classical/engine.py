"""The classical engine: per face, a crop at a bounded working size goes through the stages
(twoface.swap.classical.stages) and is composited back into the frame."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import cv2
import numpy as np

from twoface.blend import alpha_composite
from twoface.errors import UsageError
from twoface.registry import register
from twoface.schemes import scheme_of
from twoface.swap.base import Engine, RunState, SourceFace, SwapJob
from twoface.swap.classical import stages as st
from twoface.swap.classical.geometry import WARP, extended_points, facing, pick_source
from twoface.swap.classical.parts import unaligned
from twoface.swap.classical.traits import SourceTraits, source_traits
from twoface.swap.classical.work import Context, EngineOptions, Work, mode_of
from twoface.types import Face

# Side of the ArcFace-aligned crop the model maskers (parser, occluder) see.
MASK_CROP = 256


def stages_for(work_face: float = WARP.work_face) -> tuple:
    """The stages in the order they run (each `(work, context) -> work`)."""
    return (
        st.fit,
        st.shape,
        st.warp,
        partial(st.skin_models, work_face=work_face),
        st.pose_mask,
        st.eye_rules,
        st.stretch,
        st.dim_eyes,
        st.source_occluders,
        st.target_occluders,
        st.glasses,
        st.mask_assembly,
        st.tone,
        st.seam,
        st.check,
    )


STAGES = stages_for()


def run_stages(work: Work, ctx: Context, stages: Sequence = STAGES) -> Work:
    """`work` through `stages`, stopping where one finds nothing to swap (`work.done`)."""
    for stage in stages:
        work = stage(work, ctx)
        if work.done:
            break
    return work


@register(
    "swap",
    "classical",
    options=EngineOptions,
    architecture="landmark warp, shading transfer, seam-mended blend (no model file)",
    consumes=("frames", "landmarks", "mask:region", "mask:occlusion"),
    produces=("swapped frames",),
    label="compositeSynthetic",
    summary="the classical, model-free swap: the offline default and fallback",
)
class ClassicalEngine(Engine):
    name = "classical"
    source_type = "compositeSynthetic"  # a warp of the source photo; no trained model

    def __init__(
        self,
        shading_sigma: float = 0.12,
        seam: bool = True,  # mend the seam (a smooth offset)
        keep_open_mouth: bool = True,
        keep_eyes: bool = True,
        occlusion: bool = True,
        maskers: Sequence | None = None,
    ) -> None:
        self.shading_sigma = shading_sigma  # times the face width
        self.seam = seam
        self.keep_open_mouth = keep_open_mouth
        self.keep_eyes = keep_eyes  # the target's eyes where openness differs
        self.occlusion = occlusion  # non-skin in either face keeps the target's pixels
        self.options = EngineOptions(shading_sigma, seam, keep_open_mouth, keep_eyes, occlusion)
        # Model maskers (a face parser's regions, an occlusion model): where installed and
        # asked for, what they leave out of the target's face keeps the target's pixels,
        # instead of the colour test's answer (a hand is skin-coloured; a parser knows it is
        # not face).
        self.maskers = list(maskers or ())

    def with_maskers(self, maskers: Sequence) -> ClassicalEngine:
        """A new engine of these settings that also takes the target's face from `maskers`."""
        return ClassicalEngine(
            self.shading_sigma,
            self.seam,
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
    ) -> Work | None:
        """Swap one face of `frame` in place. `face_map`: the model maskers' (mask, affine) for
        it (`_face_maps`). `run`: the run's memory (per track, per source photo). Returns the
        stages' record (None where the face was too small to work on)."""
        run = run or RunState()
        if target.landmarks is None or source.face.landmarks is None:
            raise UsageError(
                "the classical engine needs landmarks: use a landmarker such as dlib68, not none",
                "landmarks",
            )
        if len(target.landmarks) != len(source.face.landmarks):
            raise ValueError("source and target landmarks must come from one scheme")
        scheme = scheme_of(target.landmarks, target.landmark_scheme)
        src_image, src_lm = facing(source.image, source.face.landmarks, target.landmarks, scheme)
        h, w = frame.shape[:2]
        dst = extended_points(target.landmarks)
        face_w = scheme.face_width(target.landmarks)
        margin = int(face_w * WARP.margin) + WARP.margin_px
        x0 = max(int(np.floor(dst[:, 0].min())) - margin, 0)
        y0 = max(int(np.floor(dst[:, 1].min())) - margin, 0)
        x1 = min(int(np.ceil(dst[:, 0].max())) + margin, w)
        y1 = min(int(np.ceil(dst[:, 1].max())) + margin, h)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        crop = frame[y0:y1, x0:x1]
        # Work at a bounded size per face: a 1,500-px face costs what a 320-px one does.
        scale = min(1.0, WARP.work_face / max(face_w, 1.0))

        def local(points: np.ndarray) -> np.ndarray:
            return (points.astype(np.float64) - (x0, y0)) * scale

        lm_local = local(target.landmarks)
        small = (
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
            face_only = unaligned(mask, np.asarray(affine, np.float64) @ to_frame, small, 1.0)
        ctx = Context(
            mode_of(run, target.track_id),
            scheme,
            run,
            self.options,
            target.track_id,
            self._parsed_face if self.maskers else None,
        )
        work = Work(
            small,
            lm_local,
            src_image,
            src_lm,
            scheme.face_width(lm_local),
            face_only=face_only,
            kps=None if target.kps is None else local(target.kps),
        )
        work = run_stages(work, ctx)
        if work.notes:
            # (Notes go to the run: a still's caller reports them; the position is the crop's,
            # so it is given in the frame's pixels.)
            origin = np.array([x0, y0]) + work.lm.mean(0) / scale
            at = f"({origin[0]:.0f}, {origin[1]:.0f})"
            run.slot("notes", list).extend(n.replace(st._where(work), at) for n in work.notes)
        if work.done or work.shaded is None:
            return work
        shaded, soft = work.shaded, work.soft
        if scale != 1.0:
            size = (x1 - x0, y1 - y0)
            shaded = cv2.resize(shaded, size, interpolation=cv2.INTER_CUBIC)
            soft = np.clip(cv2.resize(soft, size, interpolation=cv2.INTER_LINEAR), 0, 1)
        frame[y0:y1, x0:x1] = alpha_composite(shaded, crop, soft)
        return work

    def source_traits(self, run: RunState, image: np.ndarray, lm, scheme) -> SourceTraits:
        """What a source photo holds (twoface.swap.classical.traits), with this engine's
        parser where it has one; decided once per photo and run."""
        parsed = self._parsed_face if self.maskers else None
        return source_traits(run, image, lm, scheme, WARP.work_face, parsed)

    _source_traits = source_traits  # the older name

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
        return unaligned(face, m, image, 0.0) > 0.5
