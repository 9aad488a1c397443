"""What a learned swap is pasted through and finished with: face parsing (BiSeNet), occlusion
(XSeg), the mouth, restorers and pixel boost. Model files are built here in the published formats
(face-parsing.PyTorch's .pth by its key names; FaceFusion's ONNX exports by their inputs and
outputs) with random weights."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from conftest import rgb, swap_argv

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from twoface.geometry import apply_affine  # noqa: E402
from twoface.swap.base import Generator, GeneratorSpec, SwapJob  # noqa: E402
from twoface.swap.engine import LearnedEngine, align_jobs, explode, implode  # noqa: E402


def _export(module, args, names, outputs, path, dynamic=True):
    buf = io.BytesIO()
    axes = {n: {0: "batch"} for n in [names[0], *outputs]} if dynamic else None
    torch.onnx.export(
        module.eval(),
        args,
        buf,
        input_names=names,
        output_names=outputs,
        dynamo=False,
        opset_version=13,
        dynamic_axes=axes,
    )
    path.write_bytes(buf.getvalue())


def _randomise_norms(net, seed=0):
    """BatchNorm statistics away from 0/1, so a wrong normalisation would show."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return net.eval()


class _XSeg(torch.nn.Module):
    """XSeg's interface: NHWC 0..1 in, NHWC face probability out."""

    def __init__(self, constant: float | None = None):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 3, padding=1)
        self.constant = constant

    def forward(self, x):
        y = torch.sigmoid(self.conv(x.permute(0, 3, 1, 2))).permute(0, 2, 3, 1)
        return y * 0 + self.constant if self.constant is not None else y


class _Restorer(torch.nn.Module):
    def __init__(self, identity=False):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.identity = identity

    def forward(self, x):
        return x if self.identity else torch.tanh(self.conv(x))


