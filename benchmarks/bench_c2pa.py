"""What embedding the signed C2PA manifest adds to writing an output.

    python benchmarks/bench_c2pa.py [--repeat 5] [--video-mb 50]

Images: a 1920x1080 picture written by `write_image` with the XMP label alone, then with the
content credentials as well (the per-install key, already made): the difference is the signing
(a manifest built and signed, the file copied once with it embedded, synced, renamed). Video: an
MP4 of about --video-mb MB (random bytes in its frames, so it does not compress) sealed with
`seal`, which copies the file once; the figure is the time per file and the rate in MB/s. The
median of --repeat runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    from twoface.config import OutputConfig
    from twoface.io.credentials import credentials_for, seal
    from twoface.io.image import write_image
    from twoface.io.provenance import make_label

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--video-mb", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        target = work / "target.jpg"
        rgb = (np.random.default_rng(0).random((1080, 1920, 3)) * 255).astype(np.uint8)
        write_image(target, rgb)
        models = ("retinaface", "dlib68", "inswapper_128")
        plain = make_label("compositeWithTrainedAlgorithmicMedia")
        for ext in ("jpg", "png", "webp", "tif"):
            out = work / f"out.{ext}"
            creds = credentials_for(
                OutputConfig(), work / "store", output=out, models=models, parent=target
            )
            signed = make_label(plain.source_type, credentials=creds)
            write_image(out, rgb, label=signed)  # the C2PA library loaded once
            a = _median(lambda out=out: write_image(out, rgb, label=plain), args.repeat)
            b = _median(lambda out=out, s=signed: write_image(out, rgb, label=s), args.repeat)
            size = out.stat().st_size / 1e6
            print(
                f"{ext:5s} 1920x1080 ({size:.1f} MB): write {a * 1000:.0f} ms, with credentials "
                f"{b * 1000:.0f} ms (+{(b - a) * 1000:.0f} ms)"
            )
        video = _video(work / "clip.mp4", args.video_mb)
        size = video.stat().st_size / 1e6
        creds = credentials_for(
            OutputConfig(), work / "store", output=video, models=models, parent=video
        )
        label = make_label(plain.source_type, credentials=creds)
        copies = [work / f"v{i}.mp4" for i in range(args.repeat)]
        times = []
        for c in copies:
            c.write_bytes(video.read_bytes())
            t = time.perf_counter()
            seal(c, label, "mp4")
            times.append(time.perf_counter() - t)
            c.unlink()
        t = statistics.median(times)
        print(
            f"mp4   {size:.0f} MB: sealing {t * 1000:.0f} ms ({size / t:.0f} MB/s), the target's "
            "SHA-256 included (here the clip itself)"
        )


def _video(path: Path, megabytes: int) -> Path:
    """An MP4 of about `megabytes` MB: lossless H.264 of noise (it barely compresses)."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 640, 360, "yuv444p"
        s.options = {"qp": "0", "preset": "ultrafast"}
        rng = np.random.default_rng(0)
        i = written = 0
        while written < megabytes * 1e6 and i < 5000:
            frame = av.VideoFrame.from_ndarray(
                rng.integers(0, 256, (360, 640, 3), dtype=np.uint8), format="rgb24"
            )
            frame.pts = i
            for p in s.encode(frame):
                written += p.size
                c.mux(p)
            i += 1
        for p in s.encode(None):
            c.mux(p)
    return path


if __name__ == "__main__":
    main()
