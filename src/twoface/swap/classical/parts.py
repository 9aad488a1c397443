"""Soft maps of a face's parts from its landmarks (read by group name through the scheme), and
the share of skin round a part: what the stages cut the swap mask with."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from twoface.swap.skin import face_outline


@dataclass(frozen=True)
class PartParams:
    """How parts are drawn and when a part counts as shown (x face width)."""

    # A part's filled outline is feathered by this (at least 0.8 px).
    feather: float = 0.01
    # The ring round a feature that tells whether the face shows it, and the share of it that
    # must be skin.
    surroundings: float = 0.08
    shown: float = 0.5
    # Share of the ring round an eye that must be skin for the eye to count as shown: the far
    # eye dlib put on profile90_oldman_sidelight.jpg's background reads 0.0; the lowest shown eye
    # on the shared photos, in sidelight_beard_yaw_man.png's shadow, 0.18.
    eye_shown: float = 0.08
    # The cheeks: the outline shrunk by `cheek_inset`, the features grown by `cheek_grow`,
    # feathered by `cheek_blur`.
    cheek_inset: float = 0.05
    cheek_grow: float = 0.04
    cheek_blur: float = 0.04


PARTS = PartParams()


def ramp(x: float, start: float, width: float) -> float:
    """0 below `start`, 1 from `start + width`, linear between."""
    return float(np.clip((x - start) / width, 0.0, 1.0))


def region(shape, lm, scheme, groups, face_w, grow, p: PartParams = PARTS) -> np.ndarray:
    """Soft mask of the named landmark groups (filled outlines), grown by `grow` face widths."""
    hard = np.zeros(shape, np.uint8)
    for g in groups:
        if g == "brows":
            for part in ("brow_left", "brow_right"):
                pts = scheme.group(lm, part) if scheme.has(part) else scheme.group(lm, "brows")
                cv2.fillConvexPoly(
                    hard, np.round(cv2.convexHull(pts.astype(np.float32))).astype(np.int32), 255
                )
            continue
        pts = scheme.group(lm, g).astype(np.float32)
        cv2.fillConvexPoly(hard, np.round(cv2.convexHull(pts)).astype(np.int32), 255)
    k = max(1, int(round(grow * face_w)))
    hard = cv2.dilate(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    return cv2.GaussianBlur(hard.astype(np.float32) / 255.0, (0, 0), max(0.8, p.feather * face_w))


def cheeks(shape, lm, scheme, face_w: float, p: PartParams = PARTS) -> np.ndarray:
    """Soft map of the face's skin away from its features: inside the jaw and brows' outline
    (shrunk by 0.05 face widths), outside the eyes, brows, nose and mouth (grown by 0.04) --
    where a smile's folds and creases are, and nothing that carries the identity's shapes."""
    k = max(1, int(round(p.cheek_inset * face_w)))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    outline = cv2.erode(face_outline(shape, lm, scheme).astype(np.uint8), disc)
    parts = ("eye_left", "eye_right", "brows", "nose", "mouth_outer")
    features = region(shape, lm, scheme, parts, face_w, p.cheek_grow)
    zone = outline.astype(np.float32) * (1.0 - features)
    return cv2.GaussianBlur(zone, (0, 0), max(1.0, p.cheek_blur * face_w))


def inner_face(shape, lm, scheme) -> np.ndarray:
    """Boolean map of the inner face: the convex outline of the eyes and the nose, where the
    identity's shapes are (lids, creases, the nose's sides and nostrils) and no hair grows."""
    out = np.zeros(shape[:2], np.uint8)
    groups = ("eye_left", "eye_right", "nose")
    if not all(scheme.has(g) for g in groups):
        return out > 0
    pts = np.concatenate([scheme.group(lm, g) for g in groups])
    cv2.fillConvexPoly(out, np.round(cv2.convexHull(pts.astype(np.float32))).astype(np.int32), 1)
    return out > 0


def below_nose(shape, lm, scheme) -> np.ndarray:
    """Where a beard can be: below the nose tip, along the face's own downward axis."""
    eye_l, eye_r = scheme.eye_centres(lm)
    tip = scheme.point(lm, "nose_tip").reshape(-1)
    down = scheme.point(lm, "chin").reshape(-1) - (eye_l + eye_r) / 2
    down = down / max(float(np.linalg.norm(down)), 1e-6)
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    return (xs - tip[0]) * down[0] + (ys - tip[1]) * down[1] > 0


def unaligned(mask: np.ndarray, to_crop: np.ndarray, like: np.ndarray, border: float):
    """A mask made on an aligned crop, brought onto the pixels of `like` (`to_crop`: the 2x3
    map from those pixels to the crop's)."""
    return cv2.warpAffine(
        mask.astype(np.float32),
        to_crop,
        (like.shape[1], like.shape[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderValue=border,
    )


def ring_share(skin: np.ndarray, lm, scheme, part: str, face_w: float, p=PARTS) -> float:
    """The share of skin in a ring round a feature (a landmark group); 1 for a ring too small
    to tell."""
    inner = region(skin.shape, lm, scheme, (part,), face_w, 0.03) > 0.5
    outer = region(skin.shape, lm, scheme, (part,), face_w, p.surroundings) > 0.5
    ring = outer & ~inner
    return float(skin[ring].mean()) if ring.sum() >= 16 else 1.0


def surroundings_shown(skin: np.ndarray, lm, scheme, part: str, face_w: float, p=PARTS) -> bool:
    """Whether most of a ring round a feature (a landmark group) is the face's skin."""
    return ring_share(skin, lm, scheme, part, face_w, p) >= p.shown


def with_brow(part: str, scheme) -> tuple[str, ...]:
    """A feature and, for an eye, the brow over it (where the scheme names brows apiece)."""
    brow = f"brow_{part.removeprefix('eye_')}"
    return (part, brow) if part.startswith("eye_") and scheme.has(brow) else (part,)


def without(parts: tuple, part: str, scheme) -> tuple:
    """`parts` without `part`, and without the brow over it when it is an eye."""
    gone = with_brow(part, scheme)
    out = [p for p in parts if p not in gone]
    if len(gone) == 2 and "brows" in out:  # both brows as one group: keep the other one
        other = "brow_right" if gone[1] == "brow_left" else "brow_left"
        out = [p for p in out if p != "brows"] + [other]
    return tuple(out)


def shown_eyes(parts: tuple, skin: np.ndarray, lm, scheme, face_w: float, p=PARTS) -> tuple:
    """`parts` without the eyes (and their brows) whose surroundings show next to no skin: a
    landmark fit that put a turned face's far eye out on the background (profile90's dlib fit)
    must not paint the source's eye there. Lids and lashes darken any eye's ring, so the share
    asked of an eye is low."""
    for eye in ("eye_left", "eye_right"):
        if ring_share(skin, lm, scheme, eye, face_w, p) < p.eye_shown:
            parts = without(parts, eye, scheme)
    return parts