class _CodeFormerLike(torch.nn.Module):
    """CodeFormer's export interface: `input` and a float64 `weight` of shape [1]; weight 1
    gives the input back."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x, weight):
        w = weight.float()
        return torch.tanh(self.conv(x)) * (1 - w) + x * w


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """A model store with official-format parsing, occlusion and restoration files."""
    from twoface.parse.bisenet import BiSeNet

    home = tmp_path_factory.mktemp("finish")
    models = home / "models"
    models.mkdir()
    torch.manual_seed(0)
    net = _randomise_norms(BiSeNet())
    torch.save(net.state_dict(), models / "79999_iter.pth")
    x = torch.rand(1, 3, 512, 512)
    _export(net, (x,), ["input"], ["output"], models / "bisenet_resnet_34.onnx")
    _export(_XSeg(), (torch.rand(1, 256, 256, 3),), ["input"], ["output"], models / "xseg_1.onnx")
    for version, constant in ((2, 0.0), (3, 1.0)):  # all occluded; nothing occluded
        xseg = models / f"xseg_{version}.onnx"
        _export(_XSeg(constant), (torch.rand(1, 256, 256, 3),), ["input"], ["output"], xseg)
    _export(_Restorer(), (x,), ["input"], ["output"], models / "gfpgan_1.4.onnx")
    _export(_Restorer(True), (x,), ["input"], ["output"], models / "restoreformer_plus_plus.onnx")
    _export(
        _CodeFormerLike(),
        (x, torch.tensor([0.5], dtype=torch.float64)),
        ["input", "weight"],
        ["output"],
        models / "codeformer.onnx",
        dynamic=False,  # FaceFusion's export fixes batch 1
    )
    return home


# -- face parsing ------------------------------------------------------------------------------


def test_bisenet_has_the_published_key_names_and_shapes():
    from twoface.parse.bisenet import BiSeNet

    shapes = {k: tuple(v.shape) for k, v in BiSeNet().state_dict().items()}
    published = {
        "cp.resnet.conv1.weight": (64, 3, 7, 7),
        "cp.resnet.layer2.0.downsample.0.weight": (128, 64, 1, 1),
        "cp.resnet.layer4.1.bn2.running_var": (512,),
        "cp.arm16.conv.conv.weight": (128, 256, 3, 3),
        "cp.arm32.conv_atten.weight": (128, 128, 1, 1),
        "cp.arm32.bn_atten.weight": (128,),
        "cp.conv_head32.conv.weight": (128, 128, 3, 3),
        "cp.conv_avg.conv.weight": (128, 512, 1, 1),
        "ffm.convblk.conv.weight": (256, 256, 1, 1),
        "ffm.conv1.weight": (64, 256, 1, 1),
        "ffm.conv2.weight": (256, 64, 1, 1),
        "conv_out.conv.conv.weight": (256, 256, 3, 3),
        "conv_out.conv_out.weight": (19, 256, 1, 1),
        "conv_out16.conv_out.weight": (19, 64, 1, 1),
        "conv_out32.conv.bn.running_mean": (64,),
    }
    for key, shape in published.items():
        assert shapes.get(key) == shape, key
    assert not any(
        k.startswith("sp.") for k in shapes
    )  # face-parsing.PyTorch drops the spatial path


@pytest.mark.slow
def test_parser_pth_and_onnx_agree_on_both_runtimes(zoo, photos):
    from twoface.parse import FaceParser

    models = zoo / "models"
    crops = np.stack(
        [rgb(photos / "obama.jpg")[200:456, 300:556], rgb(photos / "biden.jpg")[300:556, 300:556]]
    )
    pth = FaceParser.from_checkpoint(models / "79999_iter.pth", "cpu")
    ort = FaceParser.from_onnx(models / "bisenet_resnet_34.onnx", "onnxruntime")
    tor = FaceParser.from_onnx(models / "bisenet_resnet_34.onnx", "torch", "cpu")
    labels = [p.labels(crops) for p in (pth, ort, tor)]
    assert labels[0].shape == (2, 256, 256) and len(np.unique(labels[0])) > 1
    for other in labels[1:]:
        assert (other == labels[0]).mean() > 0.995


def test_region_names_and_groups():
    from twoface.errors import UsageError
    from twoface.parse import CLASSES, region_classes

    assert region_classes(["nose"]) == [CLASSES.index("nose")]
    assert region_classes(["lips", "brows"]) == [2, 3, 12, 13]
    with pytest.raises(UsageError, match="unknown face region 'beard'"):
        region_classes(["beard"])


# -- engine-level behaviour ---------------------------------------------------------------------


class _Paint(Generator):
    """A generator that paints its crops one colour (or hands them back unchanged)."""

    name = "paint"

    def __init__(self, colour=(255, 0, 255), size=128, identity=False):
        self.spec = GeneratorSpec(size, "arcface")
        self.colour, self.identity, self.seen = colour, identity, []

    def latents(self, sources):
        return np.zeros((len(sources), 1), np.float32)

    def generate(self, crops, latents):
        self.seen.append(crops.copy())
        if self.identity:
            return crops.copy()
        return np.broadcast_to(np.array(self.colour, np.uint8), crops.shape).copy()


@pytest.fixture(scope="module")
def face_frame(photos):
    from twoface import Swapper

    frame = rgb(photos / "biden.jpg")  # mouth closed (inner-lip gap 0.01 of its width)
    faces = Swapper().analyse([frame])[0]
    assert len(faces) == 1
    return frame, faces[0]


def _job(face):
    return [SwapJob(0, face, None)]


def _changed(before, after):
    return np.abs(after.astype(int) - before.astype(int)).max(2) > 0


def test_occluder_that_covers_everything_leaves_the_target_unchanged(zoo, face_frame):
    from twoface.mask.base import OcclusionMasker
    from twoface.parse import Occluder
    from twoface.runtime import load_graph

    frame, face = face_frame
    graph = load_graph(zoo / "models" / "xseg_2.onnx")
    occluder = Occluder(lambda x: next(iter(graph(x).values())))
    out = LearnedEngine(_Paint(), [OcclusionMasker(occluder)]).swap([frame], _job(face))[0]
    assert np.array_equal(out, frame)
    painted = LearnedEngine(_Paint(), []).swap([frame], _job(face))[0]
    assert _changed(frame, painted).sum() > 5000  # without the occluder the face is painted


def test_xseg_runs_the_same_on_both_runtimes(zoo, face_frame):
    from twoface.parse import Occluder
    from twoface.runtime import load_graph

    frame, face = face_frame
    crops, _ = align_jobs([frame], _job(face), 256, "arcface")
    got = []
    for runtime in ("onnxruntime", "torch"):
        graph = load_graph(zoo / "models" / "xseg_1.onnx", runtime)
        got.append(Occluder(lambda x, g=graph: next(iter(g(x).values()))).face_probability(crops))
    assert got[0].shape == (1, 256, 256) and got[0].min() >= 0 and got[0].max() <= 1
    assert np.abs(got[0] - got[1]).max() < 1e-4


def test_a_parser_that_marks_only_the_nose_changes_only_the_nose(face_frame):
    from twoface.mask.base import RegionMasker
    from twoface.parse import CLASSES, FaceParser

    frame, face = face_frame
    nose = CLASSES.index("nose")
    box = (200, 180, 320, 340)  # x0, y0, x1, y1 in the parser's 512 grid

    def run(x):
        logits = np.zeros((len(x), 19, 512, 512), np.float32)
        logits[:, 0] = 1
        logits[:, nose, box[1] : box[3], box[0] : box[2]] = 2
        return logits

    masker = RegionMasker(FaceParser(run), regions=["nose"])
    gen = _Paint()
    out = LearnedEngine(gen, [masker]).swap([frame], _job(face))[0]
    changed = np.argwhere(_changed(frame, out))[:, ::-1].astype(np.float64)
    assert len(changed) > 300
    _, affines = align_jobs([frame], _job(face), 128, "arcface")
    in_crop = apply_affine(affines[0], changed) * (512 / 128)  # crop -> parser grid
    x0, y0, x1, y1 = box
    inside = (
        (in_crop[:, 0] >= x0 - 6)
        & (in_crop[:, 0] <= x1 + 6)
        & (in_crop[:, 1] >= y0 - 6)
        & (in_crop[:, 1] <= y1 + 6)
    )
    assert inside.all()


def test_mouth_mask_keeps_an_open_target_mouth(face_frame):
    from twoface.mask.base import MouthMasker
    from twoface.schemes import scheme_of

    frame, face = face_frame
    lm = face.landmarks.copy()
    scheme = scheme_of(lm, face.landmark_scheme)
    closed = MouthMasker().masks(
        np.zeros((1, 128, 128, 3), np.uint8),
        [face],
        align_jobs([frame], _job(face), 128, "arcface")[1],
    )
    assert closed.min() == 1.0  # a closed mouth: nothing kept
    # Open the mouth: lower lip and chin points down by a fifth of the face height.
    idx = list(scheme.groups["lips_lower_inner"])
    lm[idx, 1] += 0.2 * face.height
    opened = face.with_landmarks(lm, face.landmark_scheme)
    out = LearnedEngine(_Paint(), [MouthMasker()]).swap([frame], _job(opened))[0]
    inner = np.concatenate(
        [scheme.group(lm, "lips_upper_inner"), scheme.group(lm, "lips_lower_inner")]
    )
    centre = inner.mean(0).round().astype(int)
    y, x = centre[1], centre[0]
    assert np.array_equal(out[y - 3 : y + 4, x - 3 : x + 4], frame[y - 3 : y + 4, x - 3 : x + 4])
    cheek = np.round(scheme.group(lm, "jaw")[4] * 0.6 + face.kps[2] * 0.4).astype(int)
    assert _changed(
        frame[cheek[1] : cheek[1] + 1, cheek[0] : cheek[0] + 1],
        out[cheek[1] : cheek[1] + 1, cheek[0] : cheek[0] + 1],
    ).all()


# -- restoration ---------------------------------------------------------------------------------


def test_restorers_run_the_same_on_both_runtimes(zoo, face_frame):
    from twoface.enhance.restorers import OnnxRestorer

    frame, face = face_frame
    crops, _ = align_jobs(
        [frame, frame], [SwapJob(0, face, None), SwapJob(1, face, None)], 512, "ffhq"
    )
    for name in ("gfpgan_1.4.onnx", "codeformer.onnx"):
        a = OnnxRestorer(zoo / "models" / name, runtime="onnxruntime").enhance(crops)
        b = OnnxRestorer(zoo / "models" / name, runtime="torch", device="cpu").enhance(crops)
        assert a.shape == crops.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1
        assert np.abs(a.astype(int) - crops.astype(int)).mean() > 10


def test_codeformer_weight_reaches_the_graph(zoo, face_frame):
    from twoface.enhance.restorers import OnnxRestorer

    frame, face = face_frame
    crops, _ = align_jobs([frame], _job(face), 512, "ffhq")
    path = zoo / "models" / "codeformer.onnx"
    faithful = OnnxRestorer(path, weight=1.0).enhance(crops)
    assert np.abs(faithful.astype(int) - crops.astype(int)).max() <= 1  # weight 1: the input
    restored = OnnxRestorer(path, weight=0.0).enhance(crops)
    assert np.abs(restored.astype(int) - crops.astype(int)).mean() > 10


def test_identity_enhancer_or_blend_zero_leaves_the_swap(zoo, face_frame):
    from twoface.enhance.restorers import OnnxRestorer

    frame, face = face_frame
    plain = LearnedEngine(_Paint((200, 120, 90)), []).swap([frame], _job(face))[0]
    blend0 = OnnxRestorer(zoo / "models" / "gfpgan_1.4.onnx", blend=0.0)
    out = LearnedEngine(_Paint((200, 120, 90)), [], blend0).swap([frame], _job(face))[0]
    assert np.array_equal(out, plain)
    same = OnnxRestorer(zoo / "models" / "restoreformer_plus_plus.onnx", blend=1.0)
    out = LearnedEngine(_Paint((200, 120, 90)), [], same).swap([frame], _job(face))[0]
    diff = np.abs(out.astype(int) - plain.astype(int))
    # resampled twice (crop and paste-back), nothing else: small, sparse differences
    assert diff.mean() < 0.2 and (diff > 8).mean() < 0.002
    changed = LearnedEngine(
        _Paint((200, 120, 90)), [], OnnxRestorer(zoo / "models" / "gfpgan_1.4.onnx", blend=1.0)
    ).swap([frame], _job(face))[0]
    assert np.abs(changed.astype(int) - plain.astype(int)).max() > 40


# -- pixel boost -----------------------------------------------------------------------------------


def test_implode_explode_are_inverse_and_tiles_are_whole_faces():
    crops = np.random.default_rng(0).integers(0, 255, (2, 512, 512, 3), dtype=np.uint8)
    tiles = implode(crops, 4)
    assert tiles.shape == (32, 128, 128, 3)
    assert np.array_equal(
        tiles[1], crops[0, 0::4, 1::4]
    )  # tile (0, 1): rows 0, 4 ..., cols 1, 5 ...
    assert np.array_equal(explode(tiles, 4), crops)


def test_pixel_boost_with_an_identity_generator_reproduces_the_crop(face_frame):
    frame, face = face_frame
    gen = _Paint(identity=True)
    engine = LearnedEngine(gen, [], pixel_boost=256)
    out = engine.swap([frame], _job(face))[0]
    assert gen.seen[0].shape == (4, 128, 128, 3)  # one face, 2 x 2 tiles at the model's size
    crops, _ = align_jobs([frame], _job(face), 256, "arcface")
    assert np.array_equal(explode(gen.seen[0], 2), crops)
    diff = np.abs(out.astype(int) - frame.astype(int))
    assert diff.mean() < 0.3 and (diff > 8).mean() < 0.005  # the crop pasted over itself


def test_pixel_boost_must_be_a_multiple_of_the_model_size():
    from twoface.errors import UsageError

    with pytest.raises(UsageError, match="pixel boost 200 needs a multiple of paint's 128-px"):
        LearnedEngine(_Paint(), [], pixel_boost=200)


# -- through the command line --------------------------------------------------------------------


@pytest.fixture(scope="module")
def swap_zoo(zoo):
    """The finishing files plus an inswapper-format generator."""
    from test_learned_swap import _arcface_file, _inswapper_file

    _inswapper_file(zoo / "models" / "inswapper_128.onnx")
    _arcface_file(zoo / "models" / "w600k_r50.onnx")
    return zoo


@pytest.mark.slow
def test_cli_swaps_with_masks_enhancer_and_pixel_boost(swap_zoo, photos, tmp_path, capsys):
    from twoface.cli import main

    target = photos / "obama.jpg"
    base = [
        "swap",
        "-s",
        str(photos / "biden.jpg"),
        "-t",
        str(target),
        "--swapper",
        "inswapper_128",
        "--models-dir",
        str(swap_zoo),
    ]
    plain, finished = tmp_path / "plain.png", tmp_path / "finished.png"
    assert main([*base, "-o", str(plain)]) == 0
    from twoface.parse import CLASSES

    # Random weights: the parser's every class but background, an occluder that sees the face.
    argv = [
        *base,
        "-o",
        str(finished),
        "--mask",
        "box,region,occlusion,mouth",
        "--parser",
        "bisenet_79999",
        "--mask-regions",
        ",".join(CLASSES[1:]),
        "--occluder",
        "xseg_3",
    ]
    argv += ["--enhancer", "codeformer_onnx", "--enhancer-weight", "0.3", "--pixel-boost", "256"]
    assert main(argv) == 0
    a, b, t = rgb(plain), rgb(finished), rgb(target)
    assert np.abs(b.astype(int) - t.astype(int)).max() > 40  # the face changed
    assert np.abs(b.astype(int) - a.astype(int)).max() > 40  # and the finish did something
    assert np.array_equal(b[-80:], t[-80:])  # far from the face: untouched
    capsys.readouterr()
    assert main(["inspect", str(finished)]) == 0


@pytest.mark.slow
def test_cli_finish_errors_are_one_line(swap_zoo, photos, tmp_path, capsys):
    from twoface.cli import main

    out = tmp_path / "o.png"
    base = swap_argv(photos, out)
    zoo = ["--swapper", "inswapper_128", "--models-dir", str(swap_zoo)]
    assert main([*base, *zoo, "--mask", "box,hair"]) == 2
    assert (
        "unknown mask 'hair'; choose from box, area, region, occlusion, mouth, ghost"
        in capsys.readouterr().err
    )
    assert main([*base, *zoo, "--mask", "region", "--parser", "bisenet_resnet_18"]) != 0
    err = capsys.readouterr().err
    assert (
        "model bisenet_resnet_18 is not in" in err
        and "twoface models download bisenet_resnet_18" in err
    )
    assert main([*base, *zoo, "--enhancer", "codeformer"]) == 2
    assert (
        "enhancer codeformer is in the catalogue but twoface cannot run it yet"
        in capsys.readouterr().err
    )
    assert main([*base, *zoo, "--enhancer", "codeformer_onnx", "--enhancer-blend", "1.5"]) == 2
    assert "enhancer blend must be in [0, 1], got 1.5" in capsys.readouterr().err
    assert not out.exists()
    # The classical engine takes the model masks (here not installed: one line, exit 4) ...
    assert main([*base, "--mask", "occlusion", "--models-dir", str(tmp_path / "empty")]) == 4
    assert "model xseg_1 is not in" in capsys.readouterr().err
    assert not out.exists()
    # ... and notes the learned swappers' own.
    assert main([*base, "--mask", "box"]) == 0
    assert "--mask box applies to learned swappers" in capsys.readouterr().err


# -- GFPGAN's .pth ---------------------------------------------------------------------------------


def test_gfpgan_has_the_published_key_names_and_shapes():
    from twoface.enhance.gfpgan import GFPGANv1Clean

    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in GFPGANv1Clean(512).state_dict().items()}
    assert len(shapes) == 285  # GFPGANv1.4.pth's params_ema holds 285 tensors
    published = {
        "conv_body_first.weight": (32, 3, 1, 1),
        "conv_body_down.0.conv1.weight": (32, 32, 3, 3),
        "conv_body_down.6.skip.weight": (256, 256, 1, 1),
        "final_linear.weight": (16 * 512, 256 * 16),
        "condition_scale.6.2.weight": (32, 32, 3, 3),
        "toRGB.0.weight": (3, 256, 1, 1),
        "stylegan_decoder.style_mlp.1.weight": (512, 512),
        "stylegan_decoder.constant_input.weight": (1, 512, 4, 4),
        "stylegan_decoder.style_conv1.modulated_conv.modulation.weight": (512, 512),
        "stylegan_decoder.style_convs.13.modulated_conv.weight": (1, 64, 64, 3, 3),
        "stylegan_decoder.to_rgbs.6.bias": (1, 3, 1, 1),
        "stylegan_decoder.noises.noise14": (1, 1, 512, 512),
    }
    for key, shape in published.items():
        assert shapes.get(key) == shape, key


@pytest.mark.slow
def test_gfpgan_pth_matches_its_onnx_export_on_both_runtimes(tmp_path, face_frame):
    """A narrow GFPGAN saved as the published files are ({"params_ema": ...}) and exported as
    FaceFusion's ONNX files are: the .pth restorer, onnxruntime and twoface's PyTorch graph agree."""
    from twoface.enhance.gfpgan import GFPGANv1Clean
    from twoface.enhance.restorers import GfpganRestorer, OnnxRestorer

    torch.manual_seed(3)
    net = GFPGANv1Clean(512, narrow=0.125).eval()
    torch.save({"params_ema": net.state_dict()}, tmp_path / "GFPGANv1.4.pth")
    _export(
        net,
        (torch.rand(1, 3, 512, 512),),
        ["input"],
        ["output"],
        tmp_path / "gfpgan.onnx",
        dynamic=False,
    )
    frame, face = face_frame
    crops, _ = align_jobs(
        [frame, frame[:, ::-1].copy()],
        [SwapJob(0, face, None), SwapJob(1, face, None)],
        512,
        "ffhq",
    )
    pth = GfpganRestorer(tmp_path / "GFPGANv1.4.pth", device="cpu").enhance(crops)
    for runtime in ("onnxruntime", "torch"):
        got = OnnxRestorer(tmp_path / "gfpgan.onnx", runtime=runtime, device="cpu").enhance(crops)
        assert np.abs(got.astype(int) - pth.astype(int)).max() <= 1, runtime
    assert pth.shape == crops.shape and pth.std() > 1


def test_api_keywords_build_the_finish(swap_zoo):
    from twoface import Swapper
    from twoface.enhance.restorers import OnnxRestorer
    from twoface.mask import BoxMasker, MouthMasker, OcclusionMasker

    sw = Swapper(
        swapper="inswapper_128",
        models_dir=swap_zoo,
        masks=["box", "occlusion", "mouth"],
        enhancer="codeformer_onnx",
        enhancer_blend=0.5,
        enhancer_weight=0.9,
        pixel_boost=512,
    )
    kinds = [type(m) for m in sw.engine.maskers]
    assert kinds == [BoxMasker, OcclusionMasker, MouthMasker]
    assert isinstance(sw.engine.enhancer, OnnxRestorer) and sw.engine.enhancer.takes_weight
    assert (sw.engine.enhancer.blend, sw.engine.enhancer.weight) == (0.5, 0.9)
    assert sw.engine.boost == 4


# -- GHOST: super-resolution and its 106-landmark mask -------------------------------------------


def test_ghost_sr_has_the_published_key_names_and_shapes():
    from twoface.enhance.ghost_sr import GhostSR

    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in GhostSR().state_dict().items()}
    assert len(shapes) == 230  # 10_net_G.pth: sber-swap's LIPSPADEGenerator, ngf 48
    published = {
        "fc.weight": (768, 3, 3, 3),
        "head_0.conv_0.weight_orig": (768, 768, 3, 3),
        "head_0.conv_0.weight_u": (768,),
        "head_0.conv_0.weight_v": (6912,),
        "head_0.norm_0.param_free_norm.running_var": (768,),
        "head_0.norm_0.mlp_shared.0.weight": (128, 3, 3, 3),
        "ups.0.conv_s.weight_orig": (384, 768, 1, 1),
        "ups.3.norm_1.mlp_gamma.weight": (48, 48, 3, 3),
        "to_rgbs.3.weight": (3, 48, 3, 3),
        "lip_encoder.model.0.weight": (48, 3, 3, 3),
        "lip_encoder.model.3.logit.1.bias": (48,),
        "lip_encoder.model.19.logit.0.weight": (768, 768, 3, 3),
        "lip_encoder.model.20.weight": (768, 768, 3, 3),
    }
    for key, shape in published.items():
        assert shapes.get(key) == shape, key


def test_spectral_norm_conv_matches_pytorchs_in_eval():
    from twoface.enhance.ghost_sr import SNConv2d

    torch.manual_seed(0)
    ref = torch.nn.utils.spectral_norm(torch.nn.Conv2d(6, 5, 3, padding=1))
    ref.train()
    ref(torch.rand(1, 6, 8, 8))  # a power iteration: u, v move away from their start
    ref.eval()
    mine = SNConv2d(6, 5, 3)
    mine.load_state_dict(ref.state_dict())
    x = torch.rand(2, 6, 8, 8)
    with torch.no_grad():
        assert torch.allclose(mine(x), ref(x), atol=1e-6)


def _points(shift_left=0.0, shift_right=0.0):
    """106 points on an ellipse in a 224 crop; jaw points 1, 2, 13 / 17, 18, 29 shifted in x."""
    t = np.linspace(0, 2 * np.pi, 106, endpoint=False)
    pts = np.stack([112 + 60 * np.cos(t), 120 + 80 * np.sin(t)], 1)
    pts[[1, 2, 13], 0] += shift_left
    pts[[17, 18, 29], 0] += shift_right
    return pts


def test_ghost_blend_params_follow_sber_swap():
    from twoface.mask.base import ghost_blend_params

    target = _points()
    assert ghost_blend_params(_points(), target) == (5, 5, 5)
    assert ghost_blend_params(_points(shift_left=3), target) == (15, 15, 10)  # offset 9
    assert ghost_blend_params(_points(shift_left=1.5), target) == (10, 10, 8)  # offset 4.5
    assert ghost_blend_params(_points(-2, 2), target) == (-5, 5, 10)  # offset -6


def test_ghost_mask_is_the_blurred_hull_clear_of_the_border():
    from twoface.mask.base import ghost_mask

    pts = _points()
    mask = ghost_mask(pts, 224, (5, 5, 5))
    assert mask.shape == (224, 224) and mask[120, 112] > 0.99
    assert mask[:10].max() == 0 and mask[:, -10:].max() == 0  # faded to the border
    assert mask[120, 20] < 0.01  # outside the hull
    eroded = ghost_mask(pts, 224, (15, 15, 10))
    assert eroded.sum() < mask.sum()
    scaled = ghost_mask(pts * 2, 448, (5, 5, 5))  # the same mask at twice the crop size
    assert abs(scaled.sum() / 4 - mask.sum()) / mask.sum() < 0.04


class _Tiny106(torch.nn.Module):
    """2d106det's interface: (N, 3, 192, 192) -> 212 values in [-1, 1]: points on an ellipse
    over the face (the crop fills the middle two thirds of the input), moved a little by the
    image."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 8, 8)
        self.fc = torch.nn.Linear(4 * 24 * 24, 212)
        t = torch.linspace(0, 2 * np.pi, 107)[:106]
        self.register_buffer(
            "base", torch.stack([0.4 * torch.cos(t), 0.5 * torch.sin(t)], 1).flatten()
        )

    def forward(self, x):
        return self.base + 0.03 * torch.tanh(self.fc(torch.relu(self.conv(x / 255)).flatten(1)))


