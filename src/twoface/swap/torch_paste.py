"""The learned engine's align and paste-back on PyTorch (TorchStages): the code is in
`torch_paste_net` (PyTorch), which twoface.swap.engine imports where it runs; this module
forwards the old names there, so component discovery never imports torch.
"""

from __future__ import annotations

from twoface.registry import forward_to

__getattr__ = forward_to(f"{__name__}_net")
