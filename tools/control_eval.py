"""Control accuracy: does the renderer show what it was told? Render commanded motions on real
portraits, re-analyse every frame, extract its motion, and compare with the command.

The measurement chain has its own error, so a failure means "the renderer and the analyser
disagree", not necessarily which one is wrong. Two trackers are reported: ``mesh`` (every frame
analysed from scratch, the strict reading) and ``flow`` (mesh landmarks refined by optical flow
from the neutral render, which measures how far the pixels actually moved; the mesh network alone
under-reports warped expressions). ``landmark_gain`` compares raw landmark motion with the
motion the renderer intended, independent of the blendshape solver.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from marionette.core.types import MotionFrame
from marionette.core.face.extract import MotionExtractor, MotionReference

POSE_AXES = ("pitch", "yaw", "roll")
# The face width, in pixels, the trackers read at. The flow and lid/iris trackers match windows
# and strips of fixed pixel sizes tuned on faces about 160 px wide (core/face/flow.py WINDOW,
# core/face/lid_track.py), and the analyser gains were calibrated there; a camera-like framing
# shows faces from 160 to 330 px in a 512x512 or 1280x720 frame, and read as they are, a blink
# of 1 on a 256 px face read 0.4. So each rendered frame is resized to this face width before it
# is analysed (the motion is read in face widths, so nothing else changes); see _AnalysisScale.
ANALYSIS_FACE_PX = 160.0
CHANNEL_TARGET = 0.15  # |commanded - measured| per blendshape channel
POSE_TARGET_DEG = 2.0
PSNR_TARGET_DB = 40.0
PSNR_CAP_DB = 100.0  # identical pictures: reported as this instead of infinity (JSON has no inf)


@dataclass(frozen=True)
class ControlCase:
    name: str
    channels: dict[str, float]


CASES: tuple[ControlCase, ...] = (
    ControlCase("jawOpen 0.2", {"jawOpen": 0.2}),
    ControlCase("jawOpen 0.5", {"jawOpen": 0.5}),
    ControlCase("jawOpen 0.8", {"jawOpen": 0.8}),
    ControlCase("mouthSmileLeft 0.7", {"mouthSmileLeft": 0.7}),
    ControlCase("mouthSmileRight 0.7", {"mouthSmileRight": 0.7}),
    ControlCase("eyeBlinkLeft 1", {"eyeBlinkLeft": 1.0}),
    ControlCase("eyeBlinkRight 1", {"eyeBlinkRight": 1.0}),
    ControlCase("browInnerUp 0.8", {"browInnerUp": 0.8}),
    ControlCase("yaw +10", {"yaw": 10.0}),
    ControlCase("yaw -10", {"yaw": -10.0}),
    ControlCase("pitch +8", {"pitch": 8.0}),
    ControlCase("pitch -8", {"pitch": -8.0}),
    ControlCase("roll +10", {"roll": 10.0}),
    ControlCase("roll -10", {"roll": -10.0}),
    # Gaze to the subject's left: the left eye looks out, the right eye looks in.
    ControlCase("gaze left 0.8", {"eyeLookOutLeft": 0.8, "eyeLookInRight": 0.8}),
    ControlCase("gaze right 0.8", {"eyeLookInLeft": 0.8, "eyeLookOutRight": 0.8}),
)
# Channels whose false activations we report (the ones the cases exercise).
WATCHED = (
    "jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight", "browInnerUp",
    "eyeLookOutLeft", "eyeLookInLeft", "eyeLookOutRight", "eyeLookInRight",
)


# How a frame is read back: "mesh" (analysed from scratch) and "flow" (mesh refined by optical
# flow from the neutral render; the points flow lost weigh less in the fit, flow.LOST_CONFIDENCE),
# both fitted with the renderer's public bases; "flow_authored"
# fits the authored bases instead. The public bases are scaled to what this evaluation reads
# back (core.render.bases.ANALYSIS_GAIN, calibrated on calibration_faces(), disjoint from the
# evaluated portraits); "flow_authored" is the reading without any calibration.
TRACKERS = ("mesh", "flow", "flow_authored")


@dataclass
class CaseResult:
    portrait: str
    case: str
    tracker: str
    commanded: dict[str, float]
    measured: dict[str, float]  # the commanded channels plus the pose, as extracted
    channel_error: float  # max |commanded - measured| over commanded blendshape channels (0 if none)
    pose_error_deg: float  # max |commanded - measured| over pitch, yaw, roll
    spurious: dict[str, float] = field(default_factory=dict)  # watched channels not commanded, > 0.1
    fit_residual: float = 0.0
    landmark_gain: float = 0.0  # measured landmark motion / intended, on the points that move most


@dataclass
class ControlReport:
    cases: list[CaseResult]
    psnr_neutral_db: dict[str, float]  # neutral motion vs the portrait, over the face crop
    psnr_identity_warp_db: dict[str, float]  # a motion too small to see, through the full warp path
    analysis_failures: list[str]

    def of(self, tracker: str) -> list[CaseResult]:
        return [c for c in self.cases if c.tracker == tracker]

    def max_channel_error(self, tracker: str = "flow") -> float:
        return max((c.channel_error for c in self.of(tracker)), default=0.0)

    def max_pose_error(self, tracker: str = "flow") -> float:
        return max((c.pose_error_deg for c in self.of(tracker)), default=0.0)

    def per_case_max(self, tracker: str = "flow") -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for c in self.of(tracker):
            d = out.setdefault(c.case, {"channel_error": 0.0, "pose_error_deg": 0.0, "min_landmark_gain": 9.0})
            d["channel_error"] = max(d["channel_error"], c.channel_error)
            d["pose_error_deg"] = max(d["pose_error_deg"], c.pose_error_deg)
            d["min_landmark_gain"] = min(d["min_landmark_gain"], c.landmark_gain)
        return out

    def passed(self, tracker: str = "flow") -> dict[str, bool]:
        return {
            "channels": self.max_channel_error(tracker) <= CHANNEL_TARGET,
            "pose": self.max_pose_error(tracker) <= POSE_TARGET_DEG,
            "psnr": min(self.psnr_neutral_db.values(), default=0.0) >= PSNR_TARGET_DB,
            "analysis": not self.analysis_failures,
        }

    def to_json(self) -> dict:
        per_tracker = {
            t: {
                "passed": self.passed(t),
                "max_channel_error": round(self.max_channel_error(t), 3),
                "max_pose_error_deg": round(self.max_pose_error(t), 2),
                "per_case_max": {k: {kk: round(vv, 3) for kk, vv in v.items()} for k, v in self.per_case_max(t).items()},
            }
            for t in TRACKERS
        }
        return {
            "targets": {"channel_error": CHANNEL_TARGET, "pose_error_deg": POSE_TARGET_DEG, "psnr_db": PSNR_TARGET_DB},
            **per_tracker,
            "psnr_neutral_db": {k: round(v, 2) for k, v in self.psnr_neutral_db.items()},
            "psnr_identity_warp_db": {k: round(v, 2) for k, v in self.psnr_identity_warp_db.items()},
            "analysis_failures": self.analysis_failures,
            "cases": [_rounded(asdict(c)) for c in self.cases],
        }


def _rounded(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, float):
            out[k] = round(v, 3)
        elif isinstance(v, dict):
            out[k] = {kk: round(vv, 3) for kk, vv in v.items()}
        else:
            out[k] = v
    return out


def psnr(a: np.ndarray, b: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    da = a[y0:y1, x0:x1].astype(np.float64) - b[y0:y1, x0:x1].astype(np.float64)
    mse = float((da**2).mean())
    if mse == 0.0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * math.log10(255.0**2 / mse))


class _AnalysisScale:
    """A renderer seen at ANALYSIS_FACE_PX: base, render() and face_box resized by one factor."""

    def __init__(self, renderer: object) -> None:
        self._r = renderer
        self.k = ANALYSIS_FACE_PX / float(renderer.face_width_px)
        self.bases = renderer.bases
        self.authored_bases = getattr(renderer, "authored_bases", renderer.bases)
        self.face_box = tuple(int(round(v * self.k)) for v in renderer.face_box)
        self.base = self._resize(renderer.base)

    def _resize(self, image: np.ndarray) -> np.ndarray:
        import cv2

        size = (max(1, round(image.shape[1] * self.k)), max(1, round(image.shape[0] * self.k)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA if self.k < 1 else cv2.INTER_CUBIC)

    def render(self, motion: MotionFrame) -> np.ndarray:
        return self._resize(self._r.render(motion))


def evaluate_portrait(name: str, renderer: object, analyzer: object, cases=CASES) -> tuple[list[CaseResult], float, float, list[str]]:
    """Every case on one renderer. Returns (results, psnr neutral, psnr identity warp, failures).
    Frames are analysed at ANALYSIS_FACE_PX (renderers without face_width_px as they are)."""
    if hasattr(renderer, "face_width_px") and abs(ANALYSIS_FACE_PX / renderer.face_width_px - 1.0) > 0.05:
        renderer = _AnalysisScale(renderer)
    from marionette.core.render.face_frame import HeadPose
    from marionette.core.face.flow import flow_confidence, refine_with_flow
    from marionette.core.face.landmarks import NoFaceError

    base = renderer.base
    reference_lm = analyzer.analyze(base)
    authored = getattr(renderer, "authored_bases", renderer.bases)
    reference = MotionReference.from_landmarks(reference_lm, renderer.bases)
    extractor = MotionExtractor(reference)
    authored_ref = MotionReference.from_landmarks(reference_lm, authored)
    extractors = {"mesh": extractor, "flow": extractor, "flow_authored": MotionExtractor(authored_ref)}
    box = renderer.face_box
    neutral = renderer.render(MotionFrame())
    # jawOpen 1e-4 moves the jaw by a thousandth of a pixel: any change is the warp's resampling.
    tiny = renderer.render(MotionFrame.from_dict({"jawOpen": 1e-4}))
    rest_px = reference.frame.project(reference.neutral, HeadPose())
    results, failures = [], []
    for case in cases:
        motion = MotionFrame.from_dict(case.channels)
        image = renderer.render(motion)
        try:
            mesh = analyzer.analyze(image)
        except NoFaceError as e:
            failures.append(f"{name}/{case.name}: {e}")
            continue
        flow, tracked = refine_with_flow(base, reference_lm, image, mesh)
        conf = flow_confidence(tracked)
        # Where the renderer meant each landmark to go, in this picture's pixels.
        pose = HeadPose(motion.pitch, motion.yaw, motion.roll, motion.tx, motion.ty, motion.scale)
        weights = authored.weights_from_blendshapes(motion.blendshapes)
        intended = reference.frame.project(authored.apply(reference.neutral, weights), pose) - rest_px
        for tracker, lm, c in (("mesh", mesh, None), ("flow", flow, conf), ("flow_authored", flow, conf)):
            got = extractors[tracker].extract(lm, confidence=c)
            results.append(_score(name, case, tracker, got, lm.points - reference_lm.points, intended))
    return results, psnr(neutral, base, box), psnr(tiny, base, box), failures


def _score(name: str, case: ControlCase, tracker: str, got, moved: np.ndarray, intended: np.ndarray) -> CaseResult:
    m = got.motion
    bs_cmd = {k: v for k, v in case.channels.items() if k not in POSE_AXES}
    measured = {k: m[k] for k in bs_cmd} | {k: m[k] for k in POSE_AXES}
    ch_err = max((abs(m[k] - v) for k, v in bs_cmd.items()), default=0.0)
    pose_err = max(abs(m[k] - case.channels.get(k, 0.0)) for k in POSE_AXES)
    spurious = {k: m[k] for k in WATCHED if k not in case.channels and m[k] > 0.1}
    return CaseResult(name, case.name, tracker, dict(case.channels), measured, ch_err, pose_err, spurious,
                      got.fit_residual, landmark_gain(moved, intended))


def landmark_gain(moved: np.ndarray, intended: np.ndarray) -> float:
    """Least-squares gain of measured over intended x, y motion on the points the motion moves
    most (over 30 % of the largest move): 1 = the landmarks went where the renderer meant."""
    d = np.asarray(intended, np.float64)[:, :2]
    mag = np.linalg.norm(d, axis=1)
    if mag.max() < 1e-6:
        return 1.0
    sel = mag > 0.3 * mag.max()
    return float((np.asarray(moved, np.float64)[sel, :2] * d[sel]).sum() / (d[sel] ** 2).sum())


def evaluate_control(portraits: dict[str, np.ndarray], size: tuple[int, int] = (512, 512),
                     analyzer: object | None = None, cases=CASES) -> ControlReport:
    """Render every case on every portrait (name -> uint8 RGB photo) and measure it."""
    from marionette.core.render.renderer import PortraitRenderer
    from marionette.core.face.analyzer import FaceAnalyzer

    analyzer = analyzer or FaceAnalyzer.load()
    all_results, p_neutral, p_tiny, failures = [], {}, {}, []
    for name, image in portraits.items():
        renderer = PortraitRenderer.load(image, analyzer.analyze(image), size)
        res, pn, pt, fails = evaluate_portrait(name, renderer, analyzer, cases)
        all_results += res
        p_neutral[name], p_tiny[name] = pn, pt
        failures += fails
    return ControlReport(all_results, p_neutral, p_tiny, failures)


# ----------------------------------------------------------------------------- calibration
# What the analyser gain of each channel is measured on: commanded values (gaze in the pairs
# the cases use). Only portraits outside the evaluation set may be used (see calibration_faces).
CALIBRATION_CASES: tuple[ControlCase, ...] = (
    ControlCase("jawOpen 0.3", {"jawOpen": 0.3}),
    ControlCase("jawOpen 0.6", {"jawOpen": 0.6}),
    ControlCase("jawOpen 0.9", {"jawOpen": 0.9}),
    ControlCase("mouthSmileLeft 0.5", {"mouthSmileLeft": 0.5}),
    ControlCase("mouthSmileLeft 0.9", {"mouthSmileLeft": 0.9}),
    ControlCase("mouthSmileRight 0.5", {"mouthSmileRight": 0.5}),
    ControlCase("mouthSmileRight 0.9", {"mouthSmileRight": 0.9}),
    ControlCase("eyeBlinkLeft 0.6", {"eyeBlinkLeft": 0.6}),
    ControlCase("eyeBlinkLeft 0.9", {"eyeBlinkLeft": 0.9}),
    ControlCase("eyeBlinkRight 0.6", {"eyeBlinkRight": 0.6}),
    ControlCase("eyeBlinkRight 0.9", {"eyeBlinkRight": 0.9}),
    ControlCase("browInnerUp 0.5", {"browInnerUp": 0.5}),
    ControlCase("browInnerUp 0.9", {"browInnerUp": 0.9}),
    ControlCase("gaze left 0.6", {"eyeLookOutLeft": 0.6, "eyeLookInRight": 0.6}),
    ControlCase("gaze right 0.6", {"eyeLookInLeft": 0.6, "eyeLookOutRight": 0.6}),
)


def calibration_faces() -> dict[str, np.ndarray]:
    """Portraits disjoint from the evaluation set (core.face.samples.portrait_faces): Biden's
    portrait cropped to head and shoulders, and its mirror image (a second face geometry for
    left/right channels). Calibrating on the evaluated faces would make the figures circular."""
    from marionette.core.face.samples import real_faces

    biden = real_faces()["biden"]
    h = biden.shape[0]
    crop = np.ascontiguousarray(biden[: int(h * 0.45)])  # full-length portrait: keep the upper part
    return {"biden": crop, "biden_mirrored": np.ascontiguousarray(crop[:, ::-1])}


def calibrate_gains(portraits: dict[str, np.ndarray] | None = None, size: tuple[int, int] = (512, 512),
                    analyzer: object | None = None) -> dict[str, float]:
    """Per channel: median over portraits and commanded values of (read back / commanded), the
    flow tracker fitting the authored bases. core.render.bases.ANALYSIS_GAIN holds the result
    (``python -m marionette.core.face.control_eval --calibrate`` prints it)."""
    from marionette.core.render.renderer import PortraitRenderer
    from marionette.core.face.analyzer import FaceAnalyzer
    from marionette.core.face.flow import flow_confidence, refine_with_flow

    analyzer = analyzer or FaceAnalyzer.load()
    ratios: dict[str, list[float]] = {}
    for image in (portraits or calibration_faces()).values():
        renderer = PortraitRenderer.load(image, analyzer.analyze(image), size)
        reference_lm = analyzer.analyze(renderer.base)
        extractor = MotionExtractor(MotionReference.from_landmarks(reference_lm, renderer.authored_bases))
        for case in CALIBRATION_CASES:
            frame = renderer.render(MotionFrame.from_dict(case.channels))
            flow, tracked = refine_with_flow(renderer.base, reference_lm, frame, analyzer.analyze(frame))
            m = extractor.extract(flow, confidence=flow_confidence(tracked)).motion
            for k, v in case.channels.items():
                ratios.setdefault(k, []).append(float(m[k]) / v)
    return {k: round(float(np.median(v)), 2) for k, v in ratios.items()}


if __name__ == "__main__":
    import json
    import sys

    if "--calibrate" not in sys.argv:
        sys.exit("usage: python -m marionette.core.face.control_eval --calibrate")
    print(json.dumps(calibrate_gains(), indent=1))
