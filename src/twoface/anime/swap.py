"""Anime face swap: warp the source face onto the target's, keep line art crisp, take the
target's palette.

Illustrations have flat shading and dark outlines, so the photo engine's tools (shading transfer,
Poisson cloning, wide feathering) would smear lines and muddy flat colours. Here:
- geometry: with 28 landmarks on both faces, a piecewise-affine warp over the points and a ring
  around them; with boxes only (the cascade), the box mapped onto the box;
- palette: the warped source's colours moved to the target face's colour statistics in Lab
  (mean and spread per channel), so the swapped face sits in the target's colour scheme;
- mask: the landmark outline (contour and lifted brows), or an ellipse in the box, with a
  feather of a few pixels only; every pixel outside the mask is left exactly as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from twoface.anime.layout import face_outline
from twoface.registry import option, register
from twoface.swap.base import COMPOSITE, Engine, SourceFace, SwapJob
from twoface.swap.classical import piecewise_affine_maps
from twoface.types import Face


def _ring(box: np.ndarray, scale: float = 1.35) -> np.ndarray:
    """Points on an enlarged box around the face, so the warp reaches past the outline."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) * scale / 2, (box[3] - box[1]) * scale / 2
    t = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    return np.stack([cx + hw * np.cos(t), cy + hh * np.sin(t)], 1)


