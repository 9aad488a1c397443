"""The networks a training run needs: the generator being trained (with its input and output
conventions), the frozen identity network, and pix2pixHD's multi-scale discriminator."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from twoface.train.recipes import Recipe


class Generator(nn.Module):
    """Images in [0, 1] in and out, whatever the architecture wants inside."""

    def __init__(self, recipe: Recipe) -> None:
        super().__init__()
        self.kind = "ghost" if recipe.arch.startswith("ghost") else "inswapper"
        if self.kind == "ghost":
            from twoface.swap.ghost_net import AEINet

            self.net = AEINet("unet", recipe.blocks, width=recipe.width)
        else:
            from twoface.swap.styletransfer_net import StyleTransferModel

            self.net = StyleTransferModel(recipe.width, recipe.blocks)

    def forward(self, target: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        if self.kind == "ghost":  # AEI-Net: 256 px in [-1, 1], tanh out
            size = target.shape[-1]
            x = F.interpolate(target * 2 - 1, size=256, mode="bilinear", align_corners=False)
            y = self.net(x, latent)
            y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            return y * 0.5 + 0.5
        return self.net(target, latent)

    def attributes(self, images: torch.Tensor) -> list[torch.Tensor]:
        """AEI-Net's multi-level attribute maps (the attribute loss compares them)."""
        x = F.interpolate(images * 2 - 1, size=256, mode="bilinear", align_corners=False)
        return self.net.encoder(x)


class Identity(nn.Module):
    """The frozen identity network the swapper is paired with, on the generator's crops: returns
    unit embeddings, differentiable with respect to the images."""

    def __init__(self, net: nn.Module, recipe: Recipe) -> None:
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.recipe = recipe

    def forward(self, images: torch.Tensor, normalise: bool = True) -> torch.Tensor:
        s = images.shape[-1]
        if self.recipe.template == "arcface":
            # The 128-framed ArcFace crop holds the 112 crop at x + 8 (scaled): cut it out.
            k = s / 128.0
            x0, side = round(8 * k), round(112 * k)
            face = images[..., 0:side, x0 : x0 + side]
        else:  # GHOST: the 224 crop halved
            face = images
        face = F.interpolate(face, size=112, mode="bilinear", align_corners=False)
        out = self.net(face * 2 - 1)
        out = (out[0] if isinstance(out, tuple | list) else out).flatten(1).float()
        return F.normalize(out, dim=1) if normalise else out


def load_identity(recipe: Recipe, store, device) -> Identity:
    """The recipe's identity network from the model store, as a PyTorch module."""
    entry = store.entry(recipe.identity)
    path = store.find(entry)
    if entry.format == "onnx":
        from twoface.runtime.onnx_check import load_checked
        from twoface.runtime.onnx_torch import OnnxModule

        net = OnnxModule(load_checked(path))
    else:
        from twoface.identity.iresnet_net import load_iresnet

        net = load_iresnet(path)
    return Identity(net, recipe).to(device)


class _PatchGAN(nn.Module):
    def __init__(self, layers: int, width: int) -> None:
        super().__init__()
        blocks = [nn.Sequential(nn.Conv2d(3, width, 4, 2, 2), nn.LeakyReLU(0.2))]
        c = width
        for i in range(1, layers):
            nxt = min(c * 2, 512)
            stride = 2 if i < layers - 1 else 1
            blocks.append(
                nn.Sequential(
                    nn.Conv2d(c, nxt, 4, stride, 2), nn.InstanceNorm2d(nxt), nn.LeakyReLU(0.2)
                )
            )
            c = nxt
        blocks.append(nn.Conv2d(c, 1, 4, 1, 2))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats  # the last is the real/fake map


class MultiscaleDiscriminator(nn.Module):
    """pix2pixHD's discriminator: the same PatchGAN on the image at 1, 1/2, 1/4 ... scale."""

    def __init__(self, scales: int = 3, layers: int = 4, width: float = 1.0) -> None:
        super().__init__()
        w = max(4, int(64 * width))
        self.scales = nn.ModuleList(_PatchGAN(layers, w) for _ in range(scales))

    def forward(self, images01: torch.Tensor) -> list[list[torch.Tensor]]:
        x = images01 * 2 - 1
        out = []
        for i, d in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
            out.append(d(x))
        return out


def hinge(maps: list[list[torch.Tensor]], real: bool) -> torch.Tensor:
    """Hinge loss summed over scales: mean(relu(1 - D)) for real, mean(relu(1 + D)) for fake."""
    total = 0.0
    for feats in maps:
        d = feats[-1].float()
        total = total + (F.relu(1 - d) if real else F.relu(1 + d)).mean()
    return total
