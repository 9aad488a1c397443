"""The typed packets a video's stages pass: decoded frames, audio, and the end of the stream.

The reader (`io.video.read_video`, `io.animation.read_animation`) yields `VideoPacket`s and
`AudioPacket`s in file order; the swap stage replaces a video packet's frame and passes audio
through in place; the writer (`VideoWriter.write`) takes either. `END` marks the end of a queue.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np


@dataclass(frozen=True, slots=True, eq=False)
class VideoPacket:
    """One decoded frame: upright RGB uint8, with its timestamp (`pts` in `time_base` units)."""

    frame: np.ndarray
    pts: int | None = None
    time_base: Fraction | None = None

    def with_frame(self, frame: np.ndarray) -> VideoPacket:
        return replace(self, frame=frame)

    @property
    def seconds(self) -> float | None:
        if self.pts is None or not self.time_base:
            return None
        return float(self.pts * self.time_base)


@dataclass(frozen=True, slots=True, eq=False)
class AudioPacket:
    """Audio for the writer: a compressed packet copied as it is, or (`decoded`) a decoded
    frame of a stream the output container cannot hold, to re-encode. `stream`: the audio
    stream's number among the file's audio streams."""

    payload: object
    stream: int
    decoded: bool = False


class EndOfStream:
    """The end of a stream of packets (one object: `END`)."""

    def __repr__(self) -> str:
        return "END"


END = EndOfStream()
Packet = VideoPacket | AudioPacket
