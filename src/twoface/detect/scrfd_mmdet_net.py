"""SCRFD as trained in insightface's mmdetection fork, in plain PyTorch (no mmcv/mmdet).

Loads the training checkpoints (`state_dict` keys `backbone.*`, `neck.*`, `bbox_head.*`) by their
own names: a ResNetV1e-style backbone of BasicBlocks with a three-conv stem and average-pool
downsampling, a PAFPN neck on the last three stages, and the SCRFD head shared over strides
(stacked conv + GroupNorm + ReLU, then 3x3 classification and box convs, one learned scale per
stride). The widths and depths are read from the checkpoint, so the BasicBlock variants
(2.5G, 10G, with or without keypoints) load alike.

PyTorch code: `twoface.detect.scrfd_mmdet` registers the component and imports this module only
when a model is built, so component discovery never imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from twoface.detect.scrfd import STRIDES, ScrfdDetector
from twoface.errors import ModelError
from twoface.types import Face

GN_GROUPS = 16  # the configs' GroupNorm in the head


def _conv_bn(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            pool = (
                [nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)]
                if stride != 1
                else []
            )
            self.downsample = nn.Sequential(
                *pool, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class Backbone(nn.Module):
    def __init__(
        self, stem: tuple[int, int, int], planes: Sequence[int], blocks: Sequence[int]
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            *_conv_bn(3, stem[0], 2), *_conv_bn(stem[0], stem[1]), *_conv_bn(stem[1], stem[2])
        )
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = stem[2]
        for i, (p, n) in enumerate(zip(planes, blocks, strict=True)):
            stride = 1 if i == 0 else 2
            layer = [BasicBlock(cin, p, stride)] + [BasicBlock(p, p, 1) for _ in range(n - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layer))
            cin = p
        self.n = len(planes)

    def forward(self, x):
        x = self.maxpool(self.stem(x))
        outs = []
        for i in range(self.n):
            x = getattr(self, f"layer{i + 1}")(x)
            outs.append(x)
        return outs


class _ConvBias(nn.Module):  # mmcv ConvModule without norm or activation: key `.conv`
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2)

    def forward(self, x):
        return self.conv(x)


class PAFPN(nn.Module):
    def __init__(self, in_channels: Sequence[int], out: int) -> None:
        super().__init__()
        n = len(in_channels)
        self.lateral_convs = nn.ModuleList(_ConvBias(c, out, 1) for c in in_channels)
        self.fpn_convs = nn.ModuleList(_ConvBias(out, out, 3) for _ in range(n))
        self.downsample_convs = nn.ModuleList(_ConvBias(out, out, 3, 2) for _ in range(n - 1))
        self.pafpn_convs = nn.ModuleList(_ConvBias(out, out, 3) for _ in range(n - 1))

    def forward(self, feats):
        lat = [conv(f) for conv, f in zip(self.lateral_convs, feats, strict=True)]
        for i in range(len(lat) - 1, 0, -1):
            lat[i - 1] = lat[i - 1] + F.interpolate(
                lat[i], size=lat[i - 1].shape[2:], mode="nearest"
            )
        inter = [conv(x) for conv, x in zip(self.fpn_convs, lat, strict=True)]
        for i in range(len(inter) - 1):
            inter[i + 1] = inter[i + 1] + self.downsample_convs[i](inter[i])
        return [inter[0]] + [self.pafpn_convs[i - 1](inter[i]) for i in range(1, len(inter))]


class _ConvGN(nn.Module):  # mmcv ConvModule(conv, GN, ReLU): keys `.conv`, `.gn`
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.gn = nn.GroupNorm(GN_GROUPS, cout)

    def forward(self, x):
        return F.relu(self.gn(self.conv(x)))


class _Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(1.0))

    def forward(self, x):
        return x * self.scale


class _Integral(nn.Module):  # holds the checkpoint's `project` buffer; unused without DFL
    def __init__(self, reg_max: int) -> None:
        super().__init__()
        self.register_buffer("project", torch.linspace(0, reg_max, reg_max + 1))


class Head(nn.Module):
    def __init__(
        self, cin: int, feat: int, stacked: int, anchors: int, use_kps: bool, reg_max: int
    ) -> None:
        super().__init__()
        convs = [_ConvGN(cin if i == 0 else feat, feat) for i in range(stacked)]
        self.cls_stride_convs = nn.ModuleDict({"0": nn.ModuleList(convs)})
        self.stride_cls = nn.ModuleDict({"0": nn.Conv2d(feat, anchors, 3, padding=1)})
        self.stride_reg = nn.ModuleDict({"0": nn.Conv2d(feat, 4 * anchors, 3, padding=1)})
        self.use_kps = use_kps
        if use_kps:
            self.stride_kps = nn.ModuleDict({"0": nn.Conv2d(feat, 10 * anchors, 3, padding=1)})
        self.scales = nn.ModuleList(_Scale() for _ in STRIDES)
        self.integral = _Integral(reg_max)

    def forward(self, feats):
        """Per level: scores (N, A, 1) after sigmoid, boxes (N, A, 4), kps (N, A, 10) or None."""
        out = []
        for x, scale in zip(feats, self.scales, strict=True):
            for conv in self.cls_stride_convs["0"]:
                x = conv(x)
            n = x.shape[0]
            cls = self.stride_cls["0"](x).permute(0, 2, 3, 1).reshape(n, -1, 1).sigmoid()
            box = scale(self.stride_reg["0"](x)).permute(0, 2, 3, 1).reshape(n, -1, 4)
            kps = None
            if self.use_kps:
                kps = self.stride_kps["0"](x).permute(0, 2, 3, 1).reshape(n, -1, 10)
            out.append((cls, box, kps))
        return out


class ScrfdNet(nn.Module):
    def __init__(self, stem, planes, blocks, neck_out, feat, stacked, anchors, use_kps, reg_max):
        super().__init__()
        self.backbone = Backbone(stem, planes, blocks)
        self.neck = PAFPN(planes[1:], neck_out)
        self.bbox_head = Head(neck_out, feat, stacked, anchors, use_kps, reg_max)

    def forward(self, x):
        return self.bbox_head(self.neck(self.backbone(x)[1:]))

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> ScrfdNet:
        """Widths and depths as the checkpoint has them."""
        try:
            stem = tuple(int(sd[f"backbone.stem.{i}.weight"].shape[0]) for i in (0, 3, 6))
            planes, blocks = [], []
            for layer in range(1, 5):
                n = len({k.split(".")[2] for k in sd if k.startswith(f"backbone.layer{layer}.")})
                planes.append(int(sd[f"backbone.layer{layer}.0.conv1.weight"].shape[0]))
                blocks.append(n)
            neck_out = int(sd["neck.lateral_convs.0.conv.weight"].shape[0])
            feat = int(sd["bbox_head.cls_stride_convs.0.0.conv.weight"].shape[0])
            stacked = len(
                {k.split(".")[3] for k in sd if k.startswith("bbox_head.cls_stride_convs.0.")}
            )
            anchors = int(sd["bbox_head.stride_cls.0.weight"].shape[0])
            use_kps = "bbox_head.stride_kps.0.weight" in sd
            reg_max = int(sd["bbox_head.integral.project"].numel()) - 1
        except KeyError as e:
            raise ModelError(f"not an SCRFD mmdetection checkpoint (no key {e})") from None
        return cls(stem, planes, blocks, neck_out, feat, stacked, anchors, use_kps, reg_max)


def load_scrfd_mmdet(path: str | os.PathLike) -> ScrfdNet:
    from twoface.runtime.checkpoints import load_into, load_torch_state

    sd = load_torch_state(path)
    net = ScrfdNet.from_state_dict(sd)
    return load_into(net, sd, path, "an SCRFD mmdetection checkpoint")


class ScrfdMmdetDetector(ScrfdDetector):
    """The mmdetection checkpoint on PyTorch, batched; keypoints from dlib when it has none.
    Pre- and post-processing are ScrfdDetector's; only the network differs."""

    name = "scrfd-mmdet"

    def __init__(
        self,
        model_path: str | os.PathLike,
        size: int = 640,
        score_threshold: float = 0.5,
        iou_threshold: float = 0.4,
        device: str | None = None,
    ) -> None:
        from twoface.runtime import torch_device

        self.device = torch_device(device)
        self.net = load_scrfd_mmdet(model_path).to(self.device)
        self.size = size
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.has_kps = self.net.bbox_head.use_kps
        self._keypoints = None

    @torch.inference_mode()
    def prepare(self, images: np.ndarray) -> torch.Tensor:
        # uint8 to the device, converted there: a quarter of float32's bytes cross the bus.
        t = torch.from_numpy(np.ascontiguousarray(images)).to(self.device, non_blocking=True)
        return ((t.permute(0, 3, 1, 2).float() - 127.5) / 128.0).contiguous()

    @torch.inference_mode()
    def forward(self, x) -> list[list[np.ndarray]]:
        levels = self.net(x if isinstance(x, torch.Tensor) else torch.from_numpy(x).to(self.device))
        parts = [[lv[0] for lv in levels], [lv[1] for lv in levels]]
        if self.has_kps:
            parts.append([lv[2] for lv in levels])
        return [[t[i].cpu().numpy() for part in parts for t in part] for i in range(len(x))]

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        results = super().detect(frames)
        if self.has_kps or not any(results):
            return results
        if self._keypoints is None:
            from twoface.detect.keypoints import Dlib5Keypoints

            self._keypoints = Dlib5Keypoints()
        return [
            self._keypoints(f, faces) if faces else faces
            for f, faces in zip(frames, results, strict=True)
        ]
