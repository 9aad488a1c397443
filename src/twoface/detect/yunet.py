"""YuNet 2023 (libfacedetection.train) from its ONNX exports, on onnxruntime or PyTorch.

Input: raw BGR 0..255, NCHW, padded bottom-right to a multiple of 32. Outputs per stride
8/16/32: cls and obj (after sigmoid), box (dx, dy, log w, log h) and 5 keypoints, one anchor
per cell; score = sqrt(cls * obj).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twoface.detect import base
from twoface.detect.base import Detector, downscale_factor, nms, resize_by
from twoface.detect.scrfd import anchor_centres
from twoface.registry import option, register
from twoface.types import Face

STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class YunetOptions:
    max_side: int = option(640, base.MAX_SIDE)
    score_threshold: float = option(0.6, base.SCORE)
    iou_threshold: float = option(0.3, base.IOU)
    threads: int | None = option(None, base.THREADS)


@register(
    "detect",
    "yunet",
    options=YunetOptions,
    consumes=("frames", "runtime", "device"),
    produces=("boxes", "scores", "5 keypoints per stride"),
    shipped=False,
    summary="YuNet 2023 ONNX exports (libfacedetection.train, OpenCV Zoo)",
)
class YunetDetector(Detector):
    name = "yunet"

    def __init__(
        self,
        model_path: str | os.PathLike,
        runtime: str = "onnxruntime",
        max_side: int = 640,
        score_threshold: float = 0.6,
        iou_threshold: float = 0.3,
        device: str | None = None,
        threads: int | None = None,
    ) -> None:
        from twoface.runtime import load_graph
        from twoface.runtime.outputs import YUNET

        self.graph = load_graph(model_path, runtime, device=device, threads=threads).expect(YUNET)
        self.max_side = max_side
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold

    def raw(self, frames: Sequence[np.ndarray]):
        scales = [downscale_factor(f.shape, self.max_side) for f in frames]
        small = [resize_by(f, s) if s < 1 else f for f, s in zip(frames, scales, strict=True)]
        if self.graph.input_size:  # a fixed-size file (opencv_zoo's is 1x3x640x640): fit into it
            h, w = self.graph.input_size
            fits = [min(h / im.shape[0], w / im.shape[1], 1.0) for im in small]
            scales = [s * f for s, f in zip(scales, fits, strict=True)]
            small = [resize_by(im, f) if f < 1 else im for im, f in zip(small, fits, strict=True)]
        else:
            h = -(-max(im.shape[0] for im in small) // 32) * 32
            w = -(-max(im.shape[1] for im in small) // 32) * 32
        batch = np.zeros((len(small), h, w, 3), np.float32)
        for i, im in enumerate(small):
            batch[i, : im.shape[0], : im.shape[1]] = im[..., ::-1]
        out = self.graph(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
        return out, scales, (h, w)

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        if not frames:
            return []
        out, scales, (h, w) = self.raw(frames)
        results = []
        for i, scale in enumerate(scales):
            boxes, scores, kps = [], [], []
            for stride in STRIDES:
                cls = out[f"cls_{stride}"][i].reshape(-1)
                obj = out[f"obj_{stride}"][i].reshape(-1)
                score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
                keep = np.nonzero(score >= self.score_threshold)[0]
                if keep.size == 0:
                    continue
                cells = anchor_centres(h, w, stride, 1)[keep]
                b = out[f"bbox_{stride}"][i][keep]
                centre = cells + b[:, :2] * stride
                size = np.exp(b[:, 2:4]) * stride
                boxes.append(np.concatenate([centre - size / 2, centre + size / 2], 1))
                k = out[f"kps_{stride}"][i][keep].reshape(-1, 5, 2)
                kps.append(cells[:, None] + k * stride)
                scores.append(score[keep])
            if not boxes:
                results.append([])
                continue
            b, s, k = np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps)
            results.append(
                [
                    Face(
                        box=(b[j] / scale).astype(np.float32),
                        score=float(s[j]),
                        kps=(k[j] / scale).astype(np.float32),
                    )
                    for j in nms(b, s, self.iou_threshold)
                ]
            )
        return results
