"""`twoface inspect`: a file's synthetic-media label."""

from __future__ import annotations

import json

from twoface.cli.common import (
    EXIT_OK,
    EXIT_UNLABELLED,
)


def add_parser(sub) -> None:
    i = sub.add_parser("inspect", help="print a file's synthetic-media label; exit 1 if none")
    i.add_argument("path", metavar="PATH")
    i.add_argument("--json", action="store_true", help="print JSON")


def _inspect(args) -> int:
    from twoface.io.image import check_input_file
    from twoface.io.provenance import read_label
    from twoface.io.video import VIDEO_EXTENSIONS, read_video_label

    path = check_input_file(args.path)
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        # Container metadata, read by PyAV: never scan a whole video file into memory.
        label = read_video_label(path)
        where = ["container metadata"] if label else []
    else:
        label, where = read_label(path)
    if args.json:
        print(
            json.dumps(
                {
                    "path": str(path),
                    "labelled": label is not None,
                    "ai_generated": label is not None,
                    "digital_source_type": label.source_type if label else None,
                    "tool": label.tool if label else None,
                    "found_in": where,
                },
                indent=2,
            )
        )
    elif label:
        print(f"{path}: {label.description} [{', '.join(where)}]")
    else:
        print(f"{path}: no synthetic-media label found")
    return EXIT_OK if label else EXIT_UNLABELLED


run = _inspect
