"""The web UI's private file store: uploads and results in one temporary folder (mode 0700),
named by random tokens. Nothing the browser sends becomes a path: it names files by token only,
and a token is looked up, never joined to a folder."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# What the browser may upload, by what the content turns out to be (not by its name).
IMAGE_FORMATS = {
    "JPEG": ".jpg",
    "MPO": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "BMP": ".bmp",
    "TIFF": ".tif",
    "GIF": ".gif",
}
# The only Pillow plugins an upload is shown to (the JPEG one also opens MPO files).
PILLOW_FORMATS = tuple(f for f in IMAGE_FORMATS if f != "MPO")
# FFmpeg demuxer -> stored suffix; a file is opened only with the one its signature names.
VIDEO_FORMATS = {"mov": ".mp4", "matroska": ".mkv", "avi": ".avi"}
MAX_VIDEO_PIXELS = 8192 * 8192  # per frame, as the CLI's video reader


class Refused(Exception):
    """A request the UI turns down with an HTTP status and one line: too large (413), too slow
    (408), too many at once (503), not a format twoface reads (415)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class UploadRefused(Refused):
    """An upload that is too large or not an image or video twoface reads (HTTP 413 / 415)."""


@dataclass
class StoredFile:
    token: str
    path: Path
    name: str  # what the user called it, for messages only
    kind: str  # "image", "video" or "result"
    info: dict = field(default_factory=dict)
    used: float = field(default_factory=time.monotonic)


class Upload:
    """One upload being written into the store's folder as `TOKEN.part`: `write` each piece
    (refused past the size limit), then `finish` (identify and keep it) or `abort` (delete it;
    harmless after `finish`)."""

    def __init__(self, store: FileStore, name: str) -> None:
        self.store, self.name = store, name
        self.token = secrets.token_urlsafe(18)
        self.part = store.root / f"{self.token}.part"
        self.size = 0
        self._file = open(self.part, "xb")  # noqa: SIM115 - closed by finish/abort
        self._done = False

    def too_large(self) -> UploadRefused:
        limit = self.store.max_bytes // 2**20
        return UploadRefused(f"{self.name}: larger than the {limit} MiB upload limit", 413)

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.store.max_bytes:
            raise self.too_large()
        try:
            self._file.write(chunk)
        except OSError as e:  # the disk is full: the server's trouble, said in one line
            raise Refused(f"{self.name}: cannot be stored ({e.strerror or e})", 507) from None

    def finish(self) -> StoredFile:
        """Identify the content (slow: call it off the event loop) and keep the file."""
        self._file.close()
        if self.size == 0:
            raise UploadRefused(f"{self.name}: the file is empty", 415)
        kind, suffix, info = _identify(self.part, self.name)
        path = self.part.with_name(self.token + suffix)
        self.part.rename(path)
        self._done = True
        return self.store._keep(StoredFile(self.token, path, self.name, kind, info))

    def abort(self) -> None:
        self._file.close()
        if not self._done:
            self.part.unlink(missing_ok=True)


