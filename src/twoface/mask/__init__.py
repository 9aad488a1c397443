"""Masks: soft regions of a face that a swap may change.

`regions` draws landmark masks in frame coordinates for the classical engine; `base` holds the
batch-first `Masker` stage of learned swaps (crop-space masks, combined by minimum) and the
maskers available by name.
"""

from twoface.mask.base import (
    MASKERS,
    AreaMasker,
    BoxMasker,
    Masker,
    MaskSettings,
    MouthMasker,
    OcclusionMasker,
    RegionMasker,
    combine,
    create_maskers,
)
from twoface.mask.regions import (
    MOUTH,
    face_mask,
    face_polygon,
    feather,
    mouth_open_ratio,
    polygon_mask,
)

__all__ = [
    "MASKERS",
    "MOUTH",
    "AreaMasker",
    "BoxMasker",
    "MaskSettings",
    "Masker",
    "MouthMasker",
    "OcclusionMasker",
    "RegionMasker",
    "combine",
    "create_maskers",
    "face_mask",
    "face_polygon",
    "feather",
    "mouth_open_ratio",
    "polygon_mask",
]