@pytest.fixture(scope="module")
def ghost_zoo(tmp_path_factory):
    from twoface.enhance.ghost_sr import GhostSR
    from twoface.identity.iresnet import IResNet
    from twoface.swap.ghost import AEINet

    home = tmp_path_factory.mktemp("ghost_finish")
    models = home / "models"
    models.mkdir()
    torch.manual_seed(0)
    torch.save(AEINet("unet", 2, width=1 / 16).state_dict(), models / "G_unet_2blocks.pth")
    torch.save(IResNet((1, 2, 1, 1), width=1 / 8).state_dict(), models / "backbone.pth")
    sr = _randomise_norms(GhostSR(ngf=8))
    torch.save(sr.state_dict(), models / "10_net_G.pth")
    _export(
        _Tiny106(), (torch.rand(1, 3, 192, 192) * 255,), ["data"], ["fc1"], models / "2d106det.onnx"
    )
    return home


@pytest.mark.slow
def test_ghost_swapper_with_sr_and_its_own_mask(ghost_zoo, photos, tmp_path):
    from twoface import Swapper
    from twoface.swap.ghost import GhostWithSR

    target = rgb(photos / "obama.jpg")
    plain = Swapper(swapper="ghost_unet_2blocks", models_dir=ghost_zoo)
    finished = Swapper(
        swapper="ghost_unet_2blocks", models_dir=ghost_zoo, ghost_sr=True, masks=["ghost"]
    )
    assert isinstance(finished.engine.generator, GhostWithSR)
    a = plain.swap_image(photos / "biden.jpg", target).image
    b = finished.swap_image(photos / "biden.jpg", target).image
    assert np.abs(b.astype(int) - target.astype(int)).max() > 30  # swapped
    assert np.abs(b.astype(int) - a.astype(int)).max() > 30  # and finished differently
    assert np.array_equal(b[-100:], target[-100:])


