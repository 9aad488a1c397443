"""Five keypoints for detectors that give only boxes, from dlib's 5-point predictor."""

from __future__ import annotations

import numpy as np

from twoface.types import Face


class Dlib5Keypoints:
    """dlib's 5 points (eye corners, nose base) mapped to the ArcFace order (eyes, nose, mouth).

    dlib has no mouth points: they are placed below the nose along the face's vertical axis,
    which is all the alignment needs.
    """

    def __init__(self) -> None:
        import dlib

        from twoface.embedded import dlib_model

        self._dlib = dlib
        self._shape5 = dlib.shape_predictor(dlib_model("shape_predictor_5_face_landmarks.dat"))

    def points(self, image: np.ndarray, rect) -> np.ndarray:
        shape = self._shape5(image, rect)
        p = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], np.float32)
        # dlib's order: right eye corners (0,1), left eye corners (2,3), nose base (4).
        eye_a, eye_b = (p[2] + p[3]) / 2, (p[0] + p[1]) / 2
        nose = p[4]
        axis = np.array([-(eye_b - eye_a)[1], (eye_b - eye_a)[0]])
        mouth_mid = nose + axis * 0.45
        return np.stack(
            [
                eye_a,
                eye_b,
                nose,
                mouth_mid - (eye_b - eye_a) * 0.4,
                mouth_mid + (eye_b - eye_a) * 0.4,
            ]
        ).astype(np.float32)

    def __call__(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        """Faces with `kps` filled from their boxes (faces that have keypoints are kept as is)."""
        img = np.ascontiguousarray(image)
        out = []
        for f in faces:
            if f.kps is not None:
                out.append(f)
                continue
            x1, y1, x2, y2 = (int(round(v)) for v in f.box)
            kps = self.points(img, self._dlib.rectangle(x1, y1, x2, y2))
            out.append(Face(box=f.box, score=f.score, kps=kps))
        return out
