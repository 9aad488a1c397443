"""The one place names become objects.

A name is either a shipped component's (registered with `shipped=True`: `retinaface`,
`dlib-hog`, `dlib68`, `none`, `dlib128`, `classical`) or a catalogue entry of the model store
(`store.catalogue`: the published entries and that store's user models), whose task and
architecture name a registered component (twoface.registry). `build(task, name, ctx)` finds
the component, parses the options given through its options dataclass (an unknown key or a bad
value is one UsageError naming it, the valid keys and a field id) and calls its factory
(`from_entry(entry, ctx)`, entry None for a shipped one). Nothing read from data is imported:
adding a model is one registered module and its catalogue entries. An unknown name, a name of
another task, or an entry twoface cannot run yet is a one-line UsageError that lists the
runnable choices (exit 2). The swapper name `auto` (the default) is decided here too, by
`choose_swapper`: the best learned swapper the store holds, else the classical engine with a
note that it is the offline fallback.

`ModelPool` keeps what was built, keyed by (task, name, device, dtype, options), so image swaps,
video swaps and later the UI share loaded models.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from twoface import registry
from twoface.config import ModelsConfig, RuntimeConfig
from twoface.errors import UsageError
from twoface.registry import TASK_WORDS, Component
from twoface.zoo.catalogue import CATALOGUE, ModelEntry

__all__ = [
    "AUTO",
    "FALLBACK_NOTE",
    "TASK_WORDS",
    "BuildContext",
    "ModelPool",
    "build",
    "choose_swapper",
    "component_for",
    "runnable",
    "runs_today",
    "shipped",
]


def shipped(task: str) -> list[str]:
    """The names of `task`'s shipped components (they need no file), the default first."""
    defaults = ModelsConfig()
    default = {"detect": defaults.detector, "landmarks": defaults.landmarker}.get(task)
    names = [c.name for c in registry.components(task) if c.capability.shipped]
    return sorted(names, key=lambda n: n != default)


def _zoo_component(entry: ModelEntry) -> Component | None:
    """The registered architecture that runs `entry`'s file; None: catalogued, not runnable."""
    comp = registry.lookup(entry.task, entry.arch)
    return comp if comp is not None and not comp.capability.shipped else None


def runnable(task: str, catalogue: Mapping[str, ModelEntry] | None = None) -> list[str]:
    """Names of `task` twoface can build: the shipped components first, then the catalogue's
    entries (the published catalogue unless a store's is given) whose architecture is
    registered."""
    entries = (catalogue if catalogue is not None else CATALOGUE).values()
    return shipped(task) + [e.name for e in entries if e.task == task and _zoo_component(e)]


def runs_today(name: str, catalogue: Mapping[str, ModelEntry] | None = None) -> bool:
    """Whether `name` is a shipped component or a catalogue entry twoface can run."""
    entry = (catalogue if catalogue is not None else CATALOGUE).get(name)
    if entry is not None:
        return _zoo_component(entry) is not None
    return any(c.name == name and c.capability.shipped for c in registry.components())


def component_for(
    task: str, name: str, catalogue: Mapping[str, ModelEntry] | None = None
) -> tuple[Component, ModelEntry | None]:
    """(the registered component, the catalogue entry or None when shipped) of model `name` of
    `task`; a one-line UsageError listing the runnable names otherwise."""
    catalogue = catalogue if catalogue is not None else CATALOGUE
    word = TASK_WORDS.get(task, task)
    comp = registry.lookup(task, name)
    if comp is not None and comp.capability.shipped:
        return comp, None
    entry = catalogue.get(name)
    if entry is None or entry.task != task:
        raise UsageError(
            f"unknown {word} {name!r}; choose from {', '.join(runnable(task, catalogue))}", task
        )
    comp = _zoo_component(entry)
    if comp is None:
        raise UsageError(
            f"{word} {name} is in the catalogue but twoface cannot run it yet; "
            f"choose from {', '.join(runnable(task, catalogue))}",
            task,
        )
    return comp, entry


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

    catalogue = store.catalogue
    torch = None  # looked up once, only if a PyTorch-format file is installed
    for name in SWAPPER_PREFERENCE:
        entry = catalogue.get(name)
        if entry is None or _zoo_component(entry) is None or not store.path(entry).is_file():
            continue
        pair = catalogue.get(entry.pairs_with) if entry.pairs_with else None
        if entry.pairs_with and (pair is None or not store.path(pair).is_file()):
            continue
        if "torch" in (entry.format, pair.format if pair else None):
            if torch is None:
                torch = importlib.util.find_spec("torch") is not None
            if not torch:
                continue
        return name, None
    return "classical", FALLBACK_NOTE


