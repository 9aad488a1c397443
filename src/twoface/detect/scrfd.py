"""SCRFD (insightface) from its ONNX exports, on onnxruntime or PyTorch, batched over frames.

Pre-processing as insightface's `model_zoo/scrfd.py`: the frame scaled to fit `size` x `size`
keeping its ratio, placed top-left on black, (RGB - 127.5) / 128. Outputs: per stride 8/16/32,
scores, box distances and (for *_bnkps files) keypoint offsets, two anchors per cell, all in
units of the stride.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from twoface.detect import base
from twoface.detect.base import Detector, nms
from twoface.registry import option, register
from twoface.types import Face

STRIDES = (8, 16, 32)
ANCHORS_PER_CELL = 2


@cache
def anchor_centres(
    height: int, width: int, stride: int, per_cell: int = ANCHORS_PER_CELL
) -> np.ndarray:
    """(x, y) of every anchor of one level, row-major, each cell repeated `per_cell` times."""
    ys, xs = np.mgrid[: height // stride, : width // stride]
    centres = (np.stack([xs, ys], -1).reshape(-1, 2) * stride).astype(np.float32)
    return np.repeat(centres, per_cell, axis=0) if per_cell > 1 else centres


def letterbox(frame: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """The frame scaled to fit size x size (ratio kept), top-left on black; and the scale."""
    h, w = frame.shape[:2]
    scale = min(size / h, size / w)
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    out = np.zeros((size, size, 3), np.uint8)
    out[:nh, :nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, scale


def decode_levels(
    scores: Sequence[np.ndarray],
    boxes: Sequence[np.ndarray],
    kps: Sequence[np.ndarray] | None,
    size: tuple[int, int],
    score_threshold: float,
    iou_threshold: float,
    scale: float,
    per_cell: int = ANCHORS_PER_CELL,
) -> list[Face]:
    """Faces of one image from its per-level outputs (distances already in stride units)."""
    all_boxes, all_scores, all_kps = [], [], []
    for level, stride in enumerate(STRIDES):
        s = scores[level].reshape(-1)
        keep = np.nonzero(s >= score_threshold)[0]
        if keep.size == 0:
            continue
        centres = anchor_centres(size[0], size[1], stride, per_cell)[keep]
        d = boxes[level].reshape(-1, 4)[keep] * stride
        all_boxes.append(np.concatenate([centres - d[:, :2], centres + d[:, 2:]], 1))
        all_scores.append(s[keep])
        if kps is not None:
            k = kps[level].reshape(-1, 10)[keep].reshape(-1, 5, 2) * stride
            all_kps.append(centres[:, None] + k)
    if not all_boxes:
        return []
    k = np.concatenate(all_kps) if all_kps else None
    return _faces(np.concatenate(all_boxes), np.concatenate(all_scores), k, iou_threshold, scale)


def _faces(boxes, scores, kps, iou_threshold: float, scale: float) -> list[Face]:
    """The candidates left by the greedy NMS, in the image's own pixels."""
    if not len(boxes):
        return []
    return [
        Face(
            box=(boxes[j] / scale).astype(np.float32),
            score=float(scores[j]),
            kps=(kps[j] / scale).astype(np.float32) if kps is not None else None,
        )
        for j in nms(boxes, scores, iou_threshold)
    ]


@dataclass(frozen=True)
class ScrfdOptions:
    size: int | None = option(None, base.SIZE)
    score_threshold: float = option(0.5, base.SCORE)
    iou_threshold: float = option(0.4, base.IOU)
    threads: int | None = option(None, base.THREADS)


