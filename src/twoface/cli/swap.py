"""`twoface swap`: one source onto a target image or video (or several, over devices)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from twoface.cli.common import (
    EXIT_OK,
    check_device,
    comma_names,
    config_from,
    finish_options,
    model_options,
    output_options,
    output_settings,
    ray_options,
    ray_pool,
    say_note,
    selection_options,
    selection_settings,
    verb,
)
from twoface.errors import UsageError


def add_parser(sub) -> None:
    s = sub.add_parser("swap", help="replace faces in a target image or video with a source face")
    s.add_argument(
        "-s",
        "--source",
        nargs="+",
        required=True,
        metavar="PATH",
        help="source photo(s); several photos of one person combine into one identity",
    )
    s.add_argument(
        "-t",
        "--target",
        required=True,
        nargs="+",
        metavar="PATH",
        help="image, video (mp4 mkv mov webm avi m4v) or animated GIF/WebP to edit; several "
        "files or a folder make a batch (-o is then a folder)",
    )
    s.add_argument(
        "--retry",
        type=int,
        default=0,
        metavar="N",
        help="several targets: attempts more for a failing one (see twoface batch)",
    )
    s.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="PATH",
        help="output; format from the extension (images: jpg png webp bmp tif; "
        "videos: mp4 mkv mov webm m4v gif webp)",
    )
    s.add_argument(
        "--encoder",
        default="dlib128",
        metavar="NAME",
        help="identity encoder for --reference/--target-faces and tracking: dlib128 (default, "
        "ships with twoface) or arcface_w600k_r50 (needs its file)",
    )
    s.add_argument(
        "--devices",
        type=comma_names,
        metavar="DEV,DEV...",
        help="video: split it at keyframes over one worker per device (cuda:0,cuda:1 ...; "
        "cpu,cpu for two CPU workers) and join the parts",
    )
    s.add_argument(
        "--progress",
        choices=["auto", "on", "off"],
        default="auto",
        help="progress on stderr: auto (only on a terminal), on (also when piped), off",
    )
    selection_options(s)
    output_options(s)  # quality, label, watermark, the video encode, the signing key
    model_options(s, swap=True)
    finish_options(s)
    ray_options(s)
    s.add_argument("--json", action="store_true", help="print a JSON summary")
    s.add_argument(
        "--report",
        metavar="PATH",
        help="also write a quality report of the output (twoface eval): an HTML page, or JSON "
        "for a .json name; with several targets a folder (a report per job and index.html)",
    )


def _ignored_options(args, video: bool) -> list[str]:
    """Options given that do nothing for this engine or file: said, not silently dropped."""
    notes = []
    if not video:
        given = [f"--{n}" for n in ("crf", "preset", "codec") if getattr(args, n) is not None]
        if given:
            notes.append(f"{', '.join(given)} {verb(given)} to video outputs; ignored for an image")
    elif args.quality is not None and not args.output.lower().endswith(".webp"):
        notes.append("--quality applies to JPEG/WebP images; ignored for a video")
    if args.no_label and args.sign_cert:
        notes.append("--sign-cert and --sign-key sign the label; ignored with --no-label")
    if args.similarity is not None and not (args.reference or args.target_faces):
        notes.append("--similarity applies with --reference or --target-faces; ignored")
    # Finishing and runtime flags: from what the components in play consume (their
    # capability records), not a hand list.
    from twoface.cli.components import unused_flags
    from twoface.zoo.store import ModelStore

    notes += unused_flags(args, ModelStore(args.models_dir, args.offline).catalogue)
    return notes


def _swap(args) -> int:
    from twoface.api import Swapper
    from twoface.io.credentials import check_signing
    from twoface.io.video import is_video_path

    if len(args.target) > 1 or Path(args.target[0]).is_dir():
        return _swap_many(args)
    args.target = args.target[0]
    if args.reference and args.target_faces:
        raise UsageError("use either --reference or --target-faces, not both")
    video = is_video_path(args.target)
    if video and args.anime:
        raise UsageError(f"{args.target}: --anime applies to images, not videos")
    if not video and args.trim:
        raise UsageError(f"{args.target}: --trim applies to videos, not images")
    if args.device:
        check_device(args.device)
    fallback = None
    if args.swapper == "auto":  # resolved first: the notes below judge the engine that runs
        from twoface.build import choose_swapper
        from twoface.zoo.store import ModelStore

        args.swapper, fallback = choose_swapper(ModelStore(args.models_dir, args.offline))
        if args.anime:
            fallback = None  # the anime engine runs: the classical fallback is not news
    for note in _ignored_options(args, video):
        say_note(note)
    config = config_from(args)
    progress = {"auto": None, "on": True, "off": False}[args.progress]
    if args.faces and video:
        raise UsageError(
            f"{args.target}: --faces applies to images; for a video use --target-faces"
        )
    selection = selection_settings(args)
    options = output_settings(args)
    if args.devices and not video:
        raise UsageError(f"{args.target}: --devices applies to videos")
    if args.ray is not None and not video:
        raise UsageError(f"{args.target}: --ray applies to videos and to several targets")
    if args.ray is not None and args.devices:
        raise UsageError("--ray and --devices are two ways to spread one video: give one")
    if args.report:
        from twoface.evaluate import check_report_path

        check_report_path(args.report, [*args.source, args.target, args.output])
    check_signing(options, args.models_dir)  # a certificate refused before any model loads
    if video and (args.ray is not None or (args.devices and len(args.devices) > 1)):
        # The workers load the models; the parent only splits and joins.
        code = _swap_parallel(args, config, selection, options)
        report = _report(args, None, None, expect_all=selection.many)
        if report and "error" not in report and not args.json:  # said, as for one process
            print(f"report: {args.report} ({len(report.get('flags', []))} flag(s))")
        if fallback and sys.stderr.isatty():
            say_note(fallback)
        return code
    swapper = Swapper(config)
    if video:
        result = swapper.swap_video(
            args.source,
            args.target,
            args.output,
            progress=progress,
            selection=selection,
            options=options,
        )
        line = (
            f"{args.output}: {result.frames} frames, swapped faces in "
            f"{result.frames_swapped}, {result.frames / result.seconds:.1f} fps"
        )
    else:
        result = swapper.swap_image(
            args.source,
            args.target,
            output=args.output,
            anime=args.anime,
            progress=progress,
            selection=selection,
            options=options,
        )
        line = (
            f"{args.output}: swapped {len(result.faces_swapped)} of {len(result.faces_found)} "
            f"face(s) in {result.timings['total']:.2f} s"
            + ("" if result.label else " (unlabelled)")
            + (f", {len(result.unchanged)} with no visible change" if result.unchanged else "")
        )
    if fallback and getattr(result, "engine", "classical") != "anime":
        result.notes.insert(0, fallback)  # in --json's notes always
    for note in result.notes:
        # The fallback note is for a person at a terminal (like --progress auto): after the
        # work, so an error stays the only line, and never in a script's piped stderr.
        if note is not fallback or sys.stderr.isatty():
            say_note(note)
    if sys.stderr.isatty():
        for note in getattr(result, "details", ()):
            say_note(note)
    chosen = None if video else [f.box for f in result.faces_swapped]
    report = _report(args, swapper, None if args.json else line, chosen, expect_all=selection.many)
    summary = result.summary() | ({"report": report} if report else {})
    if args.json or not report:
        print(json.dumps(summary, indent=2) if args.json else line)
    return EXIT_OK


def _report(
    args, swapper, line: str | None, chosen=None, *, expect_all: bool = False
) -> dict | None:
    """`--report PATH`: the output measured against its source and target (twoface.evaluate),
    told what the swap chose (`chosen`: an image's boxes; `expect_all`: --many); a report that
    cannot be made is a note, the swap stands."""
    if not args.report:
        return None
    from twoface.evaluate import swap_report

    report = swap_report(
        args.report,
        args.source,
        args.target,
        args.output,
        swapper=args.swapper,
        trim=tuple(args.trim) if args.trim else None,
        pool=swapper.pool if swapper is not None else None,
        selected=chosen,
        expect_all=expect_all,
    )
    if "error" in report:
        say_note(f"no quality report: {report['error']}")
    if line is not None:
        flags = len(report.get("flags", []))
        print(
            line + (f"\nreport: {args.report} ({flags} flag(s))" if "error" not in report else "")
        )
    return report


def _swap_many(args) -> int:
    """`-t A B ... | -t DIR/ -o OUTDIR/`: one job per target file, run as a batch (models loaded
    once, a state file in OUTDIR so a re-run resumes; twoface.batch)."""
    from twoface.batch import State, jobs_for_targets
    from twoface.cli.batch import run_items
    from twoface.io.credentials import check_signing
    from twoface.jobs import ImageJob

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: several targets need a folder as the output (-o OUTDIR/)")
    if not out.parent.is_dir():
        raise UsageError(f"{out}: its folder {out.parent} does not exist")
    if args.devices:
        raise UsageError("--devices takes one video; several targets run one after another")
    write = output_settings(args)
    check_signing(write, args.models_dir)  # once, before the folder: not a failure per job
    out.mkdir(exist_ok=True)
    config = config_from(args)
    template = ImageJob(
        tuple(str(s) for s in args.source),
        "",
        "",
        selection=selection_settings(args),
        models=config.models,
        runtime=config.runtime,
        finish=config.finish,
        write=write,
        anime=args.anime,
    )
    items = jobs_for_targets(template, args.target, out)
    state = State(out / ".twoface-batch.json")
    return run_items(args, items, state)


def _swap_parallel(args, config, selection, options) -> int:
    """One video cut into segments over workers: one process per --devices entry, or the
    actors of a Ray cluster (--ray); the same segment runner (twoface.parallel)."""
    from twoface.jobs import VideoJob
    from twoface.parallel import swap_video_parallel, swap_video_segments

    if args.ray is not None:
        if options.trim is not None:
            raise UsageError("several workers swap whole videos; drop --trim", "trim")
        job = VideoJob(
            tuple(str(s) for s in args.source),
            str(args.target),
            str(args.output),
            selection=selection,
            models=config.models,
            runtime=config.runtime,
            finish=config.finish,
            write=options,
        )
        with ray_pool(args) as pool:
            figures = swap_video_segments(job, pool)
            workers = pool.size
    else:
        devices = [None if d == "cpu" else d for d in args.devices]
        for d in devices:
            if d:
                check_device(d)
        figures = swap_video_parallel(
            config,
            args.source,
            args.target,
            args.output,
            devices=devices,
            selection=selection,
            options=options,
        )
        workers = len(devices)
    figures["output"] = args.output
    line = (
        f"{args.output}: {figures['frames']} frames, swapped faces in "
        f"{figures['frames_swapped']}, {workers} workers"
    )
    print(json.dumps(figures, indent=2) if args.json else line)
    return EXIT_OK


run = _swap
