"""The one options parser: mappings (CLI flags, API keywords, UI forms, job JSON) into frozen
dataclasses, and dataclasses back into JSON.

`from_mapping(cls, values, where)` builds `cls` from `values`: an unknown key is one UsageError
naming it and the valid keys; a value is converted to its field's type (strings from a command
line or a form are parsed, lists become tuples, nested dataclasses are built from nested
mappings); a value of the wrong type is one UsageError. Each error carries a field id
("job.selection.similarity", "mask.box.blur") that a front maps to its own control, so no
front edits message text. `to_json(obj)` is the inverse for dataclasses of plain values.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from twoface.errors import UsageError

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def option(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    flag: str | None = None,
    metavar: str | tuple[str, ...] | None = None,
    choices: tuple | None = None,
    parse: Any = None,
    nargs: str | None = None,
    negate: bool = False,
    feeds: str | None = None,
    **kw: Any,
) -> Any:
    """A dataclass field with its help text (what `twoface components` prints) and, where it has
    one, its command-line flag: `add_flags` makes the flag from the field (type, default, help,
    `metavar`, `choices`; `parse` converts the flag's text; `nargs="+"` takes several values;
    `negate`: a bool switched off by the flag, as `--no-label`; `feeds`: what a component must
    consume (twoface.registry.Capability.consumes) for the option to do anything)."""
    meta: dict[str, Any] = {"help": help}
    if flag is not None:
        meta["flag"] = flag
        cli = {"metavar": metavar, "choices": choices, "parse": parse, "nargs": nargs}
        meta.update({k: v for k, v in cli.items() if v is not None})
        if negate:
            meta["negate"] = True
    if feeds is not None:
        meta["feeds"] = feeds
    return field(default=default, metadata=meta, **kw)


# -- command-line flags generated from the options ------------------------------------------------
def _base(tp: Any) -> Any:
    """`X | None` -> X."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def flag_dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _comma_names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def flag_fields(cls: type, only: tuple[str, ...] | None = None) -> list[dataclasses.Field]:
    """The fields of `cls` that have a command-line flag (those named in `only`, if given)."""
    out = [f for f in dataclasses.fields(cls) if "flag" in f.metadata]
    return [f for f in out if only is None or f.name in only]


def add_flags(parser: Any, cls: type, only: tuple[str, ...] | None = None) -> None:
    """Add the flags of `cls`'s options to an argparse parser or group. Every flag defaults to
    None (not given), so `given` passes on only what the user typed and the dataclass keeps its
    own defaults; the help says the default."""
    hints = _hints(cls)
    for f in flag_fields(cls, only):
        meta = f.metadata
        tp = _base(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else None
        kw: dict[str, Any] = {"dest": flag_dest(meta["flag"]), "default": None}
        text = meta.get("help", "")
        if tp is bool:
            kw["action"] = "store_true"
        else:
            if "parse" in meta:
                kw["type"] = meta["parse"]
            elif typing.get_origin(tp) is tuple:
                args = typing.get_args(tp)
                if len(args) == 2 and args[1] is Ellipsis or not args:
                    kw["type"] = _comma_names if "nargs" not in meta else None
                else:  # a fixed number of values: TOP RIGHT BOTTOM LEFT
                    kw["nargs"], kw["type"] = len(args), args[0]
            elif tp in (int, float):
                kw["type"] = tp
            for key in ("metavar", "choices", "nargs"):
                if key in meta:
                    kw[key] = meta[key]
            if kw.get("type") is None:
                kw.pop("type", None)
            if default not in (None, (), "") and "(default" not in text:
                shown = " ".join(str(v) for v in default) if isinstance(default, tuple) else default
                text += f" (default {shown})"
        kw["help"] = text
        parser.add_argument(meta["flag"], **kw)


def given(args: Any, cls: type, only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The values of `cls`'s options given on the command line (`add_flags`), by field name."""
    out = {}
    for f in flag_fields(cls, only):
        value = getattr(args, flag_dest(f.metadata["flag"]), None)
        if value is None:
            continue
        if f.metadata.get("negate"):
            if value:
                out[f.name] = False
            continue
        out[f.name] = tuple(value) if isinstance(value, list) else value
    return out


def flags_of(*classes: type) -> dict[str, str]:
    """Field name -> flag over `classes`: how a front names the field an error carries."""
    return {f.name: f.metadata["flag"] for cls in classes for f in flag_fields(cls)}


def type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def option_fields(options: type) -> list[dict[str, Any]]:
    """Each option of an options dataclass: name, type, default and help (field metadata)."""
    hints = _hints(options)
    out = []
    for f in dataclasses.fields(options):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        out.append(
            {
                "name": f.name,
                "type": type_name(hints.get(f.name, f.type)),
                "default": list(default) if isinstance(default, tuple) else default,
                "help": f.metadata.get("help", ""),
            }
        )
    return out


def convert(value: Any, tp: Any, where: str) -> Any:
    """`value` as type `tp`; a value that cannot be is one UsageError with field id `where`."""
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return value
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(typing.get_args(tp)):
            return None
        errors = []
        for a in args:
            try:
                return convert(value, a, where)
            except UsageError as e:
                errors.append(e)
        raise (
            errors[0]
            if len(errors) == 1
            else UsageError(f"{where}: {value!r} is not a {type_name(tp)}", where)
        )
    if origin is tuple or tp is tuple:
        args = typing.get_args(tp)
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise UsageError(f"{where}: {value!r} is not a list", where)
        if not args:
            return tuple(items)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(items))
        if len(items) != len(args):
            raise UsageError(f"{where}: takes {len(args)} values, got {len(items)}", where)
        return tuple(
            convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(items, args, strict=True))
        )
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise UsageError(f"{where}: {value!r} is not a mapping of {tp.__name__}", where)
        return from_mapping(tp, value, where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        raise UsageError(f"{where}: {value!r} is not true or false", where)
    if tp in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise UsageError(f"{where}: {value!r} is not a number", where)
        try:
            number = tp(value)
        except ValueError:
            what = "an integer" if tp is int else "a number"
            raise UsageError(f"{where}: {value!r} is not {what}", where) from None
        if tp is int and isinstance(value, float) and value != number:
            raise UsageError(f"{where}: {value!r} is not an integer", where)
        if tp is float and not math.isfinite(number):
            raise UsageError(f"{where}: {value!r} is not a finite number", where)
        return number
    if tp is str:
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if not isinstance(value, str):
            raise UsageError(f"{where}: {value!r} is not text", where)
        return value
    return value


def from_mapping(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """`cls(**values)` with each value converted to its field's type; unknown keys, missing
    required keys and values the dataclass refuses are one UsageError with a field id."""
    if not isinstance(values, Mapping):
        raise UsageError(f"{where}: expected a mapping of options, got {values!r}", where)
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in values:
        if key not in fields:
            valid = ", ".join(sorted(fields)) or "none"
            raise UsageError(f"{where}: unknown option {key!r} (valid: {valid})", f"{where}.{key}")
    missing = [
        n
        for n, f in fields.items()
        if n not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise UsageError(f"{where}: {missing[0]!r} is required", f"{where}.{missing[0]}")
    converted = {k: convert(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    try:
        return cls(**converted)
    except UsageError:
        raise
    except (TypeError, ValueError) as e:
        raise UsageError(f"{where}: {e}", where) from None


def to_json(obj: Any) -> Any:
    """A dataclass (nested, of plain values) as JSON-ready data: tuples as lists, paths as text."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, tuple | list):
        return [to_json(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    raise TypeError(f"{type(obj).__name__} is not serialisable in a job")
