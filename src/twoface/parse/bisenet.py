"""Face-parsing.PyTorch's BiSeNet network: the code is in `bisenet_net` (PyTorch), which
twoface.parse.models imports where it runs; this module forwards the old names there, so
component discovery never imports torch.
"""

from __future__ import annotations

from twoface.registry import forward_to

__getattr__ = forward_to(f"{__name__}_net")
