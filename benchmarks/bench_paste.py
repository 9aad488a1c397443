"""Alignment + paste-back alone: OpenCV on the CPU (the default) against twoface's PyTorch
stages on a device (`LearnedEngine(device=...)`), per frame, frames and crops included.

    python benchmarks/bench_paste.py --device cuda --size 1080p --faces 1 5

Synthetic frames with `--faces` faces of ~`--face` px, 128-px crops, batches of 8 frames.
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SIZES = {"720p": (720, 1280), "1080p": (1080, 1920), "4k": (2160, 3840)}


def _jobs(frames: int, faces: int, hw, face_px: int, rng):
    from twoface.geometry import fit_template
    from twoface.swap.base import SwapJob
    from twoface.types import Face

    h, w = hw
    jobs = []
    for i in range(frames):
        for k in range(faces):
            cx = (k + 0.5) * w / faces
            cy = h / 2 + rng.uniform(-0.1, 0.1) * h
            s = face_px / 112
            kps = (
                np.array([[38, 52], [74, 52], [56, 72], [42, 92], [70, 92]], np.float32) - 56
            ) * s
            kps += (cx, cy)
            face = Face(
                np.array([cx - 60 * s, cy - 60 * s, cx + 60 * s, cy + 60 * s], np.float32), 1.0, kps
            )
            jobs.append((SwapJob(i, face, None), fit_template(kps, "arcface", 128)))
    return jobs


def main() -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", default="1080p", choices=list(SIZES))
    ap.add_argument("--faces", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--face", type=int, default=300, help="face width in pixels")
    ap.add_argument("--batches", type=int, default=20)
    args = ap.parse_args()
    try:
        import cv2  # noqa: F401
    except ImportError:  # the CPU path needs OpenCV; without it only the device path runs
        sys.modules["cv2"] = types.ModuleType("cv2")

    from twoface.swap.compositor import PasteBack
    from twoface.swap.engine import align_jobs
    from twoface.swap.torch_paste import TorchStages

    rng = np.random.default_rng(0)
    hw = SIZES[args.size]
    frames = [rng.integers(0, 255, (*hw, 3), dtype=np.uint8) for _ in range(8)]
    stages = TorchStages(args.device)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"device: {name}; {args.size}; {args.face}-px faces; batches of 8 frames")
    for faces in args.faces:
        pairs = _jobs(8, faces, hw, args.face, rng)
        jobs = [j for j, _ in pairs]
        mats = [m for _, m in pairs]
        crops = rng.integers(0, 255, (len(jobs), 128, 128, 3), dtype=np.uint8)

        def cpu(jobs=jobs, crops=crops):
            _, aff = align_jobs(frames, jobs, 128, "arcface")
            PasteBack().composite(frames, jobs, crops, None, aff)

        def dev(jobs=jobs, crops=crops, mats=mats):
            on = stages.upload(frames, [j.frame_index for j in jobs])
            stages.align(on, jobs, mats, 128)
            stages.paste(frames, on, jobs, crops, None, mats)
            sync()

        for label, fn in (("opencv cpu", cpu), (f"torch {args.device}", dev)):
            fn()
            start = time.perf_counter()
            for _ in range(args.batches):
                fn()
            ms = (time.perf_counter() - start) / (args.batches * 8) * 1000
            print(f"{faces} face(s)  {label:<12} {ms:6.2f} ms/frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
