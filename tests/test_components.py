"""Every component registers beside its code (issue 23): the built-ins under their names, the
zoo's architectures under the names the catalogue gives; listing them imports no torch; build
turns (task, architecture) into code through the registry and checks options there; each model
store owns its catalogue; the CLI's "does nothing here" notes come from capability records."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import subprocess
import sys

import pytest

from twoface import registry
from twoface.build import BuildContext, ModelPool, build, component_for, runnable
from twoface.cli import main
from twoface.cli.components import unused_flags
from twoface.errors import ModelError, UsageError
from twoface.zoo.catalogue import CATALOGUE, ModelEntry
from twoface.zoo.store import ModelStore

SHIPPED = {
    ("detect", "retinaface"),
    ("detect", "dlib-hog"),
    ("landmarks", "dlib68"),
    ("landmarks", "none"),
    ("identity", "dlib128"),
    ("swap", "classical"),
    ("anime-swap", "anime"),
    ("mask", "box"),
    ("mask", "area"),
    ("mask", "mouth"),
}
ZOO = {
    ("detect", "scrfd"),
    ("detect", "scrfd_mmdet"),
    ("detect", "yunet"),
    ("detect", "retinaface_mobilenet"),
    ("detect", "retinaface_resnet50"),
    ("landmarks", "2d106det"),
    ("landmarks", "anime_hrnetv2"),
    ("identity", "iresnet50"),
    ("identity", "iresnet100"),
    ("identity", "simswap_arcface"),
    ("swap", "inswapper"),
    ("swap", "reswapper"),
    ("swap", "aei_unet"),
    ("swap", "aei_linknet"),
    ("swap", "simswap"),
    ("swap", "hyperswap"),
    ("anime-detect", "lbp_cascade"),
    ("anime-detect", "anime_yolov3"),
    ("anime-detect", "anime_faster_rcnn"),
    ("parse", "bisenet"),
    ("parse", "bisenet_onnx"),
    ("occlude", "xseg"),
    ("restore", "restorer_onnx"),
    ("restore", "gfpgan"),
    ("restore", "ghost_sr"),
}


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


# -- registration ---------------------------------------------------------------------------------
def test_built_ins_and_zoo_architectures_are_registered_with_what_they_are():
    found = {(c.task, c.name): c for c in registry.components()}
    assert set(found) >= SHIPPED and set(found) >= ZOO
    assert all(found[k].capability.shipped for k in SHIPPED)
    assert not any(found[k].capability.shipped for k in ZOO)
    # Every catalogue entry but CodeFormer's .pth is run by a registered architecture, which
    # says what its file's network produces (the catalogue keeps file facts only).
    runs = {e.name for e in CATALOGUE.values() if registry.lookup(e.task, e.arch)}
    assert set(CATALOGUE) - runs == {"codeformer"}
    assert all(
        found[(e.task, e.arch)].capability.produces for e in CATALOGUE.values() if e.name in runs
    )
    assert {f.name for f in dataclasses.fields(ModelEntry)}.isdisjoint({"impl", "outputs"})
    # The label an engine's output gets is in its record.
    assert found[("swap", "classical")].capability.label == "compositeSynthetic"
    assert found[("swap", "inswapper")].capability.label == "compositeWithTrainedAlgorithmicMedia"


def test_options_are_the_constructors_own_with_the_same_defaults():
    """A component's options dataclass is what its class's constructor takes, default for
    default (so `twoface components` shows what really applies)."""
    known: dict = {}
    checked = 0
    for comp in registry.components():
        if not inspect.isclass(comp.factory) or comp.task == "mask":
            continue  # factories import their class lazily; maskers are built by `create`
        params = inspect.signature(comp.factory).parameters
        for f in dataclasses.fields(comp.options):
            if f.name in known.get((comp.task, comp.name), ()):
                continue
            assert f.name in params, (comp.task, comp.name, f.name)
            # None: the file's own value (its catalogue spec) or the constructor's default
            assert f.default in (None, params[f.name].default), (comp.task, comp.name, f.name)
            checked += 1
    assert checked >= 20


def test_detector_options_go_through_the_parser(tmp_path):
    pool = ModelPool(ModelStore(tmp_path))
    with pytest.raises(UsageError) as e:
        pool.get("detect", "retinaface", treshold=0.1)
    assert str(e.value) == (
        "detect.retinaface: unknown option 'treshold' "
        "(valid: iou_threshold, max_side, score_threshold, threads)"
    )
    assert e.value.field == "detect.retinaface.treshold"
    built = pool.get("detect", "retinaface", score_threshold="0.9", max_side=320)
    assert (built.score_threshold, built.max_side, built.iou_threshold) == (0.9, 320, 0.4)
    with pytest.raises(UsageError, match="detect.retinaface.score_threshold: 'high' is not a"):
        pool.get("detect", "retinaface", score_threshold="high")
    # The API's detector_options reach the same parser, before any work.
    from twoface import Swapper

    with pytest.raises(UsageError, match="unknown option 'treshold'"):
        Swapper(swapper="classical", models_dir=tmp_path, detector_options={"treshold": 0.1})


def test_offered_options_reach_only_a_component_that_names_them(tmp_path):
    """The finish's enhancer weight is CodeFormer's: offered, it is not an unknown option of a
    component without one."""
    import twoface.enhance.restorers as restorers

    seen = {}

    def fake(entry, ctx):
        seen[entry.name] = ctx.options
        return object()

    pool = ModelPool(ModelStore(tmp_path))
    for arch, name in (("gfpgan", "gfpgan_1.4"), ("restorer_onnx", "codeformer_onnx")):
        comp = registry.get("restore", arch)
        registry.unregister("restore", arch)
        registry.register("restore", arch, options=comp.options, shipped=False)(fake)
        try:
            pool.get("restore", name, blend=0.5, offered={"weight": 0.25})
        finally:
            registry.unregister("restore", arch)
            registry._REGISTRY[("restore", arch)] = comp
    assert seen["gfpgan_1.4"] == restorers.TorchRestorerOptions(blend=0.5)
    assert seen["codeformer_onnx"] == restorers.OnnxRestorerOptions(blend=0.5, weight=0.25)


# -- no torch to list -----------------------------------------------------------------------------
def test_listing_components_imports_no_torch_and_works_without_it():
    done = _python(
        "import sys, twoface.registry as r; n = len(r.components()); "
        "print(n, 'torch' in sys.modules)"
    )
    count, torch = done.stdout.split()
    assert done.returncode == 0 and int(count) >= 38 and torch == "False", done.stderr
    # As if torch were not installed: `import torch` fails, `twoface components` still lists.
    done = _python(
        "import sys; sys.modules['torch'] = None; from twoface.cli import main; "
        "sys.exit(main(['components', '--json']))"
    )
    assert done.returncode == 0, done.stderr
    names = {(c["task"], c["name"]) for c in json.loads(done.stdout)["components"]}
    assert names >= SHIPPED | ZOO


def test_old_import_paths_reach_the_torch_modules():
    done = _python(
        "import sys, twoface.swap.ghost as g, twoface.anime.hrnet as h\n"
        "print(hasattr(g, '__wrapped__'), hasattr(h, '__path__'), 'torch' in sys.modules)"
    )
    assert done.stdout.split() == ["False", "False", "False"], done.stderr
    pytest.importorskip("torch")
    from twoface.detect import scrfd_mmdet, scrfd_mmdet_net
    from twoface.swap import ghost_net
    from twoface.swap.ghost import AEINet, GhostWithSR

    assert AEINet is ghost_net.AEINet and GhostWithSR is ghost_net.GhostWithSR
    assert scrfd_mmdet.ScrfdMmdetDetector is scrfd_mmdet_net.ScrfdMmdetDetector
    with pytest.raises(AttributeError):
        scrfd_mmdet.NoSuchThing  # noqa: B018


def test_discovery_walks_the_component_packages_but_not_the_net_modules():
    modules = registry._component_modules()
    assert "twoface.swap.classical.engine" in modules and "twoface.anime.hrnet" in modules
    assert not [m for m in modules if m.endswith("_net")]
    assert {m.split(".")[1] for m in modules} == set(registry.COMPONENT_PACKAGES)


def test_a_plugin_registers_through_its_entry_point(monkeypatch, capsys):
    class EntryPoint:
        def __init__(self, name, fails):
            self.name, self.value, self.fails = name, f"toy_plugin.{name}", fails

        def load(self):
            if self.fails:
                raise ImportError("no module named toy_plugin")

            @registry.register("detect", "toy-plugin", consumes=("frames",), produces=("boxes",))
            class ToyDetector:
                """A plugin's detector."""

    def entry_points(group):
        assert group == "twoface.components"
        return [EntryPoint("good", False), EntryPoint("bad", True)]

    monkeypatch.setattr("importlib.metadata.entry_points", entry_points)
    monkeypatch.setattr(registry, "_PLUGIN_ERRORS", [])
    try:
        registry._load_plugins()
        assert "toy-plugin" in registry.names("detect")
        assert registry.plugin_errors() == [
            "plugin bad (toy_plugin.bad): ImportError: no module named toy_plugin"
        ]
        assert main(["components", "--task", "detect"]) == 0
        out, err = capsys.readouterr()
        assert "toy-plugin" in out and "A plugin's detector." in out
        assert "twoface: note: plugin bad" in err
    finally:
        registry.unregister("detect", "toy-plugin")


