"""Training recipes: architecture, losses and optimiser settings per swapper family, from the
papers and repositories, overridable by a JSON config file and the command line.

- inswapper128 / reswapper256 (the inswapper architecture, as ReSwapper reproduces it): Adam at
  1e-4 for the generator (ReSwapper's train.py). ReSwapper distils inswapper's outputs; without
  that teacher the losses are GHOST's self-supervised set (identity from a frozen ArcFace: 1 - cos,
  weight 20; reconstruction on same-person pairs: 0.5 x MSE, weight 10; adversarial hinge loss
  against a multi-scale discriminator, weight 1) with SimSwap's weak feature matching (L1 between
  the discriminator's features of output and target, weight 10) keeping the target's attributes.
- ghost_unet_2 (AEI-Net, 2 AAD blocks, sber-swap's train.py): Adam 4e-4 with betas (0, 0.999)
  and weight decay 1e-4 for both networks; adversarial 1, attribute 10 (MSE between the attribute
  encoder's maps of output and target, halved), identity 20, reconstruction 10; same person 20%.
The discriminator is pix2pixHD's multi-scale PatchGAN (3 scales, sber-swap: 5 layers).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from twoface.errors import UsageError


@dataclass(frozen=True)
class Recipe:
    arch: str = "inswapper128"
    size: int = 128  # the generator's crop
    template: str = "arcface"
    identity: str = "arcface_w600k_r50"  # catalogue name of the frozen identity network
    width: float = 1.0  # channel multiplier (tests and quick runs use narrow networks)
    blocks: int = 6
    batch: int = 8
    accumulate: int = 1
    steps: int = 10000
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    betas_g: tuple[float, float] = (0.9, 0.999)
    betas_d: tuple[float, float] = (0.0, 0.999)
    weight_decay: float = 0.0
    w_id: float = 20.0
    w_rec: float = 10.0
    w_attr: float = 0.0  # AEI-Net's attribute loss
    w_fm: float = 10.0  # SimSwap's weak feature matching
    w_adv: float = 1.0
    same_person: float = 0.2
    d_scales: int = 3
    d_layers: int = 4
    d_width: float = 1.0
    precision: str = "fp32"  # fp32, bf16 or fp16 (autocast; fp16 with a gradient scaler)
    seed: int = 0
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 1000

    def __post_init__(self) -> None:
        if self.arch not in RECIPES_BASE:
            raise UsageError(
                f"unknown architecture {self.arch!r}; choose from {', '.join(RECIPES_BASE)}",
                "arch",
            )
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise UsageError(f"precision {self.precision!r}: use fp32, bf16 or fp16", "precision")
        for name in (
            "batch",
            "accumulate",
            "steps",
            "log_every",
            "sample_every",
            "checkpoint_every",
        ):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1", name)
        if not 0 <= self.same_person <= 1:
            raise UsageError("same_person is a probability in [0, 1]", "same_person")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


RECIPES_BASE = {
    "inswapper128": {},
    "reswapper256": {"size": 256},
    "ghost_unet_2": {
        "size": 224,
        "template": "insightface_pose",
        "identity": "ghost_arcface_iresnet100",
        "blocks": 2,
        "lr_g": 4e-4,
        "lr_d": 4e-4,
        "betas_g": (0.0, 0.999),
        "weight_decay": 1e-4,
        "w_attr": 10.0,
        "w_fm": 0.0,
        "d_layers": 5,
    },
}


def recipe(arch: str, config: str | Path | None = None, **overrides) -> Recipe:
    """The published recipe for `arch`, then a JSON config file's values, then `overrides`."""
    if arch not in RECIPES_BASE:
        raise UsageError(
            f"unknown architecture {arch!r}; choose from {', '.join(RECIPES_BASE)}", "arch"
        )
    values: dict = {"arch": arch, **RECIPES_BASE[arch]}
    if config is not None:
        try:
            loaded = json.loads(Path(config).read_text())
        except (OSError, ValueError) as e:
            raise UsageError(f"{config}: not a readable JSON config ({e})", "config") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"{config}: a config file holds one JSON object", "config")
        values.update(loaded)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(Recipe)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UsageError(f"unknown recipe setting {unknown[0]!r}", "config")
    for key in ("betas_g", "betas_d"):
        if key in values:
            values[key] = tuple(values[key])
    return replace(Recipe(), **values)
