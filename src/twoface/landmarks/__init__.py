"""Landmark models: add a dense point set to each detected face."""

from twoface.landmarks.dlib68 import Dlib68Landmarker

__all__ = ["Dlib68Landmarker"]
