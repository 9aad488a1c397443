"""Learned swappers through the exact code path of the published files, on files built here in the
official formats (inswapper ONNX: inputs `target` [1,3,128,128] and `source` [1,512], emap as the
last initializer; ArcFace ONNX; ReSwapper .pth with its key names) and random weights, narrow so
the tests run fast on a CPU."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from conftest import rgb

from twoface.cli import main

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")


def _export(module, args, names, outputs, dynamic=None) -> onnx.ModelProto:
    buf = io.BytesIO()
    torch.onnx.export(
        module,
        args,
        buf,
        input_names=names,
        output_names=outputs,
        dynamo=False,
        opset_version=11,
        dynamic_axes=dynamic,
    )
    return onnx.load_from_string(buf.getvalue())


def _inswapper_file(path, width=1 / 16, blocks=2, seed=0):
    from onnx import numpy_helper

    from twoface.swap.styletransfer import StyleTransferModel

    torch.manual_seed(seed)
    net = StyleTransferModel(width, blocks).eval()
    model = _export(
        net, (torch.rand(1, 3, 128, 128), torch.rand(1, 512)), ["target", "source"], ["output"]
    )
    emap = np.random.default_rng(seed).normal(size=(512, 512)).astype(np.float32)
    model.graph.initializer.append(numpy_helper.from_array(emap, "emap"))
    onnx.save(model, str(path))
    return net, emap


class _TinyArcFace(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 7, 4, 3)
        self.fc = torch.nn.Linear(16 * 4 * 4, 512)

    def forward(self, x):
        x = torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 4)
        return self.fc(x.flatten(1))


def _arcface_file(path, seed=1):
    torch.manual_seed(seed)
    model = _export(
        _TinyArcFace().eval(),
        (torch.rand(1, 3, 112, 112),),
        ["input.1"],
        ["embedding"],
        dynamic={"input.1": {0: "None"}, "embedding": {0: "None"}},
    )
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """A model folder holding official-format files with random weights, as if downloaded."""
    home = tmp_path_factory.mktemp("zoo")
    (home / "models").mkdir()
    net, emap = _inswapper_file(home / "models" / "inswapper_128.onnx")
    _arcface_file(home / "models" / "w600k_r50.onnx")
    torch.save(net.state_dict(), home / "models" / "reswapper-1019500.pth")
    return home


def test_cli_swaps_with_inswapper_and_labels_the_output(models_dir, photos, tmp_path, capsys):
    out = tmp_path / "out.png"
    target = photos / "two_people.jpg"
    args = ["swap", "-s", str(photos / "biden.jpg"), "-t", str(target), "-o", str(out)]
    assert (
        main([*args, "--swapper", "inswapper_128", "--models-dir", str(models_dir), "--many"]) == 0
    )
    before, after = rgb(target), rgb(out)
    assert after.shape == before.shape
    diff = np.abs(after.astype(int) - before.astype(int)).max(2)
    h, w = diff.shape
    left, right = diff[:, : w // 2], diff[:, w // 2 :]
    assert (left > 40).sum() > 2000 and (right > 40).sum() > 2000  # both faces replaced (--many)
    assert diff[-60:].max() == 0 and diff[:, :100].max() == 0  # far from the faces: untouched
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0


def test_onnxruntime_and_torch_give_the_same_swap(models_dir, photos):
    from twoface import Swapper

    target = rgb(photos / "obama.jpg")
    results = []
    for runtime in ("onnxruntime", "torch"):
        sw = Swapper(swapper="inswapper_128", models_dir=models_dir, runtime=runtime)
        results.append(sw.swap_image(photos / "biden.jpg", target).image.astype(int))
    assert np.abs(results[0] - results[1]).max() <= 2
    assert np.abs(results[0] - target).max() > 50


def test_the_torch_generator_takes_and_gives_bytes_as_onnxruntime_does(models_dir):
    """On PyTorch the crops cross to the device as uint8 and come back as uint8 (converted
    there); the result equals onnxruntime's numpy path within a level, and `generate_later`
    (queued on a GPU) gives the same crops with the seconds spent."""
    from twoface.build import ModelPool
    from twoface.config import RuntimeConfig
    from twoface.zoo.store import ModelStore

    rng = np.random.default_rng(1)
    crops = rng.integers(0, 256, (3, 128, 128, 3), dtype=np.uint8)
    latents = rng.normal(size=(3, 512)).astype(np.float32)
    latents /= np.linalg.norm(latents, axis=1, keepdims=True)
    made = {}
    for runtime in ("onnxruntime", "torch"):
        store, rt = ModelStore(models_dir), RuntimeConfig(runtime)
        gen = ModelPool(store, rt).get("swap", "inswapper_128")
        made[runtime] = gen.generate(crops, latents)
        later, seconds = gen.generate_later(crops, latents)()
        assert np.array_equal(later, made[runtime]) and seconds > 0
    assert made["torch"].dtype == np.uint8 and made["torch"].shape == crops.shape
    diff = np.abs(made["torch"].astype(int) - made["onnxruntime"].astype(int))
    assert diff.max() <= 1 and made["torch"].std() > 2  # not a constant picture


def test_generator_matches_its_onnx_export_and_the_latent_uses_emap(models_dir, photos):
    """The ONNX file fixes batch 1; our PyTorch graph runs it at batch 3, equal to the module."""
    from twoface.runtime import load_graph
    from twoface.swap.inswapper import read_emap
    from twoface.swap.styletransfer import StyleTransferModel

    path = models_dir / "models" / "inswapper_128.onnx"
    net = StyleTransferModel(1 / 16, 2)
    net.load_state_dict(
        torch.load(models_dir / "models" / "reswapper-1019500.pth", weights_only=True)
    )
    x = torch.rand(3, 3, 128, 128)
    s = torch.nn.functional.normalize(torch.randn(3, 512), dim=1)
    with torch.no_grad():
        ref = net.eval()(x, s).numpy()
    got = load_graph(path, "torch")(x.numpy(), s.numpy())["output"]
    assert got.shape == (3, 3, 128, 128) and np.abs(got - ref).max() < 1e-4
    emap = read_emap(path)
    assert emap.shape == (512, 512)

    from twoface import Swapper

    sw = Swapper(swapper="inswapper_128", models_dir=models_dir)
    src = sw.source_faces([photos / "biden.jpg"], identity=False)
    from twoface.swap import SourceIdentity

    ident = SourceIdentity.combine(src)
    emb = sw.engine.generator.encoder.embed([src[0].image], [src[0].face.kps])[0]
    want = emb @ emap
    assert np.allclose(sw.engine.generator.latent(ident), want / np.linalg.norm(want), atol=1e-5)


def test_reswapper_pth_loads_by_its_key_names(models_dir, photos):
    from twoface import Swapper

    sw = Swapper(swapper="reswapper_128_1019500", models_dir=models_dir)
    out = sw.swap_image(photos / "biden.jpg", photos / "obama.jpg").image
    assert np.abs(out.astype(int) - rgb(photos / "obama.jpg")).max() > 50


def test_wrong_files_give_one_line_errors(models_dir, photos, tmp_path, capsys):
    import shutil

    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    args = ["swap", "-s", str(photos / "biden.jpg"), "-t", str(photos / "obama.jpg")]
    out = tmp_path / "o.jpg"
    code = main([*args, "-o", str(out), "--swapper", "inswapper_128", "--models-dir", str(home)])
    err = capsys.readouterr().err
    assert code == 4 and err.count("\n") == 1
    assert "model inswapper_128 is not in" in err and "twoface models download inswapper_128" in err

    shutil.copy(models_dir / "models" / "w600k_r50.onnx", home / "models" / "w600k_r50.onnx")
    torch.save({"conv.weight": torch.zeros(3)}, home / "models" / "reswapper-1019500.pth")
    shutil.copy(models_dir / "models" / "inswapper_128.onnx", home / "models")
    code = main(
        [*args, "-o", str(out), "--swapper", "reswapper_128_1019500", "--models-dir", str(home)]
    )
    assert code == 4 and "not a ReSwapper checkpoint" in capsys.readouterr().err
    (home / "models" / "inswapper_128.onnx").write_bytes(b"\x08\x07garbage")
    code = main([*args, "-o", str(out), "--swapper", "inswapper_128", "--models-dir", str(home)])
    assert code == 4 and "inswapper_128.onnx: not a readable ONNX file" in capsys.readouterr().err
    assert not out.exists()


@pytest.fixture(scope="module")
def ghost_dir(tmp_path_factory):
    """sber-swap's files as it saves them (plain state dicts), narrow and random."""
    from twoface.identity.iresnet import IResNet
    from twoface.swap.ghost import AEINet

    home = tmp_path_factory.mktemp("ghost")
    (home / "models").mkdir()
    torch.manual_seed(0)
    for backbone, blocks, name in (
        ("unet", 2, "G_unet_2blocks.pth"),
        ("linknet", 2, "G_linknet_2blocks.pth"),
    ):
        net = AEINet(backbone, blocks, width=1 / 16)
        torch.save(net.state_dict(), home / "models" / name)
    arc = IResNet((1, 2, 1, 1), width=1 / 8)
    torch.save(arc.state_dict(), home / "models" / "backbone.pth")
    return home


