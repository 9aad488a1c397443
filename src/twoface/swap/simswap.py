"""SimSwap (neuralchen/SimSwap), 224 and 512, with SimSwap's IR-SE ArcFace read from the pickled
`arcface_checkpoint.tar` through the restricted unpickler (no pickled code runs): registration
and factories. As SimSwap's inference: the target crop RGB in [0, 1]; the source crop with
ImageNet mean/std at 112 px, embedded and L2-normalised. The networks and `SimSwapGenerator` are
in `simswap_net`, imported only when a model is built.
"""

from __future__ import annotations

from twoface.registry import forward_to, register
from twoface.swap.base import LEARNED, TRAINED

# The classes SimSwap's pickled ArcFace names: the only ones the restricted unpickler accepts.
ARCFACE_CLASSES = (
    "models.arcface_models.ResNet",
    "models.arcface_models.IRBlock",
    "models.arcface_models.SEBlock",
)


@register(
    "swap",
    "simswap",
    consumes=(*LEARNED, "device"),
    produces=("swapped crop, RGB 0..1",),
    label=TRAINED,
    shipped=False,
)
def simswap(entry, ctx):
    """SimSwap 224 (insightface pose templates) or 512 (FFHQ) on PyTorch, with SimSwap's
    ArcFace."""
    from twoface.swap.simswap_net import SimSwapGenerator

    return SimSwapGenerator.from_entry(entry, ctx)


@register(
    "identity",
    "simswap_arcface",
    consumes=("crops", "device"),
    produces=("512-d embedding",),
    shipped=False,
)
def arcface_from_entry(entry, ctx):
    """SimSwap's IR-SE ArcFace, read from its pickled checkpoint by the restricted unpickler:
    the identity network the SimSwap swappers are paired with."""
    from twoface.runtime import torch_device
    from twoface.swap.simswap_net import load_simswap_arcface

    return load_simswap_arcface(ctx.find(entry)).to(torch_device(ctx.runtime.device))


# SimSwapNet, SimSwapArcFace, SimSwapGenerator and the loaders live in simswap_net (PyTorch).
__getattr__ = forward_to(f"{__name__}_net")
