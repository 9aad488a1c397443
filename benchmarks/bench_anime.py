"""End-to-end speed of the anime detectors and landmarker (pre-processing, network, decoding).

    python benchmarks/bench_anime.py                 # this CPU
    python benchmarks/bench_anime.py --device cuda   # a GPU (the cascade always runs on the CPU)

The cascade runs the real file on ../shared/data/anime/anime_group.jpg (faces/s = faces found per
second). The PyTorch ports run checkpoints of the exact architectures with random weights (speed
does not depend on weight values): images/s at 608 (YOLOv3) and 1333x800 (Faster R-CNN) per
batch, and faces/s of HRNetV2 landmarks (flip test on) for batches of face boxes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
SHARED = Path(os.environ.get("TWOFACE_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def rate(fn, items: int, seconds: float = 2.0) -> float:
    fn()  # warm-up
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or n < 2:
        fn()
        n += 1
    return items * n / (time.perf_counter() - start)


def main() -> int:
    import numpy as np
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--cascade", default=str(SHARED / "models/lbpcascade_animeface.xml"))
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    name = (
        torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU x{os.cpu_count()}"
    )
    print(f"device: {name}")
    rng = np.random.default_rng(0)
    image = SHARED / "data/anime/anime_group.jpg"
    if Path(args.cascade).is_file() and image.is_file() and args.device == "cpu":
        from twoface.anime.cascade import CascadeAnimeDetector
        from twoface.io.image import read_image

        grid = read_image(image).rgb
        det = CascadeAnimeDetector(args.cascade)
        n = len(det.detect([grid])[0])
        r = rate(lambda: det.detect([grid]), 1, 3.0)
        print(
            f"anime_lbpcascade  3072x3072 grid: {n} faces, {r:.2f} images/s = {r * n:.1f} faces/s"
        )

    from twoface.anime.faster_rcnn import AnimeFasterRCNN, FasterRcnnAnimeDetector
    from twoface.anime.hrnet import AnimeHRNet, AnimeLandmarker
    from twoface.anime.yolov3 import AnimeYOLOv3, YoloAnimeDetector
    from twoface.types import Face

    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for key, net in (
            ("yolo", AnimeYOLOv3()),
            ("frcnn", AnimeFasterRCNN()),
            ("hrnet", AnimeHRNet()),
        ):
            paths[key] = Path(tmp) / f"{key}.pth"
            torch.save(net.state_dict(), paths[key])
        yolo = YoloAnimeDetector(paths["yolo"], device=args.device)
        frcnn = FasterRcnnAnimeDetector(paths["frcnn"], device=args.device)
        hrnet = AnimeLandmarker(paths["hrnet"], device=args.device)

        def sync():
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()

        for b in args.batches:
            imgs = [rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8) for _ in range(b)]
            r = rate(lambda imgs=imgs: (yolo.detect(imgs), sync()), b)
            print(f"anime_yolov3      batch {b:>3}: {r:7.1f} images/s (1280x720 -> 608)")
            r = rate(lambda imgs=imgs: (frcnn.detect(imgs), sync()), b)
            print(f"anime_faster_rcnn batch {b:>3}: {r:7.1f} images/s (1280x720 -> 1333x750)")
        frame = rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
        for b in (1, 16, 64):
            faces = [
                Face(
                    box=np.array([100 + 20 * i, 100, 300 + 20 * i, 320], np.float32),
                    score=1,
                    kps=None,
                )
                for i in range(b)
            ]
            r = rate(lambda faces=faces: (hrnet([frame], [faces]), sync()), b)
            print(f"anime_hrnetv2     {b:>3} faces: {r:7.1f} faces/s (flip test)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
