"""Video files in and out with PyAV (FFmpeg's libraries inside the wheel; no system ffmpeg).

Frames keep their own timestamps (variable frame rate safe); frames are handed out upright (the
rotation metadata applied) and turned back on writing, with the same rotation metadata, colour
range and colour tags; audio packets are copied without re-encoding where the output container
takes the codec, else re-encoded (AAC, or Opus for WebM); the synthetic-media label goes into the
container's metadata, and MP4/MOV outputs get a signed C2PA manifest (twoface.io.credentials).
Animated GIF/WebP go through `twoface.io.animation`.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from twoface.errors import InputError, UsageError
from twoface.io.animation import (
    ANIMATION_EXTENSIONS,
    MS,
    AnimationWriter,
    animation_format,
    animation_info,
    is_animation,
    read_animation,
)
from twoface.io.credentials import seal
from twoface.io.image import check_input_file, check_not_folder
from twoface.io.packets import AudioPacket, Packet, VideoPacket
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
OUTPUT_EXTENSIONS = sorted([*WRITE_CONTAINERS, *ANIMATION_EXTENSIONS])
# Audio codecs each container takes as they are (None: any). Others are re-encoded.
AUDIO_COPY = {
    "mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"},
    "mov": {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s16be", "pcm_s24le"},
    "matroska": None,
    "webm": {"opus", "vorbis"},
}
MAX_VIDEO_PIXELS = 8192 * 8192
# The containers twoface reads, told apart by their first bytes, and the one FFmpeg demuxer that
# opens each. Left to guess, FFmpeg also opens lists and playlists (concat, HLS, image sequences
# ...) that make it read other files named inside them: a crafted "clip.mp4" could read any file
# beside it (in the web UI, other users' uploads). The first box of an ISO file (MP4, MOV, M4V)
# is one of ISO_BOXES; Matroska and WebM start with the EBML magic; AVI is a RIFF "AVI " file.
ISO_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"styp"}
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
READ_CONTAINERS = "MP4/MOV, Matroska/WebM or AVI"
NAMED_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}
# Encoder options checked before any work starts.
CRF_RANGE = {"libx264": (0, 51), "libx265": (0, 51), "libvpx-vp9": (0, 50)}
X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)


def check_encoder_options(crf: int, preset: str, codec: str) -> None:
    """UsageError for a CRF outside the codec's range or a preset name it does not know."""
    lo, hi = CRF_RANGE[codec]
    if not lo <= crf <= hi:
        raise UsageError(f"crf {crf}: {codec} takes {lo} to {hi} (lower is better)", "crf")
    if codec in ("libx264", "libx265") and preset not in X26X_PRESETS:
        raise UsageError(
            f"preset {preset}: not an x264/x265 preset; use one of {', '.join(X26X_PRESETS)}",
            "preset",
        )


def default_codec(output: str | os.PathLike) -> str | None:
    """The video codec an output extension gets by default (None for GIF/WebP animations)."""
    spec = WRITE_CONTAINERS.get(Path(output).suffix.lower())
    return spec[1] if spec else None


def quiet_codec_logs(verbose: bool = False) -> None:
    """FFmpeg's (and x264's) log lines go to stderr only when asked for (--verbose)."""
    import av.logging

    av.logging.set_level(av.logging.VERBOSE if verbose else None)


def container_format(path: str | os.PathLike) -> str | None:
    """The FFmpeg demuxer for a video file by its signature ("mov", "matroska", "avi"), or None
    when its content is none of the containers twoface reads."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return None
    if len(head) >= 8 and head[4:8] in ISO_BOXES:
        return "mov"
    if head.startswith(EBML_MAGIC):
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


def open_input(path: str | os.PathLike):
    """Open a video file for reading with the one demuxer its signature names, reading only
    that file (the file protocol alone: no other file or URL it names is ever opened)."""
    import av

    fmt = container_format(path)
    if fmt is None:
        raise InputError(
            f"{path}: not a readable video (its content is not {READ_CONTAINERS}; lists, "
            "playlists and other FFmpeg formats are refused)"
        )
    # An absolute path, so a name like "concat:a|b" is never taken for an FFmpeg protocol.
    return av.open(os.path.abspath(path), format=fmt, options={"protocol_whitelist": "file"})


def is_video_path(path: str | os.PathLike) -> bool:
    """A video container by its extension, or an animated (multi-frame) GIF/WebP."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS or is_animation(path)


