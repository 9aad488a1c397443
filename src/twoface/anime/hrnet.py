"""HRNetV2-W18 28-point anime face landmarks (hysts/anime-face-detector, mmpose): registration,
options and factory. The network, the DARK heatmap decoding and `AnimeLandmarker` are in
`hrnet_net`, imported only when a model is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from twoface.registry import forward_to, option, register


@dataclass(frozen=True)
class AnimeLandmarkerOptions:
    flip_test: bool = option(True, "average with the mirrored crop's heatmaps (mmpose's flip test)")


@register(
    "landmarks",
    "anime_hrnetv2",
    options=AnimeLandmarkerOptions,
    consumes=("frames", "faces", "device"),
    produces=("28 landmarks (anime28), from 28 heatmaps at 64x64",),
    shipped=False,
)
def anime_hrnetv2(entry, ctx):
    """hysts/anime-face-detector's HRNetV2 28-point landmarks on PyTorch, flip-tested."""
    from twoface.anime.hrnet_net import AnimeLandmarker

    return AnimeLandmarker.from_entry(entry, ctx)


# The network and AnimeLandmarker live in hrnet_net (PyTorch).
__getattr__ = forward_to(f"{__name__}_net")
