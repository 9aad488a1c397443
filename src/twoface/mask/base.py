"""The Masker stage: batch-first masks in the aligned crop, combined by minimum.

A masker gets the N aligned target crops (N, S, S, 3), the N target faces and the N affines that
made the crops (frame -> crop), and returns (N, S, S) float32 in [0, 1]: 1 where the generated
face may show. Several maskers combine by minimum (a pixel shows only where every mask allows
it). The compositor adds its own feathered edge on top (insightface's paste-back).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

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


MASKERS: dict[str, type[Masker]] = {"box": BoxMasker, "area": AreaMasker}


def create_maskers(names: Sequence[str]) -> list[Masker]:
    unknown = [n for n in names if n not in MASKERS]
    if unknown:
        raise UsageError(f"unknown mask {unknown[0]!r}; choose from {', '.join(MASKERS)}", "masks")
    return [MASKERS[n]() for n in names]


def combine(masks: Sequence[np.ndarray], shape: tuple[int, int, int]) -> np.ndarray:
    """The elementwise minimum of the masks; all ones when there are none."""
    if not masks:
        return np.ones(shape, np.float32)
    out = masks[0].astype(np.float32, copy=True)
    for m in masks[1:]:
        np.minimum(out, m, out=out)
    return out
