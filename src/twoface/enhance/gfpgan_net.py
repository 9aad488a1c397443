"""GFPGAN v1.3/v1.4 (`GFPGANv1Clean`): a U-Net encoder whose features steer a StyleGAN2 decoder
through spatial feature transforms. Written from the paper's and the published checkpoints'
structure; module and parameter names are the checkpoints' own (`conv_body_down.0.conv1`,
`stylegan_decoder.style_convs.3.modulated_conv.weight`, `condition_scale.2.0` ...), so
GFPGANv1.3.pth / GFPGANv1.4.pth load by name.

One change from the authors' inference: the decoder's per-layer noise is the stored noise maps
(`stylegan_decoder.noises.noiseK`), not fresh random noise per call, so a video frame restored
twice looks the same twice (no noise flicker); the noise strengths are small after training.

PyTorch code, imported only where it runs (twoface.enhance.restorers); `twoface.enhance.gfpgan`
forwards its old names here, so component discovery never imports torch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _channels(scale: float, multiplier: int = 2) -> dict[int, int]:
    """Feature channels per resolution, as StyleGAN2 sizes them."""
    base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
    return {r: int(c * (multiplier if r >= 64 else 1) * scale) for r, c in base.items()}


def _resample(x: torch.Tensor, factor: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class ModulatedConv2d(nn.Module):
    """A convolution whose weight is scaled per input channel by the style (and, with
    `demodulate`, renormalised per output channel).

    Run as StyleGAN2's "non-fused" form: the input is scaled by the style, one ordinary
    convolution with the shared weight runs the whole batch, the output is scaled by the
    demodulation. The same numbers as a per-sample weight in a grouped convolution (the
    authors' form), but cuDNN runs one dense convolution instead of N small ones."""

    def __init__(
        self, cin: int, cout: int, k: int, style: int, demodulate: bool = True, up: bool = False
    ) -> None:
        super().__init__()
        self.cin, self.cout, self.k, self.demodulate, self.up = cin, cout, k, demodulate, up
        self.modulation = nn.Linear(style, cin)
        self.weight = nn.Parameter(torch.randn(1, cout, cin, k, k) / math.sqrt(cin * k * k))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        s = self.modulation(style)  # (b, cin)
        w = self.weight[0]
        if self.up:
            x = _resample(x, 2)
        out = F.conv2d(x * s.view(b, self.cin, 1, 1), w, padding=self.k // 2)
        if self.demodulate:
            energy = (s * s) @ w.pow(2).sum((2, 3)).t()  # (b, cout): sum of (w * s)^2
            out = out * torch.rsqrt(energy + 1e-8).view(b, self.cout, 1, 1)
        return out


class StyleConv(nn.Module):
    def __init__(self, cin: int, cout: int, style: int, up: bool = False) -> None:
        super().__init__()
        self.modulated_conv = ModulatedConv2d(cin, cout, 3, style, up=up)
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.bias = nn.Parameter(torch.zeros(1, cout, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        out = self.modulated_conv(x, style) * 2**0.5 + self.weight * noise + self.bias
        return F.leaky_relu(out, 0.2)


class ToRGB(nn.Module):
    def __init__(self, cin: int, style: int, up: bool = True) -> None:
        super().__init__()
        self.up = up
        self.modulated_conv = ModulatedConv2d(cin, 3, 1, style, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, skip=None) -> torch.Tensor:
        out = self.modulated_conv(x, style) + self.bias
        if skip is not None:
            out = out + (_resample(skip, 2) if self.up else skip)
        return out


class ConstantInput(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, channels, 4, 4))


class StyleDecoder(nn.Module):
    """StyleGAN2's synthesis network with SFT on half the channels of each upsampled layer."""

    def __init__(self, size: int, style: int = 512, mlp: int = 8, narrow: float = 1.0) -> None:
        super().__init__()
        ch = _channels(narrow)
        layers: list[nn.Module] = [nn.Identity()]  # index 0: the style normalisation
        for _ in range(mlp):
            layers += [nn.Linear(style, style), nn.LeakyReLU(0.2)]
        self.style_mlp = nn.Sequential(*layers)  # unused at inference (latents come in), kept
        self.constant_input = ConstantInput(ch[4])
        self.style_conv1 = StyleConv(ch[4], ch[4], style)
        self.to_rgb1 = ToRGB(ch[4], style, up=False)
        self.log_size = int(math.log2(size))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.noises = nn.Module()
        for i in range(self.num_layers):
            r = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise{i}", torch.randn(1, 1, r, r))
        self.style_convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        cin = ch[4]
        for i in range(3, self.log_size + 1):
            cout = ch[2**i]
            self.style_convs.append(StyleConv(cin, cout, style, up=True))
            self.style_convs.append(StyleConv(cout, cout, style))
            self.to_rgbs.append(ToRGB(cout, style))
            cin = cout

    def forward(self, latent: torch.Tensor, conditions: list[torch.Tensor]) -> torch.Tensor:
        """latent: (N, layers, style), one style per layer; conditions: scale, shift per level."""
        noise = [getattr(self.noises, f"noise{i}") for i in range(self.num_layers)]
        out = self.constant_input.weight.expand(latent.shape[0], -1, -1, -1)
        out = self.style_conv1(out, latent[:, 0], noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for level, to_rgb in enumerate(self.to_rgbs):
            out = self.style_convs[2 * level](out, latent[:, i], noise[2 * level + 1])
            scale, shift = conditions[2 * level], conditions[2 * level + 1]
            keep, steer = out.split(out.shape[1] // 2, 1)  # SFT on half the channels
            out = torch.cat([keep, steer * scale + shift], 1)
            out = self.style_convs[2 * level + 1](out, latent[:, i + 1], noise[2 * level + 2])
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, factor: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1)
        self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False)
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = _resample(F.leaky_relu(self.conv1(x), 0.2), self.factor)
        out = F.leaky_relu(self.conv2(out), 0.2)
        return out + self.skip(_resample(x, self.factor))


def _sft_branch(c: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(c, c, 3, 1, 1))


class GFPGANv1Clean(nn.Module):
    """(N, 3, S, S) RGB in [-1, 1] -> the restored face, same shape and range (S = 512)."""

    def __init__(self, size: int = 512, style: int = 512, narrow: float = 1.0) -> None:
        super().__init__()
        ch = _channels(narrow * 0.5)  # the U-Net runs at half the decoder's width
        self.log_size = int(math.log2(size))
        self.style = style
        self.conv_body_first = nn.Conv2d(3, ch[size], 1)
        self.conv_body_down = nn.ModuleList(
            ResBlock(ch[2**i], ch[2 ** (i - 1)], 0.5) for i in range(self.log_size, 2, -1)
        )
        self.final_conv = nn.Conv2d(ch[8], ch[4], 3, 1, 1)
        ups = [2**i for i in range(3, self.log_size + 1)]
        self.conv_body_up = nn.ModuleList(ResBlock(ch[r // 2], ch[r], 2.0) for r in ups)
        self.toRGB = nn.ModuleList(nn.Conv2d(ch[r], 3, 1) for r in ups)  # training only
        self.final_linear = nn.Linear(ch[4] * 16, (self.log_size * 2 - 2) * style)
        self.stylegan_decoder = StyleDecoder(size, style, narrow=narrow)
        self.condition_scale = nn.ModuleList(_sft_branch(ch[r]) for r in ups)
        self.condition_shift = nn.ModuleList(_sft_branch(ch[r]) for r in ups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = F.leaky_relu(self.conv_body_first(x), 0.2)
        skips = []
        for block in self.conv_body_down:
            feat = block(feat)
            skips.insert(0, feat)
        feat = F.leaky_relu(self.final_conv(feat), 0.2)
        latent = self.final_linear(feat.flatten(1)).view(x.shape[0], -1, self.style)
        conditions = []
        for skip, up, scale, shift in zip(
            skips, self.conv_body_up, self.condition_scale, self.condition_shift, strict=True
        ):
            feat = up(feat + skip)
            conditions += [scale(feat), shift(feat)]
        return self.stylegan_decoder(latent, conditions)
