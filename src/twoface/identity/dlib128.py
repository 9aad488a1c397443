"""dlib's ResNet face recognizer: a 128-d descriptor; two photos of one person lie within ~0.6."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twoface.identity.base import Encoder
from twoface.registry import option, register
from twoface.types import Face

# dlib's documented decision threshold (99.38% on LFW at 0.6 Euclidean distance).
SAME_PERSON_DISTANCE = 0.6


def identity_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


@dataclass(frozen=True)
class Dlib128Options:
    jitter: int = option(0, "extra jittered copies averaged per face (slower, a little steadier)")


@register(
    "identity",
    "dlib128",
    options=Dlib128Options,
    architecture="dlib ResNet face recognizer",
    consumes=("frames", "landmarks"),
    produces=("128-d embedding (Euclidean, same person within 0.6)",),
    summary="dlib's ResNet face recognizer: a 128-d descriptor per face",
)
class Dlib128Encoder(Encoder):
    name = kind = "dlib128"
    dim = 128
    metric = "euclidean"
    same_person = SAME_PERSON_DISTANCE
    needs_landmarks = True  # dlib's chip is cut by its 68 points

    def __init__(self, jitter: int = 0) -> None:
        import dlib

        from twoface.embedded import dlib_model

        self._dlib = dlib
        self._model = dlib.face_recognition_model_v1(
            dlib_model("dlib_face_recognition_resnet_model_v1.dat")
        )
        self.jitter = jitter

    def __call__(
        self, frames: Sequence[np.ndarray], faces: Sequence[Sequence[Face]]
    ) -> list[list[Face]]:
        """Faces (which must carry 68 landmarks) with `embedding` filled in; one batch per frame."""
        out = []
        for frame, fs in zip(frames, faces, strict=True):
            if not fs:
                out.append([])
                continue
            shapes = self._dlib.full_object_detections()
            shapes.extend(self._shape(f) for f in fs)
            descs = self._model.compute_face_descriptor(
                np.ascontiguousarray(frame), shapes, self.jitter
            )
            out.append(
                [f.with_embedding(np.array(d), self.kind) for f, d in zip(fs, descs, strict=True)]
            )
        return out

    def _shape(self, face: Face):
        if face.landmarks is None:
            raise ValueError("the dlib encoder needs 68 landmarks; run the landmarker first")
        d = self._dlib
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        parts = [d.point(int(round(x)), int(round(y))) for x, y in face.landmarks]
        return d.full_object_detection(d.rectangle(x1, y1, x2, y2), parts)
