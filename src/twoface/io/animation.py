"""Animated GIF and WebP, read and written with Pillow.

FFmpeg 8 cannot decode animated WebP, and its GIF encoder maps every frame to one fixed palette;
Pillow reads both formats (disposal and blending applied) and writes GIFs with a palette per frame.
Timestamps are milliseconds (time base 1/1000) because both formats store per-frame durations.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from twoface.errors import InputError
from twoface.io.credentials import seal
from twoface.io.packets import Packet, VideoPacket
from twoface.io.provenance import Label, xmp_packet

ANIMATION_EXTENSIONS = {".gif", ".webp"}
MS = Fraction(1, 1000)
DEFAULT_DURATION_MS = 100  # what browsers show for a frame that declares none


def animation_format(path: str | os.PathLike) -> str | None:
    """The format ("GIF" or "WEBP") when the file's content is one, whatever its name says."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return None
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def is_animation(path: str | os.PathLike) -> bool:
    """A GIF or WebP file with more than one frame (a still one is an image). Told by content:
    an animated GIF named `.png`, or with no extension, is an animation all the same."""
    p = Path(path)
    if not p.is_file() or animation_format(p) is None:
        return False
    from PIL import Image

    try:
        with _bomb_guard(p), Image.open(p) as im:
            return bool(getattr(im, "is_animated", False))
    except InputError:
        raise  # a canvas too large to decode: say so, whatever the extension promised
    except Exception:  # unreadable: the image reader gives the clear message
        return False


def _seek(im, i: int) -> int:
    """Go to frame i; returns its duration in ms. (Pillow fills a WebP frame's duration on load.)"""
    im.seek(i)
    if im.format == "WEBP":
        im.load()
    return int(im.info.get("duration") or DEFAULT_DURATION_MS)


MAX_FRAME_PIXELS = 8192 * 8192  # as for videos
# Pixels decoded per animation (canvas x frames), checked from the header and the frame count
# before any frame is decoded: every GIF/WebP frame is composited onto the whole canvas, so a
# 66 KB GIF of 3,000 one-pixel frames on an 8192x8192 canvas is 200 gigapixels of work (about
# 10 minutes of decoding alone). 2.5 gigapixels is 1,200 frames at 1920x1080, 2,700 at 720p.
MAX_ANIMATION_PIXELS = 2_500_000_000


def _bounded(path: Path, im, n: int) -> None:
    """A frame may grow the canvas (GIF frames can reach past the logical screen): check the
    size after every seek, not only the header's, and the work bound with the grown canvas."""
    w, h = im.size
    if w * h > MAX_FRAME_PIXELS:
        raise InputError(f"{path}: an animation frame of {w}x{h} pixels is too large")
    _check_work(path, im, n)


def _check_work(path: Path, im, n: int | None = None) -> int:
    """The frame count, once canvas x frames is known to be within MAX_ANIMATION_PIXELS (the
    count is read from the file's blocks without decoding a frame)."""
    n = getattr(im, "n_frames", 1) if n is None else n
    w, h = im.size
    if w * h * n > MAX_ANIMATION_PIXELS:
        raise InputError(
            f"{path}: an animation of {n} frames on a {w}x{h} canvas is too much to decode "
            f"({w * h * n / 1e9:.1f} gigapixels; the limit is {MAX_ANIMATION_PIXELS / 1e9:g})"
        )
    return n


@contextlib.contextmanager
def _bomb_guard(path: Path):
    """Pillow's decompression-bomb warning and error as one InputError line."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InputError(
                f"{path}: the animation declares frames too large to decode safely"
            ) from None


def animation_info(path: Path) -> tuple[int, int, int, int]:
    """(width, height, frame count, total duration in ms) without decoding every frame's pixels."""
    from PIL import Image

    try:
        with _bomb_guard(path), Image.open(path) as im:
            n = _check_work(path, im)
            total = 0
            for i in range(n):
                total += _seek(im, i)
                _bounded(path, im, n)
            return im.width, im.height, n, total
    except (OSError, ValueError, EOFError) as e:
        raise InputError(f"{path}: corrupt or truncated animation ({e})") from None


def read_animation(path: Path, trim: tuple[float, float] | None = None) -> Iterator[VideoPacket]:
    """Yield a `VideoPacket` per frame (pts in milliseconds), like `read_video`."""
    from PIL import Image

    try:
        with _bomb_guard(path), Image.open(path) as im:
            t = 0
            size = im.size
            n = _check_work(path, im)
            for i in range(n):
                duration = _seek(im, i)
                _bounded(path, im, n)
                start = t
                t += duration
                if trim is not None:
                    if start < trim[0] * 1000 - 0.5:
                        continue
                    if start >= trim[1] * 1000:
                        break
                    start -= round(trim[0] * 1000)
                frame = im.convert("RGB")
                if frame.size != size:  # the canvas grew: keep the size the output has
                    frame = frame.resize(size)
                yield VideoPacket(np.asarray(frame), start, MS)
    except (OSError, ValueError, EOFError) as e:
        raise InputError(f"{path}: corrupt or truncated animation ({e})") from None


