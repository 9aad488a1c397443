"""The classical, model-free swap: landmark-driven warp, shading transfer, Poisson blend.

For each target face: the chosen source photo is warped piecewise-affinely (Delaunay triangles
over the 68 landmarks plus a ring around the jaw and points over the forehead) onto the target's
geometry; the warped face takes the target's low-frequency colour and lighting; a soft mask of the
inner face and brows (minus an open mouth's interior) is Poisson-cloned and feathered into the
target. Everything happens in a crop around the face, so cost follows face size, not frame size.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from twoface.blend import alpha_composite, poisson_paste, transfer_shading
from twoface.geometry import estimate_similarity
from twoface.mask import OPEN_MOUTH, face_mask, mouth_open_ratio
from twoface.schemes import scheme_of
from twoface.swap.base import Engine, SourceFace, SourceIdentity, SwapJob
from twoface.types import Face


def extended_points(lm: np.ndarray) -> np.ndarray:
    """The landmarks + the jaw pushed outwards (a ring) + points over the brows (forehead)."""
    lm = np.asarray(lm, np.float64)
    s = scheme_of(lm)
    jaw, brows = s.group(lm, "jaw"), s.group(lm, "brows")
    centre = s.group(lm, "nose").mean(0)
    ring = centre + (jaw - centre) * 1.25
    up = brows.mean(0) - s.point(lm, "chin")
    forehead = brows + up * 0.35
    return np.concatenate([lm, ring, forehead])


def _triangles(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Delaunay triangles over `points` as index triples."""
    subdiv = cv2.Subdiv2D((-width, -height, 3 * width, 3 * height))
    index = {}
    for i, (x, y) in enumerate(points):
        key = (float(x), float(y))
        if key in index:
            continue
        index[key] = i
        subdiv.insert(key)
    tris = []
    for t in subdiv.getTriangleList():
        pts = [(float(t[0]), float(t[1])), (float(t[2]), float(t[3])), (float(t[4]), float(t[5]))]
        if all(p in index for p in pts):
            tris.append([index[p] for p in pts])
    return np.array(tris, np.int32)


def piecewise_affine_maps(
    dst_pts: np.ndarray, src_pts: np.ndarray, fallback: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """Remap tables (for cv2.remap) that pull each destination pixel from the source image.

    Pixels inside a triangle use that triangle's affine map; pixels outside all triangles use
    `fallback` (a 2x3 destination-to-source similarity), so the warp covers the whole crop.
    """
    tris = _triangles(dst_pts, width, height)
    labels = np.full((height, width), -1, np.int32)
    mats = np.zeros((len(tris) + 1, 2, 3), np.float64)
    mats[-1] = fallback
    for k, tri in enumerate(tris):
        mats[k] = cv2.getAffineTransform(
            dst_pts[tri].astype(np.float32), src_pts[tri].astype(np.float32)
        )
        cv2.fillConvexPoly(labels, np.round(dst_pts[tri]).astype(np.int32), k)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    m = mats[labels].astype(np.float32)  # label -1 picks the fallback
    map_x = m[..., 0, 0] * xs + m[..., 0, 1] * ys + m[..., 0, 2]
    map_y = m[..., 1, 0] * xs + m[..., 1, 1] * ys + m[..., 1, 2]
    return map_x, map_y


def pose_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Shape difference of two landmark sets after removing position, scale and rotation."""
    m = estimate_similarity(a, b)
    moved = a @ m[:, :2].T + m[:, 2]
    scale = scheme_of(b).face_width(b)
    return float(np.linalg.norm(moved - b, axis=1).mean() / max(scale, 1e-6))


def pick_source(identity: SourceIdentity, target: Face) -> SourceFace:
    """The source photo whose head pose and expression are closest to the target's."""
    if len(identity.faces) == 1:
        return identity.faces[0]
    return min(identity.faces, key=lambda s: pose_distance(s.face.landmarks, target.landmarks))


class ClassicalEngine(Engine):
    name = "classical"
    source_type = "compositeSynthetic"  # a warp of the source photo; no trained model

    def __init__(
        self, shading_sigma: float = 0.12, poisson: bool = True, keep_open_mouth: bool = True
    ) -> None:
        self.shading_sigma = shading_sigma  # times the face width
        self.poisson = poisson
        self.keep_open_mouth = keep_open_mouth

    def swap(self, frames: Sequence[np.ndarray], jobs: Sequence[SwapJob]) -> list[np.ndarray]:
        out = list(frames)
        touched: set[int] = set()
        for job in jobs:
            if job.frame_index not in touched:
                out[job.frame_index] = out[job.frame_index].copy()
                touched.add(job.frame_index)
            self.swap_one(out[job.frame_index], job.target, pick_source(job.source, job.target))
        return out

    def swap_one(self, frame: np.ndarray, target: Face, source: SourceFace) -> None:
        """Swap one face of `frame` in place."""
        if target.landmarks is None or source.face.landmarks is None:
            raise ValueError("the classical swapper needs landmarks on both faces")
        if len(target.landmarks) != len(source.face.landmarks):
            raise ValueError("source and target landmarks must come from one scheme")
        h, w = frame.shape[:2]
        n = len(target.landmarks)
        dst = extended_points(target.landmarks)
        src = extended_points(source.face.landmarks)
        face_w = scheme_of(target.landmarks).face_width(target.landmarks)
        margin = int(face_w * 0.1) + 4
        x0 = max(int(np.floor(dst[:, 0].min())) - margin, 0)
        y0 = max(int(np.floor(dst[:, 1].min())) - margin, 0)
        x1 = min(int(np.ceil(dst[:, 0].max())) + margin, w)
        y1 = min(int(np.ceil(dst[:, 1].max())) + margin, h)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return
        offset = np.array([x0, y0], np.float64)
        dst_local = dst - offset
        lm_local = target.landmarks.astype(np.float64) - offset
        fallback = estimate_similarity(dst_local[:n], src[:n])
        map_x, map_y = piecewise_affine_maps(dst_local, src, fallback, x1 - x0, y1 - y0)
        warped = cv2.remap(
            source.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        crop = frame[y0:y1, x0:x1]
        source_open = mouth_open_ratio(source.face.landmarks) > OPEN_MOUTH
        soft = face_mask(
            crop.shape[:2],
            lm_local,
            keep_open_mouth=self.keep_open_mouth,
            source_mouth_open=source_open,
        )
        hard = (soft > 0.02).astype(np.uint8)
        if hard.sum() < 16:
            return
        sigma = max(1.0, self.shading_sigma * face_w)
        shaded = transfer_shading(warped, crop, hard, sigma).astype(np.uint8)
        if self.poisson:
            shaded = poisson_paste(shaded, crop, hard * 255)
        frame[y0:y1, x0:x1] = alpha_composite(shaded, crop, soft)
