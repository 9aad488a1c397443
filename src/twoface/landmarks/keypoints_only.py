"""The "none" landmarker: keep the detector's five keypoints, add no landmarks.

The learned swappers align by the five keypoints alone, so with them (and the box masker) a video
needs no 68-point model: no dlib, and nothing per face on the CPU but tracking. Masks that read
landmark groups (area) and the classical engine need a real landmarker.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from twoface.landmarks.base import Landmarker
from twoface.registry import register
from twoface.types import Face


@register(
    "landmarks",
    "none",
    architecture="the detector's five keypoints",
    consumes=("faces",),
    summary="no landmarker: the detector's five keypoints only (enough for learned swappers)",
)
class KeypointsOnly(Landmarker):
    name = "none"
    gives_landmarks = False  # the detector's 5 keypoints only
    scheme_name = "ibug68"  # unused: no landmarks are produced

    def __call__(
        self, frames: Sequence[np.ndarray], faces: Sequence[Sequence[Face]]
    ) -> list[list[Face]]:
        return [list(fs) for fs in faces]
