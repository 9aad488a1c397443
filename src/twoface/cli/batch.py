"""`twoface batch MANIFEST`: many swap jobs in one run (twoface.batch), and the summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from twoface.cli.common import ray_options, ray_pool, signing_options, store_options


def add_parser(sub) -> None:
    b = sub.add_parser(
        "batch",
        help="run many swap jobs (a JSON Lines or CSV manifest), models loaded once, resumable",
    )
    b.add_argument("manifest", metavar="MANIFEST", help="JSON Lines (.jsonl) or CSV (.csv)")
    b.add_argument(
        "--retry",
        type=int,
        default=0,
        metavar="N",
        help="attempts more for a failing job within this run (default 0)",
    )
    b.add_argument(
        "--state",
        metavar="PATH",
        help="the state file (default: .NAME.twoface-state.json beside the manifest)",
    )
    b.add_argument("--json", action="store_true", help="print the summary as JSON")
    b.add_argument(
        "--progress",
        choices=["auto", "on", "off"],
        default="auto",
        help="a line per job on stderr: auto (only on a terminal), on, off",
    )
    b.add_argument(
        "--report",
        metavar="DIR",
        help="a quality report (twoface eval) of each finished job in DIR, and DIR/index.html",
    )
    signing_options(b)  # for the jobs that name no certificate of their own
    ray_options(b)
    store_options(b)


def default_state(manifest: Path) -> Path:
    return manifest.parent / f".{manifest.name}.twoface-state.json"


def report(summary, as_json: bool) -> int:
    """Print the summary (failures one line each); the batch's exit code."""
    data = summary.to_json()
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        for o in summary.outcomes:
            if o.status == "failed":
                print(f"failed: {o.error}")
        print(
            f"{data['jobs']} job(s): {data['done']} done, {data['skipped']} already done, "
            f"{data['failed']} failed in {data['seconds']:.1f} s"
        )
    return summary.exit_code


def with_signing(items: list, cert: str | None, key: str | None, models_dir) -> list:
    """The items with the command line's certificate and key where a job names none (a job's
    own `write.sign_cert` wins); the certificates checked once, before any job runs."""
    from dataclasses import replace

    from twoface.batch import job_key
    from twoface.config import OutputConfig
    from twoface.io.credentials import check_signing

    check_signing(OutputConfig(sign_cert=cert, sign_key=key), models_dir)
    out = []
    for item in items:
        job = item.job
        if job is not None and cert is not None and job.write.sign_cert is None:
            job = replace(job, write=replace(job.write, sign_cert=cert, sign_key=key))
            item = replace(item, job=job, key=job_key(job))
        out.append(item)
    return out


def reports_sink(folder: str | None):
    """`--report DIR`: a quality report per finished job and an index (twoface.evaluate)."""
    if not folder:
        return None
    from twoface.evaluate import BatchReports

    return BatchReports(folder)


def progress_sink(mode: str):
    from twoface.batch import stderr_progress

    if mode == "on" or (mode == "auto" and sys.stderr.isatty()):
        return stderr_progress
    return None


def run(args) -> int:
    from twoface.batch import State, read_manifest, with_models
    from twoface.errors import UsageError

    if args.retry < 0:
        raise UsageError(f"--retry must be 0 or more, got {args.retry}", "retry")
    manifest = Path(args.manifest)
    items = with_models(read_manifest(manifest), args.models_dir, args.offline)
    items = with_signing(items, args.sign_cert, args.sign_key, args.models_dir)
    state = State(Path(args.state) if args.state else default_state(manifest))
    return run_items(args, items, state)


def run_items(args, items, state) -> int:
    """Run a batch's items with the command's progress, reports and pool (`--ray`); print the
    summary and return its exit code. Shared by `batch` and `swap` with several targets."""
    from twoface.batch import run_batch

    pool = ray_pool(args)
    try:
        summary = run_batch(
            items,
            state,
            retry=args.retry,
            progress=progress_sink(args.progress),
            after=reports_sink(args.report),
            pool=pool,
        )
    finally:
        if pool is not None:
            pool.close()
    return report(summary, args.json)
