"""Streaming video swap, a composition of stages (twoface.stages): read -> analyse (detect,
landmarks) -> swap (track, select, generate) -> paste back -> mark (watermark, counts,
progress) -> write.

Each stage runs in a thread of its own, joined by bounded queues, so decoding, finding faces,
generating, pasting back and encoding all overlap (on a GPU, detection of the next batch runs on
its own stream while this one is generated, and the previous one is pasted back meanwhile); at
most `queue_size` frames wait on a link, two batches between the finder and the generator, and
the generator hands each batch to the paster before it begins the next, whatever the video's
length. Frames leave in order. Live frames go through the same stages as they come
(StreamSwapper: one at a time, or overlapped over three threads with `run`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from twoface.analyze import FrameAnalyzer
from twoface.config import OutputConfig
from twoface.errors import InputError, OutputError, TwofaceError
from twoface.io.atomic import atomic_path, output_error, written_error
from twoface.io.packets import Packet, VideoPacket
from twoface.io.video import VideoInfo, audio_plan, open_writer, read_video
from twoface.people import PeoplePicker
from twoface.progress import ProgressCallback, close_progress, resolve
from twoface.select import Selection
from twoface.stages import BaseStage, Batch, StageError, run_stages
from twoface.swap.base import RunState, SourceIdentity, SwapJob
from twoface.track import Tracker
from twoface.types import Face
from twoface.watermark import Watermark


@dataclass
class VideoResult:
    output: str
    frames: int
    frames_swapped: int
    tracks: int
    tracks_swapped: int
    seconds: float
    audio_packets: int  # audio packets copied as they are
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    faces_per_frame: array = field(default_factory=lambda: array("H"))  # swapped, per frame
    audio_frames_reencoded: int = 0  # decoded audio frames re-encoded (a codec the output refuses)

    def summary(self) -> dict:
        return {
            "output": self.output,
            "frames": self.frames,
            "frames_swapped": self.frames_swapped,
            "tracks": self.tracks,
            "tracks_swapped": self.tracks_swapped,
            "audio_packets_copied": self.audio_packets,
            "audio_frames_reencoded": self.audio_frames_reencoded,
            "seconds": round(self.seconds, 2),
            "fps": round(self.frames / self.seconds, 2) if self.seconds else None,
            "notes": self.notes,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def _frames(packets: list[Packet]) -> int:
    return sum(1 for p in packets if isinstance(p, VideoPacket))


def _expected_frames(info: VideoInfo, trim: tuple[float, float] | None) -> int:
    if trim is None:
        return info.frames
    return int(round((info.cut_duration(trim) or 0.0) * float(info.rate)))


@dataclass
class Stages:
    """What a video swap runs: the analyzer (detect -> landmarks -> identity; its encoder built
    only when identity is needed) and the engine. Passed in, so the pipeline reaches into no
    facade."""

    analyzer: FrameAnalyzer
    engine: object

    @property
    def encoder(self):
        return self.analyzer.encoder


def run_video(
    stages: Stages,
    sources: list[SourceIdentity],
    selection: Selection,
    target: str,
    info: VideoInfo,
    output: str,
    label,
    write: OutputConfig | None = None,
    *,
    watermark: Watermark | None = None,
    progress: bool | None | ProgressCallback = None,
    on_frame: Callable[[int], None] | None = None,
    queue_size: int = 16,
    track_identity: bool = True,
) -> VideoResult:
    """Swap the selected people through a whole video: read -> analyse -> swap -> paste ->
    mark -> write, composed of stages (twoface.stages.run_stages); see the module docstring.
    `write`: the encode (crf, preset, codec), the trim and the batch size (OutputConfig; its
    watermark text comes built, as `watermark`)."""
    write = write or OutputConfig()
    crf, preset, codec, batch_size = write.crf, write.preset, write.codec, write.batch_size
    trim = None if write.trim is None else (float(write.trim[0]), float(write.trim[1]))
    t_start = time.perf_counter()
    timings = {"detect": 0.0, "landmarks": 0.0, "select": 0.0, "swap": 0.0, "paste": 0.0}
    plan = audio_plan(info, output)
    reencode = frozenset(i for i, how in enumerate(plan) if how not in ("copy", None))
    drop_audio = all(how is None for how in plan)
    identify = _embedder(stages) if track_identity else None
    dt = float(1 / info.rate) if info.rate else 1 / 25
    tracker = Tracker(identify=identify)
    if track_identity:
        # Revive a lost person a little inside the encoder's same-person distance.
        tracker.distance = stages.encoder.distance
        tracker.same_person = stages.encoder.same_person * 5 / 6
    swap = _SwapStage(stages, sources, selection, dt, timings, tracker)
    report = resolve(progress)
    mark = _Mark(watermark, report, on_frame, _expected_frames(info, trim))
    depth = max(1, queue_size // batch_size)  # batches waiting on a link: queue_size frames
    items = read_video(target, info, trim, reencode, drop_audio)

    with atomic_path(output) as tmp:
        writer = open_writer(tmp, target, info, label, crf, preset, codec, trim, write.encoders)
        try:
            run_stages(
                _batches(items, batch_size),
                [_Analyse(swap), _Generate(swap), _Paste(swap, depth), mark, _Write(writer)],
                source_depth=depth,
                close_source=items.close,
                on_stop=lambda: close_progress(report),
            )
        except StageError as e:
            close_progress(report)  # the error line starts on a line of its own
            if e.stage in ("source", "write"):  # the files': worded for the user
                raise _user_error(e.error, output) from None
            raise e.error from None  # a model's or the engine's, as it is
        if report is not None:
            report("frames", mark.frames, mark.frames)
        if mark.frames == 0:
            if trim is not None:
                raise InputError(f"{target}: no frames between {trim[0]} s and {trim[1]} s")
            raise InputError(f"{target}: the video has no frames")
        if swap.faces_seen == 0:
            raise InputError(
                f"{target}: no face found in any frame; nothing to swap, no output written"
            )
    selected_tracks = len(swap.picker.ever_selected)
    return VideoResult(
        output=str(output),
        frames=mark.frames,
        frames_swapped=swap.frames_swapped,
        faces_per_frame=swap.swaps,
        tracks=len(swap.tracker.all_tracks),
        tracks_swapped=selected_tracks,
        seconds=time.perf_counter() - t_start,
        audio_packets=mark.audio,
        audio_frames_reencoded=mark.audio_frames,
        timings=timings,
    )


def _batches(items: Iterator[Packet], batch_size: int) -> Iterator[Batch]:
    """The reader's packets in batches of `batch_size` frames (audio stays in order between the
    frames around it)."""
    batch: list[Packet] = []
    frames = 0
    for packet in items:
        batch.append(packet)
        if isinstance(packet, VideoPacket):
            frames += 1
            if frames == batch_size:
                yield Batch(batch)
                batch, frames = [], 0
    if batch:
        yield Batch(batch)


class _Analyse(BaseStage):
    """Detect -> landmarks on a batch's frames (on a GPU, on a CUDA stream of its own, so the
    next batch's faces are found while this one is swapped)."""

    name, depth = "analyse", 2

    def __init__(self, swap: _SwapStage) -> None:
        self.swap = swap

    def __call__(self, batch: Batch) -> Iterable[Batch]:
        batch.faces = self.swap.analyse(batch.packets)
        return (batch,)

    def context(self):
        return _side_stream()


