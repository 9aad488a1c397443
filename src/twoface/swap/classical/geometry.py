"""The warp's geometry: extended landmark points, Delaunay triangles, piecewise-affine remap
tables, how far the warp stretches the source, and a source made to face like the target."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from twoface.geometry import estimate_similarity
from twoface.schemes import scheme_of
from twoface.swap.base import SourceFace, SourceIdentity
from twoface.types import Face


@dataclass(frozen=True)
class WarpParams:
    """The warp's constants (x face width unless said)."""

    # The ring of points outside the jaw, from the nose's centre (1 = on the jaw): the warp
    # carries the source's cheeks up to the face's outline and a little beyond.
    ring: float = 1.25
    # Points over the brows, along the face's upward axis (x brows-to-chin distance): the lower
    # forehead follows the target.
    forehead: float = 0.35
    # Margin of the working crop round the points (the mask's feather stays inside it), plus
    # MARGIN_PX pixels.
    margin: float = 0.1
    margin_px: int = 4
    # Faces are swapped at most this wide (ear to ear, pixels), then scaled back: a 1,040-px
    # face (hard/frontal_neutral_man.jpg) took 42 s at full size, ~1 s at 320.
    work_face: float = 320.0
    # A source area spread over more than `stretch` times its share of the face starts giving
    # way to the target's skin, all of it `stretch_ramp` further (profile75_woman's near cheek:
    # up to 4.6x against a frontal source; frontal pairs stay below 1.3x); the map blurred
    # `stretch_blur` so it is smooth across the triangles.
    stretch: float = 1.6
    stretch_ramp: float = 1.0
    stretch_blur: float = 0.05


@dataclass(frozen=True)
class FacingParams:
    """When the source is mirrored or made symmetric before the warp (yaw_sign units: -1..1)."""

    # Sources and targets whose yaw differs by at most this are warped as they are.
    mirror_yaw: float = 0.4
    # A target turned by more than this the other way from the source gets the mirrored photo;
    # otherwise the visible half is mirrored onto the foreshortened one.
    frontal_yaw: float = 0.15
    # Width of the blend across the face's midline (x face width).
    midline_feather: float = 0.06


WARP = WarpParams()
FACING = FacingParams()


def extended_points(lm: np.ndarray, p: WarpParams = WARP) -> np.ndarray:
    """The landmarks + the jaw pushed outwards (a ring) + points over the brows (forehead)."""
    lm = np.asarray(lm, np.float64)
    s = scheme_of(lm)
    jaw, brows = s.group(lm, "jaw"), s.group(lm, "brows")
    centre = s.group(lm, "nose").mean(0)
    ring = centre + (jaw - centre) * p.ring
    up = brows.mean(0) - s.point(lm, "chin")
    forehead = brows + up * p.forehead
    return np.concatenate([lm, ring, forehead])


