"""Many jobs in one run: `twoface batch MANIFEST` and `twoface swap -t DIR/ -o OUTDIR/`.

A manifest is JSON Lines (one job per line, the JSON of `twoface.jobs`; `kind` may be left out
and is then read from the target's extension) or CSV with the columns `source` (several
separated by `;`), `target`, `output` and, optionally, `options` (a JSON object merged into the
job, e.g. `{"selection": {"many": true}}`). Every job runs on one `Runner`, so models load
once. A job that fails -- a missing file, no face, a bad option in its line -- is one line in the
summary and the others go on.

A state file (JSON) records each job by the digest of its JSON: done, or failed with its error
and attempts. It is rewritten atomically after every job, so a batch stopped by Ctrl-C, a crash
or a reboot resumes where it was: a re-run skips the jobs done (whose output is still there) and
runs the rest; `retry` gives a failing job that many more attempts within a run.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from twoface.errors import InputError, TwofaceError, UsageError
from twoface.jobs import (
    KINDS,
    ImageJob,
    Job,
    LiveJob,
    Runner,
    VideoJob,
    job_from_json,
    job_to_json,
)

EXIT_SOME_FAILED = 6  # documented in README: a batch in which at least one job failed
STATE_VERSION = 1
MAX_MANIFEST_BYTES = 64 * 2**20  # a manifest is text: 64 MiB is about a million jobs


@dataclass
class Item:
    """One line of a batch: its job (None when the line itself is wrong) and its key."""

    line: int
    job: Job | None
    key: str
    label: str
    error: str | None = None  # the line's own problem (bad JSON, an unknown option ...)


@dataclass
class Outcome:
    label: str
    status: str  # "done", "skipped" (done in an earlier run), "failed"
    output: str | None = None
    error: str | None = None
    exit_code: int | None = None
    attempts: int = 0
    seconds: float = 0.0
    frames: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def exit_code(self) -> int:
        return EXIT_SOME_FAILED if self.count("failed") else 0

    def to_json(self) -> dict[str, Any]:
        frames = sum(o.frames or 0 for o in self.outcomes if o.status == "done")
        return {
            "jobs": len(self.outcomes),
            "done": self.count("done"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "frames": frames,
            "seconds": round(self.seconds, 2),
            "results": [o.to_json() for o in self.outcomes],
        }


def job_key(job: Job) -> str:
    """The job's identity in the state file: a digest of its JSON (the same job, the same key)."""
    text = json.dumps(job_to_json(job), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


_VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v"}


def _with_kind(data: dict[str, Any]) -> dict[str, Any]:
    """A job without `kind` is a video job for a video target (by its extension, or an animated
    GIF/WebP that is there to look at), else an image job."""
    target = data.get("target")
    if "kind" in data or not isinstance(target, str):
        return data
    from twoface.io.video import is_video_path

    video = Path(target).suffix.lower() in _VIDEO_SUFFIXES or (
        os.path.isfile(target) and is_video_path(target)
    )
    return {**data, "kind": "video" if video else "image"}


def _item(line: int, data: Any, where: str) -> Item:
    label = where
    try:
        if not isinstance(data, dict):
            raise UsageError(f"{where}: a job is a JSON object", where)
        label = str(data.get("target") or where)
        job = job_from_json(_with_kind(data), where)
        if isinstance(job, LiveJob):
            raise UsageError(f"{where}: a live job cannot run in a batch", f"{where}.kind")
        return Item(line, job, job_key(job), job.target)
    except TwofaceError as e:
        digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode())
        return Item(line, None, "line-" + digest.hexdigest()[:16], label, str(e))


