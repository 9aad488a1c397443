"""Components register themselves beside their code.

A component (a detector, landmarker, identity encoder, swap engine or generator, masker, face
parser, occluder, restorer, anime detector) is one module that calls `register(task, name, ...)`
on its class or factory with a frozen options dataclass and a capability record: its task,
name, architecture, what it consumes and produces, the label type it implies and whether it
ships with the package. Built-ins register under their own name (`shipped=True`); the
architectures of the model zoo register under the architecture name a catalogue entry gives
(`shipped=False`), so `twoface.build` turns (entry.task, entry.arch) into code through here,
never through a string read from data. Fronts (CLI, API, UI, job files) never list components:
they ask the registry (`names`, `components`), validate through it (`parse_options`), and
`twoface components [--json]` prints it.

Discovery: the first question imports every module of twoface's component packages
(`COMPONENT_PACKAGES`, walked with pkgutil) except the `*_net` modules, which hold PyTorch
networks and are imported only by the factory that needs them, so listing components never
imports torch. Third-party packages add theirs through the `twoface.components` entry point
group: each entry names a module (or an object in one) that registers on import.

Options come from one parser: a mapping of option names to values (from CLI flags, API keywords,
UI forms or job JSON; strings are converted to the field's type) becomes the component's options
dataclass. An unknown key or a value of the wrong type is one UsageError naming it, the valid
keys, and carrying a field id ("mask.box.blur") that a front maps to its own control.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from twoface.errors import UsageError
from twoface.options import from_mapping, option, option_fields

__all__ = [
    "COMPONENT_PACKAGES",
    "ENTRY_POINT_GROUP",
    "Capability",
    "Component",
    "NoOptions",
    "components",
    "describe",
    "forward_to",
    "from_mapping",
    "get",
    "lookup",
    "names",
    "option",
    "option_fields",
    "parse_options",
    "plugin_errors",
    "register",
    "unregister",
]

# What a task's components are called in messages.
TASK_WORDS = {
    "detect": "detector",
    "anime-detect": "anime detector",
    "landmarks": "landmarker",
    "identity": "encoder",
    "swap": "swapper",
    "anime-swap": "anime engine",
    "mask": "mask",
    "parse": "face parser",
    "occlude": "occluder",
    "restore": "enhancer",
}
# The packages whose modules register twoface's own components (walked by `_load`).
COMPONENT_PACKAGES = (
    "detect",
    "landmarks",
    "identity",
    "swap",
    "mask",
    "enhance",
    "parse",
    "anime",
)
# Modules named so hold PyTorch code; their registering sibling imports them on first use.
NET_SUFFIX = "_net"
ENTRY_POINT_GROUP = "twoface.components"


@dataclass(frozen=True)
class Capability:
    """What a component is and does: read by fronts, never by the component itself.

    consumes: what it reads and which settings it uses -- data ("frames", "faces", "landmarks",
    "crops", "identity", "generated"), finishing ("masks" for every masker, "mask:NAME" for one,
    "enhancer", "pixel_boost", "ghost_sr") and runtime settings ("device", "half", "compile";
    "runtime": an ONNX graph, run by onnxruntime or, with --runtime torch, by twoface's
    interpreter, where "half" and "compile" then apply). The CLI's "this option does nothing
    here" notes are derived from it (twoface.cli.components.unused_flags).
    produces: what it gives (e.g. "masks", "boxes", "swapped crop, RGB 0..1").
    label: the IPTC digital source type its output implies (None: it does not decide the label).
    shipped: True when it needs no downloaded file."""

    task: str
    name: str
    architecture: str
    consumes: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    label: str | None = None
    shipped: bool = True
    summary: str = ""

    def takes(self, item: str) -> bool:
        """Whether it consumes `item` ("mask:box" is taken by a component taking "masks")."""
        family = item.split(":", 1)[0]
        return item in self.consumes or (family != item and f"{family}s" in self.consumes)


@dataclass(frozen=True)
class NoOptions:
    """A component that takes no options."""


@dataclass(frozen=True)
class Component:
    capability: Capability
    options: type
    factory: Callable[..., Any]

    @property
    def task(self) -> str:
        return self.capability.task

    @property
    def name(self) -> str:
        return self.capability.name


_REGISTRY: dict[tuple[str, str], Component] = {}
_LOCK = threading.RLock()
_STATE = {"loaded": False, "loading": False}
_PLUGIN_ERRORS: list[str] = []


def register(
    task: str,
    name: str,
    *,
    options: type = NoOptions,
    architecture: str | None = None,
    consumes: tuple[str, ...] = (),
    produces: tuple[str, ...] = (),
    label: str | None = None,
    shipped: bool = True,
    summary: str = "",
) -> Callable[[Any], Any]:
    """Class (or factory) decorator: registers it under (task, name) with its options dataclass.

    A factory is called as `factory(entry, ctx)` (a class: its `from_entry(entry, ctx)`), with
    entry None for a shipped component and the catalogue entry for a zoo architecture; `ctx`
    (twoface.build.BuildContext) holds the store, the runtime and the parsed options.
    Registering the same (task, name) again replaces the entry only when it is the same object
    (a module imported twice); another object under a taken name is a programming error."""
    if not (dataclasses.is_dataclass(options) and isinstance(options, type)):
        raise TypeError(f"{task} {name}: options must be a dataclass, got {options!r}")

    def decorate(factory):
        doc = (factory.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        cap = Capability(
            task,
            name,
            architecture or name,
            tuple(consumes),
            tuple(produces),
            label,
            shipped,
            summary or " ".join(doc.split()),
        )
        with _LOCK:
            old = _REGISTRY.get((task, name))
            if old is not None and _where(old.factory) != _where(factory):
                raise ValueError(f"{task} {name!r} is registered already ({old.factory!r})")
            _REGISTRY[(task, name)] = Component(cap, options, factory)
        return factory

    return decorate


def forward_to(module: str) -> Callable[[str], Any]:
    """A module-level `__getattr__` (PEP 562) for a registering module whose PyTorch code lives
    in `module` (its `*_net` sibling): a name it lacks is looked up there, importing it then,
    so `from twoface.swap.ghost import AEINet` works and registering imports no torch."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):  # probes (__path__, __wrapped__ ...) must not import torch
            raise AttributeError(name)
        return getattr(importlib.import_module(module), name)

    return __getattr__


