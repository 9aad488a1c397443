"""GHOST's face super-resolution model (sber-swap's `weights/10_net_G.pth`): a LIP-SPADE generator
(HiFaceGAN's family) with sber-swap's test options: 48 base channels, the RGB face itself as the
SPADE map, spectral-normalised convolutions, SPADE over parameter-free batch norm, five LIP
downsamplings (256 -> 8) and four upsampling blocks back to 256, tanh.

Written from the network's description and the checkpoint's structure; names are the
checkpoint's (`head_0.conv_0.weight_orig`, `ups.2.norm_s.mlp_shared.0.weight`,
`lip_encoder.model.3.logit.1.bias` ...). Spectral norm is applied as PyTorch applies it in eval:
the stored `weight_orig` divided by sigma = u . (W v) from the stored vectors, no power iteration.
Input: RGB in 0..1; output: tanh, of which sber-swap keeps 0..1 (x 255, clamped).

PyTorch code, imported only where it runs (twoface.enhance.restorers); `twoface.enhance.ghost_sr`
forwards its old names here, so component discovery never imports torch.
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn


class SNConv2d(nn.Module):
    """A convolution whose weight is `weight_orig` / its spectral norm (from the stored u, v)."""

    def __init__(self, cin: int, cout: int, k: int, bias: bool = True) -> None:
        super().__init__()
        self.weight_orig = nn.Parameter(torch.randn(cout, cin, k, k) * 0.02)
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.register_buffer("weight_u", F.normalize(torch.randn(cout), dim=0))
        self.register_buffer("weight_v", F.normalize(torch.randn(cin * k * k), dim=0))
        self.pad = k // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight_orig
        sigma = torch.dot(self.weight_u, w.reshape(w.shape[0], -1) @ self.weight_v)
        return F.conv2d(x, w / sigma, self.bias, padding=self.pad)


class SPADE(nn.Module):
    """Parameter-free batch norm, then a scale and shift predicted from the face itself."""

    def __init__(self, channels: int, label: int = 3) -> None:
        super().__init__()
        self.param_free_norm = nn.BatchNorm2d(channels, affine=False)
        hidden = min(channels, 128)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, channels, 3, padding=1, bias=False)
        self.mlp_beta = nn.Conv2d(hidden, channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        actv = self.mlp_shared(F.interpolate(seg, size=x.shape[2:], mode="nearest"))
        return self.param_free_norm(x) * self.mlp_gamma(actv) + self.mlp_beta(actv)


class SPADEResBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        mid = min(cin, cout)
        self.learned_shortcut = cin != cout
        self.conv_0 = SNConv2d(cin, mid, 3)
        self.conv_1 = SNConv2d(mid, cout, 3)
        self.norm_0 = SPADE(cin)
        self.norm_1 = SPADE(mid)
        if self.learned_shortcut:
            self.conv_s = SNConv2d(cin, cout, 1, bias=False)
            self.norm_s = SPADE(cin)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return shortcut + dx


class SoftGate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x) * 12.0


class SimplifiedLIP(nn.Module):
    """Local importance pooling: a 3x3 stride-2 average weighted by exp(learned logits)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.logit = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
            SoftGate(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.logit(x).exp()
        return F.avg_pool2d(x * weight, 3, 2, 1) / F.avg_pool2d(weight, 3, 2, 1)


def _lip_encoder(ngf: int, downs: int = 5, max_ratio: int = 16) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(3, ngf, 3, padding=1, bias=False),
        nn.InstanceNorm2d(ngf),
        nn.ReLU(),
    ]
    ratio = 1
    for i in range(downs):
        nxt = min(ratio * 2, max_ratio)
        layers += [
            SimplifiedLIP(ngf * ratio),
            nn.Conv2d(ngf * ratio, ngf * nxt, 3, padding=1),
            nn.InstanceNorm2d(ngf * nxt),
        ]
        if i < downs - 1:
            layers.append(nn.ReLU())
        ratio = nxt
    return nn.Sequential(*layers)


class _LipEncoder(nn.Module):
    def __init__(self, ngf: int) -> None:
        super().__init__()
        self.model = _lip_encoder(ngf)


class GhostSR(nn.Module):
    """(N, 3, S, S) RGB in 0..1, S a multiple of 32 -> (N, 3, S, S) in -1..1 (tanh)."""

    def __init__(self, ngf: int = 48) -> None:
        super().__init__()
        nf = ngf
        self.fc = nn.Conv2d(3, 16 * nf, 3, padding=1)  # SPADE's own encoder: unused, in the file
        self.head_0 = SPADEResBlock(16 * nf, 16 * nf)
        self.G_middle_0 = SPADEResBlock(16 * nf, 16 * nf)
        self.G_middle_1 = SPADEResBlock(16 * nf, 16 * nf)
        widths = [16 * nf, 8 * nf, 4 * nf, 2 * nf, nf]
        self.ups = nn.ModuleList(SPADEResBlock(a, b) for a, b in pairwise(widths))
        self.to_rgbs = nn.ModuleList(nn.Conv2d(w, 3, 3, padding=1) for w in widths[1:])
        self.lip_encoder = _LipEncoder(ngf)

    def forward(self, face: torch.Tensor) -> torch.Tensor:
        x = self.lip_encoder.model(face)
        x = self.head_0(x, face)
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.G_middle_1(self.G_middle_0(x, face), face)
        for block in self.ups:
            x = block(F.interpolate(x, scale_factor=2, mode="nearest"), face)
        return torch.tanh(self.to_rgbs[-1](F.leaky_relu(x, 0.2)))
