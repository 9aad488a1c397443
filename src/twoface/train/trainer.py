"""`twoface train`: the training loop, checkpoints with exact resume, logs and sample grids.

A run folder holds `config.json` (the recipe used), `log.csv` (one row per logged step),
`samples/step-NNNNNN.png` (source | target | output rows), and `checkpoints/`: per saved step a
`.pt` of tensors only (networks, optimisers, scaler, PyTorch's RNG; read back with
`weights_only=True`, so a checkpoint never runs pickled code) and a `.json` of the rest (step,
NumPy's and Python's RNG states per rank). Resuming restores all of it: a resumed run gives the
same numbers as one that never stopped (on the same device and settings).

Several GPUs: start it with `torchrun --nproc_per_node N -m twoface train ...`; each process
takes its own batches (seeded by rank), gradients are averaged by DDP, rank 0 writes.
"""

from __future__ import annotations

import csv
import json
import os
import random
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from twoface.errors import UsageError
from twoface.train.dataset import FaceDataset
from twoface.train.nets import Generator, MultiscaleDiscriminator, hinge, load_identity
from twoface.train.recipes import Recipe

LOG_FIELDS = [
    "step",
    "seconds",
    "images_per_s",
    "loss_g",
    "loss_d",
    "id",
    "rec",
    "attr",
    "fm",
    "adv",
]


def _rank() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


