"""Colour and lighting transfer and seamless paste-back."""

from __future__ import annotations

import cv2
import numpy as np


def masked_blur(image: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur that only averages pixels inside `mask` (normalised convolution)."""
    m = mask.astype(np.float32)
    num = cv2.GaussianBlur(image.astype(np.float32) * m[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(m, (0, 0), sigma)
    return num / np.maximum(den, 1e-4)[..., None]


def transfer_shading(
    source: np.ndarray, target: np.ndarray, mask: np.ndarray, sigma: float
) -> np.ndarray:
    """Source detail under the target's low-frequency colour and lighting.

    Each channel of the source is scaled by blur(target) / blur(source), both blurs restricted to
    the face, so skin tone, white balance and the direction of the light come from the target and
    everything finer than `sigma` (eyes, brows, lips, pores) from the source.
    """
    src = source.astype(np.float32) + 1.0
    low_t = masked_blur(target.astype(np.float32) + 1.0, mask, sigma)
    low_s = masked_blur(src, mask, sigma)
    ratio = np.clip(low_t / np.maximum(low_s, 1.0), 0.4, 2.5)
    return np.clip(src * ratio - 1.0, 0, 255)


def poisson_paste(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Poisson (gradient-domain) clone of `source` into `target` (same size) inside `mask` (uint8).

    The clone matches the target exactly along the mask boundary, which removes any remaining
    colour step; OpenCV places the clone by the centre of the mask's bounding box, so the centre
    is computed such that the clone lands exactly where it is in `source`.
    """
    x, y, w, h = cv2.boundingRect(mask)
    if w < 3 or h < 3:
        return target.copy()
    pad = 2
    hh, ww = target.shape[:2]
    if x < pad or y < pad or x + w > ww - pad or y + h > hh - pad:
        # seamlessClone rejects masks that touch the border: pad the images (reflected) and the
        # mask (with zeros, so it no longer touches), clone, crop back.
        def grow(a: np.ndarray, mode: int) -> np.ndarray:
            return cv2.copyMakeBorder(a, pad, pad, pad, pad, mode, value=0)

        out = poisson_paste(
            grow(source, cv2.BORDER_REFLECT),
            grow(target, cv2.BORDER_REFLECT),
            grow(mask, cv2.BORDER_CONSTANT),
        )
        return out[pad:-pad, pad:-pad]
    centre = (x + w // 2, y + h // 2)
    return cv2.seamlessClone(
        np.ascontiguousarray(source), np.ascontiguousarray(target), mask, centre, cv2.NORMAL_CLONE
    )


def alpha_composite(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)[..., None]
    out = fg.astype(np.float32) * a + bg.astype(np.float32) * (1.0 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
