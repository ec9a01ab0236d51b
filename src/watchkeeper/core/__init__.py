"""Pure types and math shared by every layer: no I/O, no heavy imports."""

from watchkeeper.core.contract import EmbeddingContract, Metric
from watchkeeper.core.faces import Faces, FacesMeta, QualityIssue
from watchkeeper.core.frame import Frame, Image
from watchkeeper.core.matches import Candidate, Decision, Match, Verification

__all__ = [
    "Candidate",
    "Decision",
    "EmbeddingContract",
    "Faces",
    "FacesMeta",
    "Frame",
    "Image",
    "Match",
    "Metric",
    "QualityIssue",
    "Verification",
]