def test_components_cli_prints_the_zoo_architectures(capsys):
    assert main(["components", "--task", "detect", "--json"]) == 0
    listed = {c["name"]: c for c in json.loads(capsys.readouterr().out)["components"]}
    assert listed["scrfd"]["shipped"] is False and listed["retinaface"]["shipped"] is True
    assert listed["scrfd"]["produces"] == ["boxes", "scores", "5 keypoints per stride"]
    assert [o["name"] for o in listed["scrfd"]["options"]] == [
        "size",
        "score_threshold",
        "iou_threshold",
        "threads",
    ]
    assert main(["components", "--task", "nope"]) == 2
    assert "no components of task 'nope'; tasks: anime-detect" in capsys.readouterr().err


# -- build resolves through the registry and the store's catalogue --------------------------------
def test_build_resolves_entries_through_the_registry(tmp_path):
    store = ModelStore(tmp_path)
    comp, entry = component_for("detect", "scrfd_10g", store.catalogue)
    assert (comp.name, entry.name) == ("scrfd", "scrfd_10g")
    comp, entry = component_for("detect", "retinaface", store.catalogue)
    assert comp.capability.shipped and entry is None
    with pytest.raises(UsageError, match="unknown detector 'scrfd'; choose from retinaface"):
        component_for("detect", "scrfd", store.catalogue)  # an architecture, not a model
    assert runnable("detect")[:2] == ["retinaface", "dlib-hog"]


