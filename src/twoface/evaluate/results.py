"""What an evaluation finds, as data: per face (images), per person and frame (videos); their
JSON (what `twoface eval --json` prints), the summary numbers every report and ranking reads, and
the flags (measures past their good value, one line each)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twoface.evaluate.measures import PARAMS, EvalParams

REPORT_VERSION = 1
# The summary measures, lower is better for each: (key, what, unit). `twoface eval --compare`
# ranks on these, the HTML summary table shows them.
MEASURES: tuple[tuple[str, str, str], ...] = (
    ("identity_to_source", "identity distance to the source", "encoder scale"),
    ("not_swapped", "share of selected faces not swapped", "0-1"),
    ("landmark_shift", "landmark shift vs target", "x eye spacing"),
    ("pose_change", "head pose change vs target", "degrees"),
    ("seam", "seam: edge energy added at the border", "grey levels/px"),
    ("colour_anomaly", "colour anomaly in the face", "Lab chroma"),
    ("flicker_added", "flicker added over the input's", "grey levels"),
)


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(float(x), digits)


def _mean(values) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def _max(values) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.max(v)) if v else None


@dataclass(frozen=True)
class EncoderInfo:
    """The identity encoder the report judged with, its scale, and why it was chosen."""

    name: str
    metric: str  # "euclidean" (dlib128) or "cosine" (ArcFace: 1 - cos)
    same_person: float
    why: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "same_person": self.same_person,
            "why": self.why,
        }

    @property
    def scale(self) -> str:
        kind = "Euclidean distance" if self.metric == "euclidean" else "cosine distance 1 - cos"
        return f"{self.name} {kind}; same person within {self.same_person:g}"


@dataclass
class Identity:
    """The output face's identity distances (encoder scale, lower is closer)."""

    to_source: float  # to the nearest source photo
    to_target: float  # to the target face it replaced
    target_to_source: float  # the target face's own distance to the source (before the swap)
    recognised_as: str  # "source", "target" or "neither"
    source: int = 0  # which source photo is nearest

    def to_json(self) -> dict[str, Any]:
        return {
            "to_source": _r(self.to_source),
            "to_target": _r(self.to_target),
            "target_to_source": _r(self.target_to_source),
            "recognised_as": self.recognised_as,
            "source": self.source,
        }


@dataclass
class FaceEval:
    """One target face of an image and what the output made of it."""

    index: int  # numbered as `twoface detect` numbers the target's faces
    box: tuple[float, float, float, float]
    changed: float  # share of the face area changed (0-1)
    swapped: bool
    identity: Identity | None
    landmark_shift: float
    pose_target: dict[str, float] | None
    pose_output: dict[str, float] | None
    pose_change: float | None
    seam: float | None  # None for a face not swapped
    colour_anomaly: float | None
    selected: bool | None = None  # the swap chose this face (None: not known)

    def to_json(self) -> dict[str, Any]:
        def pose(p):
            return None if p is None else {k: round(v, 1) for k, v in p.items()}

        return {
            "face": self.index,
            "box": [round(v, 1) for v in self.box],
            "swapped": self.swapped,
            "selected": self.selected,
            "changed": _r(self.changed),
            "identity": self.identity.to_json() if self.identity else None,
            "landmark_shift": _r(self.landmark_shift),
            "pose_target": pose(self.pose_target),
            "pose_output": pose(self.pose_output),
            "pose_change": _r(self.pose_change, 2),
            "seam": _r(self.seam),
            "colour_anomaly": _r(self.colour_anomaly),
        }


@dataclass
class Crop:
    """A worst frame (or face), target | output, zoomed on the face; for the HTML report."""

    frame: int | None
    time: float | None
    who: str  # "face 0", "person 2"
    why: str
    target: np.ndarray
    output: np.ndarray


