"""Face detectors: each takes a batch of RGB frames and returns the faces of each frame.

Two ship with the package (no download): `retinaface` (default) and `dlib-hog`. The others run
the published files of the model zoo: SCRFD and YuNet ONNX exports (onnxruntime or PyTorch) and
SCRFD's mmdetection checkpoint (PyTorch).
"""

from __future__ import annotations

from twoface.detect.base import Detector, nms
from twoface.detect.dlib_hog import DlibHogDetector
from twoface.detect.retinaface import RetinaFaceDetector


def detector_names() -> list[str]:
    """Detectors twoface can build: the shipped ones, then the zoo's."""
    from twoface.build import runnable

    return runnable("detect")


def create_detector(
    name: str = "retinaface",
    store=None,
    runtime: str = "onnxruntime",
    device: str | None = None,
    **options,
) -> Detector:
    """A detector by name (twoface.build); zoo models are looked up in `store`."""
    from twoface.build import BuildContext, build
    from twoface.config import RuntimeConfig
    from twoface.zoo.store import ModelStore

    ctx = BuildContext(store or ModelStore(), RuntimeConfig(runtime, device), options=options)
    return build("detect", name, ctx)


__all__ = [
    "Detector",
    "DlibHogDetector",
    "RetinaFaceDetector",
    "create_detector",
    "detector_names",
    "nms",
]