def test_each_store_owns_its_catalogue(tmp_path):
    from test_zoo import tiny_onnx

    mine = tmp_path / "m.onnx"
    mine.write_bytes(tiny_onnx(12))
    one, two = ModelStore(tmp_path / "one"), ModelStore(tmp_path / "two")
    assert one.import_file(mine, "mine", like="yunet_n")[0] == "mine"
    assert one.catalogue["mine"].arch == "yunet" and "mine" in runnable("detect", one.catalogue)
    assert "mine" not in two.catalogue and "mine" not in ModelStore(tmp_path / "two").catalogue
    assert "mine" not in CATALOGUE and "mine" not in runnable("detect")
    assert "mine" in ModelStore(tmp_path / "one").catalogue  # read back from its own file
    with pytest.raises(UsageError, match="unknown detector 'mine'"):
        build("detect", "mine", BuildContext(two))
    with pytest.raises(ModelError, match="user-mine.onnx: not a valid YuNet model"):
        build("detect", "mine", BuildContext(one))  # YuNet's code reads it (a stand-in file)


# -- notes from capabilities ----------------------------------------------------------------------
def _args(**given) -> argparse.Namespace:
    from twoface.cli.common import finish_flags

    base = dict.fromkeys(dest for dest, _, _ in finish_flags())
    base |= {"detector": None, "swapper": "classical", "anime": None, "device": None}
    base |= {"half": False, "compile": False, "runtime": "onnxruntime"}
    return argparse.Namespace(**(base | given))


