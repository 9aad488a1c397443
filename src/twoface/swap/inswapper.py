"""Learned one-shot swappers of the inswapper family: inswapper_128 (ONNX) and ReSwapper (.pth or
ONNX, 128 or 256), batched over every face of a batch of frames.

Per face: align the target by its keypoints to the ArcFace template at the model's size, feed RGB
in [0, 1] with the source latent (normed ArcFace embedding @ emap, normed; emap is the last
initializer of the inswapper file). The learned engine (twoface.swap.engine) pastes the output
back as insightface does (twoface.swap.compositor).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from twoface.errors import ModelError
from twoface.identity.arcface import ArcFaceEncoder
from twoface.registry import register
from twoface.swap.base import (
    LEARNED,
    TRAINED,
    Generator,
    GeneratorSpec,
    PerSource,
    SourceIdentity,
    mean_embedding,
    normed,
)


def read_emap(path: str | os.PathLike) -> np.ndarray:
    """The 512x512 projection stored as the last initializer of an inswapper-format ONNX file."""
    from onnx import numpy_helper

    from twoface.runtime.onnx_check import load_checked

    # Checked first: `to_array` would read a tensor's external data file, wherever it points.
    model = load_checked(path)
    if not model.graph.initializer:
        raise ModelError(f"{path}: no initializers, so no emap")
    emap = numpy_helper.to_array(model.graph.initializer[-1])
    if emap.shape != (512, 512):
        raise ModelError(f"{path}: last initializer is {emap.shape}, not the 512x512 emap")
    return emap.astype(np.float32)


@register(
    "swap",
    "reswapper",
    consumes=(*LEARNED, "runtime", "device", "half", "compile"),
    produces=("swapped crop, RGB 0..1",),
    label=TRAINED,
    shipped=False,
    summary="ReSwapper (.pth or ONNX, 128 or 256): inswapper's architecture, retrained",
)
@register(
    "swap",
    "inswapper",
    consumes=(*LEARNED, "runtime", "device", "half", "compile"),
    produces=("swapped crop, RGB 0..1",),
    label=TRAINED,
    shipped=False,
    summary="insightface's inswapper_128 (ONNX): target crop and ArcFace latent in, swapped crop",
)
class InswapperGenerator(Generator):
    name = "inswapper"

    def __init__(
        self,
        model_path: str | os.PathLike,
        encoder: ArcFaceEncoder,
        size: int = 128,
        runtime: str = "onnxruntime",
        device: str | None = None,
        emap_from: str | os.PathLike | Callable[[], os.PathLike] | None = None,
        half: bool = False,
        compile: bool = False,  # noqa: A002
        template: str = "arcface",
    ) -> None:
        path = Path(model_path)
        self.spec = GeneratorSpec(size, template)
        self.encoder = encoder
        self.latent = PerSource(self._latent)
        if path.suffix == ".onnx":
            from twoface.runtime import load_graph

            self.emap = read_emap(emap_from or path)
            # On a GPU the generator is captured in a CUDA graph per batch shape (its ~600
            # kernel launches a batch, made from Python, held the GIL the other threads of a
            # video's pipeline wait for) and runs channels-last (tensor cores' own layout).
            self.graph = load_graph(
                path,
                runtime,
                device=device,
                half=half,
                compile=compile,
                cuda_graphs=True,
                channels_last=True,
            )
            names = self.graph.input_names
            if sorted(names) != ["source", "target"]:
                raise ModelError(f"{path}: inputs {names}; an inswapper file has target and source")
            from twoface.runtime.outputs import INSWAPPER

            self.graph.expect(INSWAPPER)  # one (N, 3, S, S) output at the target's size
            self._order = names
            self.net = None
            self.device = None
            if runtime == "torch":
                self._on_torch(device, half)
        else:
            import torch

            from twoface.runtime.checkpoints import build_from, load_into, load_torch_state
            from twoface.swap.styletransfer_net import StyleTransferModel

            sd = load_torch_state(path)
            own = sd.pop("emap", None)  # `twoface train export` stores its emap in the file
            if own is not None:
                self.emap = own.float().numpy()
            elif emap_from is None:
                raise ModelError(
                    f"{path}: a ReSwapper .pth needs the emap of an inswapper ONNX file"
                )
            else:
                self.emap = read_emap(emap_from() if callable(emap_from) else emap_from)
            what = "a ReSwapper checkpoint"
            net = build_from(path, what, lambda: StyleTransferModel.from_state_dict(sd))
            net = load_into(net, sd, path, what)
            self._on_torch(device, half)
            self.net = net.to(self.device, self.dtype).eval()
            if compile:
                self.net = torch.compile(self.net, mode="max-autotune-no-cudagraphs")

    def _on_torch(self, device: str | None, half: bool) -> None:
        import torch

        from twoface.runtime import torch_device

        self.device = torch.device(torch_device(device))
        self.dtype = torch.float16 if half else torch.float32

    # -- model calls ------------------------------------------------------------------------------
    def generate(self, crops: np.ndarray, latents: np.ndarray) -> np.ndarray:
        if self.device is None:  # onnxruntime: numpy in and out
            x = crops.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
            feeds = {"target": np.ascontiguousarray(x), "source": latents}
            y = next(iter(self.graph(*(feeds[n] for n in self._order)).values()))
            return np.clip(y.transpose(0, 2, 3, 1) * 255 + 0.5, 0, 255).astype(np.uint8)
        return self.generate_later(crops, latents)()[0]

    def generate_later(self, crops: np.ndarray, latents: np.ndarray):
        """On PyTorch: uint8 crops go to the device and come back as uint8 (a quarter of the
        bytes of float32, no conversions on the host); on a CUDA GPU the run is queued and this
        returns at once, the result copied into pinned memory when the device gets there, its
        device time measured with CUDA events."""
        if self.device is None:
            return super().generate_later(crops, latents)
        import torch

        cuda = self.device.type == "cuda"
        with torch.inference_mode():
            # NHWC bytes seen as NCHW: channels-last strides, which the convolutions keep.
            x = torch.from_numpy(crops).to(self.device).permute(0, 3, 1, 2).float() / 255.0
            s = torch.from_numpy(np.ascontiguousarray(latents)).to(self.device, self.dtype)
            if not cuda:
                t = time.perf_counter()
                host = _to_bytes(self._forward()(x.to(self.dtype), s)[0]).contiguous()
                seconds = time.perf_counter() - t
                return lambda: (host.numpy(), seconds)
            # (On the GPU the device's own time, from CUDA events: the host only queues.)
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            y = self._forward()(x.to(self.dtype), s)[0]
            end.record()
            out = _to_bytes(y)
            host = torch.empty(out.shape, dtype=torch.uint8, pin_memory=True)
            host.copy_(out, non_blocking=True)
            done = torch.cuda.Event()
            done.record()

        def result() -> tuple[np.ndarray, float]:
            done.synchronize()
            return host.numpy(), start.elapsed_time(end) / 1000

        return result

    def _forward(self):
        """The network as a function of (target, latent) -> (output,) on the device: an ONNX
        file's graph as load_graph made it; a PyTorch network, on a CUDA GPU, channels-last and
        captured in CUDA graphs per batch shape (runtime.Captured; a compiled one too, its
        fused kernels replayed)."""
        run = self.__dict__.get("_graphed")
        if run is None:
            import torch

            from twoface.runtime import Captured

            if self.net is None:
                graph, order = self.graph, self._order
                run = lambda t, s: graph.tensors(  # noqa: E731
                    *({"target": t, "source": s}[n] for n in order)
                )
            else:
                net = self.net
                run = lambda t, s: (net(t, s),)  # noqa: E731
                if self.device.type == "cuda":
                    net.to(memory_format=torch.channels_last)
                    run = Captured(run)
            self._graphed = run
        return run

    # -- identity ----------------------------------------------------------------------------------
    def _latent(self, identity: SourceIdentity) -> np.ndarray:
        """Normed mean ArcFace embedding of the source photos @ emap, normed."""
        return normed(mean_embedding(self.encoder, identity) @ self.emap)

    def latents(self, sources: Sequence[SourceIdentity]) -> np.ndarray:
        return np.stack([self.latent(s) for s in sources])

    @classmethod
    def from_entry(cls, entry, ctx) -> InswapperGenerator:
        """inswapper_128 (ONNX) or ReSwapper (.pth or ONNX) with the ArcFace it pairs with; a
        ReSwapper file without the emap borrows inswapper_128's."""
        model = ctx.find(entry)
        encoder = ctx.pool.get("identity", entry.pairs_with, ctx.runtime)
        emap_from = None
        if entry.format != "onnx":
            # A .pth without its own emap borrows inswapper_128's -- looked up only if needed,
            # so the checkpoint is read once.
            emap_from = lambda: ctx.find("inswapper_128")  # noqa: E731
        elif entry.arch == "reswapper":
            try:
                read_emap(model)
            except ModelError:
                emap_from = ctx.find("inswapper_128")
        rt = ctx.runtime
        return cls(
            model,
            encoder,
            size=entry.preprocess.size or 128,
            runtime=rt.runtime,
            device=rt.device,
            emap_from=emap_from,
            half=rt.half,
            compile=rt.compile,
            template=entry.preprocess.template or "arcface",
        )


def _to_bytes(y):
    """(N, 3, S, S) float output in 0..1 -> (N, S, S, 3) uint8, on its device."""
    import torch

    return (y.float() * 255 + 0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
