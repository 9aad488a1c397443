"""Face enhancers (restoration): the stage after generation, on a template of its own.

`base.Enhancer` is the slot the learned engine calls; the published restorers (GFPGAN,
CodeFormer, GPEN, RestoreFormer++) are catalogued and arrive as implementations of it.
"""

from twoface.enhance.base import Enhancer, EnhancerSpec

__all__ = ["Enhancer", "EnhancerSpec"]
