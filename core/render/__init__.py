"""The portrait renderer: a face-normalised frame, authored expression bases, a precomputed
thin-plate-spline warp and small layers (mouth interior, eyelids, irises) on top of it."""

from .bases import ExpressionBases, build_bases
from .face_frame import FaceFrame, HeadPose, euler_from_matrix, face_frame, rotation_matrix, solve_pose, to_canonical
from .framing import SIZES, parse_size
from .renderer import POSE_RANGE, PortraitRenderer, RenderStats
from .video import write_video

__all__ = [
    "ExpressionBases", "build_bases", "FaceFrame", "HeadPose", "face_frame", "rotation_matrix",
    "euler_from_matrix", "solve_pose", "to_canonical", "PortraitRenderer", "RenderStats", "POSE_RANGE",
    "SIZES", "parse_size", "write_video",
]
