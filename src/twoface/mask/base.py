"""The Masker stage: batch-first masks in the aligned crop, combined by minimum.

A masker gets the N aligned target crops (N, S, S, 3), the N target faces and the N affines that
made the crops (frame -> crop), and returns (N, S, S) float32 in [0, 1]: 1 where the generated
face may show. Several maskers combine by minimum (a pixel shows only where every mask allows
it). The compositor adds its own feathered edge on top (insightface's paste-back).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from twoface.errors import UsageError
from twoface.geometry import apply_affine
from twoface.registry import option, register
from twoface.types import Face


class Masker(ABC):
    name: str = "mask"
    # Maskers that look at the generated face too get it as `generated=` (N, S, S, 3).
    needs_generated: bool = False
    # Maskers that remember something per tracked person get the run's memory as `run=`
    # (twoface.swap.base.RunState); the masker itself keeps nothing between calls.
    keeps_run_state: bool = False

    @abstractmethod
    def masks(self, crops: np.ndarray, faces: Sequence[Face], affines: np.ndarray) -> np.ndarray:
        """(N, S, S) float32 in [0, 1]."""

    @classmethod
    def options_from(cls, settings: MaskSettings) -> dict[str, Any]:
        """This masker's options taken from the swap's MaskSettings (none by default)."""
        return {}

    @classmethod
    def create(cls, options: Any, pool=None, runtime=None) -> Masker:
        """The masker built from its options dataclass; `pool` builds the models it needs."""
        return cls(**asdict(options))


def _needs_pool(name: str, pool) -> None:
    if pool is None:
        raise UsageError(f"the {name} mask needs a model; build it through a Swapper", "masks")


@dataclass(frozen=True)
class BoxOptions:
    padding: tuple[float, float, float, float] = option(
        (0.0, 0.0, 0.0, 0.0), "fractions of the crop cut off: top, right, bottom, left"
    )
    blur: float = option(0.0, "the edge's blur, a fraction of the crop side")


@register("mask", "box", options=BoxOptions, consumes=("crops",), produces=("masks",))
class BoxMasker(Masker):
    """The whole crop, less `padding` (fractions of the side: top, right, bottom, left), with
    an edge blurred over `blur` of the side. With no padding and no blur: all ones."""

    name = "box"

    def __init__(self, padding: Sequence[float] = (0, 0, 0, 0), blur: float = 0.0) -> None:
        self.padding, self.blur = tuple(padding), blur

    @classmethod
    def options_from(cls, settings: MaskSettings) -> dict[str, Any]:
        return {"padding": settings.padding, "blur": settings.blur}

    def masks(self, crops, faces, affines) -> np.ndarray:
        n, s = len(crops), crops.shape[1]
        m = np.zeros((s, s), np.float32)
        top, right, bottom, left = (int(round(p * s)) for p in self.padding)
        m[top : s - bottom, left : s - right] = 1.0
        if self.blur > 0:
            m = cv2.GaussianBlur(m, (0, 0), max(self.blur * s / 3, 0.5)) * m
        return np.broadcast_to(m, (n, s, s)).copy()


@register("mask", "area", consumes=("crops", "landmarks"), produces=("masks",))
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


@dataclass(frozen=True)
class RegionOptions:
    parser: str = option("bisenet_resnet_34", "the face parser (a catalogue name)")
    regions: tuple[str, ...] = option((), "the parser's classes kept (empty: the face's own)")


@register(
    "mask",
    "region",
    options=RegionOptions,
    architecture="face parser",
    consumes=("crops",),
    produces=("masks",),
    shipped=False,
)
class RegionMasker(Masker):
    """The face parser's chosen classes (skin, brows, eyes, nose, lips ... twoface.parse): hair,
    ears, neck, hats and hands keep the target's pixels."""

    name = "region"

    @classmethod
    def options_from(cls, settings: MaskSettings) -> dict[str, Any]:
        return {"parser": settings.parser, "regions": settings.regions}

    @classmethod
    def create(cls, options: RegionOptions, pool=None, runtime=None) -> Masker:
        _needs_pool("region", pool)
        return cls(pool.get("parse", options.parser, runtime), options.regions or None)

    def __init__(self, parser, regions: Sequence[str] | None = None) -> None:
        from twoface.parse import FACE_REGIONS, region_classes

        self.parser = parser
        self.regions = tuple(regions or FACE_REGIONS)
        self.classes = region_classes(self.regions)

    def masks(self, crops, faces, affines) -> np.ndarray:
        labels = self.parser.labels(crops)
        return soften(np.isin(labels, self.classes).astype(np.float32))