@pytest.mark.parametrize("name", ["ghost_unet_2blocks", "ghost_linknet_2blocks"])
@pytest.mark.slow
def test_ghost_swaps_inside_the_face_only(ghost_dir, photos, name):
    from twoface import Swapper

    sw = Swapper(swapper=name, models_dir=ghost_dir)
    assert sw.engine.generator.net.encoder.deconv2.link == (name == "ghost_linknet_2blocks")
    result = sw.swap_image(photos / "biden.jpg", photos / "obama.jpg")
    before = rgb(photos / "obama.jpg")
    changed = np.abs(result.image.astype(int) - before.astype(int)).max(2) > 0
    face = result.faces_swapped[0]
    x1, y1, x2, y2 = face.box
    assert changed.sum() > 0.2 * (x2 - x1) * (y2 - y1)
    ys, xs = np.nonzero(changed)  # only within the landmark outline's reach
    lm = face.landmarks
    assert xs.min() >= lm[:, 0].min() - 2 and xs.max() <= lm[:, 0].max() + 2
    assert ys.max() <= lm[:, 1].max() + 2


def test_ghost_identity_encoder_by_key_names(ghost_dir, tmp_path):
    from twoface.errors import ModelError
    from twoface.identity.iresnet import IResNet, load_iresnet
    from twoface.swap.ghost import load_aei_net

    arc = load_iresnet(ghost_dir / "models" / "backbone.pth")
    assert [len(getattr(arc, f"layer{i}")) for i in range(1, 5)] == [1, 2, 1, 1]
    assert arc(torch.zeros(2, 3, 112, 112)).shape == (2, 512)
    full = IResNet()  # iresnet100: the published backbone.pth's shape
    assert sum(p.numel() for p in full.parameters()) == 65_156_160
    wrong = tmp_path / "G.pth"
    torch.save({"encoder.conv1.0.weight": torch.zeros(2, 3, 4, 4)}, wrong)
    with pytest.raises(
        ModelError, match="not an AEI-Net checkpoint|not a GHOST AEI-Net checkpoint"
    ):
        load_aei_net(wrong)


