"""What every command shares: exit codes, the parser class, the model/finish/store options, notes,
the errors mapped to flags, and the signals."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from twoface.errors import TwofaceError, UsageError

EXIT_OK, EXIT_UNLABELLED, EXIT_USAGE, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_INTERNAL, EXIT_PIPE, EXIT_TERMINATED = 70, 141, 143
EXIT_TAMPERED = 7  # `inspect`: labelled, but the content credentials fail validation
MODELS_DIR_HELP = (
    "model store folder (default: $TWOFACE_HOME, else ~/.cache/twoface); "
    "files live in its models/ subfolder"
)


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        # main() prints "twoface: error: " before it: name only the subcommand here, so the
        # line never reads "twoface: error: twoface: ...".
        command = self.prog.removeprefix("twoface").strip()
        where = f"{command}: " if command else ""
        raise UsageError(f"{where}{message} (see {self.prog} --help)")


def model_options(p: argparse.ArgumentParser, swap: bool = False) -> None:
    # No argparse choices: a model the user imported into their store (`models import`) is a
    # detector too; an unknown name is refused by the build with the valid ones (exit 2).
    p.add_argument(
        "--detector",
        default=None,
        metavar="NAME",
        help="face detector: retinaface (default) or dlib-hog ship with twoface; "
        "zoo detectors need their file (`twoface models list`)",
    )
    if swap:
        p.add_argument(
            "--swapper",
            default="auto",
            metavar="NAME",
            help="auto (default: the best learned swapper installed, else classical, the "
            "offline fallback), classical (ships with twoface) or a learned zoo swapper: "
            "inswapper_128, inswapper_128_fp16, reswapper_128_1019500, ... "
            "(`twoface models get --recommended` installs one)",
        )
        p.add_argument(
            "--landmarks",
            dest="landmarker",
            default=None,
            metavar="NAME",
            help="landmarker: dlib68 (default, ships with twoface) or none (the detector's 5 "
            "keypoints alone: enough for learned swappers, and faster; the classical engine and "
            "the area/ghost masks need landmarks)",
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
    store_options(p)


def finish_options(p: argparse.ArgumentParser) -> None:
    """Masks, mouth, enhancer and pixel boost of learned swappers: the flags of
    twoface.mask.MaskSettings and twoface.config.FinishConfig, made from their fields."""
    from twoface.config import FinishConfig
    from twoface.mask import MaskSettings
    from twoface.options import add_flags

    g = p.add_argument_group("learned swappers: masks, restoration, pixel boost")
    add_flags(g, MaskSettings)
    add_flags(g, FinishConfig)


def finish_flags() -> list:
    """The finishing options that have a flag: (argparse dest, flag, what it feeds), mask first."""
    from twoface.config import FinishConfig
    from twoface.mask import MaskSettings
    from twoface.options import flag_dest, flag_fields

    return [
        (flag_dest(f.metadata["flag"]), f.metadata["flag"], f.metadata.get("feeds"))
        for cls in (MaskSettings, FinishConfig)
        for f in flag_fields(cls)
    ]


def finish_settings(args):
    """The FinishConfig the command line asks for (defaults where a flag is not given)."""
    from twoface.config import FinishConfig
    from twoface.mask import MaskSettings
    from twoface.options import given

    return FinishConfig(
        masks=MaskSettings(**given(args, MaskSettings)), **given(args, FinishConfig)
    )


def output_options(p: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """How results are written: the flags of twoface.config.OutputConfig (`only` those named)."""
    from twoface.config import OutputConfig
    from twoface.options import add_flags

    add_flags(p, OutputConfig, only)


def output_settings(args, **fixed):
    """The OutputConfig the command line asks for; `fixed` overrides."""
    from twoface.config import OutputConfig
    from twoface.options import given

    return OutputConfig(**(given(args, OutputConfig) | fixed))


def signing_options(p: argparse.ArgumentParser) -> None:
    """--sign-cert and --sign-key: the certificate and key that sign the content credentials."""
    output_options(p, ("sign_cert", "sign_key"))


def selection_options(p: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """Which faces are replaced: the flags of twoface.config.SelectionConfig."""
    from twoface.config import SelectionConfig
    from twoface.options import add_flags

    add_flags(p, SelectionConfig, only)


def selection_settings(args, **fixed):
    from twoface.config import SelectionConfig
    from twoface.options import given

    return SelectionConfig(**(given(args, SelectionConfig) | fixed))


def store_options(p: argparse.ArgumentParser, top: bool = False) -> None:
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


def config_from(args):
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
        landmarker=getattr(args, "landmarker", None) or ModelsConfig().landmarker,
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
    return Config(
        models, runtime, finish_settings(args) if hasattr(args, "mask") else FinishConfig()
    )


def say_note(message: str) -> None:
    print(f"twoface: note: {message}", file=sys.stderr)


def verb(flags: list[str]) -> str:
    return "applies" if len(flags) == 1 else "apply"


def check_device(device: str) -> None:
    """A --device other than the CPU needs PyTorch and that device (else one clear line)."""
    from twoface.runtime import check_device, require_torch

    require_torch(f"--device {device}")
    check_device(device)


# API fields (TwofaceError.field) and the flags that set them: the options' own flags, and the
# model tasks whose build errors name the flag that picks the model.
TASK_FLAGS = {
    "device": "--device",
    "runtime": "--runtime",
    "batch_size": "--batch-size",
    "swap": "--swapper",
    "detect": "--detector",
    "identity": "--encoder",
    "landmarks": "--landmarks",
    "anime-detect": "--detector",
}


def _flags() -> dict[str, str]:
    from twoface.config import FinishConfig, OutputConfig, SelectionConfig
    from twoface.mask import MaskSettings
    from twoface.options import flags_of

    return flags_of(SelectionConfig, OutputConfig, FinishConfig, MaskSettings) | TASK_FLAGS


def cli_message(e: TwofaceError) -> str:
    """The API's message in command-line words: a leading field name becomes its flag."""
    text = str(e)
    flag = _flags().get(e.field or "")
    if flag and (text.startswith(f"{e.field} ") or text.startswith(f"{e.field}:")):
        return flag + text[len(e.field) :]
    if flag and f": {e.field} " in text:  # "clip.mp4: trim starts at ..." names the file first
        return text.replace(f": {e.field} ", f": {flag} ", 1)
    return text


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so every `with` block cleans up as on Ctrl-C."""


def on_sigterm(signum, frame) -> None:
    runtime = sys.modules.get("twoface.runtime")
    if runtime is not None:  # onnxruntime runs in other threads stop at their next operator
        runtime.terminate_runs()
    raise Terminated


def silence_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the interpreter's final flush of the
    buffered output cannot raise BrokenPipeError again at exit."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def comma_names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def ray_options(p) -> None:
    """`--ray [ADDRESS]` and the actor settings (twoface.cluster; the `cluster` extra)."""
    p.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="run the jobs on a Ray cluster: auto (RAY_ADDRESS or the running `ray start` "
        "cluster, else a Ray started here) or HOST:PORT; videos are cut into segments over "
        "the actors (needs twoface[cluster])",
    )
    p.add_argument(
        "--actors", type=int, metavar="N", help="Ray actors (default: one per GPU, else per CPU)"
    )
    p.add_argument(
        "--gpus-per-actor",
        type=float,
        metavar="F",
        help="GPUs per Ray actor; 0.5 puts two actors on one GPU (default 1 where there are GPUs)",
    )
    p.add_argument(
        "--cpus-per-actor", type=float, default=1.0, metavar="F", help="CPUs per Ray actor (1)"
    )


def ray_pool(args):
    """The Ray pool `--ray` asks for, or None."""
    if getattr(args, "ray", None) is None:
        return None
    from twoface.cluster import RayPool, RaySettings

    return RayPool(
        RaySettings(
            address=args.ray,
            actors=args.actors,
            gpus=args.gpus_per_actor,
            cpus=args.cpus_per_actor,
        )
    )
