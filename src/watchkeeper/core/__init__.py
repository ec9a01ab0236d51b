"""Pure types and math shared by every layer: no I/O, no heavy imports."""

from watchkeeper.core.contract import EmbeddingContract, Metric
from watchkeeper.core.faces import Faces, FacesMeta, QualityIssue
from watchkeeper.core.frame import Frame, Image
from watchkeeper.core.matches import Candidate, Decision, Match, Verification
from watchkeeper.core.objects import (
    CLASS_GROUPS,
    COCO_CLASS_NAMES,
    ClassGroup,
    Objects,
    ObjectsMeta,
    class_group,
)

__all__ = [
    "CLASS_GROUPS",
    "COCO_CLASS_NAMES",
    "Candidate",
    "ClassGroup",
    "Decision",
    "EmbeddingContract",
    "Faces",
    "FacesMeta",
    "Frame",
    "Image",
    "Match",
    "Metric",
    "Objects",
    "ObjectsMeta",
    "QualityIssue",
    "Verification",
    "class_group",
]
