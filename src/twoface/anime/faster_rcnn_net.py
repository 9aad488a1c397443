"""Faster R-CNN R50-FPN anime face detector of hysts/anime-face-detector (mmdetection 2.x), in plain
PyTorch (no mmcv, no torchvision) with the checkpoint's own key names (`backbone.layerN.*`,
`neck.lateral_convs.*`, `rpn_head.rpn_conv/cls/reg`, `roi_head.bbox_head.shared_fcs/fc_cls/fc_reg`).

As the release's config: resize to fit 1333x800 keeping the ratio, ImageNet normalisation (RGB),
pad to a multiple of 32. RPN: 3 anchors (ratios 0.5/1/2, scale 8) per cell on strides 4-64,
1000 best per level, per-level NMS 0.7, 1000 proposals. RoIAlign 7x7 (aligned, adaptive sampling)
on the FPN level picked by the box size (finest scale 56); two shared FC layers of 1024; softmax
face score >= 0.05, deltas with stds (0.1, 0.1, 0.2, 0.2), NMS 0.5, 100 faces at most.

PyTorch code: `twoface.anime.faster_rcnn` registers the component and imports this module only when
a model is built, so component discovery never imports torch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from twoface.anime.checkpoint_net import CheckpointAnimeDetector
from twoface.detect.base import resize_by
from twoface.types import Face

MAX_LONG, MAX_SHORT = 1333, 800
MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)
RPN_STRIDES = (4, 8, 16, 32, 64)
RATIOS = (0.5, 1.0, 2.0)
ANCHOR_SCALE = 8
WH_CLAMP = abs(math.log(16 / 1000))


class Bottleneck(nn.Module):
    def __init__(self, cin: int, c: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, stride, 1, bias=False)  # mmdet style "pytorch"
        self.bn2 = nn.BatchNorm2d(c)
        self.conv3 = nn.Conv2d(c, c * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c * 4)
        self.downsample = None
        if stride != 1 or cin != c * 4:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, c * 4, 1, stride, bias=False), nn.BatchNorm2d(c * 4)
            )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet50(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for i, (n, c) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True)):
            stride = 1 if i == 0 else 2
            blocks = [Bottleneck(cin, c, stride)] + [Bottleneck(c * 4, c, 1) for _ in range(n - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            cin = c * 4

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        outs = []
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
            outs.append(x)
        return outs


class _Conv(nn.Module):  # mmcv ConvModule without norm/activation: key `.conv`
    def __init__(self, cin: int, cout: int, k: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, 1, k // 2)

    def forward(self, x):
        return self.conv(x)


class FPN(nn.Module):
    def __init__(self, cin=(256, 512, 1024, 2048), c: int = 256) -> None:
        super().__init__()
        self.lateral_convs = nn.ModuleList(_Conv(i, c, 1) for i in cin)
        self.fpn_convs = nn.ModuleList(_Conv(c, c, 3) for _ in cin)

    def forward(self, feats):
        lat = [conv(f) for conv, f in zip(self.lateral_convs, feats, strict=True)]
        for i in range(len(lat) - 1, 0, -1):
            lat[i - 1] = lat[i - 1] + F.interpolate(
                lat[i], size=lat[i - 1].shape[2:], mode="nearest"
            )
        outs = [conv(x) for conv, x in zip(self.fpn_convs, lat, strict=True)]
        outs.append(F.max_pool2d(outs[-1], 1, stride=2))  # the fifth level (num_outs=5)
        return outs


class RPNHead(nn.Module):
    def __init__(self, c: int = 256, anchors: int = 3) -> None:
        super().__init__()
        self.rpn_conv = nn.Conv2d(c, c, 3, padding=1)
        self.rpn_cls = nn.Conv2d(c, anchors, 1)
        self.rpn_reg = nn.Conv2d(c, anchors * 4, 1)

    def forward(self, feats):
        out = []
        for x in feats:
            x = F.relu(self.rpn_conv(x))
            out.append((self.rpn_cls(x), self.rpn_reg(x)))
        return out


class BBoxHead(nn.Module):
    def __init__(self, c: int = 256, roi: int = 7, fc: int = 1024, classes: int = 1) -> None:
        super().__init__()
        self.shared_fcs = nn.ModuleList([nn.Linear(c * roi * roi, fc), nn.Linear(fc, fc)])
        self.fc_cls = nn.Linear(fc, classes + 1)
        self.fc_reg = nn.Linear(fc, 4 * classes)

    def forward(self, x):
        x = x.flatten(1)
        for fc in self.shared_fcs:
            x = F.relu(fc(x))
        return self.fc_cls(x), self.fc_reg(x)


class _RoIHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bbox_head = BBoxHead()


class AnimeFasterRCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = ResNet50()
        self.neck = FPN()
        self.rpn_head = RPNHead()
        self.roi_head = _RoIHead()


# -- boxes ------------------------------------------------------------------------------------------
def base_anchors(stride: int) -> torch.Tensor:
    """(3, 4) anchors centred on (0, 0): for each ratio, size stride * 8 (mmdet AnchorGenerator)."""
    h_ratios = torch.sqrt(torch.tensor(RATIOS))
    w_ratios = 1 / h_ratios
    ws = stride * w_ratios * ANCHOR_SCALE
    hs = stride * h_ratios * ANCHOR_SCALE
    return torch.stack([-0.5 * ws, -0.5 * hs, 0.5 * ws, 0.5 * hs], 1)


def grid_anchors(stride: int, h: int, w: int, device) -> torch.Tensor:
    ys, xs = torch.meshgrid(
        torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij"
    )
    shifts = torch.stack([xs, ys, xs, ys], -1).reshape(-1, 1, 4).float() * stride
    return (shifts + base_anchors(stride).to(device)[None]).reshape(-1, 4)


def delta_decode(anchors, deltas, stds, max_shape) -> torch.Tensor:
    """mmdet DeltaXYWHBBoxCoder.decode (means 0), clipped to the image."""
    deltas = deltas * torch.tensor(stds, device=deltas.device)
    dx, dy = deltas[:, 0], deltas[:, 1]
    dw, dh = deltas[:, 2].clamp(-WH_CLAMP, WH_CLAMP), deltas[:, 3].clamp(-WH_CLAMP, WH_CLAMP)
    pw, ph = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    px, py = (anchors[:, 0] + anchors[:, 2]) * 0.5, (anchors[:, 1] + anchors[:, 3]) * 0.5
    gx, gy = px + pw * dx, py + ph * dy
    gw, gh = pw * dw.exp(), ph * dh.exp()
    boxes = torch.stack([gx - gw * 0.5, gy - gh * 0.5, gx + gw * 0.5, gy + gh * 0.5], 1)
    h, w = max_shape
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    return boxes


def nms_torch(boxes: torch.Tensor, scores: torch.Tensor, iou: float) -> torch.Tensor:
    from twoface.detect.base import nms

    keep = nms(boxes.detach().cpu().numpy().astype(np.float64), scores.detach().cpu().numpy(), iou)
    return torch.from_numpy(keep).to(boxes.device)


def roi_align(feat: torch.Tensor, rois: torch.Tensor, scale: float, out: int = 7) -> torch.Tensor:
    """mmcv RoIAlign (aligned=True, sampling_ratio=0) on one image's (C, H, W) feature map.

    Each output bin averages ceil(roi_size / 7) x ceil(roi_size / 7) bilinear samples; RoIs are
    grouped by their sample counts so each group is one batched gather.
    """
    c, h, w = feat.shape
    n = rois.shape[0]
    result = feat.new_zeros((n, c, out, out))
    if n == 0:
        return result
    x1, y1 = rois[:, 0] * scale - 0.5, rois[:, 1] * scale - 0.5
    x2, y2 = rois[:, 2] * scale - 0.5, rois[:, 3] * scale - 0.5
    rw, rh = x2 - x1, y2 - y1
    bw, bh = rw / out, rh / out
    sw = torch.ceil(rw / out).clamp(min=1).long()
    sh = torch.ceil(rh / out).clamp(min=1).long()
    flat = feat.reshape(c, -1)
    groups = []
    for key in torch.unique(torch.stack([sh, sw], 1), dim=0):
        members = torch.nonzero((sh == key[0]) & (sw == key[1])).squeeze(1)
        groups += [
            (int(key[0]), int(key[1]), members[i : i + 64]) for i in range(0, len(members), 64)
        ]
    for gy, gx, idx in groups:  # chunks of 64 RoIs bound the memory of the gathers
        bins = torch.arange(out, device=feat.device, dtype=feat.dtype)
        fy = (torch.arange(gy, device=feat.device, dtype=feat.dtype) + 0.5) / gy
        fx = (torch.arange(gx, device=feat.device, dtype=feat.dtype) + 0.5) / gx
        # sample coordinates: (k, out, g)
        ys = y1[idx, None, None] + (bins[None, :, None] + fy[None, None, :]) * bh[idx, None, None]
        xs = x1[idx, None, None] + (bins[None, :, None] + fx[None, None, :]) * bw[idx, None, None]
        yy = ys[:, :, :, None, None].expand(-1, out, gy, out, gx)
        xx = xs[:, None, None, :, :].expand(-1, out, gy, out, gx)
        valid = (yy >= -1) & (yy <= h) & (xx >= -1) & (xx <= w)
        yy, xx = yy.clamp(min=0), xx.clamp(min=0)
        y0 = yy.floor().long().clamp(max=h - 1)
        x0 = xx.floor().long().clamp(max=w - 1)
        yy = torch.where(y0 >= h - 1, y0.to(yy.dtype), yy)
        xx = torch.where(x0 >= w - 1, x0.to(xx.dtype), xx)
        y1i, x1i = (y0 + 1).clamp(max=h - 1), (x0 + 1).clamp(max=w - 1)
        ly, lx = yy - y0, xx - x0
        hy, hx = 1 - ly, 1 - lx

        def gather(yi, xi):
            return flat[:, (yi * w + xi).reshape(-1)].reshape(c, *yi.shape)

        v = (
            gather(y0, x0) * (hy * hx)
            + gather(y0, x1i) * (hy * lx)
            + gather(y1i, x0) * (ly * hx)
            + gather(y1i, x1i) * (ly * lx)
        ) * valid
        result[idx] = v.mean(dim=(3, 5)).permute(1, 0, 2, 3)
    return result


def map_levels(rois: torch.Tensor, levels: int = 4, finest: int = 56) -> torch.Tensor:
    scale = torch.sqrt((rois[:, 2] - rois[:, 0]) * (rois[:, 3] - rois[:, 1]))
    return torch.floor(torch.log2(scale / finest + 1e-6)).clamp(0, levels - 1).long()


def load_anime_faster_rcnn(path: str | os.PathLike) -> AnimeFasterRCNN:
    from twoface.runtime.checkpoints import load_into, load_torch_state

    sd = load_torch_state(path)
    net = AnimeFasterRCNN()
    return load_into(net, sd, path, "the anime Faster R-CNN checkpoint")


class FasterRcnnAnimeDetector(CheckpointAnimeDetector):
    name = "anime_faster_rcnn"
    load_net = staticmethod(load_anime_faster_rcnn)

    def proposals(self, rpn_out, image_shape, level_shapes) -> torch.Tensor:
        """1000 proposals of one image from its per-level RPN maps."""
        boxes, scores, ids = [], [], []
        for lvl, ((cls, reg), stride, (h, w)) in enumerate(
            zip(rpn_out, RPN_STRIDES, level_shapes, strict=True)
        ):
            s = cls.permute(1, 2, 0).reshape(-1).sigmoid()
            d = reg.permute(1, 2, 0).reshape(-1, 4)
            anchors = grid_anchors(stride, h, w, cls.device)
            if s.numel() > 1000:
                s, top = s.topk(1000)
                d, anchors = d[top], anchors[top]
            boxes.append(delta_decode(anchors, d, (1.0, 1.0, 1.0, 1.0), image_shape))
            scores.append(s)
            ids.append(torch.full_like(s, lvl, dtype=torch.long))
        b, s, i = torch.cat(boxes), torch.cat(scores), torch.cat(ids)
        ok = ((b[:, 2] - b[:, 0]) > 0) & ((b[:, 3] - b[:, 1]) > 0)
        b, s, i = b[ok], s[ok], i[ok]
        keep = []
        for lvl in range(len(RPN_STRIDES)):  # NMS within each level (mmdet batched_nms by level)
            m = torch.nonzero(i == lvl).squeeze(1)
            if m.numel():
                keep.append(m[nms_torch(b[m], s[m], 0.7)])
        keep = torch.cat(keep) if keep else torch.zeros(0, dtype=torch.long)
        keep = keep[s[keep].argsort(descending=True)][:1000]
        return b[keep]

    @torch.inference_mode()
    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        if not frames:
            return []
        scales, resized = [], []
        for f in frames:
            h, w = f.shape[:2]
            s = min(MAX_LONG / max(h, w), MAX_SHORT / min(h, w))
            scales.append(s)
            resized.append(resize_by(f, s, cv2.INTER_LINEAR))
        x = self.padded(resized, lambda r: (r - MEAN) / STD)
        feats = self.net.neck(self.net.backbone(x))
        rpn = self.net.rpn_head(feats)
        results = []
        for i, (r, s, frame) in enumerate(zip(resized, scales, frames, strict=True)):
            shape = r.shape[:2]
            props = self.proposals(
                [(c[i], g[i]) for c, g in rpn], shape, [f.shape[2:] for f in feats]
            )
            levels = map_levels(props)
            rois = feats[0].new_zeros((len(props), 256, 7, 7))
            for lvl in range(4):
                m = torch.nonzero(levels == lvl).squeeze(1)
                if m.numel():
                    rois[m] = roi_align(feats[lvl][i], props[m], 1.0 / RPN_STRIDES[lvl])
            cls, reg = self.net.roi_head.bbox_head(rois)
            score = F.softmax(cls, 1)[:, 0]
            boxes = delta_decode(props, reg, (0.1, 0.1, 0.2, 0.2), shape) / s
            # Back in the frame's pixels; rounding the resize could overshoot its edge by a hair.
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, frame.shape[1])
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, frame.shape[0])
            ok = torch.nonzero(score > 0.05).squeeze(1)
            boxes, score = boxes[ok], score[ok]
            keep = nms_torch(boxes, score, 0.5)[:100] if len(ok) else ok
            results.append(
                [
                    Face(
                        box=boxes[j].cpu().numpy().astype(np.float32),
                        score=float(score[j]),
                        kps=None,
                    )
                    for j in keep.tolist()
                ]
            )
        return results