class _Generate(BaseStage):
    """Track, select and begin the swap (`_SwapStage.push`). A handoff: the engine may reuse its
    device buffers for the next batch, so that one begins only once the paster has taken this
    one (batch N is pasted back while N+1 is generated)."""

    name, depth = "swap", 0

    def __init__(self, swap: _SwapStage) -> None:
        self.swap = swap

    def __call__(self, batch: Batch) -> Iterable[Batch]:
        return (Batch([], ready=self.swap.push(batch.packets, batch.faces or [])),)

    def flush(self) -> Iterable[Batch]:
        return (Batch([], ready=self.swap.flush()),)


class _Paste(BaseStage):
    """Complete the swaps begun: paste back; the packets leave in order."""

    name = "paste"

    def __init__(self, swap: _SwapStage, depth: int) -> None:
        self.swap, self.depth = swap, depth

    def __call__(self, batch: Batch) -> Iterable[Batch]:
        return (Batch(batch.ready()),) if batch.ready is not None else (batch,)


class _Mark(BaseStage):
    """The visible watermark, the counts (frames, audio copied or re-encoded) and progress."""

    name, depth = "mark", 2

    def __init__(self, watermark, report, on_frame, total: int) -> None:
        self.watermark, self.report, self.on_frame, self.total = watermark, report, on_frame, total
        self.frames = self.audio = self.audio_frames = 0

    def __call__(self, batch: Batch) -> Iterable[Batch]:
        out = []
        for packet in batch.packets:
            if isinstance(packet, VideoPacket):
                if self.watermark is not None:
                    packet = packet.with_frame(self.watermark(packet.frame))
                self.frames += 1
                if self.report is not None:
                    self.report("frames", self.frames, self.total)
                if self.on_frame:
                    self.on_frame(self.frames)
            elif packet.decoded:  # audio: a decoded frame to re-encode
                self.audio_frames += 1
            else:  # audio: a packet copied
                self.audio += 1
            out.append(packet)
        return (Batch(out),)


