"""CUDA-graph replay of small models (issue 11): the same outputs as running them, per input
shape, with the shapes beyond the captured few run as they are. Needs a CUDA GPU (skipped
elsewhere, saying so); on the CPU the option changes nothing, checked here too."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_model

from twoface.runtime import Captured, load_graph


def _inputs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 3, 640, 640)).astype(np.float32)


def test_captured_bookkeeping_replays_per_shape_falls_back_and_never_aliases(monkeypatch):
    """Captured's own logic, on the CPU with a stand-in for the CUDA capture: one capture per
    input shape up to SHAPES, later shapes and shapes whose capture failed run as they are, a
    replay reads the new inputs (copied into the captured buffers) and returns fresh tensors
    that the next replay does not overwrite."""
    torch = pytest.importorskip("torch")
    calls: list[tuple] = []

    def module(x):
        calls.append(tuple(x.shape))
        return [x * 2 + 1]

    class FakeGraph:
        def __init__(self, inputs, outputs):
            self.inputs, self.outputs = inputs, outputs

        def replay(self):  # what a CUDA graph does: rerun into the same output buffers
            self.outputs[0].copy_(module(*self.inputs)[0])

    captures: list[tuple] = []

    def capture(self, torch_, tensors):
        shape = tuple(tensors[0].shape)
        if shape[0] == 3:
            raise RuntimeError("operation not permitted when stream is capturing")
        captures.append(shape)
        inputs = [t.clone() for t in tensors]
        outputs = list(self.module(*inputs))
        return FakeGraph(inputs, outputs), inputs, outputs

    monkeypatch.setattr(Captured, "_capture", capture)
    run = Captured(module)
    a = run(torch.ones(2, 4))[0]
    b = run(torch.full((2, 4), 5.0))[0]  # the same shape: a replay on the new values
    assert captures == [(2, 4)]
    assert torch.equal(a, torch.full((2, 4), 3.0)) and torch.equal(b, torch.full((2, 4), 11.0))
    assert a.data_ptr() != b.data_ptr()  # the first result was not overwritten by the replay
    assert torch.equal(run(torch.zeros(3, 4))[0], torch.ones(3, 4))  # capture failed: plain run
    assert run.graphs[(((3, 4), torch.float32),)] is None
    for n in (4, 5):  # fills the shapes left (SHAPES = 4; the failed one counts)
        run(torch.zeros(n, 4))
    assert captures == [(2, 4), (4, 4), (5, 4)] and len(run.graphs) == Captured.SHAPES
    before = len(calls)
    assert torch.equal(run(torch.zeros(7, 4))[0], torch.ones(7, 4))  # beyond SHAPES: as it is
    assert captures[-1] == (5, 4) and calls[before:] == [(7, 4)]


def test_captured_replays_equal_eager_runs_per_shape():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here: CUDA graphs are checked on the lent GPU machine")
    path = shared_model("scrfd_500m_bnkps.onnx")
    plain = load_graph(path, "torch", device="cuda")
    graphed = load_graph(path, "torch", device="cuda", cuda_graphs=True)
    for n, seed in ((8, 0), (8, 1), (3, 2), (8, 3)):  # a second batch of 8 replays the first
        x = _inputs(n, seed)
        a, b = plain(x), graphed(x)
        for name in plain.output_names:
            assert a[name].shape[0] == n
            np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-4)
    # The interpreter's shape arithmetic stays on the host, so the run really is captured
    # (a failed capture would fall back to running it as it is).
    from twoface.runtime.onnx_torch import OnnxModule

    module = OnnxModule(str(path)).cuda().eval().shapes_on_host()
    captured = Captured(module)
    with torch.inference_mode():
        x = torch.from_numpy(_inputs(4)).cuda()
        for got, want in zip(captured(x), module(x), strict=True):
            torch.testing.assert_close(got, want)
    assert list(captured.graphs.values())[0] is not None


def test_shapes_beyond_the_captured_few_run_as_they_are():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here: CUDA graphs are checked on the lent GPU machine")
    net = torch.nn.Conv2d(3, 4, 3).cuda().eval()
    captured = Captured(lambda x: [net(x)])
    with torch.inference_mode():
        for n in range(1, Captured.SHAPES + 3):
            x = torch.randn(n, 3, 16, 16, device="cuda")
            torch.testing.assert_close(captured(x)[0], net(x))
    assert len(captured.graphs) == Captured.SHAPES


def test_the_inswapper_generator_replays_what_it_computes():
    """The generator's runs are captured per batch shape on a GPU; replays give what the
    network computes, and the partial last batch of a video gets its own graph."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here: CUDA graphs are checked on the lent GPU machine")
    from twoface.bench import random_engine

    gen = random_engine("inswapper_128", "cuda", half=True).generator
    rng = np.random.default_rng(0)
    for n in (8, 8, 3):
        crops = rng.integers(0, 255, (n, 128, 128, 3), dtype=np.uint8)
        latents = rng.normal(size=(n, 512)).astype(np.float32)
        got = gen.generate(crops, latents)
        x = torch.from_numpy(crops.astype(np.float32).transpose(0, 3, 1, 2) / 255.0)
        with torch.inference_mode():
            want = gen.net(x.cuda().half(), torch.from_numpy(latents).cuda().half())
        want = want.float().cpu().numpy().transpose(0, 2, 3, 1)
        want = np.clip(want * 255 + 0.5, 0, 255).astype(np.uint8)
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert len(gen._graphed.graphs) == 2 and None not in gen._graphed.graphs.values()


def test_an_inswapper_onnx_file_runs_captured_and_channels_last_on_a_gpu(tmp_path):
    """An inswapper-format ONNX file on the PyTorch runtime: captured per batch shape,
    channels-last weights, and the same crops as the network it was exported from."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here: CUDA graphs are checked on the lent GPU machine")
    from twoface.swap.inswapper import InswapperGenerator
    from twoface.swap.styletransfer import StyleTransferModel
    from twoface.train.export import inswapper_onnx

    torch.manual_seed(0)
    net = StyleTransferModel(1 / 8, 2).eval()
    rng = np.random.default_rng(0)
    path = tmp_path / "inswapper_128.onnx"
    path.write_bytes(inswapper_onnx(net, 128, rng.normal(size=(512, 512)).astype(np.float32)))
    gen = InswapperGenerator(path, None, runtime="torch", device="cuda")
    for n in (8, 8, 3):
        crops = rng.integers(0, 255, (n, 128, 128, 3), dtype=np.uint8)
        latents = rng.normal(size=(n, 512)).astype(np.float32)
        got, seconds = gen.generate_later(crops, latents)()
        x = torch.from_numpy(crops.astype(np.float32).transpose(0, 3, 1, 2) / 255.0)
        with torch.inference_mode():
            want = net(x, torch.from_numpy(latents)).numpy().transpose(0, 2, 3, 1)
        want = np.clip(want * 255 + 0.5, 0, 255).astype(np.uint8)
        diff = np.abs(got.astype(int) - want.astype(int))  # TF32 convolutions on the GPU
        assert diff.max() <= 3 and diff.mean() < 0.5 and 0 < seconds < 10
    graphs = gen.graph.captured.graphs
    assert len(graphs) == 2 and None not in graphs.values()
