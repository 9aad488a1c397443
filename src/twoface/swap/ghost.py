"""GHOST (sber-swap) AEI-Net swappers, `G_unet_*` and `G_linknet_*`, with the iresnet100 identity
they were trained with: registration and factory. As sber-swap's inference: the target aligned to
the ArcFace template at 224 px, resized to 256, RGB in [-1, 1]; the source embedded by iresnet100
(raw 512-d); the result pasted back inside the target's landmark face mask. The network (loaded by
its checkpoint's key names) and `GhostGenerator` are in `ghost_net`, imported only when a model is
built.
"""

from __future__ import annotations

from twoface.registry import forward_to, register
from twoface.swap.base import LEARNED, TRAINED

_GHOST = {
    "consumes": (*LEARNED, "ghost_sr", "device", "half"),
    "produces": ("swapped crop at 256, RGB -1..1",),
    "label": TRAINED,
    "shipped": False,
}


@register("swap", "aei_linknet", **_GHOST)
@register("swap", "aei_unet", **_GHOST)
def ghost(entry, ctx):
    """GHOST's AEI-Net (U-Net or LinkNet attribute encoder, AAD generator) on PyTorch, with
    iresnet100."""
    from twoface.swap.ghost_net import GhostGenerator

    return GhostGenerator.from_entry(entry, ctx)


# AEINet, GhostGenerator, GhostWithSR and the loader live in ghost_net (PyTorch).
__getattr__ = forward_to(f"{__name__}_net")
