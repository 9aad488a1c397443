"""One Stage protocol and the runner that composes stages into a streaming pipeline.

A stage takes `Batch`es in order and gives batches in order (none while it holds some back, the
rest at `flush`); `run_stages` runs each stage in a thread of its own, joined by bounded queues,
so reading, finding faces, generating, pasting back and writing overlap, and at most a few
batches wait on each link whatever the stream's length. Batches leave in order.

Stopping: the first stage that fails (or the source, or a Ctrl-C in the calling thread) stops
the others; every put and get watches the stop, so no thread waits on a queue nobody serves,
and a stage told to abort (`Stage.abort`) releases what it holds without finishing it (the
writer drops a half-written file rather than sealing it). The failure is raised in the calling
thread, with the name of the stage it came from (`StageError.stage`) for the caller to word.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from twoface.io.packets import Packet
from twoface.types import Face

_END, _ABORT = object(), object()
POLL_S = 0.1  # how often a waiting thread looks at the stop flag


@dataclass
class Batch:
    """What passes between stages: packets in stream order (frames and the audio between them),
    the faces found in each frame once analysed, and, once a swap has begun, `ready`: the call
    that completes it and gives the packets with their frames swapped."""

    packets: list[Packet]
    faces: list[list[Face]] | None = None
    ready: Callable[[], list[Packet]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class Stage(Protocol):
    """A step of a streaming pipeline.

    name: for errors and timings. depth: how many of its output batches may wait for the next
    stage (0: a handoff -- it starts on its next batch only once the next stage has taken the
    last one, for stages whose outputs hold device buffers that the next batch would reuse)."""

    name: str
    depth: int

    def __call__(self, batch: Batch) -> Iterable[Batch]: ...

    def flush(self) -> Iterable[Batch]: ...

    def abort(self) -> None: ...

    def context(self) -> contextlib.AbstractContextManager: ...


class BaseStage:
    """Defaults for the optional parts of a stage: flush gives nothing, abort does nothing, no
    thread context, two batches may wait."""

    name = "stage"
    depth = 2

    def flush(self) -> Iterable[Batch]:
        return ()

    def abort(self) -> None:
        return None

    def context(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


class StageError(Exception):
    """A stage's failure, raised in the calling thread: `stage` names it, `error` is what it
    raised."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"{stage}: {error}")
        self.stage, self.error = stage, error


class _Link:
    """A bounded queue between two threads that watches the stop flag."""

    def __init__(self, depth: int, stop: threading.Event) -> None:
        self.handoff = depth == 0
        self.q: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self.stop = stop

    def put(self, item) -> bool:
        """Put unless stopping (then the item is dropped, False); a handoff also waits until the
        next stage has taken it."""
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=POLL_S)
                break
            except queue.Full:
                continue
        else:
            return False
        if self.handoff:
            with self.q.all_tasks_done:
                while self.q.unfinished_tasks and not self.stop.is_set():
                    self.q.all_tasks_done.wait(POLL_S)
        return not self.stop.is_set()

    def put_end(self, item) -> None:
        """The end (or abort) marker: always delivered, but never waits on a stopped pipeline
        forever (a consumer that is gone has stopped reading)."""
        while True:
            try:
                self.q.put(item, timeout=POLL_S)
                return
            except queue.Full:
                if self.stop.is_set():
                    with contextlib.suppress(queue.Empty):
                        self.q.get_nowait()  # drop a batch nobody will finish
                        self.q.task_done()

    def get(self):
        while True:
            try:
                item = self.q.get(timeout=POLL_S)
            except queue.Empty:
                continue
            self.q.task_done()
            return item


def run_stages(
    source: Iterator[Batch],
    stages: list[Stage],
    *,
    source_depth: int = 2,
    close_source: Callable[[], None] | None = None,
    on_stop: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run `source` through `stages` (the last one a sink: what it gives is dropped); return when
    every batch has gone through and every stage has flushed. Raises StageError for the first
    stage (or "source") that failed; a KeyboardInterrupt or other BaseException in the calling
    thread stops every stage (each aborts) and is re-raised after they have stopped. `stop`:
    the pipeline's stop flag, given where the source waits on something of its own and must
    see a stage's failure (set then, as by a Ctrl-C)."""
    stop = stop or threading.Event()
    errors: list[StageError] = []
    links = [_Link(source_depth, stop)] + [_Link(s.depth, stop) for s in stages]
    lock = threading.Lock()

    def fail(name: str, e: BaseException) -> None:
        with lock:
            errors.append(StageError(name, e))
        stop.set()

    def feed() -> None:
        out = links[0]
        try:
            for batch in source:
                if not out.put(batch):
                    break
        except BaseException as e:  # handed to the calling thread
            fail("source", e)
        finally:
            if close_source is not None:
                with contextlib.suppress(Exception):
                    close_source()
            out.put_end(_ABORT if stop.is_set() else _END)

    def work(k: int, stage: Stage) -> None:
        inbox, out = links[k], links[k + 1]
        last = k == len(stages) - 1
        marker = None  # the end or abort marker, once taken
        try:
            with stage.context():
                while True:
                    item = inbox.get()
                    if item is _END or item is _ABORT:
                        marker = item
                        break
                    if stop.is_set():
                        continue  # drain until the marker: the stages before are stopping
                    for batch in stage(item):
                        if not last and not out.put(batch):
                            break
                if marker is _END and not stop.is_set():
                    for batch in stage.flush():
                        if not last and not out.put(batch):
                            break
        except BaseException as e:
            fail(stage.name, e)
            # Take the rest of the input, so the stage before never waits on this one.
            while marker is None:
                item = inbox.get()
                if item is _END or item is _ABORT:
                    marker = item
        finally:
            if stop.is_set():
                with contextlib.suppress(Exception):
                    stage.abort()
            if not last:
                out.put_end(_ABORT if stop.is_set() else _END)

    finished = threading.Semaphore(0)  # released once by each thread as it ends

    def ending(target: Callable[..., None]) -> Callable[..., None]:
        def run(*args) -> None:
            try:
                target(*args)
            finally:
                finished.release()

        return run

    threads = [threading.Thread(target=ending(feed), daemon=True, name="twoface-source")]
    threads += [
        threading.Thread(target=ending(work), args=(k, s), daemon=True, name=f"twoface-{s.name}")
        for k, s in enumerate(stages)
    ]
    for t in threads:
        t.start()
    # Waited on through the semaphore, not Thread.join: on Python 3.11 a Ctrl-C that interrupts
    # a join can mark a still-running thread as finished, and a later join then returns at once.
    ended = 0
    try:
        while ended < len(threads):
            if finished.acquire(timeout=POLL_S):
                ended += 1
    except BaseException:
        stop.set()
        # Model runs in the stage threads stop at their next operator (onnxruntime's run
        # options), so the threads reach their abort soon rather than after a whole batch.
        runtime = sys.modules.get("twoface.runtime")
        if runtime is not None:
            runtime.terminate_runs()
        deadline = time.monotonic() + 10
        while ended < len(threads) and time.monotonic() < deadline:
            if finished.acquire(timeout=POLL_S):
                ended += 1
        if on_stop is not None:
            on_stop()
        raise
    if errors:
        raise errors[0]