@pytest.mark.slow
def test_ghost_sr_is_only_for_ghost_swappers(swap_zoo, ghost_zoo, photos, tmp_path, capsys):
    import shutil

    from twoface.cli import main

    shutil.copy(ghost_zoo / "models" / "10_net_G.pth", swap_zoo / "models")
    out = tmp_path / "o.png"
    argv = swap_argv(photos, out)
    argv += ["--swapper", "inswapper_128", "--models-dir", str(swap_zoo)]
    assert main([*argv, "--ghost-sr"]) == 2
    assert (
        "ghost super-resolution applies to the GHOST swappers, not inswapper"
        in capsys.readouterr().err
    )
    assert not out.exists()
    assert main([*argv, "--enhancer", "ghost_sr"]) == 0  # as a restorer it serves any swap


@pytest.mark.slow
def test_finishing_stages_add_no_temporal_jitter(zoo, photos, tmp_path):
    """A video through the learned engine with a generator that hands the crop back, pasted
    through box and mouth masks, pixel boost 256 and a restorer that hands its crop back: the
    output's frame-to-frame flicker inside the face stays within 10% of the input's (masks and
    re-crops that moved from frame to frame would show here)."""
    import av
    from conftest import SHARED

    from twoface import Swapper
    from twoface.enhance.restorers import OnnxRestorer
    from twoface.mask import BoxMasker, MouthMasker

    clip = SHARED / "data" / "video" / "dance.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    sw = Swapper()
    restorer = OnnxRestorer(zoo / "models" / "restoreformer_plus_plus.onnx", blend=1.0)
    sw.engine = LearnedEngine(
        _Paint(identity=True), [BoxMasker(), MouthMasker()], restorer, pixel_boost=256
    )
    out = tmp_path / "dance.mp4"
    sw.swap_video(photos / "obama.jpg", clip, out, trim=(0, 1.2))

    def frames(path):
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="rgb24").astype(np.float32) for f in c.decode(video=0)]

    a, b = frames(clip)[: len(frames(out))], frames(out)
    assert len(b) >= 25
    x1, y1, x2, y2 = (int(v) for v in sw.analyse([a[0].astype(np.uint8)])[0][0].box)

    def flicker(seq):
        face = np.stack([f[y1:y2, x1:x2] for f in seq])
        return float(np.abs(face[2:] - 2 * face[1:-1] + face[:-2]).mean())

    f_in, f_out = flicker(a), flicker(b)
    assert f_out <= 1.10 * f_in, (f_in, f_out)


