"""`marionette analyze IMAGE`: face landmarks of a picture and the motion they show.

Motion is measured against a neutral reference portrait (default: the bundled one). Expression
and rotation compare the face with the reference's; tx/ty/scale compare its placement and are
meaningful for pictures framed like the reference (frames rendered from it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

# Fit residual (face widths) above which the face is probably not the reference's person.
IDENTITY_RESIDUAL = 0.02


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="face landmarks of a picture and the motion (pose, ARKit blendshapes) they show",
        description="Detect the face in IMAGE, find its 478 landmarks (468 mesh + irises) and extract "
        "the MotionFrame that turns the reference portrait's neutral face into it.",
    )
    p.add_argument("image", metavar="IMAGE", help="picture with a face (any size; PNG, JPEG, ...)")
    p.add_argument("--reference", metavar="PORTRAIT",
                   help="neutral portrait to measure against (default: the bundled portrait)")
    p.add_argument("--face-index", type=int, default=0, help="which face when there are several (0 = largest)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--landmarks", action="store_true", help="include all 478 points in the JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ...core.face import FaceAnalyzer, default_portrait_path, load_image
    from ...core.face.extract import MotionExtractor, MotionReference
    from ...core.face.landmarks import CHIN, LEFT_IRIS_CENTER, MOUTH_CORNERS, NOSE_TIP, RIGHT_IRIS_CENTER

    analyzer = FaceAnalyzer.load()
    image = load_image(args.image)
    t0 = time.perf_counter()
    lm = analyzer.analyze(image, face_index=args.face_index)
    analysis_ms = (time.perf_counter() - t0) * 1000
    ref_path = args.reference or default_portrait_path()
    ref_lm = analyzer.analyze(load_image(ref_path))
    extraction = MotionExtractor(MotionReference.from_landmarks(ref_lm)).extract(lm)
    motion = extraction.motion
    p = lm.points

    def pt(i: int) -> list[float]:
        return [round(float(v), 1) for v in p[i]]

    report = {
        "image": str(args.image),
        "image_size": list(lm.image_size),
        "face": {
            "bbox": [round(v, 1) for v in lm.bbox],
            "score": round(lm.score, 3),
            "face_width_px": round(lm.face_width, 1),
        },
        "analysis_ms": round(analysis_ms, 1),
        "landmarks": {
            "count": int(len(p)),
            "right_iris": pt(RIGHT_IRIS_CENTER),
            "left_iris": pt(LEFT_IRIS_CENTER),
            "mouth_corners": [pt(MOUTH_CORNERS[0]), pt(MOUTH_CORNERS[1])],
            "nose_tip": pt(NOSE_TIP),
            "chin": pt(CHIN),
            "z_range_px": [round(float(p[:, 2].min()), 1), round(float(p[:, 2].max()), 1)],
        },
        "reference": str(ref_path),
        "pose": {k: round(getattr(motion, k), 3) for k in ("pitch", "yaw", "roll", "tx", "ty", "scale")},
        "blendshapes": {k: round(v, 3) for k, v in motion.to_dict(nonzero_only=True).items()
                        if k not in ("pitch", "yaw", "roll", "tx", "ty", "scale") and abs(v) >= 0.005},
        "fit_residual_face_widths": round(extraction.fit_residual, 4),
    }
    if args.landmarks:
        report["landmarks"]["points"] = np.round(p, 2).tolist()
    if args.json:
        print(json.dumps(report))
        return 0
    f = report["face"]
    print(f"{args.image}: {lm.image_size[0]}x{lm.image_size[1]}, face {f['face_width_px']} px wide at "
          f"{f['bbox']} (score {f['score']}), analysed in {report['analysis_ms']} ms")
    print(f"landmarks: {len(p)} (irises at {report['landmarks']['right_iris'][:2]} and {report['landmarks']['left_iris'][:2]})")
    print(f"pose vs {ref_path}: " + ", ".join(f"{k} {v}" for k, v in report["pose"].items()))
    shown = sorted(report["blendshapes"].items(), key=lambda kv: -kv[1])
    print("blendshapes: " + (", ".join(f"{k} {v:.2f}" for k, v in shown) if shown else "all zero (neutral)"))
    if extraction.fit_residual > IDENTITY_RESIDUAL:
        print(f"note: the bases explain this face poorly (residual {extraction.fit_residual:.3f} face widths): "
              "it is probably not the reference's face, and the blendshapes include identity differences; "
              "pass --reference with a neutral photo of the same person", file=sys.stderr)
    return 0
