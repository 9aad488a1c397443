"""The learned engine's stages alone, on one batch of 8 synthetic frames (the source face tiled
`faces` times, as `twoface bench` makes them), in ms per frame: align, latents, generate, masks,
paste back on the CPU, the whole engine with either paste, and detection. inswapper-128
architecture with random weights (fp16 on a GPU).
`python benchmarks/bench_swap_stages.py -s face.jpg [--size 1080p] [--faces 5] [--device cuda]
[--compile] [--models-dir DIR]` (detector: scrfd_500m_bnkps_dynamic from that store)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from twoface import bench
from twoface.api import Swapper
from twoface.config import Config, ModelsConfig, RuntimeConfig
from twoface.io.image import load_image
from twoface.swap.base import SourceIdentity, SwapJob
from twoface.swap.engine import align_jobs


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-s", "--source", required=True)
    parser.add_argument("--size", default="1080p", choices=list(bench.SIZES))
    parser.add_argument("--faces", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--models-dir", default=None)
    args = parser.parse_args()
    import av
    import torch

    cuda = args.device.startswith("cuda")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        bench.synthetic_clip(
            clip, load_image(args.source).rgb, bench.SIZES[args.size], args.faces, 8
        )
        with av.open(str(clip)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    runtime = RuntimeConfig("torch", args.device, cuda)
    models = ModelsConfig(
        detector="scrfd_500m_bnkps_dynamic",
        landmarker="none",
        swapper="classical",
        models_dir=args.models_dir,
    )
    sw = Swapper(Config(models, runtime))
    engine = bench.random_engine("inswapper_128", args.device, cuda, compile=args.compile)
    source = SourceIdentity.combine(sw.source_faces([args.source], identity=False))
    jobs = [SwapJob(i, f, source) for i, fs in enumerate(sw.analyse(frames)) for f in fs]
    repeats = 20 if cuda else 3

    def timed(name: str, fn):
        fn()
        sync()
        t = time.perf_counter()
        for _ in range(repeats):
            out = fn()
        sync()
        print(f"{name:28} {(time.perf_counter() - t) / repeats * 1000 / len(frames):7.2f} ms/frame")
        return out

    print(f"{args.size}, {len(jobs)} faces in {len(frames)} frames, {args.device}")
    g, spec = engine.generator, engine.generator.spec
    crops, affines = timed("align", lambda: align_jobs(frames, jobs, spec.size, spec.template))
    latents = timed("latents", lambda: g.latents([j.source for j in jobs]))
    made = timed("generate", lambda: g.generate(crops, latents))
    masks = timed("masks", lambda: engine._masks(crops, jobs, affines, made))
    timed(
        "paste back (CPU)", lambda: engine.compositor.composite(frames, jobs, made, masks, affines)
    )
    timed("engine, CPU paste", lambda: engine.swap(frames, jobs))
    from twoface.swap.torch_paste import TorchStages

    engine._torch, engine.device = TorchStages(args.device), args.device
    timed("engine, device paste", lambda: engine.swap(frames, jobs))
    timed("detect", lambda: sw.detector.detect(frames))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
