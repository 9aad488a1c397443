"""Command line: `twoface swap | detect | inspect`. Parsing, messages and exit codes only.

Exit codes: 0 success; 1 `inspect` found no label; 2 usage error; 3 input error; 4 model file
missing, corrupt or not downloadable; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from twoface.errors import TwofaceError, UsageError

EXIT_OK, EXIT_UNLABELLED, EXIT_USAGE, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    from twoface import __version__

    p = _Parser(
        prog="twoface",
        description="Swap faces in images, offline. Every output is labelled as AI-generated.",
    )
    p.add_argument("--version", action="version", version=f"twoface {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("swap", help="replace faces in a target image with a source face")
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
        metavar="PATH",
        help="image, video (mp4 mkv mov webm avi m4v) or animated GIF/WebP to edit",
    )
    s.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="PATH",
        help="output; format from the extension (images: jpg png webp bmp tif; "
        "videos: mp4 mkv mov webm m4v gif webp)",
    )
    s.add_argument("--many", action="store_true", help="replace every face, not only the largest")
    s.add_argument(
        "--reference", metavar="PATH", help="replace only the faces of the person in this photo"
    )
    s.add_argument(
        "--target-faces",
        nargs="+",
        metavar="PATH",
        help="one photo per source: source i replaces the faces like target-face i",
    )
    s.add_argument(
        "--similarity",
        type=float,
        default=0.6,
        metavar="F",
        help="largest identity distance (dlib 128-d) that counts as the same person "
        "for --reference/--target-faces; lower is stricter (default 0.6)",
    )
    s.add_argument(
        "--crf",
        type=int,
        default=18,
        metavar="N",
        help="video quality for H.264/H.265 (lower is better; default 18)",
    )
    s.add_argument("--preset", default="medium", help="x264/x265 speed preset (default medium)")
    s.add_argument(
        "--codec",
        choices=["libx264", "libx265", "libvpx-vp9"],
        help="video codec (default: H.264; VP9 for .webm)",
    )
    s.add_argument(
        "--trim",
        nargs=2,
        type=float,
        metavar=("START", "END"),
        help="video: keep only START to END seconds (video and audio alike)",
    )
    s.add_argument(
        "--watermark",
        metavar="TEXT",
        help="also draw TEXT visibly in the bottom-right corner (e.g. 'AI-generated')",
    )
    s.add_argument("--quality", type=int, default=95, metavar="N", help="JPEG/WebP quality 1-100")
    _model_options(s, swap=True)
    s.add_argument(
        "--no-label",
        action="store_true",
        help="do not write the AI-generated label (not recommended)",
    )
    s.add_argument("--json", action="store_true", help="print a JSON summary")

    d = sub.add_parser("detect", help="list the faces in an image")
    d.add_argument("path", metavar="PATH")
    _model_options(d)
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

    m = sub.add_parser("models", help="list, download, import and verify model files")
    m.add_argument(
        "--models-dir",
        metavar="DIR",
        help="model folder (default $TWOFACE_HOME or ~/.cache/twoface)",
    )
    m.add_argument("--offline", action="store_true", help="never touch the network")
    ms = m.add_subparsers(dest="action", required=True, parser_class=_Parser)
    ml = ms.add_parser("list", help="the catalogue, and which files are here")
    ml.add_argument("--json", action="store_true")
    md = ms.add_parser("download", help="fetch files (resumable; size and sha256 checked)")
    md.add_argument("names", nargs="+", metavar="NAME")
    mi = ms.add_parser("import", help="register a file you already have")
    mi.add_argument("file", metavar="FILE")
    mi.add_argument("--name", required=True, metavar="NAME", help="catalogue name it is")
    mv = ms.add_parser("verify", help="re-hash cached files against the catalogue or pins")
    mv.add_argument("names", nargs="*", metavar="NAME")
    mv.add_argument("--json", action="store_true")
    mp = ms.add_parser("path", help="print where a model file is (exit 4 if missing)")
    mp.add_argument("name", metavar="NAME")

    i = sub.add_parser("inspect", help="print a file's synthetic-media label; exit 1 if none")
    i.add_argument("path", metavar="PATH")
    i.add_argument("--json", action="store_true", help="print JSON")
    return p


def _model_options(p: argparse.ArgumentParser, swap: bool = False) -> None:
    from twoface.anime import ANIME_DETECTORS
    from twoface.detect import detector_names
    from twoface.swap import swapper_names

    p.add_argument(
        "--detector",
        default=None,
        choices=[*detector_names(), *ANIME_DETECTORS],
        metavar="NAME",
        help="face detector: retinaface (default) or dlib-hog ship with twoface; "
        "zoo detectors need their file (`twoface models list`)",
    )
    if swap:
        p.add_argument(
            "--swapper",
            default="classical",
            choices=swapper_names(),
            metavar="NAME",
            help="classical (default, ships with twoface) or a learned zoo swapper: "
            "inswapper_128, inswapper_128_fp16, reswapper_128_1019500, ...",
        )
        p.add_argument("--half", action="store_true", help="fp16 generator (PyTorch runtime, GPU)")
        p.add_argument(
            "--compile",
            action="store_true",
            help="torch.compile the generator (PyTorch runtime; slow start, 2.4x on a GPU)",
        )
        kind = p.add_mutually_exclusive_group()
        kind.add_argument(
            "--anime",
            dest="anime",
            action="store_const",
            const=True,
            help="the images are illustrations: anime detector and line-art swap "
            "(default: used when no photographic face is found and the anime cascade is installed)",
        )
        kind.add_argument(
            "--photo", dest="anime", action="store_const", const=False, help="never use anime mode"
        )
    p.add_argument(
        "--runtime",
        default="onnxruntime",
        choices=["onnxruntime", "torch"],
        help="where zoo ONNX models run (torch: batched, GPU when present)",
    )
    p.add_argument("--device", metavar="DEV", help="PyTorch device, e.g. cpu or cuda")
    p.add_argument("--models-dir", metavar="DIR", help="model folder (default ~/.cache/twoface)")
    p.add_argument("--offline", action="store_true", help="never touch the network")


def _zoo_options(args) -> dict:
    from twoface.anime import ANIME_DETECTORS

    photo, anime = "retinaface", "anime_lbpcascade"
    if args.detector in ANIME_DETECTORS:
        anime = args.detector
        if getattr(args, "anime", None) is False:
            raise UsageError(f"--detector {args.detector} is an anime detector; drop --photo")
    elif args.detector:
        photo = args.detector
        if getattr(args, "anime", None) is True:
            raise UsageError(f"--detector {args.detector} is not an anime detector")
    return dict(
        half=getattr(args, "half", False),
        compile=getattr(args, "compile", False),
        swapper=getattr(args, "swapper", "classical"),
        detector=photo,
        anime_detector=anime,
        runtime=args.runtime,
        device=args.device,
        models_dir=args.models_dir,
        offline=args.offline,
    )


def _swap(args) -> int:
    from twoface.api import Swapper

    if not 1 <= args.quality <= 100:
        raise UsageError(f"--quality must be between 1 and 100, got {args.quality}")
    if args.similarity <= 0:
        raise UsageError(f"--similarity must be positive, got {args.similarity}")
    if args.reference and args.target_faces:
        raise UsageError("use either --reference or --target-faces, not both")
    swapper = Swapper(
        **_zoo_options(args),
        similarity=args.similarity,
        label=not args.no_label,
        quality=args.quality,
        watermark=args.watermark,
    )
    from twoface.io.video import is_video_path

    selection = dict(many=args.many, reference=args.reference, target_faces=args.target_faces)
    if is_video_path(args.target):
        if args.anime:
            raise UsageError(f"{args.target}: --anime applies to images, not videos")
        video = swapper.swap_video(
            args.source,
            args.target,
            args.output,
            crf=args.crf,
            preset=args.preset,
            codec=args.codec,
            trim=args.trim,
            **selection,
        )
        summary = video.summary()
        line = (
            f"{args.output}: {video.frames} frames, swapped faces in "
            f"{video.frames_swapped}, {video.frames / video.seconds:.1f} fps"
        )
    else:
        if args.trim:
            raise UsageError(f"{args.target}: --trim applies to videos, not images")
        result = swapper.swap_image(
            args.source, args.target, output=args.output, anime=args.anime, **selection
        )
        summary = result.summary()
        line = (
            f"{args.output}: swapped {len(result.faces_swapped)} of {len(result.faces_found)} "
            f"face(s) in {result.timings['total']:.2f} s"
            + ("" if result.label else " (unlabelled)")
        )
    print(json.dumps(summary, indent=2) if args.json else line)
    return EXIT_OK


def _detect(args) -> int:
    from twoface.anime import ANIME_DETECTORS
    from twoface.api import Swapper, _load

    anime = args.anime or args.detector in ANIME_DETECTORS
    img = _load(args.path)
    swapper = Swapper(**_zoo_options(args))
    note = None
    if anime:
        analyser = swapper.anime
        faces = analyser([img.rgb])[0]
        if analyser.landmarker is None:
            note = f"no landmarks: {analyser.landmarks_missing}"
    elif args.landmarks == "2d106det":
        from twoface.landmarks.det106 import Landmark106

        marker = Landmark106(swapper.store.find("landmarks_2d106det"), args.runtime, args.device)
        faces = marker([img.rgb], swapper.detector.detect([img.rgb]))[0]
    else:
        faces = swapper.analyse([img.rgb])[0]
    if args.json:
        report = {
            "path": args.path,
            "width": img.rgb.shape[1],
            "height": img.rgb.shape[0],
            "anime": bool(anime),
            "faces": [f.to_dict() for f in faces],
        }
        if note:
            report["note"] = note
        print(json.dumps(report, indent=2))
        return EXIT_OK
    print(f"{args.path}: {len(faces)} {'anime ' if anime else ''}face(s)")
    for n, f in enumerate(faces):
        x1, y1, x2, y2 = f.box
        line = f"  face {n}: box ({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}) score {f.score:.3f}"
        if f.kps is not None:
            line += f" eyes ({f.kps[0][0]:.0f}, {f.kps[0][1]:.0f}) ({f.kps[1][0]:.0f}, {f.kps[1][1]:.0f})"
        if f.landmarks is not None:
            line += f" {len(f.landmarks)} landmarks"
        print(line)
    if note:
        print(note)
    return EXIT_OK


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


def _models(args) -> int:
    from twoface.zoo.catalogue import CATALOGUE
    from twoface.zoo.store import ModelStore, progress_bar

    store = ModelStore(args.models_dir, offline=args.offline)
    if args.action == "list":
        rows = []
        for e in CATALOGUE.values():
            st = store.status(e)
            rows.append(
                {
                    "name": e.name,
                    "task": e.task,
                    "arch": e.arch,
                    "format": e.format,
                    "file": e.filename,
                    "size": e.size,
                    "sha256": e.sha256,
                    "hash": "catalogue" if e.sha256 else "pinned on first download",
                    "licence": e.licence,
                    "non_commercial": e.non_commercial,
                    "urls": list(e.urls),
                    "input": {
                        "size": e.preprocess.size,
                        "template": e.preprocess.template,
                        "colour": e.preprocess.colour,
                        "mean": list(e.preprocess.mean),
                        "std": list(e.preprocess.std),
                    },
                    "present": st.present,
                    "path": str(st.path),
                }
            )
        if args.json:
            print(json.dumps({"models_dir": str(store.models_dir), "models": rows}, indent=2))
        else:
            print(f"models in {store.models_dir}")
            for r in rows:
                mark = "*" if r["present"] else " "
                size = f"{r['size'] / 1e6:8.1f} MB" if r["size"] else "       ? MB"
                nc = "  non-commercial" if r["non_commercial"] else ""
                print(f" {mark} {r['name']:<30} {r['task']:<13} {r['format']:<11} {size}{nc}")
        return EXIT_OK
    if args.action == "download":
        entries = [store.entry(n) for n in args.names]
        for e in entries:
            path = store.download(e, progress=progress_bar(e.name))
            how = "sha256 checked" if e.sha256 else "sha256 pinned (first download)"
            print(f"{e.name}: {path} ({how})")
        return EXIT_OK
    if args.action == "import":
        path = store.import_file(args.file, args.name)
        print(f"{args.name}: {path}")
        return EXIT_OK
    if args.action == "path":
        print(store.find(args.name))
        return EXIT_OK
    names = args.names or [e.name for e in CATALOGUE.values() if store.path(e).is_file()]
    results = [store.status(store.entry(n), rehash=True) for n in names]
    if args.json:
        print(json.dumps([{"name": r.name, "state": r.state, "detail": r.detail} for r in results]))
    else:
        for r in results:
            print(f"{r.name}: {r.state}" + (f" ({r.detail})" if r.detail else ""))
        if not results:
            print(f"no model files in {store.models_dir}")
    bad = [r for r in results if r.state in ("corrupt", "missing")]
    return 4 if bad else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        commands = {"swap": _swap, "detect": _detect, "inspect": _inspect, "models": _models}
        return commands[args.command](args)
    except TwofaceError as e:
        print(f"twoface: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("twoface: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
