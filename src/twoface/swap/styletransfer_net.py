"""The inswapper / ReSwapper generator in PyTorch, with ReSwapper's checkpoint key names.

ReSwapper (somanchiu/ReSwapper, `StyleTransferModel_128.py`) re-trains insightface's inswapper
architecture: a target encoder (7x7 reflect conv 3->128, 3x3 128->256, two stride-2 3x3 convs to
1024, LeakyReLU 0.2), six residual style blocks at 1024 channels (two 3x3 convs, each followed by
instance normalisation modulated by Linear(512 -> 2048) of the source latent; ReLU after the
first), and a decoder (bilinear x2 + 3x3 conv twice, 3x3 256->128, 7x7 reflect conv -> 3, tanh),
output (y + 1) / 2. 138.3 M parameters, 174.6 GMAC per 128 px face. Fully convolutional, so the
same weights run at 256 px (ReSwapper 256).

`width` scales every channel count (1.0 is the published model); tests build narrow copies with
the same key names to exercise the loading and swapping code quickly.

PyTorch code, imported only where it runs (twoface.swap.inswapper); `twoface.swap.styletransfer`
forwards its old names here, so component discovery never imports torch.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LATENT = 512


class AdaIN(nn.Module):
    def __init__(self, latent: int, channels: int) -> None:
        super().__init__()
        self.style = nn.Linear(latent, channels * 2)
        self.eps = 1e-6

    def forward(self, x, s):
        gamma, beta = self.style(s)[:, :, None, None].chunk(2, dim=1)
        return gamma * F.instance_norm(x, eps=self.eps) + beta


class StyleConv(nn.Module):
    def __init__(self, channels: int, latent: int, relu: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.adain = AdaIN(latent, channels)
        self.relu = relu

    def forward(self, x, s):
        x = self.adain(self.conv(x), s)
        return F.relu(x) if self.relu else x


class StyleBlock(nn.Module):
    def __init__(self, channels: int, latent: int) -> None:
        super().__init__()
        self.conv1 = StyleConv(channels, latent, relu=True)
        self.conv2 = StyleConv(channels, latent, relu=False)

    def forward(self, x, s):
        return self.conv2(self.conv1(x, s), s)


class StyleTransferModel(nn.Module):
    def __init__(self, width: float = 1.0, blocks: int = 6) -> None:
        super().__init__()
        c = [max(1, int(v * width)) for v in (128, 256, 512, 1024)]
        self.down = nn.Sequential(
            nn.Conv2d(3, c[0], 7, padding=3, padding_mode="reflect"),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c[0], c[1], 3, 1, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c[1], c[2], 3, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c[2], c[3], 3, 2, 1),
            nn.LeakyReLU(0.2),
        )
        self.style_blocks = nn.ModuleList(StyleBlock(c[3], LATENT) for _ in range(blocks))
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(c[3], c[2], 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(c[2], c[1], 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c[1], c[0], 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c[0], 3, 7, padding=3, padding_mode="reflect"),
            nn.Tanh(),
        )

    def forward(self, target: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """target (N, 3, S, S) RGB in [0, 1]; latent (N, 512) = normed ArcFace @ emap, normed."""
        # CUDA's channels-last bilinear upsampling indexes with 32-bit ints: keep the largest
        # upsampled tensor (N, C/2, S, S) under 2**31 elements by splitting the batch.
        limit = max(1, (2**31 - 1) // (self.up[4].in_channels * target.shape[2] * target.shape[3]))
        if target.shape[0] > limit:
            return torch.cat(
                [
                    self(target[i : i + limit], latent[i : i + limit])
                    for i in range(0, len(target), limit)
                ]
            )
        x = self.down(target)
        for block in self.style_blocks:
            x = block(x, latent) + x
        return (self.up(x) + 1) / 2

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> StyleTransferModel:
        from twoface.errors import ModelError

        try:
            width = sd["down.0.weight"].shape[0] / 128
            blocks = len({k.split(".")[1] for k in sd if k.startswith("style_blocks.")})
        except KeyError:
            raise ModelError("not a ReSwapper checkpoint (no down.0.weight)") from None
        return cls(width, blocks)


def macs_per_face(size: int = 128, width: float = 1.0, blocks: int = 6) -> int:
    """Multiply-accumulates of one forward pass (convolutions and linears), for benchmarks."""
    model = StyleTransferModel(width, blocks)
    total = 0
    h = size
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            if name == "down.4":
                h = size // 2
            elif name == "down.6":
                h = size // 4
            elif name == "up.1":
                h = size // 2
            elif name == "up.4":
                h = size
            total += m.weight.numel() * h * h
        elif isinstance(m, nn.Linear):
            total += m.weight.numel()
    return total
