"""Evaluate a swap: the source photo(s), the target and the output side by side.

The target is analysed (detect -> landmarks, twoface.analyze.FrameAnalyzer) and the output's
landmarks are found inside the target's faces (a swap keeps each face where it was), so face i of
the report is face i of the target, numbered as `twoface detect` numbers it. Identity is judged
by an encoder the swap did not optimise for where one is installed (`choose_encoder`). A video
is read in step with its output (twoface.io.video, both upright); its people are tracked on the
target (twoface.track.Tracker, identity re-association across cuts), so "person 2" is the same
person in every output of one target. The worst frames are read again at the end, for the HTML
report's crops (memory stays flat).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from twoface.analyze import FrameAnalyzer
from twoface.errors import InputError, UsageError
from twoface.evaluate import measures as m
from twoface.evaluate.results import (
    Crop,
    EncoderInfo,
    FaceEval,
    Identity,
    ImageEval,
    PersonEval,
    VideoEval,
)
from twoface.io.image import load_image
from twoface.select import most_prominent
from twoface.types import Face

ARCFACE = "arcface_w600k_r50"
ENCODERS = ("auto", "dlib128", ARCFACE)
BATCH = 8  # target frames analysed per detector call
CROP_SIZE = 200  # pixels: the height of a worst-frame crop in the HTML report
WORST = 6  # worst frames (or faces) shown


def choose_encoder(store, name: str = "auto", swapper: str | None = None) -> tuple[str, str]:
    """(the encoder to judge identity with, why). `auto`: an encoder other than the one the swap
    used: ArcFace (w600k) when installed and the swap is known not to have used it (the
    classical engine uses none), else dlib128 (shipped; no learned swapper uses it)."""
    catalogue = store.catalogue  # the store's own: its user models included
    if name not in ENCODERS:
        raise UsageError(f"encoder {name}: choose from {', '.join(ENCODERS)}", "identity")
    entry = catalogue.get(swapper) if swapper else None
    used = entry.pairs_with if entry is not None else None
    if name != "auto":
        if used == name:
            return name, f"asked for; {swapper} was made with it, so identity may read flattering"
        return name, "asked for"
    installed = store.path(catalogue[ARCFACE]).is_file()
    if swapper == "classical" or (entry is not None and used != ARCFACE):
        if installed:
            return ARCFACE, f"installed, and the swap ({swapper}) did not use it"
        return "dlib128", f"shipped ({ARCFACE} is not installed)"
    if used == ARCFACE:
        return "dlib128", f"the swap ({swapper}) used {ARCFACE}; judged by another encoder"
    return "dlib128", "the swapper is not known (--swapper): dlib128, which no learned swapper uses"


@dataclass(frozen=True)
class _Source:
    path: str
    embedding: np.ndarray


class Evaluator:
    """Measures outputs against their source and target; one instance keeps its models."""

    def __init__(
        self,
        analyzer: FrameAnalyzer,
        encoder,
        encoder_info: EncoderInfo,
        params: m.EvalParams = m.PARAMS,
    ) -> None:
        self.analyzer = analyzer
        self.encoder = encoder
        self.info = encoder_info
        self.params = params

    @classmethod
    def create(
        cls,
        *,
        encoder: str = "auto",
        swapper: str | None = None,
        models_dir: str | os.PathLike | None = None,
        offline: bool = False,
        pool=None,
        params: m.EvalParams = m.PARAMS,
    ) -> Evaluator:
        """The shipped detector (RetinaFace) and dlib's 68 landmarks (pose, the face area and
        dlib128 need all 68), the encoder `choose_encoder` picks; models from `pool` if given
        (a Swapper's, so `swap --report` loads nothing twice)."""
        from twoface.build import ModelPool
        from twoface.zoo.store import ModelStore

        if pool is None:
            pool = ModelPool(ModelStore(models_dir, offline=offline))
        name, why = choose_encoder(pool.store, encoder, swapper)
        built = pool.get("identity", name)
        analyzer = FrameAnalyzer(
            pool.get("detect", "retinaface"), pool.get("landmarks", "dlib68"), lambda: built
        )
        info = EncoderInfo(name, built.metric, float(built.same_person), why)
        return cls(analyzer, built, info, params)

    # -- shared -----------------------------------------------------------------------------------
    def sources(self, paths: Sequence[str | os.PathLike]) -> list[_Source]:
        if not paths:
            raise UsageError("give at least one source photo (-s)", "source")
        out = []
        for path in paths:
            img = load_image(path)
            found = self.analyzer.detect([img.rgb])[0]
            if not found:
                raise InputError(f"{img.path}: no face found in the source image")
            face = self.analyzer.one(img.rgb, most_prominent(found), identity=False)
            emb = self.encoder([img.rgb], [[face]])[0][0].embedding
            out.append(_Source(_name(path), emb))
        return out

    def _to_source(self, emb: np.ndarray, sources: list[_Source]) -> tuple[float, int]:
        d = [self.encoder.distance(emb, s.embedding) for s in sources]
        k = int(np.argmin(d))
        return d[k], k

    def _identity(self, tgt_emb, out_emb, sources) -> Identity:
        to_source, k = self._to_source(out_emb, sources)
        before, _ = self._to_source(tgt_emb, sources)
        to_target = self.encoder.distance(out_emb, tgt_emb)
        return Identity(
            to_source,
            to_target,
            before,
            m.recognised_as(to_source, to_target, self.info.same_person),
            k,
        )

    def _embed(self, frames: list[np.ndarray], faces: list[list[Face]]) -> list[list[Face]]:
        return self.encoder(frames, faces)

    def _geometry(self, tgt: np.ndarray, out: np.ndarray, face: Face, out_face: Face) -> dict:
        size = tgt.shape[:2]
        return {
            "landmark_shift": m.landmark_shift(out_face.landmarks, face.landmarks),
            "pose_change": m.pose_change(out_face.landmarks, face.landmarks, size),
        }

    def _finish(self, tgt: np.ndarray, out: np.ndarray, face: Face) -> dict:
        p = self.params
        return {
            "seam": m.border_seam(out, tgt, face.landmarks, p),
            "colour_anomaly": m.colour_anomaly(out, tgt, face.landmarks),
        }

    # -- images -----------------------------------------------------------------------------------
    def image(
        self,
        sources: Sequence[str | os.PathLike],
        target: str | os.PathLike,
        output: str | os.PathLike,
        selected: Sequence[Sequence[float]] | None = None,
    ) -> ImageEval:
        """Each face of the target image and what the output made of it. `selected`: the boxes
        of the faces the swap chose (`swap --report` passes them), so a chosen face the output
        left unchanged is flagged; None: not known (each face is judged by its change alone)."""
        from twoface.track import iou

        started = time.perf_counter()
        tgt, out = load_image(target), load_image(output)
        _same_size(tgt.path, out.path, tgt.rgb.shape, out.rgb.shape)
        srcs = self.sources(sources)
        faces = self.analyzer.analyse([tgt.rgb])[0]
        if not faces:
            raise InputError(f"{tgt.path}: no face found in the target image; nothing to evaluate")
        out_faces = self.analyzer.mark([out.rgb], [[_bare(f) for f in faces]])[0]
        t_emb, o_emb = self._embed([tgt.rgb, out.rgb], [faces, out_faces])
        evals = []
        size = tgt.rgb.shape[:2]
        for n, (f, of, te, oe) in enumerate(zip(faces, out_faces, t_emb, o_emb, strict=True)):
            changed = m.changed_fraction(out.rgb, tgt.rgb, f.landmarks, self.params)
            swapped = changed > self.params.swapped_fraction
            geo = self._geometry(tgt.rgb, out.rgb, f, of)
            fin = self._finish(tgt.rgb, out.rgb, f) if swapped else {}
            chosen = None
            if selected is not None:
                box = np.asarray(f.box[:4], np.float32)
                chosen = any(
                    iou(box, np.asarray(b[:4], np.float32)) >= self.params.selected_iou
                    for b in selected
                )
            evals.append(
                FaceEval(
                    index=n,
                    box=tuple(float(v) for v in f.box),
                    changed=changed,
                    swapped=swapped,
                    selected=chosen,
                    identity=self._identity(te.embedding, oe.embedding, srcs),
                    landmark_shift=geo["landmark_shift"],
                    pose_target=m.head_pose(f.landmarks, size),
                    pose_output=m.head_pose(of.landmarks, size),
                    pose_change=geo["pose_change"],
                    seam=fin.get("seam"),
                    colour_anomaly=fin.get("colour_anomaly"),
                )
            )
        result = ImageEval(
            [_name(s) for s in sources],
            _name(target),
            _name(output),
            self.info,
            evals,
            (tgt.rgb.shape[1], tgt.rgb.shape[0]),
            self.params,
        )
        order = sorted(evals, key=_badness, reverse=True)[:WORST]
        for e in order:
            why = "swapped" if e.swapped else "not swapped"
            if e.selected and not e.swapped:
                why = "selected, not swapped"
            if e.identity is not None:
                why += f"; to source {e.identity.to_source:.2f}"
            t, o = _crops(tgt.rgb, out.rgb, faces[e.index].box)
            result.crops.append(Crop(None, None, f"face {e.index}", why, t, o))
        result.seconds = time.perf_counter() - started
        return result

    # -- videos -----------------------------------------------------------------------------------
    def video(
        self,
        sources: Sequence[str | os.PathLike],
        target: str | os.PathLike,
        output: str | os.PathLike,
        *,
        trim: tuple[float, float] | None = None,
        every: int = 1,
        progress=None,
        expect_all: bool = False,
    ) -> VideoEval:
        """Each person of the target video, frame by frame: swapped or not, identity (every
        `every`-th frame), landmarks, pose, seam, colour and flicker. `expect_all`: the swap was
        asked to replace every face (`--many`), so every person seen in `expect_all_frames`
        frames or more is one it should have swapped (else a person counts as selected when
        swapped in `selected_share` of their frames)."""
        from twoface.io.video import probe
        from twoface.progress import close_progress, resolve
        from twoface.track import Tracker

        if every < 1:
            raise UsageError(f"every {every}: give 1 or more", "every")
        started = time.perf_counter()
        info_t, info_o = probe(target), probe(output)
        srcs = self.sources(sources)
        enc = self.encoder
        tracker = Tracker(identify=None)
        tracker.distance = enc.distance
        tracker.same_person = enc.same_person * 5 / 6
        people: dict[int, PersonEval] = {}
        window: deque = deque(maxlen=3)
        report = resolve(progress)
        frames = 0
        dt = float(1 / info_t.rate) if info_t.rate else 1 / 25
        expected = _expected(info_t, trim)
        try:
            for batch in _pairs(target, info_t, output, info_o, trim):
                tgt_frames = [t for t, _, _ in batch]
                found = self.analyzer.analyse(tgt_frames)
                for (tgt, out, seconds), faces in zip(batch, found, strict=True):
                    index = frames
                    frames += 1
                    embs: dict[int, np.ndarray] = {}

                    def identify(frame, fs, embs=embs):
                        todo = [f for f in fs if id(f) not in embs]
                        for f, e in zip(todo, enc([frame], [todo])[0], strict=True):
                            embs[id(f)] = e.embedding
                        return [embs[id(f)] for f in fs]

                    tracker.identify = identify
                    seen, _ = tracker.update(faces, dt, tgt)
                    ids = {id(t.last.box): t.id for t in seen}
                    rows = self._frame(
                        index, seconds, tgt, out, faces, ids, people, srcs, embs, every
                    )
                    window.append((index, tgt, out, rows, tracker.cut))
                    if len(window) == 3:
                        self._flicker(window, people)
                    if report is not None:
                        report("frames", frames, expected)
        finally:
            close_progress(report)
        if frames == 0:
            raise InputError(f"{target}: no frames to evaluate")
        if not people:
            raise InputError(f"{target}: no face found in any frame; nothing to evaluate")
        share = self.params.selected_share
        for p in people.values():
            p.selected = p.swapped_frames >= max(1, share * len(p.frames)) or (
                expect_all and len(p.frames) >= self.params.expect_all_frames
            )
        h, w = window[-1][1].shape[:2]
        result = VideoEval(
            [_name(s) for s in sources],
            str(target),
            str(output),
            self.info,
            [people[k] for k in sorted(people)],
            frames,
            float(info_t.rate) if info_t.rate else None,
            (w, h),
            every,
            trim,
            self.params,
        )
        result.crops = self._worst_crops(result, target, info_t, output, info_o, trim)
        result.seconds = time.perf_counter() - started
        return result

    def _frame(self, index, seconds, tgt, out, faces, ids, people, srcs, embs, every) -> dict:
        """Measure each face of one frame; returns {track: (row, target landmarks)}."""
        p = self.params
        rows: dict[int, tuple[int, np.ndarray]] = {}
        out_faces = self.analyzer.mark([out], [[_bare(f) for f in faces]])[0] if faces else []
        todo: list[tuple[Face, Face, PersonEval, int, bool]] = []
        for f, of in zip(faces, out_faces, strict=True):
            track = ids.get(id(f.box))
            if track is None:
                continue
            person = people.setdefault(track, PersonEval(track))
            changed = m.changed_fraction(out, tgt, f.landmarks, p)
            swapped = changed > p.swapped_fraction
            was = person.swapped_frames > 0
            row = person.add(index, seconds, swapped, f.box, changed=changed)
            rows[track] = (row, f.landmarks)
            if (swapped or was) and index % every == 0:
                todo.append((f, of, person, row, swapped))
        if not todo:
            return rows
        need = [f for f, *_ in todo if id(f) not in embs]
        for f, e in zip(need, self._embed([tgt], [need])[0] if need else [], strict=True):
            embs[id(f)] = e.embedding
        outs = self._embed([out], [[of for _, of, *_ in todo]])[0]
        for (f, of, person, row, swapped), oe in zip(todo, outs, strict=True):
            ident = self._identity(embs[id(f)], oe.embedding, srcs)
            person.recognised[row] = ident.recognised_as
            values = {
                "to_source": ident.to_source,
                "to_target": ident.to_target,
                **self._geometry(tgt, out, f, of),
                **(self._finish(tgt, out, f) if swapped else {}),
            }
            for key, value in values.items():
                person.set(row, key, value)
        return rows

    @staticmethod
    def _flicker(window: deque, people: dict[int, PersonEval]) -> None:
        """Second temporal difference at the middle frame of three, for each person in all
        three (no scene cut between them), in the output and in the input."""
        (_, t0, o0, r0, _), (_, t1, o1, r1, cut1), (_, t2, o2, r2, cut2) = window
        if cut1 or cut2:
            return
        for track, (row, lm) in r1.items():
            if track in r0 and track in r2:
                marks = (r0[track][1], lm, r2[track][1])
                person = people[track]
                person.set(row, "flicker_output", m.second_difference((o0, o1, o2), marks))
                person.set(row, "flicker_input", m.second_difference((t0, t1, t2), marks))

    def _worst_crops(self, result: VideoEval, target, info_t, output, info_o, trim) -> list[Crop]:
        """The worst frames of the selected people, over all of them: the first frames not
        swapped, the farthest from the source, the largest seam, colour anomaly and flicker
        added; read again and cropped on the face."""
        picks: dict[tuple[int, int], str] = {}
        people = result.selected()

        def pick(person: PersonEval, row: int, why: str) -> None:
            key = (person.frames[row], person.track)
            if key in picks:
                picks[key] += "; " + why
            elif len(picks) < WORST:
                picks[key] = why

        def worst(values, count: int, what: str, digits: str = ".2f") -> None:
            """The `count` largest values over every selected person."""
            found = [
                (v, p.frames[k], p, k)
                for p in people
                for k, v in enumerate(values(p))
                if v is not None
            ]
            for v, _, p, k in sorted(found, key=lambda x: (-x[0], x[1]))[:count]:
                pick(p, k, f"{what} {v:{digits}}")

        missed = sorted(
            (p.frames[k], p.track, p, k) for p in people for k, sw in enumerate(p.swapped) if not sw
        )
        for _, _, p, k in missed[:2]:
            pick(p, k, "not swapped")
        worst(lambda p: p.series["to_source"], 2, "to source")
        worst(lambda p: p.series["seam"], 1, "seam")
        worst(lambda p: p.series["colour_anomaly"], 1, "colour anomaly")
        worst(
            lambda p: [
                None if o is None or i is None else o - i
                for o, i in zip(p.series["flicker_output"], p.series["flicker_input"], strict=True)
            ],
            1,
            "flicker added",
        )
        if not picks:
            return []
        wanted = {frame for frame, _ in picks}
        boxes = {
            (p.frames[k], p.track): p.boxes[k]
            for p in result.selected()
            for k in range(len(p.frames))
            if (p.frames[k], p.track) in picks
        }
        crops: list[Crop] = []
        frame_no = 0
        last = max(wanted)
        for batch in _pairs(target, info_t, output, info_o, trim):
            for tgt, out, seconds in batch:
                for (frame, track), why in picks.items():
                    if frame == frame_no:
                        t, o = _crops(tgt, out, boxes[frame, track])
                        crops.append(Crop(frame, seconds, f"person {track}", why, t, o))
                frame_no += 1
            if frame_no > last:
                break
        return sorted(crops, key=lambda c: (c.frame, c.who))


_MISSED = {"source": 0.0, "neither": 1.2, "target": 2.0}  # identity, on the measures' scale


def _badness(e: FaceEval) -> tuple:
    """How much a face needs looking at, for the report's crops: a selected face left unswapped
    first, then swapped faces by how far each measure lies past its good value (identity farther
    from the source, seam, colour anomaly), then the unswapped rest."""
    p = m.PARAMS
    if e.selected and not e.swapped:
        return (3, 0.0, -e.index)
    if not e.swapped:
        return (0, 0.0, -e.index)
    score = max(
        (e.seam or 0.0) / p.good_seam,
        (e.colour_anomaly or 0.0) / p.good_colour_anomaly,
        (e.landmark_shift or 0.0) / p.good_landmark_shift,
        _MISSED.get(e.identity.recognised_as, 0.0) if e.identity else 0.0,
    )
    return (2 if score > 1 else 1, score, -e.index)


def _name(image) -> str:
    """A file's name as given; "<array>" for a picture passed as an array (the API)."""
    return "<array>" if isinstance(image, np.ndarray) else str(image)


def _bare(face: Face) -> Face:
    """The target face as a box and keypoints, for finding the output's landmarks in it."""
    return replace(face, landmarks=None, landmark_scheme=None, embedding=None, embedding_kind=None)


def _same_size(target, output, a: tuple, b: tuple) -> None:
    if a[:2] != b[:2]:
        raise InputError(
            f"{output}: {b[1]}x{b[0]} pixels but the target {target} is {a[1]}x{a[0]}; an "
            "output is evaluated against the target it was made from"
        )


def _crops(tgt: np.ndarray, out: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Target and output zoomed on a face box (grown by 30 % of its size each side),
    CROP_SIZE high."""
    x1, y1, x2, y2 = m.box_of(np.asarray(box, np.float64).reshape(2, 2), tgt.shape[:2], 0.3)
    scale = CROP_SIZE / max(y2 - y1, 1)
    size = (max(1, int(round((x2 - x1) * scale))), CROP_SIZE)

    def cut(a):
        return cv2.resize(np.ascontiguousarray(a[y1:y2, x1:x2]), size, interpolation=cv2.INTER_AREA)

    return cut(tgt), cut(out)


def _expected(info, trim) -> int:
    if trim is None:
        return info.frames
    return int(round((info.cut_duration(trim) or 0.0) * float(info.rate or 0)))


def _pairs(target, info_t, output, info_o, trim):
    """Batches of (target frame, output frame, seconds), read in step; one line when the two
    differ in size or frame count."""
    from twoface.io.packets import VideoPacket
    from twoface.io.video import read_video

    def frames(path, info, cut):
        for p in read_video(path, info, trim=cut, drop_audio=True):
            if isinstance(p, VideoPacket):
                yield p

    a, b = frames(target, info_t, trim), frames(output, info_o, None)
    batch: list = []
    n = 0
    while True:
        pa, pb = next(a, None), next(b, None)
        if pa is None or pb is None:
            if pa is not None or pb is not None:
                rest_a = n + (pa is not None) + sum(1 for _ in a)
                rest_b = n + (pb is not None) + sum(1 for _ in b)
                cut = " (after --trim)" if trim else ""
                raise InputError(
                    f"{output}: {rest_b} frames but the target {target} has {rest_a}{cut}; an "
                    "output is evaluated against the target it was made from"
                )
            break
        if n == 0:
            _same_size(target, output, pa.frame.shape, pb.frame.shape)
        n += 1
        batch.append((pa.frame, pb.frame, pa.seconds))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
