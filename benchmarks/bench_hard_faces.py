"""The classical engine on hard pairs: identity moved (dlib distance), chroma anomaly (95th
percentile of the Lab chroma shift inside the face after removing its median shift), time.
`python benchmarks/bench_hard_faces.py` (reads ../shared/data)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from twoface import Swapper
from twoface.io.image import read_image
from twoface.quality import chroma_anomaly

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PAIRS = [
    ("photos/obama.jpg", "photos/biden.jpg"),
    ("photos/biden.jpg", "photos/obama.jpg"),
    ("hard/roblowe2_frontal.jpg", "hard/frontal_neutral_man.jpg"),
    ("hard/rdj1_frontal_goatee.webp", "hard/roblowe2_frontal.jpg"),
    ("hard/frontal_neutral_man.jpg", "hard/roblowe2_frontal.jpg"),
    ("photos/elon_musk.jpg", "photos/mark.jpg"),
    ("photos/beckham.jpg", "photos/elon_musk.jpg"),
    ("hard/child_girl_gap_teeth.jpg", "hard/dark_skin_woman.jpg"),
    ("photos/obama.jpg", "hard/glasses_beard_mic_occlusion.png"),
    ("hard/old_man_glasses_cap.jpg", "photos/obama.jpg"),
]


def main() -> int:
    sw = Swapper()

    def face(img):
        return max(sw.analyse([img], identity=True)[0], key=lambda f: f.area)

    for s, t in PAIRS:
        src, tgt = read_image(DATA / s).rgb, read_image(DATA / t).rgb
        fs, ft = face(src), face(tgt)
        t0 = time.perf_counter()
        out = sw.swap_image(src, tgt).image
        seconds = time.perf_counter() - t0
        fo = face(out)
        d0 = np.linalg.norm(ft.embedding - fs.embedding)
        d1 = np.linalg.norm(fo.embedding - fs.embedding)
        print(
            f"{s:32} -> {t:38} distance {d0:.2f} -> {d1:.2f}  "
            f"chroma p95 {chroma_anomaly(out, tgt, ft.landmarks):5.1f}  {seconds:.2f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
