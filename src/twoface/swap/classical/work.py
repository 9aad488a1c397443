"""The record the classical engine's stages pass along (`Work`), what they read but never
change (`Context`: the mode, the landmark scheme, the engine's options, the run's memory), and
the temporal smoothing a video's and a live stream's decisions go through."""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from twoface.geometry import estimate_similarity, template
from twoface.schemes import LandmarkScheme
from twoface.swap.base import RunState


class Mode(enum.Enum):
    """What a face belongs to. A still decides each rule outright; a video or live stream
    smooths per tracked person and leaves out the rules whose per-frame answer shakes the
    output (each stage says which)."""

    STILL = "still"
    VIDEO = "video"
    LIVE = "live"

    @property
    def moving(self) -> bool:
        return self is not Mode.STILL


# The run's key saying a tracked run is a live stream (set by the stream's runner).
LIVE_KEY = "twoface.live"


def mark_live(run: RunState) -> None:
    """Say that `run` is a live stream's (its runner does, once)."""
    run.slot(LIVE_KEY, dict)["live"] = True


def mode_of(run: RunState, track_id: int | None) -> Mode:
    """A face without a track is a still; a tracked one belongs to a video, or to a live
    stream when its run says so (`mark_live`)."""
    if track_id is None:
        return Mode.STILL
    return Mode.LIVE if run.slot(LIVE_KEY, dict).get("live") else Mode.VIDEO


@dataclass(frozen=True)
class EngineOptions:
    """The classical engine's switches (its constructor's arguments)."""

    shading_sigma: float = 0.12  # the light's blur (x face width)
    seam: bool = True  # mend the seam with a smooth offset
    keep_open_mouth: bool = True
    keep_eyes: bool = True  # the target's eyes where openness, gaze or light differ
    occlusion: bool = True  # non-skin in either face keeps the target's pixels


@dataclass(frozen=True)
class TemporalParams:
    """How a tracked person's decisions are smoothed over frames (exponential moving average),
    so an eye decision or a mask edge near its threshold does not flicker."""

    smooth: float = 0.15  # weight of the new frame for a decision (0..1)
    mask_smooth: float = 0.05  # weight of the new frame for the occlusion mask
    canonical: int = 128  # side of the face-aligned frame masks are averaged in
    tracks_kept: int = 64  # tracked people remembered per run


TEMPORAL = TemporalParams()


@dataclass(frozen=True)
class Context:
    """What every stage reads and none changes."""

    mode: Mode
    scheme: LandmarkScheme
    run: RunState
    options: EngineOptions
    track_id: int | None = None
    # A face parser's map of a photo's face (image, lm, scheme) -> bool map | None.
    parsed: Callable | None = None
    temporal: TemporalParams = TEMPORAL

    def smooth(self, key: str, value, weight: float | None = None):
        """`value` averaged with this track's earlier ones (a still: `value` itself)."""
        if self.track_id is None:
            return value
        w = self.temporal.smooth if weight is None else weight
        tracks: OrderedDict = self.run.slot("classical.tracks", OrderedDict)
        state = tracks.setdefault(self.track_id, {})
        old = state.get(key)
        new = value if old is None else w * value + (1 - w) * old
        state[key] = new
        tracks.move_to_end(self.track_id)
        while len(tracks) > self.temporal.tracks_kept:
            tracks.popitem(last=False)
        return new

    def smooth_mask(self, mask: np.ndarray, lm) -> np.ndarray:
        """`mask` averaged with the track's earlier ones, in a face-aligned frame (so the
        average follows the face as it moves)."""
        side = self.temporal.canonical
        m = estimate_similarity(self.scheme.five_points(lm), template("arcface", side))
        aligned = cv2.warpAffine(mask, m, (side, side), flags=cv2.INTER_LINEAR)
        smoothed = self.smooth("allowed", aligned, self.temporal.mask_smooth)
        h, w = mask.shape
        back = cv2.warpAffine(
            smoothed, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=1.0
        )
        return np.clip(back, 0.0, 1.0)


@dataclass(slots=True, eq=False)
class Work:
    """One face's swap as it goes through the stages (crop coordinates, working size). Each
    stage fills or updates its own fields and returns the record."""

    crop: np.ndarray  # the target's crop (RGB uint8)
    lm: np.ndarray  # the target's landmarks
    src_image: np.ndarray  # the source photo, made to face like the target
    src_lm: np.ndarray
    face_w: float
    face_only: np.ndarray | None = None  # model maskers' map of the target's face (1 = face)
    kps: np.ndarray | None = None  # the detector's 5 keypoints of the target (crop coordinates)
    crop_lab: np.ndarray | None = None
    # shape: where the source's features land (the target's inner landmarks moved)
    feature_lm: np.ndarray | None = None
    # warp
    fallback: np.ndarray | None = None  # the crop-to-source similarity
    map_x: np.ndarray | None = None
    map_y: np.ndarray | None = None
    warped: np.ndarray | None = None  # the source warped onto the crop (RGB)
    warped_lab: np.ndarray | None = None
    # skin
    model_t: object = None  # SkinModel of the target, of the warped source
    model_s: object = None
    skin_t: np.ndarray | None = None
    skin_s: np.ndarray | None = None
    skin_t_any: np.ndarray | None = None  # stills: skin in any light
    skin_s_any: np.ndarray | None = None
    traits: object = None  # SourceTraits of the source photo
    # pose
    source_open: bool = False  # the source's mouth open
    yaw_gap: float = 0.0
    pitch_gap: float = 0.0
    # the mask
    soft: np.ndarray | None = None  # the swap mask being built (1 = the source's)
    parts: tuple = ()  # features taken from the source by region
    features: np.ndarray | None = None  # boolean map of those features
    kept: np.ndarray | None = None  # the target's own features kept (soft)
    source_holes: np.ndarray | None = None
    pin_skin: np.ndarray | None = None  # stills: the target's skin the seam is pinned to
    allowed: np.ndarray | None = None  # where the source may show (occluders out)
    beard_left: np.ndarray | None = None  # video: the source's beard, left to the target
    hard: np.ndarray | None = None  # the area the tone and seam work on
    # the result
    shaded: np.ndarray | None = None  # the source under the target's tone (RGB uint8)
    done: bool = False  # a stage found nothing to swap
    notes: list[str] = field(default_factory=list)
