"""The classical engine on the shared clips, frame by frame: landmark jitter (input against
output, twoface.track.jitter, on the largest face) and the fault measures of every swapped face
(twoface.quality: blotch, seam, colour), with the worst frames written out to look at.

    python benchmarks/bench_video_faults.py [--source photos/obama.jpg] [--worst DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

from twoface import Swapper
from twoface.quality import blotch, chroma_anomaly, skin_seam
from twoface.track import jitter

SHARED = Path(os.environ.get("TWOFACE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
CLIPS = {"dance.mp4": False, "hamilton_clip.mp4": True}  # clip: --many


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", default="photos/obama.jpg")
    parser.add_argument("--worst", help="write the 4 worst frames of each clip here (PNG)")
    parser.add_argument("--clips", nargs="*", default=list(CLIPS), help="of " + ", ".join(CLIPS))
    args = parser.parse_args()
    sw = Swapper(swapper="classical")
    for name, many in CLIPS.items():
        if name not in args.clips:
            continue
        clip = SHARED / "data" / "video" / name
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / name
            sw.swap_video(SHARED / "data" / args.source, clip, out, many=many, progress=False)
            before, after = frames(clip), frames(out)
        marks_in, marks_out, rows = [], [], []
        for i, (a, b) in enumerate(zip(before, after, strict=True)):
            faces = sw.analyse([a])[0]
            if not faces:
                continue
            big = max(faces, key=lambda f: f.area)
            found = sw.analyse([b])[0]
            if found:
                marks_in.append(big.landmarks)
                marks_out.append(
                    min(found, key=lambda f: float(np.linalg.norm(f.center - big.center))).landmarks
                )
            for f in faces if many else [big]:
                if f.area < 40 * 40:
                    continue
                rows.append(
                    (
                        i,
                        blotch(b, a, f.landmarks),
                        skin_seam(b, a, f.landmarks),
                        chroma_anomaly(b, a, f.landmarks),
                    )
                )
        j_in, j_out = jitter(marks_in), jitter(marks_out)
        arr = np.array([r[1:] for r in rows])
        print(
            f"{name}: jitter {j_in:.4f} -> {j_out:.4f} ({100 * (j_out / j_in - 1):+.1f}%); "
            f"{len(rows)} faces: blotch median {np.median(arr[:, 0]):.1f} max {arr[:, 0].max():.1f}, "
            f"seam median {np.median(arr[:, 1]):.1f} max {arr[:, 1].max():.1f}, "
            f"colour median {np.median(arr[:, 2]):.1f} max {arr[:, 2].max():.1f}"
        )
        worst = sorted(rows, key=lambda r: -(r[1] + r[2]))[:4]
        print(
            "  worst frames (frame, blotch, seam, colour):",
            [tuple(round(x, 1) for x in r) for r in worst],
        )
        if args.worst:
            Path(args.worst).mkdir(parents=True, exist_ok=True)
            tiles = [np.concatenate([before[r[0]], after[r[0]]], 1) for r in worst]
            cv2.imwrite(
                str(Path(args.worst) / f"worst_{Path(name).stem}.png"),
                cv2.cvtColor(np.concatenate(tiles, 0), cv2.COLOR_RGB2BGR),
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
