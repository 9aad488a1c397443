"""Video throughput and memory on this machine's CPU.

    python benchmarks/bench_video.py                      # shared clips + synthetic 1080p
    python benchmarks/bench_video.py --memory-minutes 10  # also a 10-minute clip, RSS growth

For each clip: fps of decode+encode alone (no face work) and of the full swap pipeline (one
face, default settings: H.264 CRF 18 preset medium unless --preset), and the resident memory
growth during the swap (peak RSS minus RSS once the pipeline is warm).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SHARED = Path(os.environ.get("TWOFACE_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """Peak RSS every 50 ms, and the RSS after `warm_frames` frames went through."""

    def __init__(self, warm_frames: int = 100) -> None:
        self.peak = self.warm = 0.0
        self.warm_frames = warm_frames
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mb())

    def on_frame(self, n: int) -> None:
        if n == self.warm_frames:
            self.warm = rss_mb()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def synthetic_clip(path: Path, photo: Path, width: int, height: int, seconds: float, fps: int):
    """A face photo filling the frame height, drifting slowly sideways (so frames differ)."""
    import av
    import cv2

    img = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    scale = height / img.shape[0]
    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    pad = max(0, width - img.shape[1])
    canvas = cv2.copyMakeBorder(img, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_REFLECT)
    canvas = np.ascontiguousarray(canvas[:, :width])
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "20"}
        for i in range(int(seconds * fps)):
            shift = int(20 * np.sin(i / fps))
            frame = av.VideoFrame.from_ndarray(np.roll(canvas, shift, axis=1), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def transcode_fps(clip: Path, out: Path, preset: str) -> tuple[int, float]:
    """Decode and re-encode every frame (audio copied) with the pipeline's own reader/writer."""
    from twoface.io.video import VideoWriter, probe, read_video

    info = probe(clip)
    t = time.perf_counter()
    writer = VideoWriter(out, clip, info, None, preset=preset)
    n = 0
    for kind, payload, meta in read_video(clip, info):
        if kind == "video":
            writer.write_frame(payload, *meta)
            n += 1
        else:
            writer.write_audio(payload, meta)
    writer.close()
    return n, n / (time.perf_counter() - t)


def swap_fps(swapper, source: Path, clip: Path, out: Path, preset: str):
    sampler = RssSampler()
    from twoface.config import OutputConfig
    from twoface.io.video import probe
    from twoface.video_pipeline import run_video

    info = probe(clip)
    selection, identities = swapper._selection_and_sources([source], False, None, None)
    with sampler:
        t = time.perf_counter()
        result = run_video(
            swapper.stages(),
            identities,
            selection,
            str(clip),
            info,
            str(out),
            None,
            OutputConfig(crf=18, preset=preset),
            progress=False,
            on_frame=sampler.on_frame,
        )
        seconds = time.perf_counter() - t
    growth = sampler.peak - sampler.warm if sampler.warm else float("nan")
    return result, result.frames / seconds, growth


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=str(SHARED / "data/photos/obama.jpg"))
    ap.add_argument("--seconds-1080p", type=float, default=6.0)
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--memory-minutes", type=float, default=0.0)
    ap.add_argument("--memory-size", default="640x360")
    args = ap.parse_args()
    source = Path(args.source)
    if not source.is_file():
        print(f"benchmark data not found under {SHARED}", file=sys.stderr)
        return 1
    from twoface import Swapper

    swapper = Swapper()
    print(f"cpu cores: {os.cpu_count()}  preset: {args.preset}")
    print(f"{'clip':<28}{'frames':>8}{'transcode fps':>15}{'swap fps':>10}{'RSS growth MB':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = [SHARED / "data/video/hamilton_clip.mp4", SHARED / "data/video/dance.mp4"]
        clips = [c for c in clips if c.is_file()]
        hd = tmp / "synthetic_1080p.mp4"
        synthetic_clip(hd, SHARED / "data/photos/biden.jpg", 1920, 1080, args.seconds_1080p, 30)
        clips.append(hd)
        if args.memory_minutes > 0:
            w, h = (int(x) for x in args.memory_size.split("x"))
            long = tmp / f"synthetic_{args.memory_minutes:g}min_{w}x{h}.mp4"
            synthetic_clip(
                long, SHARED / "data/photos/biden.jpg", w, h, args.memory_minutes * 60, 25
            )
            clips.append(long)
        for clip in clips:
            n, tfps = transcode_fps(clip, tmp / "t.mp4", args.preset)
            result, sfps, growth = swap_fps(swapper, source, clip, tmp / "s.mp4", args.preset)
            print(f"{clip.name:<28}{n:>8}{tfps:>15.1f}{sfps:>10.1f}{growth:>15.0f}", flush=True)
            stages = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
            print(f"{'':<28}swap stages (main thread): {stages}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