def read_manifest(path: str | os.PathLike) -> list[Item]:
    """The jobs of a manifest file (.jsonl/.json lines, or .csv)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file" if not p.exists() else f"{p}: not a file")
    if p.stat().st_size > MAX_MANIFEST_BYTES:
        raise InputError(f"{p}: a manifest over {MAX_MANIFEST_BYTES >> 20} MiB")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{p}: not a text file (a manifest is JSON Lines or CSV)") from None
    items: list[Item] = []
    if p.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        missing = {"source", "target", "output"} - set(reader.fieldnames or ())
        if missing:
            raise InputError(
                f"{p}: a CSV manifest needs the columns source, target, output "
                f"(missing: {', '.join(sorted(missing))})"
            )
        for n, row in enumerate(reader, start=2):
            where = f"{p.name}:{n}"
            data: Any = {
                "sources": [s.strip() for s in (row.get("source") or "").split(";") if s.strip()],
                "target": (row.get("target") or "").strip(),
                "output": (row.get("output") or "").strip(),
            }
            extra = (row.get("options") or "").strip()
            if extra:
                try:
                    options = json.loads(extra)
                except (ValueError, RecursionError) as e:
                    options = f"not JSON ({e})"
                if not isinstance(options, dict):
                    problem = options if isinstance(options, str) else "not a JSON object"
                    error = f"{where}: the options column is {problem}"
                    items.append(Item(n, None, f"line-{n}", where, error))
                    continue
                data = {**options, **data}
            items.append(_item(n, data, where))
        return items
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{p.name}:{n}"
        try:
            data = json.loads(line)
        except (ValueError, RecursionError) as e:
            items.append(Item(n, None, f"line-{n}", where, f"{where}: not JSON ({e})"))
            continue
        items.append(_item(n, data, where))
    return items


def jobs_for_targets(
    template: Job, targets: Sequence[str | os.PathLike], outdir: Path
) -> list[Item]:
    """`swap -t DIR/ | -t A B ... -o OUTDIR/`: one job per target file (a folder's images and
    videos, sorted), each written to OUTDIR under its own name."""
    from twoface.io.image import IMAGE_EXTENSIONS
    from twoface.io.video import VIDEO_EXTENSIONS

    files: list[Path] = []
    for t in targets:
        t = Path(t)
        if t.is_dir():
            files += sorted(
                f
                for f in t.iterdir()
                if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
            )
        else:
            files.append(t)
    if not files:
        raise InputError(f"{', '.join(map(str, targets))}: no image or video to swap")
    items = []
    for n, f in enumerate(files, start=1):
        data = job_to_json(template)
        data.update(target=str(f), output=str(outdir / f.name))
        data.pop("kind", None)
        data = _with_kind(data)
        # The template's settings that this kind of job does not take (an image's `anime`, a
        # video's `track_identity`) are left out; those that matter stay and fail in one line.
        fields = set(KINDS[data["kind"]].__dataclass_fields__) | {"kind", "version"}
        defaults = {"anime": None, "track_identity": None}
        for key in [k for k in data if k not in fields]:
            if data[key] == defaults.get(key):
                del data[key]
        items.append(_item(n, data, str(f)))
    return items


class State:
    """The state file: what each job (by key) came to, rewritten atomically after each job."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.jobs: dict[str, dict[str, Any]] = {}
        if path.is_symlink():
            raise UsageError(f"{path}: the batch state file is a symbolic link; remove it")
        if path.exists():
            try:
                data = json.loads(path.read_text())
                if data.get("version") != STATE_VERSION or not isinstance(data.get("jobs"), dict):
                    raise ValueError("not a state file this twoface wrote")
                self.jobs = {str(k): dict(v) for k, v in data["jobs"].items()}
            except (OSError, ValueError, TypeError, AttributeError, RecursionError) as e:
                raise InputError(
                    f"{path}: unreadable batch state ({e}); remove it to start over"
                ) from None

    def done(self, item: Item) -> bool:
        entry = self.jobs.get(item.key)
        return bool(
            entry and entry.get("status") == "done" and item.job and Path(item.job.output).exists()
        )

    def record(self, item: Item, outcome: Outcome) -> None:
        previous = self.jobs.get(item.key, {})
        self.jobs[item.key] = {
            "status": outcome.status if outcome.status != "skipped" else "done",
            "target": outcome.label,
            "output": outcome.output,
            "attempts": previous.get("attempts", 0) + outcome.attempts,
            **({"error": outcome.error} if outcome.error else {}),
        }
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".twoface-state-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"version": STATE_VERSION, "jobs": self.jobs}, f, indent=1)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


Progress = Callable[[str], None]


def _line(done: int, total: int, failed: int, started: float, text: str) -> str:
    elapsed = time.perf_counter() - started
    eta = ""
    if 0 < done < total:
        left = elapsed / done * (total - done)
        eta = f", ETA {int(left // 60)}:{int(left % 60):02d}"
    return f"[{done}/{total}] {text} ({failed} failed{eta})"


