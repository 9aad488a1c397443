"""`twoface components`: the registered components and their options; and the notes `swap` gives
for flags that the components in play do not consume, derived from their capability records."""

from __future__ import annotations

import json
import sys

from twoface.errors import UsageError


def add_parser(sub) -> None:
    c = sub.add_parser("components", help="the registered components and their options")
    c.add_argument("--task", help="only this task's components (e.g. mask, detect, swap)")
    c.add_argument("--json", action="store_true", help="print JSON")


def _components(args) -> int:
    """Every registered component: its capability record and options, from the registry."""
    from twoface import registry

    found = [registry.describe(c) for c in registry.components(args.task)]
    if args.task and not found:
        tasks = sorted({c.task for c in registry.components()})
        raise UsageError(f"no components of task {args.task!r}; tasks: {', '.join(tasks)}", "task")
    for problem in registry.plugin_errors():
        print(f"twoface: note: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps({"components": found}, indent=2))
        return 0
    task_width = max(len(c["task"]) for c in found)
    name_width = max(len(c["name"]) for c in found)
    indent = " " * (task_width + 3)
    for c in found:
        where = "shipped" if c["shipped"] else "needs a model file"
        print(f"{c['task']:<{task_width}}  {c['name']:<{name_width}}  {where}: {c['summary']}")
        if c["produces"]:
            print(f"{indent}produces: {', '.join(c['produces'])}")
        for o in c["options"]:
            print(f"{indent}{o['name']} ({o['type']}, default {o['default']!r}) {o['help']}")
    return 0


run = _components

# -- notes for flags the components in play do not consume ----------------------------------------
# What each finishing flag feeds is its option's `feeds` (twoface.options.option); --mask feeds
# "mask:NAME" for each name it gives.
SETTINGS = ("device", "half", "compile", "runtime")


def _in_play(args, catalogue) -> tuple:
    """(the engine's component, [(component, entry)] of every component the swap runs); the
    engine is None when its name is unknown (the build says so in its own line)."""
    from twoface import registry
    from twoface.anime import ANIME_DETECTORS
    from twoface.build import component_for
    from twoface.config import ModelsConfig

    def find(task: str, name: str):
        try:
            return [component_for(task, name, catalogue)]
        except UsageError:
            return []

    defaults = ModelsConfig()
    detector = args.detector or defaults.detector
    played = find("landmarks", defaults.landmarker)
    if detector in ANIME_DETECTORS:
        played += find("anime-detect", detector)
    else:
        played += find("detect", detector)
    if args.anime:
        engine = registry.get("anime-swap", "anime")
        return engine, [*played, (engine, None)]
    found = find("swap", args.swapper)
    return (found[0][0] if found else None), [*played, *found]


def unused_flags(args, catalogue) -> list[str]:
    """Notes for the finishing and runtime flags given that no component in play consumes (the
    capability records of the engine, detector and landmarker): said, not silently dropped."""
    from twoface.cli.common import finish_flags, verb

    notes: list[str] = []
    engine, played = _in_play(args, catalogue)
    if engine is None:
        return notes
    cap = engine.capability
    if not cap.takes("masks"):  # an engine that masks and blends by its own rules
        asked = list(args.mask or ())
        takes_masks = any(item.startswith("mask:") for item in cap.consumes)
        finish = []
        for dest, flag, feeds in finish_flags():
            if getattr(args, dest, None) is None:
                continue
            if flag == "--mask":
                if not takes_masks:
                    finish.append("--mask")
            elif not cap.takes(feeds):
                finish.append(flag)
        unused = [m for m in asked if not cap.takes(f"mask:{m}")]
        if takes_masks and unused:
            finish.append(f"--mask {','.join(unused)}")
        if finish:
            notes.append(
                f"{', '.join(finish)} {verb(finish)} to learned swappers; the classical and anime "
                "engines mask and blend by their own rules"
            )
    caps = [c.capability for c, _ in played]
    if not any(c.takes(s) for c in caps for s in SETTINGS):  # all of them run on the CPU
        given = [
            flag
            for flag, on in (
                ("--device", args.device is not None),
                ("--half", args.half),
                ("--compile", args.compile),
                ("--runtime torch", args.runtime == "torch"),
            )
            if on
        ]
        if given and not args.anime:
            notes.append(
                f"{', '.join(given)} {verb(given)} to zoo models; the classical engine and the "
                "built-in detector run on the CPU without them"
            )
    elif (args.half or args.compile) and args.runtime != "torch":
        # half and compile act on a PyTorch file always, on an ONNX graph only under torch
        native = [
            c
            for c, entry in played
            if any(c.capability.takes(s) for s in ("half", "compile"))
            and not (c.capability.takes("runtime") and entry is not None and entry.format == "onnx")
        ]
        if not native:
            notes.append("--half and --compile apply with --runtime torch; ignored")
    return notes
