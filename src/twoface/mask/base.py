"""The Masker stage: batch-first masks in the aligned crop, combined by minimum.

A masker gets the N aligned target crops (N, S, S, 3), the N target faces and the N affines that
made the crops (frame -> crop), and returns (N, S, S) float32 in [0, 1]: 1 where the generated
face may show. Several maskers combine by minimum (a pixel shows only where every mask allows
it). The compositor adds its own feathered edge on top (insightface's paste-back).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from twoface.errors import UsageError
from twoface.geometry import apply_affine
from twoface.types import Face


class Masker(ABC):
    name: str = "mask"

    @abstractmethod
    def masks(self, crops: np.ndarray, faces: Sequence[Face], affines: np.ndarray) -> np.ndarray:
        """(N, S, S) float32 in [0, 1]."""


class BoxMasker(Masker):
    """The whole crop, less `padding` (fractions of the side: top, right, bottom, left), with
    an edge blurred over `blur` of the side. With no padding and no blur: all ones."""

    name = "box"

    def __init__(self, padding: Sequence[float] = (0, 0, 0, 0), blur: float = 0.0) -> None:
        self.padding, self.blur = tuple(padding), blur

    def masks(self, crops, faces, affines) -> np.ndarray:
        n, s = len(crops), crops.shape[1]
        m = np.zeros((s, s), np.float32)
        top, right, bottom, left = (int(round(p * s)) for p in self.padding)
        m[top : s - bottom, left : s - right] = 1.0
        if self.blur > 0:
            m = cv2.GaussianBlur(m, (0, 0), max(self.blur * s / 3, 0.5)) * m
        return np.broadcast_to(m, (n, s, s)).copy()


class AreaMasker(Masker):
    """The face area from the landmarks (jaw, then the brows lifted a little; nothing above),
    drawn in crop coordinates; read through the landmarks' scheme, any landmarker serves."""

    name = "area"

    def masks(self, crops, faces, affines) -> np.ndarray:
        from twoface.mask.regions import face_polygon
        from twoface.schemes import scheme_of

        n, s = len(crops), crops.shape[1]
        out = np.ones((n, s, s), np.float32)
        for k, (face, m) in enumerate(zip(faces, affines, strict=True)):
            if face.landmarks is None:
                continue  # no landmarks: the box alone
            scheme = scheme_of(face.landmarks, face.landmark_scheme)
            poly = apply_affine(m, face_polygon(face.landmarks, scheme=scheme))
            hard = np.zeros((s, s), np.uint8)
            cv2.fillPoly(hard, [np.round(poly).astype(np.int32)], 1)
            out[k] = hard
        return out


def soften(masks: np.ndarray) -> np.ndarray:
    """A hard (N, S, S) mask's edge pulled in and ramped, as FaceFusion does to its model masks
    (blur, then stretch [0.5, 1] to [0, 1]) with the blur scaled to the crop: where the mask
    is 0 stays exactly 0, so a covered pixel never shows the swap."""
    s = masks.shape[1]
    sigma = max(1.0, 5.0 * s / 256)
    out = np.empty(masks.shape, np.float32)
    for k, m in enumerate(masks):
        blurred = cv2.GaussianBlur(np.clip(m, 0, 1).astype(np.float32), (0, 0), sigma)
        out[k] = (np.clip(blurred, 0.5, 1.0) - 0.5) * 2
    return out


class RegionMasker(Masker):
    """The face parser's chosen classes (skin, brows, eyes, nose, lips ... twoface.parse): hair,
    ears, neck, hats and hands keep the target's pixels."""

    name = "region"

    def __init__(self, parser, regions: Sequence[str] | None = None) -> None:
        from twoface.parse import FACE_REGIONS, region_classes

        self.parser = parser
        self.regions = tuple(regions or FACE_REGIONS)
        self.classes = region_classes(self.regions)

    def masks(self, crops, faces, affines) -> np.ndarray:
        labels = self.parser.labels(crops)
        return soften(np.isin(labels, self.classes).astype(np.float32))


class OcclusionMasker(Masker):
    """What covers the face (hands, microphones, hair, glasses in front of it) keeps the
    target's pixels: the occluder's face probability, thresholded at one half."""

    name = "occlusion"

    def __init__(self, occluder) -> None:
        self.occluder = occluder

    def masks(self, crops, faces, affines) -> np.ndarray:
        return soften(self.occluder.face_probability(crops))


