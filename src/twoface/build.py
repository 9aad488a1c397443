"""The one place names become objects.

A name is either built in (shipped with the package: `BUILTINS`) or a catalogue entry, and each
names its implementation as "module:attribute". `build(task, name)` imports it and calls its
`from_entry(entry, ctx)` (or the attribute itself, for a plain factory function), so adding a
model is one module and one catalogue entry. An unknown name, a name of another task, or an entry
twoface cannot run yet is a one-line UsageError that lists the runnable choices (exit 2). The swapper
name `auto` (the default) is decided here too, by `choose_swapper`: the best learned swapper the
store holds, else the classical engine with a note that it is the offline fallback.

`ModelPool` keeps what was built, keyed by (task, name, device, dtype, options), so image swaps,
video swaps and later the UI share loaded models.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

from twoface.config import RuntimeConfig
from twoface.errors import UsageError
from twoface.zoo.catalogue import CATALOGUE, ModelEntry

# Built-in models: (task, implementation). They need no file from the store.
BUILTINS: dict[str, tuple[str, str]] = {
    "retinaface": ("detect", "twoface.detect.retinaface:RetinaFaceDetector"),
    "dlib-hog": ("detect", "twoface.detect.dlib_hog:DlibHogDetector"),
    "dlib68": ("landmarks", "twoface.landmarks.dlib68:Dlib68Landmarker"),
    "none": ("landmarks", "twoface.landmarks.keypoints_only:KeypointsOnly"),
    "dlib128": ("identity", "twoface.identity.dlib128:Dlib128Encoder"),
    "classical": ("swap", "twoface.swap.classical:ClassicalEngine"),
}
# What a task's names are called in messages.
TASK_WORDS = {
    "detect": "detector",
    "anime-detect": "anime detector",
    "landmarks": "landmarker",
    "anime-landmarks": "anime landmarker",
    "identity": "encoder",
    "swap": "swapper",
    "parse": "face parser",
    "occlude": "occluder",
    "restore": "enhancer",
}


def resolve(impl: str) -> Any:
    module, _, attr = impl.partition(":")
    return getattr(importlib.import_module(module), attr)


def runnable(task: str) -> list[str]:
    """Names of `task` twoface can build: built-ins first, then catalogue entries with an
    implementation."""
    names = [n for n, (t, _) in BUILTINS.items() if t == task]
    return names + [e.name for e in CATALOGUE.values() if e.task == task and e.impl]


AUTO = "auto"  # the default swapper: the best learned one installed, else the classical engine
# Learned swappers, best first, for `--swapper auto`: the recommended inswapper_128 (the most
# faithful published weights), its fp16 copy, HyperSwap, then ReSwapper (trained to reproduce
# inswapper; the later and larger checkpoints first), SimSwap and GHOST. Only these: a model a user
# imported under their own name runs when named, never by surprise.
SWAPPER_PREFERENCE: tuple[str, ...] = (
    "inswapper_128",
    "inswapper_128_fp16",
    # HyperSwap (FaceFusion's default since 3.3) works at 256 px; after inswapper only because
    # twoface's paste-back has been judged by eye with inswapper's real weights, not yet these.
    "hyperswap_1a_256",
    "hyperswap_1b_256",
    "hyperswap_1c_256",
    *(
        f"reswapper_{size}_{step}{fmt}"
        for size, step in ((256, 1567500), (256, 1399500), (128, 1019500), (128, 429500))
        for fmt in ("_onnx", "")
    ),
    "simswap_512",
    "simswap_224",
    "ghost_unet_3blocks",
    "ghost_unet_2blocks",
    "ghost_linknet_2blocks",
    "ghost_unet_1block",
)
FALLBACK_NOTE = (
    "no learned swapper is installed, so the classical engine ran (the offline fallback); "
    "for a learned swap: `twoface models get --recommended`"
)


def choose_swapper(store) -> tuple[str, str | None]:
    """What `auto` means with this store: (the best learned swapper whose file, and its identity
    encoder's, are in the store and can run here, None), else ("classical", FALLBACK_NOTE).
    Only looks at files (no download, no load), so it is offline and quick."""
    import importlib.util

    torch = None  # looked up once, only if a PyTorch-format file is installed
    for name in SWAPPER_PREFERENCE:
        entry = CATALOGUE.get(name)
        if entry is None or entry.impl is None or not store.path(entry).is_file():
            continue
        pair = CATALOGUE.get(entry.pairs_with) if entry.pairs_with else None
        if entry.pairs_with and (pair is None or not store.path(pair).is_file()):
            continue
        if "torch" in (entry.format, pair.format if pair else None):
            if torch is None:
                torch = importlib.util.find_spec("torch") is not None
            if not torch:
                continue
        return name, None
    return "classical", FALLBACK_NOTE


def runs_today(name: str) -> bool:
    entry = CATALOGUE.get(name)
    return name in BUILTINS or (entry is not None and entry.impl is not None)


@dataclass
class BuildContext:
    """What an implementation's `from_entry` may use: the store (files), the runtime, the pool
    (to build what it pairs with), and options for its constructor."""

    store: Any
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    pool: ModelPool | None = None
    options: dict = field(default_factory=dict)

    def find(self, entry: ModelEntry | str):
        """The cached file of an entry (one-line ModelError saying how to get it otherwise)."""
        return self.store.find(entry)

    def construct(self, cls, *args, spec: dict | None = None, **preferred):
        """cls(*args, **kwargs) with the runtime settings and options its constructor accepts.
        `spec`: values from the catalogue entry's spec (size, mean, std ...), passed only to
        parameters the constructor names."""
        settings = {
            "runtime": self.runtime.runtime,
            "device": self.runtime.device,
            "half": self.runtime.half,
            "compile": self.runtime.compile,
        }
        params = inspect.signature(cls).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        accepted = {k: v for k, v in settings.items() if k in params}
        # Options are the caller's own (e.g. threads): offered to whoever takes them.
        options = {**self.options, **preferred}
        accepted |= {k: v for k, v in options.items() if takes_any or k in params}
        accepted |= {
            k: v
            for k, v in (spec or {}).items()
            if v is not None and k in params and k not in options
        }
        return cls(*args, **accepted)


def build(task: str, name: str, ctx: BuildContext):
    """The object for model `name` of `task` (a detector, landmarker, encoder, generator...)."""
    word = TASK_WORDS.get(task, task)
    if name in BUILTINS:
        built_task, impl = BUILTINS[name]
        if built_task != task:
            raise _unknown(task, name, word)
        factory = resolve(impl)
        maker = getattr(factory, "from_entry", None)
        return maker(None, ctx) if maker else ctx.construct(factory)
    entry = CATALOGUE.get(name)
    if entry is None or entry.task != task:
        raise _unknown(task, name, word)
    if entry.impl is None:
        raise UsageError(
            f"{word} {name} is in the catalogue but twoface cannot run it yet; "
            f"choose from {', '.join(runnable(task))}",
            task,
        )
    if entry.format == "torch" or (ctx.runtime.runtime == "torch" and entry.format == "onnx"):
        from twoface.runtime import require_torch

        require_torch(f"{word} {name}")
    factory = resolve(entry.impl)
    return getattr(factory, "from_entry", factory)(entry, ctx)


def _unknown(task: str, name: str, word: str) -> UsageError:
    return UsageError(f"unknown {word} {name!r}; choose from {', '.join(runnable(task))}", task)


class ModelPool:
    """Built models, shared: one object per (task, name, device, dtype, options)."""

    def __init__(self, store, runtime: RuntimeConfig | None = None) -> None:
        self.store = store
        self.runtime = runtime or RuntimeConfig()
        self._models: dict[tuple, Any] = {}

    def get(self, task: str, name: str, runtime: RuntimeConfig | None = None, **options):
        rt = runtime or self.runtime
        key = (
            task,
            name,
            rt.device,
            rt.dtype,
            rt.runtime,
            rt.compile,
            tuple(sorted(options.items())),
        )
        if key not in self._models:
            ctx = BuildContext(self.store, rt, self, dict(options))
            self._models[key] = build(task, name, ctx)
        return self._models[key]