class AnimationWriter:
    """Write an animated GIF or WebP frame by frame, so memory stays flat whatever the length.

    GIF: each frame is quantised to its own 256-colour palette and appended to the file as it
    arrives (a frame is held back only until the next one gives its duration). WebP: frames go
    to libwebp's animation encoder as they arrive, which keeps only compressed frames.
    """

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
        self.frames = 0
        self.starts: list[float] = []  # seconds, of the last two frames
        self._pending = None  # GIF: the frame waiting for its duration
        self._file = None
        self._webp = None
        self._size: tuple[int, int] | None = None

    def write_frame(self, rgb: np.ndarray, pts: int | None, time_base: Fraction | None) -> None:
        from PIL import Image

        t = float(pts * (time_base or MS)) if pts is not None else self.frames * 0.1
        im = Image.fromarray(rgb)
        if self._size is None:
            self._size = im.size
            self._open()
        elif im.size != self._size:
            im = im.resize(self._size)
        if self.gif:
            if self._pending is not None:
                self._file.add(self._pending, self._ms(t - self.starts[-1]))
            self._pending = im.quantize(256, dither=Image.Dither.FLOYDSTEINBERG)
        else:
            self._webp.add(im.convert("RGBA").getim(), round(t * 1000), False, self.quality, 100, 0)
        self.starts = [*self.starts[-1:], t]
        self.frames += 1

    def _open(self) -> None:
        if self.gif:
            comment = self.label.description.encode("utf-8") if self.label else None
            self._file = _GifStream(open(self.path, "wb"), self._size, comment)  # noqa: SIM115 (closed by close/abort)
        else:
            from PIL import _webp

            # The animation encoder Pillow's own save uses; fed frame by frame here.
            self._webp = _webp.WebPAnimEncoder(self._size, 0, 0, False, 3, 5, False, False)

    @staticmethod
    def _ms(seconds: float) -> int:
        return max(int(round(seconds * 1000)), 10)

    def write(self, packet: Packet) -> None:
        """Write a packet (audio is dropped: GIF and WebP carry no sound)."""
        if isinstance(packet, VideoPacket):
            self.write_frame(packet.frame, packet.pts, packet.time_base)

    def write_audio(self, packet, index: int) -> None:  # GIF and WebP carry no sound
        pass

    def close(self) -> None:
        self._finish()
        seal(self.path, self.label, "GIF" if self.gif else "WEBP")  # before the rename

    def _finish(self) -> None:
        if not self.frames:
            raise InputError(f"{self.path}: no frames to write")
        end = self.starts[-1] + self._last_duration()
        if self.gif:
            self._file.add(self._pending, self._ms(end - self.starts[-1]))
            self._pending = None
            self._file.close()
            return
        self._webp.add(None, round(end * 1000), False, self.quality, 100, 0)
        xmp = xmp_packet(self.label) if self.label is not None else b""
        data = self._webp.assemble(b"", b"", xmp)
        if data is None:
            raise OSError("libwebp could not assemble the animation")
        self.path.write_bytes(data)

    def abort(self) -> None:
        """Close what is open without finishing the file (the caller deletes it)."""
        if self._file is not None:
            self._file.abort()
        self._webp = None

    def _last_duration(self) -> float:
        if self.end_time is not None and self.end_time > self.starts[-1]:
            return self.end_time - self.starts[-1]
        if len(self.starts) > 1:
            return self.starts[-1] - self.starts[-2]
        return DEFAULT_DURATION_MS / 1000


def _sub_blocks(data: bytes) -> bytes:
    return b"".join(
        bytes([len(c)]) + c for c in (data[i : i + 255] for i in range(0, len(data), 255))
    )


class _GifStream:
    """An animated GIF written one frame at a time: Pillow encodes each frame as a one-frame GIF
    (its LZW data and palette), which is spliced into the file with that frame's palette as a
    local colour table and its own delay."""

    def __init__(self, f, size: tuple[int, int], comment: bytes | None) -> None:
        import struct

        self.f = f
        w, h = size
        # Header, logical screen (no global colour table), loop for ever (NETSCAPE2.0).
        f.write(b"GIF89a" + struct.pack("<HHBBB", w, h, 0, 0, 0))
        f.write(b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00")
        if comment:
            f.write(b"!\xfe" + _sub_blocks(comment) + b"\x00")

    def add(self, frame, duration_ms: int) -> None:
        import io
        import struct

        buf = io.BytesIO()
        frame.save(buf, "GIF", optimize=False)
        data = buf.getvalue()
        packed = data[10]
        table = 3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0
        gct = data[13 : 13 + table]
        pos = 13 + table
        while data[pos] == 0x21:  # extensions Pillow wrote: skip their sub-blocks
            pos += 2
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
        if data[pos] != 0x2C:
            raise OSError("unexpected GIF frame layout from Pillow")
        descriptor = bytearray(data[pos : pos + 10])
        pos += 10
        if not descriptor[9] & 0x80:  # move the global palette into a local one
            descriptor[9] |= 0x80 | (packed & 7)
            descriptor += gct
        delay = max(int(round(duration_ms / 10)), 1)
        # Graphic control: disposal 1 (leave the frame in place), the frame's delay.
        self.f.write(b"!\xf9\x04\x04" + struct.pack("<H", delay) + b"\x00\x00")
        if data[-1:] != b";":
            raise OSError("unexpected GIF frame layout from Pillow (no trailer)")
        self.f.write(bytes(descriptor) + data[pos:-1])  # LZW data, without the trailer

    def close(self) -> None:
        self.f.write(b";")
        self.f.close()

    def abort(self) -> None:
        self.f.close()
