"""Face datasets for training: `twoface dataset build INPUTS... -o DATA`.

Photos, folders and videos go in; every face is detected, aligned to a template (ArcFace's at
128/256, FFHQ's at 512 ...), filtered (size, blur, pose, near-duplicates) and stored in shards:

    DATA/index.json            what is where (format, size, template, counts, shards, encoder)
    DATA/faces-00000.npy       (n, S, S, 3) uint8 RGB crops of shard 0
    DATA/meta-00000.npz        per face: identity embedding, 5 keypoints in the crop, identity
                               group, origin (file index), frame number

Faces are read by memory-mapping the shards (`FaceDataset`), so a loader streams them without
reading the whole set. Faces of one person share an identity group: the faces of one tracked
person in a video, and across files every face whose descriptor is within the encoder's
same-person distance of a group's first face.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from twoface.errors import InputError, UsageError

FORMAT = "twoface-faces/1"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}


@dataclass(frozen=True)
class BuildOptions:
    size: int = 128
    template: str = "arcface"
    min_face: int = 64  # smallest face box side in the source pixels
    min_sharpness: float = 20.0  # variance of the Laplacian of the grey crop
    max_yaw: float = 0.6  # |nose offset| / half the eye distance: 0 frontal, ~1 profile
    duplicate: float = 0.08  # descriptors closer than this to a kept face of its group: dropped
    every: int = 5  # video: one frame in `every`
    shard_size: int = 1024

    def __post_init__(self) -> None:
        from twoface.geometry import TEMPLATES

        if self.template not in TEMPLATES:
            raise UsageError(
                f"unknown template {self.template!r}; choose from {', '.join(TEMPLATES)}",
                "template",
            )
        if not 32 <= self.size <= 1024:
            raise UsageError(f"crop size {self.size}: choose 32 to 1024 (128, 256, 512)", "size")
        if self.every < 1 or self.shard_size < 1:
            raise UsageError("--every and the shard size must be at least 1")


@dataclass
class BuildReport:
    files: int = 0
    frames: int = 0
    faces_seen: int = 0
    kept: int = 0
    dropped: dict = field(
        default_factory=lambda: {"small": 0, "blurry": 0, "pose": 0, "duplicate": 0}
    )
    identities: int = 0

    def line(self) -> str:
        why = ", ".join(f"{v} {k}" for k, v in self.dropped.items() if v)
        return (
            f"{self.kept} faces of {self.identities} people kept from {self.files} file(s), "
            f"{self.frames} frame(s), {self.faces_seen} faces seen"
            + (f"; dropped {why}" if why else "")
        )


def yaw_ratio(kps: np.ndarray) -> float:
    """How far the nose sits from the eyes' midline, over half the eye distance (0 frontal)."""
    eyes = (kps[0] + kps[1]) / 2
    half = max(np.linalg.norm(kps[1] - kps[0]) / 2, 1e-6)
    return float(abs(kps[2][0] - eyes[0]) / half)


