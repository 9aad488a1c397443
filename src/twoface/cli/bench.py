"""`twoface bench`: video swap speed against the codec bound."""

from __future__ import annotations

import json

from twoface.cli.common import (
    EXIT_OK,
    check_device,
    output_options,
    store_options,
)


def add_parser(sub) -> None:
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
    b.add_argument(
        "--preset", default="ultrafast", help="x264 preset of every encode measured (ultrafast)"
    )
    output_options(b, ("encoders",))
    b.add_argument("--json", action="store_true", help="print JSON")
    store_options(b)


def _bench(args) -> int:
    from twoface import bench

    if args.device != "cpu":
        check_device(args.device)
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
        preset=args.preset,
        encoders=0 if args.encoders is None else args.encoders,  # not given: auto
    )
    print(json.dumps(report, indent=2) if args.json else bench.table(report))
    return EXIT_OK


run = _bench
