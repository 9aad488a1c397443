"""Streaming video swap: decode -> [batch: detect, landmarks, track, select, swap] -> encode.

Three threads joined by bounded queues, so decoding, processing and encoding overlap and at most
`queue_size` frames wait on either side whatever the video's length.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from twoface.errors import InputError
from twoface.identity import identity_distance
from twoface.io.atomic import atomic_path
from twoface.io.video import VideoInfo, VideoWriter, read_video
from twoface.select import Selection
from twoface.swap.base import SourceIdentity, SwapJob
from twoface.track import Tracker

_END = object()


@dataclass
class VideoResult:
    output: str
    frames: int
    frames_swapped: int
    tracks: int
    tracks_swapped: int
    seconds: float
    audio_packets: int
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "output": self.output,
            "frames": self.frames,
            "frames_swapped": self.frames_swapped,
            "tracks": self.tracks,
            "tracks_swapped": self.tracks_swapped,
            "audio_packets_copied": self.audio_packets,
            "seconds": round(self.seconds, 2),
            "fps": round(self.frames / self.seconds, 2) if self.seconds else None,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


class _Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.start = total, enabled, time.perf_counter()

    def __call__(self, done: int) -> None:
        if not self.enabled:
            return
        dt = time.perf_counter() - self.start
        fps = done / dt if dt > 0 else 0.0
        eta = (self.total - done) / fps if fps > 0 and self.total else 0.0
        total = self.total or "?"
        sys.stderr.write(f"\r{done}/{total} frames  {fps:5.1f} fps  ETA {eta:5.0f} s ")
        if done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _decide(track, frame_faces, selection: Selection, encoder, frame, any_selected_alive):
    """Whether a new track is swapped, and by which source; decided once per track."""
    face = track.last
    if selection.needs_identity:
        emb = encoder([frame], [[face]])[0][0].embedding
        refs = selection.target_refs or (selection.reference,)
        d = [identity_distance(emb, r) for r in refs]
        j = int(np.argmin(d))
        return d[j] <= selection.threshold, (j if selection.target_refs else 0)
    if selection.many:
        return True, 0
    # Default: the most prominent person; while a chosen track lives, nobody else is chosen.
    largest = max(frame_faces, key=lambda f: f.area)
    return (not any_selected_alive) and face is largest, 0


def run_video(
    swapper,
    sources: list[SourceIdentity],
    selection: Selection,
    target: str,
    info: VideoInfo,
    output: str,
    label,
    crf: int,
    preset: str,
    codec: str | None,
    batch_size: int = 8,
    queue_size: int = 16,
    progress: bool | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> VideoResult:
    t_start = time.perf_counter()
    timings = {"detect": 0.0, "landmarks": 0.0, "select": 0.0, "swap": 0.0}
    in_q: queue.Queue = queue.Queue(maxsize=queue_size)
    out_q: queue.Queue = queue.Queue(maxsize=queue_size)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            for item in read_video(target):
                while not stop.is_set():
                    try:
                        in_q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as e:  # handed to the main thread
            errors.append(e)
        finally:
            in_q.put(_END)

    counts = {"frames": 0, "audio": 0}

    with atomic_path(output) as tmp:
        writer = VideoWriter(tmp, target, info, label, crf=crf, preset=preset, codec=codec)

        def encoder_loop() -> None:
            try:
                while True:
                    item = out_q.get()
                    if item is _END:
                        break
                    kind, payload, meta = item
                    if kind == "video":
                        writer.write_frame(payload, *meta)
                    else:
                        writer.write_audio(payload, meta)
                writer.close()
            except BaseException as e:
                errors.append(e)
                stop.set()
                while out_q.get() is not _END:  # drain so the producer never blocks
                    pass

        threads = [
            threading.Thread(target=reader, daemon=True),
            threading.Thread(target=encoder_loop, daemon=True),
        ]
        for t in threads:
            t.start()
        tracker = Tracker()
        dt = float(1 / info.rate) if info.rate else 1 / 25
        show = _Progress(info.frames, sys.stderr.isatty() if progress is None else progress)
        frames_swapped = 0
        faces_seen = 0
        try:
            pending: list = []
            finished = False
            while not finished:
                item = in_q.get()
                if item is _END:
                    finished = True
                elif item[0] == "audio":
                    if pending:
                        pending.append(item)  # keep order relative to the frames around it
                    else:
                        out_q.put(item)
                        counts["audio"] += 1
                    continue
                else:
                    pending.append(item)
                video = [x for x in pending if x[0] == "video"]
                if len(video) < batch_size and not finished:
                    continue
                if errors:
                    raise errors[0]
                frames = [x[1] for x in video]
                done, n_faces = _process(swapper, frames, tracker, sources, selection, dt, timings)
                frames_swapped += done
                faces_seen += n_faces
                out_frames = iter(frames)
                for x in pending:
                    if x[0] == "video":
                        out_q.put(("video", next(out_frames), x[2]))
                        counts["frames"] += 1
                        show(counts["frames"])
                        if on_frame:
                            on_frame(counts["frames"])
                    else:
                        out_q.put(x)
                        counts["audio"] += 1
                pending = []
        except BaseException:
            stop.set()
            out_q.put(_END)
            for t in threads:
                t.join(timeout=5)
            raise
        out_q.put(_END)
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        if counts["frames"] == 0:
            raise InputError(f"{target}: the video has no frames")
        if faces_seen == 0:
            raise InputError(
                f"{target}: no face found in any frame; nothing to swap, no output written"
            )
    selected_tracks = sum(1 for t in tracker.all_tracks if t.selected)
    return VideoResult(
        output=str(output),
        frames=counts["frames"],
        frames_swapped=frames_swapped,
        tracks=len(tracker.all_tracks),
        tracks_swapped=selected_tracks,
        seconds=time.perf_counter() - t_start,
        audio_packets=counts["audio"],
        timings=timings,
    )


def _process(swapper, frames, tracker, sources, selection, dt, timings) -> tuple[int, int]:
    """Swap the selected tracks' faces in a batch of frames, in place. Returns (frames, faces)."""
    t = time.perf_counter()
    detected = swapper.detector.detect(frames)
    timings["detect"] += time.perf_counter() - t
    t = time.perf_counter()
    faces = swapper.landmarker(frames, detected)
    timings["landmarks"] += time.perf_counter() - t
    t = time.perf_counter()
    jobs: list[SwapJob] = []
    for i, frame in enumerate(frames):
        seen, bridged = tracker.update(faces[i], dt)
        alive_selected = any(tr.selected for tr in tracker.tracks)
        for tr in seen:
            if tr.selected is None:
                tr.selected, tr.source = _decide(
                    tr, [s.last for s in seen], selection, swapper.encoder, frame, alive_selected
                )
                alive_selected = alive_selected or tr.selected
        jobs += [SwapJob(i, tr.last, sources[tr.source]) for tr in [*seen, *bridged] if tr.selected]
    timings["select"] += time.perf_counter() - t
    t = time.perf_counter()
    frames[:] = swapper.swapper.swap(
        frames, jobs
    )  # one batch call; untouched frames come back as-is
    timings["swap"] += time.perf_counter() - t
    swapped = len({job.frame_index for job in jobs})
    n_faces = sum(len(f) for f in faces)
    return swapped, n_faces
