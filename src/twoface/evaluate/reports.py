"""Running an evaluation on files and writing its report: one output (`evaluate`,
`write_report`), several outputs ranked (`compare`), and one report per job of a batch with an
index (`BatchReports`). Reports are written atomically (twoface.io.atomic); `.json` gets the
JSON, any other name the HTML page."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twoface.errors import InputError, TwofaceError, UsageError
from twoface.evaluate.compare import Comparison
from twoface.evaluate.evaluator import Evaluator
from twoface.evaluate.report_html import render, render_comparison, render_index
from twoface.evaluate.results import Evaluation
from twoface.io.atomic import atomic_path


def evaluate(
    evaluator: Evaluator,
    sources: Sequence[str | os.PathLike],
    target: str | os.PathLike,
    output: str | os.PathLike,
    *,
    trim: tuple[float, float] | None = None,
    every: int = 1,
    progress=None,
    selected: Sequence[Sequence[float]] | None = None,
    expect_all: bool = False,
) -> Evaluation:
    """The evaluation of `output` (an image or a video, as `target` is) against its target.
    What the swap chose, where the caller knows it: `selected`, the boxes of an image's chosen
    faces; `expect_all`, every face was to be replaced (`--many`)."""
    from twoface.io.image import check_input_file
    from twoface.io.video import is_video_path

    for path in [*sources, target, output]:
        if isinstance(path, str | os.PathLike):
            check_input_file(path)
    video = is_video_path(target)
    if video != is_video_path(output):
        kinds = ("a video", "an image")
        raise InputError(
            f"{output}: {kinds[not is_video_path(output)]} but the target {target} is "
            f"{kinds[not video]}"
        )
    if not video and trim is not None:
        raise UsageError(f"{target}: --trim applies to videos, not images", "trim")
    if video:
        return evaluator.video(
            sources,
            target,
            output,
            trim=trim,
            every=every,
            progress=progress,
            expect_all=expect_all,
        )
    return evaluator.image(sources, target, output, selected=selected)


def report_text(what: Evaluation | Comparison) -> str:
    """The report as JSON text (what `--json` prints and a `.json` report holds)."""
    return json.dumps(what.to_json(), indent=2)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def check_report_path(path: str | os.PathLike, inputs: Sequence[str | os.PathLike]) -> Path:
    """A report path that can be written and overwrites no input (one line, exit 2, else)."""
    from twoface.io.image import check_output_path

    return check_output_path(path, list(inputs))


def write_report(path: str | os.PathLike, what: Evaluation | Comparison) -> None:
    """The HTML page (or, for a `.json` name, the JSON) of an evaluation or a comparison."""
    if Path(path).suffix.lower() == ".json":
        write_text(path, report_text(what) + "\n")
    elif isinstance(what, Comparison):
        write_text(path, render_comparison(what))
    else:
        write_text(path, render(what))


def compare(
    evaluator: Evaluator,
    sources: Sequence[str | os.PathLike],
    target: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    *,
    trim: tuple[float, float] | None = None,
    every: int = 1,
    progress=None,
) -> Comparison:
    if len(outputs) < 2:
        raise UsageError("--compare takes two outputs or more", "compare")
    evaluations = [
        evaluate(evaluator, sources, target, o, trim=trim, every=every, progress=progress)
        for o in outputs
    ]
    return Comparison.of(evaluations)


def _report_name(n: int, output: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(output).name)[:80]
    return f"{n:04d}-{stem}.html"


class BatchReports:
    """`--report DIR` of a batch: one HTML report per finished job, written as each job ends,
    and `index.html` listing them (rewritten after each, so a stopped batch has a true index).
    A job whose output cannot be evaluated (no face in it ...) is a row with its reason; the
    batch goes on."""

    def __init__(self, folder: str | os.PathLike, pool=None) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise UsageError(f"{self.folder}: --report of a batch is a folder; this is a file")
        if not self.folder.parent.is_dir():
            raise UsageError(f"{self.folder}: its folder {self.folder.parent} does not exist")
        self.pool = pool
        self.rows: list[dict[str, Any]] = []
        self._evaluators: dict[tuple, Evaluator] = {}

    def _evaluator(self, job) -> Evaluator:
        from twoface.build import AUTO, ModelPool, choose_swapper
        from twoface.zoo.store import ModelStore

        models = job.models
        key = (str(models.models_dir), models.offline, models.swapper)
        if key not in self._evaluators:
            pool = self.pool or ModelPool(ModelStore(models.models_dir, offline=models.offline))
            self.pool = pool
            swapper = models.swapper
            if swapper == AUTO:
                swapper, _ = choose_swapper(pool.store)
            self._evaluators[key] = Evaluator.create(swapper=swapper, pool=pool)
        return self._evaluators[key]

    def __call__(self, job, outcome) -> None:
        """After a job: its report, then the index. Jobs done in an earlier run (skipped) are
        measured again, so the index of a resumed batch lists every job."""
        if outcome.status not in ("done", "skipped") or job is None:
            return
        self.folder.mkdir(exist_ok=True)
        name = _report_name(len(self.rows) + 1, job.output)
        row: dict[str, Any] = {"output": job.output, "target": job.target}
        try:
            trim = getattr(job.write, "trim", None)
            many = bool(getattr(job.selection, "many", False))
            e = evaluate(
                self._evaluator(job),
                job.sources,
                job.target,
                job.output,
                trim=trim,
                expect_all=many,
            )
            write_report(self.folder / name, e)
            row |= {"report": name, "summary": e.summary(), "flags": len(e.flags())}
        except TwofaceError as err:
            row["error"] = str(err)
        self.rows.append(row)
        write_text(self.folder / "index.html", render_index(self.rows, self.folder))


def swap_report(
    path: str | os.PathLike,
    sources: Sequence[str | os.PathLike],
    target: str | os.PathLike,
    output: str | os.PathLike,
    *,
    swapper: str | None = None,
    trim: tuple[float, float] | None = None,
    pool=None,
    selected: Sequence[Sequence[float]] | None = None,
    expect_all: bool = False,
) -> dict[str, Any]:
    """`swap --report PATH`: evaluate a finished swap and write its report (`selected`,
    `expect_all`: what the swap chose, see `evaluate`). Returns what the swap's summary says of
    it: {"path", "summary", "flags"}, or {"path", "error"} when the output cannot be evaluated
    (the swap itself stands)."""
    try:
        evaluator = Evaluator.create(swapper=swapper, pool=pool)
        e = evaluate(
            evaluator,
            sources,
            target,
            output,
            trim=trim,
            selected=selected,
            expect_all=expect_all,
        )
        write_report(path, e)
    except TwofaceError as err:
        return {"path": str(path), "error": str(err)}
    return {"path": str(path), "summary": e.summary(), "flags": e.flags()}