@dataclass(frozen=True)
class OcclusionOptions:
    occluder: str = option("xseg_1", "the occlusion model (a catalogue name)")


@register(
    "mask",
    "occlusion",
    options=OcclusionOptions,
    architecture="occluder",
    consumes=("crops",),
    produces=("masks",),
    shipped=False,
)
class OcclusionMasker(Masker):
    """What covers the face (hands, microphones, hair, glasses in front of it) keeps the
    target's pixels: the occluder's face probability, thresholded at one half."""

    name = "occlusion"

    @classmethod
    def options_from(cls, settings: MaskSettings) -> dict[str, Any]:
        return {"occluder": settings.occluder}

    @classmethod
    def create(cls, options: OcclusionOptions, pool=None, runtime=None) -> Masker:
        _needs_pool("occlusion", pool)
        return cls(pool.get("occlude", options.occluder, runtime))

    def __init__(self, occluder) -> None:
        self.occluder = occluder

    def masks(self, crops, faces, affines) -> np.ndarray:
        return soften(self.occluder.face_probability(crops))


@dataclass(frozen=True)
class MouthOptions:
    grow: float = option(0.02, "the kept open mouth grown by this fraction of the face width")
    feather: float = option(0.02, "its edge feathered over this fraction of the face width")


@register("mask", "mouth", options=MouthOptions, consumes=("landmarks",), produces=("masks",))
class MouthMasker(Masker):
    """Where the target's mouth is open, its teeth and tongue stay: a generated mouth over an
    open one doubles teeth. The inner-lip polygon from the landmarks, grown by `grow` and
    feathered by `feather` (fractions of the face width); faces with closed mouths or without
    lip landmarks are not limited."""

    name = "mouth"

    def __init__(self, grow: float = 0.02, feather: float = 0.02, open_ratio: float = 0.12) -> None:
        self.grow, self.feather, self.open_ratio = grow, feather, open_ratio

    @classmethod
    def options_from(cls, settings: MaskSettings) -> dict[str, Any]:
        return {"grow": settings.mouth_grow, "feather": settings.mouth_feather}

    def masks(self, crops, faces, affines) -> np.ndarray:
        from twoface.mask.regions import mouth_open_ratio, polygon_mask
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
            hole = polygon_mask((s, s), pts)
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


# sber-swap's landmark indices (insightface 106): jaw points it compares, eye bottoms, brows.
_GHOST_LEFT, _GHOST_RIGHT = (1, 2, 13), (17, 18, 29)
_EYE_BOTTOM = ((35, 41, 40, 42, 39), (89, 95, 94, 96, 93))
_BROW = ((43, 48, 49, 51, 50), (102, 103, 104, 105, 101))


def ghost_blend_params(swap: np.ndarray, target: np.ndarray) -> tuple[int, int, int]:
    """sber-swap's (erode, sigma x, sigma y) at 224 px: the more the generated jaw sits outside
    the target's, the more the mask is eroded and blurred (a negative erode dilates)."""
    left = sum(swap[i, 0] - target[i, 0] for i in _GHOST_LEFT)
    right = sum(target[i, 0] - swap[i, 0] for i in _GHOST_RIGHT)
    offset = max(left, right)
    if offset > 6:
        return 15, 15, 10
    if offset > 3:
        return 10, 10, 8
    if offset < -3:
        return -5, 5, 10
    return 5, 5, 5