@dataclass
class ImageEval:
    sources: list[str]
    target: str
    output: str
    encoder: EncoderInfo
    faces: list[FaceEval]
    size: tuple[int, int]  # (width, height)
    params: EvalParams = PARAMS
    crops: list[Crop] = field(default_factory=list)
    seconds: float = 0.0
    kind = "image"

    def focus(self, faces: set[int] | None = None) -> list[FaceEval]:
        """The faces the summary is about: `faces` (by number) if given, else the swapped ones,
        else all (nothing was swapped: every face says so)."""
        if faces is not None:
            return [f for f in self.faces if f.index in faces]
        return [f for f in self.faces if f.swapped or f.selected] or self.faces

    def summary(self, faces: set[int] | None = None) -> dict[str, Any]:
        chosen = self.focus(faces)
        swapped = [f for f in chosen if f.swapped]
        ids = [f.identity for f in chosen if f.identity is not None]
        return {
            "faces": len(self.faces),
            "faces_swapped": sum(f.swapped for f in self.faces),
            "identity_to_source": _r(_mean(i.to_source for i in ids)),
            "identity_to_target": _r(_mean(i.to_target for i in ids)),
            "recognised_as_source": _r(
                sum(i.recognised_as == "source" for i in ids) / len(ids) if ids else None
            ),
            "not_swapped": _r(1 - len(swapped) / len(chosen) if chosen else None),
            "landmark_shift": _r(_mean(f.landmark_shift for f in swapped)),
            "pose_change": _r(_mean(f.pose_change for f in swapped), 2),
            "seam": _r(_mean(f.seam for f in swapped)),
            "colour_anomaly": _r(_mean(f.colour_anomaly for f in swapped)),
            "flicker_added": None,
        }

    def flags(self) -> list[str]:
        p = self.params
        if not any(f.swapped for f in self.faces):
            return [f"no face was swapped: the output's {len(self.faces)} face(s) are the target's"]
        out = []
        for f in self.faces:
            if f.swapped:
                out += face_flags(f"face {f.index}", f, self.encoder, p)
            elif f.selected:
                out.append(
                    f"face {f.index}: chosen by the swap but not swapped (the output's face is "
                    f"the target's; {f.changed:.0%} of it changed)"
                )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "kind": "image",
            "sources": self.sources,
            "target": self.target,
            "output": self.output,
            "size": list(self.size),
            "encoder": self.encoder.to_json(),
            "summary": self.summary(),
            "faces": [f.to_json() for f in self.faces],
            "flags": self.flags(),
            "good": good_values(self.params),
            "seconds": round(self.seconds, 2),
        }


def good_values(p: EvalParams) -> dict[str, float]:
    return {
        "landmark_shift": p.good_landmark_shift,
        "pose_change": p.good_pose_change,
        "seam": p.good_seam,
        "colour_anomaly": p.good_colour_anomaly,
        "flicker_added": p.good_flicker_added,
    }


def face_flags(who: str, f, encoder: EncoderInfo, p: EvalParams) -> list[str]:
    """Lines for one swapped face whose measures pass their good values."""
    out = []
    i = f.identity
    if i is not None and i.recognised_as != "source":
        as_what = "the target" if i.recognised_as == "target" else "neither source nor target"
        out.append(
            f"{who}: recognised as {as_what}, not the source (distance to source "
            f"{i.to_source:.2f}, to target {i.to_target:.2f}; {encoder.scale})"
        )
    checks = [
        (
            "landmark_shift",
            f.landmark_shift,
            p.good_landmark_shift,
            "landmarks moved",
            "x eye spacing",
        ),
        ("pose_change", f.pose_change, p.good_pose_change, "head pose changed by", "degrees"),
        ("seam", f.seam, p.good_seam, "seam edge energy", "grey levels/px"),
        ("colour_anomaly", f.colour_anomaly, p.good_colour_anomaly, "colour anomaly", "Lab chroma"),
    ]
    for _, value, good, what, unit in checks:
        if value is not None and value > good:
            out.append(f"{who}: {what} {value:.2f} {unit} (good: under {good:g})")
    return out


def ranges(frames: list[int], times: list[float | None], gap: int = 1) -> list[dict[str, Any]]:
    """Consecutive frame numbers (steps of at most `gap`) as ranges with their timestamps."""
    out: list[dict[str, Any]] = []
    for n, t in zip(frames, times, strict=True):
        if out and n - out[-1]["end"] <= gap:
            out[-1]["end"], out[-1]["end_s"] = n, _r(t)
        else:
            out.append({"start": n, "end": n, "start_s": _r(t), "end_s": _r(t)})
    return out


def ranges_text(rs: list[dict[str, Any]], limit: int = 4) -> str:
    def one(r):
        frames = f"{r['start']}" if r["start"] == r["end"] else f"{r['start']}-{r['end']}"
        if r["start_s"] is None:
            return f"frames {frames}"
        when = (
            f"{r['start_s']:.2f} s"
            if r["start"] == r["end"]
            else f"{r['start_s']:.2f}-{r['end_s']:.2f} s"
        )
        return f"{frames} ({when})"

    text = ", ".join(one(r) for r in rs[:limit])
    return text + (f" and {len(rs) - limit} more" if len(rs) > limit else "")


