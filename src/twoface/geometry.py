"""Alignment templates, similarity estimation and warps (numpy/OpenCV, batched where it pays)."""

from __future__ import annotations

import numpy as np

# insightface/ArcFace five-point template for a 112x112 crop (eye, eye, nose, mouth, mouth).
ARCFACE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


# insightface's five pose templates (left profile, left, frontal, right, right profile) at 112 px,
# used by its older `estimate_norm(mode != "arcface")`, which SimSwap 224 and GHOST crop with.
POSE_112 = np.array(
    [
        [[51.642, 50.115], [57.617, 49.990], [35.740, 69.007], [51.157, 89.050], [57.025, 89.702]],
        [[45.031, 50.118], [65.568, 50.872], [39.677, 68.111], [45.177, 86.190], [64.246, 86.758]],
        [[39.730, 51.138], [72.270, 51.138], [56.000, 68.493], [42.463, 87.010], [69.537, 87.010]],
        [[46.845, 50.872], [67.382, 50.118], [72.737, 68.111], [48.167, 86.758], [67.236, 86.190]],
        [[54.796, 49.990], [60.771, 50.115], [76.673, 69.007], [55.388, 89.702], [61.257, 89.050]],
    ],
    dtype=np.float32,
)
# FFHQ alignment at 512 px (facexlib; GFPGAN, CodeFormer and SimSwap 512 crop with it).
FFHQ_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.1936],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ],
    dtype=np.float32,
)


def fit_template(kps: np.ndarray, name: str, size: int) -> np.ndarray:
    """2x3 matrix taking the five keypoints onto the named template at `size` px.

    "insightface_pose" tries the five pose templates and keeps the one the keypoints fit best
    (summed point error), as insightface's older estimate_norm did.
    """
    if name != "insightface_pose":
        return estimate_similarity(kps, template(name, size))
    best, best_error = None, np.inf
    for t in POSE_112 * (size / 112.0):
        m = estimate_similarity(kps, t)
        error = float(np.linalg.norm(apply_affine(m, kps) - t, axis=1).sum())
        if error < best_error:
            best, best_error = m, error
    return best


def _arcface(size: int) -> np.ndarray:
    # insightface's estimate_norm: sizes divisible by 112 scale the template; others (128, 256)
    # scale by size/128 and shift it 8 px (scaled) right.
    if size % 112 == 0:
        return ARCFACE_112 * (size / 112.0)
    return (ARCFACE_112 + np.array([8.0, 0.0], np.float32)) * (size / 128.0)


def _landmark(size: int) -> np.ndarray:
    # ArcFace points pulled towards the centre so that the whole jaw and brows fit in the crop.
    centre = np.array([56.0, 62.0], np.float32)
    return ((ARCFACE_112 - centre) * 0.55 + np.array([56.0, 60.0])) * (size / 112.0)


def _frontal_pose(size: int) -> np.ndarray:
    return POSE_112[2] * (size / 112.0)


# Templates as data: name -> five points at a given crop size. "insightface_pose" stands for all
# five pose templates (fit_template picks one per face); its frontal one answers `template()`.
TEMPLATES = {
    "arcface": _arcface,
    "ffhq": lambda size: FFHQ_512 * (size / 512.0),
    "landmark": _landmark,
    "insightface_pose": _frontal_pose,
}


def template(name: str, size: int) -> np.ndarray:
    """A named five-point template scaled to a square crop of `size` pixels."""
    try:
        return TEMPLATES[name](size)
    except KeyError:
        raise ValueError(f"unknown template {name!r}; templates: {', '.join(TEMPLATES)}") from None


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama, no reflection) mapping src points onto dst.

    Returns a 2x3 float64 matrix M with dst ~= M @ [x, y, 1].
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rot = u @ np.diag(sign) @ vt
    var_s = (s0**2).sum() / len(src)
    scale = float((sig * sign).sum() / var_s) if var_s > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def square_crop(center: np.ndarray, side: float, size: int) -> np.ndarray:
    """2x3 affine taking the axis-aligned square (center, side) onto a size x size crop."""
    s = size / side
    return np.array([[s, 0, size / 2 - s * center[0]], [0, s, size / 2 - s * center[1]]])


def invert_affine(m: np.ndarray) -> np.ndarray:
    a = np.vstack([m, [0.0, 0.0, 1.0]])
    return np.linalg.inv(a)[:2]


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def interocular(kps_or_landmarks: np.ndarray) -> float:
    """Distance between the eye centres, from 5 keypoints or a scheme's landmarks."""
    from twoface.schemes import scheme_of

    p = np.asarray(kps_or_landmarks, np.float64)
    if len(p) == 5:
        return float(np.linalg.norm(p[0] - p[1]))
    return scheme_of(p).interocular(p)


def kps_from_landmarks(lm: np.ndarray) -> np.ndarray:
    """The five alignment points (eyes, nose tip, mouth corners) from a scheme's landmarks."""
    from twoface.schemes import scheme_of

    return scheme_of(lm).five_points(lm)
