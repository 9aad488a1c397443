"""Background jobs of the web UI: swaps (one at a time: they share the models and the CPU/GPU)
and model downloads, each with progress, an ETA and a cancel flag.

Jobs run on daemon threads and their number is bounded: a page cannot queue work without end,
and a job stuck inside a model or a decoder cannot keep the UI from stopping on Ctrl-C."""

from __future__ import annotations

import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from twoface.errors import TwofaceError
from twoface.ui.files import Refused

KEEP_FINISHED = 100
MAX_ACTIVE = 8  # swaps and downloads queued or running at once


class Cancelled(Exception):
    """Raised from a progress callback when the user pressed cancel."""


@dataclass
class Job:
    id: str
    kind: str
    state: str = "queued"  # queued, running, done, failed, cancelled
    stage: str = ""
    done: int = 0
    total: int = 0
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    result: dict = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)

    def progress(self, stage: str, done: int, total: int) -> None:
        """A twoface progress callback: records where the job is, stops it when cancelled."""
        if self.cancel.is_set():
            raise Cancelled
        self.stage, self.done, self.total = stage, int(done), int(total or 0)

    def eta(self) -> float | None:
        if self.state != "running" or not self.started or not self.total or not self.done:
            return None
        elapsed = time.monotonic() - self.started
        return max(0.0, elapsed * (self.total - self.done) / self.done)

    def request_cancel(self) -> None:
        """Stop the job: at once when it is still queued, else at its next progress step (its
        status says "cancelling" until then)."""
        self.cancel.set()
        if self.state == "queued":
            self.state, self.finished = "cancelled", time.monotonic()

    def status(self) -> dict:
        eta = self.eta()
        state = self.state
        if state == "running" and self.cancel.is_set():
            state = "cancelling"  # pressed: said at once, though the work stops a step later
        return {
            "id": self.id,
            "kind": self.kind,
            "state": state,
            "stage": self.stage,
            "done": self.done,
            "total": self.total,
            "fraction": (self.done / self.total) if self.total else None,
            "eta_s": None if eta is None else round(eta, 1),
            "error": self.error,
            "result": self.result,
        }


class Jobs:
    def __init__(self, max_active: int = MAX_ACTIVE) -> None:
        self.max_active = max_active
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._queue: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="twoface-ui-swap", daemon=True)
        self._worker.start()

    def _work(self) -> None:
        while (run := self._queue.get()) is not None:
            run()

    def submit(self, kind: str, work: Callable[[Job], dict], exclusive: bool = True) -> Job:
        """Run `work(job)` (returning the job's result) in the background. Swaps queue behind
        each other (`exclusive`); downloads run beside them. Refused (503) past `max_active`."""
        job = Job(secrets.token_urlsafe(12), kind)
        with self._lock:
            active = sum(j.finished is None for j in self._jobs.values())
            if active >= self.max_active:
                raise Refused(
                    f"{active} jobs are queued or running already; wait for one or cancel it", 503
                )
            self._jobs[job.id] = job
            # Keep the latest finished jobs only: a UI left running does not grow without end.
            done = [j for j in self._jobs.values() if j.finished is not None]
            for old in done[: max(0, len(done) - KEEP_FINISHED)]:
                self._jobs.pop(old.id, None)

        def run() -> None:
            if job.cancel.is_set():
                job.state = "cancelled"
                job.finished = job.finished or time.monotonic()
                return
            job.state, job.started = "running", time.monotonic()
            try:
                job.result = work(job)
                job.state = "done"
            except Cancelled:
                job.state = "cancelled"
            except TwofaceError as e:
                job.state, job.error = "failed", str(e)
            except Exception as e:  # a bug: said in one line, the server goes on
                job.state, job.error = "failed", f"internal error: {type(e).__name__}: {e}"
            finally:
                job.finished = time.monotonic()

        if exclusive:
            self._queue.put(run)
        else:
            threading.Thread(target=run, name=f"twoface-ui-{kind}", daemon=True).start()
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            return self._jobs[job_id]

    def close(self, wait_s: float = 0.5) -> None:
        """Cancel every job; wait a moment for the running one to stop (it checks at its next
        progress step), but never longer: the threads are daemons and go with the process."""
        with self._lock:
            jobs = list(self._jobs.values())
            closed, self._closed = self._closed, True
        for job in jobs:
            job.request_cancel()
        if not closed:  # (closed twice on the way out: by the app, then by serve())
            self._queue.put(None)
            self._worker.join(wait_s)
