"""YOLOv3 (Darknet-53) anime face detector of hysts/anime-face-detector (mmdetection 2.x), in plain
PyTorch with the checkpoint's own key names (`backbone.conv_res_blockN.*`, `neck.detectN.*`,
`bbox_head.convs_bridge.*`, `bbox_head.convs_pred.*`).

Pre-processing as the release's config: resized to fit 608x608 keeping the ratio, RGB / 255,
padded bottom-right to a multiple of 32. Head: 3 anchors per cell at strides 32/16/8, outputs
(tx, ty, tw, th, objectness, face). Decoding (mmdet YOLOBBoxCoder): centre = anchor centre +
(sigmoid(t) - 0.5) * stride, size = anchor size * exp(t); score = sigmoid(face) * sigmoid(obj),
objectness >= 0.005, 1000 best before NMS, score >= 0.05, NMS 0.45, 100 faces at most.

PyTorch code: `twoface.anime.yolov3` registers the component and imports this module only when a
model is built, so component discovery never imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from twoface.anime.checkpoint_net import CheckpointAnimeDetector
from twoface.detect.base import nms, resize_by
from twoface.types import Face

SIZE = 608
STRIDES = (32, 16, 8)
ANCHORS = (
    ((116, 90), (156, 198), (373, 326)),
    ((30, 61), (62, 45), (59, 119)),
    ((10, 13), (16, 30), (33, 23)),
)
CONF_THR, SCORE_THR, NMS_IOU, NMS_PRE, MAX_DETS = 0.005, 0.05, 0.45, 1000, 100


class ConvModule(nn.Module):  # mmcv ConvModule(conv no bias, BN, LeakyReLU 0.1): `.conv`, `.bn`
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.leaky_relu(self.bn(self.conv(x)), 0.1)


class ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = ConvModule(c, c // 2, 1)
        self.conv2 = ConvModule(c // 2, c, 3)

    def forward(self, x):
        return x + self.conv2(self.conv1(x))


class Darknet53(nn.Module):
    LAYERS = (1, 2, 8, 8, 4)
    CHANNELS = ((32, 64), (64, 128), (128, 256), (256, 512), (512, 1024))

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = ConvModule(3, 32, 3)
        for i, (n, (cin, cout)) in enumerate(zip(self.LAYERS, self.CHANNELS, strict=True)):
            block = nn.Sequential()
            block.add_module("conv", ConvModule(cin, cout, 3, 2))
            for r in range(n):
                block.add_module(f"res{r}", ResBlock(cout))
            self.add_module(f"conv_res_block{i + 1}", block)

    def forward(self, x):
        x = self.conv1(x)
        outs = []
        for i in range(5):
            x = getattr(self, f"conv_res_block{i + 1}")(x)
            if i >= 2:
                outs.append(x)
        return outs  # strides 8, 16, 32 (256, 512, 1024 channels)


class DetectionBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = ConvModule(cin, cout, 1)
        self.conv2 = ConvModule(cout, cout * 2, 3)
        self.conv3 = ConvModule(cout * 2, cout, 1)
        self.conv4 = ConvModule(cout, cout * 2, 3)
        self.conv5 = ConvModule(cout * 2, cout, 1)

    def forward(self, x):
        return self.conv5(self.conv4(self.conv3(self.conv2(self.conv1(x)))))


class YOLOV3Neck(nn.Module):
    def __init__(self, cin=(1024, 512, 256), cout=(512, 256, 128)) -> None:
        super().__init__()
        self.detect1 = DetectionBlock(cin[0], cout[0])
        for i in range(1, 3):
            self.add_module(f"conv{i}", ConvModule(cout[i - 1], cout[i], 1))
            self.add_module(f"detect{i + 1}", DetectionBlock(cin[i] + cout[i], cout[i]))

    def forward(self, feats):  # feats: strides 8, 16, 32
        out = self.detect1(feats[-1])
        outs = [out]
        for i, x in enumerate(reversed(feats[:-1])):
            tmp = F.interpolate(getattr(self, f"conv{i + 1}")(out), scale_factor=2)
            out = getattr(self, f"detect{i + 2}")(torch.cat((tmp, x), 1))
            outs.append(out)
        return outs  # strides 32, 16, 8


class YOLOV3Head(nn.Module):
    def __init__(self, classes: int = 1, cin=(512, 256, 128), cout=(1024, 512, 256)) -> None:
        super().__init__()
        self.convs_bridge = nn.ModuleList(
            ConvModule(i, o, 3) for i, o in zip(cin, cout, strict=True)
        )
        self.convs_pred = nn.ModuleList(nn.Conv2d(o, 3 * (5 + classes), 1) for o in cout)

    def forward(self, feats):
        return [
            pred(bridge(x))
            for bridge, pred, x in zip(self.convs_bridge, self.convs_pred, feats, strict=True)
        ]


class AnimeYOLOv3(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = Darknet53()
        self.neck = YOLOV3Neck()
        self.bbox_head = YOLOV3Head()

    def forward(self, x):
        return self.bbox_head(self.neck(self.backbone(x)))


def decode(preds: Sequence[np.ndarray], scale: float) -> list[Face]:
    """Faces of one image from its three (18, H, W) head maps (strides 32, 16, 8)."""
    boxes, scores, objs = [], [], []
    for pred, stride, anchors in zip(preds, STRIDES, ANCHORS, strict=True):
        _, h, w = pred.shape
        p = pred.reshape(3, 6, h, w).transpose(2, 3, 0, 1).reshape(-1, 6)  # (y, x, anchor)
        ys, xs, a = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
        cx = (xs.reshape(-1) + 0.5) * stride
        cy = (ys.reshape(-1) + 0.5) * stride
        wh = np.asarray(anchors, np.float64)[a.reshape(-1)]
        sig = 1 / (1 + np.exp(-p[:, [0, 1, 4, 5]].astype(np.float64)))
        px = cx + (sig[:, 0] - 0.5) * stride
        py = cy + (sig[:, 1] - 0.5) * stride
        pw = wh[:, 0] * np.exp(p[:, 2])
        ph = wh[:, 1] * np.exp(p[:, 3])
        boxes.append(np.stack([px - pw / 2, py - ph / 2, px + pw / 2, py + ph / 2], 1))
        objs.append(sig[:, 2])
        scores.append(sig[:, 3])
    b, obj, cls = np.concatenate(boxes), np.concatenate(objs), np.concatenate(scores)
    keep = np.nonzero(obj >= CONF_THR)[0]
    if keep.size > NMS_PRE:
        keep = keep[np.argsort(-obj[keep])[:NMS_PRE]]
    score = cls[keep] * obj[keep]
    good = score >= SCORE_THR
    b, score = b[keep][good], score[good]
    if not len(b):
        return []
    order = nms(b, score, NMS_IOU)[:MAX_DETS]
    return [
        Face(box=(b[j] / scale).astype(np.float32), score=float(score[j]), kps=None) for j in order
    ]


def load_anime_yolov3(path: str | os.PathLike) -> AnimeYOLOv3:
    from twoface.runtime.checkpoints import load_into, load_torch_state

    sd = load_torch_state(path)
    net = AnimeYOLOv3()
    return load_into(net, sd, path, "the anime YOLOv3 checkpoint")


class YoloAnimeDetector(CheckpointAnimeDetector):
    name = "anime_yolov3"
    load_net = staticmethod(load_anime_yolov3)

    @torch.inference_mode()
    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        if not frames:
            return []
        scales = [SIZE / max(f.shape[0], f.shape[1]) for f in frames]
        resized = [resize_by(f, s, cv2.INTER_LINEAR) for f, s in zip(frames, scales, strict=True)]
        x = self.padded(resized, lambda r: r / 255.0)
        preds = [p.float().cpu().numpy() for p in self.net(x)]
        return [decode([p[i] for p in preds], s) for i, s in enumerate(scales)]