def sharpness(crop: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def expand_inputs(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Files named, and the images and videos inside folders named (sorted, recursively)."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out += sorted(
                f
                for f in p.rglob("*")
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
            )
        elif p.is_file():
            out.append(p)
        else:
            raise InputError(f"{p}: no such file or folder")
    if not out:
        raise InputError("no images or videos among the inputs")
    return out


def _frames(path: Path, every: int) -> Iterator[tuple[int, np.ndarray]]:
    """(frame number, upright RGB) of a photo, or of every `every`-th frame of a video."""
    from twoface.io.image import load_image

    if path.suffix.lower() not in VIDEO_SUFFIXES:
        yield 0, load_image(path).rgb
        return
    from twoface.io.video import probe, read_video

    pictures = (packet.frame for packet in read_video(path, probe(path), drop_audio=True))
    for i, rgb in enumerate(pictures):
        if i % every == 0:
            yield i, rgb


class _ShardWriter:
    FIELDS = ("crop", "embedding", "kps", "group", "origin", "frame")

    def __init__(self, out: Path, size: int, shard_size: int) -> None:
        self.out, self.size, self.shard_size = out, size, shard_size
        self.shards: list[dict] = []
        self.rows: dict[str, list] = {f: [] for f in self.FIELDS}

    def add(self, **row) -> None:
        for name in self.FIELDS:
            self.rows[name].append(row[name])
        if len(self.rows["crop"]) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        rows = self.rows
        if not rows["crop"]:
            return
        k = len(self.shards)
        faces, meta = f"faces-{k:05d}.npy", f"meta-{k:05d}.npz"
        np.save(self.out / faces, np.stack(rows["crop"]).astype(np.uint8))
        np.savez(
            self.out / meta,
            embedding=np.stack(rows["embedding"]).astype(np.float32),
            kps=np.stack(rows["kps"]).astype(np.float32),
            group=np.array(rows["group"], np.int64),
            origin=np.array(rows["origin"], np.int64),
            frame=np.array(rows["frame"], np.int64),
        )
        self.shards.append({"faces": faces, "meta": meta, "count": len(rows["crop"])})
        self.rows = {f: [] for f in self.FIELDS}


def build_dataset(
    swapper,
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    options: BuildOptions | None = None,
    progress=None,
) -> BuildReport:
    """Detect, align, filter and store the faces of `inputs` in the folder `out` (created; an
    existing dataset there is an error). `swapper`: a twoface.Swapper (its detector, landmarker
    and identity encoder are used)."""
    from twoface.geometry import apply_affine
    from twoface.identity.arcface import align

    options = options or BuildOptions()
    files = expand_inputs(inputs)
    out = Path(out)
    if (out / "index.json").exists():
        raise UsageError(f"{out}: already holds a dataset; choose another folder", "output")
    out.mkdir(parents=True, exist_ok=True)
    encoder = swapper.encoder
    writer = _ShardWriter(out, options.size, options.shard_size)
    report = BuildReport(files=len(files))
    groups: list[np.ndarray] = []  # first descriptor of each identity group
    kept_by_group: dict[int, list[np.ndarray]] = {}
    for origin, path in enumerate(files):
        for frame_no, frame in _frames(path, options.every):
            report.frames += 1
            faces = swapper.analyse([frame], identity=True)[0]
            for face in faces:
                report.faces_seen += 1
                if min(face.width, face.height) < options.min_face:
                    report.dropped["small"] += 1
                    continue
                if yaw_ratio(face.kps) > options.max_yaw:
                    report.dropped["pose"] += 1
                    continue
                crop, m = align(frame, face.kps, options.size, options.template)
                if sharpness(crop) < options.min_sharpness:
                    report.dropped["blurry"] += 1
                    continue
                emb = np.asarray(face.embedding, np.float32)
                group = _group_of(emb, groups, encoder)
                if any(
                    encoder.distance(emb, e) < options.duplicate
                    for e in kept_by_group.get(group, [])
                ):
                    report.dropped["duplicate"] += 1
                    continue
                kept_by_group.setdefault(group, []).append(emb)
                writer.add(
                    crop=crop,
                    embedding=emb,
                    kps=apply_affine(m, face.kps),
                    group=group,
                    origin=origin,
                    frame=frame_no,
                )
                report.kept += 1
            if progress is not None:
                progress("faces", report.kept, 0)
    writer.flush()
    if report.kept == 0:
        raise InputError(f"no face passed the filters ({report.line()})")
    report.identities = len(groups)
    index = {
        "format": FORMAT,
        "size": options.size,
        "template": options.template,
        "count": report.kept,
        "identities": report.identities,
        "encoder": encoder.kind,
        "shards": writer.shards,
        "files": [str(f) for f in files],
        "options": {k: getattr(options, k) for k in options.__dataclass_fields__},
    }
    (out / "index.json").write_text(json.dumps(index, indent=2))
    return report


def _group_of(emb: np.ndarray, groups: list[np.ndarray], encoder) -> int:
    """The identity group of a descriptor: the first group within the encoder's same-person
    distance, else a new one."""
    for g, first in enumerate(groups):
        if encoder.distance(emb, first) < encoder.same_person:
            return g
    groups.append(emb)
    return len(groups) - 1


class FaceDataset:
    """The faces of a built dataset, memory-mapped shard by shard: `len`, `[i]` -> (crop, group),
    `batch(indices)` -> (N, S, S, 3) uint8 crops and their identity groups."""

    def __init__(self, root: str | os.PathLike) -> None:
        root = Path(root)
        try:
            self.index = json.loads((root / "index.json").read_text())
        except (OSError, ValueError):
            raise InputError(f"{root}: not a twoface dataset (no readable index.json)") from None
        if self.index.get("format") != FORMAT:
            raise InputError(f"{root}: dataset format {self.index.get('format')!r}, not {FORMAT}")
        self.root = root
        self.size = int(self.index["size"])
        self.template = self.index["template"]
        self._faces = []
        groups = []
        for shard in self.index["shards"]:
            self._faces.append(np.load(root / shard["faces"], mmap_mode="r"))
            with np.load(root / shard["meta"]) as meta:
                groups.append(meta["group"])
        self.groups = np.concatenate(groups)
        counts = [len(f) for f in self._faces]
        self._starts = np.cumsum([0, *counts])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _locate(self, i: int) -> tuple[int, int]:
        s = int(np.searchsorted(self._starts, i, side="right") - 1)
        return s, int(i - self._starts[s])

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        s, j = self._locate(int(i))
        return np.asarray(self._faces[s][j]), int(self.groups[i])

    def batch(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        crops = np.stack([self[i][0] for i in indices])
        return crops, self.groups[np.asarray(indices)]
