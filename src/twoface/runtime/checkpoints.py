"""Reading weights without running pickled code.

`.pth`/`.tar` files go through `torch.load(weights_only=True)` (PyTorch's allow-list unpickler:
tensors, containers and numbers only); `.safetensors` through safetensors. A checkpoint that needs
other classes is refused with a message, never executed.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from twoface.errors import ModelError

# Where trainers nest the weights inside a checkpoint dict, in the order tried.
NESTED_KEYS = ("state_dict", "params_ema", "params", "model", "net", "generator")


def load_torch_state(path: str | os.PathLike) -> dict:
    """A flat {name: tensor} state dict from a .pth/.tar/.safetensors file."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{p}: no such file")
    if p.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(p))
        except (SafetensorError, OSError) as e:
            raise ModelError(f"{p}: not a readable safetensors file ({e})") from None
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).splitlines()[0][:160]
        raise ModelError(
            f"{p}: refusing to load: it needs pickled code beyond plain weights ({first})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise ModelError(
            f"{p}: not a readable PyTorch checkpoint ({str(e).splitlines()[0]})"
        ) from None
    while isinstance(obj, dict):
        inner = next((obj[k] for k in NESTED_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"{p}: no state dict of tensors inside")
    if all(k.startswith("module.") for k in obj):  # saved from DataParallel
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def load_into(net, state: dict, path: str | os.PathLike, what: str):
    """Load `state` into `net` by key names; a one-line ModelError naming `what` the file is not
    when keys are missing or left over (BatchNorm's num_batches_tracked may be absent)."""
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        example = (missing or unexpected)[0]
        raise ModelError(
            f"{path}: not {what} ({len(missing)} missing, {len(unexpected)} unexpected keys, "
            f"e.g. {example})"
        )
    return net.eval()
