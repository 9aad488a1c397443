"""RetinaFace's PyTorch release (biubug6/Pytorch_Retinaface: MobileNet-0.25 and ResNet-50) as a
detector: its options, registration and factory. The networks are in `retinaface_torch_net`,
imported only when a model is built; pre- and post-processing are `RetinaFaceDetector`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from twoface.detect import base
from twoface.registry import forward_to, option, register


@dataclass(frozen=True)
class RetinaFaceTorchOptions:
    max_side: int = option(640, base.MAX_SIDE)
    score_threshold: float = option(0.7, base.SCORE)
    iou_threshold: float = option(0.4, base.IOU)


@register(
    "detect",
    "retinaface_resnet50",
    options=RetinaFaceTorchOptions,
    consumes=("frames", "device"),
    produces=("boxes", "scores", "5 keypoints (priors)"),
    shipped=False,
)
@register(
    "detect",
    "retinaface_mobilenet",
    options=RetinaFaceTorchOptions,
    consumes=("frames", "device"),
    produces=("boxes", "scores", "5 keypoints (priors)"),
    shipped=False,
)
def retinaface_torch(entry, ctx):
    """RetinaFace's .pth files (MobileNet-0.25 or ResNet-50) on PyTorch, batched; GPU when
    present."""
    from twoface.detect.retinaface_torch_net import RetinaFaceTorchDetector

    return RetinaFaceTorchDetector.from_entry(entry, ctx)


# The networks, their loader and RetinaFaceTorchDetector live in retinaface_torch_net.
__getattr__ = forward_to(f"{__name__}_net")
