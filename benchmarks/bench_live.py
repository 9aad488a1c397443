"""Live figures through `twoface live` itself (no window): a synthetic camera -- a clip played at
its own frame rate -- at each size, face count and camera rate, the figures `twoface live
--json` prints (shown fps, dropped frames, latency capture -> shown, ms per stage).

    python benchmarks/random_store.py STORE --detector ../shared/models/scrfd_500m_bnkps.onnx
    python benchmarks/bench_live.py --store STORE --device cuda --half \\
        [--rows 720p:1:120,720p:1:300,1080p:1:300,1080p:5:120] [--seconds 11] [--json out.json]

A row SIZE:FACES:RATE is a clip of FACES copies of the source face at RATE frames a second. A
rate the swap keeps up with measures drops and latency as a user sees them; a rate above what it
can swap ("capacity") measures frames shown a second when frames come as fast as they can be
taken (the rest are dropped, as a camera's would be). Each row is a fresh `twoface live`
process (model loading not timed: the figures start with the first frame). Without --store the
swapper is the classical engine (the CPU default).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
SHARED = Path(os.environ.get("TWOFACE_SHARED", ROOT.parent / "shared"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", type=Path, help="random_store.py's folder (learned path)")
    p.add_argument("--source", type=Path, default=SHARED / "data" / "photos" / "obama.jpg")
    p.add_argument("--device", default="cuda")
    p.add_argument("--half", action="store_true")
    p.add_argument("--swapper", default="inswapper_128")
    p.add_argument("--detector", default="scrfd_500m_bnkps_dynamic")
    p.add_argument("--rows", default="720p:1:120,720p:1:300,1080p:1:300,1080p:5:120")
    p.add_argument("--seconds", type=float, default=11.0, help="each live run")
    p.add_argument("--json", type=Path)
    a = p.parse_args()

    from twoface import bench
    from twoface.io.image import load_image

    face = load_image(a.source).rgb
    if a.store:
        model = ["--swapper", a.swapper, "--detector", a.detector, "--landmarks", "none"]
        model += ["--runtime", "torch", "--device", a.device, "--models-dir", str(a.store)]
        model += ["--offline"] + (["--half"] if a.half else [])
    else:
        model = ["--swapper", "classical"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="twoface-live-") as tmp:
        for spec in a.rows.split(","):
            size, faces, rate = spec.split(":")
            clip = Path(tmp) / f"{size}_{faces}_{rate}.mp4"
            frames = round(int(rate) * (a.seconds + 1.5))  # the load's lead-in, then the run
            bench.synthetic_clip(clip, face, bench.SIZES[size], int(faces), frames, int(rate))
            argv = [sys.executable, "-m", "twoface", "live", "-s", str(a.source)]
            argv += ["--camera", str(clip), "--seconds", f"{a.seconds:g}", "--json", *model]
            argv += ["--many"] if int(faces) > 1 else []
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{spec}: exit {done.returncode}: {done.stderr.strip()[-2000:]}")
            fig = json.loads(done.stdout)
            fig.update(size=size, faces=int(faces), camera_fps=int(rate))
            rows.append(fig)
            st = fig["stage_ms"]
            print(
                f"{size}, {faces} face(s), camera {rate} fps: {fig['fps']:.1f} fps shown, "
                f"{fig['frames_in']} in, {fig['dropped']} dropped, latency p50 "
                f"{fig['latency_ms_p50']} / p95 {fig['latency_ms_p95']} ms, "
                f"{fig['faces_swapped'] / max(fig['frames_out'], 1):.2f} faces/frame; ms/frame "
                + ", ".join(f"{k} {v}" for k, v in st.items()),
                flush=True,
            )
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