class MouthMasker(Masker):
    """Where the target's mouth is open, its teeth and tongue stay: a generated mouth over an
    open one doubles teeth. The inner-lip polygon from the landmarks, grown by `grow` and
    feathered by `feather` (fractions of the face width); faces with closed mouths or without
    lip landmarks are not limited."""

    name = "mouth"

    def __init__(self, grow: float = 0.02, feather: float = 0.02, open_ratio: float = 0.12) -> None:
        self.grow, self.feather, self.open_ratio = grow, feather, open_ratio

    def masks(self, crops, faces, affines) -> np.ndarray:
        from twoface.mask.regions import mouth_open_ratio
        from twoface.schemes import scheme_of

        n, s = len(crops), crops.shape[1]
        out = np.ones((n, s, s), np.float32)
        for k, (face, m) in enumerate(zip(faces, affines, strict=True)):
            if face.landmarks is None:
                continue
            scheme = scheme_of(face.landmarks, face.landmark_scheme)
            if not scheme.has("mouth_inner"):
                continue
            if mouth_open_ratio(face.landmarks, scheme) <= self.open_ratio:
                continue
            pts = apply_affine(m, scheme.group(face.landmarks, "mouth_inner"))
            width = scheme.face_width(apply_affine(m, face.landmarks))
            hole = np.zeros((s, s), np.uint8)
            cv2.fillPoly(hole, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
            grow = int(round(self.grow * width))
            if grow > 0:
                kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)
                hole = cv2.dilate(hole, kernel)
            soft = hole.astype(np.float32) / 255
            if self.feather > 0:
                sigma = max(0.5, self.feather * width / 2)
                soft = np.maximum(soft, cv2.GaussianBlur(soft, (0, 0), sigma))
            out[k] = 1.0 - np.clip(soft, 0, 1)
        return out


MASKERS: dict[str, type[Masker]] = {
    "box": BoxMasker,
    "area": AreaMasker,
    "region": RegionMasker,
    "occlusion": OcclusionMasker,
    "mouth": MouthMasker,
}


@dataclass(frozen=True, slots=True)
class MaskSettings:
    """Which masks a learned swap pastes through, and their options.

    names: None for the generator's own default. regions: the parser's classes kept (region
    mask). padding: box mask padding as fractions of the crop (top, right, bottom, left); blur:
    its edge. mouth_grow / mouth_feather: the kept open mouth, as fractions of the face width.
    parser / occluder: catalogue names of the models the region and occlusion masks use."""

    names: tuple[str, ...] | None = None
    regions: tuple[str, ...] = ()
    padding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    blur: float = 0.0
    mouth_grow: float = 0.02
    mouth_feather: float = 0.02
    parser: str = "bisenet_resnet_34"
    occluder: str = "xseg_1"

    def __post_init__(self) -> None:
        for name in self.names or ():
            if name not in MASKERS:
                raise UsageError(
                    f"unknown mask {name!r}; choose from {', '.join(MASKERS)}", "masks"
                )
        if self.regions:
            from twoface.parse import region_classes

            region_classes(self.regions)
        if len(self.padding) != 4 or not all(0 <= p < 0.5 for p in self.padding):
            raise UsageError("mask padding takes 4 fractions in [0, 0.5)", "mask_padding")
        if not 0 <= self.blur <= 1:
            raise UsageError(f"mask blur must be in [0, 1], got {self.blur:g}", "mask_blur")
        if not (0 <= self.mouth_grow <= 0.5 and 0 <= self.mouth_feather <= 0.5):
            raise UsageError("mouth grow and feather must be in [0, 0.5]", "mouth")


def create_maskers(
    names: Sequence[str], settings: MaskSettings | None = None, pool=None, runtime=None
) -> list[Masker]:
    """The maskers named, built with `settings`; `pool` (a ModelPool) builds the parser and
    occluder the region and occlusion masks need."""
    settings = settings or MaskSettings()
    unknown = [n for n in names if n not in MASKERS]
    if unknown:
        raise UsageError(f"unknown mask {unknown[0]!r}; choose from {', '.join(MASKERS)}", "masks")
    out: list[Masker] = []
    for name in dict.fromkeys(names):
        if name == "box":
            out.append(BoxMasker(settings.padding, settings.blur))
        elif name == "area":
            out.append(AreaMasker())
        elif name == "mouth":
            out.append(MouthMasker(settings.mouth_grow, settings.mouth_feather))
        elif pool is None:
            raise UsageError(f"the {name} mask needs a model; build it through a Swapper", "masks")
        elif name == "region":
            parser = pool.get("parse", settings.parser, runtime)
            out.append(RegionMasker(parser, settings.regions or None))
        else:
            out.append(OcclusionMasker(pool.get("occlude", settings.occluder, runtime)))
    return out


def combine(masks: Sequence[np.ndarray], shape: tuple[int, int, int]) -> np.ndarray:
    """The elementwise minimum of the masks; all ones when there are none."""
    if not masks:
        return np.ones(shape, np.float32)
    out = masks[0].astype(np.float32, copy=True)
    for m in masks[1:]:
        np.minimum(out, m, out=out)
    return out
