"""Soft masks drawn from 68 iBUG landmarks: the inner face (brows to chin) and the open mouth."""

from __future__ import annotations

import cv2
import numpy as np

JAW = slice(0, 17)
BROWS = slice(17, 27)
INNER_MOUTH = slice(60, 68)


def face_polygon(lm: np.ndarray, brow_lift: float = 0.08) -> np.ndarray:
    """Jaw line then the brows right-to-left, lifted a little so the brows sit wholly inside.

    Nothing above the brows: the forehead is where hair, hats and fringes live, and a source's
    hairline pasted there is the most visible artefact of landmark swaps.
    """
    lm = np.asarray(lm, np.float32)
    up = lm[BROWS].mean(0) - lm[8]
    up /= max(np.linalg.norm(up), 1e-6)
    face_h = np.linalg.norm(lm[BROWS].mean(0) - lm[8])
    brows = lm[BROWS][::-1] + up * brow_lift * face_h
    return np.concatenate([lm[JAW], brows])


def mouth_open_ratio(lm: np.ndarray) -> float:
    """Inner-lip gap over mouth width: ~0 when closed, > 0.15 when teeth or tongue show."""
    lm = np.asarray(lm, np.float64)
    gap = np.linalg.norm(lm[[61, 62, 63]] - lm[[67, 66, 65]], axis=1).mean()
    width = np.linalg.norm(lm[48] - lm[54])
    return float(gap / max(width, 1e-6))


def polygon_mask(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(polygon * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return mask


def feather(
    mask: np.ndarray, face_size: float, erode: float = 0.05, blur: float = 0.08
) -> np.ndarray:
    """Shrink a hard mask by `erode`·face_size, then blur it by `blur`·face_size: float32 in [0, 1].

    Eroding first keeps the blurred edge inside the face, so the soft mask is exactly zero outside
    the polygon and pixels there stay untouched.
    """
    k = max(1, int(round(face_size * erode)))
    hard = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    sigma = max(0.5, face_size * blur / 3.0)
    soft = cv2.GaussianBlur(hard.astype(np.float32) / 255.0, (0, 0), sigma)
    soft *= mask.astype(np.float32) / 255.0  # hard zero outside the original polygon
    return soft


OUTER_MOUTH = slice(48, 60)
OPEN_MOUTH = 0.12


def face_mask(
    shape: tuple[int, int],
    lm: np.ndarray,
    keep_open_mouth: bool = True,
    source_mouth_open: bool = False,
) -> np.ndarray:
    """Soft swap mask for one face: inner face and brows, minus the mouth when the mouths differ.

    Target mouth open: its teeth and tongue stay (a source mouth warped into an open one doubles
    teeth). Source open but target closed: the target's lips stay (squeezed source teeth would
    show as a white line between the lips).
    """
    lm = np.asarray(lm, np.float32)
    size = float(np.linalg.norm(lm[0] - lm[16]))
    soft = feather(polygon_mask(shape, face_polygon(lm)), size)
    target_open = mouth_open_ratio(lm) > OPEN_MOUTH
    region = None
    if keep_open_mouth and target_open:
        region = lm[INNER_MOUTH]
    elif keep_open_mouth and source_mouth_open:
        region = lm[OUTER_MOUTH]
    if region is not None:
        mouth = polygon_mask(shape, region)
        mouth = cv2.dilate(mouth, np.ones((3, 3), np.uint8), iterations=max(1, int(size * 0.01)))
        mouth_soft = cv2.GaussianBlur(
            mouth.astype(np.float32) / 255.0, (0, 0), max(0.5, size * 0.01)
        )
        soft *= 1.0 - mouth_soft
    return soft
