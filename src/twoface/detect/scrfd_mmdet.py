"""SCRFD's mmdetection training checkpoints (insightface's fork) as a detector: its options,
registration and factory. The network (plain PyTorch, no mmcv/mmdet, loaded by the checkpoint's
own key names) is in `scrfd_mmdet_net`, imported only when a model is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from twoface.detect import base
from twoface.registry import forward_to, option, register


@dataclass(frozen=True)
class ScrfdMmdetOptions:
    size: int | None = option(None, base.SIZE)
    score_threshold: float = option(0.5, base.SCORE)
    iou_threshold: float = option(0.4, base.IOU)


@register(
    "detect",
    "scrfd_mmdet",
    options=ScrfdMmdetOptions,
    consumes=("frames", "device"),
    produces=base.FIVE_POINTS,
    shipped=False,
)
def scrfd_mmdet(entry, ctx):
    """SCRFD's mmdetection checkpoints on PyTorch, batched; dlib's 5 keypoints when the file
    has none."""
    from twoface.detect.scrfd_mmdet_net import ScrfdMmdetDetector

    return ScrfdMmdetDetector.from_entry(entry, ctx)


# The network, its loader and ScrfdMmdetDetector live in scrfd_mmdet_net (PyTorch).
__getattr__ = forward_to(f"{__name__}_net")
