"""Per-stage and total time of one image swap: a 1920x1080 frame with one face, on the CPU.

    taskset -c 0 python benchmarks/bench_image.py            # one core, as the target says
    python benchmarks/bench_image.py --repeat 10 --threads 2

Prints the median of each stage over --repeat runs (models loaded once, first run discarded).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

SHARED = Path(os.environ.get("TWOFACE_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def make_1080p(target: Path, out: Path) -> None:
    import cv2

    img = cv2.imread(str(target))
    scale = 1080 / img.shape[0]
    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    pad = 1920 - img.shape[1]
    canvas = cv2.copyMakeBorder(img, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_REFLECT)
    cv2.imwrite(str(out), canvas, [cv2.IMWRITE_JPEG_QUALITY, 95])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="OpenCV / onnxruntime threads")
    ap.add_argument("--source", default=str(SHARED / "data/photos/obama.jpg"))
    ap.add_argument("--target", default=str(SHARED / "data/photos/biden.jpg"))
    args = ap.parse_args()
    if not Path(args.source).is_file() or not Path(args.target).is_file():
        print(f"benchmark data not found under {SHARED}", file=sys.stderr)
        return 1
    import cv2

    cv2.setNumThreads(args.threads)
    from twoface import Swapper

    swapper = Swapper(detector_options={"threads": args.threads})
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "target_1080p.jpg"
        make_1080p(Path(args.target), target)
        runs = []
        for i in range(args.repeat + 1):
            r = swapper.swap_image(args.source, target, output=Path(tmp) / "out.jpg")
            if i:
                runs.append(r.timings)
    print(
        f"1920x1080 JPEG, 1 face, source {Path(args.source).name}; cores allowed: "
        f"{len(os.sched_getaffinity(0))}, threads {args.threads}; median of {args.repeat}"
    )
    for stage in runs[0]:
        print(f"  {stage:<10} {statistics.median(t[stage] for t in runs) * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
