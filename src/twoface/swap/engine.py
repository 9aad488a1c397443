"""The learned engine: align -> generate -> masks -> paste back [-> enhance -> paste back].

Every stage takes the whole batch of jobs (all faces of all frames of a batch) at once; the
generator never sees a frame, the compositor never sees a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from twoface.enhance.base import Enhancer
from twoface.errors import UsageError
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


def implode(crops: np.ndarray, k: int) -> np.ndarray:
    """(N, kS, kS, C) -> (N*k*k, S, S, C): tile (i, j) of crop n takes every k-th pixel from
    row i and column j, so each tile is the whole face at the model's size, offset by a fraction
    of a pixel (FaceFusion's pixel boost)."""
    n, big, _, c = crops.shape
    s = big // k
    tiles = crops.reshape(n, s, k, s, k, c).transpose(0, 2, 4, 1, 3, 5)
    return np.ascontiguousarray(tiles.reshape(n * k * k, s, s, c))


def explode(tiles: np.ndarray, k: int) -> np.ndarray:
    """The inverse of `implode`: (N*k*k, S, S, C) -> (N, kS, kS, C)."""
    nkk, s, _, c = tiles.shape
    n = nkk // (k * k)
    crops = tiles.reshape(n, k, k, s, s, c).transpose(0, 3, 1, 4, 2, 5)
    return np.ascontiguousarray(crops.reshape(n, s * k, s * k, c))


def _repeat(latents, times: int):
    """Each latent `times` times in a row (numpy arrays or torch tensors, as generators keep them)."""
    if isinstance(latents, np.ndarray):
        return np.repeat(latents, times, 0)
    return latents.repeat_interleave(times, 0)


PIXEL_BOOSTS = (256, 512)


class LearnedEngine(Engine):
    def __init__(
        self,
        generator: Generator,
        maskers: Sequence[Masker] | None = None,
        enhancer: Enhancer | None = None,
        compositor: PasteBack | None = None,
        device: str | None = None,
        pixel_boost: int | None = None,
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
        size = generator.spec.size
        if pixel_boost is not None and (pixel_boost <= size or pixel_boost % size):
            raise UsageError(
                f"pixel boost {pixel_boost} needs a multiple of {generator.name}'s {size}-px "
                f"crop above it (e.g. {2 * size} or {4 * size})",
                "pixel_boost",
            )
        # Pixel boost: the crop cut at k times the model's size, generated as k x k tiles.
        self.boost = 1 if pixel_boost is None else pixel_boost // size
        self.device = device
        # Seconds spent in the generator and faces it made (twoface bench compares the
        # generator inside the pipeline with the generator alone).
        self.generator_seconds, self.generator_faces = 0.0, 0
        self._torch = None
        if self.device is not None:
            from twoface.swap.torch_paste_net import TorchStages

            self._torch = TorchStages(self.device)

    def swap(self, frames: Sequence[np.ndarray], jobs: Sequence[SwapJob]) -> list[np.ndarray]:
        return self.begin(frames, jobs)()

    def begin(self, frames: Sequence[np.ndarray], jobs: Sequence[SwapJob]):
        """Align, generate and mask now; paste back (and enhance) in the returned callable."""
        if not jobs:
            return lambda: list(frames)
        spec = self.generator.spec
        if self._torch is not None and self.boost == 1:
            on_device = self._finish(self._swap_on_device(frames, jobs), jobs)
            return lambda: on_device
        k = self.boost
        crops, affines = align_jobs(frames, jobs, spec.size * k, spec.template)
        latents = self.generator.latents([job.source for job in jobs])
        if k == 1:
            pending = self.generator.generate_later(crops, latents)
        else:
            pending = self.generator.generate_later(implode(crops, k), _repeat(latents, k * k))

        # The generator may still be working (on a GPU): its result, the masks and the paste
        # are the returned callable's, which a video's pipeline runs in the paster's thread
        # while this one prepares the next batch.
        def paste() -> list[np.ndarray]:
            generated, seconds = pending()
            if k > 1:
                generated = explode(generated, k)
            self.generator_seconds += seconds
            self.generator_faces += len(jobs)
            masks = self._masks(crops, jobs, affines, generated)
            out = self.compositor.composite(frames, jobs, generated, masks, affines)
            return self._finish(out, jobs)

        if self.enhancer is not None:
            # The enhancer masks its crops with the same maskers, some of which keep state per
            # person: all of it stays in this call's order, on this thread.
            done = paste()
            return lambda: done
        return paste

    def _finish(self, out: list[np.ndarray], jobs: Sequence[SwapJob]) -> list[np.ndarray]:
        return self._enhance(out, jobs) if self.enhancer is not None else out

    def _swap_on_device(self, frames, jobs):
        """Frames to the device once; crops cut and pasted back there
        (twoface.swap.torch_paste_net)."""
        from twoface.geometry import fit_template

        spec = self.generator.spec
        mats = [fit_template(j.target.kps, spec.template, spec.size) for j in jobs]
        on_device = self._torch.upload(frames, [j.frame_index for j in jobs])
        crops = self._torch.align(on_device, jobs, mats, spec.size)
        generated = self.generator.generate(crops, self.generator.latents([j.source for j in jobs]))
        masks = self._masks(crops, jobs, np.stack(mats), generated)
        return self._torch.paste(frames, on_device, jobs, generated, masks, mats)

    def _masks(self, crops, jobs, affines, generated=None) -> np.ndarray | None:
        if not self.maskers:
            return None
        targets = [job.target for job in jobs]
        run = jobs[0].run if jobs else None
        made = []
        for m in self.maskers:
            extra = {"generated": generated} if m.needs_generated else {}
            if m.keeps_run_state:
                extra["run"] = run
            made.append(m.masks(crops, targets, affines, **extra))
        return combine(made, crops.shape[:3])

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
        masks = self._masks(crops, jobs, affines, better)
        return self.compositor.composite(frames, jobs, better, masks, affines)