class _Write(BaseStage):
    """The sink: each packet to the writer; the end closes (and seals) the file, a stop drops
    it."""

    name, depth = "write", 1

    def __init__(self, writer) -> None:
        self.writer = writer

    def __call__(self, batch: Batch) -> Iterable[Batch]:
        for packet in batch.packets:
            self.writer.write(packet)
        return ()

    def flush(self) -> Iterable[Batch]:
        self.writer.close()
        return ()

    def abort(self) -> None:
        self.writer.abort()


def models_on_cuda() -> bool:
    """Whether models already run on a CUDA GPU in this process (PyTorch imported and its CUDA
    started), asked without importing anything."""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized()


def _side_stream():
    """Where the models already run on a CUDA GPU: a stream of this thread's own, so finding the
    faces of the next batch overlaps the swap of this one on the GPU too (results reach the host
    through synchronising copies, so nothing is read before it is written)."""
    if not models_on_cuda():
        return contextlib.nullcontext()
    import torch

    return torch.cuda.stream(torch.cuda.Stream())


def _embedder(stages: Stages):
    """frame, faces -> identity embeddings, with the stages' encoder."""

    def identify(frame, faces):
        return [f.embedding for f in stages.encoder([frame], [faces])[0]]

    return identify


def _user_error(e: BaseException, output: str) -> BaseException:
    """What the encoder thread raised, as the one-line error a user should see."""
    if isinstance(e, TwofaceError | KeyboardInterrupt | SystemExit):
        return e
    if isinstance(e, OSError):  # the encoder's file: a full disk, its folder removed ...
        return output_error(output, e) or written_error(Path(output), e)
    detail = (str(e).splitlines() or [type(e).__name__])[0][:160]
    return OutputError(f"{output}: writing the video failed ({detail})")


@dataclass
class _Entry:
    """A packet waiting in the stage; a frame leaves once no gap it lies in is open."""

    item: Packet
    index: int = -1  # frame number (video only)
    jobs: list[SwapJob] = field(default_factory=list)
    open_gaps: int = 0


