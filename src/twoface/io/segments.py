"""Past one encoder: consecutive segments of a video's frames encoded by several x264/x265
instances at once, their packets muxed in order into one stream (`--encoders N|auto`).

x264 with the slower presets is bound by one instance: its frame threads wait on each other and
on the lookahead, so a 16-core host encodes 1080p at medium at 56-87 fps however many threads it
is given, while 2-4 instances over segments of one clip reached 1.4-1.6x that. Each segment is
one closed group of pictures (a fresh encoder: it starts on an IDR frame), so the segments join
by stream copy: the muxer takes their packets one after another. Every encoder has the same
settings as the output stream's own (size, pixel format, colour, time base, options, the global
header flag), so the stream's header (SPS/PPS) fits all of them; decode timestamps stay
increasing because each segment's encoder delays its first frames by the same amount.

Memory: a worker's queue holds a whole segment of RGB frames (`SegmentParams.seconds` of video),
so that it encodes while the next segments are fed to the others: N x segment frames in all
(4 encoders at 1080p, 1 s segments at 25 fps: about 600 MB).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentParams:
    # One segment = this many seconds of frames. Shorter segments mean more IDR frames (at 1 s,
    # x264 medium CRF 18 files grow by a few percent) and less memory; longer ones the reverse.
    seconds: float = 1.0
    min_frames: int = 12
    max_frames: int = 120
    # `--encoders auto`: one encoder per 4 cores, at most 4, and one below 8 cores (on a 16-core
    # host 2-4 instances gave 1.4-1.6x one instance; a 2-core machine has no spare cores).
    cores_per_encoder: int = 4
    max_auto: int = 4


PARAMS = SegmentParams()


def auto_encoders(cores: int | None = None, p: SegmentParams = PARAMS) -> int:
    cores = cores or os.cpu_count() or 1
    if cores < 2 * p.cores_per_encoder:
        return 1
    return max(1, min(p.max_auto, cores // p.cores_per_encoder))


def segment_frames(rate: float | None, p: SegmentParams = PARAMS) -> int:
    frames = round((rate or 25) * p.seconds)
    return max(p.min_frames, min(p.max_frames, frames))


class SegmentEncoder:
    """Frames in, packets out in stream order, encoded by `workers` encoders over consecutive
    segments of `length` frames. `make()` returns a new, unopened CodecContext with the output
    stream's settings; `push(frame)` gives the packets now ready (whole segments, in order),
    `close()` the rest. A worker's failure is raised by the next push or close."""

    def __init__(self, make: Callable[[], object], workers: int, length: int) -> None:
        self.make, self.length = make, length
        self.inboxes: list[queue.Queue] = [queue.Queue(maxsize=length) for _ in range(workers)]
        self.done: dict[int, list] = {}
        self.lock = threading.Lock()
        self.next_out = 0  # the next segment whose packets leave
        self.count = 0  # frames pushed
        self.errors: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._work, args=(q,), daemon=True, name=f"twoface-x264-{i}")
            for i, q in enumerate(self.inboxes)
        ]
        for t in self.threads:
            t.start()

    def _work(self, inbox: queue.Queue) -> None:
        segment, cc, packets, taken = None, None, [], 0

        def finish() -> None:
            """The segment is whole (its last frame, or the end): flush it and hand it over --
            at once, so the video's packets never fall far behind the audio's."""
            nonlocal segment, cc, packets, taken
            if cc is not None and not self.errors:  # after a failure nothing is kept
                try:
                    packets += cc.encode(None)
                except BaseException as e:
                    self.errors.append(e)
                with self.lock:
                    self.done[segment] = packets
            segment, cc, packets, taken = None, None, [], 0

        while True:
            item = inbox.get()
            if item is None:
                finish()
                return
            if self.errors:
                cc = None
                continue  # keep taking frames so the producer never blocks; nothing is kept
            number, frame = item
            try:
                if cc is None:
                    segment, cc = number, self.make()
                packets += cc.encode(frame)
            except BaseException as e:
                self.errors.append(e)
                continue
            taken += 1
            if taken == self.length:
                finish()

    def _ready(self) -> list:
        out = []
        with self.lock:
            while self.next_out in self.done:
                out += self.done.pop(self.next_out)
                self.next_out += 1
        return out

    def push(self, frame) -> list:
        if self.errors:
            raise self.errors[0]
        number = self.count // self.length
        self.inboxes[number % len(self.inboxes)].put((number, frame))
        self.count += 1
        return self._ready()

    def close(self) -> list:
        for q in self.inboxes:
            q.put(None)
        for t in self.threads:
            t.join()
        if self.errors:
            raise self.errors[0]
        return self._ready()

    def abort(self) -> None:
        """Stop the workers after a failure elsewhere; what they hold is dropped."""
        self.errors.append(RuntimeError("aborted"))
        for q in self.inboxes:
            while True:
                try:
                    q.put_nowait(None)
                    break
                except queue.Full:
                    with contextlib.suppress(queue.Empty):
                        q.get_nowait()
        for t in self.threads:
            t.join(timeout=5)
