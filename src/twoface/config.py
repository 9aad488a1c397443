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
from twoface.options import option


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

    many: bool = option(False, "replace every face, not only the largest", flag="--many")
    reference: object | None = option(  # a path or an RGB array
        None,
        "replace only the faces of the person in this photo",
        flag="--reference",
        metavar="PATH",
    )
    target_faces: tuple = option(
        (),
        "one photo per source: source i replaces the faces like target-face i",
        flag="--target-faces",
        metavar="PATH",
        nargs="+",
    )
    similarity: float | None = option(
        None,
        "largest identity distance that counts as the same person for "
        "--reference/--target-faces, in the encoder's scale: dlib128 Euclidean (default 0.6), "
        "arcface_w600k_r50 cosine distance 1 - cos (default 0.6); lower is stricter",
        flag="--similarity",
        metavar="F",
    )
    # Images: exactly these faces, numbered as `twoface detect` numbers them (detection order),
    # each with the source it gets: ((face, source), ...). Sources are then separate people.
    assign: tuple[tuple[int, int], ...] = option(
        (),
        "images: replace exactly these faces, numbered as `twoface detect` numbers them; "
        "K:S gives face K source S (default source 0), e.g. --faces 1 or --faces 0:1,1:0",
        flag="--faces",
        metavar="K[:S],...",
        parse=lambda text: assignments(text),
    )

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

    quality: int = option(95, "JPEG/WebP quality 1-100", flag="--quality", metavar="N")
    label: bool = option(
        True,
        "do not write the AI-generated label nor the content credentials (not recommended)",
        flag="--no-label",
        negate=True,
    )
    watermark: str | None = option(
        None,
        "also draw TEXT visibly in the bottom-right corner (e.g. 'AI-generated')",
        flag="--watermark",
        metavar="TEXT",
    )
    crf: int = option(
        18,
        "video quality, lower is better: H.264/H.265 0-51, VP9 0-50",
        flag="--crf",
        metavar="N",
    )
    preset: str = option(
        "medium", "x264/x265 speed preset: ultrafast ... medium ... veryslow", flag="--preset"
    )
    codec: str | None = option(
        None,
        "video codec (default: H.264; VP9 for .webm)",
        flag="--codec",
        choices=("libx264", "libx265", "libvpx-vp9"),
    )
    trim: tuple[float, float] | None = option(
        None,
        "video: keep only START to END seconds (video and audio alike)",
        flag="--trim",
        metavar=("START", "END"),
    )
    batch_size: int = 8
    encoders: int = option(
        1,
        "video: x264/x265 instances encoding consecutive segments at once, joined in one "
        "stream (auto: one per 4 cores, at most 4; 1 below 8 cores): past one encoder's speed "
        "with the slower presets",
        flag="--encoders",
        metavar="N|auto",
        parse=lambda text: encoders_count(text),
    )
    sign_cert: str | None = option(
        None,
        "sign the content credentials (C2PA) with this certificate chain (PEM, signing "
        "certificate first); default: this install's own key, which no public validator trusts",
        flag="--sign-cert",
        metavar="PEM",
    )
    sign_key: str | None = option(
        None, "the private key of --sign-cert (unencrypted PEM)", flag="--sign-key", metavar="PEM"
    )

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
        if not 0 <= self.encoders <= 16:
            raise UsageError(f"encoders must be auto (0) or 1-16, got {self.encoders}", "encoders")


@dataclass(frozen=True, slots=True)
class FinishConfig:
    """What a learned swap is pasted through and finished with (the classical and anime engines
    mask and blend by their own rules). masks: twoface.mask.MaskSettings (None: the
    generator's own masks). enhancer: a restorer's catalogue name (None: none), mixed in by
    enhancer_blend (0: unchanged, 1: the restorer's face) with CodeFormer's fidelity weight
    enhancer_weight. pixel_boost: the crop size a 128/256-px swapper works at (256, 512).
    ghost_sr: the GHOST swappers run sber-swap's super-resolution model on their output."""

    masks: MaskSettings | None = None
    enhancer: str | None = option(
        None,
        "face restorer after the swap: gfpgan_1.4_onnx, codeformer_onnx, gpen_bfr_512, "
        "restoreformer_plus_plus ... (`twoface models list`)",
        flag="--enhancer",
        feeds="enhancer",
        metavar="NAME",
    )
    enhancer_blend: float = option(
        0.8,
        "how much of the restored face: 0 (none) to 1 (all)",
        flag="--enhancer-blend",
        feeds="enhancer",
        metavar="F",
    )
    enhancer_weight: float = option(
        0.5,
        "CodeFormer's fidelity weight: 0 most restored, 1 closest to the swap",
        flag="--enhancer-weight",
        feeds="enhancer",
        metavar="F",
    )
    pixel_boost: int | None = option(
        None,
        "run a 128-px swapper on a 256/512-px crop as 2x2/4x4 tiles (sharper faces)",
        flag="--pixel-boost",
        feeds="pixel_boost",
        choices=(256, 512),
    )
    ghost_sr: bool = option(  # GHOST swappers: sber-swap's super-resolution on the face
        False,
        "GHOST swappers: sber-swap's super-resolution model (ghost_sr) on the generated face",
        flag="--ghost-sr",
        feeds="ghost_sr",
    )

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


def encoders_count(text: str) -> int:
    """`--encoders N|auto`: a count, auto as 0."""
    import argparse

    if text.strip().lower() == "auto":
        return 0
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of encoders or auto") from None


def assignments(text: str) -> tuple[tuple[int, int], ...]:
    """`--faces 1` or `--faces 0:1,1:0`: (face, source) pairs; the source defaults to 0."""
    import argparse

    pairs = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        face, _, source = part.partition(":")
        try:
            pairs.append((int(face), int(source or 0)))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{part!r}: give face numbers, or face:source pairs, e.g. 1 or 0:1"
            ) from None
    return tuple(pairs)


def as_tuple(value) -> tuple:
    """Sequences (not arrays or paths) as tuples, for frozen configs."""
    if value is None:
        return ()
    if isinstance(value, str | os.PathLike | np.ndarray):
        return (value,)
    return tuple(value)
