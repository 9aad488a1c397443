"""The Python API: `Swapper(...).swap_image(source, target)`. The CLI is a thin layer over it.

from twoface import Swapper
result = Swapper().swap_image("me.jpg", "group.jpg", many=True, output="out.png")
result.image  # RGB uint8 array; out.png is written atomically and labelled as AI-generated
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from twoface.analyze import FrameAnalyzer
from twoface.build import AUTO, ModelPool, choose_swapper
from twoface.config import (
    Config,
    FinishConfig,
    ModelsConfig,
    OutputConfig,
    RuntimeConfig,
    SelectionConfig,
    as_tuple,
)
from twoface.errors import InputError, UsageError
from twoface.identity import Encoder
from twoface.io.credentials import credentials_for, signing_key
from twoface.io.credentials import supports as supports_credentials
from twoface.io.image import (
    ImageLike,
    LoadedImage,
    check_output_path,
    load_image,
    output_format,
    write_image,
)
from twoface.io.provenance import Label, make_label
from twoface.progress import ProgressCallback, close_progress, resolve
from twoface.select import Selection, most_prominent, select
from twoface.swap import SourceIdentity
from twoface.swap.base import RunState, SourceFace, SwapJob
from twoface.types import Face
from twoface.watermark import Watermark


@dataclass
class SwapResult:
    image: np.ndarray  # RGB uint8
    alpha: np.ndarray | None
    faces_found: list[Face]
    faces_swapped: list[Face]
    label: Label | None
    output: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the user should know (one line each)
    engine: str = ""  # which engine made it: classical, anime, or a learned generator's name
    # faces_swapped's indices where the swap changed nothing one can see (twoface.quality)
    unchanged: list[int] = field(default_factory=list)
    # The engine's word on single faces ("a softer blend" where its fault check fired): in
    # --json and on a terminal, never in a script's stderr (the swap succeeded as asked).
    details: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "output": self.output,
            "engine": self.engine,
            "faces_found": len(self.faces_found),
            "faces_swapped": len(self.faces_swapped),
            "swapped": [f.to_dict() for f in self.faces_swapped],
            "label": self.label.description if self.label else None,
            "digital_source_type": self.label.source_type if self.label else None,
            "notes": self.notes,
            "unchanged": self.unchanged,
            "details": self.details,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }


@dataclass(frozen=True)
class _Request:
    """What one swap call asks for: which faces, how to write."""

    selection: SelectionConfig
    options: OutputConfig
    watermark: Watermark | None


SELECTION_KEYS = {"similarity", "assign"}
OUTPUT_KEYS = {f.name for f in fields(OutputConfig)}  # every write option is a keyword too


def _request(selection, options, many, reference, target_faces, conveniences) -> _Request:
    """The request's typed configs: the objects given, or built from the keyword conveniences."""
    unknown = set(conveniences) - SELECTION_KEYS - OUTPUT_KEYS
    if unknown:
        raise TypeError(f"unexpected keyword argument {sorted(unknown)[0]!r}")
    if selection is None:
        selection = SelectionConfig(
            many=many,
            reference=reference,
            target_faces=as_tuple(target_faces),
            similarity=conveniences.get("similarity"),
            assign=tuple(tuple(p) for p in conveniences.get("assign") or ()),
        )
    picked = {k: v for k, v in conveniences.items() if k in OUTPUT_KEYS and v is not None}
    options = replace(options or OutputConfig(), **picked)
    try:
        watermark = Watermark(options.watermark) if options.watermark else None
    except ValueError as e:
        raise UsageError(f"watermark: {e}", "watermark") from None
    return _Request(selection, options, watermark)


