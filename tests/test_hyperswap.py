"""HyperSwap (hyperswap_1a/1b/1c_256): files in the published format (inputs `source` [N, 512]
and `target` [N, 3, 256, 256], BGR in [-1, 1]) with random weights load by their names, align
to FaceFusion's arcface_128 template, and swap through the learned engine on both runtimes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_model, rgb

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from torch import nn  # noqa: E402

from twoface.cli import main  # noqa: E402


class _TinyHyperSwap(nn.Module):
    """A stand-in of the published graph's interface: the source embedding modulates a small
    convolutional net over the target crop; tanh output in [-1, 1] like the real one."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.inp = nn.Conv2d(3, 8, 3, padding=1)
        self.style = nn.Linear(512, 8)
        self.out = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, source, target):
        h = torch.relu(self.inp(target) + self.style(source)[:, :, None, None])
        return torch.tanh(self.out(h) * 4.0)


def _hyperswap_file(path, seed: int = 0, batch_one: bool = False):
    net = _TinyHyperSwap(seed).eval()
    src, tgt = torch.randn(1, 512), torch.randn(1, 3, 256, 256)
    dynamic = None if batch_one else {"source": {0: "n"}, "target": {0: "n"}, "output": {0: "n"}}
    torch.onnx.export(
        net,
        (src, tgt),
        str(path),
        input_names=["source", "target"],
        output_names=["output"],
        dynamic_axes=dynamic,
        opset_version=15,
        dynamo=False,
    )
    return net


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    from test_learned_swap import _arcface_file

    home = tmp_path_factory.mktemp("zoo")
    (home / "models").mkdir()
    _arcface_file(home / "models" / "w600k_r50.onnx")
    _hyperswap_file(home / "models" / "hyperswap_1a_256.onnx")
    _hyperswap_file(home / "models" / "hyperswap_1b_256.onnx", seed=1, batch_one=True)
    return home


def test_the_template_is_facefusions_arcface_128_at_any_size():
    from twoface.geometry import fit_template, template
    from twoface.swap.hyperswap import ARCFACE_128_FF, TEMPLATE

    pts = template(TEMPLATE, 256)
    assert np.allclose(pts / 256, ARCFACE_128_FF)
    m = fit_template(pts * 2 + 10, TEMPLATE, 256)  # the same face, twice as large and shifted
    assert np.allclose(m, [[0.5, 0, -5], [0, 0.5, -5]], atol=1e-4)


def test_generate_is_the_published_pre_and_post_processing(zoo):
    """The generator against the file run by hand as FaceFusion documents its steps: BGR, (x /
    255 - 0.5) / 0.5 in, out * 0.5 + 0.5 clipped, back to RGB bytes; batched and batch-1 files."""
    from twoface.identity.arcface import ArcFaceEncoder
    from twoface.swap.hyperswap import HyperSwapGenerator

    enc = ArcFaceEncoder(zoo / "models" / "w600k_r50.onnx")
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
    lat = rng.normal(size=(3, 512)).astype(np.float32)
    lat /= np.linalg.norm(lat, axis=1, keepdims=True)
    for name in ("hyperswap_1a_256.onnx", "hyperswap_1b_256.onnx"):
        path = zoo / "models" / name
        ours = HyperSwapGenerator(path, enc).generate(crops, lat)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        expected = []
        for crop, z in zip(crops, lat, strict=True):
            bgr = crop[:, :, ::-1].astype(np.float32) / 255.0
            x = ((bgr - 0.5) / 0.5).transpose(2, 0, 1)[None]
            (y,) = session.run(None, {"source": z[None], "target": x.astype(np.float32)})
            out = np.clip(y[0].transpose(1, 2, 0) * 0.5 + 0.5, 0, 1)[:, :, ::-1] * 255
            expected.append(out)
        diff = np.abs(ours.astype(float) - np.stack(expected))
        assert diff.max() <= 1.0, name  # rounding only


@pytest.mark.slow
def test_the_catalogue_swapper_moves_identity_on_both_runtimes(zoo, photos, tmp_path, capsys):
    target = photos / "obama.jpg"
    outs = {}
    for runtime in ("onnxruntime", "torch"):
        out = tmp_path / f"{runtime}.png"
        argv = ["swap", "-s", photos / "biden.jpg", "-t", target, "-o", out]
        argv += ["--swapper", "hyperswap_1a_256", "--models-dir", zoo, "--runtime", runtime]
        assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
        outs[runtime] = rgb(out).astype(int)
    before = rgb(target).astype(int)
    diff = np.abs(outs["onnxruntime"] - before).max(2)
    ys, xs = np.nonzero(diff > 40)
    assert len(ys) > 2000  # the face was generated anew (random weights: not a face)
    h, w = diff.shape
    assert diff[-h // 4 :].max() == 0  # far from the face (below the chin, the sides): kept
    assert diff[:, : w // 10].max() == 0 and diff[:, -w // 10 :].max() == 0
    assert np.abs(outs["torch"] - outs["onnxruntime"]).max() <= 3  # the two runtimes agree
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "onnxruntime.png")]) == 0


def test_a_file_with_other_inputs_is_refused_in_one_line(tmp_path, photos, capsys):
    from test_learned_swap import _arcface_file

    home = tmp_path / "zoo"
    (home / "models").mkdir(parents=True)
    _arcface_file(home / "models" / "w600k_r50.onnx")
    net = _TinyHyperSwap()
    torch.onnx.export(
        net,
        (torch.randn(1, 512), torch.randn(1, 3, 256, 256)),
        str(home / "models" / "hyperswap_1c_256.onnx"),
        input_names=["embedding", "image"],
        output_names=["output"],
        opset_version=15,
        dynamo=False,
    )
    out = tmp_path / "out.png"
    argv = ["swap", "-s", photos / "biden.jpg", "-t", photos / "obama.jpg", "-o", out]
    argv += ["--swapper", "hyperswap_1c_256", "--models-dir", home]
    assert main([str(a) for a in argv]) == 4
    err = capsys.readouterr().err.strip()
    assert err.endswith("a HyperSwap file has source and target") and "\n" not in err
    assert not out.exists()


def test_models_import_takes_a_hyperswap_file_by_its_name(tmp_path):
    src = tmp_path / "downloaded.onnx"
    _hyperswap_file(src)
    home = tmp_path / "zoo"
    assert import_model(home, src, "hyperswap_1a_256") == 0
    assert (home / "models" / "hyperswap_1a_256.onnx").read_bytes() == src.read_bytes()