def _box_map(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 map from destination pixels to source pixels taking box dst onto box src."""
    sx = (src[2] - src[0]) / max(dst[2] - dst[0], 1e-6)
    sy = (src[3] - src[1]) / max(dst[3] - dst[1], 1e-6)
    return np.array([[sx, 0, src[0] - sx * dst[0]], [0, sy, src[1] - sy * dst[1]]], np.float64)


def _skin_pixels(lab: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The skin-like pixels of a region (OpenCV 8-bit Lab): light, warm and not too saturated,
    as drawn skin is. Hair (blue, green, pink ...), eyes and lines fall out."""
    px = lab[mask > 0].astype(np.float32)
    if len(px) == 0:
        return px
    a, b = px[:, 1] - 128, px[:, 2] - 128
    hue = np.degrees(np.arctan2(b, a))
    chroma = np.hypot(a, b)
    keep = (px[:, 0] > 60) & (chroma < 45) & (((hue > -15) & (hue < 100)) | (chroma < 6))
    return px[keep]


def match_palette(src: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """src's skin tone moved to ref's, both measured on the skin-like pixels inside `mask` (the
    cheeks, RGB uint8).

    Medians of skin-like pixels only: hair, eyes and background inside a face's box (blue
    hair, green eyes) must not pull the skin's colour (they turned faces blue or cyan). Chroma is
    shifted, not stretched; lightness is stretched only partly (flat anime colours have tiny
    spreads, and stretching them fully would amplify line art into noise). With too few skin
    pixels on either side the colours are left as they are rather than guessed.
    """
    a = cv2.cvtColor(src, cv2.COLOR_RGB2LAB).astype(np.float32)
    b = cv2.cvtColor(ref, cv2.COLOR_RGB2LAB).astype(np.float32)
    sa, sb = _skin_pixels(a, mask), _skin_pixels(b, mask)
    if min(len(sa), len(sb)) < max(16, 0.2 * (mask > 0).sum()):
        return src
    for c in range(3):
        mu_a, mu_b = np.median(sa[:, c]), np.median(sb[:, c])
        gain = 1.0
        if c == 0:
            gain = float(np.clip((sb[:, 0].std() + 1e-3) / (sa[:, 0].std() + 1e-3), 0.7, 1.3))
        a[..., c] = (a[..., c] - mu_a) * gain + mu_b
    return cv2.cvtColor(np.clip(a, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def _cheeks(shape, box: np.ndarray) -> np.ndarray:
    """The lower middle of a face box: cheeks and chin, below the eyes, inside the outline."""
    m = np.zeros(shape, np.uint8)
    w, h = box[2] - box[0], box[3] - box[1]
    centre = (round((box[0] + box[2]) / 2), round(box[1] + 0.76 * h))
    cv2.ellipse(m, centre, (max(1, round(0.22 * w)), max(1, round(0.1 * h))), 0, 0, 360, 255, -1)
    return m


@dataclass(frozen=True)
class AnimeOptions:
    feather: float = option(0.015, "the pasted edge's feather, times the face size")
    palette: bool = option(True, "move the source's colours to the target face's statistics (Lab)")


@register(
    "anime-swap",
    "anime",
    options=AnimeOptions,
    architecture="box-driven warp for line art (no model file)",
    consumes=("frames", "faces"),
    produces=("swapped frames",),
    label=COMPOSITE,
    summary="the line-art swap for illustrations (--anime)",
)
class AnimeEngine(Engine):
    name = "anime"
    source_type = "compositeSynthetic"  # a warp of the source drawing; no trained model

    def __init__(self, feather: float = 0.015, palette: bool = True) -> None:
        self.feather = feather  # times the face size: small, to keep outlines crisp
        self.palette = palette

    def swap(self, frames: Sequence[np.ndarray], jobs: Sequence[SwapJob]) -> list[np.ndarray]:
        out = list(frames)
        copied: set[int] = set()
        for job in jobs:
            i = job.frame_index
            if i not in copied:
                out[i] = frames[i].copy()
                copied.add(i)
            self.swap_one(out[i], job.target, job.source.faces[0])
        return out

    def swap_one(self, frame: np.ndarray, target: Face, source: SourceFace) -> None:
        h, w = frame.shape[:2]
        box = target.box.astype(np.float64)
        size = max(box[2] - box[0], box[3] - box[1])
        pad = 0.4 * size
        x0, y0 = int(max(box[0] - pad, 0)), int(max(box[1] - pad, 0))
        x1, y1 = int(min(box[2] + pad, w)), int(min(box[3] + pad, h))
        if x1 - x0 < 4 or y1 - y0 < 4:
            return
        rw, rh = x1 - x0, y1 - y0
        offset = np.array([x0, y0], np.float64)
        local_box = box - np.tile(offset, 2)
        use_points = (
            target.landmarks is not None
            and source.face.landmarks is not None
            and len(target.landmarks) == len(source.face.landmarks) == 28
        )
        fallback = _box_map(source.face.box.astype(np.float64), local_box)
        if use_points:
            dst = np.concatenate([target.landmarks - offset, _ring(local_box)])
            src = np.concatenate([source.face.landmarks, _ring(source.face.box)])
            map_x, map_y = piecewise_affine_maps(dst, src, fallback, rw, rh)
            warped = cv2.remap(
                source.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
            )
            mask = np.zeros((rh, rw), np.uint8)
            cv2.fillPoly(
                mask, [np.round(face_outline(target.landmarks - offset)).astype(np.int32)], 255
            )
        else:
            warped = cv2.warpAffine(
                source.image,
                fallback,
                (rw, rh),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT,
            )
            mask = np.zeros((rh, rw), np.uint8)
            bw, bh = local_box[2] - local_box[0], local_box[3] - local_box[1]
            cx = (local_box[0] + local_box[2]) / 2
            # The cascade's box spans the fringe to the chin: the ellipse starts at the eyes'
            # top (30% down), so the source's hair never comes along and the target's stays.
            top, bottom = local_box[1] + 0.3 * bh, local_box[1] + 0.96 * bh
            cv2.ellipse(
                mask,
                (round(cx), round((top + bottom) / 2)),
                (round(0.44 * bw), round((bottom - top) / 2)),
                0,
                0,
                360,
                255,
                -1,
            )
        region = frame[y0:y1, x0:x1]
        if self.palette:
            warped = match_palette(warped, region, _cheeks((rh, rw), local_box))
        sigma = max(self.feather * size, 0.8)
        soft = cv2.GaussianBlur(cv2.erode(mask, np.ones((3, 3), np.uint8)), (0, 0), sigma)
        alpha = (soft.astype(np.float32) / 255.0) * (mask > 0)  # nothing leaks outside the mask
        alpha = alpha[..., None]
        blended = alpha * warped.astype(np.float32) + (1 - alpha) * region.astype(np.float32)
        out = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        frame[y0:y1, x0:x1] = np.where(mask[..., None] > 0, out, region)
