"""Scaling over actors and GPUs: a batch of clips and one long clip through `twoface batch --ray`,
`twoface swap --ray` and `--devices`, against the codec bound of the same host measured in the
same run (one raw x264 process, and as many at once as the most actors).

    python benchmarks/random_store.py STORE --detector ../shared/models/scrfd_500m_bnkps.onnx
    python benchmarks/bench_scaling.py --store STORE --device cuda --half --size 1080p \\
        --clips 8 --seconds 10 --actors 1,2,4 --long-seconds 120 [--devices cuda:0,cuda:1] \\
        [--json out.json]

Each run is a fresh `twoface` process (Ray started and stopped by it: start-up counted, as a
user meets it); aggregate fps = frames written / wall seconds. `--gpus-per-actor` is the host's
GPUs over the actors, so 2 and 4 actors share one GPU on a one-GPU host. The swap is the
learned path (inswapper architecture, SCRFD-500M, keypoint-only landmarks, x264 ultrafast) on
the store's files: random weights, exact architectures (speed does not depend on values).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
SHARED = Path(os.environ.get("TWOFACE_SHARED", ROOT.parent / "shared"))


def _raw(args) -> float:
    from twoface import bench

    clip, out = args
    return bench.raw_codec_fps(Path(clip), Path(out))


def codec_bounds(clip: Path, work: Path, parallel: int) -> dict:
    """One raw decode+encode process, and `parallel` of them at once (aggregate fps)."""
    one = _raw((clip, work / "raw0.mp4"))
    t = time.perf_counter()
    with ProcessPoolExecutor(parallel) as pool:
        counts = list(pool.map(_raw, [(clip, work / f"raw{i + 1}.mp4") for i in range(parallel)]))
    wall = time.perf_counter() - t
    frames = _frames(clip)
    return {"one_process_fps": one, f"{parallel}_processes_fps": parallel * frames / wall,
            "per_process_fps": counts}  # fmt: skip


def _frames(clip: Path) -> int:
    from twoface.io.video import probe

    return probe(clip).frames


def _job(src: Path, clip: Path, out: Path, a: argparse.Namespace) -> dict:
    return {
        "kind": "video",
        "sources": [str(src)],
        "target": str(clip),
        "output": str(out),
        "models": {
            "swapper": a.swapper,
            "detector": a.detector,
            "landmarker": a.landmarker,
            "models_dir": str(a.store),
            "offline": True,
        },
        "runtime": {"runtime": "torch", "device": a.device, "half": a.half},
        "write": {"preset": "ultrafast", "label": False},
    }


def _run(argv: list[str]) -> float:
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "twoface", *argv], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        what = (done.stdout.strip() + "\n" + done.stderr.strip()).strip()
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}:\n{what}")
    return time.perf_counter() - t


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", type=Path, required=True, help="random_store.py's folder")
    p.add_argument("--source", type=Path, default=SHARED / "data" / "photos" / "obama.jpg")
    p.add_argument("--device", default="cuda")
    p.add_argument("--half", action="store_true")
    p.add_argument("--swapper", default="inswapper_128")
    p.add_argument("--detector", default="scrfd_500m_bnkps_dynamic")
    p.add_argument("--landmarker", default="none", help="none (keypoints: learned swappers)")
    p.add_argument("--size", default="1080p")
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10.0, help="each clip of the batch")
    p.add_argument("--long-seconds", type=float, default=0.0, help="one long clip too (0: none)")
    p.add_argument("--actors", default="1,2,4")
    p.add_argument("--gpus", type=int, default=None, help="GPUs on this host (default: torch's)")
    p.add_argument("--devices", default=None, help="also --devices over this list (long clip)")
    p.add_argument("--json", type=Path)
    a = p.parse_args()

    from twoface import bench
    from twoface.io.image import load_image

    actors = [int(x) for x in a.actors.split(",")]
    gpus = a.gpus
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count() if a.device.startswith("cuda") else 0
    face = load_image(a.source).rgb
    report: dict = {"size": a.size, "clips": a.clips, "seconds": a.seconds, "gpus": gpus}
    with tempfile.TemporaryDirectory(prefix="twoface-scaling-") as tmp:
        work = Path(tmp)
        frames = round(25 * a.seconds)
        clip = work / "clip.mp4"
        bench.synthetic_clip(clip, face, bench.SIZES[a.size], 1, frames)
        clips = []
        for i in range(a.clips):  # copies: each job reads its own file
            c = work / f"clip{i}.mp4"
            c.write_bytes(clip.read_bytes())
            clips.append(c)
        report["codec"] = codec_bounds(clip, work, max(actors))
        report["batch"] = {}
        for n in actors:
            out = work / f"out{n}"
            out.mkdir()
            manifest = work / f"jobs{n}.jsonl"
            manifest.write_text(
                "".join(json.dumps(_job(a.source, c, out / c.name, a)) + "\n" for c in clips)
            )
            argv = ["batch", str(manifest), "--ray", "--actors", str(n)]
            if gpus:
                argv += ["--gpus-per-actor", f"{gpus / n:g}"]
            wall = _run(argv)
            report["batch"][n] = {"wall_s": wall, "fps": a.clips * frames / wall}
            print(f"batch, {n} actor(s): {a.clips * frames / wall:.1f} fps ({wall:.1f} s)")
        if a.long_seconds:
            long = work / "long.mp4"
            bench.synthetic_clip(long, face, bench.SIZES[a.size], 1, round(25 * a.long_seconds))
            n_frames = _frames(long)
            common = ["swap", "-s", str(a.source), "-t", str(long), "--swapper", a.swapper]
            common += ["--detector", a.detector, "--models-dir", str(a.store), "--offline"]
            common += ["--landmarks", a.landmarker]
            common += ["--runtime", "torch", "--preset", "ultrafast", "--no-label"]
            common += ["--half"] if a.half else []
            report["long"] = {"frames": n_frames}
            runs = [("one process", ["--device", a.device])]
            for n in actors:
                extra = ["--ray", "--actors", str(n)]
                extra += ["--gpus-per-actor", f"{gpus / n:g}"] if gpus else []
                runs.append((f"ray {n} actor(s)", extra))
            if a.devices:
                runs.append((f"devices {a.devices}", ["--devices", a.devices]))
            for name, extra in runs:
                wall = _run([*common, "-o", str(work / "long_out.mp4"), *extra])
                report["long"][name] = {"wall_s": wall, "fps": n_frames / wall}
                print(f"long clip, {name}: {n_frames / wall:.1f} fps ({wall:.1f} s)")
    c = report["codec"]
    print(f"codec bound: one process {c['one_process_fps']:.1f} fps; "
          f"{max(actors)} at once {c[f'{max(actors)}_processes_fps']:.1f} fps")  # fmt: skip
    if a.json:
        a.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
