"""The classical, model-free swap: landmark-driven warp, shading transfer, seam-mended blend.

For each target face, in a crop at a bounded working size, a fixed list of named stages runs
over one record (`Work`), each `(work, context) -> work` with its constants in a frozen
parameters dataclass (`stages.py`): the source warped onto the target's geometry (`warp`),
both faces' skin models (`skin_models`), the base mask softened for poses apart (`pose_mask`),
the eye rules (`eye_rules`, `dim_eyes`), the stretch over a turned cheek (`stretch`), the
source's and the target's occluders (`source_occluders`, `target_occluders`, `glasses`), the
mask (`mask_assembly`), the target's light and colour (`tone`) and the seam (`seam`). The mode
(still, video, live) is explicit in the `Context`; a tracked person's memory lives in the run's
`RunState`. Everything happens in a crop around the face, so cost follows face size.
"""

from twoface.swap.classical.engine import MASK_CROP, STAGES, ClassicalEngine, run_stages
from twoface.swap.classical.geometry import _triangles as _triangles
from twoface.swap.classical.geometry import (
    extended_points,
    facing,
    pick_source,
    piecewise_affine_maps,
    pose_distance,
)
from twoface.swap.classical.parts import cheeks
from twoface.swap.classical.traits import SourceTraits, fill_from_skin
from twoface.swap.classical.work import Context, EngineOptions, Mode, Work

# Older names, kept for callers.
_facing = facing
_cheeks = cheeks

__all__ = [
    "MASK_CROP",
    "STAGES",
    "ClassicalEngine",
    "Context",
    "EngineOptions",
    "Mode",
    "SourceTraits",
    "Work",
    "extended_points",
    "fill_from_skin",
    "pick_source",
    "piecewise_affine_maps",
    "pose_distance",
    "run_stages",
]