@dataclass(frozen=True, slots=True)
class VideoInfo:
    width: int  # as stored (before rotation)
    height: int
    frames: int  # as the container declares it (0 when unknown)
    rate: Fraction
    time_base: Fraction
    codec: str
    audio_streams: int
    rotation: int = 0  # degrees counter-clockwise to display upright (0, 90, 180, 270)
    color_range: int = 0  # 0 unspecified, 1 limited (TV), 2 full (PC)
    colorspace: int = 2  # matrix coefficients (ISO 23001-8); 2 unspecified
    color_primaries: int = 2
    color_trc: int = 2
    duration: float | None = None  # seconds
    audio_codecs: tuple[str, ...] = ()
    animation: bool = False  # GIF/WebP read with Pillow
    audio_decodable: tuple[bool, ...] = ()  # whether this FFmpeg build can decode each stream

    def cut_duration(self, trim: tuple[float, float] | None) -> float | None:
        """Seconds the output lasts: the whole video, or what `trim` keeps of it."""
        if trim is None:
            return self.duration
        return max(0.0, min(trim[1], self.duration or trim[1]) - trim[0])


def _check_dimensions(p: Path, w: int, h: int) -> None:
    if w <= 0 or h <= 0 or w * h > MAX_VIDEO_PIXELS:
        raise InputError(f"{p}: unsupported video dimensions {w}x{h}")


def probe(path: str | os.PathLike) -> VideoInfo:
    """What the pipeline needs to know, from the header and the first decoded frame."""
    import av

    p = check_input_file(path)
    if is_animation(p):
        w, h, n, total_ms = animation_info(p)
        _check_dimensions(p, w, h)
        rate = Fraction(n * 1000, max(total_ms, 1)).limit_denominator(1001)
        codec = (animation_format(p) or p.suffix.lstrip(".")).lower()
        return VideoInfo(w, h, n, rate, MS, codec, 0, duration=total_ms / 1000, animation=True)
    try:
        with open_input(p) as c:
            if not c.streams.video:
                raise InputError(f"{p}: no video stream")
            v = c.streams.video[0]
            if v.codec_context is None or not v.codec_context.name:
                raise InputError(f"{p}: no decoder for this video codec")
            w, h = v.codec_context.width, v.codec_context.height
            _check_dimensions(p, w, h)
            try:
                first = next(iter(c.decode(v)), None)
            except av.EOFError:  # a header and no packet
                first = None
            if first is None:
                with open_input(p) as again:  # count what the file holds, from the start
                    stream = again.streams.video[0]
                    has_data = any(
                        pk.size for _, pk in zip(range(200), again.demux(stream), strict=False)
                    )
                if has_data:  # packets, but the decoder made no picture of them
                    raise InputError(
                        f"{p}: its {v.codec_context.name} video stream cannot be decoded"
                    )
                raise InputError(f"{p}: the video ends before its first frame (empty or cut short)")
            duration = float(c.duration) / 1e6 if c.duration else None
            return VideoInfo(
                w,
                h,
                v.frames or 0,
                v.average_rate or v.guessed_rate or Fraction(25),
                v.time_base or Fraction(1, 90000),
                v.codec_context.name,
                len(c.streams.audio),
                rotation=int(round(first.rotation or 0)) % 360,
                color_range=int(first.color_range or 0),
                colorspace=int(first.colorspace or 2),
                color_primaries=int(first.color_primaries or 2),
                color_trc=int(first.color_trc or 2),
                duration=duration,
                audio_codecs=tuple(
                    (a.codec_context.name if a.codec_context else "") or "unknown"
                    for a in c.streams.audio
                ),
                audio_decodable=tuple(_decodable(a) for a in c.streams.audio),
            )
    except InputError:
        raise
    except av.EOFError:
        raise InputError(
            f"{p}: the video ends before its first frame (empty or cut short)"
        ) from None
    except (av.FFmpegError, UnicodeDecodeError) as e:
        what = getattr(e, "strerror", None) or type(e).__name__
        raise InputError(f"{p}: not a readable video ({what})") from None


def _decodable(stream) -> bool:
    import av

    cc = stream.codec_context
    if cc is None or not cc.name:
        return False
    try:
        av.codec.Codec(cc.name, "r")
    except (av.FFmpegError, ValueError):
        return False
    return True