class _SwapStage:
    """Detect, track, select and swap, batch by batch, in frame order.

    A selected person missed by the detector for a few frames is swapped in those frames only if
    they come back within the tracker's bridge (their face then interpolated between both
    sides); if they do not, those frames pass through untouched, so nobody's face is painted
    onto a scene they have left. With --reference / --target-faces the frames of a person whose
    identity is still being looked at wait too, so that once they match, their first frames are
    swapped as well. Frames wait here only while such a gap or look is open: at most the
    tracker's `max_missed` frames, or HOLD_FRAMES, beyond a batch.
    """

    HOLD_FRAMES = 2 * PeoplePicker.RECHECK_EVERY + 2  # frames held for a pending identity

    def __init__(
        self, stages: Stages, sources, selection, dt, timings, tracker: Tracker, hold: bool = True
    ) -> None:
        self.stages, self.sources, self.selection = stages, sources, selection
        self.dt, self.timings, self.tracker = dt, timings, tracker
        # hold=False (a live camera): no frame waits for a gap to close or an identity to be
        # decided; a person missed by the detector is simply not swapped in that frame.
        self.hold = hold
        self.picker = PeoplePicker(selection, _embedder(stages))
        self.pending: dict[int, deque] = {}
        self.swaps = array("H")  # faces swapped per frame, in frame order
        self.window: deque[_Entry] = deque()
        self.gaps: dict[int, list[tuple[_Entry, Face, int]]] = {}
        self.last_seen: dict[int, int] = {}
        self.frame_no = 0
        self.frames_swapped = 0
        self.faces_seen = 0
        # The run's memory (per tracked person, per source photo), carried by every job: the
        # engine and maskers, shared between runs, keep none; a new run starts from nothing.
        self.run = RunState()

    def analyse(self, packets: list[Packet]) -> list[list[Face]]:
        """The faces in each frame of a batch of packets (detected, with landmarks)."""
        frames = [p.frame for p in packets if isinstance(p, VideoPacket)]
        if not frames:
            return []
        return self.stages.analyzer.analyse(frames, timings=self.timings)

    def push(self, packets: list[Packet], faces: list[list[Face]]) -> Callable[[], list[Packet]]:
        """Take a batch of packets and their faces (`analyse`); return what gives the packets
        now ready, frames swapped (see `_release`)."""
        t = time.perf_counter()
        k = 0
        for packet in packets:
            if not isinstance(packet, VideoPacket):
                self.window.append(_Entry(packet))
                continue
            self.window.append(self._track(packet, faces[k]))
            self.faces_seen += len(faces[k])
            k += 1
        self.timings["select"] += time.perf_counter() - t
        return self._release()

    def flush(self) -> Callable[[], list[Packet]]:
        """The end of the video: open gaps and undecided people stay unswapped."""
        for waiting in self.gaps.values():
            for entry, _, _ in waiting:
                entry.open_gaps -= 1
        self.gaps.clear()
        for track_id in list(self.pending):
            self._settle(track_id)
        return self._release()

    def _track(self, packet: VideoPacket, faces: list[Face]) -> _Entry:
        frame, index = packet.frame, self.frame_no
        self.frame_no += 1
        entry = _Entry(packet, index)
        seen, bridged = self.tracker.update(faces, self.dt, frame)
        self.picker.update(index, frame, seen, self.tracker.tracks, self.tracker.new_ids)
        for tr in seen:
            if tr.selected:
                entry.jobs.append(SwapJob(0, tr.last, self.sources[tr.source]))
                self._close_gap(tr, index)
                self._settle(tr.id, self.sources[tr.source])
            else:
                self._drop_gap(tr.id)  # back, but no longer swapped: those frames pass
                if self.picker.undecided(tr):
                    self._hold(tr, entry)
                else:
                    self._settle(tr.id)
            self.last_seen[tr.id] = index
        for tr in bridged:
            if tr.selected and self.hold:
                self.gaps.setdefault(tr.id, []).append((entry, tr.last, self.last_seen[tr.id]))
                entry.open_gaps += 1
        alive = {tr.id for tr in self.tracker.tracks}
        for track_id in [i for i in self.gaps if i not in alive]:  # gone for good
            self._drop_gap(track_id)
        for track_id in [i for i in self.pending if i not in alive]:
            self._settle(track_id)
        return entry

    # Frames of a person whose identity is not settled yet wait (a few frames at most), so
    # that once they match, the frames before the match are swapped too.
    def _hold(self, track, entry: _Entry) -> None:
        if not self.hold:
            return
        waiting = self.pending.setdefault(track.id, deque())
        waiting.append((entry, track.last))
        entry.open_gaps += 1
        if len(waiting) > self.HOLD_FRAMES:
            old, _ = waiting.popleft()
            old.open_gaps -= 1

    def _settle(self, track_id: int, source: SourceIdentity | None = None) -> None:
        """Release a person's held frames: swapped with `source`, or untouched without one."""
        for entry, face in self.pending.pop(track_id, ()):
            if source is not None:
                entry.jobs.append(SwapJob(0, face, source))
            entry.open_gaps -= 1

    def _drop_gap(self, track_id: int) -> None:
        for waiting, _, _ in self.gaps.pop(track_id, []):
            waiting.open_gaps -= 1

    def _close_gap(self, track, index: int) -> None:
        """The person is back: swap them into the frames they were missed in, interpolated."""
        for entry, before, before_index in self.gaps.pop(track.id, []):
            w = (entry.index - before_index) / max(index - before_index, 1)
            face = _interpolate(before, track.last, w)
            entry.jobs.append(SwapJob(0, face, self.sources[track.source]))
            entry.open_gaps -= 1

    def _release(self) -> Callable[[], list[Packet]]:
        """Start swapping the items now ready (`Engine.begin`); the returned callable pastes
        back and gives the items in order."""
        ready: list[_Entry] = []
        while self.window and self.window[0].open_gaps == 0:
            ready.append(self.window.popleft())
        video = [e for e in ready if e.index >= 0]
        jobs = [
            replace(j, frame_index=i, run=self.run) for i, e in enumerate(video) for j in e.jobs
        ]
        t = time.perf_counter()
        paste = self.stages.engine.begin([e.item.frame for e in video], jobs) if jobs else None
        self.timings["swap"] += time.perf_counter() - t
        self.frames_swapped += sum(1 for e in video if e.jobs)
        self.swaps.extend(min(len(e.jobs), 65535) for e in video)

        def finish() -> list[Packet]:
            t = time.perf_counter()
            frames = paste() if paste is not None else None
            self.timings["paste"] += time.perf_counter() - t
            out, k = [], 0
            for e in ready:
                if e.index >= 0:
                    out.append(e.item.with_frame(frames[k]) if frames is not None else e.item)
                    k += 1
                else:
                    out.append(e.item)
            return out

        return finish


