"""Face detectors: each takes a batch of RGB frames and returns the faces of each frame.

Two ship with the package (no download): `retinaface` (default) and `dlib-hog`. The others run
the published files of the model zoo: SCRFD and YuNet ONNX exports (onnxruntime or PyTorch) and
SCRFD's mmdetection checkpoint (PyTorch).
"""

from __future__ import annotations

from twoface.detect.base import Detector, nms
from twoface.detect.dlib_hog import DlibHogDetector
from twoface.detect.retinaface import RetinaFaceDetector

BUILTIN: dict[str, type[Detector]] = {
    "retinaface": RetinaFaceDetector,
    "dlib-hog": DlibHogDetector,
}
# Catalogue architectures a detector class can run.
ZOO_ARCHS = ("scrfd", "scrfd_mmdet", "yunet", "retinaface_mobilenet", "retinaface_resnet50")


def detector_names() -> list[str]:
    from twoface.zoo.catalogue import CATALOGUE

    zoo = [e.name for e in CATALOGUE.values() if e.task == "detect" and e.arch in ZOO_ARCHS]
    return [*BUILTIN, *zoo]


def create_detector(
    name: str = "retinaface",
    store=None,
    runtime: str = "onnxruntime",
    device: str | None = None,
    **options,
) -> Detector:
    """A detector by name; zoo models are looked up in `store` (a `ModelStore`)."""
    if name in BUILTIN:
        return BUILTIN[name](**options)
    from twoface.zoo.catalogue import CATALOGUE
    from twoface.zoo.store import ModelStore

    entry = CATALOGUE.get(name)
    if entry is None or entry.task != "detect" or entry.arch not in ZOO_ARCHS:
        raise ValueError(f"unknown detector {name!r}; choose from {', '.join(detector_names())}")
    path = (store or ModelStore()).find(entry)
    if entry.format == "torch":
        from twoface.runtime import require_torch

        require_torch(f"detector {name}")
    if entry.arch == "scrfd_mmdet":
        options.pop("threads", None)  # PyTorch sets its own thread pool
    if entry.arch == "scrfd":
        from twoface.detect.scrfd import ScrfdDetector

        return ScrfdDetector(path, runtime=runtime, device=device, **options)
    if entry.arch == "yunet":
        from twoface.detect.yunet import YunetDetector

        return YunetDetector(path, runtime=runtime, device=device, **options)
    if entry.arch.startswith("retinaface_"):
        from twoface.detect.retinaface_torch import RetinaFaceTorchDetector

        return RetinaFaceTorchDetector(path, device=device, **options)
    from twoface.detect.scrfd_mmdet import ScrfdMmdetDetector

    return ScrfdMmdetDetector(path, device=device, **options)


__all__ = [
    "BUILTIN",
    "Detector",
    "DlibHogDetector",
    "RetinaFaceDetector",
    "create_detector",
    "detector_names",
    "nms",
]