# -- the classical engine with model masks (issue 13) --------------------------------------------


def _classical_swap(maskers, photos):
    from twoface import Swapper
    from twoface.swap.classical import ClassicalEngine

    sw = Swapper()
    target = rgb(photos / "biden.jpg")
    engine = ClassicalEngine().with_maskers(maskers)
    sw.engine = engine
    return target, sw.swap_image(photos / "obama.jpg", target).image, sw


@pytest.mark.slow
def test_classical_engine_leaves_what_an_occluder_covers(zoo, photos):
    """An occlusion model saying nothing is face leaves the target bit-identical; one saying
    all is face replaces the colour test's answer: at least everything the colour test let
    through is swapped."""
    from twoface.mask.base import OcclusionMasker
    from twoface.parse import Occluder
    from twoface.runtime import load_graph

    def occluder(version):
        graph = load_graph(zoo / "models" / f"xseg_{version}.onnx")
        return OcclusionMasker(Occluder(lambda x: next(iter(graph(x).values()))))

    target, covered, _ = _classical_swap([occluder(2)], photos)
    assert np.array_equal(covered, target)
    _, clear, sw = _classical_swap([occluder(3)], photos)
    plain = _plain_swap(photos)
    assert _changed(target, clear).sum() >= _changed(target, plain).sum() > 5000