def ghost_mask(swap: np.ndarray, size: int, params: tuple[int, int, int]) -> np.ndarray:
    """sber-swap's `face_mask_static` at crop size `size`: the convex hull of the generated face's
    106 points with the brows lifted, eroded (or dilated), cleared near the border and blurred."""
    scale = size / 224.0
    erode, sx, sy = params
    lift = {15: 2.7, -5: 0.5}.get(erode, 2.0)
    pts = np.asarray(swap, np.float64).copy()
    for brow, eye in zip(_BROW, _EYE_BOTTOM, strict=True):
        top, bottom = pts[list(brow)], pts[list(eye)]
        pts[list(brow)] = top + lift * 0.5 * (top - bottom)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(pts).astype(np.int32)), 255)
    k = max(1, int(round(abs(erode) * scale)))
    kernel = np.ones((k, k), np.uint8)
    mask = cv2.erode(mask, kernel) if erode > 0 else cv2.dilate(mask, kernel)
    border = int(round(sy * 2 * scale))
    if border:
        mask[:border], mask[-border:], mask[:, :border], mask[:, -border:] = 0, 0, 0, 0
    blurred = cv2.GaussianBlur(mask, (0, 0), sigmaX=sx * scale, sigmaY=sy * scale)
    return blurred.astype(np.float32) / 255


@dataclass(frozen=True)
class GhostOptions:
    landmarker106: str = option("landmarks_2d106det", "the 106-point landmarker it reads")


@register(
    "mask",
    "ghost",
    options=GhostOptions,
    architecture="sber-swap paste mask",
    consumes=("crops", "generated"),
    produces=("masks",),
    shipped=False,
)
class GhostMasker(Masker):
    """GHOST's own paste mask (sber-swap's inference): 106 landmarks on the generated face and on
    the target crop decide how far to erode and blur the hull of the generated face. As sber-swap,
    the parameters are chosen on a person's first frame and kept for that person (track id)."""

    name = "ghost"
    needs_generated = True
    keeps_run_state = True  # the parameters chosen per person live in the run's memory

    def __init__(self, landmarker) -> None:
        self.landmarker = landmarker

    @classmethod
    def options_from(cls, settings: MaskSettings) -> dict[str, Any]:
        return {"landmarker106": settings.landmarker106}

    @classmethod
    def create(cls, options: GhostOptions, pool=None, runtime=None) -> Masker:
        _needs_pool("ghost", pool)
        return cls(pool.get("landmarks", options.landmarker106, runtime))

    def _points(self, crops: np.ndarray) -> list[np.ndarray]:
        from twoface.types import Face

        s = crops.shape[1]
        whole = Face(np.array([0, 0, s, s], np.float32), 1.0, None)
        marked = self.landmarker(list(crops), [[whole] for _ in crops])
        return [faces[0].landmarks for faces in marked]

    def masks(self, crops, faces, affines, generated=None, run=None) -> np.ndarray:
        if generated is None:
            raise ValueError("the ghost mask needs the generated faces")
        chosen: dict = run.slot("mask.ghost", dict) if run is not None else {}
        s = crops.shape[1]
        swaps = self._points(generated)
        targets = self._points(crops)
        out = np.empty((len(crops), s, s), np.float32)
        for k, (face, sw, tg) in enumerate(zip(faces, swaps, targets, strict=True)):
            key = face.track_id
            params = chosen.get(key) if key is not None else None
            if params is None:
                params = ghost_blend_params(sw * 224 / s, tg * 224 / s)
                if key is not None:
                    chosen[key] = params
            out[k] = ghost_mask(sw, s, params)
        return out