def run_batch(
    items: Sequence[Item],
    state: State,
    *,
    retry: int = 0,
    runner: Runner | None = None,
    progress: Progress | None = None,
    after: Callable[[Job | None, Outcome], None] | None = None,
    pool: Any = None,
) -> Summary:
    """Run every item not done yet, each up to 1 + `retry` times; a failure is recorded and the
    batch goes on. Ctrl-C stops after recording what finished (the state resumes it). `after`
    is called with each job and its outcome once it is recorded (`--report`'s reports).

    `pool`: workers of `twoface.parallel.LocalPool` or `twoface.cluster.RayPool`. The image
    jobs then run all at once across the workers (each recorded in the state as it finishes),
    and each video is cut into segments over every worker (`swap_video_segments`)."""
    runner = _PoolRunner(pool) if pool is not None else (runner or Runner())
    summary = Summary()
    started = time.perf_counter()
    frames_total = 0
    if pool is not None:
        runner.images_first(items, state, retry)
    for k, item in enumerate(items, start=1):
        if item.job is None:
            outcome = Outcome(item.label, "failed", error=item.error, exit_code=2, attempts=0)
        elif state.done(item) and not (pool is not None and item.key in runner.first):
            outcome = Outcome(item.label, "skipped", output=item.job.output)
        else:
            outcome = _attempt(runner, item, retry)
            frames_total += outcome.frames or 0
        state.record(item, outcome)
        summary.outcomes.append(outcome)
        if after is not None:
            after(item.job, outcome)
        if progress is not None:
            what = {
                "done": f"done {outcome.label} -> {outcome.output}",
                "skipped": f"already done {outcome.label}",
                "failed": f"FAILED {outcome.error}",
            }[outcome.status]
            elapsed = time.perf_counter() - started
            rate = f", {frames_total / elapsed:.1f} fps overall" if frames_total else ""
            failed = summary.count("failed")
            progress(_line(k, len(items), failed, started, what + rate))
    summary.seconds = time.perf_counter() - started
    return summary


class _PoolRunner:
    """`Runner.run` over a worker pool: images answered from the first, all-at-once round
    (`images_first`), videos through the segment runner."""

    def __init__(self, pool) -> None:
        self.pool = pool
        self.first: dict[str, dict] = {}  # job key -> the worker's result (first attempt)

    def images_first(self, items: Sequence[Item], state: State, retry: int) -> None:
        from twoface.jobs import job_to_json

        todo = [
            it
            for it in items
            if it.job is not None and isinstance(it.job, ImageJob) and not state.done(it)
        ]
        if not todo:
            return
        for i, result in self.pool.run([job_to_json(it.job) for it in todo]):
            self.first[todo[i].key] = result
            if "error" not in result:  # recorded now: a stopped batch resumes after it
                state.record(todo[i], Outcome(todo[i].label, "done", output=todo[i].job.output))

    def run(self, job: Job):
        from twoface.jobs import job_to_json
        from twoface.parallel import error_from, swap_video_segments

        if isinstance(job, VideoJob):
            return _Figures(**swap_video_segments(job, self.pool))
        result = self.first.pop(job_key(job), None)
        if result is None:
            result = next(iter(self.pool.run([job_to_json(job)])))[1]
        if "error" in result:
            raise error_from(result)
        return result


class _Figures:
    def __init__(self, frames: int = 0, **_: Any) -> None:
        self.frames = frames


def _attempt(runner: Runner, item: Item, retry: int) -> Outcome:
    job = item.job
    assert job is not None
    error, code, attempts = None, None, 0
    t = time.perf_counter()
    for _ in range(1 + max(retry, 0)):
        attempts += 1
        try:
            result = runner.run(job)
        except TwofaceError as e:
            error, code = str(e), e.exit_code
            if isinstance(e, UsageError):
                break  # a bad option fails the same way every time
            continue
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # a bug in one job must not stop the batch
            error = f"internal error: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}"
            code = 70
            continue
        frames = getattr(result, "frames", None)
        return Outcome(
            item.label,
            "done",
            output=job.output,
            attempts=attempts,
            seconds=round(time.perf_counter() - t, 3),
            frames=frames,
        )
    return Outcome(item.label, "failed", error=error, exit_code=code, attempts=attempts)


def with_models(items: Iterable[Item], models_dir: str | None, offline: bool) -> list[Item]:
    """The items with the command line's model store (a job's own `models_dir` wins)."""
    out = []
    for item in items:
        job = item.job
        if job is not None and (models_dir or offline):
            models = job.models
            models = replace(
                models,
                models_dir=models.models_dir or models_dir,
                offline=models.offline or offline,
            )
            job = replace(job, models=models)
            item = replace(item, job=job, key=job_key(job))
        out.append(item)
    return out


def stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


__all__ = [
    "EXIT_SOME_FAILED",
    "ImageJob",
    "Item",
    "Outcome",
    "State",
    "Summary",
    "VideoJob",
    "job_key",
    "jobs_for_targets",
    "read_manifest",
    "run_batch",
    "stderr_progress",
    "with_models",
]
