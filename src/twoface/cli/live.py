"""`twoface live`: a camera or a video stream swapped live."""

from __future__ import annotations

import contextlib
import json
import os
import sys

from twoface.cli.common import (
    EXIT_OK,
    check_device,
    config_from,
    model_options,
    say_note,
    selection_options,
    signing_options,
)


def add_parser(sub) -> None:
    lv = sub.add_parser("live", help="swap a camera or video stream live")
    lv.add_argument(
        "-s", "--source", nargs="+", required=True, metavar="PATH", help="source face photo(s)"
    )
    lv.add_argument(
        "--camera",
        default="0",
        metavar="0|PATH|URL",
        help="camera index, video file (played at its own rate) or stream URL (default 0)",
    )
    lv.add_argument("--show", action="store_true", help="show the swapped picture in a window")
    lv.add_argument(
        "--virtual-cam", action="store_true", help="send it to a virtual camera (pyvirtualcam)"
    )
    lv.add_argument(
        "--record",
        metavar="OUT.mp4",
        help="write what is shown to a labelled video (mp4 mkv mov webm m4v); with none of "
        "--show, --virtual-cam, --record only the figures are printed",
    )
    selection_options(lv, ("many",))
    lv.add_argument("--frames", type=int, metavar="N", help="stop after N frames in")
    lv.add_argument("--seconds", type=float, metavar="S", help="stop after S seconds")
    lv.add_argument("--json", action="store_true", help="print the figures as JSON at the end")
    signing_options(lv)  # for --record
    model_options(lv, swap=True)
    lv.set_defaults(swapper=None)  # live: the fastest installed unless one is named


def _live(args) -> int:
    from twoface.api import Swapper
    from twoface.live import (
        LiveSwapper,
        check_record_path,
        check_window,
        frames_from,
        recording,
        run_live,
        virtual_camera_sink,
        window_sink,
    )

    if args.device:
        check_device(args.device)
    # Everything that can be refused is refused before a model loads (seconds, not minutes).
    signing = None
    if args.record:
        from twoface.config import OutputConfig
        from twoface.io.credentials import check_signing

        camera_file = [args.camera] if os.path.isfile(args.camera) else []
        check_record_path(args.record, [*args.source, *camera_file])
        signing = OutputConfig(sign_cert=args.sign_cert, sign_key=args.sign_key)
        check_signing(signing, args.models_dir)
    if args.show:
        check_window()  # a display that is missing, refuses or never answers: one line
    if not (args.show or args.virtual_cam or args.record):
        say_note("no --show, --virtual-cam or --record: the swap is only measured (figures only)")
    if args.swapper in (None, "auto"):
        from twoface.live import fastest_setup
        from twoface.zoo.store import ModelStore

        args.swapper, runtime, half = fastest_setup(ModelStore(args.models_dir, args.offline))
        if runtime != args.runtime:
            args.runtime, args.half = runtime, half
    swapper = Swapper(config_from(args))
    live = LiveSwapper(swapper, args.source, many=args.many)
    sinks, closers = [], []
    if args.show:
        sinks.append(window_sink(probe=False))  # probed above
    if args.virtual_cam:
        holder: dict = {}

        def to_camera(rgb):  # opened on the first frame, at its size
            if "send" not in holder:
                holder["send"], close = virtual_camera_sink(rgb.shape[1], rgb.shape[0], 30.0)
                closers.append(close)
            holder["send"](rgb)

        sinks.append(to_camera)

    def report(stats) -> None:
        print(f"\rtwoface live: {stats.line()}", end="", file=sys.stderr, flush=True)

    stats = None
    recorder = None
    with contextlib.ExitStack() as stack:
        if args.record:
            from twoface.io.credentials import credentials_for
            from twoface.io.provenance import make_label

            # Written atomically: whole when the session ends (Ctrl-C and q included), nothing
            # at the path if it fails or is terminated. Signed as well (MP4/MOV): a camera has
            # no file to name as the parent, so the manifest says "created".
            creds = credentials_for(
                signing, swapper.store.home, output=args.record, models=swapper.models_used()
            )
            label = make_label(swapper.engine.source_type, credentials=creds)
            recorder = stack.enter_context(recording(args.record, label))
            sinks.append(recorder)
        try:
            stats = run_live(
                live,
                frames_from(args.camera),
                sinks,
                max_frames=args.frames,
                seconds=args.seconds,
                report=report,
            )
        except KeyboardInterrupt:
            pass  # Ctrl-C (or q in the window) ends a live session: not an error
        finally:
            for close in closers:
                close()
    print(file=sys.stderr)
    if recorder is not None and recorder.frames == 0:
        say_note(f"{args.record}: no frame was shown, so nothing was recorded")
    if stats is not None:
        summary = {"swapper": args.swapper, **stats.summary()}
        # Where a frame's time goes (ms per frame shown; the stages run one after another here).
        shown = max(stats.frames_out, 1)
        summary["stage_ms"] = {
            k: round(v * 1000 / shown, 2) for k, v in live.stream.timings.items()
        }
        line = f"twoface live ({args.swapper}): {stats.line()}"
        if recorder is not None:
            summary["record"] = args.record if recorder.frames else None
            summary["frames_recorded"] = recorder.frames
            if recorder.frames:
                line += f"; recorded {recorder.frames} frames to {args.record}"
        print(json.dumps(summary, indent=2) if args.json else line)
    return EXIT_OK


run = _live
