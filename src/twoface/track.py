"""People across frames: IoU tracking, per-track decisions and One-Euro landmark smoothing."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from twoface.types import Face


class OneEuro:
    """One-Euro filter (Casiez et al. 2012) on an array signal, in units of face size.

    Slow movements get a low cut-off (no shimmer); fast ones a higher one (no lag).
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.5, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None

    @staticmethod
    def _alpha(cutoff: float, dt: float) -> float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, dt: float, scale: float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.x is None:
            self.x, self.dx = x, np.zeros_like(x)
            return x
        dx = (x - self.x) / dt / max(scale, 1e-6)
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        a = 1.0 / (1.0 + (1.0 / (2 * math.pi * cutoff)) / dt)
        self.x = a * x + (1 - a) * self.x
        return self.x


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass
class Track:
    id: int
    last: Face
    missed: int = 0
    selected: bool | None = None  # decided once per track
    source: int = 0  # which source identity replaces it
    embeddings: list[np.ndarray] = field(default_factory=list)
    filter: OneEuro = field(default_factory=OneEuro)


Identify = Callable[[np.ndarray, list[Face]], list[np.ndarray]]


class Tracker:
    """Greedy IoU association; a track survives `max_missed` frames without a detection.

    With `identify` (frame, faces -> identity embeddings) a face that overlaps no live track is
    compared with the tracks lost in the last `forget_after` frames: the same person coming back
    after an occlusion or a cut gets their old track, and so the same swap decision. Only tracks
    that carry an embedding can come back (the pipeline gives one to every selected track).
    """

    def __init__(
        self,
        iou_threshold: float = 0.3,
        max_missed: int = 5,
        identify: Identify | None = None,
        same_person: float = 0.5,
        forget_after: int = 300,
    ) -> None:
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.identify = identify
        self.same_person = same_person
        self.forget_after = forget_after
        self.tracks: list[Track] = []
        self.all_tracks: list[Track] = []
        self.lost: list[Track] = []
        self._next = 0

    def update(
        self, faces: list[Face], dt: float, frame: np.ndarray | None = None
    ) -> tuple[list[Track], list[Track]]:
        """Assign faces to tracks; returns (tracks seen in this frame, tracks bridged over a miss).

        Seen tracks' `last` face carries the track id and smoothed landmarks and keypoints.
        """
        pairs = sorted(
            (
                (iou(t.last.box, f.box), ti, fi)
                for ti, t in enumerate(self.tracks)
                for fi, f in enumerate(faces)
            ),
            reverse=True,
        )
        used_t, used_f = set(), set()
        seen: list[Track] = []
        for score, ti, fi in pairs:
            if score < self.iou_threshold or ti in used_t or fi in used_f:
                continue
            used_t.add(ti)
            used_f.add(fi)
            seen.append(self._observe(self.tracks[ti], faces[fi], dt))
        new = [fi for fi in range(len(faces)) if fi not in used_f]
        embeddings: list[np.ndarray | None] = [None] * len(new)
        # Identity costs an encoder pass per face: only worth it when someone lost could be back.
        if new and self.identify is not None and frame is not None and self.lost:
            embeddings = list(self.identify(frame, [faces[fi] for fi in new]))
        for fi, emb in zip(new, embeddings, strict=True):
            track = self._revive(emb)
            if track is None:
                track = Track(id=self._next, last=faces[fi])
                self._next += 1
                if emb is not None:
                    track.embeddings.append(emb)
                self.all_tracks.append(track)
            self.tracks.append(track)
            seen.append(self._observe(track, faces[fi], dt))
        bridged = []
        for ti, t in enumerate(self.tracks[: len(self.tracks) - len(new)]):
            if ti not in used_t and t not in seen:
                t.missed += 1
                if t.missed <= self.max_missed:
                    bridged.append(t)
        for t in self.lost:
            t.missed += 1
        self.lost = [t for t in self.lost if t.missed <= self.forget_after]
        self.lost += [t for t in self.tracks if t.missed > self.max_missed and t.embeddings]
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return seen, bridged

    def _revive(self, embedding: np.ndarray | None) -> Track | None:
        """The lost track of the same person, taken off the lost list; None if nobody matches."""
        if embedding is None or not self.lost:
            return None
        d = [float(np.linalg.norm(t.embeddings[0] - embedding)) for t in self.lost]
        j = int(np.argmin(d))
        if d[j] > self.same_person:
            return None
        track = self.lost.pop(j)
        track.filter = OneEuro()  # it may be anywhere now: do not smooth across the gap
        return track

    @staticmethod
    def _observe(track: Track, face: Face, dt: float) -> Track:
        track.missed = 0
        if face.landmarks is not None:
            size = float(np.linalg.norm(face.landmarks[0] - face.landmarks[16]))
            signal = np.concatenate([face.landmarks, face.kps])
            smooth = track.filter(signal, dt, size).astype(np.float32)
            face = replace(face, landmarks=smooth[:68], kps=smooth[68:])
        track.last = replace(face, track_id=track.id)
        return track


def jitter(landmarks: list[np.ndarray]) -> float:
    """Mean frame-to-frame landmark acceleration over the inter-ocular distance."""
    from twoface.geometry import interocular

    if len(landmarks) < 3:
        return 0.0
    lm = np.stack(landmarks).astype(np.float64)
    acc = lm[2:] - 2 * lm[1:-1] + lm[:-2]
    eyes = np.array([interocular(x) for x in lm[1:-1]])
    return float((np.linalg.norm(acc, axis=2).mean(1) / eyes).mean())
