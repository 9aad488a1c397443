"""RetinaFace (biubug6/Pytorch_Retinaface) in PyTorch: MobileNet-0.25 and ResNet-50 bodies, FPN,
SSH context modules and the class/box/landmark heads, by the release's key names (`body.*`,
`fpn.output1..3`, `fpn.merge1/2`, `ssh1..3.*`, `ClassHead/BboxHead/LandmarkHead.N.conv1x1`;
the `module.` prefix of its DataParallel checkpoints is stripped). Pre- and post-processing are
the shared ones of `RetinaFaceDetector` (BGR minus (104, 117, 123), priors, variances 0.1/0.2).

PyTorch code: `twoface.detect.retinaface_torch` registers the component and imports this module
only when a model is built, so component discovery never imports torch.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from twoface.detect.retinaface import RetinaFaceDetector
from twoface.errors import ModelError


def _conv_bn(cin, cout, stride=1, leaky=0.0, k=3, relu=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.LeakyReLU(leaky))
    return nn.Sequential(*layers)


def _conv_dw(cin, cout, stride, leaky=0.1):
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.LeakyReLU(leaky),
        nn.Conv2d(cin, cout, 1, 1, 0, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(leaky),
    )


class MobileNetV1Body(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            _conv_bn(3, 8, 2, 0.1),
            _conv_dw(8, 16, 1),
            _conv_dw(16, 32, 2),
            _conv_dw(32, 32, 1),
            _conv_dw(32, 64, 2),
            _conv_dw(64, 64, 1),
        )
        self.stage2 = nn.Sequential(
            _conv_dw(64, 128, 2), *[_conv_dw(128, 128, 1) for _ in range(5)]
        )
        self.stage3 = nn.Sequential(_conv_dw(128, 256, 2), _conv_dw(256, 256, 1))

    def forward(self, x):
        a = self.stage1(x)
        b = self.stage2(a)
        return [a, b, self.stage3(b)]


class ResNet50Body(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        from twoface.anime.faster_rcnn_net import ResNet50

        r = ResNet50()
        self.conv1, self.bn1 = r.conv1, r.bn1
        self.layer1, self.layer2, self.layer3, self.layer4 = r.layer1, r.layer2, r.layer3, r.layer4

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer1(x)
        a = self.layer2(x)
        b = self.layer3(a)
        return [a, b, self.layer4(b)]


class FPN(nn.Module):
    def __init__(self, cin, c: int) -> None:
        super().__init__()
        leaky = 0.1 if c <= 64 else 0.0
        self.output1 = _conv_bn(cin[0], c, 1, leaky, k=1)
        self.output2 = _conv_bn(cin[1], c, 1, leaky, k=1)
        self.output3 = _conv_bn(cin[2], c, 1, leaky, k=1)
        self.merge1 = _conv_bn(c, c, 1, leaky)
        self.merge2 = _conv_bn(c, c, 1, leaky)

    def forward(self, feats):
        o1, o2, o3 = self.output1(feats[0]), self.output2(feats[1]), self.output3(feats[2])
        o2 = self.merge2(o2 + F.interpolate(o3, size=o2.shape[2:], mode="nearest"))
        o1 = self.merge1(o1 + F.interpolate(o2, size=o1.shape[2:], mode="nearest"))
        return [o1, o2, o3]


class SSH(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        leaky = 0.1 if c <= 64 else 0.0
        self.conv3X3 = _conv_bn(c, c // 2, relu=False)
        self.conv5X5_1 = _conv_bn(c, c // 4, leaky=leaky)
        self.conv5X5_2 = _conv_bn(c // 4, c // 4, relu=False)
        self.conv7X7_2 = _conv_bn(c // 4, c // 4, leaky=leaky)
        self.conv7x7_3 = _conv_bn(c // 4, c // 4, relu=False)

    def forward(self, x):
        a = self.conv3X3(x)
        b1 = self.conv5X5_1(x)
        b = self.conv5X5_2(b1)
        c = self.conv7x7_3(self.conv7X7_2(b1))
        return F.relu(torch.cat([a, b, c], 1))


class _Head(nn.Module):
    def __init__(self, c: int, out: int) -> None:
        super().__init__()
        self.conv1x1 = nn.Conv2d(c, out, 1)

    def forward(self, x):
        return (
            self.conv1x1(x)
            .permute(0, 2, 3, 1)
            .reshape(x.shape[0], -1, self.conv1x1.out_channels // 2)
        )


class RetinaFaceNet(nn.Module):
    def __init__(self, backbone: str = "mobilenet0.25") -> None:
        super().__init__()
        mobile = backbone == "mobilenet0.25"
        self.body = MobileNetV1Body() if mobile else ResNet50Body()
        cin, c = ((64, 128, 256), 64) if mobile else ((512, 1024, 2048), 256)
        self.fpn = FPN(cin, c)
        self.ssh1, self.ssh2, self.ssh3 = SSH(c), SSH(c), SSH(c)
        self.ClassHead = nn.ModuleList(_Head(c, 4) for _ in range(3))
        self.BboxHead = nn.ModuleList(_Head(c, 8) for _ in range(3))
        self.LandmarkHead = nn.ModuleList(_Head(c, 20) for _ in range(3))

    def forward(self, x):
        f = self.fpn(self.body(x))
        feats = [self.ssh1(f[0]), self.ssh2(f[1]), self.ssh3(f[2])]
        loc = torch.cat([h(v) for h, v in zip(self.BboxHead, feats, strict=True)], 1)
        conf = torch.cat([h(v) for h, v in zip(self.ClassHead, feats, strict=True)], 1)
        landms = torch.cat([h(v) for h, v in zip(self.LandmarkHead, feats, strict=True)], 1)
        return loc, F.softmax(conf, -1), landms


def load_retinaface(path: str | os.PathLike) -> RetinaFaceNet:
    from twoface.runtime.checkpoints import load_into, load_torch_state

    sd = load_torch_state(path)
    if "body.stage1.0.0.weight" in sd:
        net = RetinaFaceNet("mobilenet0.25")
    elif "body.layer1.0.conv1.weight" in sd:
        net = RetinaFaceNet("resnet50")
    else:
        raise ModelError(
            f"{path}: not a RetinaFace checkpoint (no body.stage1/body.layer1 weights)"
        )
    return load_into(net, sd, path, "a RetinaFace checkpoint")


class RetinaFaceTorchDetector(RetinaFaceDetector):
    """The .pth files on PyTorch, batched; GPU when present."""

    def __init__(self, model_path: str | os.PathLike, device: str | None = None, **options) -> None:
        from twoface.runtime import torch_device

        options.pop("threads", None)
        super().__init__(**options)
        self.device = torch_device(device)
        self.net = load_retinaface(model_path).to(self.device)
        self.name = "retinaface-" + (
            "mobilenet0.25" if isinstance(self.net.body, MobileNetV1Body) else "resnet50"
        )

    @torch.inference_mode()
    def forward(self, batch: np.ndarray):
        loc, conf, landms = self.net(torch.from_numpy(batch).to(self.device))
        return loc.cpu().numpy(), conf.cpu().numpy(), landms.cpu().numpy()