def _plain_swap(photos):
    from twoface import Swapper

    return Swapper().swap_image(photos / "obama.jpg", photos / "biden.jpg").image


@pytest.mark.slow
def test_classical_engine_swaps_only_what_the_parser_calls_face(photos):
    """A parser that calls only the left half of the aligned crop face: the swap changes the
    target on that side of the face only (a hand on the other side would be left alone)."""
    from twoface.mask.base import RegionMasker
    from twoface.parse import CLASSES, FaceParser

    skin = CLASSES.index("skin")

    def run(x):
        logits = np.zeros((len(x), 19, 512, 512), np.float32)
        logits[:, 0] = 1
        logits[:, skin, :, :256] = 2
        return logits

    target, out, sw = _classical_swap([RegionMasker(FaceParser(run), regions=["skin"])], photos)
    face = sw.analyse([target])[0][0]
    _, affines = align_jobs([target], _job(face), 256, "arcface")
    changed = np.argwhere(_changed(target, out))[:, ::-1].astype(np.float64)
    in_crop = apply_affine(affines[0], changed)
    assert len(changed) > 2000
    assert (in_crop[:, 0] < 128 + 8).mean() > 0.99  # the left half, up to the mask's feather


@pytest.mark.slow
def test_classical_engine_uses_an_installed_parser_by_default(zoo, photos):
    from twoface import Swapper
    from twoface.config import Config, FinishConfig, ModelsConfig
    from twoface.mask import MaskSettings
    from twoface.mask.base import OcclusionMasker, RegionMasker

    # Named: swap_zoo adds a learned swapper to this store, which `auto` would take.
    classical = ModelsConfig(models_dir=str(zoo), swapper="classical")
    with_parser = Swapper(Config(classical))
    assert [type(m) for m in with_parser.engine.maskers] == [RegionMasker]
    assert Swapper().engine.maskers == []  # none installed: the colour test alone
    asked = FinishConfig(masks=MaskSettings(names=("occlusion", "box")))
    both = Swapper(Config(classical, finish=asked))
    assert [type(m) for m in both.engine.maskers] == [OcclusionMasker]  # box: the learned's


