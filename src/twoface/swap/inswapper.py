"""Learned one-shot swappers of the inswapper family: inswapper_128 (ONNX) and ReSwapper (.pth or
ONNX, 128 or 256), batched over every face of a batch of frames.

Per face: align the target by its keypoints to the ArcFace template at the model's size, feed RGB
in [0, 1] with the source latent (normed ArcFace embedding @ emap, normed; emap is the last
initializer of the inswapper file). The learned engine (twoface.swap.engine) pastes the output
back as insightface does (twoface.swap.compositor).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from twoface.errors import ModelError
from twoface.identity.arcface import ArcFaceEncoder
from twoface.swap.base import Generator, GeneratorSpec, PerSource, SourceIdentity


def read_emap(path: str | os.PathLike) -> np.ndarray:
    """The 512x512 projection stored as the last initializer of an inswapper-format ONNX file."""
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError and others
        raise ModelError(f"{path}: not a readable ONNX file ({type(e).__name__})") from None
    if not model.graph.initializer:
        raise ModelError(f"{path}: no initializers, so no emap")
    emap = numpy_helper.to_array(model.graph.initializer[-1])
    if emap.shape != (512, 512):
        raise ModelError(f"{path}: last initializer is {emap.shape}, not the 512x512 emap")
    return emap.astype(np.float32)


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
            self.graph = load_graph(path, runtime, device=device, half=half, compile=compile)
            names = self.graph.input_names
            if sorted(names) != ["source", "target"]:
                raise ModelError(f"{path}: inputs {names}; an inswapper file has target and source")
            self._order = names
            self._run = self._run_graph
        else:
            import torch

            from twoface.runtime import torch_device
            from twoface.runtime.checkpoints import load_into, load_torch_state
            from twoface.swap.styletransfer import StyleTransferModel

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
            net = load_into(
                StyleTransferModel.from_state_dict(sd), sd, path, "a ReSwapper checkpoint"
            )
            self.device = torch_device(device)
            self.dtype = torch.float16 if half else torch.float32
            self.net = net.to(self.device, self.dtype).eval()
            if compile:
                self.net = torch.compile(self.net, mode="max-autotune-no-cudagraphs")
            self._run = self._run_torch

    # -- model calls ------------------------------------------------------------------------------
    def _run_graph(self, target: np.ndarray, latent: np.ndarray) -> np.ndarray:
        feeds = {"target": target, "source": latent}
        out = self.graph(*(feeds[n] for n in self._order))
        return next(iter(out.values()))

    def _run_torch(self, target: np.ndarray, latent: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            t = torch.from_numpy(target).to(self.device, self.dtype)
            s = torch.from_numpy(latent).to(self.device, self.dtype)
            return self._forward()(t, s)[0].float().cpu().numpy()

    def _forward(self):
        """The network as a function of (target, latent) -> (output,): on a CUDA GPU, captured
        in CUDA graphs per batch shape (runtime.Captured) -- its ~600 kernel launches a batch,
        made from Python, held the GIL that a video's other threads wait for (measured with
        py-spy on the H100: the generator's AdaIN and conv wrappers were the main thread's top
        GIL holders). A compiled network is captured too (its fused kernels replayed)."""
        run = self.__dict__.get("_graphed")
        if run is None:
            import torch

            from twoface.runtime import Captured

            net = self.net
            plain = lambda t, s: (net(t, s),)  # noqa: E731
            cuda = torch.device(self.device).type == "cuda"
            run = Captured(plain) if cuda else plain
            self._graphed = run
        return run

    # -- identity ----------------------------------------------------------------------------------
    def _latent(self, identity: SourceIdentity) -> np.ndarray:
        """Normed mean ArcFace embedding of the source photos @ emap, normed."""
        emb = self.encoder.embed(
            [f.image for f in identity.faces], [f.face.kps for f in identity.faces]
        )
        mean = emb.mean(0)
        mean /= max(np.linalg.norm(mean), 1e-12)
        lat = mean @ self.emap
        return (lat / max(np.linalg.norm(lat), 1e-12)).astype(np.float32)

    def latents(self, sources: Sequence[SourceIdentity]) -> np.ndarray:
        return np.stack([self.latent(s) for s in sources])

    def generate(self, crops: np.ndarray, latents: np.ndarray) -> np.ndarray:
        x = crops.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        y = self._run(np.ascontiguousarray(x), latents)
        return np.clip(y.transpose(0, 2, 3, 1) * 255 + 0.5, 0, 255).astype(np.uint8)

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
