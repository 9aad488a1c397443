"""`twoface components`: the registered components and their options."""

from __future__ import annotations

import json

from twoface.errors import UsageError


def add_parser(sub) -> None:
    c = sub.add_parser("components", help="the registered components and their options")
    c.add_argument("--task", help="only this task's components (e.g. mask)")
    c.add_argument("--json", action="store_true", help="print JSON")


def _components(args) -> int:
    """Every registered component: its capability record and options, from the registry."""
    from twoface import registry

    found = [registry.describe(c) for c in registry.components(args.task)]
    if args.task and not found:
        raise UsageError(f"no components of task {args.task!r}", "task")
    if args.json:
        print(json.dumps({"components": found}, indent=2))
        return 0
    for c in found:
        where = "shipped" if c["shipped"] else "needs a model file"
        print(f"{c['task']:<6} {c['name']:<12} {where}: {c['summary']}")
        for o in c["options"]:
            print(f"         {o['name']} ({o['type']}, default {o['default']!r}) {o['help']}")
    return 0


run = _components
