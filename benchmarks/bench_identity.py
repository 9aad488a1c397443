"""Does the classical engine move identity, and does it leave faults? Over pairs of the photos
of ../shared/data/photos and ../shared/data/more (each photo as source and as target), it prints
per pair and in summary: the dlib distance output -> source and output -> target (the same
person within 0.6), the colour anomaly (twoface.quality.chroma_anomaly), the blotch and seam
measures and whether anything visible changed.

    python benchmarks/bench_identity.py                 # the sample: each photo against 3 others
    python benchmarks/bench_identity.py --all           # every ordered pair (slow: ~1,200 swaps)
    python benchmarks/bench_identity.py --json out.json # per-pair figures as JSON too
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from twoface import Swapper
from twoface.io.image import read_image
from twoface.quality import blotch, chroma_anomaly, skin_seam, visible_change

SHARED = Path(os.environ.get("TWOFACE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
FOLDERS = ("photos", "more")
# Photos with no single main face to swap (a group's faces are all small and alike in size) or
# that are a test of the loader rather than of a face are still used: the largest face counts.
SKIP = {"32bit.png"}  # a copy of another photo in another pixel format
SAME = 0.6  # dlib's threshold: within it, the same person
SHIFTS = (1, 7, 13)  # the sample: photo i as target of photos i+1, i+7, i+13 (sorted list)


def photos() -> list[Path]:
    out = []
    for folder in FOLDERS:
        for p in sorted((SHARED / "data" / folder).iterdir()):
            if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp") and p.name not in SKIP:
                out.append(p)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--all", action="store_true", help="every ordered pair")
    parser.add_argument("--json", help="write the per-pair figures here")
    parser.add_argument("--limit", type=int, default=0, help="only the first N pairs")
    args = parser.parse_args()
    sw = Swapper(swapper="classical")
    paths = photos()
    images, faces = {}, {}
    for p in paths:
        img = read_image(p).rgb
        found = sw.analyse([img], identity=True)[0]
        if found:
            images[p], faces[p] = img, max(found, key=lambda f: f.area)
    usable = [p for p in paths if p in faces]
    n = len(usable)
    if args.all:
        pairs = [(s, t) for s in usable for t in usable if s != t]
    else:
        pairs = [(usable[(i + k) % n], usable[i]) for i in range(n) for k in SHIFTS]
    if args.limit:
        pairs = pairs[: args.limit]
    rows = []
    t0 = time.perf_counter()
    for s, t in pairs:
        fs, ft = faces[s], faces[t]
        try:
            result = sw.swap_image(images[s], images[t])
        except Exception as e:  # a figure per pair: note the failure, go on
            print(f"{s.name:42} -> {t.name:42} failed: {e}")
            continue
        out = result.image
        found = sw.analyse([out], identity=True)[0]
        row = {
            "source": f"{s.parent.name}/{s.name}",
            "target": f"{t.parent.name}/{t.name}",
            "target_source": float(np.linalg.norm(ft.embedding - fs.embedding)),
            "colour": chroma_anomaly(out, images[t], ft.landmarks),
            "blotch": blotch(out, images[t], ft.landmarks),
            "seam": skin_seam(out, images[t], ft.landmarks),
            "change": visible_change(out, images[t], ft.landmarks),
            "notes": list(getattr(result, "notes", []) or []),
        }
        if found:
            fo = min(found, key=lambda f: float(np.linalg.norm(f.center - ft.center)))
            row["out_source"] = float(np.linalg.norm(fo.embedding - fs.embedding))
            row["out_target"] = float(np.linalg.norm(fo.embedding - ft.embedding))
        rows.append(row)
        print(
            f"{row['source']:44} -> {row['target']:44} t-s {row['target_source']:.2f}  "
            f"o-s {row.get('out_source', float('nan')):.2f}  "
            f"o-t {row.get('out_target', float('nan')):.2f}  "
            f"colour {row['colour']:5.1f}  blotch {row['blotch']:5.1f}  seam {row['seam']:5.1f}  "
            f"change {row['change']:5.1f}",
            flush=True,
        )
    seconds = time.perf_counter() - t0
    scored = [r for r in rows if "out_source" in r]

    def med(key: str, among=rows) -> float:
        return statistics.median(r[key] for r in among) if among else float("nan")

    def mean(key: str, among=rows) -> float:
        return statistics.fmean(r[key] for r in among) if among else float("nan")

    print(f"\n{len(rows)} pairs ({len(scored)} with a face found in the output), {seconds:.0f} s")
    print(f"distance target -> source   mean {mean('target_source'):.3f}")
    print(f"distance output -> source   mean {mean('out_source', scored):.3f}")
    print(f"distance output -> target   mean {mean('out_target', scored):.3f}")
    as_target = sum(r["out_target"] < SAME for r in scored)
    as_source = sum(r["out_source"] < SAME for r in scored)
    closer = sum(r["out_source"] < r["out_target"] for r in scored)
    print(f"recognised as the target (< {SAME}): {as_target}/{len(scored)}")
    print(f"recognised as the source (< {SAME}): {as_source}/{len(scored)}")
    print(f"closer to the source than to the target: {closer}/{len(scored)}")
    for key in ("colour", "blotch", "seam"):
        values = [r[key] for r in rows]
        print(
            f"{key:7} median {med(key):5.2f}  p90 {np.percentile(values, 90):5.2f}  "
            f"max {max(values):5.2f}"
        )
    unchanged = [r for r in rows if r["change"] < 2.0]
    print(f"no visible change (< 2 levels): {len(unchanged)}/{len(rows)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
