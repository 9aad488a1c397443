"""The Python API: `Swapper(...).swap_image(source, target)`. The CLI is a thin layer over it.

from twoface import Swapper
result = Swapper().swap_image("me.jpg", "group.jpg", many=True, output="out.png")
result.image  # RGB uint8 array; out.png is written atomically and labelled as AI-generated
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twoface.detect import create_detector
from twoface.errors import InputError, UsageError
from twoface.identity import SAME_PERSON_DISTANCE, Dlib128Encoder, identity_distance
from twoface.io.image import (
    MIN_SIDE,
    LoadedImage,
    check_output_path,
    output_format,
    read_image,
    write_image,
)
from twoface.io.provenance import Label, make_label
from twoface.landmarks import Dlib68Landmarker
from twoface.progress import ProgressCallback, resolve
from twoface.select import Selection, most_prominent, select
from twoface.swap import SourceIdentity, create_swapper
from twoface.swap.base import SourceFace, SwapJob
from twoface.types import Face
from twoface.watermark import Watermark

ImageLike = str | os.PathLike | np.ndarray


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

    def summary(self) -> dict:
        return {
            "output": self.output,
            "faces_found": len(self.faces_found),
            "faces_swapped": len(self.faces_swapped),
            "swapped": [f.to_dict() for f in self.faces_swapped],
            "label": self.label.description if self.label else None,
            "digital_source_type": self.label.source_type if self.label else None,
            "notes": self.notes,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }


def _load(image: ImageLike) -> LoadedImage:
    """An input image of a swap; one no face could fit in (a 100000x1 strip) is refused."""
    loaded = _load_any(image)
    h, w = loaded.rgb.shape[:2]
    if min(w, h) < MIN_SIDE:
        raise InputError(f"{loaded.path}: {w}x{h} pixels is too small to hold a face")
    return loaded


def _load_any(image: ImageLike) -> LoadedImage:
    if isinstance(image, np.ndarray):
        arr = image
        if arr.dtype != np.uint8:
            raise InputError("<array>: images must be uint8 RGB arrays")
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise InputError(f"<array>: expected (H, W, 3) RGB or (H, W, 4) RGBA, got {arr.shape}")
        alpha = arr[..., 3].copy() if arr.shape[2] == 4 else None
        return LoadedImage(np.ascontiguousarray(arr[..., :3]), alpha, "<array>", "array")
    return read_image(image)


def _stage(report: ProgressCallback | None, name: str, number: int, stages: int = 5) -> None:
    if report is not None:
        report(name, number, stages)


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


def _unturn_face(face: Face, k: int, width: int, height: int) -> Face:
    from dataclasses import replace

    corners = _unturn_points(face.box.reshape(2, 2), k, width, height)
    box = np.concatenate([corners.min(0), corners.max(0)]).astype(np.float32)
    kps = None if face.kps is None else _unturn_points(face.kps, k, width, height)
    marks = None if face.landmarks is None else _unturn_points(face.landmarks, k, width, height)
    return replace(face, box=box, kps=kps, landmarks=marks)


class Swapper:
    """Detect, select, swap, blend and label; one instance keeps its models loaded."""

    def __init__(
        self,
        detector: str = "retinaface",
        similarity: float = SAME_PERSON_DISTANCE,
        label: bool = True,
        quality: int = 95,
        detector_options: dict | None = None,
        watermark: str | None = None,
        models_dir: str | os.PathLike | None = None,
        offline: bool = False,
        runtime: str = "onnxruntime",
        device: str | None = None,
        swapper: str = "classical",
        anime_detector: str = "anime_lbpcascade",
        half: bool = False,
        compile: bool = False,  # noqa: A002
    ) -> None:
        """watermark: visible text drawn on every output image or frame (e.g. "AI-generated").

        detector: "retinaface" (default) or "dlib-hog", shipped with the package, or a detector
        of the model zoo (`twoface models list`) found in `models_dir`; `runtime` runs zoo ONNX
        files on onnxruntime or PyTorch (`device` "cpu", "cuda", ...). swapper: "classical"
        (shipped) or a learned swapper of the zoo (inswapper_128, reswapper_...). half and
        compile run the inswapper family in fp16 / torch.compile'd on the PyTorch runtime.
        """
        from twoface.zoo.store import ModelStore

        self.store = ModelStore(models_dir, offline=offline)
        self.runtime, self.device = runtime, device
        self.anime_detector = anime_detector
        self._anime = None
        try:
            self.watermark = Watermark(watermark) if watermark else None
        except ValueError as e:
            raise UsageError(f"--watermark: {e}") from None
        try:
            self.detector = create_detector(
                detector, self.store, runtime, device, **(detector_options or {})
            )
        except ValueError as e:
            raise UsageError(str(e)) from None
        self.landmarker = Dlib68Landmarker()
        self._encoder: Dlib128Encoder | None = None
        try:
            self.swapper = create_swapper(swapper, self.store, runtime, device, half, compile)
        except ValueError as e:
            raise UsageError(str(e)) from None
        self.similarity = similarity
        self.label = label
        self.quality = quality

    @property
    def encoder(self) -> Dlib128Encoder:
        if self._encoder is None:
            self._encoder = Dlib128Encoder()
        return self._encoder

    # -- stages -------------------------------------------------------------------------------
    def analyse(self, frames: Sequence[np.ndarray], identity: bool = False) -> list[list[Face]]:
        """Faces of each frame with 68 landmarks (and identity descriptors if asked)."""
        faces = self.landmarker(frames, self.detector.detect(frames))
        return self.encoder(frames, faces) if identity else faces

    def source_faces(
        self, images: Sequence[ImageLike], identity: bool = True, role: str = "source"
    ) -> list[SourceFace]:
        """The most prominent face of each photo; InputError if one has none."""
        loaded = [_load(i) for i in images]
        found = self.detector.detect([x.rgb for x in loaded])
        out = []
        for img, faces in zip(loaded, found, strict=True):
            if not faces:
                raise InputError(f"{img.path}: no face found in the {role} image")
            face = self.landmarker.one(img.rgb, most_prominent(faces))
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
            raise UsageError("give at least one source image")
        if target_faces is not None and len(target_faces) != len(sources):
            raise UsageError(
                f"--target-faces needs one image per source: {len(sources)} sources, "
                f"{len(target_faces)} target faces"
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
    ) -> tuple[Selection, list[SourceIdentity]]:
        """How to pick target faces, and the source identities (one per mapped target face)."""
        if target_faces:
            refs = tuple(self.identity_of(p, "target-face") for p in target_faces)
            selection = Selection(target_refs=refs, threshold=self.similarity)
        elif reference is not None:
            selection = Selection(
                reference=self.identity_of(reference, "reference"), threshold=self.similarity
            )
        else:
            selection = Selection(many=many, threshold=self.similarity)
        src_faces = self.source_faces(sources, identity=selection.needs_identity)
        if target_faces:
            return selection, [SourceIdentity.combine([f]) for f in src_faces]
        return selection, [SourceIdentity.combine(src_faces)]

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
    ) -> SwapResult:
        """Swap faces in one target image.

        anime: True for illustrations (anime detector, line-art swap), False for photos, None to
        decide: anime when no photographic face is found and the anime cascade is installed.

        source: one photo, or several. Without `target_faces` several photos are one person,
        combined; with `target_faces`, source i replaces the faces that look like target_faces[i].
        many: replace every face, not only the most prominent. reference: replace only faces of
        the person in this photo (within `similarity`). progress: a callback
        `(stage, number, stages)`, True for a status line on stderr, None for one only on a
        terminal.
        """
        report = resolve(progress)
        try:
            return self._swap_image(
                source, target, many, reference, target_faces, output, anime, report
            )
        finally:
            if report is not None and hasattr(report, "close"):
                report.close()

    def _swap_image(
        self, source, target, many, reference, target_faces, output, anime, report
    ) -> SwapResult:
        timings: dict[str, float] = {}
        if output is not None:
            output_format(output)
        sources = self._plan(source, target, many, reference, target_faces, output)
        _stage(report, "read", 1)
        t = time.perf_counter()
        tgt = _load(target)
        timings["read"] = time.perf_counter() - t

        detected: list[Face] = []
        auto = anime is None
        if anime is not True:
            _stage(report, "detect", 2)
            t = time.perf_counter()
            detected = self.detector.detect([tgt.rgb])[0]
            if not detected:
                tgt, detected = self._upright(tgt)
            timings["detect"] = time.perf_counter() - t
            if not detected and auto and self._anime_installed():
                anime = True  # no photographic face, and an anime detector is at hand
        if anime:
            if reference is not None or target_faces:
                raise UsageError(
                    "--reference and --target-faces need identity; not for anime faces"
                )
            return self._swap_anime(sources, tgt, many, output, timings, auto, report)
        if not detected:
            hint = " (an illustration? try --anime)" if auto else ""
            raise InputError(f"{tgt.path}: no face found in the target image{hint}")

        t = time.perf_counter()
        selection, identities = self._selection_and_sources(sources, many, reference, target_faces)
        need_id = selection.needs_identity
        timings["source"] = time.perf_counter() - t
        _stage(report, "landmarks", 3)
        t = time.perf_counter()
        faces = self.landmarker([tgt.rgb], [detected])[0]
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
        return self._finish(self.swapper, tgt, faces, jobs, output, timings, report)

    def _upright(self, tgt: LoadedImage) -> tuple[LoadedImage, list[Face]]:
        """A photo whose faces lie on their side (a phone picture without its EXIF rotation):
        try the other three quarter turns; the swap is turned back before writing."""
        for k in (1, 3, 2):
            turned = np.ascontiguousarray(np.rot90(tgt.rgb, k))
            found = self.detector.detect([turned])[0]
            if found:
                alpha = None if tgt.alpha is None else np.ascontiguousarray(np.rot90(tgt.alpha, k))
                return LoadedImage(turned, alpha, tgt.path, tgt.format, turned=k), found
        return tgt, []

    def _finish(
        self, engine, tgt: LoadedImage, faces, jobs, output, timings, report=None
    ) -> SwapResult:
        """Swap, watermark, label and write: the end every image swap shares."""
        _stage(report, "swap", 4)
        t = time.perf_counter()
        image = engine.swap([tgt.rgb], jobs)[0]
        timings["swap"] = time.perf_counter() - t
        label = make_label(engine.source_type) if self.label else None
        swapped = [job.target for job in jobs]
        alpha = tgt.alpha
        if tgt.turned:  # faces were found on a quarter-turned copy: turn everything back
            k = tgt.turned
            image = np.ascontiguousarray(np.rot90(image, -k))
            alpha = None if alpha is None else np.ascontiguousarray(np.rot90(alpha, -k))
            h, w = image.shape[:2]
            faces = [_unturn_face(f, k, w, h) for f in faces]
            swapped = [_unturn_face(f, k, w, h) for f in swapped]
        if self.watermark is not None:
            image = self.watermark(image.copy())
        result = SwapResult(image, alpha, faces, swapped, label, timings=timings)
        result.notes = [f"{tgt.path}: {tgt.note}"] if tgt.note else []
        if tgt.turned:
            result.notes.append(
                f"{tgt.path}: its faces lie on their side; found after a quarter turn"
            )
        if output is not None:
            _stage(report, "write", 5)
            t = time.perf_counter()
            write_image(output, image, alpha, label, self.quality)
            timings["write"] = time.perf_counter() - t
            result.output = str(output)
        timings["total"] = sum(v for k, v in timings.items() if k != "total")
        if report is not None:
            report("done", 5, 5)
        return result

    def _anime_installed(self) -> bool:
        from twoface.anime import anime_available

        return anime_available(self.store)

    @property
    def anime(self):
        """The anime analyser (detector + 28-point landmarks when installed), made on first use."""
        if self._anime is None:
            from twoface.anime import AnimeAnalyzer

            self._anime = AnimeAnalyzer(self.store, self.anime_detector, self.device)
        return self._anime

    def _swap_anime(
        self, sources, tgt: LoadedImage, many: bool, output, timings, auto=False, report=None
    ) -> SwapResult:
        """The line-art swap. With `auto` (no --anime) this runs only because the photo detector
        found no face in the target, so the messages say what was tried."""
        from twoface.anime.swap import AnimeSwapper

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
        loaded = [_load(s) for s in sources]
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
        return self._finish(AnimeSwapper(), tgt, faces, jobs, output, timings, report)

    def swap_video(
        self,
        source: ImageLike | Sequence[ImageLike],
        target: str | os.PathLike,
        output: str | os.PathLike,
        *,
        many: bool = False,
        reference: ImageLike | None = None,
        target_faces: Sequence[ImageLike] | None = None,
        crf: int = 18,
        preset: str = "medium",
        codec: str | None = None,
        batch_size: int = 8,
        progress: bool | None | ProgressCallback = None,
        trim: tuple[float, float] | None = None,
        track_identity: bool = True,
    ):
        """Swap faces through a whole video (or animated GIF/WebP), streaming; output labelled.

        Selection works as in `swap_image` but is decided once per tracked person, so nobody
        flips between swapped and unswapped; with `track_identity` a person who leaves and comes
        back keeps their track. trim: (start, end) in seconds, cutting video and audio alike.
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

        check_video_output(output)
        video_codec = codec or default_codec(output)
        if video_codec is not None:
            check_encoder_options(crf, preset, video_codec)
        if trim is not None:
            start, end = (float(x) for x in trim)
            if not (0 <= start < end):
                raise UsageError(f"--trim needs 0 <= START < END, got {start:g} {end:g}")
            trim = (start, end)
        sources = self._plan(source, target, many, reference, target_faces, output)
        info = probe(target)
        if trim is not None and info.duration is not None and trim[0] >= info.duration:
            raise InputError(
                f"{target}: --trim starts at {trim[0]:g} s but the video lasts {info.duration:.2f} s"
            )
        selection, identities = self._selection_and_sources(sources, many, reference, target_faces)
        label = make_label(self.swapper.source_type) if self.label else None
        notes = audio_notes(info, output)
        result = run_video(
            self,
            identities,
            selection,
            str(target),
            info,
            str(output),
            label,
            crf=crf,
            preset=preset,
            codec=codec,
            batch_size=batch_size,
            progress=progress,
            trim=trim,
            watermark=self.watermark,
            track_identity=track_identity,
        )
        result.notes = notes
        return result

    def _no_match_message(self, path, faces, selection, reference, target_faces) -> str:
        refs = [selection.reference] if selection.reference is not None else selection.target_refs
        closest = min(identity_distance(f.embedding, r) for f in faces for r in refs)
        names = (
            Path(str(reference)).name
            if reference is not None
            else ", ".join(Path(str(p)).name for p in target_faces or [])
        )
        return (
            f"{path}: none of its {len(faces)} faces matches {names} (closest identity "
            f"distance {closest:.2f} > --similarity {self.similarity:.2f})"
        )
