"""Grids to look at: the classical engine over photos of ../shared/data, each row source | target
| result (cropped round the target's largest face), labelled with the fault measures
(twoface.quality: colour, blotch, seam) and the notes.

    python benchmarks/grid_classical.py --targets hard -s photos/obama.jpg more/codeformer_gray_faces_Hepburn02.png -o grid.png
    python benchmarks/grid_classical.py --sources hard --targets photos/biden.jpg -o as_sources.png

--targets / --sources take folders (hard, more, photos) or files under ../shared/data;
--every N keeps every Nth pair (a sample of a cross product)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np

from twoface import Swapper
from twoface.io.image import read_image
from twoface.quality import blotch, chroma_anomaly, skin_seam

SHARED = Path(os.environ.get("TWOFACE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DATA = SHARED / "data"
TILE = 224


def crop(image: np.ndarray, box, tile: int = TILE) -> np.ndarray:
    """A square `tile` round `box` (1.5x its larger side), clipped to the image."""
    x0, y0, x1, y1 = box
    s = max(x1 - x0, y1 - y0) * 1.5
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    h, w = image.shape[:2]
    a, b = int(max(cx - s / 2, 0)), int(max(cy - s / 2, 0))
    c, d = int(min(cx + s / 2, w)), int(min(cy + s / 2, h))
    return cv2.resize(image[b:d, a:c], (tile, tile), interpolation=cv2.INTER_AREA)


def paths(names: list[str]) -> list[Path]:
    out = []
    for n in names:
        p = DATA / n
        if p.is_dir():
            out += sorted(
                q for q in p.iterdir() if q.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp")
            )
        else:
            out.append(p)
    return [p for p in out if p.name != "32bit.png"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-s", "--sources", nargs="+", default=["photos/obama.jpg"])
    parser.add_argument("-t", "--targets", nargs="+", default=["hard"])
    parser.add_argument("-o", "--output", default="/tmp/classical_grid.png")
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--offset", type=int, default=0)
    args = parser.parse_args()
    sw = Swapper(swapper="classical")
    sources, targets = paths(args.sources), paths(args.targets)
    pairs = [(s, t) for t in targets for s in sources if s != t]
    pairs = pairs[args.offset :: args.every]
    cache: dict[Path, tuple] = {}

    def load(p: Path):
        if p not in cache:
            img = read_image(p).rgb
            faces = sw.analyse([img])[0]
            cache[p] = (img, max(faces, key=lambda f: f.area) if faces else None)
        return cache[p]

    rows = []
    for s, t in pairs:
        src, fs = load(s)
        tgt, ft = load(t)
        if fs is None or ft is None:
            print(f"{s.name} -> {t.name}: no face")
            continue
        try:
            result = sw.swap_image(src, tgt)
            out, notes = result.image, list(result.notes)
        except Exception as e:  # a grid to look at: note the failure, go on
            print(f"{s.name} -> {t.name}: {e}")
            out, notes = np.zeros_like(tgt), [str(e)]
        figures = (
            f"c{chroma_anomaly(out, tgt, ft.landmarks):.0f} "
            f"b{blotch(out, tgt, ft.landmarks):.0f} s{skin_seam(out, tgt, ft.landmarks):.0f}"
        )
        row = np.concatenate([crop(src, fs.box), crop(tgt, ft.box), crop(out, ft.box)], 1)
        label = f"{s.stem[:16]} > {t.stem[:16]}"
        cv2.putText(row, label, (4, 14), 0, 0.42, (255, 255, 0), 1, cv2.LINE_AA)
        cv2.putText(row, figures, (2 * TILE + 4, 14), 0, 0.42, (255, 255, 0), 1, cv2.LINE_AA)
        if any("no visible" in n or "softer" in n for n in notes):
            cv2.putText(row, notes[-1][:40], (2 * TILE + 4, TILE - 6), 0, 0.35, (255, 80, 80))
        rows.append(row)
        print(f"{s.name:44} -> {t.name:44} {figures}", flush=True)
    if not rows:
        return 1
    grid = np.concatenate(rows, 0)
    cv2.imwrite(args.output, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f"{len(rows)} rows -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
