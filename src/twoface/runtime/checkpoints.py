"""Reading weights without running pickled code.

`.pth`/`.tar` files go through `torch.load(weights_only=True)` (PyTorch's allow-list unpickler:
tensors, containers and numbers only); `.safetensors` through safetensors. A checkpoint that needs
other classes is refused with a message, never executed.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

from twoface.errors import ModelError

# Where trainers nest the weights inside a checkpoint dict, in the order tried.
NESTED_KEYS = ("state_dict", "params_ema", "params", "model", "net", "generator")
# What a load may allocate, beyond the file's own size: weights never expand much on loading
# (torch.save stores them uncompressed), so a file that would grow past this is hostile.
EXPANSION = 4
SLACK = 64 << 20


def allocation_limit(path: Path) -> int:
    """Bytes a checkpoint of this file may unpack to (weights plus a little bookkeeping)."""
    return EXPANSION * path.stat().st_size + SLACK


def check_zip_budget(path: Path, limit: int) -> None:
    """Refuse a zip checkpoint whose members would inflate beyond `limit` bytes (a zip bomb)."""
    try:
        with zipfile.ZipFile(path) as z:
            total = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError):
        return  # not a zip: torch.load's own reader reports it
    if total > limit:
        raise ModelError(
            f"{path}: its archive would unpack to {total / 2**20:.0f} MiB from a "
            f"{path.stat().st_size / 2**20:.1f} MiB file; refusing it"
        )


def check_tensor_budget(path: Path, tensors, limit: int) -> None:
    """Refuse a state dict whose tensors add up beyond `limit` bytes (one storage shared by many
    keys costs nothing to load but a full copy per key once loaded into a network)."""
    total = sum(t.numel() * t.element_size() for t in tensors)
    if total > limit:
        raise ModelError(
            f"{path}: its tensors add up to {total / 2**20:.0f} MiB from a "
            f"{path.stat().st_size / 2**20:.1f} MiB file; refusing it"
        )


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
        except (SafetensorError, OSError, ValueError, TypeError, RecursionError) as e:
            first = (str(e).splitlines() or [type(e).__name__])[0][:160]
            raise ModelError(f"{p}: not a readable safetensors file ({first})") from None
    limit = allocation_limit(p)
    check_zip_budget(p, limit)
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).splitlines()[0][:160]
        raise ModelError(
            f"{p}: refusing to load: it needs pickled code beyond plain weights ({first})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, TypeError, KeyError, IndexError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0][:160]
        raise ModelError(f"{p}: not a readable PyTorch checkpoint ({first})") from None
    seen: set[int] = set()
    # Follow the nesting at most once per dict: a dict that holds itself must not loop forever.
    while isinstance(obj, dict) and id(obj) not in seen:
        seen.add(id(obj))
        inner = next((obj[k] for k in NESTED_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if (
        not isinstance(obj, dict)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        raise ModelError(f"{p}: no state dict of tensors inside")
    check_tensor_budget(p, obj.values(), limit)
    if all(k.startswith("module.") for k in obj):  # saved from DataParallel
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def build_from(path: str | os.PathLike, what: str, build):
    """`build()`, the network a loader sizes from a state dict's tensor shapes; a one-line
    ModelError naming `what` the file is not when those shapes cannot size it (a tensor of no
    dimensions, a width of zero ...)."""
    try:
        return build()
    except ModelError as e:  # the builder's own words, with the file named
        message = str(e)
        raise ModelError(message if str(path) in message else f"{path}: {message}") from None
    except (KeyError, IndexError, ValueError, TypeError, RuntimeError, ZeroDivisionError) as e:
        first = (str(e).splitlines() or [""])[0][:120] or type(e).__name__
        raise ModelError(f"{path}: not {what} (its tensors cannot size it: {first})") from None


def load_into(net, state: dict, path: str | os.PathLike, what: str):
    """Load `state` into `net` by key names; a one-line ModelError naming `what` the file is not
    when keys are missing or left over (BatchNorm's num_batches_tracked may be absent), or when
    a tensor's shape is not the architecture's (naming the first such key)."""
    own = net.state_dict()
    for key, tensor in state.items():
        want = own.get(key)
        if want is not None and tuple(tensor.shape) != tuple(want.shape):
            raise ModelError(
                f"{path}: not {what} (tensor {key} has shape {tuple(tensor.shape)}, the "
                f"architecture's is {tuple(want.shape)})"
            )
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as e:  # anything torch still finds wrong: its first line
        first = (str(e).splitlines() or [""])[0][:160]
        raise ModelError(f"{path}: not {what} ({first})") from None
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        example = (missing or unexpected)[0]
        raise ModelError(
            f"{path}: not {what} ({len(missing)} missing, {len(unexpected)} unexpected keys, "
            f"e.g. {example})"
        )
    return net.eval()