def _config_from(config: Config, keywords: dict) -> Config:
    """`config` with the Swapper keyword conveniences applied."""
    model_keys = {f for f in ModelsConfig.__dataclass_fields__}
    runtime_keys = {f for f in RuntimeConfig.__dataclass_fields__}
    finish_keys = {f for f in FinishConfig.__dataclass_fields__}
    unknown = set(keywords) - model_keys - runtime_keys - finish_keys
    if unknown:
        raise TypeError(f"unexpected keyword argument {sorted(unknown)[0]!r}")
    models = {k: v for k, v in keywords.items() if k in model_keys}
    if isinstance(models.get("detector_options"), dict):
        models["detector_options"] = tuple(sorted(models["detector_options"].items()))
    runtime = {k: v for k, v in keywords.items() if k in runtime_keys}
    finish = {k: v for k, v in keywords.items() if k in finish_keys}
    if isinstance(finish.get("masks"), list | tuple | str):
        from twoface.mask import MaskSettings

        finish["masks"] = MaskSettings(names=as_tuple(finish["masks"]))
    return Config(
        replace(config.models, **models),
        replace(config.runtime, **runtime),
        replace(config.finish, **finish),
    )


def _stage(report: ProgressCallback | None, name: str, number: int, stages: int = 5) -> None:
    if report is not None:
        report(name, number, stages)


def _unchanged(tgt: LoadedImage, jobs, image: np.ndarray) -> list[int]:
    """The jobs whose face shows no visible change (twoface.quality.visible_change)."""
    from twoface.quality import UNCHANGED, visible_change

    return [
        i
        for i, job in enumerate(jobs)
        if job.target.landmarks is not None
        and visible_change(image, tgt.rgb, job.target.landmarks) < UNCHANGED
    ]


def _unturn_points(pts: np.ndarray, k: int, width: int, height: int) -> np.ndarray:
    """Points of an image turned by np.rot90(.., k), in the unturned image (width x height)."""
    x, y = pts[..., 0], pts[..., 1]
    if k == 1:
        x, y = width - 1 - y, x
    elif k == 2:
        x, y = width - 1 - x, height - 1 - y
    elif k == 3:
        x, y = y, height - 1 - x
    return np.stack([x, y], axis=-1).astype(np.float32)


def _standing(face: Face) -> bool:
    """Whether a face stands upright by its detector keypoints (eyes level and above the
    mouth); True where the detector gives none."""
    if face.kps is None:
        return True
    kps = np.asarray(face.kps, np.float64)
    eyes, mouth = kps[:2], kps[3:5]
    dx, dy = eyes[1] - eyes[0]
    return abs(dy) < abs(dx) and eyes[:, 1].mean() < mouth[:, 1].mean()


def _unturn_face(face: Face, k: int, width: int, height: int) -> Face:
    corners = _unturn_points(face.box.reshape(2, 2), k, width, height)
    box = np.concatenate([corners.min(0), corners.max(0)]).astype(np.float32)
    kps = None if face.kps is None else _unturn_points(face.kps, k, width, height)
    marks = None if face.landmarks is None else _unturn_points(face.landmarks, k, width, height)
    return replace(face, box=box, kps=kps, landmarks=marks)


DRAWN_SCORE = 0.95


# The masks the classical engine takes from models (the others are the learned swappers').
CLASSICAL_MASKS = ("region", "occlusion")


