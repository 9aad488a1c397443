"""Components register themselves beside their code.

A component (a masker today; detectors, encoders, engines and enhancers move here next) is one
module that calls `register(...)` on its class with a frozen options dataclass and a capability
record: its task, name, architecture, what it consumes and produces, the label type it implies
and whether it ships with the package. Fronts (CLI, API, UI, job files) never list components:
they ask the registry (`names`, `components`), validate through it (`parse_options`), and
`twoface components [--json]` prints it.

Options come from one parser: a mapping of option names to values (from CLI flags, API keywords,
UI forms or job JSON; strings are converted to the field's type) becomes the component's options
dataclass. An unknown key or a value of the wrong type is one UsageError naming it, the valid
keys, and carrying a field id ("mask.box.blur") that a front maps to its own control.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from twoface.errors import UsageError
from twoface.options import from_mapping, option, option_fields

__all__ = [
    "Capability",
    "Component",
    "NoOptions",
    "components",
    "describe",
    "from_mapping",
    "get",
    "names",
    "option",
    "option_fields",
    "parse_options",
    "register",
    "unregister",
]

# What a task's components are called in messages.
TASK_WORDS = {"mask": "mask"}


@dataclass(frozen=True)
class Capability:
    """What a component is and does: read by fronts, never by the component itself.

    consumes / produces: the names of what it reads and writes (e.g. "crops", "faces",
    "landmarks", "generated" -> "masks"). label: the synthetic-media type its use implies (None:
    it does not decide the label). shipped: True when it needs no downloaded file."""

    task: str
    name: str
    architecture: str
    consumes: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    label: str | None = None
    shipped: bool = True
    summary: str = ""


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

    Registering the same (task, name) again replaces the entry only when it is the same object
    (a module imported twice); another object under a taken name is a programming error."""
    if not dataclasses.is_dataclass(options):
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
        old = _REGISTRY.get((task, name))
        if old is not None and old.factory.__qualname__ != factory.__qualname__:
            raise ValueError(f"{task} {name!r} is registered already ({old.factory!r})")
        _REGISTRY[(task, name)] = Component(cap, options, factory)
        return factory

    return decorate


def unregister(task: str, name: str) -> None:
    """Drop a registration (tests that register a toy component clean up with this)."""
    _REGISTRY.pop((task, name), None)


def _load() -> None:
    # The modules that register components: importing them fills the registry.
    import twoface.mask.base  # noqa: F401


def names(task: str) -> list[str]:
    _load()
    return [n for (t, n) in _REGISTRY if t == task]


def components(task: str | None = None) -> list[Component]:
    _load()
    return [c for (t, _), c in _REGISTRY.items() if task is None or t == task]


def get(task: str, name: str) -> Component:
    _load()
    comp = _REGISTRY.get((task, name))
    if comp is None:
        word = TASK_WORDS.get(task, task)
        raise UsageError(f"unknown {word} {name!r}; choose from {', '.join(names(task))}", task)
    return comp


def parse_options(task: str, name: str, values: Mapping[str, Any] | None = None) -> Any:
    """The options dataclass of component (task, name) from `values`; unknown keys and bad values
    are one UsageError naming them (field id "task.name.key")."""
    comp = get(task, name)
    return from_mapping(comp.options, values or {}, f"{task}.{name}")


def describe(comp: Component) -> dict[str, Any]:
    """A component as JSON: its capability record and its options."""
    return {**dataclasses.asdict(comp.capability), "options": option_fields(comp.options)}
