"""YOLOv3 (Darknet-53) anime face detector of hysts/anime-face-detector: registration and factory.
The network (plain PyTorch, the checkpoint's own key names), its decoding and
`YoloAnimeDetector` are in `yolov3_net`, imported only when a model is built.
"""

from __future__ import annotations

from twoface.registry import forward_to, register


@register(
    "anime-detect",
    "anime_yolov3",
    consumes=("frames", "device"),
    produces=("boxes", "scores"),
    shipped=False,
)
def anime_yolov3(entry, ctx):
    """hysts/anime-face-detector's YOLOv3 on PyTorch (the .pth, or its safetensors copy)."""
    from twoface.anime.yolov3_net import YoloAnimeDetector

    return YoloAnimeDetector.from_entry(entry, ctx)


# The network and YoloAnimeDetector live in yolov3_net (PyTorch).
__getattr__ = forward_to(f"{__name__}_net")
