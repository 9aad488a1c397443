"""The learned engine: align -> generate -> masks -> paste back [-> enhance -> paste back].

Every stage takes the whole batch of jobs (all faces of all frames of a batch) at once; the
generator never sees a frame, the compositor never sees a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from twoface.enhance.base import Enhancer
from twoface.identity.arcface import align
from twoface.mask.base import Masker, combine, create_maskers
from twoface.swap.base import Engine, Generator, SwapJob
from twoface.swap.compositor import PasteBack


def align_jobs(
    frames: Sequence[np.ndarray], jobs: Sequence[SwapJob], size: int, template: str
) -> tuple[np.ndarray, np.ndarray]:
    """(N, S, S, 3) crops of the jobs' target faces aligned to `template`, and (N, 2, 3)
    frame-to-crop affines."""
    pairs = [align(frames[j.frame_index], j.target.kps, size, template) for j in jobs]
    return np.stack([c for c, _ in pairs]), np.stack([m for _, m in pairs])


class LearnedEngine(Engine):
    def __init__(
        self,
        generator: Generator,
        maskers: Sequence[Masker] | None = None,
        enhancer: Enhancer | None = None,
        compositor: PasteBack | None = None,
        device: str | None = None,
    ) -> None:
        """device: run alignment and paste-back with PyTorch on this device. Off by default:
        measured on the H100 (twoface bench, 1080p) it is still slower than OpenCV on the CPU
        (7.9 against 5.8 ms per frame; per-face kernels, a full frame each way); batching the
        faces and keeping frames on the device end to end is what makes it pay."""
        self.generator = generator
        self.name = generator.name
        self.maskers = (
            list(maskers) if maskers is not None else create_maskers(generator.default_masks)
        )
        self.enhancer = enhancer
        self.compositor = compositor or PasteBack()
        self.device = device
        self._torch = None
        if self.device is not None:
            from twoface.swap.torch_paste import TorchStages

            self._torch = TorchStages(self.device)

    def swap(self, frames: Sequence[np.ndarray], jobs: Sequence[SwapJob]) -> list[np.ndarray]:
        if not jobs:
            return list(frames)
        spec = self.generator.spec
        if self._torch is not None:
            out = self._swap_on_device(frames, jobs)
        else:
            crops, affines = align_jobs(frames, jobs, spec.size, spec.template)
            latents = self.generator.latents([job.source for job in jobs])
            generated = self.generator.generate(crops, latents)
            masks = self._masks(crops, jobs, affines)
            out = self.compositor.composite(frames, jobs, generated, masks, affines)
        if self.enhancer is not None:
            out = self._enhance(out, jobs)
        return out

    def _swap_on_device(self, frames, jobs):
        """Frames to the device once; crops cut and pasted back there (twoface.swap.torch_paste)."""
        from twoface.geometry import fit_template

        spec = self.generator.spec
        mats = [fit_template(j.target.kps, spec.template, spec.size) for j in jobs]
        on_device = self._torch.upload(frames, [j.frame_index for j in jobs])
        crops = self._torch.align(on_device, jobs, mats, spec.size)
        generated = self.generator.generate(crops, self.generator.latents([j.source for j in jobs]))
        masks = self._masks(crops, jobs, np.stack(mats))
        return self._torch.paste(frames, on_device, jobs, generated, masks, mats)

    def _masks(self, crops, jobs, affines) -> np.ndarray | None:
        if not self.maskers:
            return None
        targets = [job.target for job in jobs]
        return combine([m.masks(crops, targets, affines) for m in self.maskers], crops.shape[:3])

    def _enhance(self, frames: list[np.ndarray], jobs: Sequence[SwapJob]) -> list[np.ndarray]:
        """Re-crop the swapped faces on the enhancer's template, enhance, blend, paste back."""
        w = float(self.enhancer.blend)
        if w <= 0:
            return frames  # blended away: the swap stays exactly as it was
        spec = self.enhancer.spec
        crops, affines = align_jobs(frames, jobs, spec.size, spec.template)
        better = self.enhancer.enhance(crops)
        if w < 1.0:
            mixed = (1 - w) * crops.astype(np.float32) + w * better.astype(np.float32)
            better = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
        masks = self._masks(crops, jobs, affines)
        return self.compositor.composite(frames, jobs, better, masks, affines)
