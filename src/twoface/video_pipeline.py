"""Streaming video swap: decode -> [detect, landmarks] -> [track, select, generate] -> [paste
back] -> encode.

Five threads joined by bounded queues, so decoding, finding faces, generating, pasting back and
encoding all overlap (on a GPU, detection of the next batch runs on its own stream while this one
is generated, and the previous one is pasted back on the CPU meanwhile); at most `queue_size`
frames wait on either side, two batches between the finder and the generator and one between
the generator and the paster, whatever the video's length. Frames leave in order.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from twoface.analyze import FrameAnalyzer
from twoface.errors import InputError, OutputError, TwofaceError
from twoface.io.atomic import atomic_path, output_error, written_error
from twoface.io.packets import END, Packet, VideoPacket
from twoface.io.video import VideoInfo, audio_plan, open_writer, read_video
from twoface.people import PeoplePicker
from twoface.progress import ProgressCallback, close_progress, resolve
from twoface.select import Selection
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
    crf: int,
    preset: str,
    codec: str | None,
    batch_size: int = 8,
    queue_size: int = 16,
    progress: bool | None | ProgressCallback = None,
    on_frame: Callable[[int], None] | None = None,
    trim: tuple[float, float] | None = None,
    watermark: Watermark | None = None,
    track_identity: bool = True,
) -> VideoResult:
    """Swap the selected people through a whole video; see the module docstring."""
    t_start = time.perf_counter()
    timings = {"detect": 0.0, "landmarks": 0.0, "select": 0.0, "swap": 0.0, "paste": 0.0}
    in_q: queue.Queue = queue.Queue(maxsize=queue_size)
    out_q: queue.Queue = queue.Queue(maxsize=queue_size)
    errors: list[BaseException] = []
    stop = threading.Event()

    plan = audio_plan(info, output)
    reencode = frozenset(i for i, how in enumerate(plan) if how not in ("copy", None))
    drop_audio = all(how is None for how in plan)

    def reader() -> None:
        try:
            for item in read_video(target, info, trim, reencode, drop_audio):
                _put(in_q, item, stop)
                if stop.is_set():
                    return
        except BaseException as e:  # handed to the main thread
            errors.append(e)
        finally:
            in_q.put(END)

    counts = {"frames": 0, "audio": 0, "audio_frames": 0}  # audio: packets copied

    with atomic_path(output) as tmp:
        writer = open_writer(tmp, target, info, label, crf, preset, codec, trim)

        def encoder_loop() -> None:
            ended = False
            try:
                while True:
                    packet = out_q.get()
                    if packet is END:
                        ended = True
                        break
                    writer.write(packet)
                writer.close()
            except BaseException as e:
                errors.append(e)
                stop.set()
                writer.abort()
                # Drain so the producer never blocks -- unless the end marker was already
                # taken (the final write failed): waiting for a second one would hang.
                while not ended and out_q.get() is not END:
                    pass

        threads = [
            threading.Thread(target=reader, daemon=True),
            threading.Thread(target=encoder_loop, daemon=True),
        ]
        for t in threads:
            t.start()
        identify = _embedder(stages) if track_identity else None

        dt = float(1 / info.rate) if info.rate else 1 / 25
        tracker = Tracker(identify=identify)
        if track_identity:
            # Revive a lost person a little inside the encoder's same-person distance.
            tracker.distance = stages.encoder.distance
            tracker.same_person = stages.encoder.same_person * 5 / 6
        stage = _SwapStage(stages, sources, selection, dt, timings, tracker)
        total = _expected_frames(info, trim)
        report = resolve(progress)

        def emit(packets: list[Packet]) -> None:
            for packet in packets:
                if isinstance(packet, VideoPacket):
                    if watermark is not None:
                        packet = packet.with_frame(watermark(packet.frame))
                    counts["frames"] += 1
                    if report is not None:
                        report("frames", counts["frames"], total)
                    if on_frame:
                        on_frame(counts["frames"])
                else:  # audio: a packet copied, or a decoded frame to re-encode
                    counts["audio_frames" if packet.decoded else "audio"] += 1
                out_q.put(packet)

        analysed: queue.Queue = queue.Queue(maxsize=2)  # batches with their faces found

        def analyser() -> None:
            """Batches of decoded items with the faces in their frames (the model errors are
            handed over as they are: they are not the writer's)."""
            ended = threading.Event()  # the reader's end marker was taken
            try:
                with _side_stream():
                    _analyse_all(ended)
            except BaseException as e:
                _put(analysed, ("error", e, None), stop)
            finally:
                _put(analysed, (END, None, None), stop)
                while not ended.is_set() and in_q.get() is not END:  # let the reader finish
                    pass

        def _analyse_all(ended: threading.Event) -> None:
            batch: list = []
            while not stop.is_set() and not ended.is_set():
                packet = in_q.get()
                if packet is END:
                    ended.set()
                else:
                    batch.append(packet)  # audio stays in order between the frames around it
                    if not isinstance(packet, VideoPacket) or _frames(batch) < batch_size:
                        continue
                _put(analysed, ("batch", batch, stage.analyse(batch)), stop)
                batch = []

        paster = ThreadPoolExecutor(1, thread_name_prefix="twoface-paste")
        pasting: deque[Future] = deque()
        finder = threading.Thread(target=analyser, daemon=True)
        finder.start()
        threads.append(finder)
        try:
            while True:
                if errors:  # the reader or the writer failed and stopped the others
                    raise _user_error(errors[0], output)
                try:
                    kind, batch, faces = analysed.get(timeout=0.1)
                except queue.Empty:
                    continue
                if kind is END:
                    break
                if kind == "error":
                    raise batch
                # Batch N is pasted back in the paster's thread while batch N+1 is generated
                # here; items leave in order (their errors are raised here, as they are).
                pasting.append(paster.submit(stage.push(batch, faces)))
                if len(pasting) > 1:
                    emit(pasting.popleft().result())
            pasting.append(paster.submit(stage.flush()))
            while pasting:
                emit(pasting.popleft().result())
        except BaseException:
            stop.set()
            paster.shutdown(wait=True, cancel_futures=True)
            with contextlib.suppress(queue.Full):
                out_q.put(END, timeout=5)
            for t in threads:
                t.join(timeout=5)
            close_progress(report)
            raise
        paster.shutdown()
        out_q.put(END)
        for t in threads:
            t.join()
        if report is not None:
            report("frames", counts["frames"], counts["frames"])
        if errors:
            raise _user_error(errors[0], output)
        if counts["frames"] == 0:
            if trim is not None:
                raise InputError(f"{target}: no frames between {trim[0]} s and {trim[1]} s")
            raise InputError(f"{target}: the video has no frames")
        if stage.faces_seen == 0:
            raise InputError(
                f"{target}: no face found in any frame; nothing to swap, no output written"
            )
    selected_tracks = len(stage.picker.ever_selected)
    return VideoResult(
        output=str(output),
        frames=counts["frames"],
        frames_swapped=stage.frames_swapped,
        faces_per_frame=stage.swaps,
        tracks=len(stage.tracker.all_tracks),
        tracks_swapped=selected_tracks,
        seconds=time.perf_counter() - t_start,
        audio_packets=counts["audio"],
        audio_frames_reencoded=counts["audio_frames"],
        timings=timings,
    )


def _side_stream():
    """Where the models already run on a CUDA GPU: a stream of this thread's own, so finding the
    faces of the next batch overlaps the swap of this one on the GPU too (results reach the host
    through synchronising copies, so nothing is read before it is written)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return contextlib.nullcontext()
    return torch.cuda.stream(torch.cuda.Stream())


def _put(q: queue.Queue, item, stop: threading.Event) -> None:
    """Put unless the pipeline is stopping (then the item is dropped)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


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


def _interpolate(a: Face, b: Face, w: float) -> Face:
    def mix(x, y):
        if x is None or y is None:
            return x if w < 0.5 else y
        return ((1 - w) * x + w * y).astype(np.float32)

    return replace(
        a, box=mix(a.box, b.box), kps=mix(a.kps, b.kps), landmarks=mix(a.landmarks, b.landmarks)
    )
