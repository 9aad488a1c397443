"""The Enhancer stage: (N, S, S, 3) uint8 crops on the enhancer's template in, same out.

The learned engine re-crops each swapped face from the swapped frame on the enhancer's template
(FFHQ at 512 for the GFPGAN family), enhances the batch, mixes the result with the crop by
`blend` (0: unchanged, 1: the enhancer's output) and pastes it back through the same masks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class EnhancerSpec:
    size: int = 512
    template: str = "ffhq"


class Enhancer(ABC):
    name: str = "enhancer"
    spec: EnhancerSpec = EnhancerSpec()
    blend: float = 1.0

    @abstractmethod
    def enhance(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 -> (N, S, S, 3) uint8."""
