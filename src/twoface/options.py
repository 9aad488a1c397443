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


def option(default: Any = dataclasses.MISSING, help: str = "", **kw: Any) -> Any:
    """A dataclass field with its help text (what `twoface components` prints)."""
    return field(default=default, metadata={"help": help}, **kw)


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
