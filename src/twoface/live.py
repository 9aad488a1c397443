"""Live swapping: frames from a camera (or any video source) swapped as they come.

A reader thread takes frames at the source's own rate (a camera's, or a file's or stream's
timestamps) into a one-slot buffer; the swap loop always takes the newest frame, so when the swap
is slower than the source the frames in between are dropped and counted, never queued without
bound. Each swapped frame goes to the sinks (a window, a virtual camera, a recording, a
callback; none at all for a figures-only run) with a visible "AI-generated" mark: a live picture
has no file to carry the machine-readable label, while a recording (`Recorder`) carries it too.
A window is probed in a child process first (`check_window`), so a display that is missing,
refuses or never answers fails in one line within seconds instead of aborting or hanging.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from twoface.errors import InputError, UsageError

Sink = Callable[[np.ndarray], None]
MS = Fraction(1, 1000)  # a recording's time base: the milliseconds each frame was shown at


@dataclass
class LiveStats:
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    latencies: list[float] = field(default_factory=list)  # capture -> shown, seconds
    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None
    faces: int = 0  # faces swapped, summed over the frames shown

    @property
    def seconds(self) -> float:
        return (self.ended or time.perf_counter()) - self.started

    @property
    def fps(self) -> float:
        return self.frames_out / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self, q: float) -> float | None:
        if not self.latencies:
            return None
        return float(np.percentile(self.latencies, q) * 1000)

    def summary(self) -> dict:
        return {
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "dropped": self.dropped,
            "faces_swapped": self.faces,
            "seconds": round(self.seconds, 2),
            "fps": round(self.fps, 2),
            "latency_ms_p50": _round(self.latency_ms(50)),
            "latency_ms_p95": _round(self.latency_ms(95)),
        }

    def line(self) -> str:
        p50, p95 = self.latency_ms(50), self.latency_ms(95)
        latency = "n/a" if p50 is None else f"{p50:.0f} ms (p95 {p95:.0f} ms)"
        return (
            f"{self.frames_in} frames in, {self.frames_out} shown, {self.dropped} dropped; "
            f"{self.fps:.1f} fps; latency {latency}"
        )


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


class LatestFrame:
    """A one-slot buffer: `put` replaces what was not taken yet (counted as dropped)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item = None
        self._closed = False
        self.dropped = 0

    def put(self, item) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def get(self, timeout: float | None = None):
        """The newest item, or None once closed and empty (or on timeout)."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item


def _is_camera_index(spec: str) -> bool:
    return spec.isdigit()


def frames_from(spec: str, realtime: bool = True) -> Iterator[np.ndarray]:
    """RGB frames of a camera (an index: 0, 1 ...), a video file or a stream URL. A file is read
    at its own frame rate when `realtime` (as a camera would deliver it)."""
    if _is_camera_index(spec):
        yield from _camera(int(spec))
        return
    yield from _stream(spec, realtime)


def _camera(index: int) -> Iterator[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        raise InputError(f"camera {index}: cannot be opened (no such camera, or it is busy)")
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def _stream(spec: str, realtime: bool) -> Iterator[np.ndarray]:
    import av

    is_url = "://" in spec
    if not is_url and not os.path.isfile(spec):
        raise InputError(f"{spec}: no such camera, file or stream")
    try:
        container = av.open(spec, timeout=10.0) if is_url else av.open(spec)
    except (av.FFmpegError, OSError) as e:
        raise InputError(f"{spec}: cannot be opened as video ({e})") from None
    with container:
        if not container.streams.video:
            raise InputError(f"{spec}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = time.perf_counter()
        first = None
        try:
            for frame in container.decode(stream):
                if realtime and not is_url and frame.time is not None:
                    first = frame.time if first is None else first
                    wait = (frame.time - first) - (time.perf_counter() - start)
                    if wait > 0:
                        time.sleep(wait)
                yield frame.to_ndarray(format="rgb24")
        except av.FFmpegError as e:
            raise InputError(
                f"{spec}: stopped decoding ({e.strerror or type(e).__name__})"
            ) from None


def fastest_setup(store) -> tuple[str, str, bool]:
    """(swapper, runtime, half) that swaps fastest with what is installed: on a CUDA GPU the
    inswapper generator batched in fp16 on PyTorch (~4 ms a face on an H100), else the classical
    engine (on a CPU it is several times faster than a 128-px generator: 18-22 fps on this
    2-core machine's test clips)."""
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if cuda:
        for name in ("inswapper_128", "inswapper_128_fp16"):
            entry = store.entry(name)
            arcface = store.entry(entry.pairs_with)
            if store.path(entry).is_file() and store.path(arcface).is_file():
                return name, "torch", True
    return "classical", "onnxruntime", False


class LiveSwapper:
    """Swaps frames as they come for one source identity (the most prominent person, or every
    face), through the video path's stages: the same analyzer, tracking, landmark smoothing and
    people picking as a video, with no frame held back (twoface.video_pipeline.StreamSwapper)."""

    def __init__(self, swapper, sources: Sequence, many: bool = False, fps: float = 30.0) -> None:
        from twoface.select import Selection
        from twoface.swap import SourceIdentity
        from twoface.video_pipeline import StreamSwapper

        self.swapper = swapper
        self.many = many
        # The source's descriptor is not needed: live swaps the most prominent person or every
        # face, never picks one by identity (as a video, `identity=False`), and the selection
        # encoder cannot read every landmarker's faces (dlib128 needs 68 points).
        faces = swapper.source_faces(list(sources), identity=False)
        self.identity = SourceIdentity.combine(faces)
        self.stream = StreamSwapper(swapper.stages(), [self.identity], Selection(many=many), fps)
        self._last: float | None = None
        self._warm = False

    def warm_up(self) -> None:
        """Swap the first source photo once, in a run of its own thrown away afterwards: the
        source's identity is encoded and the device's kernels are chosen now, not on the
        camera's first frame (2 s on this 2-core CPU with an IResNet-50, all of it latency and
        dropped frames otherwise). The session's tracking starts clean."""
        from twoface.select import Selection
        from twoface.video_pipeline import StreamSwapper

        if self._warm:
            return
        photo = self.identity.faces[0].image
        stages = self.swapper.stages()
        StreamSwapper(stages, [self.identity], Selection(many=self.many)).swap(photo)
        self._warm = True

    @property
    def in_flight(self) -> int:
        """Frames between the camera and the sinks at once (`StreamSwapper.run`): 2 where the
        models run on a CUDA GPU -- the host finds the next frame's faces while the device
        swaps -- else 1 (frames in a row): on this 2-core CPU, the classical engine's stages
        overlapped gave the same rate (15.9 against 14.7 fps on dance.mp4) at half again the
        latency (127 against 80 ms), the threads sharing two cores."""
        from twoface.video_pipeline import models_on_cuda

        return 2 if models_on_cuda() else 1

    def swap(self, frame: np.ndarray) -> tuple[np.ndarray, int]:
        """The frame swapped and the number of faces swapped in it."""
        now = time.perf_counter()
        dt = None if self._last is None else now - self._last
        self._last = now
        return self.stream.swap(frame, dt)


def run_live(
    live: LiveSwapper,
    frames: Iterator[np.ndarray],
    sinks: Sequence[Sink],
    *,
    max_frames: int | None = None,
    seconds: float | None = None,
    mark: str | None = "AI-generated",
    report: Callable[[LiveStats], None] | None = None,
    stop: threading.Event | None = None,
) -> LiveStats:
    """Swap `frames` as they come until they end, `max_frames` have come in, `seconds` have
    passed or `stop` is set; `report(stats)` about once a second.

    Three threads swap (`StreamSwapper.run`: find faces | select and begin the swap | paste
    back and mark); on a GPU two frames are in flight, so one frame's faces are found while the
    previous one is swapped (`LiveSwapper.in_flight`). The sinks (a window must be fed from the
    thread that made it) run here, on the calling thread. The frames are taken as the
    session's own: the swapped faces and the mark are drawn into them (a read-only frame is
    copied first)."""
    from twoface.watermark import Watermark

    live.warm_up()  # models loaded and the source encoded before the first frame comes
    in_flight = live.in_flight
    watermark = Watermark(mark) if mark else None
    stats = LiveStats()
    buffer = LatestFrame()
    stop = stop or threading.Event()
    failure: list[BaseException] = []
    done = queue.Queue(maxsize=2)  # swapped frames on their way to the sinks

    def read() -> None:
        try:
            for frame in frames:
                if stop.is_set():
                    break
                stats.frames_in += 1
                buffer.put((frame, time.perf_counter()))
                if max_frames is not None and stats.frames_in >= max_frames:
                    break
        except BaseException as e:  # surfaced in the calling thread
            failure.append(e)
        finally:
            buffer.close()

    def newest() -> Iterator[tuple[np.ndarray, float]]:
        while not stop.is_set():
            if seconds is not None and stats.seconds >= seconds:
                return
            item = buffer.get(timeout=0.5)
            if item is None:
                if not reader.is_alive():
                    return
                continue
            yield item

    def deliver(out: np.ndarray, faces: int, captured: float) -> None:
        if watermark is not None:
            out = watermark(out if out.flags.writeable else out.copy())
        while not stop.is_set():  # once stopped, what is still in flight is not shown
            try:
                done.put((out, faces, captured), timeout=0.1)
                return
            except queue.Full:
                continue

    def swap() -> None:
        try:
            live.stream.run(newest(), deliver, in_flight)
        except BaseException as e:  # surfaced in the calling thread
            failure.append(e)

    reader = threading.Thread(target=read, name="twoface-live-reader", daemon=True)
    swapper = threading.Thread(target=swap, name="twoface-live-swap", daemon=True)
    reader.start()
    swapper.start()
    last_report = time.perf_counter()
    try:
        while not stop.is_set():
            if seconds is not None and stats.seconds >= seconds:
                break
            try:
                out, n, captured = done.get(timeout=0.1)
            except queue.Empty:
                if not swapper.is_alive() and done.empty():
                    break
                continue
            for sink in sinks:
                sink(out)
            stats.frames_out += 1
            stats.faces += n
            stats.latencies.append(time.perf_counter() - captured)
            if report is not None and time.perf_counter() - last_report >= 1.0:
                last_report = time.perf_counter()
                stats.dropped = buffer.dropped
                report(stats)
    except KeyboardInterrupt:
        pass  # Ctrl-C, or q in the window: the session ends with its figures
    finally:
        stop.set()
        stats.ended = time.perf_counter()
        reader.join(timeout=5)
        swapper.join(timeout=10)
        # Every frame that came in and was not shown was dropped: replaced in the one-slot
        # buffer while the swap was busy, or still in flight when the session ended.
        stats.dropped = stats.frames_in - stats.frames_out
    if failure:
        raise failure[0]
    return stats


WINDOW_PROBE_SECONDS = 5.0
NO_WINDOW_HINT = "use --virtual-cam, --record OUT.mp4, or neither for the figures alone"
# Opens (and closes) one tiny window: run in a child process, so a GUI toolkit that aborts the
# process (Qt without a reachable display) or blocks for ever (an X server that never answers)
# costs a child, not the session.
_WINDOW_PROBE = (
    "import cv2, numpy as np\n"
    "cv2.namedWindow('twoface', cv2.WINDOW_AUTOSIZE)\n"
    "cv2.imshow('twoface', np.zeros((8, 8, 3), np.uint8))\n"
    "cv2.waitKey(1)\n"
    "cv2.destroyAllWindows()\n"
    "print('ok')\n"
)


def check_window(timeout: float = WINDOW_PROBE_SECONDS) -> None:
    """Fail in one line (UsageError), within about `timeout` seconds, when no window can open
    here: no display, a display that refuses or never answers, or an OpenCV without a GUI."""
    import subprocess
    import sys

    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if sys.platform.startswith("linux") and not display:
        raise UsageError(f"--show needs a display (DISPLAY is not set); {NO_WINDOW_HINT}", "show")
    where = f"display {display}" if display else "this machine"
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _WINDOW_PROBE],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:  # run() has killed the child
        raise UsageError(
            f"--show: no window opened on {where} within {timeout:g} s (the display does not "
            f"answer); {NO_WINDOW_HINT}",
            "show",
        ) from None
    if probe.returncode != 0 or probe.stdout.strip() != "ok":
        lines = [x.strip() for x in probe.stderr.splitlines() if x.strip()]
        why = lines[0][:160] if lines else f"exit status {probe.returncode}"
        raise UsageError(f"--show: no window can open on {where} ({why}); {NO_WINDOW_HINT}", "show")


