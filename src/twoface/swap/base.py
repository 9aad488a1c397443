"""What flows into a swap (source identities, jobs) and the two seams swaps are built on.

- `Engine.swap(frames, jobs) -> frames`: a whole-image engine. The classical and anime warps are
  engines; so is `LearnedEngine` (twoface.swap.engine), which composes the stages below.
- `Generator`: aligned target crops and source latents in, generated crops out. It never pastes
  anything back: masks (twoface.mask), an enhancer (twoface.enhance) and the compositor
  (twoface.swap.compositor) are stages of their own.
"""

from __future__ import annotations

import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from twoface.types import Face

# IPTC digital source types, the label's: a trained model generated the face (TRAINED), or a
# warp of the source photo made it (COMPOSITE: the classical and anime engines). Swap components
# register with theirs (twoface.registry.Capability.label).
TRAINED = "compositeWithTrainedAlgorithmicMedia"
COMPOSITE = "compositeSynthetic"
# What every learned swapper consumes besides its runtime settings: the aligned crops, the
# source identity, and the finish the learned engine wraps it in (masks, enhancer, pixel boost).
LEARNED = ("crops", "identity", "masks", "enhancer", "pixel_boost")


@dataclass(frozen=True, slots=True, eq=False)
class SourceFace:
    """One photo of the source person and the face found in it."""

    image: np.ndarray  # RGB uint8
    face: Face
    origin: str = "<array>"


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class SourceIdentity:
    """A source person: one or more photos, combined.

    `embedding` is the mean identity descriptor of all photos (used for matching and by learned
    swappers); the classical engine picks, per target face, the photo whose pose fits it best.
    """

    faces: tuple[SourceFace, ...]
    embedding: np.ndarray | None = None

    @classmethod
    def combine(cls, faces: Sequence[SourceFace]) -> SourceIdentity:
        embs = [f.face.embedding for f in faces if f.face.embedding is not None]
        emb = np.mean(embs, axis=0).astype(np.float32) if embs else None
        return cls(faces=tuple(faces), embedding=emb)


def normed(v: np.ndarray) -> np.ndarray:
    """`v` over its length (a zero vector stays zero), float32."""
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def mean_embedding(encoder, identity: SourceIdentity) -> np.ndarray:
    """The normed mean of `encoder`'s normed embeddings of the source photos (ArcFace, aligned by
    their keypoints): the identity the insightface-family swappers take."""
    emb = encoder.embed([f.image for f in identity.faces], [f.face.kps for f in identity.faces])
    return normed(emb.mean(0))


class RunState:
    """What one run remembers between frames: per tracked person (smoothed decisions, a mask's
    parameters) and per source photo (what it holds). The runner makes one per video or live
    stream and every job of the run carries it, so built engines and maskers, which a model
    pool shares between runs and threads, keep none: two streams never see each other's
    people, and a new run starts with nothing."""

    def __init__(self) -> None:
        self._slots: dict[str, object] = {}

    def slot(self, key: str, factory: Callable[[], object]):
        """The run's value under `key` (a component's own name), made by `factory` at first."""
        if key not in self._slots:
            self._slots[key] = factory()
        return self._slots[key]


@dataclass(frozen=True, slots=True, eq=False)
class SwapJob:
    """Replace `target` in frame `frame_index` of a batch by `source`; `run`: the run's memory
    (None for a single image: the engine makes one for the call)."""

    frame_index: int
    target: Face
    source: SourceIdentity
    run: RunState | None = None


class PerSource:
    """A value computed once per SourceIdentity (an embedding, a latent) and dropped with it.

    Keyed by the object itself, weakly: keying by id() would hand a new identity the value of
    a freed one that happened to get the same address.
    """

    def __init__(self, compute: Callable[[SourceIdentity], object]) -> None:
        self._compute = compute
        self._values: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __call__(self, source: SourceIdentity):
        if source not in self._values:
            self._values[source] = self._compute(source)
        return self._values[source]


class Engine(ABC):
    """Swaps faces in whole frames."""

    name: str = "engine"
    # IPTC digitalSourceType of what this engine makes: a trained model generated the face
    # (engines without one, the classical and anime warps, say compositeSynthetic).
    source_type: str = TRAINED

    @abstractmethod
    def swap(self, frames: Sequence[np.ndarray], jobs: Sequence[SwapJob]) -> list[np.ndarray]:
        """New frames with every job applied; frames without a job come back unchanged."""

    def begin(
        self, frames: Sequence[np.ndarray], jobs: Sequence[SwapJob]
    ) -> Callable[[], list[np.ndarray]]:
        """`swap` in two parts for a pipeline: what must run in order with the models now, and
        a callable for the rest (pasting back), which a video's pipeline runs in a thread of its
        own while the next batch is generated. Called in order; the callables too. By default
        everything is left to the callable."""
        return lambda: self.swap(frames, jobs)

    @classmethod
    def from_entry(cls, entry, ctx) -> Engine:
        return ctx.construct(cls)


@dataclass(frozen=True, slots=True)
class GeneratorSpec:
    """What a generator consumes and makes, from its catalogue entry: crop side and alignment
    template of its input (and output) crops."""

    size: int
    template: str


class Generator(ABC):
    """A learned face generator: batch-first, RGB uint8 crops in and out."""

    name: str = "generator"
    spec: GeneratorSpec
    # Maskers a generator's authors paste back with (twoface.mask names), used when none are
    # asked for: e.g. ["area"] for generators whose crop holds hair and background.
    default_masks: tuple[str, ...] = ()

    @abstractmethod
    def latents(self, sources: Sequence[SourceIdentity]):
        """One identity latent per source (stacked, in the generator's own type)."""

    @abstractmethod
    def generate(self, crops: np.ndarray, latents) -> np.ndarray:
        """(N, S, S, 3) uint8 aligned target crops and N latents -> (N, S, S, 3) uint8 crops."""

    def generate_later(self, crops: np.ndarray, latents) -> Callable[[], tuple[np.ndarray, float]]:
        """Start generating; the callable returned waits for the crops and gives them with the
        seconds the generator spent on them. A generator on a GPU returns at once, so a video's
        pipeline prepares the next batch while the device works; this default generates now."""
        t = time.perf_counter()
        out = self.generate(crops, latents)
        seconds = time.perf_counter() - t
        return lambda: (out, seconds)
