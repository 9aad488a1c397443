"""Decode and encode, raw PyAV against twoface's reader and writer, split: where does the codec
path lose time? `python benchmarks/bench_codec.py [--size 1080p] [--frames 150] [--hwaccel cuda]`.
--hwaccel also times PyAV's hardware decoding (NVDEC on an NVIDIA GPU), frames to rgb24 arrays."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from twoface.bench import SIZES, synthetic_clip
from twoface.io.video import VideoWriter, probe, read_video


def rate(fn) -> float:
    t = time.perf_counter()
    n = fn()
    return n / (time.perf_counter() - t)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1080p", choices=list(SIZES))
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--hwaccel", help="also decode with this PyAV hwaccel device type (cuda)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        face = np.full((256, 256, 3), 180, np.uint8)
        synthetic_clip(clip, face, SIZES[args.size], 1, args.frames)
        info = probe(clip)
        frames = []

        def raw_decode(**options):
            frames.clear()
            with av.open(str(clip), **options) as c:
                v = c.streams.video[0]
                v.thread_type = "AUTO"
                for f in c.decode(v):
                    frames.append(f.to_ndarray(format="rgb24"))
            return len(frames)

        def own_decode():
            return sum(1 for kind, _, _ in read_video(clip, info) if kind == "video")

        def raw_encode():
            with av.open(str(Path(tmp) / "r.mp4"), "w") as d:
                s = d.add_stream("libx264", rate=25)
                s.width, s.height, s.pix_fmt = info.width, info.height, "yuv420p"
                s.options = {"preset": "ultrafast", "crf": "18"}
                s.codec_context.thread_type = "FRAME"
                for f in frames:
                    for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                        d.mux(p)
                for p in s.encode(None):
                    d.mux(p)
            return len(frames)

        def own_encode():
            w = VideoWriter(Path(tmp) / "w.mp4", clip, info, None, preset="ultrafast")
            for i, f in enumerate(frames):
                w.write_frame(f, i * 512, info.time_base)
            w.close()
            return len(frames)

        print(f"{args.size}, {args.frames} frames")
        print(f"decode: raw PyAV {rate(raw_decode):7.1f} fps, twoface {rate(own_decode):7.1f} fps")
        print(f"encode: raw PyAV {rate(raw_encode):7.1f} fps, twoface {rate(own_encode):7.1f} fps")
        if args.hwaccel:
            from av.codec.hwaccel import HWAccel

            accel = HWAccel(args.hwaccel, allow_software_fallback=False)
            fps = rate(lambda: raw_decode(hwaccel=accel))
            print(f"decode: PyAV with hwaccel {args.hwaccel} {fps:7.1f} fps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
