"""What the PyTorch anime detectors share: their weights found in the store (the .pth, else its
safetensors copy), the network loaded onto its device, and a batch padded to a multiple of 32
(mmdetection's pad, bottom-right). Imported only when a model is built (a `_net` module), so
component discovery never imports torch."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch

from twoface.detect.base import Detector


class CheckpointAnimeDetector(Detector):
    """An anime detector whose network is a PyTorch checkpoint; `load_net(path)` builds it."""

    load_net: Callable[[str | os.PathLike], torch.nn.Module]

    @classmethod
    def weights(cls, entry, ctx):
        from twoface.anime import find_weights

        return find_weights(ctx.store, entry.name)  # the .pth, else its safetensors copy

    def __init__(self, model_path: str | os.PathLike, device: str | None = None) -> None:
        from twoface.runtime import torch_device

        self.device = torch_device(device)
        self.net = type(self).load_net(model_path).to(self.device)

    def padded(
        self, resized: Sequence[np.ndarray], normalise: Callable[[np.ndarray], np.ndarray]
    ) -> torch.Tensor:
        """The resized frames, normalised, in one NCHW batch padded with zeros bottom-right to
        a multiple of 32, on the detector's device."""
        h = -(-max(r.shape[0] for r in resized) // 32) * 32
        w = -(-max(r.shape[1] for r in resized) // 32) * 32
        batch = np.zeros((len(resized), h, w, 3), np.float32)
        for i, r in enumerate(resized):
            batch[i, : r.shape[0], : r.shape[1]] = normalise(r)
        return torch.from_numpy(batch.transpose(0, 3, 1, 2).copy()).to(self.device)