def _values(options: Any) -> dict[str, Any]:
    """Parsed options (a dataclass) or raw ones (a mapping) as keywords; None means "the
    component's own default" and is left out."""
    if dataclasses.is_dataclass(options) and not isinstance(options, type):
        options = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
    return {k: v for k, v in dict(options or {}).items() if v is not None}


@dataclass
class BuildContext:
    """What a component's factory may use: the store (files and its catalogue), the runtime,
    the pool (to build what it pairs with), and its options: given as a mapping, parsed by
    `build` into the component's options dataclass before the factory runs."""

    store: Any
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    pool: ModelPool | None = None
    options: Any = field(default_factory=dict)

    def find(self, entry: ModelEntry | str):
        """The cached file of an entry (one-line ModelError saying how to get it otherwise)."""
        return self.store.find(entry)

    def construct(self, cls, *args, spec: dict | None = None, **preferred):
        """cls(*args, **kwargs) with the runtime settings and options its constructor accepts.
        `spec`: values from the catalogue entry's spec (size, mean, std ...), passed only to
        parameters the constructor names and only where no option gives them."""
        settings = {
            "runtime": self.runtime.runtime,
            "device": self.runtime.device,
            "half": self.runtime.half,
            "compile": self.runtime.compile,
        }
        params = inspect.signature(cls).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        accepted = {k: v for k, v in settings.items() if k in params}
        options = {**_values(self.options), **preferred}
        accepted |= {k: v for k, v in options.items() if takes_any or k in params}
        accepted |= {
            k: v
            for k, v in (spec or {}).items()
            if v is not None and k in params and k not in options
        }
        return cls(*args, **accepted)


def build(task: str, name: str, ctx: BuildContext):
    """The object for model `name` of `task` (a detector, landmarker, encoder, generator...),
    its options (ctx.options) checked by the component's options dataclass first."""
    comp, entry = component_for(task, name, ctx.store.catalogue)
    options = registry.parse_options(task, comp.name, ctx.options)
    if entry is not None and (
        entry.format == "torch" or (ctx.runtime.runtime == "torch" and entry.format == "onnx")
    ):
        from twoface.runtime import require_torch

        require_torch(f"{TASK_WORDS.get(task, task)} {name}")
    factory = comp.factory
    ctx = dataclasses.replace(ctx, options=options)
    return getattr(factory, "from_entry", factory)(entry, ctx)


class ModelPool:
    """Built models, shared: one object per (task, name, device, dtype, options)."""

    def __init__(self, store, runtime: RuntimeConfig | None = None) -> None:
        self.store = store
        self.runtime = runtime or RuntimeConfig()
        self._models: dict[tuple, Any] = {}

    def get(
        self,
        task: str,
        name: str,
        runtime: RuntimeConfig | None = None,
        *,
        offered: Mapping[str, Any] | None = None,
        **options,
    ):
        """The built model; `options` are checked by its component (an unknown key is one
        UsageError), `offered` values go only to a component whose options name them (the
        finish's enhancer weight is CodeFormer's fidelity; a GFPGAN .pth has none)."""
        rt = runtime or self.runtime
        if offered:
            comp, _ = component_for(task, name, self.store.catalogue)
            takes = {f.name for f in dataclasses.fields(comp.options)}
            options = {**{k: v for k, v in offered.items() if k in takes}, **options}
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
