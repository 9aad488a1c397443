"""`twoface dataset build` and `twoface train`: face datasets and your own swapper."""

from __future__ import annotations

import argparse

from twoface.cli.common import (
    EXIT_OK,
    check_device,
    store_options,
)
from twoface.errors import UsageError


def add_parser(sub) -> None:
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
    store_options(db)

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
    store_options(t)


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
    # Building a dataset never swaps: the classical engine, so no swapper file is loaded.
    models = ModelsConfig(
        encoder=args.encoder,
        swapper="classical",
        models_dir=args.models_dir,
        offline=args.offline,
    )
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
        check_device(args.device)
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


run = {"dataset": _dataset, "train": _train}