def test_classical_engine_finds_the_sources_non_face_with_the_parser(photos):
    """With a face parser the source photo's non-face areas (filled with its own skin, not
    carried over) are the parser's answer, not the colour test's: a parser calling the lower
    half of the aligned face hair makes the source's cheeks and chin a hole; one calling all of
    it skin leaves none there."""
    from twoface import Swapper
    from twoface.mask.base import RegionMasker
    from twoface.parse import CLASSES, FaceParser
    from twoface.schemes import scheme_of
    from twoface.swap.base import RunState
    from twoface.swap.classical import ClassicalEngine

    def parser(lower: str):
        def run(x):
            logits = np.zeros((len(x), 19, 512, 512), np.float32)
            logits[:, CLASSES.index("skin")] = 1
            logits[:, CLASSES.index(lower), 300:] = 2
            return logits

        return RegionMasker(FaceParser(run), regions=["skin"])

    image = rgb(photos / "biden.jpg")
    face = Swapper().analyse([image])[0][0]
    scheme = scheme_of(face.landmarks)
    cheeks = np.zeros(image.shape[:2], bool)
    nose_y = int(scheme.point(face.landmarks, "nose_tip").reshape(-1)[1])
    chin_y = int(scheme.point(face.landmarks, "chin").reshape(-1)[1])
    x0, _, x1, _ = face.box.astype(int)
    cheeks[nose_y + 5 : chin_y - 5, x0 + 10 : x1 - 10] = True
    holes = {}
    for lower in ("hair", "skin"):
        engine = ClassicalEngine().with_maskers([parser(lower)])
        traits = engine._source_traits(RunState(), image, face.landmarks, scheme)
        hole_map, s = traits.holes, traits.scale
        big = (
            cv2.resize(hole_map, (image.shape[1], image.shape[0])) > 0.5
            if s != 1
            else hole_map > 0.5
        )
        holes[lower] = big[cheeks].mean()
    assert holes["hair"] > 0.6 and holes["skin"] < 0.1, holes
