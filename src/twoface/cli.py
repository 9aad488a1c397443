"""Command line: `twoface swap | detect | inspect | models`. Parsing, messages, exit codes only.

Exit codes: 0 success; 1 `inspect` found no label; 2 usage error; 3 input error; 4 model file
missing, corrupt or not downloadable; 5 the output cannot be written (disk full, no permission);
70 internal error (a bug: please report it; --verbose shows the traceback); 130 interrupted
(Ctrl-C); 141 the output pipe was closed (`| head`); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import Sequence

from twoface.errors import TwofaceError, UsageError

EXIT_OK, EXIT_UNLABELLED, EXIT_USAGE, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_INTERNAL, EXIT_PIPE, EXIT_TERMINATED = 70, 141, 143
MODELS_DIR_HELP = (
    "model store folder (default: $TWOFACE_HOME, else ~/.cache/twoface); "
    "files live in its models/ subfolder"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    from twoface import __version__

    p = _Parser(
        prog="twoface",
        description="Swap faces in images, videos and live cameras, offline first. Every output "
        "is labelled as AI-generated.",
    )
    p.add_argument("--version", action="version", version=f"twoface {__version__}")
    _store_options(p, top=True)
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="codec log lines, and a traceback for internal errors",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

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
        "--faces",
        type=_assignments,
        metavar="K[:S],...",
        help="images: replace exactly these faces, numbered as `twoface detect` numbers them; "
        "K:S gives face K source S (default source 0), e.g. --faces 1 or --faces 0:1,1:0",
    )
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
        default=None,
        metavar="F",
        help="largest identity distance that counts as the same person for "
        "--reference/--target-faces, in the encoder's scale: dlib128 Euclidean (default 0.6), "
        "arcface_w600k_r50 cosine distance 1 - cos (default 0.6); lower is stricter",
    )
    s.add_argument(
        "--encoder",
        default="dlib128",
        metavar="NAME",
        help="identity encoder for --reference/--target-faces and tracking: dlib128 (default, "
        "ships with twoface) or arcface_w600k_r50 (needs its file)",
    )
    s.add_argument(
        "--crf",
        type=int,
        default=None,
        metavar="N",
        help="video quality, lower is better: H.264/H.265 0-51 (default 18), VP9 0-50",
    )
    s.add_argument(
        "--preset",
        default=None,
        help="x264/x265 speed preset: ultrafast ... medium (default) ... veryslow",
    )
    s.add_argument(
        "--codec",
        choices=["libx264", "libx265", "libvpx-vp9"],
        help="video codec (default: H.264; VP9 for .webm)",
    )
    s.add_argument(
        "--devices",
        type=_names,
        metavar="DEV,DEV...",
        help="video: split it at keyframes over one worker per device (cuda:0,cuda:1 ...; "
        "cpu,cpu for two CPU workers) and join the parts",
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
    s.add_argument(
        "--quality", type=int, default=None, metavar="N", help="JPEG/WebP quality 1-100 (95)"
    )
    s.add_argument(
        "--progress",
        choices=["auto", "on", "off"],
        default="auto",
        help="progress on stderr: auto (only on a terminal), on (also when piped), off",
    )
    _model_options(s, swap=True)
    _finish_options(s)
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
    _store_options(m)
    ms = m.add_subparsers(dest="action", required=True, parser_class=_Parser)
    ml = ms.add_parser("list", help="the catalogue: what runs, licences, which files are here")
    ml.add_argument("--json", action="store_true")
    md = ms.add_parser("download", help="fetch files (resumable; size and sha256 checked)")
    md.add_argument("names", nargs="+", metavar="NAME")
    mi = ms.add_parser("import", help="register a file you already have")
    mi.add_argument("file", metavar="FILE")
    mi.add_argument(
        "--like",
        metavar="ENTRY",
        help="your own model (e.g. from `twoface train export`) with ENTRY's architecture, "
        "installed under --name",
    )
    mi.add_argument(
        "--name",
        metavar="NAME",
        help="catalogue name it is (default: recognised by its sha256)",
    )
    mv = ms.add_parser("verify", help="re-hash cached files against the catalogue or pins")
    mv.add_argument("names", nargs="*", metavar="NAME")
    mv.add_argument("--json", action="store_true")
    mp = ms.add_parser("path", help="print where a model file is (exit 4 if missing)")
    mp.add_argument("name", metavar="NAME")
    mu = ms.add_parser(
        "unpin", help="forget the digest pinned for a model (and delete its cached file)"
    )
    mu.add_argument("name", metavar="NAME")
    for action in (ml, md, mi, mv, mp, mu):
        _store_options(action)

    b = sub.add_parser("bench", help="measure video swap speed against the codec bound")
    b.add_argument("-s", "--source", required=True, metavar="PATH", help="source face photo")
    b.add_argument("--device", default="cpu", metavar="DEV", help="cpu (default), cuda, cuda:N")
    b.add_argument("--size", default="1080p", choices=["360p", "720p", "1080p", "4k"])
    b.add_argument("--faces", type=int, default=1, metavar="N", help="faces per frame (1)")
    b.add_argument("--swapper", default="classical", metavar="NAME")
    b.add_argument("--input", metavar="FILE", help="your clip instead of the synthetic one")
    b.add_argument("--frames", type=int, default=120, metavar="N", help="synthetic clip length")
    b.add_argument("--half", action="store_true", help="fp16 generator (PyTorch)")
    b.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the generator (PyTorch; minutes of start-up, not timed)",
    )
    b.add_argument("--detector", default="retinaface", metavar="NAME")
    b.add_argument(
        "--landmarks",
        default=None,
        metavar="NAME",
        help="dlib68 (classical default) or none (learned swappers' default: keypoints only)",
    )
    b.add_argument("--json", action="store_true", help="print JSON")
    _store_options(b)

    ds = sub.add_parser("dataset", help="face datasets for training")
    dss = ds.add_subparsers(dest="action", required=True, metavar="ACTION")
    db = dss.add_parser("build", help="detect, align, filter and shard the faces of photos/videos")
    db.add_argument("inputs", nargs="+", metavar="INPUT", help="photos, videos or folders")
    db.add_argument("-o", "--output", required=True, metavar="DATA", help="new dataset folder")
    db.add_argument("--size", type=int, default=None, help="crop side (128; 224 for GHOST)")
    db.add_argument(
        "--template",
        default=None,
        help="arcface (inswapper/ReSwapper), insightface_pose (GHOST), ffhq",
    )
    db.add_argument("--for", dest="arch", metavar="ARCH", help="size/template of a train --arch")
    db.add_argument("--min-face", type=int, default=64, metavar="PX", help="smallest face (64)")
    db.add_argument(
        "--min-sharpness", type=float, default=20.0, metavar="V", help="Laplacian variance (20)"
    )
    db.add_argument(
        "--max-yaw", type=float, default=0.6, metavar="R", help="0 frontal .. 1 profile (0.6)"
    )
    db.add_argument("--every", type=int, default=5, metavar="N", help="video: every N-th frame (5)")
    db.add_argument("--encoder", default="dlib128", metavar="NAME", help="identity for grouping")
    _store_options(db)

    t = sub.add_parser(
        "train",
        help="train a swapper (`twoface train export RUN` writes its files)",
        description="twoface train --arch ARCH --data DATA --out RUN ...  |  "
        "twoface train export RUN [--step N]",
    )
    t.add_argument("rest", nargs="*", metavar="export RUN", help=argparse.SUPPRESS)
    t.add_argument("--arch", choices=["inswapper128", "reswapper256", "ghost_unet_2"])
    t.add_argument("--data", metavar="DATA", help="a dataset from `twoface dataset build`")
    t.add_argument("--out", metavar="RUN", help="the run folder (checkpoints, log, samples)")
    t.add_argument("--config", metavar="FILE", help="JSON recipe overrides")
    t.add_argument("--steps", type=int, metavar="N")
    t.add_argument("--batch", type=int, metavar="N")
    t.add_argument("--accumulate", type=int, metavar="N", help="gradient accumulation steps")
    t.add_argument("--precision", choices=["fp32", "bf16", "fp16"])
    t.add_argument("--lr-g", type=float, metavar="LR")
    t.add_argument("--lr-d", type=float, metavar="LR")
    t.add_argument("--width", type=float, metavar="F", help="channel multiplier (1)")
    t.add_argument("--seed", type=int)
    t.add_argument("--log-every", type=int, metavar="N")
    t.add_argument("--sample-every", type=int, metavar="N")
    t.add_argument("--checkpoint-every", type=int, metavar="N")
    t.add_argument("--resume", action="store_true", help="go on from the run's latest checkpoint")
    t.add_argument("--step", type=int, help="export: this checkpoint (default: the latest)")
    t.add_argument("--device", metavar="DEV")
    _store_options(t)

    u = sub.add_parser("ui", help="a local web app: upload, pick faces, swap, download")
    u.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    u.add_argument("--port", type=int, default=7860, help="port (7860)")
    u.add_argument(
        "--max-upload-mb", type=int, default=512, metavar="N", help="largest upload (512 MiB)"
    )
    u.add_argument(
        "--runtime", default="onnxruntime", choices=["onnxruntime", "torch"], help=argparse.SUPPRESS
    )
    u.add_argument("--device", metavar="DEV", help="PyTorch device for zoo models")
    _store_options(u)

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
    lv.add_argument("--many", action="store_true", help="every face, not only the largest")
    lv.add_argument("--frames", type=int, metavar="N", help="stop after N frames in")
    lv.add_argument("--seconds", type=float, metavar="S", help="stop after S seconds")
    lv.add_argument("--json", action="store_true", help="print the figures as JSON at the end")
    _model_options(lv, swap=True)
    lv.set_defaults(swapper=None)  # live: the fastest installed unless one is named

    i = sub.add_parser("inspect", help="print a file's synthetic-media label; exit 1 if none")
    i.add_argument("path", metavar="PATH")
    i.add_argument("--json", action="store_true", help="print JSON")
    return p


def _model_options(p: argparse.ArgumentParser, swap: bool = False) -> None:
    from twoface.anime import ANIME_DETECTORS
    from twoface.detect import detector_names

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
    p.add_argument("--device", metavar="DEV", help="PyTorch device, e.g. cpu, cuda or cuda:1")
    _store_options(p)


def _assignments(text: str) -> tuple[tuple[int, int], ...]:
    pairs = []
    for part in _names(text):
        face, _, source = part.partition(":")
        try:
            pairs.append((int(face), int(source or 0)))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{part!r}: give face numbers, or face:source pairs, e.g. 1 or 0:1"
            ) from None
    return tuple(pairs)


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _finish_options(p: argparse.ArgumentParser) -> None:
    """Masks, mouth, enhancer and pixel boost of learned swappers (twoface.config.FinishConfig)."""
    g = p.add_argument_group("learned swappers: masks, restoration, pixel boost")
    g.add_argument(
        "--mask",
        type=_names,
        metavar="NAMES",
        help="comma-separated masks combined by minimum: box, area, region (face parser), "
        "occlusion (XSeg), mouth (keep an open target mouth), ghost (sber-swap's 106-landmark "
        "mask, needs landmarks_2d106det); default: the swapper's own "
        "(inswapper/ReSwapper: the crop's feathered square alone; GHOST/SimSwap: area). The "
        "classical engine takes region and occlusion (default: region when a face parser is "
        "installed, else its own colour test)",
    )
    g.add_argument(
        "--mask-regions",
        type=_names,
        metavar="NAMES",
        help="face parser classes the region mask keeps (default: skin, brows, eyes, glasses, "
        "nose, mouth, lips); also ears, neck, hair, hat ...",
    )
    g.add_argument(
        "--mask-padding",
        type=float,
        nargs=4,
        metavar=("TOP", "RIGHT", "BOTTOM", "LEFT"),
        help="box mask padding, fractions of the crop (0 0 0 0)",
    )
    g.add_argument("--mask-blur", type=float, metavar="F", help="box mask edge blur, 0-1 (0)")
    g.add_argument(
        "--mouth-grow", type=float, metavar="F", help="kept mouth grown by F x face width (0.02)"
    )
    g.add_argument(
        "--mouth-feather", type=float, metavar="F", help="kept mouth edge, F x face width (0.02)"
    )
    g.add_argument(
        "--parser", metavar="NAME", help="face parser for the region mask (bisenet_resnet_34)"
    )
    g.add_argument("--occluder", metavar="NAME", help="occluder for the occlusion mask (xseg_1)")
    g.add_argument(
        "--enhancer",
        metavar="NAME",
        help="face restorer after the swap: gfpgan_1.4_onnx, codeformer_onnx, gpen_bfr_512, "
        "restoreformer_plus_plus ... (`twoface models list`)",
    )
    g.add_argument(
        "--enhancer-blend",
        type=float,
        metavar="F",
        help="how much of the restored face: 0 (none) to 1 (all); default 0.8",
    )
    g.add_argument(
        "--enhancer-weight",
        type=float,
        metavar="F",
        help="CodeFormer's fidelity weight: 0 most restored, 1 closest to the swap (0.5)",
    )
    g.add_argument(
        "--ghost-sr",
        action="store_true",
        default=None,
        help="GHOST swappers: sber-swap's super-resolution model (ghost_sr) on the generated face",
    )
    g.add_argument(
        "--pixel-boost",
        type=int,
        choices=[256, 512],
        help="run a 128-px swapper on a 256/512-px crop as 2x2/4x4 tiles (sharper faces)",
    )


FINISH_FLAGS = (
    "mask",
    "mask_regions",
    "mask_padding",
    "mask_blur",
    "mouth_grow",
    "mouth_feather",
    "parser",
    "occluder",
    "enhancer",
    "enhancer_blend",
    "enhancer_weight",
    "pixel_boost",
    "ghost_sr",
)


def _finish(args):
    """The FinishConfig the command line asks for (defaults where a flag is not given)."""
    from twoface.config import FinishConfig
    from twoface.mask import MaskSettings

    given = {k: getattr(args, k, None) for k in FINISH_FLAGS}
    mask_fields = {
        "names": given["mask"],
        "regions": given["mask_regions"],
        "padding": tuple(given["mask_padding"]) if given["mask_padding"] else None,
        "blur": given["mask_blur"],
        "mouth_grow": given["mouth_grow"],
        "mouth_feather": given["mouth_feather"],
        "parser": given["parser"],
        "occluder": given["occluder"],
    }
    settings = MaskSettings(**{k: v for k, v in mask_fields.items() if v is not None})
    finish = {
        "masks": settings,
        "enhancer": given["enhancer"],
        "enhancer_blend": given["enhancer_blend"],
        "enhancer_weight": given["enhancer_weight"],
        "pixel_boost": given["pixel_boost"],
        "ghost_sr": given["ghost_sr"],
    }
    return FinishConfig(**{k: v for k, v in finish.items() if v is not None})


def _store_options(p: argparse.ArgumentParser, top: bool = False) -> None:
    """--models-dir and --offline, accepted before and after the subcommand: the copies on
    subcommands default to SUPPRESS so they never undo what was given before them."""
    default = None if top else argparse.SUPPRESS
    p.add_argument("--models-dir", metavar="DIR", default=default, help=MODELS_DIR_HELP)
    p.add_argument(
        "--offline",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="never touch the network",
    )


def _config(args):
    """The typed configuration (models, runtime) the command line asks for: built once here."""
    from twoface.anime import ANIME_DETECTORS
    from twoface.config import Config, FinishConfig, ModelsConfig, RuntimeConfig

    photo, anime = "retinaface", "anime_lbpcascade"
    if args.detector in ANIME_DETECTORS:
        anime = args.detector
        if getattr(args, "anime", None) is False:
            raise UsageError(f"--detector {args.detector} is an anime detector; drop --photo")
    elif args.detector:
        photo = args.detector
        if getattr(args, "anime", None) is True:
            raise UsageError(f"--detector {args.detector} is not an anime detector")
    models = ModelsConfig(
        detector=photo,
        swapper=getattr(args, "swapper", "classical"),
        encoder=getattr(args, "encoder", "dlib128"),
        anime_detector=anime,
        models_dir=args.models_dir,
        offline=args.offline,
    )
    runtime = RuntimeConfig(
        args.runtime, args.device, getattr(args, "half", False), getattr(args, "compile", False)
    )
    return Config(models, runtime, _finish(args) if hasattr(args, "mask") else FinishConfig())


def _note(message: str) -> None:
    print(f"twoface: note: {message}", file=sys.stderr)


def _verb(flags: list[str]) -> str:
    return "applies" if len(flags) == 1 else "apply"


def _ignored_options(args, video: bool) -> list[str]:
    """Options given that do nothing for this engine or file: said, not silently dropped."""
    notes = []
    if not video:
        given = [f"--{n}" for n in ("crf", "preset", "codec") if getattr(args, n) is not None]
        if given:
            notes.append(
                f"{', '.join(given)} {_verb(given)} to video outputs; ignored for an image"
            )
    elif args.quality is not None and not args.output.lower().endswith(".webp"):
        notes.append("--quality applies to JPEG/WebP images; ignored for a video")
    if args.similarity is not None and not (args.reference or args.target_faces):
        notes.append("--similarity applies with --reference or --target-faces; ignored")
    given = [k for k in FINISH_FLAGS if getattr(args, k) is not None]
    classical = args.swapper == "classical" and not args.anime
    if classical:
        # The classical engine takes the model masks (region, occlusion) and their options.
        given = [k for k in given if k not in ("mask", "mask_regions", "parser", "occluder")]
    finish = [f"--{k.replace('_', '-')}" for k in given]
    others = [m for m in (args.mask or ()) if m not in ("region", "occlusion")]
    if classical and others:
        finish.append(f"--mask {','.join(others)}")
    if finish and (args.swapper == "classical" or args.anime):
        notes.append(
            f"{', '.join(finish)} {_verb(finish)} to learned swappers; the classical and anime "
            "engines mask and blend by their own rules"
        )
    zoo_detector = args.detector not in (None, "retinaface", "dlib-hog")
    if args.swapper == "classical" and not zoo_detector:
        torch_only = [
            flag
            for flag, given in (
                ("--device", args.device is not None),
                ("--half", args.half),
                ("--compile", args.compile),
                ("--runtime torch", args.runtime == "torch"),
            )
            if given
        ]
        if torch_only and not args.anime:
            notes.append(
                f"{', '.join(torch_only)} {_verb(torch_only)} to zoo models; the classical engine and "
                "the built-in detector run on the CPU without them"
            )
    elif (args.half or args.compile) and args.runtime != "torch":
        notes.append("--half and --compile apply with --runtime torch; ignored")
    return notes


def _swap(args) -> int:
    from twoface.api import Swapper
    from twoface.config import OutputConfig, SelectionConfig, as_tuple
    from twoface.io.video import is_video_path

    quality = 95 if args.quality is None else args.quality
    if args.reference and args.target_faces:
        raise UsageError("use either --reference or --target-faces, not both")
    video = is_video_path(args.target)
    if video and args.anime:
        raise UsageError(f"{args.target}: --anime applies to images, not videos")
    if not video and args.trim:
        raise UsageError(f"{args.target}: --trim applies to videos, not images")
    if args.device:
        _check_device(args.device)
    for note in _ignored_options(args, video):
        _note(note)
    config = _config(args)
    progress = {"auto": None, "on": True, "off": False}[args.progress]
    if args.faces and video:
        raise UsageError(
            f"{args.target}: --faces applies to images; for a video use --target-faces"
        )
    selection = SelectionConfig(
        assign=args.faces or (),
        many=args.many,
        reference=args.reference,
        target_faces=as_tuple(args.target_faces),
        similarity=args.similarity,
    )
    options = OutputConfig(
        quality=quality,
        label=not args.no_label,
        watermark=args.watermark,
        crf=18 if args.crf is None else args.crf,
        preset=args.preset or "medium",
        codec=args.codec,
        trim=tuple(args.trim) if args.trim else None,
    )
    if args.devices and not video:
        raise UsageError(f"{args.target}: --devices applies to videos")
    if video and args.devices and len(args.devices) > 1:
        # The workers load the models; the parent only splits and joins.
        return _swap_parallel(args, config, selection, options)
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
        )
    for note in result.notes:
        _note(note)
    print(json.dumps(result.summary(), indent=2) if args.json else line)
    return EXIT_OK


def _swap_parallel(args, config, selection, options) -> int:
    """One video over one worker process per --devices entry (twoface.parallel)."""
    from twoface.parallel import swap_video_parallel

    devices = [None if d == "cpu" else d for d in args.devices]
    for d in devices:
        if d:
            _check_device(d)
    figures = swap_video_parallel(
        config,
        args.source,
        args.target,
        args.output,
        devices=devices,
        selection=selection,
        options=options,
    )
    figures["output"] = args.output
    line = (
        f"{args.output}: {figures['frames']} frames, swapped faces in "
        f"{figures['frames_swapped']}, {len(devices)} workers"
    )
    print(json.dumps(figures, indent=2) if args.json else line)
    return EXIT_OK


def _detect(args) -> int:
    from twoface.anime import ANIME_DETECTORS
    from twoface.api import Swapper
    from twoface.io.image import load_image

    anime = args.anime or args.detector in ANIME_DETECTORS
    img = load_image(args.path)
    swapper = Swapper(_config(args))
    note = None
    if anime:
        analyser = swapper.anime
        faces = analyser([img.rgb])[0]
        if analyser.landmarker is None:
            note = f"no landmarks: {analyser.landmarks_missing}"
    elif args.landmarks == "2d106det":
        marker = swapper.pool.get("landmarks", "landmarks_2d106det")
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


def _check_device(device: str) -> None:
    """A --device other than the CPU needs PyTorch and that device (else one clear line)."""
    from twoface.runtime import check_device, require_torch

    require_torch(f"--device {device}")
    check_device(device)


def _bench(args) -> int:
    from twoface import bench

    if args.device != "cpu":
        _check_device(args.device)
    report = bench.run(
        args.source,
        device=args.device,
        size=args.size,
        faces=args.faces,
        swapper=args.swapper,
        input_path=args.input,
        frames=args.frames,
        half=args.half,
        detector=args.detector,
        landmarker=args.landmarks,
        models_dir=args.models_dir,
        compile=args.compile,
    )
    print(json.dumps(report, indent=2) if args.json else bench.table(report))
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


def _runnable() -> set[str]:
    """Catalogue names twoface can run today: those naming an implementation (twoface.build)."""
    from twoface.build import runs_today
    from twoface.zoo.catalogue import CATALOGUE

    return {name for name in CATALOGUE if runs_today(name)}


LIST_LEGEND = (
    "* file present   runs: yes = twoface runs it today, no = catalogued only   "
    "NC = non-commercial licence   sha256: catalogue (published) or pin (first download)"
)


def _models(args) -> int:
    from twoface.zoo.catalogue import CATALOGUE
    from twoface.zoo.store import ModelStore, progress_bar

    store = ModelStore(args.models_dir, offline=args.offline)
    if args.action == "list":
        runnable = _runnable()
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
                    "runs": e.name in runnable,
                    "size": e.size,
                    "sha256": e.sha256,
                    "hash": "catalogue" if e.sha256 else "pinned on first download",
                    "hash_source": e.source or None,
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
            print(
                f"   {'name':<30} {'task':<13} {'format':<11} {'size':>11}  runs sha256    licence"
            )
            for r in rows:
                mark = "*" if r["present"] else " "
                size = f"{r['size'] / 1e6:8.1f} MB" if r["size"] else "       ? MB"
                runs = "yes " if r["runs"] else "no  "
                sha = "catalogue" if r["sha256"] else "pin      "
                nc = "NC" if r["non_commercial"] else "  "
                print(
                    f" {mark} {r['name']:<30} {r['task']:<13} {r['format']:<11} {size}  "
                    f"{runs} {sha} {nc}"
                )
            print(LIST_LEGEND)
        return EXIT_OK
    if args.action == "download":
        entries = [store.entry(n) for n in args.names]
        for e in entries:
            path = store.download(e, progress=progress_bar(e.name))
            how = "sha256 checked" if e.sha256 else "sha256 pinned (first download)"
            print(f"{e.name}: {path} ({how})")
        return EXIT_OK
    if args.action == "import":
        name, path = store.import_file(args.file, args.name, like=args.like)
        print(f"{name}: {path}")
        return EXIT_OK
    if args.action == "path":
        print(store.find(args.name))
        return EXIT_OK
    if args.action == "unpin":
        removed = store.unpin(args.name)
        print(f"{args.name}: " + (f"removed {', '.join(removed)}" if removed else "nothing pinned"))
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


# API fields (TwofaceError.field) and the flags that set them.
FLAGS = {
    "similarity": "--similarity",
    "target_faces": "--target-faces",
    "reference": "--reference",
    "watermark": "--watermark",
    "trim": "--trim",
    "crf": "--crf",
    "preset": "--preset",
    "quality": "--quality",
    "device": "--device",
    "runtime": "--runtime",
    "batch_size": "--batch-size",
    "swap": "--swapper",
    "detect": "--detector",
    "identity": "--encoder",
    "landmarks": "--landmarks",
    "anime-detect": "--detector",
}


def _cli_message(e: TwofaceError) -> str:
    """The API's message in command-line words: a leading field name becomes its flag."""
    text = str(e)
    flag = FLAGS.get(e.field or "")
    if flag and (text.startswith(f"{e.field} ") or text.startswith(f"{e.field}:")):
        return flag + text[len(e.field) :]
    if flag and f": {e.field} " in text:  # "clip.mp4: trim starts at ..." names the file first
        return text.replace(f": {e.field} ", f": {flag} ", 1)
    return text


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so every `with` block cleans up as on Ctrl-C."""


def _on_sigterm(signum, frame) -> None:
    raise _Terminated


def _dataset(args) -> int:
    from twoface.api import Swapper
    from twoface.config import Config, ModelsConfig
    from twoface.train.dataset import BuildOptions, build_dataset
    from twoface.train.recipes import recipe

    size, template = args.size, args.template
    if args.arch:
        r = recipe(args.arch)
        size, template = size or r.size, template or r.template
    options = BuildOptions(
        size=size or 128,
        template=template or "arcface",
        min_face=args.min_face,
        min_sharpness=args.min_sharpness,
        max_yaw=args.max_yaw,
        every=args.every,
    )
    models = ModelsConfig(encoder=args.encoder, models_dir=args.models_dir, offline=args.offline)
    report = build_dataset(Swapper(Config(models)), args.inputs, args.output, options)
    print(f"{args.output}: {report.line()}")
    return EXIT_OK


def _train(args) -> int:
    from twoface.runtime import require_torch

    require_torch("twoface train")
    if args.rest:
        if args.rest[0] != "export" or len(args.rest) != 2:
            raise UsageError("twoface train export RUN: say which run folder to export")
        from twoface.train.export import export_run

        done = export_run(args.rest[1], args.step)
        for f in done["files"]:
            print(f)
        print(f"install it: {done['import']}")
        return EXIT_OK
    missing = [f"--{k}" for k in ("arch", "data", "out") if not getattr(args, k)]
    if missing:
        raise UsageError(f"twoface train needs {', '.join(missing)}")
    from twoface.train.recipes import recipe
    from twoface.train.trainer import Trainer
    from twoface.zoo.store import ModelStore

    if args.device:
        _check_device(args.device)
    r = recipe(
        args.arch,
        args.config,
        steps=args.steps,
        batch=args.batch,
        accumulate=args.accumulate,
        precision=args.precision,
        lr_g=args.lr_g,
        lr_d=args.lr_d,
        width=args.width,
        seed=args.seed,
        log_every=args.log_every,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
    )
    trainer = Trainer(
        r, args.data, args.out, ModelStore(args.models_dir, args.offline), args.device
    )
    if args.resume:
        trainer.resume()

    def report(row: dict) -> None:
        if trainer.rank == 0:
            losses = ", ".join(
                f"{k} {row[k]:.4f}" for k in ("loss_g", "loss_d", "id", "rec") if k in row
            )
            print(f"step {row['step']}: {losses}; {row['images_per_s']} images/s", flush=True)

    trainer.fit(report=report)
    if trainer.rank == 0:
        print(f"{args.out}: trained to step {trainer.step}; `twoface train export {args.out}`")
    return EXIT_OK


def _ui(args) -> int:
    from twoface.ui.server import Settings, serve

    if args.device:
        _check_device(args.device)
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: not a port number")
    if args.max_upload_mb < 1:
        raise UsageError("--max-upload-mb must be at least 1")
    settings = Settings(
        host=args.host,
        port=args.port,
        max_upload_mb=args.max_upload_mb,
        models_dir=args.models_dir,
        offline=args.offline,
        runtime=args.runtime,
        device=args.device,
    )
    try:
        serve(settings)
    except OSError as e:
        raise UsageError(f"cannot listen on {args.host}:{args.port} ({e.strerror or e})") from None
    except (_Terminated, KeyboardInterrupt):
        # The usual way to stop a server: say so plainly (its uploads are already removed).
        print("twoface ui: stopped; uploads and results removed", file=sys.stderr)
        return EXIT_OK
    return EXIT_OK


def _live(args) -> int:
    from twoface.api import Swapper
    from twoface.live import LiveSwapper, frames_from, run_live, virtual_camera_sink, window_sink

    if not (args.show or args.virtual_cam):
        raise UsageError(
            "twoface live: nothing to show the swap on; give --show and/or --virtual-cam"
        )
    if args.device:
        _check_device(args.device)
    if args.swapper is None:
        from twoface.live import fastest_setup
        from twoface.zoo.store import ModelStore

        args.swapper, runtime, half = fastest_setup(ModelStore(args.models_dir, args.offline))
        if runtime != args.runtime:
            args.runtime, args.half = runtime, half
    swapper = Swapper(_config(args))
    live = LiveSwapper(swapper, args.source, many=args.many)
    sinks, closers = [], []
    if args.show:
        sinks.append(window_sink())
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
    if stats is not None:
        summary = {"swapper": args.swapper, **stats.summary()}
        line = f"twoface live ({args.swapper}): {stats.line()}"
        print(json.dumps(summary, indent=2) if args.json else line)
    return EXIT_OK


def _silence_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the interpreter's final flush of the
    buffered output cannot raise BrokenPipeError again at exit."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    from twoface.io.video import quiet_codec_logs

    verbose = False
    previous = None
    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args = _parser().parse_args(argv)
        verbose = args.verbose
        quiet_codec_logs(verbose)
        commands = {
            "swap": _swap,
            "detect": _detect,
            "inspect": _inspect,
            "models": _models,
            "bench": _bench,
            "ui": _ui,
            "dataset": _dataset,
            "train": _train,
            "live": _live,
        }
        code = commands[args.command](args)
        sys.stdout.flush()
        return code
    except TwofaceError as e:
        print(f"twoface: error: {_cli_message(e)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("twoface: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _Terminated:
        print("twoface: terminated; nothing was written", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_PIPE
    except MemoryError:
        print("twoface: error: out of memory (try a smaller input)", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as e:  # a bug: one line, and the traceback only when asked for
        if verbose:
            import traceback

            traceback.print_exc()
        detail = (str(e).splitlines() or [""])[0][:200]
        print(
            f"twoface: internal error: {type(e).__name__}: {detail} (please report it; "
            "--verbose shows where)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