def _where(factory: Any) -> tuple[str, str]:
    return getattr(factory, "__module__", ""), getattr(factory, "__qualname__", repr(factory))


def unregister(task: str, name: str) -> None:
    """Drop a registration (tests that register a toy component clean up with this)."""
    with _LOCK:
        _REGISTRY.pop((task, name), None)


def _component_modules() -> list[str]:
    """Every module of twoface's component packages, `*_net` modules left out."""
    import twoface

    out = []
    for package in COMPONENT_PACKAGES:
        prefix = f"twoface.{package}"
        out.append(prefix)
        path = [f"{twoface.__path__[0]}/{package}"]
        for info in pkgutil.walk_packages(path, prefix + "."):
            if not info.name.rsplit(".", 1)[-1].endswith(NET_SUFFIX):
                out.append(info.name)
    return out


def _load_plugins() -> None:
    """Third-party components: each `twoface.components` entry point is loaded (its module
    registers on import). One that fails is recorded (`plugin_errors`), not fatal."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as e:  # a broken plugin must not break twoface's own components
            _PLUGIN_ERRORS.append(f"plugin {ep.name} ({ep.value}): {type(e).__name__}: {e}")


def _load() -> None:
    """Import the component modules once (they register on import); quick after the first."""
    if _STATE["loaded"]:
        return
    with _LOCK:
        if _STATE["loaded"] or _STATE["loading"]:
            return  # loaded, or a module being imported asked (it sees what is there so far)
        _STATE["loading"] = True
        try:
            for module in _component_modules():
                importlib.import_module(module)
            _load_plugins()
            _STATE["loaded"] = True
        finally:
            _STATE["loading"] = False


def plugin_errors() -> list[str]:
    """Why third-party component plugins failed to load (empty when all did)."""
    _load()
    return list(_PLUGIN_ERRORS)


def names(task: str) -> list[str]:
    _load()
    return [n for (t, n) in list(_REGISTRY) if t == task]


def components(task: str | None = None) -> list[Component]:
    """The registered components (of `task`), grouped by task, each task's in registration
    order."""
    _load()
    order = {t: i for i, t in enumerate(TASK_WORDS)}
    found = [c for (t, _), c in list(_REGISTRY.items()) if task is None or t == task]
    return sorted(found, key=lambda c: order.get(c.task, len(order)))


def lookup(task: str, name: str) -> Component | None:
    """The component registered as (task, name), or None."""
    _load()
    return _REGISTRY.get((task, name))


def get(task: str, name: str) -> Component:
    comp = lookup(task, name)
    if comp is None:
        word = TASK_WORDS.get(task, task)
        raise UsageError(f"unknown {word} {name!r}; choose from {', '.join(names(task))}", task)
    return comp


def parse_options(task: str, name: str, values: Mapping[str, Any] | None = None) -> Any:
    """The options dataclass of component (task, name) from `values`; unknown keys and bad values
    are one UsageError naming them (field id "task.name.key")."""
    comp = get(task, name)
    if isinstance(values, comp.options):
        return values
    return from_mapping(comp.options, values or {}, f"{task}.{name}")


def describe(comp: Component) -> dict[str, Any]:
    """A component as JSON: its capability record and its options."""
    return {**dataclasses.asdict(comp.capability), "options": option_fields(comp.options)}
