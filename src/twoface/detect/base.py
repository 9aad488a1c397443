"""The detector interface and the helpers every detector shares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from twoface.types import Face

# What the detectors' common options mean (their options dataclasses' help texts).
MAX_SIDE = "the longer side a frame is scaled down to before detection (pixels)"
SIZE = "the network's square input side in pixels (default: the file's, from the catalogue)"
SCORE = "the least confidence a face is kept with (0-1)"
IOU = "boxes overlapping more than this (IoU) are merged by non-maximum suppression"
THREADS = "onnxruntime threads (default: onnxruntime's own choice)"
FIVE_POINTS = ("boxes", "scores", "5 keypoints")


class Detector(ABC):
    name: str = "detector"

    @abstractmethod
    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """Faces of each RGB uint8 frame, best score first."""

    @classmethod
    def from_entry(cls, entry, ctx) -> Detector:
        """Built in (entry None) or from a catalogue file, with the runtime settings and options
        the constructor takes (twoface.build)."""
        if entry is None:
            return ctx.construct(cls)
        spec = entry.preprocess
        # The catalogue's spec, consumed: input size and normalisation (one value per channel
        # in every detector file twoface runs).
        consumed = {"size": spec.size, "mean": spec.mean[0], "std": spec.std[0]}
        return ctx.construct(cls, cls.weights(entry, ctx), spec=consumed)

    @classmethod
    def weights(cls, entry, ctx):
        return ctx.find(entry)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, in descending score order."""
    order = np.argsort(-scores)
    keep: list[int] = []
    x1, y1, x2, y2 = boxes.T
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = np.maximum(0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def downscale_factor(shape: tuple[int, ...], max_side: int) -> float:
    """Scale (<= 1) that brings the longer side of an image down to max_side."""
    return min(1.0, max_side / float(max(shape[0], shape[1])))


def resize_by(image: np.ndarray, s: float, interpolation: int | None = None) -> np.ndarray:
    """`image` scaled by `s` (returned as is when s >= 1 is not asked to enlarge it), never to
    a zero-pixel side: a 100000x1 strip scaled by 0.0064 stays 640x1, not 640x0."""
    import cv2

    h, w = image.shape[:2]
    size = (max(1, round(w * s)), max(1, round(h * s)))
    if size == (w, h):
        return image
    return cv2.resize(
        image, size, interpolation=cv2.INTER_AREA if interpolation is None else interpolation
    )