def _triangles(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Delaunay triangles over `points` as index triples."""
    subdiv = cv2.Subdiv2D((-width, -height, 3 * width, 3 * height))
    index = {}
    # Subdiv2D keeps float32 coordinates: the keys must be float32 values too, or a point
    # computed in float64 (a scaled-down large face's) is never found and no triangle is kept.
    for i, (x, y) in enumerate(np.asarray(points, np.float32)):
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
    dst_pts: np.ndarray,
    src_pts: np.ndarray,
    fallback: np.ndarray,
    width: int,
    height: int,
    inner: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Remap tables (for cv2.remap) that pull each destination pixel from the source image.

    Pixels inside a triangle use that triangle's affine map; pixels outside all triangles use
    `fallback` (a 2x3 destination-to-source similarity), so the warp covers the whole crop.
    With `inner`, only the triangles whose corners are all among the first `inner` points.
    """
    tris = _triangles(dst_pts, width, height)
    if inner is not None and len(tris):
        tris = tris[(tris < inner).all(1)]
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


def stretched(
    map_x, map_y, to_source: np.ndarray, face_w: float, p: WarpParams = WARP
) -> np.ndarray | None:
    """0..1 per crop pixel: how far the warp stretches the source there beyond the face's own
    scale (the similarity `to_source`): 0 up to `p.stretch` times the area, 1 from
    `p.stretch + p.stretch_ramp`; smooth across the warp's triangles. None where nothing is
    stretched."""
    scale = abs(float(np.linalg.det(to_source[:, :2])))
    jxx, jxy = np.gradient(map_x, axis=1), np.gradient(map_x, axis=0)
    jyx, jyy = np.gradient(map_y, axis=1), np.gradient(map_y, axis=0)
    area = np.abs(jxx * jyy - jxy * jyx)  # source area per crop pixel
    stretch = scale / np.maximum(area, 1e-6)
    amount = np.clip((stretch - p.stretch) / p.stretch_ramp, 0.0, 1.0).astype(np.float32)
    if amount.max() <= 0:
        return None
    return cv2.GaussianBlur(amount, (0, 0), max(1.0, p.stretch_blur * face_w))


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


def facing(image, lm, target_lm, scheme, p: FacingParams = FACING):
    """The source photo made to face like the target when their poses differ by far: faces are
    near symmetric. Turned the other way (the target clearly so): the whole photo mirrored.
    Otherwise (e.g. a turned source onto a frontal target): the better-visible half mirrored onto
    the foreshortened one, so the warp does not stretch the narrow half across the face."""
    from twoface.swap.skin import yaw_sign

    if scheme.flip is None:
        return image, lm
    ys, yt = yaw_sign(lm, scheme), yaw_sign(target_lm, scheme)
    if abs(ys - yt) <= p.mirror_yaw:
        return image, lm
    if ys * yt < 0 and abs(yt) > p.frontal_yaw:
        return np.ascontiguousarray(image[:, ::-1]), scheme.mirrored(lm, image.shape[1])
    return symmetric(image, lm, scheme, ys, p), lm


def symmetric(
    image: np.ndarray, lm: np.ndarray, scheme, yaw: float, p: FacingParams = FACING
) -> np.ndarray:
    """`image` with the face's foreshortened half replaced by its other half, mirrored and
    warped into place (the landmarks stay where they were)."""
    h, w = image.shape[:2]
    lm = np.asarray(lm, np.float64)
    fw = scheme.face_width(lm)
    flipped = np.ascontiguousarray(image[:, ::-1])
    lm_f = scheme.mirrored(lm, w).astype(np.float64)
    pts = extended_points(lm)
    margin = int(WARP.margin * fw) + WARP.margin_px
    x0, y0 = max(int(pts[:, 0].min()) - margin, 0), max(int(pts[:, 1].min()) - margin, 0)
    x1, y1 = min(int(pts[:, 0].max()) + margin, w), min(int(pts[:, 1].max()) + margin, h)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return image
    n = len(lm)
    dst = pts - (x0, y0)
    src = extended_points(lm_f)
    fallback = estimate_similarity(dst[:n], src[:n])
    map_x, map_y = piecewise_affine_maps(dst, src, fallback, x1 - x0, y1 - y0)
    mirrored = cv2.remap(flipped, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # The face's midline: a line x = a*y + b through the nose points; the hidden half is on
    # the side the nose points to.
    nose = scheme.group(lm, "nose") - (x0, y0)
    a, b = (
        np.polyfit(nose[:, 1], nose[:, 0], 1)
        if np.ptp(nose[:, 1]) > 1
        else (0.0, nose[:, 0].mean())
    )
    ys, xs = np.mgrid[0 : y1 - y0, 0 : x1 - x0].astype(np.float32)
    side = (xs - (a * ys + b)) * (1.0 if yaw > 0 else -1.0)
    weight = np.clip(side / max(p.midline_feather * fw, 1.0) + 0.5, 0.0, 1.0)[..., None]
    out = image.copy()
    region = image[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(weight * mirrored + (1 - weight) * region + 0.5, 0, 255).astype(
        np.uint8
    )
    return out