def _save_simswap_arcface(path):
    """SimSwap's ArcFace saved as SimSwap saved it: the whole model pickled, its classes living
    in a module `models.arcface_models` (made up here, removed again after saving)."""
    import sys
    import types

    from twoface.swap.simswap import _SE, SimSwapArcFace, _IRBlock

    mod = types.ModuleType("models.arcface_models")
    names = {SimSwapArcFace: "ResNet", _IRBlock: "IRBlock", _SE: "SEBlock"}
    for base, name in names.items():
        setattr(mod, name, type(name, (base,), {"__module__": "models.arcface_models"}))
    torch.manual_seed(0)
    model = SimSwapArcFace((1, 1, 1, 1)).eval()
    for m in model.modules():
        if type(m) in names:
            m.__class__ = getattr(mod, names[type(m)])
    sys.modules["models"] = types.ModuleType("models")
    sys.modules["models.arcface_models"] = mod
    try:
        torch.save(model, path)
    finally:
        sys.modules.pop("models.arcface_models")
        sys.modules.pop("models")
    return model


def test_simswap_arcface_pickle_loads_without_running_code(tmp_path):

    from twoface.errors import ModelError
    from twoface.swap.simswap import load_simswap_arcface

    path = tmp_path / "arcface_checkpoint.tar"
    model = _save_simswap_arcface(path)
    net = load_simswap_arcface(path)
    x = torch.rand(2, 3, 112, 112)
    with torch.no_grad():
        assert torch.allclose(net(x), model(x), atol=1e-5)

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    bad = tmp_path / "evil.tar"
    torch.save({"model": Evil()}, bad)
    with pytest.raises(ModelError, match="refusing to load global (posix|os|nt).system"):
        load_simswap_arcface(bad)
    assert not (tmp_path / "pwned").exists()


