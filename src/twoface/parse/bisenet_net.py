"""BiSeNet face parsing as face-parsing.PyTorch trained it (79999_iter.pth; facexlib's
parsing_bisenet.pth is the same network): 19 CelebAMask-HQ classes at 512 x 512.

Module and parameter names follow the published checkpoints exactly (`cp.resnet.layer1.0.conv1`,
`cp.arm16.conv_atten`, `ffm.convblk.conv`, `conv_out.conv_out` ...), so the files load by name.
The two auxiliary heads (`conv_out16`, `conv_out32`) only served training; they are built so the
file loads strictly, and skipped at inference.

PyTorch code, imported only where it runs (twoface.parse.models); `twoface.parse.bisenet` forwards
its old names here, so component discovery never imports torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBNReLU(nn.Module):
    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, pad: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, pad, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if cin != cout or stride != 1
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(shortcut + y)


def _stage(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout))


class ResNet18(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = _stage(64, 64, 1)
        self.layer2 = _stage(64, 128, 2)
        self.layer3 = _stage(128, 256, 2)
        self.layer4 = _stage(256, 512, 2)

    def forward(self, x: torch.Tensor):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        f8 = self.layer2(self.layer1(x))
        f16 = self.layer3(f8)
        return f8, f16, self.layer4(f16)


def _channel_gate(x: torch.Tensor, *layers: nn.Module) -> torch.Tensor:
    """A weight per channel from the global average (squeeze-and-excitation style)."""
    g = x.mean((2, 3), keepdim=True)
    for layer in layers:
        g = layer(g)
    return torch.sigmoid(g)


class AttentionRefinement(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(cin, cout)
        self.conv_atten = nn.Conv2d(cout, cout, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv(x)
        return feat * _channel_gate(feat, self.conv_atten, self.bn_atten)


class ContextPath(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.resnet = ResNet18()
        self.arm16 = AttentionRefinement(256, 128)
        self.arm32 = AttentionRefinement(512, 128)
        self.conv_head32 = ConvBNReLU(128, 128)
        self.conv_head16 = ConvBNReLU(128, 128)
        self.conv_avg = ConvBNReLU(512, 128, 1, 1, 0)

    def forward(self, x: torch.Tensor):
        f8, f16, f32 = self.resnet(x)
        avg = self.conv_avg(f32.mean((2, 3), keepdim=True))  # broadcast = nearest upsampling
        up32 = self.conv_head32(
            F.interpolate(self.arm32(f32) + avg, size=f16.shape[2:], mode="nearest")
        )
        up16 = self.conv_head16(
            F.interpolate(self.arm16(f16) + up32, size=f8.shape[2:], mode="nearest")
        )
        return f8, up16


class FeatureFusion(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.convblk = ConvBNReLU(cin, cout, 1, 1, 0)
        self.conv1 = nn.Conv2d(cout, cout // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(cout // 4, cout, 1, bias=False)

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        feat = self.convblk(torch.cat([spatial, context], 1))
        return feat * (1 + _channel_gate(feat, self.conv1, nn.ReLU(), self.conv2))


class Head(nn.Module):
    def __init__(self, cin: int, mid: int, classes: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(cin, mid)
        self.conv_out = nn.Conv2d(mid, classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.conv(x))


class BiSeNet(nn.Module):
    """(N, 3, H, W) ImageNet-normalised RGB -> (N, classes, H, W) logits."""

    def __init__(self, classes: int = 19) -> None:
        super().__init__()
        self.cp = ContextPath()
        self.ffm = FeatureFusion(256, 256)
        self.conv_out = Head(256, 256, classes)
        self.conv_out16 = Head(128, 64, classes)  # training-only auxiliary heads
        self.conv_out32 = Head(128, 64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f8, context = self.cp(x)
        logits = self.conv_out(self.ffm(f8, context))
        return F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=True)
