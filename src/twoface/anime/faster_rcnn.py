"""Faster R-CNN R50-FPN anime face detector of hysts/anime-face-detector: registration and
factory. The network (plain PyTorch, no mmcv or torchvision) and `FasterRcnnAnimeDetector` are in
`faster_rcnn_net`, imported only when a model is built.
"""

from __future__ import annotations

from twoface.registry import forward_to, register


@register(
    "anime-detect",
    "anime_faster_rcnn",
    consumes=("frames", "device"),
    produces=("boxes", "scores"),
    shipped=False,
)
def anime_faster_rcnn(entry, ctx):
    """hysts/anime-face-detector's Faster R-CNN on PyTorch (the .pth, or its safetensors copy)."""
    from twoface.anime.faster_rcnn_net import FasterRcnnAnimeDetector

    return FasterRcnnAnimeDetector.from_entry(entry, ctx)


# The network and FasterRcnnAnimeDetector live in faster_rcnn_net (PyTorch).
__getattr__ = forward_to(f"{__name__}_net")
