"""insightface's 2d106det: 106 landmarks from a 192 px crop, batched, on onnxruntime or PyTorch.

As insightface's `Landmark` model: the crop centred on the box, scaled 192 / (1.5 x the box's
longer side); RGB, mean/std 0/1 when the graph normalises itself (Sub and Mul among its first
nodes), else 127.5/128; the 212 outputs in [-1, 1] become (p + 1) x 96 crop pixels, mapped back.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np

from twoface.geometry import apply_affine, invert_affine, square_crop
from twoface.landmarks.base import Landmarker
from twoface.registry import register
from twoface.types import Face, flatten, regroup

SIZE = 192
POINTS = 106


def _normalises_itself(path) -> bool:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    ops = [n.op_type for n in model.graph.node[:8]]
    return "Sub" in ops and "Mul" in ops


@register(
    "landmarks",
    "2d106det",
    consumes=("frames", "faces", "runtime", "device"),
    produces=("106 landmarks (insightface106), points in [-1, 1]",),
    shipped=False,
    summary="insightface's 2d106det: 106 landmarks from a 192 px crop",
)
class Landmark106(Landmarker):
    name = "2d106det"
    scheme = scheme_name = "insightface106"

    def __init__(
        self, model_path: str | os.PathLike, runtime: str = "onnxruntime", device: str | None = None
    ) -> None:
        from twoface.runtime import load_graph
        from twoface.runtime.outputs import LANDMARK106

        self.graph = load_graph(model_path, runtime, device=device).expect(LANDMARK106)
        self.mean, self.std = (0.0, 1.0) if _normalises_itself(model_path) else (127.5, 128.0)

    def __call__(
        self, frames: Sequence[np.ndarray], faces: Sequence[Sequence[Face]]
    ) -> list[list[Face]]:
        jobs = flatten(faces)
        if not jobs:
            return [list(fs) for fs in faces]
        crops, mats = [], []
        for i, f in jobs:
            x1, y1, x2, y2 = f.box.astype(np.float64)
            m = square_crop(
                np.array([(x1 + x2) / 2, (y1 + y2) / 2]), 1.5 * max(x2 - x1, y2 - y1), SIZE
            )
            crops.append(cv2.warpAffine(frames[i], m, (SIZE, SIZE), borderValue=0))
            mats.append(m)
        x = (np.stack(crops).astype(np.float32) - self.mean) / self.std
        out = next(iter(self.graph(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).values()))
        pts = out.reshape(len(jobs), -1, 2)[:, -POINTS:]
        new = [
            f.with_landmarks(
                apply_affine(invert_affine(m), (p + 1) * (SIZE // 2)).astype(np.float32),
                self.scheme,
            )
            for (_, f), p, m in zip(jobs, pts, mats, strict=True)
        ]
        return regroup(len(faces), jobs, new)
