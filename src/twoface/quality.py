"""Measures of a finished swap's quality, shared by the tests and the benchmarks."""

from __future__ import annotations

import numpy as np

from twoface.mask import face_polygon, polygon_mask
from twoface.swap.skin import lab


def chroma_anomaly(out: np.ndarray, target: np.ndarray, landmarks: np.ndarray) -> float:
    """95th percentile of the Lab chroma shift inside the face after removing its median shift:
    a uniform tone change scores 0, rings and blotches score high."""
    m = polygon_mask(target.shape[:2], face_polygon(landmarks)) > 0
    a, b = lab(out)[..., 1:][m], lab(target)[..., 1:][m]
    d = a - b
    d -= np.median(d, axis=0)
    return float(np.percentile(np.linalg.norm(d, axis=1), 95))
