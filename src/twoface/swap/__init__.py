"""Face swappers: given target faces and a source identity, generate the swapped pixels."""

from twoface.swap.base import SourceIdentity, SwapJob, Swapper
from twoface.swap.classical import ClassicalSwapper

__all__ = ["ClassicalSwapper", "SourceIdentity", "SwapJob", "Swapper"]