# Per-frame series of a person: name -> one value per frame the person is in (None: not measured).
SERIES = (
    "changed",
    "to_source",
    "to_target",
    "landmark_shift",
    "pose_change",
    "seam",
    "colour_anomaly",
    "flicker_output",
    "flicker_input",
)


@dataclass
class PersonEval:
    """One tracked person of the target video, frame by frame."""

    track: int
    frames: list[int] = field(default_factory=list)
    times: list[float | None] = field(default_factory=list)
    swapped: list[bool] = field(default_factory=list)
    recognised: list[str | None] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)  # the target face's box per frame
    series: dict[str, list[float | None]] = field(default_factory=lambda: {k: [] for k in SERIES})
    selected: bool = False

    def add(self, frame: int, time: float | None, swapped: bool, box: np.ndarray, **values) -> int:
        self.frames.append(frame)
        self.boxes.append(np.asarray(box, np.float32))
        self.times.append(time)
        self.swapped.append(swapped)
        self.recognised.append(values.pop("recognised", None))
        for k in SERIES:
            self.series[k].append(values.get(k))
        return len(self.frames) - 1

    def set(self, row: int, key: str, value: float | None) -> None:
        self.series[key][row] = value

    @property
    def swapped_frames(self) -> int:
        return sum(self.swapped)

    def not_swapped(self) -> tuple[list[int], list[float | None]]:
        rows = [k for k, s in enumerate(self.swapped) if not s]
        return [self.frames[k] for k in rows], [self.times[k] for k in rows]

    def identity_drops(self, same_person: float) -> tuple[list[int], list[float | None]]:
        """Frames (measured) where the output is not within the same-person distance of the
        source."""
        rows = [
            k for k, d in enumerate(self.series["to_source"]) if d is not None and d > same_person
        ]
        return [self.frames[k] for k in rows], [self.times[k] for k in rows]

    def values(self, key: str, swapped_only: bool = True) -> list[float]:
        return [
            v
            for v, s in zip(self.series[key], self.swapped, strict=True)
            if v is not None and (s or not swapped_only)
        ]

    def flicker_added(self) -> float | None:
        pairs = [
            (o, i)
            for o, i in zip(
                self.series["flicker_output"], self.series["flicker_input"], strict=True
            )
            if o is not None and i is not None
        ]
        return float(np.mean([o - i for o, i in pairs])) if pairs else None

    def summary(self, same_person: float) -> dict[str, Any]:
        measured = [
            r for r, s in zip(self.recognised, self.swapped, strict=True) if s and r is not None
        ]
        return {
            "identity_to_source": _r(_mean(self.values("to_source"))),
            "identity_to_target": _r(_mean(self.values("to_target"))),
            "identity_to_source_worst": _r(_max(self.values("to_source"))),
            "recognised_as_source": _r(
                sum(r == "source" for r in measured) / len(measured) if measured else None
            ),
            "not_swapped": _r(1 - self.swapped_frames / len(self.frames)),
            "landmark_shift": _r(_mean(self.values("landmark_shift"))),
            "pose_change": _r(_mean(self.values("pose_change")), 2),
            "seam": _r(_mean(self.values("seam"))),
            "colour_anomaly": _r(_mean(self.values("colour_anomaly"))),
            "flicker_output": _r(_mean(self.values("flicker_output", False))),
            "flicker_input": _r(_mean(self.values("flicker_input", False))),
            "flicker_added": _r(self.flicker_added()),
        }

    def to_json(self, same_person: float, series: bool = True) -> dict[str, Any]:
        frames, times = self.not_swapped()
        drops, drop_times = self.identity_drops(same_person)
        out: dict[str, Any] = {
            "person": self.track,
            "frames": len(self.frames),
            "first_frame": self.frames[0],
            "last_frame": self.frames[-1],
            "swapped_frames": self.swapped_frames,
            "selected": self.selected,
        }
        if not self.selected:
            return out
        out |= {
            "summary": self.summary(same_person),
            "not_swapped": ranges(frames, times),
            "not_swapped_frames": frames,
            "identity_drops": ranges(drops, drop_times, gap=2),
        }
        if series:
            out["series"] = {
                "frame": self.frames,
                "time": [_r(t, 4) for t in self.times],
                "swapped": self.swapped,
                **{k: [_r(v) for v in vs] for k, vs in self.series.items()},
            }
        return out


