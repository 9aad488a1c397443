"""Face parsing (BiSeNet) and occlusion (XSeg) over aligned crops: what the region and
occlusion masks are made from."""

from twoface.parse.models import (
    CLASSES,
    FACE_REGIONS,
    REGION_GROUPS,
    FaceParser,
    Occluder,
    region_classes,
)

__all__ = ["CLASSES", "FACE_REGIONS", "REGION_GROUPS", "FaceParser", "Occluder", "region_classes"]
