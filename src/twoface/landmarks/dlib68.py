"""dlib's 68-point iBUG predictor, run on a crop aligned by the detector's five keypoints.

dlib's regression trees were trained on upright faces inside HOG-detector boxes. Aligning first
(rotation and scale from the keypoints) and giving the predictor the box HOG would have drawn on
that aligned crop makes the points independent of in-plane rotation and of the detector used.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from twoface.geometry import apply_affine, estimate_similarity, invert_affine, template
from twoface.landmarks.base import Landmarker
from twoface.registry import register
from twoface.types import Face

CROP = 256
# Mean HOG box on 20 aligned faces of the shared photos, measured on a 160 px crop, scaled to CROP.
_HOG_BOX_160 = (46.0, 58.0, 114.0, 126.0)


@register(
    "landmarks",
    "dlib68",
    architecture="dlib regression trees (iBUG 300-W), on an aligned crop",
    consumes=("frames", "faces"),
    produces=("68 landmarks (ibug68)",),
    summary="dlib's 68-point iBUG predictor, run on a crop aligned by the five keypoints",
)
class Dlib68Landmarker(Landmarker):
    name = "dlib68"
    scheme = scheme_name = "ibug68"

    def __init__(self) -> None:
        import dlib

        from twoface.embedded import dlib_model

        self._dlib = dlib
        self._predictor = dlib.shape_predictor(dlib_model("shape_predictor_68_face_landmarks.dat"))
        k = CROP / 160.0
        self._rect = dlib.rectangle(*(int(round(v * k)) for v in _HOG_BOX_160))
        self._template = template("landmark", CROP)

    def __call__(
        self, frames: Sequence[np.ndarray], faces: Sequence[Sequence[Face]]
    ) -> list[list[Face]]:
        """Faces of each frame with `landmarks` filled in (68 points in frame coordinates)."""
        return [[self.one(frame, f) for f in fs] for frame, fs in zip(frames, faces, strict=True)]

    def one(self, frame: np.ndarray, face: Face) -> Face:
        m = estimate_similarity(face.kps, self._template)
        crop = cv2.warpAffine(
            frame, m, (CROP, CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        shape = self._predictor(np.ascontiguousarray(crop), self._rect)
        pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], np.float64)
        return face.with_landmarks(
            apply_affine(invert_affine(m), pts).astype(np.float32), self.scheme
        )
