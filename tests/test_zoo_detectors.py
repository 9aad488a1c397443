"""Zoo detectors on the real files of ../shared/models: counts, and PyTorch vs onnxruntime parity."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import EXPECTED_FACES, import_model, shared_model

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")


def _photos(photos):
    from twoface.io.image import read_image

    return {name: read_image(photos / name).rgb for name in EXPECTED_FACES}


@pytest.fixture(scope="module")
def images(photos):
    return _photos(photos)


def _match(a, b):
    """Pairs of faces with the nearest box centres."""
    pairs = []
    for fa in a:
        fb = min(b, key=lambda f: np.linalg.norm(f.center - fa.center))
        pairs.append((fa, fb))
    return pairs


@pytest.mark.parametrize(
    ("filename", "cls"),
    [
        ("scrfd_500m_bnkps.onnx", "ScrfdDetector"),
        ("yunet_s_dynamic.onnx", "YunetDetector"),
        ("yunet_n_dynamic.onnx", "YunetDetector"),
    ],
)
@pytest.mark.slow
def test_torch_matches_onnxruntime_on_the_shared_photos(filename, cls, images):
    import twoface.detect.scrfd as scrfd
    import twoface.detect.yunet as yunet

    path = shared_model(filename)
    Det = getattr(scrfd if cls == "ScrfdDetector" else yunet, cls)  # noqa: N806
    ort_det, torch_det = Det(path, runtime="onnxruntime"), Det(path, runtime="torch")
    frames = list(images.values())
    a_all = ort_det.detect(frames)  # one batch: the batch axis is dynamic in both runtimes
    b_all = torch_det.detect(frames)
    for (name, expected), a, b in zip(EXPECTED_FACES.items(), a_all, b_all, strict=True):
        assert len(a) == len(b) == expected, name
        for fa, fb in _match(a, b):
            assert np.abs(fa.box - fb.box).max() < 1.0, name
            assert abs(fa.score - fb.score) < 1e-3, name
            assert np.abs(fa.kps - fb.kps).max() < 1.0, name


def test_fixed_batch_yunet_runs_batched_on_torch(images):
    """The opencv_zoo-style file fixes batch 1; the PyTorch runtime widens it."""
    from twoface.runtime import load_graph

    path = shared_model("yunet_s_640_640.onnx")
    ort_graph, torch_graph = load_graph(path), load_graph(path, "torch")
    assert ort_graph.max_batch == 1 and torch_graph.max_batch is None
    x = np.random.default_rng(0).uniform(0, 255, (3, 3, 640, 640)).astype(np.float32)
    a, b = ort_graph(x), torch_graph(x)  # onnxruntime: three calls; torch: one
    for k in a:
        assert a[k].shape == b[k].shape and a[k].shape[0] == 3
        assert np.abs(a[k] - b[k]).max() < 1e-3


def test_scrfd_mmdet_checkpoint_finds_every_face(images):
    from twoface.detect.scrfd_mmdet import ScrfdMmdetDetector

    det = ScrfdMmdetDetector(shared_model("scrfd_2.5g_mmdet.pth"))
    found = det.detect(list(images.values()))
    for (name, expected), faces in zip(EXPECTED_FACES.items(), found, strict=True):
        assert len(faces) == expected, name
        for f in faces:  # keypoints (from dlib) inside the box: eyes above mouth
            x1, y1, x2, y2 = f.box
            assert (f.kps[:, 0] > x1 - 5).all() and (f.kps[:, 0] < x2 + 5).all()
            assert f.kps[:2, 1].mean() < f.kps[3:, 1].mean()


def test_scrfd_mmdet_official_layout_with_random_weights(tmp_path):
    """A checkpoint in the training format (meta + state_dict, official key names) loads and
    runs through the detector's code path with the right shapes."""
    from twoface.detect.scrfd_mmdet import ScrfdMmdetDetector, ScrfdNet
    from twoface.errors import ModelError

    net = ScrfdNet((12, 12, 24), [24, 48, 48, 80], [3, 5, 3, 2], 24, 64, 2, 2, True, 8)
    sd = {
        k: torch.randn_like(v) if v.is_floating_point() else v for k, v in net.state_dict().items()
    }
    path = tmp_path / "scrfd_2.5g_bnkps.pth"
    torch.save({"meta": {"epoch": 640}, "state_dict": sd}, path)
    det = ScrfdMmdetDetector(path)
    levels = det.net(torch.zeros(2, 3, 640, 640))
    assert [lv[0].shape for lv in levels] == [(2, 12800, 1), (2, 3200, 1), (2, 800, 1)]
    assert levels[0][2].shape == (2, 12800, 10)
    assert isinstance(det.detect([np.zeros((200, 300, 3), np.uint8)])[0], list)

    wrong = tmp_path / "resnet.pth"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(64, 3, 7, 7)}}, wrong)
    with pytest.raises(ModelError, match="not an SCRFD mmdetection checkpoint"):
        ScrfdMmdetDetector(wrong)