def display_name(name: str) -> str:
    """A file name safe to show: its last part, printable, at most 80 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(c for c in base if c.isprintable() and c not in "<>\"'`")
    return clean[:80] or "upload"


class FileStore:
    def __init__(self, max_bytes: int, ttl_s: float = 3600.0) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="twoface-ui-"))
        os.chmod(self.root, 0o700)
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._files: dict[str, StoredFile] = {}
        self._lock = threading.Lock()

    # -- adding -------------------------------------------------------------------------------
    def begin(self, name: str) -> Upload:
        """An upload to write piece by piece (the server reads the body without a thread)."""
        return Upload(self, display_name(name))

    def receive(self, chunks, name: str) -> StoredFile:
        """Write an upload arriving as byte chunks, refusing it past `max_bytes`; then keep it
        only if it is an image or a video twoface reads."""
        upload = self.begin(name)
        try:
            for chunk in chunks:
                upload.write(chunk)
            return upload.finish()
        finally:
            upload.abort()

    def new_result(self, suffix: str, name: str) -> StoredFile:
        token = secrets.token_urlsafe(18)
        return self._keep(StoredFile(token, self.root / f"{token}{suffix}", name, "result"))

    def _keep(self, f: StoredFile) -> StoredFile:
        with self._lock:
            self._files[f.token] = f
        return f

    # -- finding and forgetting ------------------------------------------------------------------
    def get(self, token: str, kinds: tuple[str, ...] = ("image", "video", "result")) -> StoredFile:
        if not isinstance(token, str) or not TOKEN.match(token):
            raise KeyError(token)
        with self._lock:
            f = self._files[token]
        if f.kind not in kinds:
            raise KeyError(token)
        f.used = time.monotonic()
        return f

    def remove(self, token: str) -> bool:
        with self._lock:
            f = self._files.pop(token, None)
        if f is None:
            return False
        f.path.unlink(missing_ok=True)
        return True

    def expire(self) -> int:
        """Forget (and delete) what has not been used for `ttl_s`."""
        now = time.monotonic()
        with self._lock:
            old = [t for t, f in self._files.items() if now - f.used > self.ttl_s]
        return sum(self.remove(t) for t in old)

    def close(self) -> None:
        """Delete the whole folder: uploads and results do not outlive the UI."""
        with self._lock:
            self._files.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def _identify(path: Path, name: str) -> tuple[str, str, dict]:
    """("image" | "video", the suffix to store it under, facts) from the content.

    Only the decoders twoface reads with are ever asked: Pillow for the image formats of
    IMAGE_FORMATS (never its EPS plugin, which runs Ghostscript), FFmpeg only with the demuxer
    the file's signature names (never a probe: that would reach SVG, concat lists, playlists and
    image sequences). Sizes are checked from the headers, before any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    from twoface.io.animation import MAX_ANIMATION_PIXELS
    from twoface.io.image import MAX_PIXELS

    try:
        with Image.open(path, formats=PILLOW_FORMATS) as im:
            fmt, (w, h), frames = im.format, im.size, getattr(im, "n_frames", 1)
    except Image.DecompressionBombError:
        limit = f"limit {MAX_PIXELS / 1e6:.0f} megapixels"
        raise UploadRefused(f"{name}: image too large to decode safely ({limit})", 413) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        fmt = None
    except Exception:  # a crafted header trips a plugin (struct.error, IndexError ...): unread
        fmt = None
    if fmt is not None:
        if w * h > MAX_PIXELS:
            raise UploadRefused(
                f"{name}: image too large to decode safely ({w}x{h} = {w * h / 1e6:.0f} "
                f"megapixels, limit {MAX_PIXELS / 1e6:.0f})",
                413,
            )
        if frames == 1 or fmt not in ("GIF", "WEBP"):
            return "image", IMAGE_FORMATS[fmt], {"width": w, "height": h}
        # An animation: its decoding work is canvas x frames (a 66 KB GIF can declare 8192x8192
        # x 3000), refused past the CLI reader's bound before any frame is decoded.
        if w * h * frames > MAX_ANIMATION_PIXELS:
            raise UploadRefused(
                f"{name}: an animation too large to read ({w}x{h} canvas x {frames} frames, "
                f"limit {MAX_ANIMATION_PIXELS / 1e9:g} gigapixels)",
                413,
            )
        return "video", IMAGE_FORMATS[fmt], {"width": w, "height": h, "frames": frames}
    return _identify_video(path, name)


def _demuxer(path: Path) -> str | None:
    """The FFmpeg demuxer the file's signature names, among those twoface takes."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
        return "mov"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


def _identify_video(path: Path, name: str) -> tuple[str, str, dict]:
    import av

    demuxer = _demuxer(path)
    if demuxer is None:
        raise UploadRefused(f"{name}: not an image or video twoface reads", 415)
    try:
        with av.open(str(path), format=demuxer) as c:
            video = [s for s in c.streams.video if s.codec_context is not None]
            if not video:
                raise UploadRefused(f"{name}: no video stream in it", 415)
            v = video[0]
            w, h = v.codec_context.width, v.codec_context.height
            info = {
                "width": w,
                "height": h,
                "fps": float(v.average_rate) if v.average_rate else None,
                "seconds": float(c.duration / 1_000_000) if c.duration else None,
                "audio": bool(c.streams.audio),
            }
    except (av.FFmpegError, OSError, ValueError, ZeroDivisionError):
        raise UploadRefused(f"{name}: not an image or video twoface reads", 415) from None
    if not (0 < w * h <= MAX_VIDEO_PIXELS):
        raise UploadRefused(f"{name}: video frames of {w}x{h} pixels are too large", 415)
    return "video", VIDEO_FORMATS[demuxer], info
