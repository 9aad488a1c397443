"""Components register beside their code: a masker defined here, in a test module, appears in
`twoface components`, in the CLI's validation, in the UI's options and in a learned swap, with
no other file edited; the one options parser names unknown keys and bad values."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from twoface import registry
from twoface.cli import main
from twoface.errors import UsageError
from twoface.mask import Masker, MaskSettings, combine, create_maskers
from twoface.registry import option, register


@dataclass(frozen=True)
class ToyOptions:
    level: float = option(0.0, "the mask's value everywhere: 0 keeps the target")


class ToyMasker(Masker):
    """A constant mask: `level` everywhere."""

    name = "toy"

    def __init__(self, level: float = 0.0) -> None:
        self.level = level

    def masks(self, crops, faces, affines) -> np.ndarray:
        return np.full(crops.shape[:3], self.level, np.float32)


@pytest.fixture
def toy():
    register("mask", "toy", options=ToyOptions, consumes=("crops",), produces=("masks",))(ToyMasker)
    yield ToyMasker
    registry.unregister("mask", "toy")


def test_the_built_in_maskers_are_registered_with_their_options():
    assert registry.names("mask")[:6] == ["box", "area", "region", "occlusion", "mouth", "ghost"]
    box = registry.describe(registry.get("mask", "box"))
    assert box["shipped"] and box["produces"] == ("masks",)
    assert [o["name"] for o in box["options"]] == ["padding", "blur"]
    assert not registry.describe(registry.get("mask", "region"))["shipped"]


def test_one_parser_converts_and_names_what_is_wrong():
    opts = registry.parse_options("mask", "box", {"blur": "0.25", "padding": "0,0.1,0.2,0"})
    assert opts.blur == 0.25 and opts.padding == (0.0, 0.1, 0.2, 0.0)
    with pytest.raises(UsageError) as e:
        registry.parse_options("mask", "box", {"blurr": 0.1})
    assert str(e.value) == "mask.box: unknown option 'blurr' (valid: blur, padding)"
    assert e.value.field == "mask.box.blurr"
    with pytest.raises(UsageError, match="mask.box.blur: 'soft' is not a number"):
        registry.parse_options("mask", "box", {"blur": "soft"})
    with pytest.raises(UsageError, match="not a finite number"):
        registry.parse_options("mask", "box", {"blur": "nan"})
    with pytest.raises(UsageError, match="takes 4 values, got 2"):
        registry.parse_options("mask", "box", {"padding": [0.1, 0.2]})
    with pytest.raises(UsageError, match="unknown mask 'nope'; choose from box, area"):
        registry.get("mask", "nope")


def test_a_masker_from_a_test_module_is_listed_by_the_cli(toy, capsys):
    assert main(["components", "--json"]) == 0
    listed = {c["name"]: c for c in json.loads(capsys.readouterr().out)["components"]}
    assert listed["toy"]["task"] == "mask"
    assert listed["toy"]["options"] == [
        {
            "name": "level",
            "type": "float",
            "default": 0.0,
            "help": "the mask's value everywhere: 0 keeps the target",
        }
    ]
    assert main(["components", "--task", "mask"]) == 0
    assert "toy" in capsys.readouterr().out


def test_the_cli_validates_masks_from_the_registry(toy, photos, tmp_path, capsys):
    out = tmp_path / "out.jpg"
    argv = ["swap", "-s", photos / "biden.jpg", "-t", photos / "obama.jpg", "-o", out]
    assert main([str(a) for a in [*argv, "--mask", "nope"]]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("twoface: error: unknown mask 'nope'") and err.endswith("ghost, toy")
    assert not out.exists()
    assert MaskSettings(names=("toy", "box")).names == ("toy", "box")


def test_the_toy_mask_is_built_and_combined(toy):
    crops = np.zeros((2, 8, 8, 3), np.uint8)
    maskers = create_maskers(["toy", "box"])
    assert isinstance(maskers[0], ToyMasker) and maskers[0].level == 0.0
    masks = [m.masks(crops, [None, None], np.zeros((2, 2, 3))) for m in maskers]
    assert combine(masks, (2, 8, 8)).max() == 0.0  # toy's zeros win the minimum


def test_the_ui_offers_and_checks_the_registered_masks(toy, tmp_path):
    pytest.importorskip("httpx")
    from starlette.testclient import TestClient

    from twoface.ui.server import Settings, create_app

    app = create_app(Settings(port=7860, max_upload_mb=2, models_dir=str(tmp_path / "zoo")))
    with TestClient(app, base_url="http://127.0.0.1:7860") as client:
        options = client.get("/api/options").json()
        assert "toy" in options["masks"] and "ghost" in options["masks"]


@pytest.mark.slow
def test_a_learned_swap_pastes_through_the_registered_mask(toy, photos, tmp_path):
    """inswapper's architecture with random weights, pasted through the toy mask at level 0:
    the face is left as the target's, though the generator changed it without the mask."""
    pytest.importorskip("torch")
    from conftest import rgb
    from test_learned_swap import _arcface_file, _inswapper_file

    home = tmp_path / "zoo"
    (home / "models").mkdir(parents=True)
    _inswapper_file(home / "models" / "inswapper_128.onnx")
    _arcface_file(home / "models" / "w600k_r50.onnx")
    target = photos / "obama.jpg"
    base = ["swap", "-s", photos / "biden.jpg", "-t", target, "--swapper", "inswapper_128"]
    base += ["--models-dir", home, "--no-label"]
    plain, toyed = tmp_path / "plain.png", tmp_path / "toy.png"
    assert main([str(a) for a in [*base, "-o", plain]]) == 0
    assert main([str(a) for a in [*base, "-o", toyed, "--mask", "toy"]]) == 0
    before = rgb(target).astype(int)
    assert np.abs(rgb(plain).astype(int) - before).max() > 40
    assert np.abs(rgb(toyed).astype(int) - before).max() <= 2
