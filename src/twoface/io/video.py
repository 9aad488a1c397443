"""Video files in and out with PyAV (FFmpeg's libraries inside the wheel; no system ffmpeg).

Frames keep their own timestamps (variable frame rate safe); audio packets are copied without
re-encoding; the synthetic-media label goes into the container's metadata.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from twoface.errors import InputError, UsageError
from twoface.io.image import check_input_file
from twoface.io.provenance import Label

VIDEO_EXTENSIONS = {".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v"}
# Output extension -> (container format, default video codec, pixel format)
WRITE_CONTAINERS = {
    ".mp4": ("mp4", "libx264", "yuv420p"),
    ".m4v": ("mp4", "libx264", "yuv420p"),
    ".mov": ("mov", "libx264", "yuv420p"),
    ".mkv": ("matroska", "libx264", "yuv420p"),
    ".webm": ("webm", "libvpx-vp9", "yuv420p"),
}
MAX_VIDEO_PIXELS = 8192 * 8192


def is_video_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True, slots=True)
class VideoInfo:
    width: int
    height: int
    frames: int  # as the container declares it (0 when unknown)
    rate: Fraction
    time_base: Fraction
    codec: str
    audio_streams: int


def probe(path: str | os.PathLike) -> VideoInfo:
    import av

    p = check_input_file(path)
    try:
        with av.open(str(p)) as c:
            if not c.streams.video:
                raise InputError(f"{p}: no video stream")
            v = c.streams.video[0]
            w, h = v.codec_context.width, v.codec_context.height
            if w <= 0 or h <= 0 or w * h > MAX_VIDEO_PIXELS:
                raise InputError(f"{p}: unsupported video dimensions {w}x{h}")
            return VideoInfo(
                w,
                h,
                v.frames or 0,
                v.average_rate or Fraction(25),
                v.time_base or Fraction(1, 90000),
                v.codec_context.name,
                len(c.streams.audio),
            )
    except InputError:
        raise
    except av.FFmpegError as e:
        raise InputError(f"{p}: not a readable video ({e.strerror or type(e).__name__})") from None


def read_video(path: str | os.PathLike) -> Iterator[tuple[str, object, object]]:
    """Yield ("video", rgb array, (pts, time_base)) and ("audio", packet, stream index) in order."""
    import av

    p = Path(path)
    try:
        with av.open(str(p)) as c:
            v = c.streams.video[0]
            v.thread_type = "AUTO"
            audio = list(c.streams.audio)
            for packet in c.demux(v, *audio):
                if packet.stream.type == "audio":
                    if packet.dts is not None:
                        yield "audio", packet, audio.index(packet.stream)
                    continue
                for frame in packet.decode():
                    yield "video", frame.to_ndarray(format="rgb24"), (frame.pts, frame.time_base)
    except av.FFmpegError as e:
        raise InputError(
            f"{p}: corrupt or undecodable video ({e.strerror or type(e).__name__})"
        ) from None


class VideoWriter:
    """Encode RGB frames at given timestamps and copy audio packets; open one per output."""

    def __init__(
        self,
        path: str | os.PathLike,
        source: str | os.PathLike,
        info: VideoInfo,
        label: Label | None,
        crf: int = 18,
        preset: str = "medium",
        codec: str | None = None,
    ) -> None:
        import av

        ext = Path(path).suffix.lower()
        if ext not in WRITE_CONTAINERS:
            raise UsageError(
                f"{path}: unsupported video output extension {ext!r}; use one of "
                f"{', '.join(sorted(WRITE_CONTAINERS))}"
            )
        fmt, default_codec, pix = WRITE_CONTAINERS[ext]
        self.container = av.open(str(path), "w", format=fmt)
        if label is not None:
            self.container.metadata.update(
                {
                    "comment": label.description,
                    "description": label.description,
                    "encoder": label.tool,
                    "digital_source_type": label.source_type,
                }
            )
        self.stream = self.container.add_stream(codec or default_codec, rate=info.rate)
        self.stream.width, self.stream.height = info.width, info.height
        self.stream.pix_fmt = pix
        self.stream.time_base = info.time_base
        name = self.stream.codec_context.name
        if name in ("libx264", "libx265"):
            self.stream.options = {"crf": str(crf), "preset": preset}
        elif name == "libvpx-vp9":
            self.stream.options = {"crf": str(crf + 13), "b": "0"}
        with av.open(str(source)) as src:
            self.audio = [self.container.add_stream_from_template(a) for a in src.streams.audio]
        self._av = av

    def write_frame(self, rgb: np.ndarray, pts: int | None, time_base: Fraction | None) -> None:
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = pts
        if time_base is not None:
            frame.time_base = time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def write_audio(self, packet, index: int) -> None:
        packet.stream = self.audio[index]
        self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()


def read_video_label(path: str | os.PathLike) -> Label | None:
    import av

    from twoface.io.provenance import parse_description

    try:
        with av.open(str(path)) as c:
            meta = dict(c.metadata)
    except (av.FFmpegError, OSError):
        return None
    for key in ("comment", "description", "DESCRIPTION", "COMMENT"):
        label = parse_description(meta.get(key, ""))
        if label:
            return label
    return None
