"""One analyzer for every front: detect -> landmarks -> identity, batch-first.

`FrameAnalyzer` holds the three built components (the encoder built on first use, since most
runs never need identity) and is what images, videos, live cameras, the web UI, `twoface
detect` and the dataset builder call; none of them rebuilds the path. It keeps no per-run
state: timings go into the dict a run passes in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from twoface.types import Face


@dataclass
class FrameAnalyzer:
    """detector.detect(frames) -> landmarker(frames, faces) -> encoder(frames, faces)."""

    detector: object
    landmarker: object
    encoder_factory: Callable[[], object]
    _encoder: object = field(default=None, repr=False)

    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = self.encoder_factory()
        return self._encoder

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        return self.detector.detect(frames)

    def analyse(
        self,
        frames: Sequence[np.ndarray],
        identity: bool = False,
        timings: dict[str, float] | None = None,
    ) -> list[list[Face]]:
        """Each frame's faces with landmarks (and identity descriptors if asked); seconds spent
        per step are added to `timings` ("detect", "landmarks", "identity") when given."""
        if not frames:
            return []
        t = time.perf_counter()
        faces = self.detector.detect(frames)
        t = _add(timings, "detect", t)
        faces = self.landmarker(frames, faces)
        t = _add(timings, "landmarks", t)
        if identity:
            faces = self.encoder(frames, faces)
            _add(timings, "identity", t)
        return faces

    def mark(self, frames: Sequence[np.ndarray], faces: Sequence[Sequence[Face]]):
        """Landmarks for faces found elsewhere (a picked face, a tracked box)."""
        return self.landmarker(frames, faces)

    def one(self, image: np.ndarray, face: Face, identity: bool = False) -> Face:
        """One face of one image, with landmarks (and identity if asked)."""
        face = self.landmarker.one(image, face)
        return self.encoder([image], [[face]])[0][0] if identity else face


def _add(timings: dict[str, float] | None, key: str, since: float) -> float:
    now = time.perf_counter()
    if timings is not None:
        timings[key] = timings.get(key, 0.0) + now - since
    return now