def window_sink(title: str = "twoface live", probe: bool = True) -> Sink:
    """Show frames in an OpenCV window (q or Esc closes it: KeyboardInterrupt). `probe`: first
    check in a child process that a window can open (check_window), never hang or abort here."""
    import cv2

    if probe:
        check_window()

    def show(rgb: np.ndarray) -> None:
        try:
            cv2.imshow(title, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            key = cv2.waitKey(1) & 0xFF
        except cv2.error:
            raise UsageError("--show needs a display (none is available here)") from None
        if key in (ord("q"), 27):
            raise KeyboardInterrupt

    return show


def virtual_camera_sink(width: int, height: int, fps: float) -> tuple[Sink, Callable[[], None]]:
    """Frames to a virtual camera (pyvirtualcam: v4l2loopback, OBS's, or Unity Capture)."""
    try:
        import pyvirtualcam
    except ImportError:
        raise UsageError(
            "--virtual-cam needs pyvirtualcam: pip install 'twoface[live]'", "virtual_cam"
        ) from None
    try:
        cam = pyvirtualcam.Camera(width=width, height=height, fps=fps)
    except RuntimeError as e:
        raise UsageError(f"virtual camera: {e}", "virtual_cam") from None

    def send(rgb: np.ndarray) -> None:
        cam.send(np.ascontiguousarray(rgb))

    return send, cam.close


def check_record_path(path: str | os.PathLike, inputs: Sequence[str | os.PathLike]) -> Path:
    """Where `--record` may write: a video container's extension, an existing folder, not an
    input (one-line UsageError otherwise, before any model is loaded)."""
    from twoface.io.image import check_output_path
    from twoface.io.video import WRITE_CONTAINERS

    ext = Path(path).suffix.lower()
    if ext not in WRITE_CONTAINERS:
        raise UsageError(
            f"{path}: --record writes a video; use one of {', '.join(sorted(WRITE_CONTAINERS))}",
            "record",
        )
    return check_output_path(path, list(inputs))


class Recorder:
    """A sink that encodes what was shown (the marked frames) through twoface's VideoWriter,
    with the synthetic-media label in the container metadata. Each frame is stamped with the
    time it was shown (ms), so the video plays as the session was seen, drops and all. Opened on
    the first frame, at its size (later frames of another size are scaled to it)."""

    def __init__(self, path: str | os.PathLike, label, crf: int = 20, preset: str = "veryfast"):
        self.path = Path(path)
        self.label = label
        self.crf, self.preset = crf, preset  # veryfast: the encode runs in the swap loop
        self.frames = 0
        self._writer = None
        self._size: tuple[int, int] | None = None
        self._start = 0.0
        self._last_pts = -1

    def __call__(self, rgb: np.ndarray) -> None:
        now = time.perf_counter()
        if self._writer is None:
            from twoface.io.video import VideoInfo, VideoWriter

            h, w = rgb.shape[:2]
            info = VideoInfo(w, h, 0, Fraction(30), MS, "", 0)
            # No source file: a live recording carries no audio (VideoWriter opens none).
            self._writer = VideoWriter(self.path, None, info, self.label, self.crf, self.preset)
            self._size, self._start = (w, h), now
        elif (rgb.shape[1], rgb.shape[0]) != self._size:
            import cv2

            rgb = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA)
        # Strictly increasing even when two frames are shown within one millisecond.
        pts = max(round((now - self._start) * 1000), self._last_pts + 1)
        self._writer.write_frame(rgb, pts, MS)
        self._last_pts = pts
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()


class _NothingShown(Exception):
    """No frame reached the recorder: nothing is written."""


@contextlib.contextmanager
def recording(path: str | os.PathLike, label) -> Iterator[Recorder]:
    """A Recorder writing to a temporary file beside `path`, renamed onto it when the block ends
    normally (a live session that ends by Ctrl-C, q, --frames or --seconds ends normally).
    If the block raises (SIGTERM, a write error) or no frame was shown, nothing is at `path`
    and no temporary file is left; check `Recorder.frames` to tell the last case."""
    from twoface.io.atomic import atomic_path

    try:
        with atomic_path(path) as tmp:
            recorder = Recorder(tmp, label)
            try:
                yield recorder
                if recorder.frames == 0:
                    raise _NothingShown
                recorder.close()
            except BaseException:
                recorder.abort()
                raise
    except _NothingShown:
        pass
