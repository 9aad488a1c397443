"""Animated GIF and WebP, read and written with Pillow.

FFmpeg 8 cannot decode animated WebP, and its GIF encoder maps every frame to one fixed palette;
Pillow reads both formats (disposal and blending applied) and writes GIFs with a palette per frame.
Timestamps are milliseconds (time base 1/1000) because both formats store per-frame durations.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from twoface.errors import InputError
from twoface.io.provenance import Label, xmp_packet

ANIMATION_EXTENSIONS = {".gif", ".webp"}
MS = Fraction(1, 1000)
DEFAULT_DURATION_MS = 100  # what browsers show for a frame that declares none


def is_animation(path: str | os.PathLike) -> bool:
    """A GIF or WebP file with more than one frame (a still one is an image)."""
    p = Path(path)
    if p.suffix.lower() not in ANIMATION_EXTENSIONS or not p.is_file():
        return False
    from PIL import Image

    try:
        with Image.open(p) as im:
            return bool(getattr(im, "is_animated", False))
    except Exception:  # unreadable: the image reader gives the clear message
        return False


def _seek(im, i: int) -> int:
    """Go to frame i; returns its duration in ms. (Pillow fills a WebP frame's duration on load.)"""
    im.seek(i)
    if im.format == "WEBP":
        im.load()
    return int(im.info.get("duration") or DEFAULT_DURATION_MS)


def animation_info(path: Path) -> tuple[int, int, int, int]:
    """(width, height, frame count, total duration in ms) without decoding every frame's pixels."""
    from PIL import Image

    with Image.open(path) as im:
        n = getattr(im, "n_frames", 1)
        total = 0
        for i in range(n):
            total += _seek(im, i)
        return im.width, im.height, n, total


def read_animation(path: Path, trim: tuple[float, float] | None = None) -> Iterator[tuple]:
    """Yield ("video", rgb, (pts_ms, 1/1000)) per frame, like `read_video`."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            t = 0
            for i in range(getattr(im, "n_frames", 1)):
                duration = _seek(im, i)
                start = t
                t += duration
                if trim is not None:
                    if start < trim[0] * 1000 - 0.5:
                        continue
                    if start >= trim[1] * 1000:
                        break
                    start -= round(trim[0] * 1000)
                yield "video", np.asarray(im.convert("RGB")), (start, MS)
    except (OSError, ValueError, EOFError) as e:
        raise InputError(f"{path}: corrupt or truncated animation ({e})") from None


class AnimationWriter:
    """Collect frames and write one animated GIF or WebP on close (these files are small)."""

    def __init__(
        self,
        path: str | os.PathLike,
        label: Label | None,
        quality: int = 90,
        end_time: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.end_time = end_time  # seconds; gives the last frame its duration
        self.label = label
        self.quality = quality
        self.gif = self.path.suffix.lower() == ".gif"
        self.frames: list = []
        self.starts: list[float] = []  # seconds

    def write_frame(self, rgb: np.ndarray, pts: int | None, time_base: Fraction | None) -> None:
        from PIL import Image

        im = Image.fromarray(rgb)
        # A GIF frame holds 256 colours: quantise now so only palette images wait in memory.
        self.frames.append(im.quantize(256, dither=Image.Dither.FLOYDSTEINBERG) if self.gif else im)
        t = float((pts or 0) * (time_base or MS)) if pts is not None else len(self.starts) * 0.1
        self.starts.append(t)

    def write_audio(self, packet, index: int) -> None:  # GIF and WebP carry no sound
        pass

    def close(self) -> None:
        if not self.frames:
            raise InputError(f"{self.path}: no frames to write")
        ends = self.starts[1:] + [self.starts[-1] + (self._last_duration())]
        durations = [
            max(int(round((b - a) * 1000)), 10) for a, b in zip(self.starts, ends, strict=True)
        ]
        first, rest = self.frames[0], self.frames[1:]
        options: dict = dict(save_all=True, append_images=rest, duration=durations, loop=0)
        if self.gif:
            if self.label is not None:
                options["comment"] = self.label.description
            first.save(self.path, format="GIF", optimize=False, disposal=1, **options)
        else:
            if self.label is not None:
                options["xmp"] = xmp_packet(self.label)
            first.save(self.path, format="WEBP", quality=self.quality, **options)

    def _last_duration(self) -> float:
        if self.end_time is not None and self.end_time > self.starts[-1]:
            return self.end_time - self.starts[-1]
        if len(self.starts) > 1:
            return self.starts[-1] - self.starts[-2]
        return DEFAULT_DURATION_MS / 1000
