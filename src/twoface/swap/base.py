"""The swapper interface and the jobs it works on."""

from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from twoface.types import Face


@dataclass(frozen=True, slots=True, eq=False)
class SourceFace:
    """One photo of the source person and the face found in it."""

    image: np.ndarray  # RGB uint8
    face: Face
    origin: str = "<array>"


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class SourceIdentity:
    """A source person: one or more photos, combined.

    `embedding` is the mean identity descriptor of all photos (used for matching and by learned
    swappers); the classical engine picks, per target face, the photo whose pose fits it best.
    """

    faces: tuple[SourceFace, ...]
    embedding: np.ndarray | None = None

    @classmethod
    def combine(cls, faces: Sequence[SourceFace]) -> SourceIdentity:
        embs = [f.face.embedding for f in faces if f.face.embedding is not None]
        emb = np.mean(embs, axis=0).astype(np.float32) if embs else None
        return cls(faces=tuple(faces), embedding=emb)


@dataclass(frozen=True, slots=True, eq=False)
class SwapJob:
    """Replace `target` in frame `frame_index` of a batch by `source`."""

    frame_index: int
    target: Face
    source: SourceIdentity


class PerSource:
    """A value computed once per SourceIdentity (an embedding, a latent) and dropped with it.

    Keyed by the object itself, weakly: keying by id() would hand a new identity the value of
    a freed one that happened to get the same address.
    """

    def __init__(self, compute: Callable[[SourceIdentity], object]) -> None:
        self._compute = compute
        self._values: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __call__(self, source: SourceIdentity):
        if source not in self._values:
            self._values[source] = self._compute(source)
        return self._values[source]


class Swapper(ABC):
    name: str = "swapper"
    # IPTC digitalSourceType of what this engine makes: a trained model generated the face
    # (engines without one, the classical and anime warps, say compositeSynthetic).
    source_type: str = "compositeWithTrainedAlgorithmicMedia"

    @abstractmethod
    def swap(self, frames: Sequence[np.ndarray], jobs: Sequence[SwapJob]) -> list[np.ndarray]:
        """New frames with every job applied; frames without a job come back unchanged."""
