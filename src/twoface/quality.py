"""Measures of a finished swap's quality, shared by the tests and the benchmarks."""

from __future__ import annotations

import cv2
import numpy as np

from twoface.mask import face_polygon, polygon_mask


def chroma_anomaly(out: np.ndarray, target: np.ndarray, landmarks: np.ndarray) -> float:
    """95th percentile of the Lab chroma shift inside the face after removing its median shift:
    a uniform tone change scores 0, rings and blotches score high."""
    m = polygon_mask(target.shape[:2], face_polygon(landmarks)) > 0
    a = cv2.cvtColor(out.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)[..., 1:][m]
    b = cv2.cvtColor(target.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)[..., 1:][m]
    d = a - b
    d -= np.median(d, axis=0)
    return float(np.percentile(np.linalg.norm(d, axis=1), 95))
