"""The Landmarker stage: (frames, faces per frame) -> the faces with landmarks and their scheme."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from twoface.schemes import SCHEMES, LandmarkScheme
from twoface.types import Face


class Landmarker(ABC):
    name: str = "landmarker"
    scheme_name: str = "ibug68"
    gives_landmarks: bool = True  # False: the detector's keypoints alone (no landmarks)

    @property
    def landmark_scheme(self) -> LandmarkScheme:
        return SCHEMES[self.scheme_name]

    @abstractmethod
    def __call__(
        self, frames: Sequence[np.ndarray], faces: Sequence[Sequence[Face]]
    ) -> list[list[Face]]:
        """Every face of every frame with `landmarks` (frame coordinates) and the scheme."""

    def one(self, frame: np.ndarray, face: Face) -> Face:
        return self([frame], [[face]])[0][0]

    @classmethod
    def from_entry(cls, entry, ctx) -> Landmarker:
        if entry is None:
            return ctx.construct(cls)
        return ctx.construct(cls, ctx.find(entry))
