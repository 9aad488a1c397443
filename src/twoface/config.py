"""Typed configuration: frozen dataclasses built once (by the CLI, the API's keywords, later the
UI or a job file) and passed down. Models and runtime say what is loaded and where; selection
and output are per request, so they never live in the object that holds loaded models.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from twoface.errors import UsageError
from twoface.mask.base import MaskSettings


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """Where models run. runtime: onnxruntime or torch (for ONNX files); device: a PyTorch
    device ("cpu", "cuda", "cuda:1"; None = CUDA when present); half: fp16 generator; compile:
    torch.compile the generator."""

    runtime: str = "onnxruntime"
    device: str | None = None
    half: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        if self.runtime not in ("onnxruntime", "torch"):
            raise UsageError(
                f"unknown runtime {self.runtime!r}; use onnxruntime or torch", "runtime"
            )

    @property
    def dtype(self) -> str:
        return "float16" if self.half else "float32"


@dataclass(frozen=True, slots=True)
class ModelsConfig:
    """Which models, by name (built-in or catalogue): `twoface models list` shows them."""

    detector: str = "retinaface"
    landmarker: str = "dlib68"
    encoder: str = "dlib128"  # identity for --reference / --target-faces and tracking
    # auto: the best learned swapper in the store, else the classical engine (the offline
    # fallback; twoface.build.choose_swapper). The Swapper resolves it when it is built.
    swapper: str = "auto"
    anime_detector: str = "anime_lbpcascade"
    models_dir: str | os.PathLike | None = None
    offline: bool = False
    detector_options: tuple[tuple[str, object], ...] = ()  # e.g. (("threads", 1),)


@dataclass(frozen=True, slots=True)
class SelectionConfig:
    """Which target faces are replaced. similarity: the largest identity distance that counts as
    the same person, in the encoder's own scale (None: the encoder's threshold)."""

    many: bool = False
    reference: object | None = None  # a path or an RGB array
    target_faces: tuple = ()
    similarity: float | None = None
    # Images: exactly these faces, numbered as `twoface detect` numbers them (detection order),
    # each with the source it gets: ((face, source), ...). Sources are then separate people.
    assign: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.reference is not None and self.target_faces:
            raise UsageError("use either a reference or target faces, not both", "reference")
        if self.assign and (self.reference is not None or self.target_faces or self.many):
            raise UsageError(
                "picked faces (assign) go alone, without many, a reference or target faces",
                "assign",
            )
        for pair in self.assign:
            if len(pair) != 2 or min(pair) < 0:
                raise UsageError(
                    f"assign takes (face, source) index pairs >= 0, got {pair!r}", "assign"
                )
        if self.similarity is not None and not self.similarity > 0:
            raise UsageError(f"similarity must be positive, got {self.similarity}", "similarity")


@dataclass(frozen=True, slots=True)
class OutputConfig:
    """How results are written: image quality, label, watermark, and the video encode.
    sign_cert / sign_key: the PEM certificate chain and private key that sign the content
    credentials (C2PA) of a labelled output; None (both): this install's own key, made in the
    model store on first use (twoface.io.credentials)."""

    quality: int = 95
    label: bool = True
    watermark: str | None = None
    crf: int = 18
    preset: str = "medium"
    codec: str | None = None
    trim: tuple[float, float] | None = None
    batch_size: int = 8
    sign_cert: str | None = None
    sign_key: str | None = None

    def __post_init__(self) -> None:
        if (self.sign_cert is None) != (self.sign_key is None):
            if self.sign_key is None:
                raise UsageError(
                    "sign_key is missing: a certificate signs only with its private key",
                    "sign_key",
                )
            raise UsageError(
                "sign_cert is missing: the private key needs its certificate chain", "sign_cert"
            )
        if not 1 <= self.quality <= 100:
            raise UsageError(f"quality must be between 1 and 100, got {self.quality}", "quality")
        if self.trim is not None:
            start, end = (float(x) for x in self.trim)
            if not 0 <= start < end:
                raise UsageError(f"trim needs 0 <= START < END, got {start:g} {end:g}", "trim")
        if self.batch_size < 1:
            raise UsageError(f"batch size must be at least 1, got {self.batch_size}", "batch_size")


@dataclass(frozen=True, slots=True)
class FinishConfig:
    """What a learned swap is pasted through and finished with (the classical and anime engines
    mask and blend by their own rules). masks: twoface.mask.MaskSettings (None: the
    generator's own masks). enhancer: a restorer's catalogue name (None: none), mixed in by
    enhancer_blend (0: unchanged, 1: the restorer's face) with CodeFormer's fidelity weight
    enhancer_weight. pixel_boost: the crop size a 128/256-px swapper works at (256, 512).
    ghost_sr: the GHOST swappers run sber-swap's super-resolution model on their output."""

    masks: MaskSettings | None = None
    enhancer: str | None = None
    enhancer_blend: float = 0.8
    enhancer_weight: float = 0.5
    pixel_boost: int | None = None
    ghost_sr: bool = False  # GHOST swappers: sber-swap's super-resolution on the generated face

    def __post_init__(self) -> None:
        if not 0 <= self.enhancer_blend <= 1:
            raise UsageError(
                f"enhancer blend must be in [0, 1], got {self.enhancer_blend:g}", "enhancer_blend"
            )
        if not 0 <= self.enhancer_weight <= 1:
            raise UsageError(
                f"enhancer weight must be in [0, 1], got {self.enhancer_weight:g}",
                "enhancer_weight",
            )


@dataclass(frozen=True, slots=True)
class Config:
    """Everything a Swapper is built from."""

    models: ModelsConfig = field(default_factory=ModelsConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    finish: FinishConfig = field(default_factory=FinishConfig)


def as_tuple(value) -> tuple:
    """Sequences (not arrays or paths) as tuples, for frozen configs."""
    if value is None:
        return ()
    if isinstance(value, str | os.PathLike | np.ndarray):
        return (value,)
    return tuple(value)
