"""GPU memory over a long video: a synthetic clip of `--minutes` (720p, one face), swapped with
the inswapper architecture (random weights, fp16) on CUDA; allocated and reserved memory sampled
every `--every` frames. `python benchmarks/bench_gpu_memory.py --minutes 10 --face FACE.jpg
--models-dir DIR` (DIR holding scrfd_500m_bnkps_dynamic)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from twoface import bench
from twoface.api import Swapper
from twoface.config import Config, ModelsConfig, OutputConfig, RuntimeConfig
from twoface.io.image import load_image


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--face", required=True)
    ap.add_argument("--models-dir", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--every", type=int, default=1500)
    args = ap.parse_args()
    frames = int(args.minutes * 60 * 25)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "long.mp4"
        t = time.perf_counter()
        bench.synthetic_clip(clip, load_image(args.face).rgb, bench.SIZES["720p"], 1, frames)
        print(f"clip: {frames} frames in {time.perf_counter() - t:.0f} s", flush=True)
        models = ModelsConfig(
            detector="scrfd_500m_bnkps_dynamic", landmarker="none", models_dir=args.models_dir
        )
        sw = Swapper(Config(models, RuntimeConfig("torch", "cuda", half=True)))
        sw.engine = bench.random_engine("inswapper_128", "cuda", True)
        samples = []

        def sample(stage, done, total):
            if done % args.every == 0 or done == total:
                samples.append(
                    (
                        done,
                        torch.cuda.memory_allocated() / 2**20,
                        torch.cuda.memory_reserved() / 2**20,
                    )
                )

        t = time.perf_counter()
        result = sw.swap_video(
            args.face,
            clip,
            Path(tmp) / "out.mp4",
            progress=sample,
            track_identity=False,
            options=OutputConfig(preset="ultrafast", label=False),
        )
        seconds = time.perf_counter() - t
        print(
            f"swapped {result.frames} frames in {seconds:.0f} s ({result.frames / seconds:.1f} fps)"
        )
        for done, alloc, reserved in samples:
            print(f"  frame {done:6d}: allocated {alloc:7.1f} MB, reserved {reserved:7.1f} MB")
        print(f"peak allocated {torch.cuda.max_memory_allocated() / 2**20:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
