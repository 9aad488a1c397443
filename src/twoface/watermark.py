"""A visible watermark: short text in the bottom-right corner, readable on light and dark frames."""

from __future__ import annotations

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
MAX_CHARS = 80


class Watermark:
    """Renders `text` once per frame size and blends it in place; cheap enough for every frame."""

    def __init__(self, text: str, opacity: float = 0.75) -> None:
        text = " ".join(text.split())
        if not text:
            raise ValueError("watermark text is empty")
        if len(text) > MAX_CHARS or not text.isascii():
            raise ValueError(f"watermark text must be printable ASCII, at most {MAX_CHARS} chars")
        self.text, self.opacity = text, opacity
        self._cache: dict[tuple[int, int], tuple[slice, slice, np.ndarray, np.ndarray]] = {}

    def _layout(self, h: int, w: int):
        # Text height about 3% of the shorter side, at least 8 px; a margin of half that.
        size = max(8.0, 0.03 * min(h, w))
        scale = size / 22.0
        thick = max(1, int(round(scale * 2)))
        (tw, th), base = cv2.getTextSize(self.text, FONT, scale, thick)
        while tw > w - 4 and scale > 0.2:  # long text on a small frame: shrink to fit
            scale *= 0.9
            thick = max(1, int(round(scale * 2)))
            (tw, th), base = cv2.getTextSize(self.text, FONT, scale, thick)
        margin = max(2, int(size / 2))
        bh, bw = th + base + 2 * thick, tw + 2 * thick
        y0, x0 = max(0, h - margin - bh), max(0, w - margin - bw)
        ink = np.zeros((bh, bw), np.uint8)
        outline = np.zeros((bh, bw), np.uint8)
        org = (thick, th + thick)
        cv2.putText(outline, self.text, org, FONT, scale, 255, thick + 2, cv2.LINE_AA)
        cv2.putText(ink, self.text, org, FONT, scale, 255, thick, cv2.LINE_AA)
        ys, xs = slice(y0, y0 + bh), slice(x0, x0 + bw)
        ink = ink[: h - y0, : w - x0].astype(np.float32)[..., None] / 255 * self.opacity
        outline = outline[: h - y0, : w - x0].astype(np.float32)[..., None] / 255 * self.opacity
        return ys, xs, ink, outline

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """Draw on `rgb` (H, W, 3) uint8 in place and return it."""
        h, w = rgb.shape[:2]
        if (h, w) not in self._cache:
            self._cache[(h, w)] = self._layout(h, w)
        ys, xs, ink, outline = self._cache[(h, w)]
        region = rgb[ys, xs].astype(np.float32)
        region *= 1 - outline  # a dark rim first, so white letters read on light frames too
        region = region * (1 - ink) + 255 * ink
        rgb[ys, xs] = np.clip(region + 0.5, 0, 255).astype(np.uint8)
        return rgb
