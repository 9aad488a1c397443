"""Soft masks drawn from landmarks in frame coordinates: the inner face (brows to chin) and the open mouth.

Points are read by group through the landmark scheme (twoface.schemes), so 68-point dlib and
106-point insightface landmarks make the same masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from twoface.schemes import LandmarkScheme, scheme_of


def face_polygon(
    lm: np.ndarray, brow_lift: float = 0.08, scheme: LandmarkScheme | None = None
) -> np.ndarray:
    """Jaw line then the brows right-to-left, lifted a little so the brows sit wholly inside.

    Nothing above the brows: the forehead is where hair, hats and fringes live, and a source's
    hairline pasted there is the most visible artefact of landmark swaps.
    """
    lm = np.asarray(lm, np.float32)
    s = scheme or scheme_of(lm)
    brows, chin = s.group(lm, "brows"), s.point(lm, "chin")
    up = brows.mean(0) - chin
    face_h = np.linalg.norm(up)
    up /= max(face_h, 1e-6)
    lifted = brows[::-1] + up * brow_lift * face_h
    return np.concatenate([s.group(lm, "jaw"), lifted])


def mouth_open_ratio(lm: np.ndarray, scheme: LandmarkScheme | None = None) -> float:
    """Inner-lip gap over mouth width: ~0 when closed, > 0.15 when teeth or tongue show."""
    lm = np.asarray(lm, np.float64)
    s = scheme or scheme_of(lm)
    if not s.has("lips_upper_inner"):
        return 0.0
    gap = np.linalg.norm(
        s.group(lm, "lips_upper_inner") - s.group(lm, "lips_lower_inner"), axis=1
    ).mean()
    width = np.linalg.norm(s.point(lm, "mouth_left") - s.point(lm, "mouth_right"))
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


@dataclass(frozen=True)
class MouthParams:
    """`open_ratio`: the inner-lip gap over the mouth's width above which a mouth is open (its
    teeth or tongue show): closed mouths read about 0 and open ones above 0.15, so 0.12 sits
    between with room for the landmarker's few-pixel noise on a closed mouth."""

    open_ratio: float = 0.12


MOUTH = MouthParams()


def face_mask(
    shape: tuple[int, int],
    lm: np.ndarray,
    keep_open_mouth: bool = True,
    source_mouth_open: bool = False,
    softness: float = 1.0,
    erode: float = 0.05,
    blur: float = 0.08,
) -> np.ndarray:
    """Soft swap mask for one face: inner face and brows, minus the mouth when the mouths differ.

    Target mouth open: its teeth and tongue stay (a source mouth warped into an open one doubles
    teeth). Source open: the target's lips stay too (squeezed source teeth would show as a white
    line between closed lips, or as teeth on the lips of an open one). softness > 1 widens the
    feather (a source turned away from the target's pose: its stretched texture fades in
    instead of ending sharply). erode, blur: the polygon's erosion and feather (x face width).
    """
    lm = np.asarray(lm, np.float32)
    s = scheme_of(lm)
    size = s.face_width(lm)
    soft = feather(
        polygon_mask(shape, face_polygon(lm, scheme=s)),
        size,
        erode=erode * softness,
        blur=blur * softness,
    )
    target_open = mouth_open_ratio(lm, s) > MOUTH.open_ratio
    region = None
    if keep_open_mouth and target_open and not source_mouth_open:
        region = s.group(lm, "mouth_inner")
    elif keep_open_mouth and source_mouth_open:
        # Both open: the source's lips, thin over its teeth, would carry teeth into the
        # target's lip band -- the target's whole mouth stays.
        region = s.group(lm, "mouth_outer")
    if region is not None:
        mouth = polygon_mask(shape, region)
        mouth = cv2.dilate(mouth, np.ones((3, 3), np.uint8), iterations=max(1, int(size * 0.01)))
        mouth_soft = cv2.GaussianBlur(
            mouth.astype(np.float32) / 255.0, (0, 0), max(0.5, size * 0.01)
        )
        soft *= 1.0 - mouth_soft
    return soft