class _Maskers:
    """The registered maskers by name, read live from the registry (a masker registered later,
    from any module, is listed too)."""

    def _all(self) -> dict[str, type[Masker]]:
        from twoface import registry

        return {c.name: c.factory for c in registry.components("mask")}

    def __contains__(self, name: object) -> bool:
        return name in self._all()

    def __iter__(self):
        return iter(self._all())

    def __getitem__(self, name: str) -> type[Masker]:
        return self._all()[name]

    def __len__(self) -> int:
        return len(self._all())


MASKERS = _Maskers()


@dataclass(frozen=True, slots=True)
class MaskSettings:
    """Which masks a learned swap pastes through, and their options.

    names: None for the generator's own default. regions: the parser's classes kept (region
    mask). padding: box mask padding as fractions of the crop (top, right, bottom, left); blur:
    its edge. mouth_grow / mouth_feather: the kept open mouth, as fractions of the face width.
    parser / occluder: catalogue names of the models the region and occlusion masks use."""

    names: tuple[str, ...] | None = option(
        None,
        "comma-separated masks combined by minimum: box, area, region (face parser), "
        "occlusion (XSeg), mouth (keep an open target mouth), ghost (sber-swap's 106-landmark "
        "mask, needs landmarks_2d106det); default: the swapper's own "
        "(inswapper/ReSwapper: the crop's feathered square alone; GHOST/SimSwap: area). The "
        "classical engine takes region and occlusion (default: region when a face parser is "
        "installed, else its own colour test)",
        flag="--mask",
        metavar="NAMES",
    )
    regions: tuple[str, ...] = option(
        (),
        "face parser classes the region mask keeps (default: skin, brows, eyes, glasses, "
        "nose, mouth, lips); also ears, neck, hair, hat ...",
        flag="--mask-regions",
        feeds="mask:region",
        metavar="NAMES",
    )
    padding: tuple[float, float, float, float] = option(
        (0.0, 0.0, 0.0, 0.0),
        "box mask padding, fractions of the crop",
        flag="--mask-padding",
        feeds="mask:box",
        metavar=("TOP", "RIGHT", "BOTTOM", "LEFT"),
    )
    blur: float = option(
        0.0, "box mask edge blur, 0-1", flag="--mask-blur", feeds="mask:box", metavar="F"
    )
    mouth_grow: float = option(
        0.02,
        "kept mouth grown by F x face width",
        flag="--mouth-grow",
        feeds="mask:mouth",
        metavar="F",
    )
    mouth_feather: float = option(
        0.02,
        "kept mouth edge, F x face width",
        flag="--mouth-feather",
        feeds="mask:mouth",
        metavar="F",
    )
    parser: str = option(
        "bisenet_resnet_34",
        "face parser for the region mask",
        flag="--parser",
        feeds="mask:region",
        metavar="NAME",
    )
    occluder: str = option(
        "xseg_1",
        "occluder for the occlusion mask",
        flag="--occluder",
        feeds="mask:occlusion",
        metavar="NAME",
    )
    landmarker106: str = option("landmarks_2d106det", "the 106 landmarks of the ghost mask")

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
    from twoface import registry

    settings = settings or MaskSettings()
    unknown = [n for n in names if n not in MASKERS]
    if unknown:
        raise UsageError(f"unknown mask {unknown[0]!r}; choose from {', '.join(MASKERS)}", "masks")
    out: list[Masker] = []
    for name in dict.fromkeys(names):
        factory = registry.get("mask", name).factory
        options = registry.parse_options("mask", name, factory.options_from(settings))
        out.append(factory.create(options, pool, runtime))
    return out


def combine(masks: Sequence[np.ndarray], shape: tuple[int, int, int]) -> np.ndarray:
    """The elementwise minimum of the masks; all ones when there are none."""
    if not masks:
        return np.ones(shape, np.float32)
    out = masks[0].astype(np.float32, copy=True)
    for m in masks[1:]:
        np.minimum(out, m, out=out)
    return out
