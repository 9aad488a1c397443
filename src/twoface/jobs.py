"""Typed, serialisable jobs and the runner that runs them.

A job is what a front asks for, complete: the sources, the target, the output, which faces
(selection), which models with which options and on which runtime, how the swap is finished
(masks, restorer), and how the output is written. The CLI, the API, a batch manifest line and a
cluster worker all carry the same job; `job_to_json` / `job_from_json` are exact inverses, and
`job_from_json` is the one options parser: an unknown key or a bad value is one UsageError with
a field id ("job.selection.similarity").

    {"kind": "image", "sources": ["me.jpg"], "target": "group.jpg", "output": "out.jpg",
     "selection": {"many": true}, "models": {"swapper": "inswapper_128"},
     "write": {"quality": 90}}

`Runner` runs jobs on models it keeps loaded (one `ModelPool` per model store), so a batch of
jobs pays model loading once; the run's own state (tracks, source traits, timings) is made per
job by the Swapper facade, never kept in the shared models.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from twoface.config import (
    Config,
    FinishConfig,
    ModelsConfig,
    OutputConfig,
    RuntimeConfig,
    SelectionConfig,
)
from twoface.errors import UsageError
from twoface.options import from_mapping, to_json

JOB_VERSION = 1


@dataclass(frozen=True)
class ImageJob:
    """Swap faces in one image. `anime`: True for illustrations, False for photos, None to
    decide (see Swapper.swap_image)."""

    sources: tuple[str, ...]
    target: str
    output: str
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    finish: FinishConfig = field(default_factory=FinishConfig)
    write: OutputConfig = field(default_factory=OutputConfig)
    anime: bool | None = None

    kind = "image"


@dataclass(frozen=True)
class VideoJob:
    """Swap faces through a video (or an animated GIF/WebP). `track_identity`: re-associate a
    person's track by identity after it was lost (None: wherever the encoder can read the
    landmarker's faces; see Swapper.swap_video)."""

    sources: tuple[str, ...]
    target: str
    output: str
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    finish: FinishConfig = field(default_factory=FinishConfig)
    write: OutputConfig = field(default_factory=OutputConfig)
    track_identity: bool | None = None

    kind = "video"


@dataclass(frozen=True)
class LiveJob:
    """Swap a camera (an index, a file or a URL) live: `frames` / `seconds` bound the run,
    `record` writes what was shown (labelled)."""

    sources: tuple[str, ...]
    camera: str = "0"
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    finish: FinishConfig = field(default_factory=FinishConfig)
    frames: int | None = None
    seconds: float | None = None
    record: str | None = None

    kind = "live"


Job = ImageJob | VideoJob | LiveJob
KINDS: dict[str, type] = {"image": ImageJob, "video": VideoJob, "live": LiveJob}


def _check_paths(job: Job) -> None:
    """Jobs carry paths: an in-memory picture (the API's arrays) cannot travel in one."""
    sel = job.selection
    for value, name in [
        (sel.reference, "reference"),
        *((t, "target_faces") for t in sel.target_faces),
    ]:
        if value is not None and not isinstance(value, str | os.PathLike):
            raise UsageError(f"job.selection.{name}: a job names files, not pictures", name)


def job_to_json(job: Job) -> dict[str, Any]:
    """The job as JSON-ready data (with its kind and the format's version)."""
    _check_paths(job)
    return {"version": JOB_VERSION, "kind": job.kind, **to_json(job)}


def job_from_json(data: Mapping[str, Any], where: str = "job") -> Job:
    """The job `data` describes; one UsageError naming what is wrong (field id `where.key`)."""
    if not isinstance(data, Mapping):
        raise UsageError(f"{where}: a job is a JSON object, got {type(data).__name__}", where)
    values = dict(data)
    version = values.pop("version", JOB_VERSION)
    if version != JOB_VERSION:
        raise UsageError(
            f"{where}: job format version {version!r}; this twoface reads {JOB_VERSION}",
            f"{where}.version",
        )
    kind = values.pop("kind", None)
    if kind not in KINDS:
        raise UsageError(
            f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}", f"{where}.kind"
        )
    if isinstance(values.get("sources"), str):
        values["sources"] = [values["sources"]]
    job = from_mapping(KINDS[kind], values, where)
    if not job.sources:
        raise UsageError(f"{where}: at least one source face is needed", f"{where}.sources")
    return job


def replace_output(job: Job, output: str) -> Job:
    return dataclasses.replace(job, output=output)


class Runner:
    """Runs jobs, keeping models loaded between them: one ModelPool per (model store, offline,
    runtime). Stateless between jobs otherwise: each job gets its own Swapper facade (its run
    state) over the shared, stateless built models."""

    def __init__(self) -> None:
        self._pools: dict[tuple, Any] = {}

    def pool(self, models: ModelsConfig, runtime: RuntimeConfig):
        from twoface.build import ModelPool
        from twoface.zoo.store import ModelStore

        models_dir = os.fspath(models.models_dir) if models.models_dir is not None else None
        key = (models_dir, models.offline, runtime)
        if key not in self._pools:
            store = ModelStore(models.models_dir, offline=models.offline)
            self._pools[key] = ModelPool(store, runtime)
        return self._pools[key]

    def swapper(self, job: Job):
        from twoface.api import Swapper

        config = Config(job.models, job.runtime, job.finish)
        return Swapper(config, pool=self.pool(job.models, job.runtime))

    def run(self, job: Job, progress=None):
        """Run an image or video job; returns the Swapper's result (SwapResult or VideoResult)."""
        if isinstance(job, LiveJob):
            raise UsageError("a live job runs with `twoface live` (it needs a camera)", "kind")
        sw = self.swapper(job)
        if isinstance(job, ImageJob):
            return sw.swap_image(
                list(job.sources),
                job.target,
                output=job.output,
                anime=job.anime,
                progress=progress if progress is not None else False,
                selection=job.selection,
                options=job.write,
            )
        return sw.swap_video(
            list(job.sources),
            job.target,
            job.output,
            progress=progress,
            track_identity=job.track_identity,
            selection=job.selection,
            options=job.write,
        )
