"""Anime faces: detectors (nagadomi's LBP cascade; hysts/anime-face-detector's YOLOv3 and Faster
R-CNN), 28-point HRNetV2 landmarks, and a swap made for line art. All run downloaded files:
no working anime detector ships on PyPI.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from twoface.types import Face

ANIME_DETECTORS = ("anime_lbpcascade", "anime_yolov3", "anime_faster_rcnn")
LANDMARK_MODEL = "anime_hrnetv2"


def find_weights(store, name: str):
    """The .pth of `name`, else its model-hub .safetensors copy; the .pth's message if neither."""
    from twoface.errors import ModelError

    try:
        return store.find(name)
    except ModelError:
        alt = f"{name}_safetensors"
        if alt in store.catalogue and store.path(store.catalogue[alt]).is_file():
            return store.path(store.entry(alt))
        raise


def create_anime_detector(name: str, store, device: str | None = None, pool=None):
    """An anime detector by name (twoface.build)."""
    from twoface.build import BuildContext, build
    from twoface.config import RuntimeConfig

    if pool is not None:
        return pool.get("anime-detect", name, RuntimeConfig(device=device))
    return build("anime-detect", name, BuildContext(store, RuntimeConfig(device=device)))


class AnimeAnalyzer:
    """Detect anime faces and, when the HRNetV2 file is present, their 28 landmarks."""

    def __init__(
        self, store, detector: str = "anime_lbpcascade", device: str | None = None, pool=None
    ) -> None:
        from twoface.build import BuildContext, build
        from twoface.config import RuntimeConfig
        from twoface.errors import ModelError

        self.detector = create_anime_detector(detector, store, device, pool)
        self.landmarker = None
        self.landmarks_missing: str | None = None
        try:
            find_weights(store, LANDMARK_MODEL)
        except ModelError as e:
            self.landmarks_missing = str(e)
        else:
            rt = RuntimeConfig(device=device)
            self.landmarker = (
                pool.get("landmarks", LANDMARK_MODEL, rt)
                if pool is not None
                else build("landmarks", LANDMARK_MODEL, BuildContext(store, rt))
            )

    def __call__(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        faces = self.detector.detect(frames)
        if self.landmarker is not None:
            faces = self.landmarker(frames, faces)
        return faces


def anime_available(store) -> bool:
    return store.path(store.entry("anime_lbpcascade")).is_file()


__all__ = ["ANIME_DETECTORS", "AnimeAnalyzer", "anime_available", "create_anime_detector"]
