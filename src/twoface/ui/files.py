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
IMAGE_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}
VIDEO_FORMATS = {"mp4": ".mp4", "mov": ".mp4", "matroska": ".mkv", "webm": ".webm", "avi": ".avi"}


class UploadRefused(Exception):
    """An upload that is too large or not an image or video twoface reads (HTTP 413 / 415)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class StoredFile:
    token: str
    path: Path
    name: str  # what the user called it, for messages only
    kind: str  # "image", "video" or "result"
    info: dict = field(default_factory=dict)
    used: float = field(default_factory=time.monotonic)


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
    def receive(self, chunks, name: str) -> StoredFile:
        """Write an upload arriving as byte chunks, refusing it past `max_bytes`; then keep it
        only if it is an image or a video twoface reads."""
        token = secrets.token_urlsafe(18)
        part = self.root / f"{token}.part"
        size = 0
        try:
            with open(part, "xb") as f:
                for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise UploadRefused(
                            f"{display_name(name)}: larger than the {self.max_bytes // 2**20} MiB "
                            "upload limit",
                            413,
                        )
                    f.write(chunk)
            if size == 0:
                raise UploadRefused(f"{display_name(name)}: the file is empty", 415)
            kind, suffix, info = _identify(part, display_name(name))
            path = part.with_name(token + suffix)
            part.rename(path)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return self._keep(StoredFile(token, path, display_name(name), kind, info))

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
    """("image" | "video", the suffix to store it under, facts) from the content."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            fmt, size, frames = im.format, im.size, getattr(im, "n_frames", 1)
    except (UnidentifiedImageError, OSError, ValueError):
        fmt = None
    if fmt in IMAGE_FORMATS or (fmt == "GIF" and frames == 1):
        suffix = IMAGE_FORMATS.get(fmt, ".gif")
        return "image", suffix, {"width": size[0], "height": size[1]}
    if fmt == "GIF":
        return "video", ".gif", {"width": size[0], "height": size[1], "frames": frames}
    import av

    try:
        with av.open(str(path)) as c:
            names = set(c.format.name.split(","))
            if not c.streams.video:
                raise UploadRefused(f"{name}: no video stream in it", 415)
            v = c.streams.video[0]
            info = {
                "width": v.codec_context.width,
                "height": v.codec_context.height,
                "fps": float(v.average_rate) if v.average_rate else None,
                "seconds": float(c.duration / 1_000_000) if c.duration else None,
                "audio": bool(c.streams.audio),
            }
    except (av.FFmpegError, OSError, ValueError):
        raise UploadRefused(f"{name}: not an image or video twoface reads", 415) from None
    for key, suffix in VIDEO_FORMATS.items():
        if key in names:
            return "video", suffix, info
    raise UploadRefused(f"{name}: a {c.format.name} file; twoface takes MP4, MKV, WebM, AVI", 415)
