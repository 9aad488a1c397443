"""dlib's HOG detector with keypoints from its 5-point predictor (face-recognition-models)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twoface.detect import base
from twoface.detect.base import Detector, downscale_factor, resize_by
from twoface.detect.keypoints import Dlib5Keypoints
from twoface.registry import option, register
from twoface.types import Face


@dataclass(frozen=True)
class DlibHogOptions:
    max_side: int = option(800, base.MAX_SIDE)
    upsample: int = option(1, "times the frame is upsampled to find smaller faces (slower)")


@register(
    "detect",
    "dlib-hog",
    options=DlibHogOptions,
    architecture="dlib HOG + linear SVM",
    consumes=("frames",),
    produces=("boxes", "5 keypoints (dlib's predictor)"),
)
class DlibHogDetector(Detector):
    """Frontal HOG + SVM. Slower than RetinaFace here (0.3 s vs 0.03 s a photo) and frontal only."""

    name = "dlib-hog"

    def __init__(self, max_side: int = 800, upsample: int = 1) -> None:
        import dlib

        self.max_side = max_side
        self.upsample = upsample
        self._detector = dlib.get_frontal_face_detector()
        self._keypoints = Dlib5Keypoints()

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:

        out = []
        for frame in frames:
            s = downscale_factor(frame.shape, self.max_side)
            small = resize_by(frame, s) if s < 1 else frame
            small = np.ascontiguousarray(small)
            rects, scores, _ = self._detector.run(small, self.upsample, 0.0)
            faces = []
            for rect, score in sorted(zip(rects, scores, strict=True), key=lambda r: -r[1]):
                kps = self._keypoints.points(small, rect)
                box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], np.float32)
                faces.append(
                    Face(box=box / s, score=float(score), kps=(kps / s).astype(np.float32))
                )
            out.append(faces)
        return out
