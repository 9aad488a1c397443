"""nagadomi's lbpcascade_animeface through OpenCV's CascadeClassifier, as its README runs it:
grey, histogram-equalised, scale step 1.1, 5 neighbours, faces of at least 24 px."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from twoface.detect.base import Detector
from twoface.errors import ModelError
from twoface.registry import option, register
from twoface.types import Face


@dataclass(frozen=True)
class CascadeOptions:
    scale_factor: float = option(1.1, "the scale step between the cascade's passes")
    min_neighbors: int = option(5, "overlapping hits a face needs to be kept")
    min_size: int = option(24, "the smallest face found (pixels)")


@register(
    "anime-detect",
    "lbp_cascade",
    options=CascadeOptions,
    consumes=("frames",),
    produces=("boxes",),
    shipped=False,
    summary="nagadomi's lbpcascade_animeface (OpenCV CascadeClassifier)",
)
class CascadeAnimeDetector(Detector):
    name = "anime_lbpcascade"

    def __init__(
        self,
        model_path: str | os.PathLike,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 24,
    ) -> None:
        if not hasattr(cv2, "CascadeClassifier"):
            raise ModelError(
                "this OpenCV build has no CascadeClassifier (OpenCV 5 moved it to contrib); "
                "twoface needs opencv-python < 5"
            )
        self._cascade = cv2.CascadeClassifier(str(model_path))
        if self._cascade.empty():
            raise ModelError(f"{model_path}: OpenCV cannot load it as a cascade")
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        out = []
        for frame in frames:
            grey = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
            rects, _, weights = self._cascade.detectMultiScale3(
                grey,
                scaleFactor=self.scale_factor,
                minNeighbors=self.min_neighbors,
                minSize=(self.min_size, self.min_size),
                outputRejectLevels=True,
            )
            faces = []
            for (x, y, w, h), wt in zip(rects, np.ravel(weights), strict=True):
                # The stage weight is unbounded; squash it to (0, 1) for a comparable score.
                score = float(1 / (1 + np.exp(-wt)))
                box = np.array([x, y, x + w, y + h], np.float32)
                faces.append(Face(box=box, score=score, kps=None))
            out.append(sorted(faces, key=lambda f: -f.score))
        return out