class Swapper:
    """Detect, select, swap, blend and label; one instance keeps its models loaded.

    Built from a `Config` (models and runtime) or keyword conveniences that build one:
    detector, landmarker, encoder, swapper, anime_detector, models_dir, offline,
    detector_options (a dict), runtime, device, half, compile. Models come from a `ModelPool`
    keyed by (model, device, dtype), which several Swappers may share (`pool=`). What is asked
    per request (which faces, how to write) goes to `swap_image` / `swap_video`.
    swapper="auto" (the default) takes the best learned swapper installed, else the classical
    engine, saying so in `notes` (and in every result's notes).
    """

    def __init__(self, config: Config | None = None, *, pool: ModelPool | None = None, **keywords):
        from twoface.zoo.store import ModelStore

        config = _config_from(config or Config(), keywords)
        models, runtime = config.models, config.runtime
        self.store = (
            pool.store
            if pool is not None
            else ModelStore(models.models_dir, offline=models.offline)
        )
        # What the user should know about every result (one line each): e.g. that `auto`
        # found no learned swapper and the classical engine runs, the offline fallback.
        self.notes: list[str] = []
        if models.swapper == AUTO:
            name, note = choose_swapper(self.store)
            models = replace(models, swapper=name)
            config = replace(config, models=models)
            self.notes += [note] if note else []
        self.config = config  # with `auto` resolved: config.models.swapper names the engine
        self.pool = pool or ModelPool(self.store, runtime)
        self.detector = self.pool.get(
            "detect", models.detector, runtime, **dict(models.detector_options)
        )
        self.landmarker = self.pool.get("landmarks", models.landmarker, runtime)
        self.engine = self._engine(config)
        self._encoder: Encoder | None = None
        self._anime = None
        # detect -> landmarks -> identity: the one analyzer every front goes through.
        self.analyzer = FrameAnalyzer(self.detector, self.landmarker, lambda: self.encoder)

    def _engine(self, config: Config):
        """The swap engine: a learned generator gets its masks, enhancer and pixel boost."""
        from twoface.mask import MaskSettings, create_maskers
        from twoface.swap.base import Engine
        from twoface.swap.engine import LearnedEngine

        built = self.pool.get("swap", config.models.swapper, config.runtime)
        finish = config.finish
        if isinstance(built, Engine):
            return self._classical_maskers(built, finish, config.runtime)
        if finish.ghost_sr:
            from twoface.swap.ghost import GhostGenerator, GhostWithSR

            if not isinstance(built, GhostGenerator):
                raise UsageError(
                    f"ghost super-resolution applies to the GHOST swappers, not {built.name}; "
                    "use --enhancer ghost_sr to run it on any swap",
                    "ghost_sr",
                )
            built = GhostWithSR(built, self.pool.get("restore", "ghost_sr", config.runtime))
        settings = finish.masks or MaskSettings()
        names = settings.names if settings.names is not None else built.default_masks
        maskers = create_maskers(names, settings, self.pool, config.runtime)
        enhancer = None
        if finish.enhancer:
            enhancer = self.pool.get(
                "restore",
                finish.enhancer,
                config.runtime,
                blend=finish.enhancer_blend,
                offered={"weight": finish.enhancer_weight},  # CodeFormer's; GFPGAN has none
            )
        return LearnedEngine(built, maskers, enhancer, pixel_boost=finish.pixel_boost)

    def _classical_maskers(self, engine, finish, runtime):
        """The classical engine (or another engine that masks by its own rules) with the model
        masks it can use: those of `--mask` that are models (region, occlusion), or, by default,
        the face parser's regions when the parser is installed (issue 13: the target's own face
        from a parsing model when there is one; the colour test otherwise)."""
        from twoface.errors import ModelError
        from twoface.mask import MaskSettings, create_maskers
        from twoface.swap.classical import ClassicalEngine

        if not isinstance(engine, ClassicalEngine):
            return engine
        settings = finish.masks or MaskSettings()
        if settings.names is not None:
            names = [n for n in settings.names if n in CLASSICAL_MASKS]
            maskers = create_maskers(names, settings, self.pool, runtime)
        else:
            try:
                maskers = create_maskers(["region"], settings, self.pool, runtime)
            except ModelError:  # no parser installed: the embedded colour test alone
                maskers = []
        return engine.with_maskers(maskers) if maskers else engine

    def _encoder_reads_faces(self) -> bool:
        """Whether the identity encoder can embed the faces the landmarker gives (asked of the
        registered classes, so no encoder is built to find out)."""
        from twoface.build import component_for

        comp, _ = component_for("identity", self.config.models.encoder, self.store.catalogue)
        needs = getattr(comp.factory, "needs_landmarks", False)
        return not needs or getattr(self.landmarker, "gives_landmarks", True)

    def stages(self):
        """The stages a video swap runs: the analyzer and the engine."""
        from twoface.video_pipeline import Stages

        return Stages(self.analyzer, self.engine)

    @property
    def encoder(self) -> Encoder:
        """The identity encoder for selection and tracking (built on first use)."""
        if self._encoder is None:
            name = self.config.models.encoder
            built = self.pool.get("identity", name, self.config.runtime)
            if not isinstance(built, Encoder):
                raise UsageError(
                    f"identity {name} is the identity network of a swapper, not an encoder for "
                    "selection; use dlib128 or arcface_w600k_r50",
                    "identity",
                )
            self._encoder = built
        return self._encoder

    # -- stages -------------------------------------------------------------------------------
    def analyse(self, frames: Sequence[np.ndarray], identity: bool = False) -> list[list[Face]]:
        """Faces of each frame with 68 landmarks (and identity descriptors if asked)."""
        return self.analyzer.analyse(frames, identity)

    def source_faces(
        self, images: Sequence[ImageLike], identity: bool = True, role: str = "source"
    ) -> list[SourceFace]:
        """The most prominent face of each photo; InputError if one has none."""
        loaded = [load_image(i) for i in images]
        found = self.analyzer.detect([x.rgb for x in loaded])
        out = []
        for img, faces in zip(loaded, found, strict=True):
            if not faces:
                raise InputError(f"{img.path}: no face found in the {role} image")
            face = self.analyzer.one(img.rgb, most_prominent(faces))
            if identity:
                face = self.encoder([img.rgb], [[face]])[0][0]
            out.append(SourceFace(image=img.rgb, face=face, origin=img.path))
        return out

    def identity_of(self, image: ImageLike, role: str) -> np.ndarray:
        """Descriptor of the most prominent face of a reference photo."""
        return self.source_faces([image], identity=True, role=role)[0].face.embedding

    def _plan(
        self,
        source: ImageLike | Sequence[ImageLike],
        target: ImageLike,
        many: bool,
        reference: ImageLike | None,
        target_faces: Sequence[ImageLike] | None,
        output: str | os.PathLike | None,
    ) -> list[ImageLike]:
        """Check the arguments shared by image and video swaps; returns the source list."""
        sources = [source] if isinstance(source, (str, os.PathLike, np.ndarray)) else list(source)
        if not sources:
            raise UsageError("give at least one source image", "source")
        if target_faces is not None and len(target_faces) != len(sources):
            raise UsageError(
                f"target_faces: one photo is needed per source: {len(sources)} sources, "
                f"{len(target_faces)} target faces",
                "target_faces",
            )
        if output is not None:
            inputs = [
                s
                for s in [*sources, target, reference, *(target_faces or [])]
                if isinstance(s, (str, os.PathLike))
            ]
            check_output_path(output, inputs)
        return sources

    def _selection_and_sources(
        self,
        sources: list[ImageLike],
        many: bool,
        reference: ImageLike | None,
        target_faces: Sequence[ImageLike] | None,
        similarity: float | None = None,
    ) -> tuple[Selection, list[SourceIdentity]]:
        """How to pick target faces, and the source identities (one per mapped target face)."""
        needs_identity = bool(target_faces) or reference is not None
        encoder = self.encoder if needs_identity else None
        threshold = (
            similarity
            if similarity is not None
            else (encoder.same_person if encoder is not None else 0.6)
        )
        distance = encoder.distance if encoder is not None else None
        common = dict(threshold=threshold, **({"distance": distance} if distance else {}))
        if target_faces:
            refs = tuple(self.identity_of(p, "target-face") for p in target_faces)
            selection = Selection(target_refs=refs, **common)
        elif reference is not None:
            selection = Selection(reference=self.identity_of(reference, "reference"), **common)
        else:
            selection = Selection(many=many, **common)
        src_faces = self.source_faces(sources, identity=selection.needs_identity)
        if target_faces:
            return selection, [SourceIdentity.combine([f]) for f in src_faces]
        return selection, [SourceIdentity.combine(src_faces)]

    # -- the label and the content credentials ------------------------------------------------
    def _check_signing(self, options: OutputConfig, output) -> None:
        """The signing key resolved (and a user's certificate checked) before any work."""
        if output is not None and options.label:
            signing_key(options.sign_cert, options.sign_key, self.store.home)

    def _label(
        self, engine, options: OutputConfig, target, output, identity: bool = False
    ) -> Label | None:
        """The output's label and, for a file, the content credentials to sign into it
        (`identity`: the identity encoder takes part, e.g. in a video's tracking)."""
        if not options.label:
            return None
        creds = None
        if output is not None:
            parent = target if isinstance(target, str | os.PathLike) else None
            creds = credentials_for(
                options,
                self.store.home,
                output=output,
                models=self.models_used(engine, identity),
                parent=parent,
            )
        return make_label(engine.source_type, credentials=creds)

    @staticmethod
    def _credential_notes(label: Label | None, output) -> list[str]:
        if label is None or output is None or supports_credentials(output):
            return []
        return [
            f"{output}: {Path(output).suffix or 'this format'} cannot hold content credentials "
            "(C2PA); labelled by XMP/metadata alone (JPEG, PNG, WebP, TIFF, GIF, MP4 and MOV "
            "hold them)"
        ]

    def models_used(self, engine=None, identity: bool = False) -> tuple[str, ...]:
        """The models that make this Swapper's outputs (detector, landmarks, the swapper or
        engine, the identity encoder if built or `identity`, mask models, restorer), by name."""
        from twoface.mask import MaskSettings

        engine = engine or self.engine
        models = self.config.models
        if engine.name == "anime":
            return (self.anime_detector, "anime")
        names = [models.detector, models.landmarker, engine.name]
        if identity or self._encoder is not None:
            names.append(models.encoder)
        settings = self.config.finish.masks or MaskSettings()
        kinds = {getattr(m, "name", "") for m in getattr(engine, "maskers", ())}
        names += [settings.parser] if "region" in kinds else []
        names += [settings.occluder] if "occlusion" in kinds else []
        if getattr(engine, "enhancer", None) is not None and self.config.finish.enhancer:
            names.append(self.config.finish.enhancer)
        return tuple(n for n in dict.fromkeys(names) if n and n != "none")

    # -- the whole job --------------------------------------------------------------------------
    def swap_image(
        self,
        source: ImageLike | Sequence[ImageLike],
        target: ImageLike,
        *,
        many: bool = False,
        reference: ImageLike | None = None,
        target_faces: Sequence[ImageLike] | None = None,
        output: str | os.PathLike | None = None,
        anime: bool | None = None,
        progress: bool | None | ProgressCallback = False,
        selection: SelectionConfig | None = None,
        options: OutputConfig | None = None,
        **conveniences,
    ) -> SwapResult:
        """Swap faces in one target image.

        anime: True for illustrations (anime detector, line-art swap), False for photos, None to
        decide: anime when no photographic face is found and the anime cascade is installed.

        source: one photo, or several. Without `target_faces` several photos are one person,
        combined; with `target_faces`, source i replaces the faces that look like target_faces[i].
        many: replace every face, not only the most prominent. reference: replace only faces of
        the person in this photo (within `similarity`, in the encoder's scale). progress: a
        callback `(stage, number, stages)`, True for a status line on stderr, None for one only
        on a terminal. selection / options: a SelectionConfig / OutputConfig; or the keyword
        conveniences similarity, quality, label, watermark.
        """
        req = _request(selection, options, many, reference, target_faces, conveniences)
        report = resolve(progress)
        try:
            return self._swap_image(source, target, output, anime, report, req)
        finally:
            close_progress(report)

    def _swap_image(self, source, target, output, anime, report, req: _Request) -> SwapResult:
        many, reference = req.selection.many, req.selection.reference
        target_faces = list(req.selection.target_faces) or None
        timings: dict[str, float] = {}
        if output is not None:
            output_format(output)
        sources = self._plan(source, target, many, reference, target_faces, output)
        self._check_signing(req.options, output)
        _stage(report, "read", 1)
        t = time.perf_counter()
        tgt = load_image(target)
        timings["read"] = time.perf_counter() - t

        detected: list[Face] = []
        auto = anime is None
        if anime is not True:
            _stage(report, "detect", 2)
            t = time.perf_counter()
            detected = self.analyzer.detect([tgt.rgb])[0]
            if not detected:
                tgt, detected = self._upright(tgt)
            timings["detect"] = time.perf_counter() - t
            if auto and self._anime_installed() and self._looks_drawn(tgt, detected):
                anime = True  # no real photographic face, and an anime detector is at hand
        if anime:
            if req.selection.assign:
                raise UsageError("picked faces (assign) apply to photos, not anime", "assign")
            if reference is not None or target_faces:
                raise UsageError(
                    "reference: a reference or target faces need identity, which anime faces "
                    "do not have",
                    "reference",
                )
            return self._swap_anime(sources, tgt, many, output, timings, auto, report, req)
        if not detected:
            hint = " (an illustration? try --anime)" if auto else ""
            raise InputError(f"{tgt.path}: no face found in the target image{hint}")

        if req.selection.assign:
            return self._swap_assigned(sources, tgt, detected, output, timings, report, req)
        t = time.perf_counter()
        selection, identities = self._selection_and_sources(
            sources, many, reference, target_faces, req.selection.similarity
        )
        need_id = selection.needs_identity
        timings["source"] = time.perf_counter() - t
        _stage(report, "landmarks", 3)
        t = time.perf_counter()
        faces = self.analyzer.mark([tgt.rgb], [detected])[0]
        timings["landmarks"] = time.perf_counter() - t
        if need_id:
            t = time.perf_counter()
            faces = self.encoder([tgt.rgb], [faces])[0]
            timings["identity"] = time.perf_counter() - t

        pairs = select(faces, identities, selection)
        if not pairs:
            raise InputError(
                self._no_match_message(tgt.path, faces, selection, reference, target_faces)
            )
        jobs = [SwapJob(0, face, ident) for face, ident in pairs]
        return self._finish(self.engine, tgt, faces, jobs, output, timings, report, req)

    def _swap_assigned(self, sources, tgt, detected, output, timings, report, req: _Request):
        """Exactly the faces asked for by number, each with its own source."""
        assign = req.selection.assign
        for face, src in assign:
            if face >= len(detected):
                raise UsageError(
                    f"{tgt.path}: face {face} asked for, but the target has {len(detected)} "
                    f"face(s), numbered 0-{len(detected) - 1}",
                    "assign",
                )
            if src >= len(sources):
                raise UsageError(
                    f"source {src} asked for, but {len(sources)} source photo(s) were given",
                    "assign",
                )
        t = time.perf_counter()
        src_faces = self.source_faces(sources, identity=False)
        identities = [SourceIdentity.combine([f]) for f in src_faces]
        timings["source"] = time.perf_counter() - t
        _stage(report, "landmarks", 3)
        t = time.perf_counter()
        faces = self.analyzer.mark([tgt.rgb], [detected])[0]
        timings["landmarks"] = time.perf_counter() - t
        jobs = [SwapJob(0, faces[face], identities[src]) for face, src in dict(assign).items()]
        return self._finish(self.engine, tgt, faces, jobs, output, timings, report, req)

    def _upright(self, tgt: LoadedImage) -> tuple[LoadedImage, list[Face]]:
        """A photo whose faces lie on their side (a phone picture without its EXIF rotation):
        try the other three quarter turns; the swap is turned back before writing."""
        first = None
        for k in (1, 3, 2):
            turned = np.ascontiguousarray(np.rot90(tgt.rgb, k))
            found = self.analyzer.detect([turned])[0]
            if not found:
                continue
            alpha = None if tgt.alpha is None else np.ascontiguousarray(np.rot90(tgt.alpha, k))
            at = (LoadedImage(turned, alpha, tgt.path, tgt.format, turned=k), found)
            # The detector finds some faces lying on their side too (an upside-down biden.jpg
            # a quarter turn round): the turn whose largest face stands upright wins, else the
            # first that found one (the landmarks of a face on its side do not fit it).
            if _standing(max(found, key=lambda f: f.area)):
                return at
            first = first or at
        return first or (tgt, [])

    def _finish(
        self, engine, tgt: LoadedImage, faces, jobs, output, timings, report, req: _Request
    ) -> SwapResult:
        """Swap, watermark, label and write: the end every image swap shares."""
        _stage(report, "swap", 4)
        t = time.perf_counter()
        run = RunState()  # the engine's word on each face comes back in its "notes" slot
        jobs = [replace(job, run=job.run or run) for job in jobs]
        image = engine.swap([tgt.rgb], jobs)[0]
        timings["swap"] = time.perf_counter() - t
        unchanged = _unchanged(tgt, jobs, image)
        parent = None if tgt.format == "array" else tgt.path  # an array has no file to name
        label = self._label(engine, req.options, parent, output)
        swapped = [job.target for job in jobs]
        alpha = tgt.alpha
        if tgt.turned:  # faces were found on a quarter-turned copy: turn everything back
            k = tgt.turned
            image = np.ascontiguousarray(np.rot90(image, -k))
            alpha = None if alpha is None else np.ascontiguousarray(np.rot90(alpha, -k))
            h, w = image.shape[:2]
            faces = [_unturn_face(f, k, w, h) for f in faces]
            swapped = [_unturn_face(f, k, w, h) for f in swapped]
        if req.watermark is not None:
            image = req.watermark(image.copy())
        result = SwapResult(
            image, alpha, faces, swapped, label, timings=timings, engine=engine.name
        )
        result.notes = [f"{tgt.path}: {tgt.note}"] if tgt.note else []
        result.notes += self._credential_notes(label, output)
        if engine is self.engine:  # the anime engine is not the auto choice: no fallback note
            result.notes[:0] = self.notes
        if tgt.turned:
            result.notes.append(
                f"{tgt.path}: its faces lie on their side; found after a quarter turn"
            )
        result.details = list(run.slot("notes", list))
        result.unchanged = unchanged
        if unchanged:
            result.notes.append(
                f"{tgt.path}: the swap changed nothing visible on {len(unchanged)} of "
                f"{len(jobs)} face(s) (numbers {', '.join(map(str, unchanged))} of the swapped)"
            )
        if output is not None:
            _stage(report, "write", 5)
            t = time.perf_counter()
            write_image(output, image, alpha, label, req.options.quality)
            timings["write"] = time.perf_counter() - t
            result.output = str(output)
        timings["total"] = sum(v for k, v in timings.items() if k != "total")
        if report is not None:
            report("done", 5, 5)
        return result

    def _looks_drawn(self, tgt: LoadedImage, detected: list[Face]) -> bool:
        """Whether a target is an illustration: the photo detector found nothing, or only
        unsure "faces" (median score under DRAWN_SCORE -- real faces score 0.99-1.0, and
        0.91 for a full profile, on the shared photos) that the anime detector outnumbers.
        On the shared anime grid RetinaFace finds 14 such faces (median 0.90), the cascade 37."""
        if not detected:
            return True
        if float(np.median([f.score for f in detected])) >= DRAWN_SCORE:
            return False  # sure faces: a photo (the cascade also fires on some photos)
        return len(self.anime([tgt.rgb])[0]) >= len(detected)

    def _anime_installed(self) -> bool:
        from twoface.anime import anime_available

        return anime_available(self.store)

    @property
    def anime(self):
        """The anime analyser (detector + 28-point landmarks when installed), made on first use."""
        if self._anime is None:
            from twoface.anime import AnimeAnalyzer

            self._anime = AnimeAnalyzer(
                self.store, self.anime_detector, self.config.runtime.device, self.pool
            )
        return self._anime

    @property
    def anime_detector(self) -> str:
        return self.config.models.anime_detector

    def _swap_anime(
        self, sources, tgt: LoadedImage, many: bool, output, timings, auto, report, req
    ) -> SwapResult:
        """The line-art swap. With `auto` (no --anime) this runs only because the photo detector
        found no face in the target, so the messages say what was tried."""
        t = time.perf_counter()
        faces = self.anime([tgt.rgb])[0]
        timings["detect"] = time.perf_counter() - t
        if not faces:
            tried = (
                f"neither the photo detector ({self.detector.name}) nor the anime detector "
                f"({self.anime_detector}) found one"
                if auto
                else f"the anime detector {self.anime_detector} found none"
            )
            raise InputError(f"{tgt.path}: no face found in the target image ({tried})")
        t = time.perf_counter()
        loaded = [load_image(s) for s in sources]
        found = self.anime([x.rgb for x in loaded])
        src_faces = []
        for img, src in zip(loaded, found, strict=True):
            if not src:
                why = (
                    f" (the target {Path(tgt.path).name} has no photographic face, so it is "
                    f"swapped as anime art; use --photo to refuse that)"
                    if auto
                    else ""
                )
                raise InputError(f"{img.path}: no anime face found in the source image{why}")
            src_faces.append(SourceFace(image=img.rgb, face=most_prominent(src), origin=img.path))
        identity = SourceIdentity.combine(src_faces[:1])
        timings["source"] = time.perf_counter() - t
        chosen = faces if many else [most_prominent(faces)]
        jobs = [SwapJob(0, f, identity) for f in chosen]
        engine = self.pool.get("anime-swap", "anime")  # the registered engine, as any other
        return self._finish(engine, tgt, faces, jobs, output, timings, report, req)

    def swap_video(
        self,
        source: ImageLike | Sequence[ImageLike],
        target: str | os.PathLike,
        output: str | os.PathLike,
        *,
        many: bool = False,
        reference: ImageLike | None = None,
        target_faces: Sequence[ImageLike] | None = None,
        progress: bool | None | ProgressCallback = None,
        track_identity: bool | None = None,
        selection: SelectionConfig | None = None,
        options: OutputConfig | None = None,
        **conveniences,
    ):
        """Swap faces through a whole video (or animated GIF/WebP), streaming; output labelled.

        Selection works as in `swap_image`, decided per tracked person as the video goes (see
        twoface.people); with `track_identity` a person who leaves and comes back keeps their
        track (None: wherever the encoder can read the landmarker's faces -- dlib128 needs 68
        landmarks, so with the keypoint-only landmarker people are tracked by their boxes). options (or the conveniences crf, preset, codec, trim, batch_size, quality, label,
        watermark, similarity): trim is (start, end) in seconds, cutting video and audio alike.
        Audio is copied where the output container takes it, else re-encoded.
        Returns a `VideoResult`.
        """
        from twoface.io.video import (
            audio_notes,
            check_encoder_options,
            check_video_output,
            default_codec,
            probe,
        )
        from twoface.video_pipeline import run_video

        req = _request(selection, options, many, reference, target_faces, conveniences)
        opts = req.options
        if track_identity is None:
            track_identity = self._encoder_reads_faces()
        check_video_output(output)
        video_codec = opts.codec or default_codec(output)
        if video_codec is not None:
            check_encoder_options(opts.crf, opts.preset, video_codec)
        trim = None if opts.trim is None else tuple(float(x) for x in opts.trim)
        if req.selection.assign:
            raise UsageError(
                "picked faces (assign) apply to images; in a video pick people by a photo of "
                "their face (target_faces)",
                "assign",
            )
        target_faces = list(req.selection.target_faces) or None
        reference = req.selection.reference
        sources = self._plan(source, target, req.selection.many, reference, target_faces, output)
        info = probe(target)
        if trim is not None and info.duration is not None and trim[0] >= info.duration:
            raise InputError(
                f"{target}: trim starts at {trim[0]:g} s but the video lasts {info.duration:.2f} s",
                "trim",
            )
        selection, identities = self._selection_and_sources(
            sources, req.selection.many, reference, target_faces, req.selection.similarity
        )
        label = self._label(self.engine, opts, target, output, identity=track_identity)
        notes = [*audio_notes(info, output), *self._credential_notes(label, output)]
        result = run_video(
            self.stages(),
            identities,
            selection,
            str(target),
            info,
            str(output),
            label,
            opts,
            progress=progress,
            watermark=req.watermark,
            track_identity=track_identity,
        )
        result.notes = [*self.notes, *notes]
        return result

    def _no_match_message(self, path, faces, selection, reference, target_faces) -> str:
        refs = [selection.reference] if selection.reference is not None else selection.target_refs
        closest = min(selection.distance(f.embedding, r) for f in faces for r in refs)
        names = (
            Path(str(reference)).name
            if reference is not None
            else ", ".join(Path(str(p)).name for p in target_faces or [])
        )
        return (
            f"{path}: none of its {len(faces)} faces matches {names} (closest identity "
            f"distance {closest:.2f} > similarity threshold {selection.threshold:.2f}, "
            f"{self.encoder.name})"
        )
