"""`twoface eval`: a quality report of a swap (identity, expression and pose kept, seam, colour,
and for videos not-swapped frames and flicker), or a ranking of several outputs (--compare)."""

from __future__ import annotations

from twoface.cli.common import EXIT_OK, store_options
from twoface.errors import UsageError


def add_parser(sub) -> None:
    e = sub.add_parser(
        "eval",
        help="measure a swap's output against its source and target (or rank several outputs)",
    )
    e.add_argument(
        "-s", "--source", nargs="+", required=True, metavar="PATH", help="the source photo(s)"
    )
    e.add_argument("-t", "--target", required=True, metavar="PATH", help="the target it swapped")
    what = e.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "-o", "--output", metavar="PATH", help="the swap's output to measure (read, never written)"
    )
    what.add_argument(
        "--compare",
        nargs="+",
        metavar="OUT",
        help="two or more outputs of the same source and target (swappers or settings) to rank",
    )
    e.add_argument("--json", action="store_true", help="print the numbers as JSON")
    e.add_argument(
        "--html",
        metavar="REPORT.html",
        help="write the report as one self-contained HTML page (a .json name: the JSON)",
    )
    e.add_argument(
        "--encoder",
        default="auto",
        choices=["auto", "dlib128", "arcface_w600k_r50"],
        help="identity encoder to judge with; auto: one the swap did not use (ArcFace when "
        "installed and the swap is classical, else dlib128)",
    )
    e.add_argument(
        "--swapper",
        metavar="NAME",
        help="the swapper that made the output (classical, inswapper_128 ...), so identity is "
        "judged by another encoder",
    )
    e.add_argument(
        "--trim",
        nargs=2,
        type=float,
        metavar=("START", "END"),
        help="video: the output was swapped with --trim START END",
    )
    e.add_argument(
        "--every",
        type=int,
        default=1,
        metavar="K",
        help="video: measure identity, landmarks, pose, seam and colour every K-th frame "
        "(not-swapped frames and flicker: every frame); default 1",
    )
    e.add_argument(
        "--progress",
        choices=["auto", "on", "off"],
        default="auto",
        help="video progress on stderr: auto (only on a terminal), on, off",
    )
    store_options(e)


def _check(args) -> None:
    if args.every < 1:
        raise UsageError(f"--every {args.every}: give 1 or more")
    if args.trim and not args.trim[0] < args.trim[1]:
        raise UsageError(f"--trim {args.trim[0]:g} {args.trim[1]:g}: START must be before END")
    if args.html:
        from twoface.evaluate import check_report_path

        outputs = args.compare or [args.output]
        check_report_path(args.html, [*args.source, args.target, *outputs])


def _eval(args) -> int:
    from twoface.evaluate import Evaluator, compare, evaluate, report_text, write_report

    _check(args)
    progress = {"auto": None, "on": True, "off": False}[args.progress]
    evaluator = Evaluator.create(
        encoder=args.encoder,
        swapper=args.swapper,
        models_dir=args.models_dir,
        offline=args.offline,
    )
    trim = tuple(args.trim) if args.trim else None
    if args.compare:
        result = compare(
            evaluator,
            args.source,
            args.target,
            args.compare,
            trim=trim,
            every=args.every,
            progress=progress,
        )
        text = compare_text(result)
    else:
        result = evaluate(
            evaluator,
            args.source,
            args.target,
            args.output,
            trim=trim,
            every=args.every,
            progress=progress,
        )
        text = summary_text(result)
    if args.html:
        write_report(args.html, result)
        text += f"\nreport: {args.html}"
    print(report_text(result) if args.json else text)
    return EXIT_OK


def _n(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_text(e) -> str:
    """The evaluation in a few lines for a terminal."""
    from twoface.evaluate import ImageEval

    lines = []
    enc = e.encoder
    if isinstance(e, ImageEval):
        swapped = sum(f.swapped for f in e.faces)
        lines.append(
            f"{e.output}: {swapped} of {len(e.faces)} face(s) swapped; identity by {enc.scale}"
        )
        for f in e.faces:
            i = f.identity
            line = f"  face {f.index}: {'swapped' if f.swapped else 'NOT SWAPPED'}"
            if i is not None:
                line += (
                    f"; to source {i.to_source:.3f}, to target {i.to_target:.3f} (target to "
                    f"source {i.target_to_source:.3f}): recognised as {i.recognised_as}"
                )
            line += (
                f"; landmark shift {f.landmark_shift:.3f}; pose change {_n(f.pose_change, 1)} deg"
            )
            if f.swapped:
                line += f"; seam {_n(f.seam, 2)}; colour anomaly {_n(f.colour_anomaly, 2)}"
            lines.append(line)
    else:
        s = e.summary()
        lines.append(
            f"{e.output}: {e.frames} frames, {s['people_selected']} of {s['people']} person(s) "
            f"swapped; identity by {enc.scale}"
        )
        for p in e.selected():
            ps = p.summary(enc.same_person)
            rec = ps["recognised_as_source"]
            lines.append(
                f"  person {p.track}: {len(p.frames)} frames, swapped in {p.swapped_frames}; "
                f"to source {_n(ps['identity_to_source'])} (worst "
                f"{_n(ps['identity_to_source_worst'])}), recognised as the source in "
                f"{'n/a' if rec is None else f'{100 * rec:.0f} %'} of measured frames; landmark "
                f"shift {_n(ps['landmark_shift'])}; pose change {_n(ps['pose_change'], 1)} deg; "
                f"seam {_n(ps['seam'], 2)}; colour anomaly {_n(ps['colour_anomaly'], 2)}; "
                f"flicker {_n(ps['flicker_output'], 2)} (input {_n(ps['flicker_input'], 2)})"
            )
    flags = e.flags()
    lines.append("flags: none" if not flags else "flags:")
    lines += [f"  - {f}" for f in flags]
    return "\n".join(lines)


def compare_text(c) -> str:
    from twoface.evaluate.results import MEASURES

    names = {k: what for k, what, _ in MEASURES}
    lines = [
        f"{len(c.evaluations)} outputs of {c.evaluations[0].target} ranked (lower is better; "
        f"identity by {c.evaluations[0].encoder.scale}):"
    ]
    for entry in c.ranking():
        s = entry["summary"]
        parts = ", ".join(
            f"{names[k].split(':')[0]} {_n(s.get(k))} (#{entry['ranks'][k]})" for k in c.measures()
        )
        lines.append(
            f"  {entry['rank']}. {entry['output']}: mean rank {entry['mean_rank']:.2f}; {parts}"
        )
    return "\n".join(lines)


run = _eval