def test_simswap_swaps_with_its_files(tmp_path, photos):

    from twoface import Swapper
    from twoface.swap.simswap import SimSwapNet

    home = tmp_path / "simswap"
    (home / "models").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(SimSwapNet(blocks=1).state_dict(), home / "models" / "simswap_224_latest_net_G.pth")
    _save_simswap_arcface(home / "models" / "arcface_checkpoint.tar")
    sw = Swapper(swapper="simswap_224", models_dir=home)
    result = sw.swap_image(photos / "biden.jpg", photos / "obama.jpg")
    before = rgb(photos / "obama.jpg")
    changed = np.abs(result.image.astype(int) - before.astype(int)).max(2) > 0
    lm = result.faces_swapped[0].landmarks
    ys, xs = np.nonzero(changed)
    assert (
        changed.sum() > 1000 and xs.min() >= lm[:, 0].min() - 2 and xs.max() <= lm[:, 0].max() + 2
    )


def test_2d106det_points_map_back_to_the_image(tmp_path, photos, capsys):
    """A file with 2d106det's I/O (`data` [N,3,192,192] -> `fc1` [N,212]) whose output is a known
    constant: the points must land where insightface's crop geometry puts them."""
    import json

    class Const(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 212)
            torch.nn.init.zeros_(self.fc.weight)
            with torch.no_grad():
                self.fc.bias.copy_(torch.linspace(-0.5, 0.5, 212))

        def forward(self, x):
            return self.fc(x.mean((2, 3)))

    home = tmp_path / "m"
    (home / "models").mkdir(parents=True)
    model = _export(
        Const().eval(),
        (torch.rand(1, 3, 192, 192),),
        ["data"],
        ["fc1"],
        dynamic={"data": {0: "N"}, "fc1": {0: "N"}},
    )
    onnx.save(model, str(home / "models" / "2d106det.onnx"))
    args = [
        "detect",
        str(photos / "two_people.jpg"),
        "--landmarks",
        "2d106det",
        "--models-dir",
        str(home),
        "--json",
    ]
    assert main(args) == 0
    faces = json.loads(capsys.readouterr().out)["faces"]
    bias = np.linspace(-0.5, 0.5, 212).reshape(106, 2)
    for f in faces:
        x1, y1, x2, y2 = f["box"]
        scale = 192 / (max(x2 - x1, y2 - y1) * 1.5)
        expect = ((bias + 1) * 96 - 96) / scale + [(x1 + x2) / 2, (y1 + y2) / 2]
        assert len(f["landmarks"]) == 106
        assert np.abs(np.array(f["landmarks"]) - expect).max() < 0.2


@pytest.mark.slow
def test_reswapper_onnx_and_simswap_512_files(models_dir, tmp_path, photos):
    """ReSwapper's ONNX export has inswapper's I/O (the emap comes along); SimSwap 512 adds the
    32-channel outer stage and runs at 512 px."""
    import shutil

    from twoface import Swapper
    from twoface.swap.simswap import SimSwapNet

    home = tmp_path / "m"
    (home / "models").mkdir(parents=True)
    shutil.copy(
        models_dir / "models" / "inswapper_128.onnx", home / "models" / "reswapper-1019500.onnx"
    )
    shutil.copy(models_dir / "models" / "w600k_r50.onnx", home / "models")
    out = Swapper(swapper="reswapper_128_1019500_onnx", models_dir=home).swap_image(
        photos / "biden.jpg", photos / "obama.jpg"
    )
    assert np.abs(out.image.astype(int) - rgb(photos / "obama.jpg")).max() > 50

    torch.manual_seed(0)
    torch.save(
        SimSwapNet(size512=True, blocks=1).state_dict(),
        home / "models" / "simswap_512_550000_net_G.pth",
    )
    _save_simswap_arcface(home / "models" / "arcface_checkpoint.tar")
    sw = Swapper(swapper="simswap_512", models_dir=home)
    assert sw.engine.generator.spec.size == 512 and sw.engine.generator.net.size512
    result = sw.swap_image(photos / "biden.jpg", photos / "obama.jpg")
    assert result.image.shape == rgb(photos / "obama.jpg").shape
    assert (np.abs(result.image.astype(int) - rgb(photos / "obama.jpg")).max(2) > 0).sum() > 1000


