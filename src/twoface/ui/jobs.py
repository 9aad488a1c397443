"""Background jobs of the web UI: swaps (one at a time: they share the models and the CPU/GPU)
and model downloads, each with progress, an ETA and a cancel flag."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from twoface.errors import TwofaceError

KEEP_FINISHED = 100


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

    def status(self) -> dict:
        eta = self.eta()
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "stage": self.stage,
            "done": self.done,
            "total": self.total,
            "fraction": (self.done / self.total) if self.total else None,
            "eta_s": None if eta is None else round(eta, 1),
            "error": self.error,
            "result": self.result,
        }


class Jobs:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._swaps = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twoface-ui-swap")
        self._lock = threading.Lock()

    def submit(self, kind: str, work: Callable[[Job], dict], exclusive: bool = True) -> Job:
        """Run `work(job)` (returning the job's result) in the background. Swaps queue behind
        each other (`exclusive`); downloads run beside them."""
        job = Job(secrets.token_urlsafe(12), kind)
        with self._lock:
            self._jobs[job.id] = job
            # Keep the latest finished jobs only: a UI left running does not grow without end.
            done = [j for j in self._jobs.values() if j.finished is not None]
            for old in done[: max(0, len(done) - KEEP_FINISHED)]:
                self._jobs.pop(old.id, None)

        def run() -> None:
            if job.cancel.is_set():
                job.state = "cancelled"
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
            self._swaps.submit(run)
        else:
            threading.Thread(target=run, name=f"twoface-ui-{kind}", daemon=True).start()
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            return self._jobs[job_id]

    def close(self) -> None:
        for job in list(self._jobs.values()):
            job.cancel.set()
        self._swaps.shutdown(wait=True, cancel_futures=True)