def audio_plan(info: VideoInfo, output: str | os.PathLike) -> list[str | None]:
    """Per input audio stream: "copy", the encoder to re-encode with, or None (dropped: GIF
    and WebP hold no sound, and a stream with no decoder cannot be re-encoded)."""
    ext = Path(output).suffix.lower()
    if ext in ANIMATION_EXTENSIONS:
        return [None] * info.audio_streams
    fmt = WRITE_CONTAINERS[ext][0]
    allowed = AUDIO_COPY[fmt]
    fallback = "libopus" if fmt == "webm" else "aac"
    decodable = info.audio_decodable or (True,) * len(info.audio_codecs)
    plan: list[str | None] = []
    for name, ok in zip(info.audio_codecs, decodable, strict=True):
        if allowed is None or name in allowed:
            plan.append("copy")
        else:
            plan.append(fallback if ok else None)
    return plan


def audio_notes(info: VideoInfo, output: str | os.PathLike) -> list[str]:
    """What happens to the audio that the user should be told (dropped streams)."""
    ext = Path(output).suffix.lower()
    if ext in ANIMATION_EXTENSIONS:
        return [f"{output}: GIF and WebP hold no sound; the audio is left out"] * bool(
            info.audio_streams
        )
    notes = []
    for i, (name, how) in enumerate(zip(info.audio_codecs, audio_plan(info, output), strict=True)):
        if how is None:
            notes.append(
                f"audio stream {i} ({name}) has no decoder in this FFmpeg build and "
                f"{ext} cannot hold it as it is; it is left out"
            )
    return notes


def _check_frame(p: Path, frame, info: VideoInfo) -> None:
    """Every frame, not only the first, must be one the pipeline can hold and encode."""
    if (frame.width, frame.height) != (info.width, info.height):
        _check_dimensions(p, frame.width, frame.height)


