"""ArcFace identity embeddings (insightface w600k_r50 and compatible ONNX files), batched.

Faces are aligned by their five keypoints to the 112 px ArcFace template, fed as RGB
(x - 127.5) / 127.5 (insightface's `blobFromImages(1/127.5, mean 127.5, swapRB)`), and the
512-d output is L2-normalised.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np

from twoface.geometry import fit_template
from twoface.identity.base import Encoder
from twoface.registry import register
from twoface.types import Face, flatten, regroup

SIZE = 112


def align(
    image: np.ndarray, kps: np.ndarray, size: int, name: str = "arcface"
) -> tuple[np.ndarray, np.ndarray]:
    """The face cropped to `size` by the named template; and the 2x3 matrix that did it."""
    m = fit_template(kps, name, size)
    crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
    return crop, m


@register(
    "identity",
    "iresnet50",
    consumes=("frames", "faces", "runtime", "device"),
    produces=("512-d embedding (cosine, same person within 0.6)",),
    shipped=False,
)
class ArcFaceEncoder(Encoder):
    """insightface's w600k_r50 (and compatible) ArcFace. Same person: cosine distance within
    0.6 (similarity above 0.4), FaceFusion's default reference-face distance."""

    name = kind = "arcface"
    dim = 512
    metric = "cosine"
    same_person = 0.6

    def __init__(
        self,
        model_path: str | os.PathLike,
        runtime: str = "onnxruntime",
        device: str | None = None,
    ) -> None:
        from twoface.runtime import load_graph
        from twoface.runtime.outputs import ARCFACE

        self.graph = load_graph(model_path, runtime, device=device).expect(ARCFACE)

    def embed(self, images: Sequence[np.ndarray], kps: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 512) unit vectors, one per (image, keypoints) pair."""
        if not images:
            return np.zeros((0, 512), np.float32)
        crops = [align(img, k, SIZE)[0] for img, k in zip(images, kps, strict=True)]
        x = (np.stack(crops).astype(np.float32) - 127.5) / 127.5
        out = self.graph(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        emb = next(iter(out.values())).reshape(len(crops), -1)
        return (emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)).astype(
            np.float32
        )

    def __call__(
        self, frames: Sequence[np.ndarray], faces: Sequence[Sequence[Face]]
    ) -> list[list[Face]]:
        flat = flatten(faces)
        emb = self.embed([frames[i] for i, _ in flat], [f.kps for _, f in flat])
        new = [f.with_embedding(e, self.kind) for (_, f), e in zip(flat, emb, strict=True)]
        return regroup(len(faces), flat, new)
