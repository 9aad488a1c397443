"""The Encoder stage: identity embeddings of faces, and what distance means for them.

Each encoder owns its scale: dlib's descriptor is compared by Euclidean distance (same person
within 0.6), ArcFace by cosine distance 1 - cos (same person within 0.6, i.e. similarity above
0.4). Selection (--similarity), tracking and the people picker ask the encoder, never a constant.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from twoface.types import Face


class Encoder(ABC):
    name: str = "encoder"
    dim: int = 0
    metric: str = "euclidean"  # or "cosine"
    same_person: float = 0.6  # the largest distance that still counts as one person
    needs_landmarks: bool = False  # True: embeds from a face's full landmarks, not its keypoints

    @abstractmethod
    def __call__(
        self, frames: Sequence[np.ndarray], faces: Sequence[Sequence[Face]]
    ) -> list[list[Face]]:
        """The faces with `embedding` filled in (batch-first: every face of every frame)."""

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if self.metric == "cosine":
            na, nb = np.linalg.norm(a), np.linalg.norm(b)
            return float(1.0 - a @ b / max(na * nb, 1e-12))
        return float(np.linalg.norm(a - b))

    def same(self, a: np.ndarray, b: np.ndarray, threshold: float | None = None) -> bool:
        return self.distance(a, b) <= (self.same_person if threshold is None else threshold)

    def scale(self) -> str:
        """How --similarity reads for this encoder, for messages and help."""
        kind = "cosine distance 1 - cos" if self.metric == "cosine" else "Euclidean distance"
        return f"{self.name} {kind}, same person within {self.same_person:g}"

    @classmethod
    def from_entry(cls, entry, ctx) -> Encoder:
        if entry is None:
            return ctx.construct(cls)
        return ctx.construct(cls, ctx.find(entry))