@register(
    "detect",
    "scrfd",
    options=ScrfdOptions,
    consumes=("frames", "runtime", "device"),
    produces=("boxes", "scores", "5 keypoints per stride"),
    shipped=False,
)
class ScrfdDetector(Detector):
    """SCRFD 500m / 2.5g / 10g ONNX files (with keypoints: the *_bnkps exports)."""

    name = "scrfd"

    def __init__(
        self,
        model_path: str | os.PathLike,
        runtime: str = "onnxruntime",
        size: int = 640,
        score_threshold: float = 0.5,
        iou_threshold: float = 0.4,
        device: str | None = None,
        threads: int | None = None,
        mean: float = 127.5,
        std: float = 128.0,
    ) -> None:
        from twoface.runtime import load_graph

        # CUDA graphs: SCRFD is small, its time on a GPU goes in launching ~200 kernels a batch,
        # which in a video's pipeline also means holding the GIL the other threads want.
        self.graph = load_graph(
            model_path, runtime, device=device, threads=threads, cuda_graphs=True
        )
        self.size = size
        self.mean, self.std = float(mean), float(std)  # insightface: (x - 127.5) / 128
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        from twoface.runtime.outputs import SCRFD

        self.graph.expect(SCRFD)  # 6 or 9 outputs of the strides' shapes, finite
        self.has_kps = len(self.graph.output_names) == 9

    def raw(self, frames: Sequence[np.ndarray]) -> tuple[list[list[np.ndarray]], list[float]]:
        """Network outputs per image (scores, boxes, kps per level) and the letterbox scales."""
        boxed = [letterbox(f, self.size) for f in frames]
        x = self.prepare(np.stack([b for b, _ in boxed]))
        return self.forward(x), [s for _, s in boxed]

    def prepare(self, images: np.ndarray):
        """uint8 NHWC letterboxed images -> the network's normalised input (on its device)."""
        return self.graph.normalise(images, self.mean, self.std)

    def forward(self, x: np.ndarray) -> list[list[np.ndarray]]:
        """Normalised NCHW batch -> per image [scores x3, boxes x3, (kps x3)], strides 8/16/32."""
        out = self.graph(x)
        arrays = [out[n] for n in self.graph.output_names]
        # Batch-1 exports drop the batch axis: (anchors, C) instead of (N, anchors, C).
        return [[a[i] if a.ndim == 3 else a for a in arrays] for i in range(len(x))]

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        if not frames:
            return []
        graph = getattr(self, "graph", None)  # (the mmdet checkpoint runs its own network)
        if graph is not None and graph.runtime == "torch":
            return self._detect_on_device(frames)
        outputs, scales = self.raw(frames)
        results = []
        for arrays, scale in zip(outputs, scales, strict=True):
            scores, boxes = arrays[0:3], arrays[3:6]
            kps = arrays[6:9] if self.has_kps else None
            faces = decode_levels(
                scores,
                boxes,
                kps,
                (self.size, self.size),
                self.score_threshold,
                self.iou_threshold,
                scale,
            )
            results.append(faces)
        return results

    def _detect_on_device(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """The PyTorch runtime: outputs stay on the model's device, where boxes and keypoints
        are decoded and thresholded for the whole batch at once; only the candidates above the
        score threshold (a few dozen) come to the host, for the greedy NMS (`_faces`, as
        `decode_levels` uses). Same faces as the host path (tests: boxes within a pixel)."""
        import torch

        boxed = [letterbox(f, self.size) for f in frames]
        x = self.prepare(np.stack([b for b, _ in boxed]))
        with torch.inference_mode():
            outs = self.graph.tensors(x)
            n = len(frames)
            # Batch-1 exports drop the batch axis: (anchors, C) instead of (N, anchors, C).
            outs = [o if o.dim() == 3 else o.reshape(n, -1, o.shape[-1]) for o in outs]
            centres, strides = _anchors_on(str(outs[0].device), self.size)
            scores = torch.cat([o.reshape(n, -1) for o in outs[0:3]], 1)
            dist = torch.cat([o.reshape(n, -1, 4) for o in outs[3:6]], 1) * strides[:, None]
            boxes = torch.cat([centres - dist[..., :2], centres + dist[..., 2:]], -1)
            keep = scores >= self.score_threshold
            image_of, anchor = keep.nonzero(as_tuple=True)
            picked = [image_of, scores[keep], boxes[keep]]
            if self.has_kps:
                kps = torch.cat([o.reshape(n, -1, 10) for o in outs[6:9]], 1)
                kps = kps.reshape(n, -1, 5, 2) * strides[:, None, None]
                picked.append((centres[:, None] + kps)[keep])
            host = [t.cpu().numpy() for t in picked]
        results = []
        for i, (_, scale) in enumerate(boxed):
            mine = host[0] == i
            k = host[3][mine] if self.has_kps else None
            results.append(_faces(host[2][mine], host[1][mine], k, self.iou_threshold, scale))
        return results


@cache
def _anchors_host(size: int) -> tuple[np.ndarray, np.ndarray]:
    """All levels' anchor centres (A, 2) and each anchor's stride (A,), in output order."""
    centres = [anchor_centres(size, size, s) for s in STRIDES]
    strides = [np.full(len(c), s, np.float32) for c, s in zip(centres, STRIDES, strict=True)]
    return np.concatenate(centres), np.concatenate(strides)


@cache
def _anchors_on(device: str, size: int):
    """`_anchors_host` as tensors on `device`, made once per device and size."""
    import torch

    centres, strides = _anchors_host(size)
    return torch.from_numpy(centres).to(device), torch.from_numpy(strides).to(device)