@pytest.fixture(scope="module")
def all_swappers_dir(models_dir, ghost_dir, tmp_path_factory):
    """One model folder with a file of every learned swapper family (random weights)."""
    import shutil

    from twoface.swap.simswap import SimSwapNet

    home = tmp_path_factory.mktemp("all")
    shutil.copytree(models_dir / "models", home / "models")
    for f in (ghost_dir / "models").iterdir():
        shutil.copy(f, home / "models" / f.name)
    torch.manual_seed(0)
    torch.save(SimSwapNet(blocks=1).state_dict(), home / "models" / "simswap_224_latest_net_G.pth")
    _save_simswap_arcface(home / "models" / "arcface_checkpoint.tar")
    return home


@pytest.mark.parametrize(
    "name",
    [
        "inswapper_128",
        "reswapper_128_1019500",
        "ghost_unet_2blocks",
        "ghost_linknet_2blocks",
        "simswap_224",
    ],
)
@pytest.mark.slow
def test_cli_swaps_and_labels_with_every_swapper_family(
    all_swappers_dir, photos, tmp_path, capsys, name
):
    out = tmp_path / "out.jpg"
    target = photos / "obama.jpg"
    args = ["swap", "-s", str(photos / "biden.jpg"), "-t", str(target), "-o", str(out)]
    assert main([*args, "--swapper", name, "--models-dir", str(all_swappers_dir), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["faces_swapped"] == 1 and summary["label"].startswith("AI-generated")
    # A trained model made the face: IPTC's term for that, not compositeSynthetic.
    assert summary["digital_source_type"] == "compositeWithTrainedAlgorithmicMedia"
    assert rgb(out).shape == rgb(target).shape
    assert main(["inspect", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["digital_source_type"] == "compositeWithTrainedAlgorithmicMedia"


def _to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Weights, constants and graph I/O in float16, as the published inswapper_128_fp16 has them
    (Resize scales stay float32: ONNX requires it)."""
    from onnx import TensorProto, numpy_helper

    keep = {name for n in model.graph.node if n.op_type == "Resize" for name in n.input[1:]}
    for init in model.graph.initializer:
        if init.data_type == TensorProto.FLOAT and init.name not in keep:
            init.CopyFrom(
                numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name)
            )
    for n in model.graph.node:
        if (
            n.op_type == "Constant"
            and n.output[0] not in keep
            and n.attribute[0].t.data_type == TensorProto.FLOAT
        ):
            t = n.attribute[0].t
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
    for v in [*model.graph.input, *model.graph.output]:
        v.type.tensor_type.elem_type = TensorProto.FLOAT16
    del model.graph.value_info[:]
    return model


@pytest.mark.slow
def test_inswapper_fp16_file_runs_on_both_runtimes(models_dir, tmp_path, photos):
    import shutil

    from twoface import Swapper

    home = tmp_path / "fp16"
    (home / "models").mkdir(parents=True)
    model = _to_fp16(onnx.load(str(models_dir / "models" / "inswapper_128.onnx")))
    onnx.save(model, str(home / "models" / "inswapper_128_fp16.onnx"))
    shutil.copy(models_dir / "models" / "w600k_r50.onnx", home / "models")
    full = (
        Swapper(swapper="inswapper_128", models_dir=models_dir)
        .swap_image(photos / "biden.jpg", photos / "obama.jpg")
        .image
    )
    for runtime in ("onnxruntime", "torch"):
        sw = Swapper(swapper="inswapper_128_fp16", models_dir=home, runtime=runtime)
        half = sw.swap_image(photos / "biden.jpg", photos / "obama.jpg").image
        assert np.abs(half.astype(int) - full.astype(int)).max() <= 3, runtime


@pytest.mark.slow
def test_video_swap_with_a_learned_swapper_batches_frames(models_dir, photos, tmp_path):
    from videotools import decode, face_frame, write_clip

    from twoface import Swapper

    face = rgb(photos / "obama2.jpg")
    clip = tmp_path / "clip.mp4"
    write_clip(clip, [face_frame(face, shift=2 * i) for i in range(12)])
    out = tmp_path / "out.mp4"
    sw = Swapper(swapper="inswapper_128", models_dir=models_dir, runtime="torch")
    result = sw.swap_video(photos / "biden.jpg", clip, out, progress=False)
    before, _, _ = decode(clip)
    after, _, _ = decode(out)
    assert result.frames == len(after) == 12 and result.frames_swapped == 12
    changed = [
        np.abs(a.astype(int) - b.astype(int)).max(2).mean()
        for a, b in zip(before, after, strict=True)
    ]
    assert min(changed) > 2


def test_pose_templates_pick_the_pose_the_keypoints_have():
    """GHOST and SimSwap 224 crop with insightface's five pose templates: a face whose keypoints
    match one template (moved and scaled) is aligned exactly onto that one."""
    from twoface.geometry import POSE_112, apply_affine, fit_template

    for i, t in enumerate(POSE_112):
        kps = t * (1.3 + 0.2 * i) + [17.0 * i, 5.0]
        m = fit_template(kps, "insightface_pose", 224)
        assert np.abs(apply_affine(m, kps) - t * 2).max() < 1e-3, i


def test_a_video_with_keypoints_only_tracks_people_by_their_boxes(models_dir, photos, tmp_path):
    """dlib128 cannot read the keypoint-only landmarker's faces: a video job then tracks people
    by box overlap instead of failing (it was an internal error through `twoface batch`)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from videotools import face_frame, write_clip

    from twoface import Swapper
    from twoface.jobs import Runner, job_from_json

    frame = face_frame(rgb(photos / "obama2.jpg"))
    clip = tmp_path / "clip.mp4"
    write_clip(clip, [np.roll(frame, 2 * i, axis=1) for i in range(6)])
    sw = Swapper(swapper="inswapper_128", landmarker="none", models_dir=models_dir)
    assert not sw._encoder_reads_faces()
    assert Swapper(swapper="inswapper_128", models_dir=models_dir)._encoder_reads_faces()
    job = job_from_json(
        {
            "kind": "video",
            "sources": [str(photos / "biden.jpg")],
            "target": str(clip),
            "output": str(tmp_path / "out.mp4"),
            "models": {
                "swapper": "inswapper_128",
                "landmarker": "none",
                "models_dir": str(models_dir),
            },
            "write": {"preset": "ultrafast"},
        }
    )
    result = Runner().run(job)
    assert result.frames == 6 and result.frames_swapped == 6 and result.tracks == 1


def test_swap_takes_the_keypoint_only_landmarker(models_dir, photos, tmp_path, capsys):
    out = tmp_path / "out.png"
    argv = ["swap", "-s", str(photos / "biden.jpg"), "-t", str(photos / "obama.jpg")]
    argv += ["-o", str(out), "--models-dir", str(models_dir), "--landmarks", "none"]
    assert main([*argv, "--swapper", "inswapper_128"]) == 0
    assert out.is_file()
    capsys.readouterr()
    assert main([*argv, "--swapper", "classical"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "twoface: error: the classical engine needs landmarks: use a landmarker such as dlib68, "
        "not none"
    )


def test_live_takes_the_keypoint_only_landmarker(models_dir, photos, tmp_path, capsys):
    """`twoface live --landmarks none` (the fastest learned path) swaps: the source photo's
    descriptor is never taken, since dlib128 cannot read keypoint-only faces (it was an
    internal error)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from videotools import face_frame, write_clip

    frame = face_frame(rgb(photos / "obama2.jpg"))
    clip = tmp_path / "camera.mp4"
    write_clip(clip, [np.roll(frame, 2 * i, axis=1) for i in range(8)])
    argv = ["live", "-s", str(photos / "biden.jpg"), "--camera", str(clip), "--json"]
    argv += ["--swapper", "inswapper_128", "--landmarks", "none", "--frames", "8"]
    assert main([*argv, "--models-dir", str(models_dir), "--offline"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["swapper"] == "inswapper_128" and figures["frames_out"] >= 1
    assert figures["faces_swapped"] == figures["frames_out"]  # the one face in every frame shown
    assert figures["stage_ms"]["landmarks"] < figures["stage_ms"]["detect"]
