"""Camera-path accuracy without a human actor: a known motion track rendered on face A with our
renderer (`marionette render`) stands in for a person in front of a camera; that video goes
through the camera path (capture from file, calibration, tracking, solving, filtering), the motion
tracked drives face B, and face B's rendered frames go through the camera path again. The motion
recovered from B is compared with the command, channel by channel.

Two trackers in a row (A's frames, then B's) and two identities: a channel that survives this
chain means the same to both faces. Targets (issue 14): every commanded channel within 0.15,
pose within 2 degrees, read where the command holds still (the One-Euro filter's lag on a
ramp is reported separately, as the all-frames error).
`python -m marionette.tools.camera_eval --out camera_eval.json --frames-dir out/camera_eval`
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from marionette.core.clock import FakeClock
from marionette.core.motion_space import ALL_CHANNELS, CHANNEL_INDEX
from marionette.core.track import MotionTrack
from marionette.core.types import NEUTRAL_VECTOR

CHANNEL_TARGET = 0.15
POSE_TARGET_DEG = 2.0
POSE = ("pitch", "yaw", "roll")
FPS = 30.0
CALIBRATION_S = 2.5  # neutral at the start: the camera path calibrates on its first 2 s


@dataclass(frozen=True)
class Segment:
    """One commanded move: channels ramp in over RAMP s, hold HOLD s, ramp out over RAMP s."""

    name: str
    channels: dict[str, float]


RAMP, HOLD, GAP = 0.35, 0.6, 0.25
SEGMENTS: tuple[Segment, ...] = (
    Segment("jawOpen 0.5", {"jawOpen": 0.5}),
    Segment("jawOpen 0.8", {"jawOpen": 0.8}),
    Segment("mouthSmileLeft 0.7", {"mouthSmileLeft": 0.7}),
    Segment("mouthSmileRight 0.7", {"mouthSmileRight": 0.7}),
    Segment("smile 0.6", {"mouthSmileLeft": 0.6, "mouthSmileRight": 0.6}),
    Segment("eyeBlinkLeft 1", {"eyeBlinkLeft": 1.0}),
    Segment("eyeBlinkRight 1", {"eyeBlinkRight": 1.0}),
    Segment("browInnerUp 0.8", {"browInnerUp": 0.8}),
    Segment("gaze left 0.7", {"eyeLookOutLeft": 0.7, "eyeLookInRight": 0.7}),
    Segment("gaze right 0.7", {"eyeLookInLeft": 0.7, "eyeLookOutRight": 0.7}),
    Segment("yaw +8", {"yaw": 8.0}),
    Segment("yaw -8", {"yaw": -8.0}),
    Segment("pitch +6", {"pitch": 6.0}),
    Segment("pitch -6", {"pitch": -6.0}),
    Segment("roll +8", {"roll": 8.0}),
    Segment("roll -8", {"roll": -8.0}),
    Segment("yaw 6 + jawOpen 0.5", {"yaw": 6.0, "jawOpen": 0.5}),
)


def command_track(segments=SEGMENTS, fps: float = FPS) -> tuple[MotionTrack, list[tuple[str, int, int]]]:
    """The commanded track and, per segment, (name, first, last) frame of its hold."""
    n_seg = int(round((2 * RAMP + HOLD + GAP) * fps))
    start = int(round(CALIBRATION_S * fps))
    values = np.tile(NEUTRAL_VECTOR, (start + n_seg * len(segments) + int(fps), 1))
    holds = []
    ramp, hold = int(round(RAMP * fps)), int(round(HOLD * fps))
    for k, seg in enumerate(segments):
        s0 = start + k * n_seg
        env = np.zeros(n_seg)
        x = np.arange(ramp) / ramp
        env[:ramp] = x * x * (3 - 2 * x)
        env[ramp:ramp + hold] = 1.0
        env[ramp + hold:2 * ramp + hold] = env[:ramp][::-1]
        for name, v in seg.channels.items():
            i = CHANNEL_INDEX[name]
            values[s0:s0 + n_seg, i] = NEUTRAL_VECTOR[i] + env * (v - NEUTRAL_VECTOR[i])
        # The hold, less its first 6 frames: the filter settles (One-Euro, 1-2 Hz at rest).
        holds.append((seg.name, s0 + ramp + 6, s0 + ramp + hold - 1))
    return MotionTrack(fps, values), holds


def track_video(path: Path, pose_range=None, analyzer=None):
    """The camera path on a video file, frame by frame on a fake clock: returns (motions (T, 58),
    tracked frames, the CameraSource). Frames before calibration completes (and frames without
    a face) read as neutral."""
    from marionette.plugin.sources.camera import CameraSource, VideoFileCamera

    clock = FakeClock()
    grabber = VideoFileCamera(path, paced=False)
    source = CameraSource(grabber, clock, analyzer=analyzer, pose_range=pose_range)
    out, tracked = [], []
    while True:
        clock.advance(1.0 / grabber.fps)
        if not source.step():
            break
        t = source.latest()
        fresh = t is not None and t.t == clock.now() and t.motion is not None
        out.append(t.motion.to_vector() if fresh else NEUTRAL_VECTOR.copy())
        tracked.append(t if fresh else None)
    source.close()
    return np.stack(out), tracked, source


def render_video(portrait: str, track_path: Path, out: Path) -> None:
    """`marionette render --portrait P --motion TRACK -o OUT` (our renderer, in this process)."""
    from marionette.plugin.cli import main

    rc = main(["render", "--portrait", portrait, "--motion", str(track_path), "-o", str(out), "--no-progress"])
    if rc != 0:
        raise RuntimeError(f"marionette render failed on {portrait} ({rc})")


def compare(recovered: np.ndarray, command: np.ndarray, holds) -> dict:
    """Per channel commanded anywhere: max |error| over its segments' holds and over all frames
    after calibration; pose in degrees. Plus the largest reading of channels never commanded."""
    n = min(len(recovered), len(command))
    rec, cmd = recovered[:n], command[:n]
    start = int(round(CALIBRATION_S * FPS))
    rows = {}
    commanded = sorted({c for _, a, b in holds for c in ALL_CHANNELS
                        if np.any(np.abs(cmd[a:b + 1, CHANNEL_INDEX[c]] - NEUTRAL_VECTOR[CHANNEL_INDEX[c]]) > 1e-6)},
                       key=ALL_CHANNELS.index)
    for c in commanded:
        i = CHANNEL_INDEX[c]
        hold_err = max(float(np.abs(rec[a:b + 1, i] - cmd[a:b + 1, i]).max()) for _, a, b in holds if b < n)
        all_err = float(np.abs(rec[start:, i] - cmd[start:, i]).max())
        target = POSE_TARGET_DEG if c in POSE else CHANNEL_TARGET
        rows[c] = {"hold_error": round(hold_err, 3), "all_frames_error": round(all_err, 3), "target": target,
                   "passed": hold_err <= target}
    # Pose channels never commanded still count: a smile must not turn the head.
    for c in POSE:
        if c not in rows:
            i = CHANNEL_INDEX[c]
            err = float(np.abs(rec[start:, i] - cmd[start:, i]).max())
            rows[c] = {"hold_error": round(err, 3), "all_frames_error": round(err, 3), "target": POSE_TARGET_DEG,
                       "passed": err <= POSE_TARGET_DEG}
    spurious = {}
    for c in ALL_CHANNELS[6:]:
        if c in rows:
            continue
        v = float(np.abs(rec[start:, CHANNEL_INDEX[c]]).max())
        if v > 0.1:
            spurious[c] = round(v, 3)
    per_segment = {}
    for name, a, b in holds:
        if b >= n:
            continue
        err = np.abs(rec[a:b + 1] - cmd[a:b + 1])
        per_segment[name] = {c: round(float(err[:, CHANNEL_INDEX[c]].max()), 3) for c in rows
                             if np.any(np.abs(cmd[a:b + 1, CHANNEL_INDEX[c]] - NEUTRAL_VECTOR[CHANNEL_INDEX[c]]) > 1e-6)}
    return {"channels": rows, "passed": all(r["passed"] for r in rows.values()),
            "uncommanded_over_0.1": spurious, "per_segment": per_segment}


def save_frames(a_video: Path, b_video: Path, holds, out_dir: Path, names=None) -> list[Path]:
    """PNG pairs (face A | face B driven by A) at the middle of chosen holds."""
    import av
    import cv2

    def frames(path: Path) -> list[np.ndarray]:
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]

    fa, fb = frames(a_video), frames(b_video)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, a, b in holds:
        if names is not None and name not in names:
            continue
        i = (a + b) // 2
        if i >= min(len(fa), len(fb)):
            continue
        pair = np.concatenate([fa[i], fb[i]], axis=1)
        p = out_dir / f"{name.replace(' ', '_').replace('+', 'p')}.png"
        cv2.imwrite(str(p), cv2.cvtColor(pair, cv2.COLOR_RGB2BGR))
        paths.append(p)
    return paths


def evaluate(face_a: str, face_b: str, workdir: Path, frames_dir: Path | None = None,
             segments: tuple[Segment, ...] = SEGMENTS) -> dict:
    """Faces are image paths. Writes the command, both videos and (optionally) PNG pairs."""
    from marionette.core.face import FaceAnalyzer
    from marionette.core.render.portrait import load_renderer
    from marionette.core.render.threads import single_thread
    from marionette.core.render.video import write_video

    workdir.mkdir(parents=True, exist_ok=True)
    command, holds = command_track(segments)
    cmd_path = workdir / "command.json"
    command.save(cmd_path)
    a_video = workdir / "face_a.mp4"
    with single_thread():
        render_video(face_a, cmd_path, a_video)
        analyzer = FaceAnalyzer.load()
        renderer_b, _ = load_renderer(face_b, (512, 512))
        from_a, tracked_a, src_a = track_video(a_video, renderer_b.pose_range, analyzer)
        # Face B driven by A's tracked motion, rendered as the live engine would (camera mode).
        b_video = workdir / "face_b.mp4"
        from marionette.core.types import MotionFrame

        write_video((renderer_b.render(MotionFrame.from_vector(v)) for v in from_a), b_video, FPS)
        from_b, tracked_b, src_b = track_video(b_video, None, analyzer)
    cpu = [t.cpu_ms for t in tracked_a + tracked_b if t is not None]
    report = {
        "face_a": face_a, "face_b": face_b, "frames": len(command),
        "a_tracked_vs_command": compare(from_a, command.values, holds),
        "b_recovered_vs_command": compare(from_b, command.values, holds),
        "tracking_cpu_ms_p50": round(float(np.percentile(cpu, 50)), 2),
        "tracking_cpu_ms_p95": round(float(np.percentile(cpu, 95)), 2),
        "calibration_spread": {"a": round(src_a.calibration.spread, 4), "b": round(src_b.calibration.spread, 4)},
        "detections": {"a": src_a._tracker.detections, "b": src_b._tracker.detections},
    }
    MotionTrack(FPS, from_b).save(workdir / "recovered_b.json")
    if frames_dir is not None:
        report["frames_saved"] = [str(p) for p in save_frames(a_video, b_video, holds, frames_dir)]
    return report


def table(report: dict, key: str = "b_recovered_vs_command") -> str:
    lines = [f"{'channel':<18} {'hold err':>9} {'all frames':>11} {'target':>7}  ok"]
    for c, r in report[key]["channels"].items():
        lines.append(f"{c:<18} {r['hold_error']:>9.3f} {r['all_frames_error']:>11.3f} {r['target']:>7g}  "
                     f"{'yes' if r['passed'] else 'NO'}")
    return "\n".join(lines)


def _face_path(name: str, tmp: Path) -> str:
    """A sample face by name (astronaut, hopper, obama, biden) written to a PNG, or a path as is."""
    if Path(name).is_file():
        return name
    import cv2

    from marionette.core.face.samples import real_faces

    img = real_faces()[name]
    p = tmp / f"{name}.png"
    cv2.imwrite(str(p), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return str(p)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m marionette.tools.camera_eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--face-a", default="obama", help="face that performs (sample name or image path)")
    ap.add_argument("--face-b", default="astronaut", help="face driven by it (sample name or image path)")
    ap.add_argument("--workdir", help="where videos and tracks go (default: a temporary directory)")
    ap.add_argument("--frames-dir", help="write PNG pairs (A | B) at each segment's hold here")
    ap.add_argument("--out", help="write the JSON report here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rep = evaluate(_face_path(args.face_a, work), _face_path(args.face_b, work), work,
                       Path(args.frames_dir) if args.frames_dir else None)
    print(table(rep, "a_tracked_vs_command"))
    print()
    print(table(rep))
    print(json.dumps({k: v for k, v in rep.items() if not k.endswith("command")}, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(rep, indent=1))
    return 0 if rep["b_recovered_vs_command"]["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
