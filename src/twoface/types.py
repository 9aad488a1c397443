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


@dataclass(slots=True)
class FaceBatch:
    """All faces of a batch of frames as arrays: the type stages pass between them.

    N faces: `frame` (N,) the frame each lies in, `boxes` (N, 4), `scores` (N,), `kps` (N, 5, 2)
    (NaN where a detector gives none), `landmarks` (N, K, 2) with their `scheme`, `embeddings`
    (N, D) with the `encoder` that made them, `track_ids` (N,) (-1: untracked). numpy on the CPU
    path; `to(device)` turns the arrays into torch tensors for the GPU path. `Face` is the
    per-face view (`faces()`, `per_frame()`) for the API, selection and JSON.
    """

    frame: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    kps: np.ndarray
    frames: int = 0  # how many frames the batch covers (some may hold no face)
    landmarks: np.ndarray | None = None
    scheme: str | None = None
    embeddings: np.ndarray | None = None
    encoder: str | None = None
    track_ids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def from_faces(cls, faces: Sequence[Sequence[Face]]) -> FaceBatch:
        flat = flatten(faces)
        n = len(flat)
        fs = [f for _, f in flat]

        def stack(values, shape, dtype=np.float32):
            if n == 0:
                return np.zeros((0, *shape), dtype)
            return np.stack([np.full(shape, np.nan, dtype) if v is None else v for v in values])

        landmarks = None
        if (
            fs
            and all(f.landmarks is not None for f in fs)
            and len({len(f.landmarks) for f in fs}) == 1
        ):
            landmarks = np.stack([f.landmarks for f in fs]).astype(np.float32)
        embeddings = None
        if fs and all(f.embedding is not None for f in fs):
            embeddings = np.stack([f.embedding for f in fs]).astype(np.float32)
        return cls(
            frame=np.array([i for i, _ in flat], np.int64),
            boxes=stack([f.box for f in fs], (4,)),
            scores=np.array([f.score for f in fs], np.float32),
            kps=stack([f.kps for f in fs], (5, 2)),
            frames=len(faces),
            landmarks=landmarks,
            scheme=fs[0].landmark_scheme if landmarks is not None else None,
            embeddings=embeddings,
            encoder=fs[0].embedding_kind if embeddings is not None else None,
            track_ids=np.array([-1 if f.track_id is None else f.track_id for f in fs], np.int64),
        )

    def faces(self) -> list[Face]:
        """One Face per row, in order."""
        out = []
        for k in range(len(self)):
            kps = _host(self.kps[k])
            out.append(
                Face(
                    box=_host(self.boxes[k]),
                    score=float(self.scores[k]),
                    kps=None if np.isnan(kps).all() else kps,
                    landmarks=None if self.landmarks is None else _host(self.landmarks[k]),
                    landmark_scheme=self.scheme if self.landmarks is not None else None,
                    embedding=None if self.embeddings is None else _host(self.embeddings[k]),
                    embedding_kind=self.encoder if self.embeddings is not None else None,
                    track_id=None
                    if self.track_ids is None or int(self.track_ids[k]) < 0
                    else int(self.track_ids[k]),
                )
            )
        return out

    def per_frame(self) -> list[list[Face]]:
        """The faces grouped by frame: one list per frame of the batch."""
        out: list[list[Face]] = [[] for _ in range(self.frames)]
        for i, face in zip(_host(self.frame).tolist(), self.faces(), strict=True):
            out[i].append(face)
        return out

    def to(self, device: str) -> FaceBatch:
        """The same batch as torch tensors on `device` (twoface's GPU path)."""
        import torch

        def move(a):
            return None if a is None else torch.as_tensor(np.asarray(a)).to(device)

        return FaceBatch(
            frame=move(self.frame),
            boxes=move(self.boxes),
            scores=move(self.scores),
            kps=move(self.kps),
            frames=self.frames,
            landmarks=move(self.landmarks),
            scheme=self.scheme,
            embeddings=move(self.embeddings),
            encoder=self.encoder,
            track_ids=move(self.track_ids),
        )


def _host(a) -> np.ndarray:
    """A numpy array whether `a` is numpy or a torch tensor (on any device)."""
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def flatten(faces: Sequence[Sequence[Face]]) -> list[tuple[int, Face]]:
    """(frame index, face) for every face of every frame: one batch for a per-face model."""
    return [(i, f) for i, fs in enumerate(faces) for f in fs]


def regroup(frames: int, flat: Sequence[tuple[int, Face]], new: Sequence[Face]) -> list[list[Face]]:
    """The faces of `new` (in `flat`'s order) put back into one list per frame."""
    out: list[list[Face]] = [[] for _ in range(frames)]
    for (i, _), face in zip(flat, new, strict=True):
        out[i].append(face)
    return out
