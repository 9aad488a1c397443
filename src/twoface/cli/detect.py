"""`twoface detect`: the faces of an image, or of a video's frames."""

from __future__ import annotations

import json

from twoface.cli.common import (
    EXIT_OK,
    config_from,
    model_options,
)
from twoface.errors import UsageError


def add_parser(sub) -> None:
    d = sub.add_parser("detect", help="list the faces in an image, or in a video's frames")
    d.add_argument("path", metavar="PATH")
    d.add_argument(
        "--frame",
        type=int,
        default=None,
        metavar="N",
        help="video: the faces of frame N (numbered from 0; default 0)",
    )
    d.add_argument(
        "--every",
        type=int,
        default=None,
        metavar="K",
        help="video: the faces of every K-th frame (from --frame on)",
    )
    model_options(d)
    d.add_argument(
        "--anime",
        action="store_true",
        help="anime faces: boxes, scores and 28 points (with the anime_hrnetv2 file); "
        "--detector anime_lbpcascade (default), anime_yolov3 or anime_faster_rcnn",
    )
    d.add_argument(
        "--landmarks",
        choices=["dlib68", "2d106det"],
        default="dlib68",
        help="68 points (dlib, shipped) or insightface's 106 (needs landmarks_2d106det)",
    )
    d.add_argument("--json", action="store_true", help="print JSON")


def _detect(args) -> int:
    """The faces of an image, or of a video's frames (--frame N, --every K)."""
    from twoface.anime import ANIME_DETECTORS
    from twoface.api import Swapper
    from twoface.io.image import load_image
    from twoface.io.video import is_video_path, probe

    anime = args.anime or args.detector in ANIME_DETECTORS
    video = is_video_path(args.path)
    if not video and (args.frame is not None or args.every is not None):
        raise UsageError(f"{args.path}: --frame and --every apply to videos, not images")
    if args.frame is not None and args.frame < 0:
        raise UsageError(f"--frame {args.frame}: frames are numbered from 0")
    if args.every is not None and args.every < 1:
        raise UsageError(f"--every {args.every}: give 1 or more")
    info = probe(args.path) if video else None  # input errors before any model loads
    img = None if video else load_image(args.path)
    swapper = Swapper(config_from(args))
    notes: list[str] = []

    def faces_of(rgb):
        if anime:
            analyser = swapper.anime
            if analyser.landmarker is None and not notes:
                notes.append(f"no landmarks: {analyser.landmarks_missing}")
            return analyser([rgb])[0]
        if args.landmarks == "2d106det":
            marker = swapper.pool.get("landmarks", "landmarks_2d106det")
            return marker([rgb], swapper.analyzer.detect([rgb]))[0]
        return swapper.analyse([rgb])[0]

    if not video:
        faces = faces_of(img.rgb)
        if args.json:
            report = {
                "path": args.path,
                "width": img.rgb.shape[1],
                "height": img.rgb.shape[0],
                "anime": bool(anime),
                "faces": [f.to_dict() for f in faces],
            }
            if notes:
                report["note"] = notes[0]
            print(json.dumps(report, indent=2))
            return EXIT_OK
        print(f"{args.path}: {len(faces)} {'anime ' if anime else ''}face(s)")
        _print_faces(faces)
        for note in notes:
            print(note)
        return EXIT_OK
    frames = []  # the faces only (frames are read one at a time: memory stays flat)
    size = (info.width, info.height)
    for n, seconds, rgb in _video_frames(args.path, info, args.frame or 0, args.every):
        size = (rgb.shape[1], rgb.shape[0])  # as shown (rotation applied)
        faces = faces_of(rgb)
        frames.append({"frame": n, "time": seconds, "faces": faces})
        if not args.json:
            when = f" ({seconds:.2f} s)" if seconds is not None else ""
            kind = "anime " if anime else ""
            print(f"{args.path} frame {n}{when}: {len(faces)} {kind}face(s)", flush=True)
            _print_faces(faces)
    if args.json:
        report = {
            "path": args.path,
            "video": True,
            "width": size[0],
            "height": size[1],
            "anime": bool(anime),
            "frames": [{**f, "faces": [x.to_dict() for x in f["faces"]]} for f in frames],
        }
        if notes:
            report["note"] = notes[0]
        print(json.dumps(report, indent=2))
    else:
        for note in notes:
            print(note)
    return EXIT_OK


def _video_frames(path: str, info, start: int, every: int | None):
    """(frame number, seconds, upright RGB) of frame `start`, or with `every` of frames start,
    start + every, ...; a --frame past the end is one line (exit 2)."""
    from twoface.io.video import read_video

    count = 0
    for packet in read_video(path, info, drop_audio=True):
        n, count = count, count + 1
        if n < start or (n - start) % (every or 1):
            continue
        seconds = packet.seconds
        yield n, (round(seconds, 4) if seconds is not None else None), packet.frame
        if every is None:
            return
    if count <= start:
        raise UsageError(
            f"{path}: --frame {start} is past the end (the video has {count} frames, "
            f"numbered from 0)"
        )


def _print_faces(faces) -> None:
    for n, f in enumerate(faces):
        x1, y1, x2, y2 = f.box
        line = f"  face {n}: box ({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}) score {f.score:.3f}"
        if f.kps is not None:
            line += f" eyes ({f.kps[0][0]:.0f}, {f.kps[0][1]:.0f}) ({f.kps[1][0]:.0f}, {f.kps[1][1]:.0f})"
        if f.landmarks is not None:
            line += f" {len(f.landmarks)} landmarks"
        print(line)


run = _detect