@dataclass
class VideoEval:
    sources: list[str]
    target: str
    output: str
    encoder: EncoderInfo
    people: list[PersonEval]
    frames: int
    fps: float | None
    size: tuple[int, int]
    every: int = 1
    trim: tuple[float, float] | None = None
    params: EvalParams = PARAMS
    crops: list[Crop] = field(default_factory=list)
    seconds: float = 0.0
    kind = "video"

    def selected(self) -> list[PersonEval]:
        return [p for p in self.people if p.selected]

    def focus(self, people: set[int] | None = None) -> list[PersonEval]:
        if people is not None:
            return [p for p in self.people if p.track in people]
        return self.selected()

    def summary(self, people: set[int] | None = None) -> dict[str, Any]:
        chosen = self.focus(people)
        same = self.encoder.same_person

        def pooled(key: str, swapped_only: bool = True) -> float | None:
            return _mean(v for p in chosen for v in p.values(key, swapped_only))

        recognised = [
            r for p in chosen for r, s in zip(p.recognised, p.swapped, strict=True) if s and r
        ]
        face_frames = sum(len(p.frames) for p in chosen)
        added = [
            o - i
            for p in chosen
            for o, i in zip(p.series["flicker_output"], p.series["flicker_input"], strict=True)
            if o is not None and i is not None
        ]
        missed = sum(len(p.not_swapped()[0]) for p in chosen)
        drops = sum(len(p.identity_drops(same)[0]) for p in chosen)
        return {
            "frames": self.frames,
            "people": len(self.people),
            "people_selected": len(self.selected()),
            "frames_swapped": len(
                {f for p in self.people for f, s in zip(p.frames, p.swapped, strict=True) if s}
            ),
            "frames_not_swapped": missed,
            "identity_drops": drops,
            "identity_to_source": _r(pooled("to_source")),
            "identity_to_target": _r(pooled("to_target")),
            "recognised_as_source": _r(
                sum(r == "source" for r in recognised) / len(recognised) if recognised else None
            ),
            "not_swapped": _r(missed / face_frames if face_frames else None),
            "landmark_shift": _r(pooled("landmark_shift")),
            "pose_change": _r(pooled("pose_change"), 2),
            "seam": _r(pooled("seam")),
            "colour_anomaly": _r(pooled("colour_anomaly")),
            "flicker_output": _r(pooled("flicker_output", False)),
            "flicker_input": _r(pooled("flicker_input", False)),
            "flicker_added": _r(float(np.mean(added)) if added else None),
        }

    def flags(self) -> list[str]:
        p = self.params
        chosen = self.selected()
        if not chosen:
            return ["no person was swapped: every face of the output is the target's"]
        out = []
        same = self.encoder.same_person
        for person in chosen:
            who = f"person {person.track}"
            frames, times = person.not_swapped()
            if frames:
                out.append(
                    f"{who}: not swapped in {len(frames)} of {len(person.frames)} frames: "
                    f"{ranges_text(ranges(frames, times))}"
                )
            drops, drop_times = person.identity_drops(same)
            if drops:
                measured = sum(d is not None for d in person.series["to_source"])
                out.append(
                    f"{who}: not recognised as the source in {len(drops)} of {measured} "
                    f"measured frames: {ranges_text(ranges(drops, drop_times, gap=2))}"
                )
            s = person.summary(same)
            checks = [
                (
                    s["landmark_shift"],
                    p.good_landmark_shift,
                    "mean landmark shift",
                    "x eye spacing",
                ),
                (s["pose_change"], p.good_pose_change, "mean head pose change", "degrees"),
                (s["seam"], p.good_seam, "mean seam edge energy", "grey levels/px"),
                (s["colour_anomaly"], p.good_colour_anomaly, "mean colour anomaly", "Lab chroma"),
                (s["flicker_added"], p.good_flicker_added, "flicker added", "grey levels"),
            ]
            for value, good, what, unit in checks:
                if value is not None and value > good:
                    out.append(f"{who}: {what} {value:.2f} {unit} (good: under {good:g})")
        return out

    def to_json(self) -> dict[str, Any]:
        same = self.encoder.same_person
        return {
            "version": REPORT_VERSION,
            "kind": "video",
            "sources": self.sources,
            "target": self.target,
            "output": self.output,
            "size": list(self.size),
            "fps": _r(self.fps),
            "trim": list(self.trim) if self.trim else None,
            "identity_every": self.every,
            "encoder": self.encoder.to_json(),
            "summary": self.summary(),
            "people": [p.to_json(same) for p in self.people],
            "worst_frames": [
                {"frame": c.frame, "time": _r(c.time), "who": c.who, "why": c.why}
                for c in self.crops
            ],
            "flags": self.flags(),
            "good": good_values(self.params),
            "seconds": round(self.seconds, 2),
        }


Evaluation = ImageEval | VideoEval
