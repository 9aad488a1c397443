"""Face detectors: each takes a batch of RGB frames and returns the faces of each frame."""

from twoface.detect.base import Detector, nms
from twoface.detect.dlib_hog import DlibHogDetector
from twoface.detect.retinaface import RetinaFaceDetector

DETECTORS: dict[str, type[Detector]] = {
    "retinaface": RetinaFaceDetector,
    "dlib-hog": DlibHogDetector,
}


def create_detector(name: str = "retinaface", **options) -> Detector:
    try:
        cls = DETECTORS[name]
    except KeyError:
        raise ValueError(f"unknown detector {name!r}; choose from {', '.join(DETECTORS)}") from None
    return cls(**options)


__all__ = [
    "DETECTORS",
    "Detector",
    "DlibHogDetector",
    "RetinaFaceDetector",
    "create_detector",
    "nms",
]