class Trainer:
    def __init__(
        self, recipe: Recipe, data: str | os.PathLike, run: str | os.PathLike, store, device=None
    ) -> None:
        from twoface.runtime import torch_device

        self.recipe = recipe
        self.run = Path(run)
        self.rank, self.world = _rank()
        if self.world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
            if torch.cuda.is_available():
                device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        self.device = torch.device(torch_device(device))
        self.data = FaceDataset(data)
        if self.data.size != recipe.size or self.data.template != recipe.template:
            raise UsageError(
                f"{data}: faces at {self.data.size} px on the {self.data.template} template; "
                f"{recipe.arch} trains on {recipe.size} px {recipe.template} crops "
                f"(twoface dataset build --size {recipe.size} --template {recipe.template})",
                "data",
            )
        if len(self.data) < 2:
            raise UsageError(f"{data}: {len(self.data)} face(s); training needs at least 2", "data")
        torch.manual_seed(recipe.seed + self.rank)
        self.rng = np.random.default_rng(recipe.seed + self.rank)
        self.py_rng = random.Random(recipe.seed + self.rank)
        self.G = Generator(recipe).to(self.device)
        self.D = MultiscaleDiscriminator(recipe.d_scales, recipe.d_layers, recipe.d_width).to(
            self.device
        )
        self.identity = load_identity(recipe, store, self.device)
        self.opt_g = torch.optim.Adam(
            self.G.parameters(), recipe.lr_g, betas=recipe.betas_g, weight_decay=recipe.weight_decay
        )
        self.opt_d = torch.optim.Adam(
            self.D.parameters(), recipe.lr_d, betas=recipe.betas_d, weight_decay=recipe.weight_decay
        )
        fp16 = recipe.precision == "fp16" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(recipe.precision)
        self.g_train, self.d_train = self.G, self.D
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_train = DDP(self.G, device_ids=ids)
            self.d_train = DDP(self.D, device_ids=ids)
        self.step = 0
        self.fixed = self.rng.integers(0, len(self.data), size=(2, min(4, len(self.data))))

    # -- one step -------------------------------------------------------------------------------
    def _autocast(self):
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _images(self, indices) -> tuple[torch.Tensor, np.ndarray]:
        crops, groups = self.data.batch(indices)
        t = torch.from_numpy(crops).to(self.device).permute(0, 3, 1, 2).float() / 255
        return t.contiguous(), groups

    def _latent(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.identity(images, normalise=self.G.kind != "ghost")

    def _pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b, n = self.recipe.batch, len(self.data)
        targets = self.rng.integers(0, n, b)
        same = self.rng.random(b) < self.recipe.same_person
        sources = np.where(same, targets, self.rng.integers(0, n, b))
        return targets, sources, (sources == targets)

    def train_step(self) -> dict[str, float]:
        r = self.recipe
        self.G.train()
        self.D.train()
        totals: dict[str, float] = {}
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        for _ in range(r.accumulate):
            t_idx, s_idx, same = self._pairs()
            xt, _ = self._images(t_idx)
            xs, _ = self._images(s_idx)
            same_t = torch.from_numpy(same.astype(np.float32)).to(self.device)
            latent = self._latent(xs)
            source_id = F.normalize(latent, dim=1)
            # The generator's losses see the discriminator frozen (its own, unwrapped copy: no
            # gradient reaches D's parameters, nothing is synchronised for it).
            self.D.requires_grad_(False)
            with self._autocast():
                y = self.g_train(xt, latent).float()
                y_id = self.identity(y)
                l_id = (1 - (y_id * source_id).sum(1)).mean()
                per = ((y - xt) ** 2).flatten(1).mean(1) * 0.5
                l_rec = (per * same_t).sum() / (same_t.sum() + 1e-6)
                fake = self.D(y)
                l_adv = hinge(fake, real=True)
                l_attr = y.new_zeros(())
                if r.w_attr:
                    with torch.no_grad():
                        xt_attr = self.G.attributes(xt)
                    y_attr = self.G.attributes(y)
                    l_attr = (
                        sum(
                            F.mse_loss(a.float(), b.float())
                            for a, b in zip(y_attr, xt_attr, strict=True)
                        )
                        / 2
                    )
                l_fm = y.new_zeros(())
                if r.w_fm:
                    with torch.no_grad():
                        real_feats = self.D(xt)
                    for fs, rs in zip(fake, real_feats, strict=True):
                        for f, rf in zip(fs[:-1], rs[:-1], strict=True):
                            l_fm = l_fm + F.l1_loss(f.float(), rf.float())
                loss_g = (
                    r.w_id * l_id
                    + r.w_rec * l_rec
                    + r.w_adv * l_adv
                    + r.w_attr * l_attr
                    + r.w_fm * l_fm
                )
            self.scaler.scale(loss_g / r.accumulate).backward()
            self.D.requires_grad_(True)
            # The discriminator: sources (real faces) against this step's outputs.
            with self._autocast():
                loss_d = 0.5 * (
                    hinge(self.d_train(xs), True) + hinge(self.d_train(y.detach()), False)
                )
            self.scaler.scale(loss_d / r.accumulate).backward()
            for key, value in (
                ("loss_g", loss_g),
                ("loss_d", loss_d),
                ("id", l_id),
                ("rec", l_rec),
                ("attr", l_attr),
                ("fm", l_fm),
                ("adv", l_adv),
            ):
                totals[key] = totals.get(key, 0.0) + float(value.detach()) / r.accumulate
        self.scaler.step(self.opt_g)
        self.scaler.step(self.opt_d)
        self.scaler.update()
        self.step += 1
        return totals

    # -- the loop ----------------------------------------------------------------------------------
    def fit(self, steps: int | None = None, report=None) -> list[dict]:
        """Train until `steps` (the recipe's by default) are done in total; returns the logged
        rows. Checkpoints, samples and log rows as the recipe says, and at the end."""
        r = self.recipe
        until = steps if steps is not None else r.steps
        rows = []
        if self.rank == 0:
            (self.run / "checkpoints").mkdir(parents=True, exist_ok=True)
            (self.run / "samples").mkdir(exist_ok=True)
            (self.run / "config.json").write_text(r.to_json())
        start, images = time.perf_counter(), 0
        while self.step < until:
            losses = self.train_step()
            images += r.batch * r.accumulate * self.world
            if self.step % r.log_every == 0 or self.step == until:
                elapsed = time.perf_counter() - start
                row = {"step": self.step, "seconds": round(elapsed, 3)}
                row["images_per_s"] = round(images / elapsed, 2) if elapsed > 0 else None
                row |= {k: round(v, 6) for k, v in losses.items()}
                rows.append(row)
                if self.rank == 0:
                    self._log(row)
                if report is not None:
                    report(row)
            if self.step % r.sample_every == 0 and self.rank == 0:
                self.samples()
            if self.step % r.checkpoint_every == 0 or self.step == until:
                self.save()
        return rows

    def _log(self, row: dict) -> None:
        path = self.run / "log.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=LOG_FIELDS, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)

    @torch.no_grad()
    def samples(self) -> Path:
        """A grid of the fixed pairs: source | target | output per row."""
        from PIL import Image

        self.G.eval()
        xs, _ = self._images(self.fixed[0])
        xt, _ = self._images(self.fixed[1])
        y = self.G(xt, self._latent(xs))
        rows = torch.cat([xs, xt, y.clamp(0, 1)], 3)  # side by side
        grid = rows.permute(0, 2, 3, 1).reshape(-1, rows.shape[3], 3)
        path = self.run / "samples" / f"step-{self.step:06d}.png"
        Image.fromarray((grid.cpu().numpy() * 255 + 0.5).astype(np.uint8)).save(path)
        return path

    # -- checkpoints --------------------------------------------------------------------------------
    def save(self) -> Path:
        ck = self.run / "checkpoints"
        stem = ck / f"step-{self.step:06d}"
        if self.rank == 0:
            tensors = {
                "G": self.G.state_dict(),
                "D": self.D.state_dict(),
                "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(),
                "scaler": self.scaler.state_dict(),
            }
            tmp = stem.with_suffix(".pt.part")
            torch.save(tensors, tmp)
            tmp.replace(stem.with_suffix(".pt"))
        state = {
            "step": self.step,
            "torch_rng": torch.get_rng_state().tolist(),
            "numpy_rng": self.rng.bit_generator.state,
            "python_rng": _jsonable(self.py_rng.getstate()),
        }
        if self.world > 1:
            import torch.distributed as dist

            gathered: list = [None] * self.world
            dist.all_gather_object(gathered, state)
            states = gathered
            dist.barrier()
        else:
            states = [state]
        if self.rank == 0:
            meta = {"step": self.step, "recipe": asdict(self.recipe), "ranks": states}
            stem.with_suffix(".json").write_text(json.dumps(meta))
            (ck / "latest.json").write_text(json.dumps({"step": self.step, "stem": stem.name}))
        return stem.with_suffix(".pt")

    def resume(self, step: int | None = None) -> int:
        """Load a checkpoint of this run (the latest, or `step`); returns its step."""
        ck = self.run / "checkpoints"
        if step is None:
            try:
                step = json.loads((ck / "latest.json").read_text())["step"]
            except (OSError, ValueError, KeyError):
                raise UsageError(f"{self.run}: no checkpoint to resume from", "resume") from None
        stem = ck / f"step-{int(step):06d}"
        try:
            tensors = torch.load(
                stem.with_suffix(".pt"), map_location=self.device, weights_only=True
            )
            meta = json.loads(stem.with_suffix(".json").read_text())
        except (OSError, ValueError, RuntimeError) as e:
            raise UsageError(f"{stem}.pt: cannot resume from it ({e})", "resume") from None
        self.G.load_state_dict(tensors["G"])
        self.D.load_state_dict(tensors["D"])
        self.opt_g.load_state_dict(tensors["opt_g"])
        self.opt_d.load_state_dict(tensors["opt_d"])
        self.scaler.load_state_dict(tensors["scaler"])
        mine = meta["ranks"][min(self.rank, len(meta["ranks"]) - 1)]
        torch.set_rng_state(torch.tensor(mine["torch_rng"], dtype=torch.uint8))
        self.rng.bit_generator.state = mine["numpy_rng"]
        self.py_rng.setstate(_tupled(mine["python_rng"]))
        self.step = int(meta["step"])
        return self.step


def _jsonable(value):
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def _tupled(value):
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    return value
