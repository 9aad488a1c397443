"""Measures of a finished swap's quality, shared by the engine's own check, the tests and the
benchmarks.

Each compares the output with the target inside the target's face (its landmarks):

- `chroma_anomaly`: colour blotches and rings (the Lab chroma shift beyond its median);
- `blotch`: pale or dark patches (the L* difference at the scale of a patch, against its
  surroundings), over the skin away from the eyes, brows, nose and mouth;
- `seam`: hard edges (the steepest step of the difference over the skin);
- `visible_change`: whether the swap changed anything one can see.
"""

from __future__ import annotations

import cv2
import numpy as np

from twoface.mask import face_polygon, polygon_mask
from twoface.schemes import scheme_of


def lab(image: np.ndarray) -> np.ndarray:
    """float32 L*a*b* with L in 0..100 and a, b around 0 (as twoface.swap.skin's)."""
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def chroma_anomaly(out: np.ndarray, target: np.ndarray, landmarks: np.ndarray) -> float:
    """95th percentile of the Lab chroma shift inside the face after removing its median shift:
    a uniform tone change scores 0, rings and blotches score high."""
    m = polygon_mask(target.shape[:2], face_polygon(landmarks)) > 0
    a, b = lab(out)[..., 1:][m], lab(target)[..., 1:][m]
    d = a - b
    d -= np.median(d, axis=0)
    return float(np.percentile(np.linalg.norm(d, axis=1), 95))


def skin_zone(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    """Boolean map of the face's skin away from its features: the face polygon less the eyes,
    brows, nose and mouth grown by FEATURE_GROW face widths (where a patch or a seam is a
    fault; the features themselves are meant to change)."""
    lm = np.asarray(landmarks, np.float64)
    s = scheme_of(lm)
    fw = s.face_width(lm)
    face = polygon_mask(shape, face_polygon(lm, scheme=s)) > 0
    feats = np.zeros(shape, np.uint8)
    for g in ("eye_left", "eye_right", "nose", "mouth_outer"):
        hull = cv2.convexHull(s.group(lm, g).astype(np.float32))
        cv2.fillConvexPoly(feats, np.round(hull).astype(np.int32), 1)
    for g in ("brow_left", "brow_right") if s.has("brow_left") else ("brows",):
        hull = cv2.convexHull(s.group(lm, g).astype(np.float32))
        cv2.fillConvexPoly(feats, np.round(hull).astype(np.int32), 1)
    k = max(1, int(round(FEATURE_GROW * fw)))
    feats = cv2.dilate(feats, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1,) * 2))
    return face & (feats == 0)


# The features' surroundings left out of the skin zone (x face width): a brow or an eye
# moved by the identity is no blotch.
FEATURE_GROW = 0.04


def _difference(out: np.ndarray, target: np.ndarray) -> np.ndarray:
    return lab(out)[..., 0] - lab(target)[..., 0]


def blotch(out: np.ndarray, target: np.ndarray, landmarks: np.ndarray) -> float:
    """99th percentile over the skin zone of the L* difference (output - target) at a patch's
    scale (blurred BLOTCH_FINE face widths) against its surroundings (BLOTCH_WIDE): a smooth
    change of light scores ~0, a pale or dark patch under an eye or on a cheek its contrast."""
    lm = np.asarray(landmarks, np.float64)
    fw = scheme_of(lm).face_width(lm)
    zone = skin_zone(target.shape[:2], lm)
    if zone.sum() < 32:
        return 0.0
    d = _difference(out, target)
    face = (polygon_mask(target.shape[:2], face_polygon(lm)) > 0).astype(np.float32)

    def blur(x: np.ndarray, sigma: float) -> np.ndarray:
        num = cv2.GaussianBlur(x * face, (0, 0), max(0.5, sigma * fw))
        return num / np.maximum(cv2.GaussianBlur(face, (0, 0), max(0.5, sigma * fw)), 1e-4)

    band = blur(d, BLOTCH_FINE) - blur(d, BLOTCH_WIDE)
    return float(np.percentile(np.abs(band[zone]), 99))


BLOTCH_FINE, BLOTCH_WIDE = 0.02, 0.12


def skin_seam(out: np.ndarray, target: np.ndarray, landmarks: np.ndarray) -> float:
    """99th percentile over the skin zone of the L* difference's gradient (output - target,
    blurred SEAM_BLUR face widths), in L* per SEAM_STEP face widths: a mask's hard edge or a
    pasted patch's rim is a step in the difference; the swap's own tone change is smooth."""
    lm = np.asarray(landmarks, np.float64)
    fw = scheme_of(lm).face_width(lm)
    zone = skin_zone(target.shape[:2], lm)
    if zone.sum() < 32:
        return 0.0
    d = cv2.GaussianBlur(_difference(out, target), (0, 0), max(0.5, SEAM_BLUR * fw))
    gy, gx = np.gradient(d)
    grad = np.hypot(gx, gy) * SEAM_STEP * fw
    return float(np.percentile(grad[zone], 99))


SEAM_BLUR, SEAM_STEP = 0.008, 0.02


def visible_change(out: np.ndarray, target: np.ndarray, landmarks: np.ndarray) -> float:
    """Mean absolute change (RGB levels) inside the target's face polygon: below
    UNCHANGED a swap changed nothing one sees."""
    m = polygon_mask(target.shape[:2], face_polygon(landmarks)) > 0
    if not m.any():
        return 0.0
    return float(np.abs(out.astype(np.int16) - target.astype(np.int16))[m].mean())


# Mean change inside the face (levels) below which a swap is reported as no visible change:
# JPEG noise of a re-encode is ~1-2 levels; the weakest real swap on the shared photos (a
# target keeping its eyes and mouth) changes ~5.
UNCHANGED = 2.0