def test_notes_follow_what_the_components_consume():
    notes = unused_flags(_args(mask=["box", "region"], parser="bisenet_79999"), CATALOGUE)
    assert notes == [
        "--mask box applies to learned swappers; the classical and anime engines mask and blend "
        "by their own rules"
    ]
    notes = unused_flags(_args(anime=True, mask=["box"], enhancer="gfpgan_1.4"), CATALOGUE)
    assert notes[0].startswith("--mask, --enhancer apply to learned swappers")
    assert unused_flags(_args(swapper="inswapper_128", mask=["box"]), CATALOGUE) == []
    notes = unused_flags(_args(device="cpu", compile=True), CATALOGUE)
    assert notes == [
        "--device, --compile apply to zoo models; the classical engine and the built-in "
        "detector run on the CPU without them"
    ]
    # A zoo detector takes the device; nothing in play takes --half on onnxruntime.
    notes = unused_flags(_args(detector="scrfd_10g", device="cpu", half=True), CATALOGUE)
    assert notes == ["--half and --compile apply with --runtime torch; ignored"]
    assert unused_flags(_args(swapper="ghost_unet_2blocks", half=True), CATALOGUE) == []


def test_a_new_engine_gets_its_notes_from_its_record():
    @registry.register(
        "swap", "toy-engine", consumes=("frames", "mask:box", "device"), label="compositeSynthetic"
    )
    class ToyEngine:
        """Takes the box mask and the device, nothing else."""

    try:
        args = _args(swapper="toy-engine", mask=["box", "region"], mask_blur=0.1, device="cpu")
        assert unused_flags(args, CATALOGUE) == [
            "--mask region applies to learned swappers; the classical and anime engines mask "
            "and blend by their own rules"
        ]
    finally:
        registry.unregister("swap", "toy-engine")


# -- flags generated from the options -------------------------------------------------------------
def test_flags_are_made_from_the_options_fields():
    from dataclasses import dataclass

    from twoface.cli.common import Parser
    from twoface.options import add_flags, flags_of, given, option

    @dataclass(frozen=True)
    class Toy:
        level: float = option(0.5, "how much", flag="--toy-level", metavar="F")
        names: tuple[str, ...] = option((), "which", flag="--toy-names", metavar="NAMES")
        corners: tuple[float, float] = option(
            (0.0, 1.0), "where", flag="--toy-corners", metavar=("A", "B")
        )
        kind: int | None = option(None, "size", flag="--toy-kind", choices=(1, 2))
        loud: bool = option(True, "be quiet", flag="--quiet", negate=True)
        hidden: int = 3  # no flag: not on the command line

    p = Parser(prog="twoface toy")
    add_flags(p, Toy)
    text = p.format_help()
    assert "how much (default 0.5)" in text and "where (default 0.0 1.0)" in text
    assert "--hidden" not in text and "--toy-corners A B" in text
    args = p.parse_args(["--toy-names", "a, b", "--toy-corners", "2", "3", "--quiet"])
    assert given(args, Toy) == {"names": ("a", "b"), "corners": (2.0, 3.0), "loud": False}
    assert Toy(**given(args, Toy)).level == 0.5  # not given: the dataclass's default
    assert given(p.parse_args([]), Toy) == {}
    with pytest.raises(UsageError, match=r"argument --toy-kind: invalid choice: 3"):
        p.parse_args(["--toy-kind", "3"])
    assert flags_of(Toy)["level"] == "--toy-level"


def test_the_swap_command_offers_every_flagged_option_and_maps_its_errors():
    import contextlib
    import io

    from twoface.cli import main
    from twoface.cli.common import cli_message
    from twoface.config import FinishConfig, OutputConfig, SelectionConfig
    from twoface.mask import MaskSettings
    from twoface.options import flag_fields

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["swap", "--help"])
    text = out.getvalue()
    for cls in (SelectionConfig, OutputConfig, FinishConfig, MaskSettings):
        for f in flag_fields(cls):
            assert f.metadata["flag"] in text, f.name
            assert f.metadata["help"].split()[0] in text  # its help, from the field
    e = UsageError("quality must be between 1 and 100, got 0", "quality")
    assert cli_message(e) == "--quality must be between 1 and 100, got 0"
    e = UsageError("clip.mp4: trim starts at 9 s, after the end", "trim")
    assert cli_message(e) == "clip.mp4: --trim starts at 9 s, after the end"
