"""GFPGAN v1.3/v1.4's network (GFPGANv1Clean) on PyTorch: the code is in `gfpgan_net` (PyTorch),
which twoface.enhance.restorers imports where it runs; this module forwards the old names there,
so component discovery never imports torch.
"""

from __future__ import annotations

from twoface.registry import forward_to

__getattr__ = forward_to(f"{__name__}_net")