class StreamSwapper:
    """Frames one at a time as they come (a camera, the web UI's webcam): the video path's
    detection, tracking, landmark smoothing, people picking and swap, with no frame held back.
    `dt`: the seconds since the previous frame (the smoothing's clock)."""

    def __init__(
        self,
        stages: Stages,
        sources: list[SourceIdentity],
        selection: Selection,
        fps: float = 30.0,
    ) -> None:
        self.timings = {"detect": 0.0, "landmarks": 0.0, "select": 0.0, "swap": 0.0, "paste": 0.0}
        self.dt = 1.0 / fps
        self.stage = _SwapStage(
            stages, sources, selection, self.dt, self.timings, Tracker(), hold=False
        )
        from twoface.swap.classical.work import mark_live

        mark_live(self.stage.run)  # engines with a live mode (the classical) read it

    def swap(self, frame: np.ndarray, dt: float | None = None) -> tuple[np.ndarray, int]:
        """The frame swapped, and how many faces were."""
        self.stage.dt = dt if dt is not None and dt > 0 else self.dt
        item = VideoPacket(frame)
        faces = self.stage.analyse([item])
        (out,) = self.stage.push([item], faces)()
        return out.frame, int(self.stage.swaps.pop())

    def run(
        self,
        frames: Iterator[tuple[np.ndarray, float]],
        deliver: Callable[[np.ndarray, int, float], None],
        in_flight: int = 2,
    ) -> None:
        """Swap `frames` ((frame, capture time) pairs, as they come) over three threads -- find
        faces | track, select and begin the swap | paste back and `deliver(frame, faces swapped,
        capture time)` -- with at most `in_flight` frames between taking and delivering: the
        next frame is taken from `frames` only once one is delivered, so it is the newest then,
        and a frame waits behind at most one other. With 2, one frame's faces are found while
        the previous one is swapped and pasted: throughput up to twice one frame's stages in a
        row, latency under two of them (more frames in flight only queue: on a 2-core CPU,
        4 in flight raised latency from 80 to 250 ms at the same rate). Smoothing runs on the
        capture times. Returns once `frames` ends and every frame taken is delivered; a stage's
        failure is raised here as it was raised there."""
        from twoface.swap.compositor import give_frames

        stage, fallback = self.stage, self.dt
        give_frames(stage.run)  # each camera frame is read once and shown once: no copy
        last: list[float] = []
        tokens = threading.Semaphore(in_flight)
        stop = threading.Event()  # the pipeline's: set when a stage fails, so no frame is taken

        def source() -> Iterator[Batch]:
            while True:
                while not tokens.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                item = next(frames, None)
                if item is None:
                    return
                frame, captured = item
                yield Batch([VideoPacket(frame)], meta={"captured": captured})

        class Select(_Generate):
            name = "swap"

            def __call__(self, batch: Batch) -> Iterable[Batch]:
                captured = batch.meta["captured"]
                dt = captured - last[0] if last else 0.0
                stage.dt = dt if dt > 0 else fallback
                last[:] = [captured]
                ready = stage.push(batch.packets, batch.faces or [])
                n = int(stage.swaps.pop())  # one frame in, one released: never held when live
                return (Batch([], ready=ready, meta={"captured": captured, "faces": n}),)

            def flush(self) -> Iterable[Batch]:
                return ()  # live holds no frame back: nothing is left at the end

        class Deliver(BaseStage):
            name = "paste"

            def __call__(self, batch: Batch) -> Iterable[Batch]:
                (out,) = batch.ready()
                deliver(out.frame, batch.meta["faces"], batch.meta["captured"])
                tokens.release()
                return ()

        stages = [_Analyse(stage), Select(stage), Deliver()]
        try:
            run_stages(source(), stages, source_depth=1, stop=stop)
        except StageError as e:
            raise e.error from None


def _interpolate(a: Face, b: Face, w: float) -> Face:
    def mix(x, y):
        if x is None or y is None:
            return x if w < 0.5 else y
        return ((1 - w) * x + w * y).astype(np.float32)

    return replace(
        a, box=mix(a.box, b.box), kps=mix(a.kps, b.kps), landmarks=mix(a.landmarks, b.landmarks)
    )
