"""The learned engine's align and paste-back on PyTorch (the generator's device): the frames go to
the device once per batch, crops are cut with `grid_sample`, the generated crops are pasted back
over each face's box with the same thresholded, eroded and blurred mask as the OpenCV path
(twoface.swap.compositor), and only the finished frames come back. On the CPU device this runs
too, and agrees with the OpenCV path (tests/test_pipeline.py). Not used by default yet: per
face it launches a dozen small kernels and moves a whole frame each way, which on the H100 cost
more than OpenCV's region-limited CPU work (`LearnedEngine(device=...)` turns it on).

PyTorch code, imported only where it runs (twoface.swap.engine); `twoface.swap.torch_paste`
forwards its old names here, so component discovery never imports torch.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from twoface.geometry import invert_affine
from twoface.swap.base import SwapJob


def _theta(m: np.ndarray, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> np.ndarray:
    """affine_grid's theta for a warp whose output pixel (u, v) samples input m @ (u, v, 1)
    (pixel centres at integers, as cv2.warpAffine with WARP_INVERSE_MAP)."""
    sh, sw = src_hw
    dh, dw = dst_hw
    # normalised output -> output pixels: u = ((un + 1) * dw - 1) / 2
    out_to_pix = np.array([[dw / 2, 0, (dw - 1) / 2], [0, dh / 2, (dh - 1) / 2], [0, 0, 1]])
    # input pixels -> normalised input: xn = (2x + 1) / sw - 1
    pix_to_in = np.array([[2 / sw, 0, 1 / sw - 1], [0, 2 / sh, 1 / sh - 1], [0, 0, 1]])
    a = np.vstack([m, [0, 0, 1]])
    return (pix_to_in @ a @ out_to_pix)[:2].astype(np.float32)


class TorchStages:
    """align (frames -> crops) and paste (crops -> frames) on one device."""

    def __init__(self, device: str) -> None:
        self.device = torch.device(device)

    @torch.inference_mode()
    def upload(
        self, frames: Sequence[np.ndarray], indices: Sequence[int]
    ) -> dict[int, torch.Tensor]:
        """The frames that have jobs, as (3, H, W) float32 on the device (uint8 over the bus)."""
        out = {}
        for i in sorted(set(indices)):
            with warnings.catch_warnings():
                # A read-only frame is fine: it is only read (`.float()` copies it).
                warnings.simplefilter("ignore", UserWarning)
                t = torch.from_numpy(np.ascontiguousarray(frames[i]))
            out[i] = t.to(self.device, non_blocking=True).permute(2, 0, 1).float()
        return out

    @torch.inference_mode()
    def align(self, on_device: dict[int, torch.Tensor], jobs: Sequence[SwapJob], mats, size: int):
        """(N, S, S, 3) uint8 numpy crops, cut on the device by the frame-to-crop matrices."""
        crops = []
        for job, m in zip(jobs, mats, strict=True):
            frame = on_device[job.frame_index]
            h, w = frame.shape[1:]
            theta = torch.from_numpy(_theta(invert_affine(m), (h, w), (size, size)))[None]
            grid = F.affine_grid(theta.to(self.device), [1, 3, size, size], align_corners=False)
            crop = F.grid_sample(
                frame[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False
            )
            crops.append(crop[0])
        batch = torch.stack(crops).round().clamp(0, 255).to(torch.uint8)
        return batch.permute(0, 2, 3, 1).cpu().numpy()

    @torch.inference_mode()
    def paste(
        self,
        frames: Sequence[np.ndarray],
        on_device: dict[int, torch.Tensor],
        jobs: Sequence[SwapJob],
        crops: np.ndarray,
        masks: np.ndarray | None,
        mats,
    ) -> list[np.ndarray]:
        out = list(frames)
        gen = (
            torch.from_numpy(np.ascontiguousarray(crops))
            .to(self.device)
            .permute(0, 3, 1, 2)
            .float()
        )
        for k, (job, m) in enumerate(zip(jobs, mats, strict=True)):
            frame = on_device[job.frame_index]
            limit = None if masks is None else torch.from_numpy(masks[k]).to(self.device)
            self._paste_one(frame, gen[k], m, limit)
        for i, t in on_device.items():
            out[i] = t.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        return out

    def _paste_one(self, frame: torch.Tensor, face: torch.Tensor, m: np.ndarray, limit) -> None:
        from twoface.swap.compositor import paste_region

        size = face.shape[-1]
        box = paste_region(m, size, tuple(frame.shape[1:]))
        if box is None:
            return
        x0, y0, x1, y1 = box
        rw, rh = x1 - x0, y1 - y0
        # region pixel (u, v) samples the crop at m @ (u + x0, v + y0, 1)
        shift = m.copy()
        shift[:, 2] += m[:, 0] * x0 + m[:, 1] * y0
        theta = torch.from_numpy(_theta(shift, (size, size), (rh, rw)))[None].to(self.device)
        grid = F.affine_grid(theta, [1, 1, rh, rw], align_corners=False)
        layers = [face[None], torch.ones(1, 1, size, size, device=self.device)]
        if limit is not None:
            layers.append(limit[None, None].float())
        warped = [
            F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            for x in layers
        ]
        fake, white = warped[0][0], (warped[1][0, 0] * 255 > 20).float()
        if limit is not None:
            white = torch.minimum(white, (warped[2][0, 0] * 255).round() / 255)
        full = white >= 1.0 - 1e-6
        if not bool(full.any()):
            return
        ys = torch.nonzero(full.any(1)).flatten()
        xs = torch.nonzero(full.any(0)).flatten()
        mask_size = int(np.sqrt(float((ys[-1] - ys[0]) * (xs[-1] - xs[0]))))
        soft = _feather(white, mask_size)
        region = frame[:, y0:y1, x0:x1]
        frame[:, y0:y1, x0:x1] = soft * fake + (1 - soft) * region


def _feather(white: torch.Tensor, mask_size: int) -> torch.Tensor:
    """insightface's erosion by a tenth and Gaussian blur by a twentieth of the mask size, as
    the OpenCV path computes it (twoface.swap.compositor._feathered): a large face's feather is
    computed at FEATHER_WORK pixels and scaled back, and the square erosion runs as two 1-D max
    pools (a 50-px square kernel as one 2-D pool cost 2,500 comparisons a pixel)."""
    from twoface.swap.compositor import FEATHER_WORK

    h, w = white.shape
    scale = min(1.0, FEATHER_WORK / max(mask_size, 1))
    x = white[None, None]
    if scale < 1.0:
        small = (max(1, round(h * scale)), max(1, round(w * scale)))
        x = F.interpolate(x, size=small, mode="area")
    size = mask_size * scale
    k = max(int(size) // 10, max(1, round(10 * scale)))
    # erosion with a k x k square = -maxpool(-x), anchored as OpenCV's (centre (k-1)//2 ... )
    pad_l, pad_r = (k - 1) // 2, k // 2
    neg = F.pad(-x, (pad_l, pad_r, pad_l, pad_r), value=-1.0)
    eroded = -F.max_pool2d(F.max_pool2d(neg, (k, 1), stride=1), (1, k), stride=1)
    k = max(int(size) // 20, max(1, round(5 * scale)))
    ksize = 2 * k + 1
    sigma = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8  # OpenCV's sigma for a given kernel size
    r = torch.arange(ksize, device=white.device, dtype=torch.float32) - k
    g = torch.exp(-(r**2) / (2 * sigma**2))
    g = (g / g.sum()).to(white.dtype)
    blurred = F.conv2d(F.pad(eroded, (k, k, 0, 0), mode="reflect"), g.view(1, 1, 1, -1))
    blurred = F.conv2d(F.pad(blurred, (0, 0, k, k), mode="reflect"), g.view(1, 1, -1, 1))
    if scale < 1.0:
        blurred = F.interpolate(blurred, size=(h, w), mode="bilinear", align_corners=False)
    return blurred[0, 0]