def _rgb(frame, info: VideoInfo) -> np.ndarray:
    # Convert with the frame's own range and matrix (full-range BT.709 stays right), then stand
    # the picture upright so detectors see faces the right way up.
    rgb = frame.to_ndarray(
        format="rgb24",
        src_color_range=frame.color_range or None,
        src_colorspace=frame.colorspace if frame.colorspace not in (0, 2) else None,
    )
    if rgb.shape[:2] != (info.height, info.width):
        # The stream changed resolution mid-way: scale to the size the output was opened with.
        import cv2

        rgb = cv2.resize(rgb, (info.width, info.height), interpolation=cv2.INTER_AREA)
    k = (info.rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def read_video(
    path: str | os.PathLike,
    info: VideoInfo,
    trim: tuple[float, float] | None = None,
    reencode_audio: frozenset[int] = frozenset(),
    drop_audio: bool = False,
) -> Iterator[Packet]:
    """Yield, in file order, a `VideoPacket` per frame (upright RGB, pts, time base) and an
    `AudioPacket` per audio packet to copy, or per decoded audio frame of the streams in
    `reencode_audio` (twoface.io.packets).

    With `trim` = (start, end) seconds only what lies in [start, end) comes out, shifted so the
    cut starts at 0; video and audio are cut at the same instants (audio to the packet).
    """
    import av

    p = Path(path)
    if info.animation:
        yield from read_animation(p, trim)
        return
    start, end = trim if trim is not None else (None, None)
    try:
        with open_input(p) as c:
            v = c.streams.video[0]
            v.thread_type = "AUTO"
            audio = [] if drop_audio else list(c.streams.audio)
            if start:
                c.seek(int(start * 1_000_000), backward=True)  # to the key frame before start
            done = {v.index: False} | {a.index: False for a in audio}
            for packet in c.demux(v, *audio):
                if packet.stream.type == "audio":
                    i = audio.index(packet.stream)
                    if packet.dts is None or done[packet.stream.index]:
                        continue
                    t = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
                    if start is not None and t < start - 1e-6:
                        continue
                    if end is not None and t >= end:
                        done[packet.stream.index] = True
                        if all(done.values()):
                            break
                        continue
                    if start:
                        shift = round(start / packet.time_base)
                        packet.pts -= shift
                        packet.dts -= shift
                    if i in reencode_audio:
                        for frame in packet.decode():
                            frame.pts = None  # the encoder counts samples from the cut
                            yield AudioPacket(frame, i, decoded=True)
                    else:
                        yield AudioPacket(packet, i)
                    continue
                if done[v.index]:
                    continue
                for frame in packet.decode():
                    _check_frame(p, frame, info)
                    t = float(frame.time) if frame.pts is not None else 0.0
                    if start is not None and t < start - 1e-6:
                        continue
                    if end is not None and t >= end:
                        done[v.index] = True
                        break
                    pts = frame.pts - round(start / frame.time_base) if start else frame.pts
                    yield VideoPacket(_rgb(frame, info), pts, frame.time_base)
                if all(done.values()):
                    break
    except av.FFmpegError as e:
        raise InputError(
            f"{p}: corrupt or undecodable video ({e.strerror or type(e).__name__})"
        ) from None


def open_writer(
    path: str | os.PathLike,
    source: str | os.PathLike,
    info: VideoInfo,
    label: Label | None,
    crf: int = 18,
    preset: str = "medium",
    codec: str | None = None,
    trim: tuple[float, float] | None = None,
    encoders: int = 1,
):
    """A writer for the output's extension: a video container, or an animated GIF/WebP.
    `encoders`: x264/x265 instances over segments (0: as many as the cores allow)."""
    ext = Path(path).suffix.lower()
    if ext in ANIMATION_EXTENSIONS:
        return AnimationWriter(path, label, end_time=info.cut_duration(trim))
    if encoders == 0:
        from twoface.io.segments import auto_encoders

        encoders = auto_encoders()
    return VideoWriter(path, source, info, label, crf, preset, codec, encoders)


def check_video_output(path: str | os.PathLike) -> None:
    check_not_folder(path)
    ext = Path(path).suffix.lower()
    if ext not in WRITE_CONTAINERS and ext not in ANIMATION_EXTENSIONS:
        raise UsageError(
            f"{path}: unsupported video output extension {ext!r}; use one of "
            f"{', '.join(OUTPUT_EXTENSIONS)}"
        )


def label_metadata(label: Label) -> dict[str, str]:
    """The container metadata that carries the synthetic-media label (read by
    `read_video_label`)."""
    return {
        "comment": label.description,
        "description": label.description,
        "encoder": label.tool,
        "digital_source_type": label.source_type,
    }


class VideoWriter:
    """Encode upright RGB frames at given timestamps, copy or re-encode audio; one per output."""

    def __init__(
        self,
        path: str | os.PathLike,
        source: str | os.PathLike,
        info: VideoInfo,
        label: Label | None,
        crf: int = 18,
        preset: str = "medium",
        codec: str | None = None,
        encoders: int = 1,
    ) -> None:
        import av

        check_video_output(path)
        fmt, default_codec, pix = WRITE_CONTAINERS[Path(path).suffix.lower()]
        self.info = info
        self.label, self.format = label, fmt
        # FFmpeg writes through a file of ours, so that every write failure is seen, the last
        # one included, and the file is synced before it counts as written (see _OutputFile).
        self.sink = _OutputFile(path)
        try:
            self.container = av.open(self.sink, "w", format=fmt)
        except BaseException:
            self.sink.close()
            raise
        if label is not None:
            self.container.metadata.update(label_metadata(label))
        self.segments = None  # several encoders over segments (below); read by abort()
        self._last_dts: int | None = None
        self._next_pts: int | None = None
        self.stream = self.container.add_stream(codec or default_codec, rate=info.rate)
        self.stream.width, self.stream.height = info.width, info.height
        if (
            pix == "yuv420p"
            and (info.width % 2 or info.height % 2)
            and self.stream.name != "libvpx-vp9"
        ):
            # x264/x265 refuse 4:2:0 at an odd width or height; 4:4:4 keeps the exact size.
            pix = "yuv444p"
        self.stream.pix_fmt = pix
        self.stream.time_base = info.time_base
        cc = self.stream.codec_context
        # The encoder counts in the input's time base too, so irregular timestamps survive
        # (with 1/rate they would be rounded onto a constant-rate grid).
        cc.time_base = info.time_base
        cc.color_range = info.color_range
        cc.colorspace, cc.color_primaries, cc.color_trc = (
            info.colorspace,
            info.color_primaries,
            info.color_trc,
        )
        if info.rotation:
            self.stream.set_display_rotation(info.rotation)
        name = cc.name
        if name in ("libx264", "libx265"):
            # Frame threads: PyAV's default (slice threads) halves x264 on many cores
            # (measured on a 16-core host: 48 -> 107 fps at 1080p ultrafast).
            cc.thread_type = "FRAME"
        check_encoder_options(crf, preset, name)
        if name == "libx264":
            self.stream.options = {"crf": str(crf), "preset": preset}
        elif name == "libx265":
            # x265 prints its own [info] lines unless told its log level.
            self.stream.options = {
                "crf": str(crf),
                "preset": preset,
                "x265-params": "log-level=error",
            }
        elif name == "libvpx-vp9":
            self.stream.options = {"crf": str(crf + 13), "b": "0"}
        try:
            # Fail now, not in the encoder thread, when the codec refuses the size: a trial
            # encoder with the same settings. (Opening the stream's own context here would
            # skip the options the container applies when it opens it: measured on a 16-core
            # host, x264 then ran at 55 fps where PyAV alone ran at 139.)
            _trial_open(name, pix, info, dict(self.stream.options))
        except av.FFmpegError as e:
            self.abort()
            raise InputError(
                f"{source}: {name} cannot encode a {info.width}x{info.height} video "
                f"({e.strerror or type(e).__name__}); try --codec libx265 or a smaller size"
            ) from None
        self.audio: list = []
        plan = audio_plan(info, path)
        # No audio to carry (a live recording has no source file): the source is not opened.
        with open_input(source) if plan else contextlib.nullcontext() as src:
            for a, how in zip(src.streams.audio if plan else (), plan, strict=True):
                if how == "copy":
                    self.audio.append(self.container.add_stream_from_template(a))
                elif how is not None:
                    rate = a.codec_context.sample_rate
                    rates = av.codec.Codec(how, "w").audio_rates
                    if rates and rate not in rates:
                        # e.g. Opus takes 48/24/16/12/8 kHz: 44.1 kHz is resampled to 48 kHz.
                        rate = min(rates, key=lambda r: (r < rate, abs(r - rate)))
                    out = self.container.add_stream(how, rate=rate)
                    # Encoders want a named layout; files often say only "N channels".
                    channels = a.codec_context.channels
                    out.layout = NAMED_LAYOUTS.get(channels, f"{channels}c")
                    self.audio.append(out)
                else:
                    self.audio.append(None)  # dropped
        self.reencoded = {i for i, how in enumerate(plan) if how not in ("copy", None)}
        # Several encoders over segments (twoface.io.segments): x264/x265 only (VP9 is slower
        # per frame but not bound by one instance the same way, and is left as it is).
        if encoders > 1 and name in ("libx264", "libx265"):
            from twoface.io.segments import SegmentEncoder, segment_frames

            # The stream's own flags: PyAV set the global-header flag on it for MP4/MOV/MKV.
            options, flags = dict(self.stream.options), cc.flags

            def make():
                c = av.CodecContext.create(name, "w")
                c.width, c.height, c.pix_fmt = info.width, info.height, pix
                c.time_base, c.framerate = info.time_base, info.rate
                c.color_range = info.color_range
                c.colorspace, c.color_primaries, c.color_trc = (
                    info.colorspace,
                    info.color_primaries,
                    info.color_trc,
                )
                c.thread_type = "FRAME"
                c.flags = flags
                c.options = dict(options)
                return c

            self.segments = SegmentEncoder(make, encoders, segment_frames(info.rate))
        self._pix = pix
        self._explicit_colour = info.color_range == 2 or info.colorspace not in (0, 2)
        self._av = av

    def write_frame(self, rgb: np.ndarray, pts: int | None, time_base: Fraction | None) -> None:
        k = (self.info.rotation // 90) % 4
        if k:
            rgb = np.rot90(rgb, -k)  # back to the stored orientation; the metadata turns it
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        info = self.info
        if self._explicit_colour:
            # Full range or a named matrix: convert here with them. Otherwise the encoder's own
            # conversion does the same work in one step (two steps cost a third of x264's
            # speed on a 16-core host).
            frame = frame.reformat(
                format=self._pix,
                dst_color_range=info.color_range or None,
                dst_colorspace=info.colorspace if info.colorspace not in (0, 2) else None,
            )
        frame.pts = pts
        if time_base is not None:
            frame.time_base = time_base
        if self.segments is not None:
            if frame.pts is None:  # a frame without a timestamp: one frame after the last
                frame.pts = self._next_pts or 0
                frame.time_base = info.time_base
            step = round(1 / (float(info.rate or 25) * float(frame.time_base or info.time_base)))
            self._next_pts = frame.pts + max(1, step)
            self._mux_video(self.segments.push(frame))
            return
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def _mux_video(self, packets) -> None:
        """Packets of the segment encoders, into the output's stream in order (decode
        timestamps kept increasing across a join, should an encoder's delay ever differ)."""
        for packet in packets:
            packet.stream = self.stream
            if packet.dts is not None:
                if self._last_dts is not None and packet.dts <= self._last_dts:
                    packet.dts = self._last_dts + 1
                self._last_dts = packet.dts
            self.container.mux(packet)

    def write(self, packet: Packet) -> None:
        """Write a packet from the reader (or the swap stage): a frame, or audio."""
        if isinstance(packet, VideoPacket):
            self.write_frame(packet.frame, packet.pts, packet.time_base)
        else:
            self.write_audio(packet.payload, packet.stream)

    def write_audio(self, item, index: int) -> None:
        stream = self.audio[index]
        if stream is None:
            return
        if index in self.reencoded:
            for packet in stream.encode(item):
                self.container.mux(packet)
        else:
            item.stream = stream
            self.container.mux(item)

    def close(self) -> None:
        if self.segments is not None:
            self._mux_video(self.segments.close())
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        for i in self.reencoded:
            for packet in self.audio[i].encode(None):
                self.container.mux(packet)
        self.container.close()
        self.sink.finish()  # any write that failed, even one FFmpeg let pass, fails the video
        seal(self.sink.path, self.label, self.format)  # the signed C2PA manifest, before the rename

    def abort(self) -> None:
        """Release the file after a failure (the caller deletes it); errors here are moot."""
        if self.segments is not None:
            self.segments.abort()
        with contextlib.suppress(Exception):  # half-written: nothing more to save
            self.container.close()
        with contextlib.suppress(OSError):
            self.sink.close()


class _OutputFile(io.RawIOBase):
    """The output file as FFmpeg writes it (PyAV's Python I/O): each write goes through whole
    (a short write is continued, so a full disk raises on the rest), the first failure is kept
    so one FFmpeg does not report (a flush at close) still fails the video, and `finish` syncs
    the file, so a failure the file system reports only then (delayed allocation, NFS) is an
    error too, not a short video at the output path."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__()
        self.path = os.fspath(path)
        self._f = open(self.path, "w+b", buffering=0)  # noqa: SIM115 (closed by finish/close)
        self.error: OSError | None = None

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        try:
            while done < len(view):
                n = self._f.write(view[done:])
                if not n:
                    raise OSError(errno.EIO, os.strerror(errno.EIO), self.path)
                done += n
        except OSError as e:
            self.error = self.error or e
            raise
        return done

    def readinto(self, buffer) -> int:
        return self._f.readinto(buffer)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def finish(self) -> None:
        """Raise the first write failure, else sync and close (a failure there raises too)."""
        try:
            if self.error is not None:
                raise self.error
            os.fsync(self._f.fileno())
        finally:
            self.close()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()
        super().close()


def _trial_open(codec: str, pix: str, info: VideoInfo, options: dict) -> None:
    """Open (and drop) an encoder of `codec` with the output's size, pixel format and options."""
    import av

    cc = av.CodecContext.create(codec, "w")
    cc.width, cc.height, cc.pix_fmt = info.width, info.height, pix
    cc.time_base = info.time_base or Fraction(1, 25)
    cc.framerate = info.rate
    cc.options = options
    cc.open()
    del cc


def read_video_label(path: str | os.PathLike) -> Label | None:
    import av

    from twoface.io.provenance import parse_description

    try:
        with open_input(path) as c:
            meta = dict(c.metadata)
    except (av.FFmpegError, OSError, InputError):  # not a video twoface reads: no label
        return None
    for key in ("comment", "description", "DESCRIPTION", "COMMENT"):
        label = parse_description(meta.get(key, ""))
        if label:
            return label
    return None
