"""Shared value types that flow between the pipeline stages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True, slots=True, eq=False)
class Face:
    """One detected face in one frame, in that frame's pixel coordinates (x right, y down).

    Stages never mutate a Face; they return a new one with more fields filled in
    (`with_landmarks`, `with_embedding`).
    """

    box: np.ndarray  # (4,) float32: x1, y1, x2, y2
    score: float
    # (5, 2) float32: eye (image left), eye (image right), nose, mouth left, mouth right;
    # None from box-only detectors (the anime cascade).
    kps: np.ndarray | None
    landmarks: np.ndarray | None = None  # (68, 2) "ibug68" or (28, 2) "anime28", float32
    landmark_scheme: str | None = None
    embedding: np.ndarray | None = (
        None  # identity descriptor (dlib: 128-d, unit scale ~0.6 same-person)
    )
    embedding_kind: str | None = None  # "dlib128"
    track_id: int | None = None

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def center(self) -> np.ndarray:
        return np.array([(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2])

    def with_landmarks(self, landmarks: np.ndarray, scheme: str) -> Face:
        return replace(self, landmarks=np.asarray(landmarks, np.float32), landmark_scheme=scheme)

    def with_embedding(self, embedding: np.ndarray, kind: str) -> Face:
        return replace(self, embedding=np.asarray(embedding, np.float32), embedding_kind=kind)

    def to_dict(self) -> dict:
        out: dict = {
            "box": [round(float(v), 1) for v in self.box],
            "score": round(float(self.score), 4),
        }
        if self.kps is not None:
            out["kps"] = [[round(float(x), 1), round(float(y), 1)] for x, y in self.kps]
        if self.landmarks is not None:
            out["landmarks"] = [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks]
            out["landmark_scheme"] = self.landmark_scheme
        if self.track_id is not None:
            out["track_id"] = self.track_id
        return out


def flatten(faces: Sequence[Sequence[Face]]) -> list[tuple[int, Face]]:
    """(frame index, face) for every face of every frame: one batch for a per-face model."""
    return [(i, f) for i, fs in enumerate(faces) for f in fs]


def regroup(frames: int, flat: Sequence[tuple[int, Face]], new: Sequence[Face]) -> list[list[Face]]:
    """The faces of `new` (in `flat`'s order) put back into one list per frame."""
    out: list[list[Face]] = [[] for _ in range(frames)]
    for (i, _), face in zip(flat, new, strict=True):
        out[i].append(face)
    return out
