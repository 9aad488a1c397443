"""Synthetic clips for the video tests: faces from the shared photos, chosen timestamps and audio."""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np


def face_frame(photo_rgb: np.ndarray, size=(320, 240), shift: int = 0) -> np.ndarray:
    """The photo scaled into a frame of `size`, moved `shift` pixels right (edges repeated)."""
    w, h = size
    frame = cv2.resize(photo_rgb, (w, h), interpolation=cv2.INTER_AREA)
    if shift:
        frame = np.roll(frame, shift, axis=1)
    return np.ascontiguousarray(frame)


def write_clip(
    path,
    frames: list[np.ndarray],
    pts_ms: list[int] | None = None,
    rate: int = 10,
    codec: str = "libx264",
    audio: str | None = None,
    audio_seconds: float | None = None,
    rotation: int = 0,
    full_range: bool = False,
    options: dict | None = None,
    pix_fmt: str = "yuv420p",
) -> None:
    """Encode RGB frames; timestamps in ms (time base 1/1000) when given, else at `rate`.

    audio: an audio encoder name ("aac", "pcm_s16le", ...) for a 440 Hz tone covering the clip.
    rotation: display rotation (degrees counter-clockwise) written as metadata.
    """
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = pix_fmt
        if options:
            s.options = options
        if pts_ms is not None:
            s.time_base = s.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            s.set_display_rotation(rotation)
        if full_range:
            s.codec_context.color_range = 2
        a = None
        if audio:
            a = c.add_stream(audio, rate=44100)
            a.layout = "mono"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf = vf.reformat(format=pix_fmt, dst_color_range=2 if full_range else None)
            if pts_ms is not None:
                vf.pts, vf.time_base = pts_ms[i], Fraction(1, 1000)
            else:
                vf.pts, vf.time_base = i, Fraction(1, rate)
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
        if a is not None:
            seconds = audio_seconds or len(frames) / rate
            n = int(seconds * 44100)
            t = np.arange(n) / 44100
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            fmt = a.codec_context.format.name
            chunk = 1024
            for k in range(0, n, chunk):
                part = tone[k : k + chunk]
                arr = (part * 32767).astype(np.int16)[None] if fmt.startswith("s16") else part[None]
                af = av.AudioFrame.from_ndarray(arr, format=fmt, layout="mono")
                af.sample_rate, af.pts = 44100, k
                for p in a.encode(af):
                    c.mux(p)
            for p in a.encode(None):
                c.mux(p)


def decode(path) -> tuple[list[np.ndarray], list[int], list]:
    """Frames (as displayed: rotation not applied), their pts, and the frame objects' metadata."""
    frames, pts, meta = [], [], []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24", src_color_range=f.color_range or None))
            pts.append(f.pts)
            meta.append((f.rotation, f.color_range))
    return frames, pts, meta


def audio_seconds(path) -> list[tuple[str, float]]:
    """(codec, seconds of decoded samples) per audio stream."""
    out = []
    with av.open(str(path)) as c:
        for s in c.streams.audio:
            n = sum(f.samples for f in c.decode(s))
            out.append((s.codec_context.name, n / s.codec_context.sample_rate))
            c.seek(0)
    return out
