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
    from twoface.zoo.catalogue import CATALOGUE

    try:
        return store.find(name)
    except ModelError:
        alt = f"{name}_safetensors"
        if alt in CATALOGUE and store.path(CATALOGUE[alt]).is_file():
            return store.path(store.entry(alt))
        raise


def create_anime_detector(name: str, store, device: str | None = None):
    if name not in ANIME_DETECTORS:
        raise ValueError(
            f"unknown anime detector {name!r}; choose from {', '.join(ANIME_DETECTORS)}"
        )
    path = find_weights(store, name)
    if name != "anime_lbpcascade":
        from twoface.runtime import require_torch

        require_torch(f"anime detector {name}")
    if name == "anime_lbpcascade":
        from twoface.anime.cascade import CascadeAnimeDetector

        return CascadeAnimeDetector(path)
    if name == "anime_yolov3":
        from twoface.anime.yolov3 import YoloAnimeDetector

        return YoloAnimeDetector(path, device=device)
    from twoface.anime.faster_rcnn import FasterRcnnAnimeDetector

    return FasterRcnnAnimeDetector(path, device=device)


class AnimeAnalyzer:
    """Detect anime faces and, when the HRNetV2 file is present, their 28 landmarks."""

    def __init__(
        self, store, detector: str = "anime_lbpcascade", device: str | None = None
    ) -> None:
        from twoface.errors import ModelError

        self.detector = create_anime_detector(detector, store, device)
        self.landmarker = None
        self.landmarks_missing: str | None = None
        try:
            path = find_weights(store, LANDMARK_MODEL)
        except ModelError as e:
            self.landmarks_missing = str(e)
        else:
            from twoface.runtime import require_torch

            require_torch("anime landmarks (anime_hrnetv2)")
            from twoface.anime.hrnet import AnimeLandmarker

            self.landmarker = AnimeLandmarker(path, device=device)

    def __call__(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        faces = self.detector.detect(frames)
        if self.landmarker is not None:
            faces = self.landmarker(frames, faces)
        return faces


def anime_available(store) -> bool:
    return store.path(store.entry("anime_lbpcascade")).is_file()


__all__ = ["ANIME_DETECTORS", "AnimeAnalyzer", "anime_available", "create_anime_detector"]
