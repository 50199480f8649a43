"""The portrait renderer: a face-normalised frame, authored expression bases, a precomputed
thin-plate-spline warp and small layers (mouth interior, eyelids, irises) on top of it."""

from .bases import ExpressionBases, build_bases
from .face_frame import FaceFrame, HeadPose, face_frame, rotation_matrix, euler_from_matrix, solve_pose, to_canonical

__all__ = [
    "ExpressionBases", "build_bases", "FaceFrame", "HeadPose", "face_frame", "rotation_matrix",
    "euler_from_matrix", "solve_pose", "to_canonical",
]
