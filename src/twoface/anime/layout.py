"""The 28-point anime face layout of hysts/anime-face-detector (HRNetV2 heads).

Indices, from the model's dataset info (each point's left-right `swap` partner): 0-4 the face
contour (0<->4, 1<->3, 2 chin), 5-10 the brows (5<->10, 6<->9, 7<->8), 11-16 one eye (upper lid
11-13, lower 14-16) mirrored by 17-22 the other, 23 the nose, 24-26 the mouth corners and top
(24<->26), 27 the mouth's bottom.
"""

from __future__ import annotations

import numpy as np

N_POINTS = 28
FLIP_INDICES = (
    4,
    3,
    2,
    1,
    0,
    10,
    9,
    8,
    7,
    6,
    5,
    19,
    18,
    17,
    22,
    21,
    20,
    13,
    12,
    11,
    16,
    15,
    14,
    23,
    26,
    25,
    24,
    27,
)
CONTOUR = slice(0, 5)
BROWS = slice(5, 11)
EYE_A = slice(11, 17)
EYE_B = slice(17, 23)
NOSE = 23
MOUTH = slice(24, 28)


def face_outline(points: np.ndarray, brow_lift: float = 0.15) -> np.ndarray:
    """A closed polygon around the face: the contour, then the brows lifted a little."""
    p = np.asarray(points, np.float32)
    up = p[BROWS].mean(0) - p[2]
    height = float(np.linalg.norm(up))
    up /= max(height, 1e-6)
    brows = p[BROWS][::-1] + up * brow_lift * height
    return np.concatenate([p[CONTOUR], brows])
