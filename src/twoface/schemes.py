"""Landmark schemes: which point of a landmark set is which, as named groups.

Masks, the classical engine, tracking and the anime swap read groups by name ("jaw", "brows",
"mouth_inner" ...), never raw indices, so any landmarker -- dlib's 68 points, insightface's 106,
the anime model's 28 -- can drive them.

Groups are ordered index tuples: `jaw` runs from the image-left end of the face outline to the
image-right end through the chin; `brows` from image left to image right; eyes and mouth
outlines go round. Sources:
- ibug68: the iBUG 300-W markup (dlib's predictor).
- insightface106: insightface's 2d106det markup. Contour 0-32 (0 the chin, 1-16 one side, 17-32
  the other), left eye 33-42, left brow 43-51, mouth 52-71, nose 72-86, right eye 87-96, right
  brow 97-105. The group orders below follow the markup's 68-point correspondence; GHOST's mask
  code (sber-swap) uses the same brow (43 48 49 51 50 / 102 103 104 105 101) and upper-lid
  (35 41 40 42 39 / 89 95 94 96 93) points.
- anime28: hysts/anime-face-detector's 28 points (see twoface.anime.layout).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

REQUIRED = ("jaw", "brows", "eye_left", "eye_right", "nose", "mouth_outer", "mouth_inner")


@dataclass(frozen=True)
class LandmarkScheme:
    name: str
    points: int
    groups: Mapping[str, tuple[int, ...]]
    # Single named points: chin, nose_tip, mouth_left, mouth_right (image left/right).
    marks: Mapping[str, int]
    # The point each point becomes in a mirror image (left-right), where the scheme has one.
    flip: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for key, idx in self.groups.items():
            if any(not 0 <= i < self.points for i in idx):
                raise ValueError(
                    f"{self.name}: group {key} has an index outside 0..{self.points - 1}"
                )

    def group(self, landmarks: np.ndarray, name: str) -> np.ndarray:
        return np.asarray(landmarks)[list(self.groups[name])]

    def point(self, landmarks: np.ndarray, name: str) -> np.ndarray:
        return np.asarray(landmarks)[self.marks[name]]

    def has(self, name: str) -> bool:
        return name in self.groups

    def mirrored(self, landmarks: np.ndarray, width: int) -> np.ndarray:
        """The landmarks of the image flipped left-right (width in pixels)."""
        if self.flip is None:
            raise ValueError(f"{self.name} has no mirror map")
        lm = np.asarray(landmarks, np.float32).copy()
        lm[:, 0] = width - 1 - lm[:, 0]
        return lm[list(self.flip)]

    # -- measures every consumer needs ---------------------------------------------------------
    def face_width(self, landmarks: np.ndarray) -> float:
        jaw = self.group(landmarks, "jaw")
        return float(np.linalg.norm(jaw[0] - jaw[-1]))

    def eye_centres(self, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (
            self.group(landmarks, "eye_left").mean(0),
            self.group(landmarks, "eye_right").mean(0),
        )

    def interocular(self, landmarks: np.ndarray) -> float:
        a, b = self.eye_centres(np.asarray(landmarks, np.float64))
        return float(np.linalg.norm(a - b))

    def five_points(self, landmarks: np.ndarray) -> np.ndarray:
        """Eyes (image left, right), nose tip, mouth corners: the detectors' 5 keypoints."""
        lm = np.asarray(landmarks, np.float32)
        left, right = self.eye_centres(lm)
        return np.stack(
            [
                left,
                right,
                self.point(lm, "nose_tip"),
                self.point(lm, "mouth_left"),
                self.point(lm, "mouth_right"),
            ]
        ).astype(np.float32)


def _r(a: int, b: int) -> tuple[int, ...]:
    return tuple(range(a, b))


IBUG68 = LandmarkScheme(
    "ibug68",
    68,
    {
        "jaw": _r(0, 17),
        "brows": _r(17, 27),
        "brow_left": _r(17, 22),
        "brow_right": _r(22, 27),
        "nose": _r(27, 36),
        "eye_left": _r(36, 42),
        "eye_right": _r(42, 48),
        "mouth_outer": _r(48, 60),
        "mouth_inner": _r(60, 68),
        # Inner lips, upper and lower, paired top to bottom (mouth-open measure).
        "lips_upper_inner": (61, 62, 63),
        "lips_lower_inner": (67, 66, 65),
    },
    {"chin": 8, "nose_tip": 30, "mouth_left": 48, "mouth_right": 54},
    (
        *range(16, -1, -1),  # jaw
        *range(26, 16, -1),  # brows
        27,
        28,
        29,
        30,
        35,
        34,
        33,
        32,
        31,  # nose bridge stays, nostrils swap
        45,
        44,
        43,
        42,
        47,
        46,
        39,
        38,
        37,
        36,
        41,
        40,  # eyes
        54,
        53,
        52,
        51,
        50,
        49,
        48,
        59,
        58,
        57,
        56,
        55,  # outer lips
        64,
        63,
        62,
        61,
        60,
        67,
        66,
        65,  # inner lips
    ),
)

_JAW_106 = (1, 10, 12, 14, 16, 3, 5, 7, 0, 23, 21, 19, 32, 30, 28, 26, 17)
_MOUTH_OUTER_106 = (52, 64, 63, 71, 67, 68, 61, 58, 59, 53, 56, 55)
_MOUTH_INNER_106 = (65, 66, 62, 70, 69, 57, 60, 54)
INSIGHTFACE106 = LandmarkScheme(
    "insightface106",
    106,
    {
        "jaw": _JAW_106,
        "brows": (43, 48, 49, 51, 50, 102, 103, 104, 105, 101),
        "brow_left": (43, 48, 49, 51, 50),
        "brow_right": (102, 103, 104, 105, 101),
        "nose": (72, 73, 74, 86, 78, 79, 80, 85, 84),
        "eye_left": (35, 41, 42, 39, 37, 36),
        "eye_right": (89, 95, 96, 93, 91, 90),
        "mouth_outer": _MOUTH_OUTER_106,
        "mouth_inner": _MOUTH_INNER_106,
        "lips_upper_inner": (66, 62, 70),
        "lips_lower_inner": (54, 60, 57),
    },
    {"chin": 0, "nose_tip": 86, "mouth_left": 52, "mouth_right": 61},
)

ANIME28 = LandmarkScheme(
    "anime28",
    28,
    {
        "jaw": _r(0, 5),
        "brows": _r(5, 11),
        "eye_left": _r(11, 17),
        "eye_right": _r(17, 23),
        "nose": (23,),
        "mouth_outer": (24, 25, 26, 27),
        "mouth_inner": (24, 25, 26, 27),
    },
    {"chin": 2, "nose_tip": 23, "mouth_left": 24, "mouth_right": 26},
)

SCHEMES: dict[str, LandmarkScheme] = {s.name: s for s in (IBUG68, INSIGHTFACE106, ANIME28)}


def scheme_of(landmarks: np.ndarray, name: str | None = None) -> LandmarkScheme:
    """The scheme by name, or, without one, by the number of points."""
    if name is not None:
        return SCHEMES[name]
    n = len(landmarks)
    for s in SCHEMES.values():
        if s.points == n:
            return s
    raise ValueError(f"no landmark scheme has {n} points")
