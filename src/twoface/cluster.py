"""Jobs over a Ray cluster (`--ray`, the `twoface[cluster]` extra).

`RayPool` keeps a pool of actors, each a worker that loads models once and then runs job after
job (`twoface.parallel.run_job`): image jobs go to it whole; a video is cut at keyframes into
segments by the same segment runner as `--devices` (`twoface.parallel.swap_video_segments`) and
the driver joins the parts by stream copy with the audio muxed once. Only job JSON and small
results travel through Ray: the workers read the target and write their part on a filesystem
every node sees (the output's folder), so frames never pass through the object store and the
driver never holds a video in memory.

An actor that dies (its node lost, the process killed) is replaced and its job given to the
next free actor, up to `retries` times; a job's own failure (a missing file, no face, a bad
option) is not retried here: it comes back as the job's one-line error.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass

from twoface.errors import UsageError

AUTO = "auto"


@dataclass(frozen=True)
class RaySettings:
    """How the pool is made. address: "auto" (the cluster RAY_ADDRESS or `ray start` names,
    else a Ray started on this machine for this run) or HOST:PORT. actors: how many workers
    (default: one per GPU of the cluster, else one per CPU). gpus / cpus: per actor; a fraction
    of a GPU lets several actors share one."""

    address: str = AUTO
    actors: int | None = None
    gpus: float | None = None
    cpus: float = 1.0
    retries: int = 2

    def __post_init__(self) -> None:
        if self.actors is not None and self.actors < 1:
            raise UsageError(f"--actors must be 1 or more, got {self.actors}", "actors")
        if self.gpus is not None and not 0 <= self.gpus <= 8:
            raise UsageError(f"--gpus-per-actor must be 0 to 8, got {self.gpus}", "gpus_per_actor")
        if not 0 < self.cpus <= 256:
            raise UsageError(f"--cpus-per-actor must be above 0, got {self.cpus}", "cpus_per_actor")


def _ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray: pip install 'twoface[cluster]'", "ray") from None
    return ray


class _Worker:
    """A Ray actor: one process that keeps its models loaded (via twoface.parallel's runner)."""

    def __init__(self) -> None:
        import ray

        self.device = "cuda" if ray.get_gpu_ids() else None

    def run(self, job: dict) -> dict:
        from twoface.parallel import run_job

        return run_job(job, self.device)

    def pid(self) -> int:
        return os.getpid()


class RayPool:
    """Actors on a Ray cluster; `run(jobs)` yields (index, result) as jobs finish."""

    def __init__(self, settings: RaySettings | None = None) -> None:
        ray = _ray()
        self.settings = s = settings or RaySettings()
        self._started = False
        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            # Ray's own INFO lines would break the one-line contract of twoface's stderr.
            quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
            if s.address == AUTO:
                try:
                    ray.init(address="auto", **quiet)
                except ConnectionError:  # no cluster running: one on this machine, for this run
                    ray.init(include_dashboard=False, **quiet)
                    self._started = True
            else:
                try:
                    ray.init(address=s.address, **quiet)
                except (ConnectionError, ValueError, RuntimeError) as e:
                    first = (str(e).splitlines() or [""])[0]
                    raise UsageError(
                        f"--ray {s.address}: cannot reach the cluster ({first})", "ray"
                    ) from None
        resources = ray.cluster_resources()
        gpus = s.gpus if s.gpus is not None else (1.0 if resources.get("GPU", 0) >= 1 else 0.0)
        if s.actors is not None:
            count = s.actors
        elif gpus > 0:
            count = max(1, int(resources.get("GPU", 0) / gpus))
        else:
            count = max(1, int(resources.get("CPU", 1) / s.cpus))
        self._cls = ray.remote(num_cpus=s.cpus, num_gpus=gpus)(_Worker)
        self.actors = [self._cls.remote() for _ in range(count)]
        self.replaced = 0  # actors lost and replaced during this pool's life

    @property
    def size(self) -> int:
        return len(self.actors)

    def run(self, jobs: list[dict]):
        ray = _ray()
        from ray.exceptions import RayActorError

        queue = deque((i, 0) for i in range(len(jobs)))
        idle = deque(range(self.size))
        running: dict = {}  # object ref -> (job index, attempt, actor slot)
        while queue or running:
            while queue and idle:
                i, attempt = queue.popleft()
                slot = idle.popleft()
                running[self.actors[slot].run.remote(jobs[i])] = (i, attempt, slot)
            done, _ = ray.wait(list(running), num_returns=1)
            ref = done[0]
            i, attempt, slot = running.pop(ref)
            try:
                result = ray.get(ref)
            except RayActorError as e:  # the worker died: a new one, the job again
                self.actors[slot] = self._cls.remote()
                self.replaced += 1
                idle.append(slot)
                if attempt >= self.settings.retries:
                    first = (str(e).splitlines() or [""])[0][:200]
                    yield (
                        i,
                        {
                            "error": f"{jobs[i].get('target')}: worker lost ({first})",
                            "exit_code": 1,
                        },
                    )
                else:
                    queue.append((i, attempt + 1))
                continue
            idle.append(slot)
            yield i, result

    def close(self) -> None:
        ray = _ray()
        for a in self.actors:
            ray.kill(a)
        self.actors = []
        if self._started:
            ray.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
