"""`twoface train export RUN`: a trained generator as files twoface (and insightface) run.

inswapper-architecture runs give an inswapper-format ONNX file (inputs `target` [1, 3, S, S] RGB
in 0..1 and `source` [1, 512]; the emap as the last initializer: the identity, since these runs
learn from normed ArcFace embeddings directly) and a .pth with ReSwapper's key names plus that
emap; GHOST runs give sber-swap's generator .pth. `twoface models import FILE --name NAME --like
ENTRY` installs either under your name; `--swapper NAME` runs it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch

from twoface.errors import UsageError
from twoface.train.nets import Generator
from twoface.train.recipes import recipe as make_recipe

LIKE = {"inswapper128": "inswapper_128", "reswapper256": "reswapper_256_1399500_onnx"}


def export_run(run: str | Path, step: int | None = None) -> dict:
    """Write the export files of a run's checkpoint (the latest, or `step`); returns what was
    written and the command that installs it."""
    run = Path(run)
    ck = run / "checkpoints"
    try:
        if step is None:
            step = json.loads((ck / "latest.json").read_text())["step"]
        meta = json.loads((ck / f"step-{int(step):06d}.json").read_text())
        tensors = torch.load(ck / f"step-{int(step):06d}.pt", map_location="cpu", weights_only=True)
    except (OSError, ValueError, KeyError, RuntimeError):
        raise UsageError(
            f"{run}: no checkpoint{'' if step is None else f' at step {step}'} to export", "run"
        ) from None
    saved = dict(meta["recipe"])
    arch = saved.pop("arch")
    recipe = make_recipe(arch, **saved)
    generator = Generator(recipe)
    generator.load_state_dict(tensors["G"])
    net = generator.net.eval()
    out = run / "export"
    out.mkdir(exist_ok=True)
    stem = f"{arch}-step{int(step)}"
    files = []
    if generator.kind == "ghost":
        path = out / f"{stem}.pth"
        torch.save(net.state_dict(), path)
        files.append(path)
        like = f"ghost_unet_{recipe.blocks}block{'s' if recipe.blocks > 1 else ''}"
    else:
        emap = np.eye(512, dtype=np.float32)
        onnx_path = out / f"{stem}.onnx"
        onnx_path.write_bytes(inswapper_onnx(net, recipe.size, emap))
        pth = out / f"{stem}.pth"
        torch.save({**net.state_dict(), "emap": torch.from_numpy(emap)}, pth)
        files += [onnx_path, pth]
        like = LIKE[arch]
    command = f"twoface models import {files[0]} --name my_{arch} --like {like}"
    return {"step": int(step), "files": [str(f) for f in files], "like": like, "import": command}


def inswapper_onnx(net, size: int, emap: np.ndarray, any_batch: bool = False) -> bytes:
    """`net` (the inswapper architecture) as an ONNX file in inswapper_128's own format: inputs
    `target` [1,3,S,S] and `source` [1,512], the emap as the last initializer; `any_batch`: the
    batch axis left free (N)."""
    import warnings

    import onnx
    from onnx import numpy_helper

    buf = io.BytesIO()
    with warnings.catch_warnings():  # the tracer's notes on shape arithmetic are not news
        warnings.simplefilter("ignore")
        _export(net, size, buf, any_batch)
    model = onnx.load_from_string(buf.getvalue())
    model.graph.initializer.append(numpy_helper.from_array(emap, "emap"))
    return model.SerializeToString()


def _export(net, size: int, buf, any_batch: bool = False) -> None:
    names = ("target", "source", "output")
    torch.onnx.export(
        net,
        (torch.rand(1, 3, size, size), torch.rand(1, 512)),
        buf,
        input_names=["target", "source"],
        output_names=["output"],
        dynamo=False,
        opset_version=11,
        dynamic_axes={n: {0: "N"} for n in names} if any_batch else None,
    )
