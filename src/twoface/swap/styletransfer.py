"""The inswapper / ReSwapper network (StyleTransferModel) in PyTorch: the code is in
`styletransfer_net` (PyTorch), which twoface.swap.inswapper imports where it runs; this module
forwards the old names there, so component discovery never imports torch.
"""

from __future__ import annotations

from twoface.registry import forward_to

__getattr__ = forward_to(f"{__name__}_net")