def test_pickled_code_is_refused(tmp_path):
    from twoface.errors import ModelError
    from twoface.runtime.checkpoints import load_torch_state

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    bad = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hook": Payload()}, bad)
    with pytest.raises(ModelError, match="refusing to load: it needs pickled code"):
        load_torch_state(bad)


def test_cli_detect_with_an_imported_zoo_model(tmp_path, photos, capsys):
    import json

    from twoface.cli import main

    home = str(tmp_path / "models")
    missing = main(
        ["detect", str(photos / "two_people.jpg"), "--detector", "yunet_n", "--models-dir", home]
    )
    err = capsys.readouterr().err.strip()
    assert missing == 4 and err.endswith("`twoface models import FILE --name yunet_n`")
    assert import_model(home, shared_model("yunet_n_dynamic.onnx"), "yunet_n") == 0
    capsys.readouterr()
    args = [
        "detect",
        str(photos / "two_people.jpg"),
        "--detector",
        "yunet_n",
        "--models-dir",
        home,
        "--json",
    ]
    assert main([*args, "--runtime", "torch"]) == 0
    faces = json.loads(capsys.readouterr().out)["faces"]
    assert len(faces) == 2 and all(len(f["landmarks"]) == 68 for f in faces)


@pytest.mark.parametrize("backbone", ["mobilenet0.25", "resnet50"])
def test_retinaface_pth_official_layout_runs_through_the_shared_decoder(backbone, tmp_path, photos):
    """biubug6's checkpoints are saved from DataParallel: every key starts with `module.`."""
    from twoface.detect.retinaface_torch import RetinaFaceNet, RetinaFaceTorchDetector
    from twoface.errors import ModelError

    torch.manual_seed(0)
    net = RetinaFaceNet(backbone)
    sd = {f"module.{k}": v for k, v in net.state_dict().items()}
    path = tmp_path / "Final.pth"
    torch.save(sd, path)
    det = RetinaFaceTorchDetector(path, device="cpu", score_threshold=0.0)
    loc, conf, landms = det.forward(np.zeros((2, 3, 64, 96), np.float32))
    anchors = (8 * 12 + 4 * 6 + 2 * 3) * 2  # strides 8/16/32, two priors per cell
    assert (
        loc.shape == (2, anchors, 4)
        and conf.shape == (2, anchors, 2)
        and landms.shape == (2, anchors, 10)
    )
    assert np.allclose(conf.sum(-1), 1, atol=1e-5)
    faces = det.detect([np.zeros((120, 160, 3), np.uint8)])[0]
    assert all(f.kps.shape == (5, 2) for f in faces)
    bad = tmp_path / "bad.pth"
    torch.save({"module.conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(ModelError, match="not a RetinaFace checkpoint"):
        RetinaFaceTorchDetector(bad, device="cpu")


@pytest.mark.slow
def test_onnx_graph_traces_under_torch_compile():
    """--compile wraps the interpreter in torch.compile: its forward must be traceable (no ONNX
    or numpy objects at run time). The eager backend checks the tracing without a C++ build."""
    from twoface.runtime.onnx_torch import OnnxModule

    graph = OnnxModule(shared_model("yunet_s_dynamic.onnx")).eval()
    x = torch.rand(2, 3, 160, 160) * 255
    compiled = torch.compile(graph, backend="eager")
    with torch.inference_mode():
        for a, b in zip(graph(x), compiled(x), strict=True):
            assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.slow
def test_scrfd_decodes_on_the_device_as_on_the_host(images):
    """On the PyTorch runtime SCRFD's outputs stay on the device and are decoded and
    thresholded there (issue 11); the faces equal the host path's on the same outputs: boxes
    and keypoints within a pixel (run here on torch's CPU device)."""
    from twoface.detect.scrfd import ScrfdDetector, decode_levels

    det = ScrfdDetector(shared_model("scrfd_500m_bnkps.onnx"), runtime="torch", device="cpu")
    frames = list(images.values())
    on_device = det.detect(frames)
    outputs, scales = det.raw(frames)
    on_host = [
        decode_levels(o[0:3], o[3:6], o[6:9], (det.size, det.size), 0.5, 0.4, s)
        for o, s in zip(outputs, scales, strict=True)
    ]
    assert sum(len(f) for f in on_host) == sum(EXPECTED_FACES.values())
    for a, b in zip(on_host, on_device, strict=True):
        assert len(a) == len(b)
        for fa, fb in _match(a, b):
            assert np.abs(fa.box - fb.box).max() < 1.0
            assert np.abs(fa.kps - fb.kps).max() < 1.0
            assert abs(fa.score - fb.score) < 1e-5
