"""Learned one-shot swappers of the inswapper family: inswapper_128 (ONNX) and ReSwapper (.pth or
ONNX, 128 or 256), batched over every face of a batch of frames.

Per face: align the target by its keypoints to the ArcFace template at the model's size, feed RGB
in [0, 1] with the source latent (normed ArcFace embedding @ emap, normed; emap is the last
initializer of the inswapper file), and paste the output back as insightface does: the warped
square mask thresholded, eroded by a tenth and blurred by a twentieth of its size.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from twoface.errors import ModelError
from twoface.geometry import invert_affine
from twoface.identity.arcface import ArcFaceEncoder, align
from twoface.swap.base import PerSource, SourceIdentity, SwapJob, Swapper


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


def paste_back(
    frame: np.ndarray, face: np.ndarray, m: np.ndarray, landmarks: np.ndarray | None = None
) -> None:
    """Blend the generated crop into `frame` in place (insightface's inswapper paste-back).

    With `landmarks` the mask is also limited to the face (jaw and lifted brows), for
    generators whose crop holds hair and background too. Works on the region the crop covers
    only, so every pixel outside it stays bit-identical.
    """
    size = face.shape[0]
    h, w = frame.shape[:2]
    inv = invert_affine(m)
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    pts = corners @ inv[:, :2].T + inv[:, 2]
    x0, y0 = np.floor(pts.min(0)).astype(int) - 2
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    shift = inv.copy()
    shift[:, 2] -= (x0, y0)
    rw, rh = x1 - x0, y1 - y0
    fake = cv2.warpAffine(face, shift, (rw, rh), borderValue=0)
    white = cv2.warpAffine(np.full((size, size), 255, np.uint8), shift, (rw, rh), borderValue=0)
    white[white > 20] = 255
    if landmarks is not None:
        from twoface.mask import face_polygon

        face_mask = np.zeros_like(white)
        poly = np.round(face_polygon(landmarks) - (x0, y0)).astype(np.int32)
        cv2.fillPoly(face_mask, [poly], 255)
        white = np.minimum(white, face_mask)
    ys, xs = np.nonzero(white == 255)
    if len(ys) == 0:
        return
    mask_size = int(np.sqrt((ys.max() - ys.min()) * (xs.max() - xs.min())))
    k = max(mask_size // 10, 10)
    mask = cv2.erode(white, np.ones((k, k), np.uint8), iterations=1)
    k = max(mask_size // 20, 5)
    mask = cv2.GaussianBlur(mask, (2 * k + 1, 2 * k + 1), 0).astype(np.float32)[..., None] / 255
    region = frame[y0:y1, x0:x1].astype(np.float32)
    merged = mask * fake.astype(np.float32) + (1 - mask) * region
    frame[y0:y1, x0:x1] = np.clip(merged + 0.5, 0, 255).astype(np.uint8)


def crop_jobs(
    frames: Sequence[np.ndarray], jobs: Sequence[SwapJob], size: int, template: str = "arcface"
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each job's target face aligned to `template` at `size` px, and the matrices that did it."""
    pairs = [align(frames[j.frame_index], j.target.kps, size, template) for j in jobs]
    return [c for c, _ in pairs], [m for _, m in pairs]


def paste_faces(
    frames: Sequence[np.ndarray],
    jobs: Sequence[SwapJob],
    faces: Sequence[np.ndarray],
    mats: Sequence[np.ndarray],
    landmark_mask: bool = False,
) -> list[np.ndarray]:
    """New frames with each job's generated crop pasted back; frames without a job are the
    originals, a frame with jobs is copied once."""
    out = list(frames)
    copied: set[int] = set()
    for job, face, m in zip(jobs, faces, mats, strict=True):
        i = job.frame_index
        if i not in copied:
            out[i] = frames[i].copy()
            copied.add(i)
        paste_back(out[i], face, m, job.target.landmarks if landmark_mask else None)
    return out


class InswapperSwapper(Swapper):
    name = "inswapper"

    def __init__(
        self,
        model_path: str | os.PathLike,
        encoder: ArcFaceEncoder,
        size: int = 128,
        runtime: str = "onnxruntime",
        device: str | None = None,
        emap_from: str | os.PathLike | None = None,
        half: bool = False,
        compile: bool = False,  # noqa: A002
    ) -> None:
        path = Path(model_path)
        self.size = size
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

            if emap_from is None:
                raise ModelError(
                    f"{path}: a ReSwapper .pth needs the emap of an inswapper ONNX file"
                )
            self.emap = read_emap(emap_from)
            sd = load_torch_state(path)
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
            return self.net(t, s).float().cpu().numpy()

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

    def swap(self, frames: Sequence[np.ndarray], jobs: Sequence[SwapJob]) -> list[np.ndarray]:
        if not jobs:
            return list(frames)
        crops, mats = crop_jobs(frames, jobs, self.size)
        x = np.stack(crops).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        latents = np.stack([self.latent(job.source) for job in jobs])
        y = self._run(np.ascontiguousarray(x), latents)
        faces = np.clip(y.transpose(0, 2, 3, 1) * 255 + 0.5, 0, 255).astype(np.uint8)
        return paste_faces(frames, jobs, faces, mats)
