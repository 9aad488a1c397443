"""A grid to look at: every photo of ../shared/data/hard as the target, swapped with the offline
default from two sources; each row is target | swap from source 1 | swap from source 2, cropped
round the target's largest face.
`python benchmarks/grid_hard_faces.py [-o grid.png] [--sources A B] [--only NAME...]`"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from grid_classical import crop  # the same crop round a face (this folder is on sys.path)

from twoface import Swapper
from twoface.io.image import read_image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TILE = 256


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-o", "--output", default="/tmp/hard_grid.png")
    parser.add_argument(
        "--sources", nargs=2, default=["photos/obama.jpg", "hard/roblowe2_frontal.jpg"]
    )
    parser.add_argument("--only", nargs="*", help="target file names (default: all)")
    args = parser.parse_args()
    sw = Swapper()
    sources = [read_image(DATA / s).rgb for s in args.sources]
    rows = []
    for path in sorted((DATA / "hard").iterdir()):
        if path.suffix.lower() not in (".jpg", ".png", ".webp") or (
            args.only and path.name not in args.only
        ):
            continue
        tgt = read_image(path).rgb
        faces = sw.analyse([tgt])[0]
        if not faces:
            print(f"{path.name}: no face")
            continue
        box = max(faces, key=lambda f: f.area).box
        tiles = [crop(tgt, box, TILE)]
        for src in sources:
            try:
                tiles.append(crop(sw.swap_image(src, tgt).image, box, TILE))
            except Exception as e:  # a grid to look at: note the failure, go on
                print(f"{path.name}: {e}")
                tiles.append(np.zeros((TILE, TILE, 3), np.uint8))
        row = np.concatenate(tiles, 1)
        cv2.putText(row, path.stem[:28], (4, 16), 0, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
        rows.append(row)
    grid = np.concatenate(rows, 0)
    cv2.imwrite(args.output, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f"{len(rows)} rows -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
