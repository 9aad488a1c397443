"""insightface's iResNet (arcface_torch) as an identity network: registration and factory.
iresnet100 is sber-swap's (GHOST's) identity encoder, `backbone.pth`: RGB in [-1, 1] at 112 px,
512-d output. The network (loaded by its key names, depths read from the checkpoint) is in
`iresnet_net`, imported only when a model is built.
"""

from __future__ import annotations

from twoface.registry import forward_to, register


@register(
    "identity",
    "iresnet100",
    consumes=("crops", "device"),
    produces=("512-d embedding (raw)",),
    shipped=False,
)
def iresnet_from_entry(entry, ctx):
    """GHOST's iresnet100 (`backbone.pth`) on the runtime's device: the identity network the
    GHOST swappers are paired with."""
    from twoface.identity.iresnet_net import load_iresnet
    from twoface.runtime import torch_device

    return load_iresnet(ctx.find(entry)).to(torch_device(ctx.runtime.device)).eval()


# IResNet and load_iresnet live in iresnet_net (PyTorch).
__getattr__ = forward_to(f"{__name__}_net")
