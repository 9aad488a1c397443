"""Which target faces get which source: by prominence, all, by reference person, or by mapping."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from twoface.identity import identity_distance
from twoface.swap.base import SourceIdentity
from twoface.types import Face


@dataclass(frozen=True, slots=True)
class Selection:
    """How to pick faces; built once from the CLI or API call."""

    many: bool = False
    reference: np.ndarray | None = None  # identity descriptor of the person to replace
    target_refs: tuple[np.ndarray, ...] = ()  # descriptor i: faces that source i replaces
    threshold: float = 0.6  # largest identity distance that counts as the same person
    # The encoder's distance (its own scale: dlib Euclidean, ArcFace 1 - cos).
    distance: Callable[[np.ndarray, np.ndarray], float] = identity_distance

    @property
    def needs_identity(self) -> bool:
        return self.reference is not None or bool(self.target_refs)


def most_prominent(faces: Sequence[Face]) -> Face:
    """The largest face (box area); the detector's confidence breaks exact ties."""
    return max(faces, key=lambda f: (f.area, f.score))


def select(
    faces: Sequence[Face], sources: Sequence[SourceIdentity], selection: Selection
) -> list[tuple[Face, SourceIdentity]]:
    """Pairs (target face, source identity) to swap in one frame."""
    if not faces:
        return []
    if selection.target_refs:
        if len(selection.target_refs) != len(sources):
            raise ValueError("need exactly one target face per source")
        pairs = []
        for face in faces:
            d = [selection.distance(face.embedding, r) for r in selection.target_refs]
            j = int(np.argmin(d))
            if d[j] <= selection.threshold:
                pairs.append((face, sources[j]))
        return pairs
    if selection.reference is not None:
        return [
            (f, sources[0])
            for f in faces
            if selection.distance(f.embedding, selection.reference) <= selection.threshold
        ]
    if selection.many:
        return [(f, sources[0]) for f in faces]
    return [(most_prominent(faces), sources[0])]
