"""PortraitRenderer: one photo moved through the named motion space, on one CPU thread.

Everything that depends only on the portrait (framing, canonical frame, bases, the warp operator,
mouth and eye sprites) is computed once in load(); a frame is then a few small matmuls, one remap
of the head region and two or three layers drawn in small regions of interest. The photo as shot is
pose zero; the supported pose range is small (a warp cannot show the far side of a head) and is
clamped and reported, never silently exceeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion_space import ARKIT_BLENDSHAPES
from ..types import Clamp, MotionFrame
from ..mesh_index import (BROWS, EYE_CORNERS, EYE_LOWER, EYE_UPPER, FACE_OVAL, IRIS, LIP_INNER_LOWER, LIP_INNER_UPPER,
                          LIP_OUTER_LOWER, LIP_OUTER_UPPER, RIGID_POINTS)
from .bases import FaceGeometry, build_bases
from .eyes import EyeLayer
from .face_frame import HeadPose, to_canonical
from .background import Background, BackgroundSpec, PersonSegmenter, person_alpha
from .framing import DEFAULT_SHOT, coverage, crop_matrix, parse_shot, resample
from .lip_seal import LipSeal, SealProfile
from .mouth import MouthLayer
from .warp import GridLevel, GridWarp, feather_weights, grid_nodes

# The pose range a single-photo warp shows without tearing (documented in the README and
# reported by the CLI); the motion space itself is wider.
POSE_RANGE: dict[str, tuple[float, float]] = {
    "pitch": (-12.0, 12.0),
    "yaw": (-12.0, 12.0),
    "roll": (-15.0, 15.0),
    "tx": (-0.2, 0.2),
    "ty": (-0.2, 0.2),
    "scale": (0.85, 1.15),
}
POSE_NAMES = ("pitch", "yaw", "roll", "tx", "ty", "scale")

# Channels drawn by layers on the eye-opening points; the warp must not squash the eyeball for them.
EYE_LAYER_CHANNELS = tuple(
    f"{kind}{side}" for side in ("Left", "Right")
    for kind in ("eyeBlink", "eyeSquint", "cheekSquint", "eyeLookIn", "eyeLookOut", "eyeLookUp", "eyeLookDown")
)
EYE_OPENING_POINTS = tuple(sorted(set(EYE_UPPER["Left"] + EYE_UPPER["Right"] + EYE_LOWER["Left"] + EYE_LOWER["Right"] + EYE_CORNERS["Left"] + EYE_CORNERS["Right"])))
N_MESH = 468


def _control_subset(neutral: np.ndarray, spacing: float = 0.06) -> np.ndarray:
    """Mesh points that drive the warp: every lip, eye, brow and face-outline point, then the
    rest thinned to ``spacing`` face widths. Halving K halves the per-frame matmul, which is
    memory bound (the operator is G x K floats), and a denser set adds nothing the grid can show."""
    keep = set(LIP_INNER_UPPER + LIP_INNER_LOWER + LIP_OUTER_UPPER + LIP_OUTER_LOWER + EYE_OPENING_POINTS
               + BROWS["Left"] + BROWS["Right"] + FACE_OVAL + RIGID_POINTS)
    chosen = sorted(keep)
    pts = neutral[:N_MESH, :2]
    for i in range(N_MESH):
        if i in keep:
            continue
        if np.min(np.linalg.norm(pts[chosen] - pts[i], axis=1)) >= spacing:
            chosen.append(i)
    return np.array(sorted(chosen))


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int, keep=lambda x, y: True) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t), np.zeros(n)], 1)
    return pts[[keep(x, y) for x, y, _ in pts]]


@dataclass
class RenderStats:
    """What the last render() did; for the bench and for logs."""

    clamps: list[Clamp]
    mouth_drawn: bool
    eyes_drawn: int


class PortraitRenderer:
    """Implements core.stages.Renderer. Build with ``PortraitRenderer.load(image, landmarks, size)``."""

    pose_range = POSE_RANGE

    def __init__(self) -> None:  # use load(); __init__ does no work (STYLE.md 6)
        self.size: tuple[int, int] = (0, 0)
        self.supported_channels: tuple[str, ...] = ()
        self.unsupported_channels: tuple[str, ...] = ()
        self.last_stats = RenderStats([], False, 0)

    # ------------------------------------------------------------------ per portrait
    @classmethod
    def load(cls, image: np.ndarray, landmarks, size: tuple[int, int] = (512, 512), *, grid: int = 64,
             shot: str = DEFAULT_SHOT, background: "BackgroundSpec | str | None" = None,
             segmenter: PersonSegmenter | None = None) -> "PortraitRenderer":
        """image: uint8 (H, W, 3) RGB. landmarks: a core.face.FaceLandmarks or float (478, 3) image pixels.
        shot: a core.render.framing.SHOTS name. background: a BackgroundSpec (or its text, see
        core/render/background.py); None draws the framed photo as it is, warping what lies
        behind the head with it (the bench's and tests' baseline), except where the frame
        reaches beyond the photo: that is filled by the ``keep`` plate."""
        points = np.asarray(getattr(landmarks, "points", landmarks), np.float64)
        img = np.asarray(image)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise TypeError(f"portrait image {img.dtype} {img.shape}, expected uint8 (H, W, 3) RGB")
        if points.shape != (478, 3):
            raise ValueError(f"landmarks shape {points.shape}, expected (478, 3) (468 mesh + 10 iris points)")
        self = cls()
        w, h = int(size[0]), int(size[1])
        self.size = (w, h)
        _, frame_src = to_canonical(points)
        self.shot = parse_shot(shot)
        crop = crop_matrix(frame_src.origin[:2], frame_src.scale, (img.shape[1], img.shape[0]), self.size, self.shot)
        s = crop[0, 0]
        pts = points.copy()
        pts[:, :2] = points[:, :2] * s + crop[:, 2]
        pts[:, 2] *= s
        self.base = resample(img, crop, self.size)
        self.landmarks = pts.astype(np.float32)  # output pixels
        self.coverage = coverage(img.shape, crop, self.size)
        self._segmenter = segmenter
        self.background: Background | None = None
        self.last_alpha: np.ndarray | None = None
        neutral, frame = to_canonical(pts)
        self.frame = frame
        self.neutral = neutral
        # Public bases are calibrated to what the analyser reads back (motion extraction fits
        # them); the pixels move by the authored, uncalibrated motion.
        self.bases = build_bases(neutral)
        authored = build_bases(neutral, calibrated=False)
        self.authored_bases = authored
        self.supported_channels = self.bases.channels
        self.unsupported_channels = self.bases.unsupported
        self._arkit_idx = np.array([ARKIT_BLENDSHAPES.index(c) for c in self.bases.channels])
        geo = FaceGeometry(neutral)
        unit = frame.scale
        self.face_width_px = float(unit)

        # --- control points: mesh (no irises: the eye layer draws them), a head ring that moves
        # rigidly with the pose (hair goes with the head), fixed anchors around it (neck, collar,
        # background stay), and the roi border.
        deltas = authored.deltas.copy()
        for ch in EYE_LAYER_CHANNELS:
            if ch in self.bases.channels:
                deltas[self.bases.index(ch)][list(EYE_OPENING_POINTS)] = 0.0
        mesh = _control_subset(neutral)
        self._mesh_neutral = neutral[mesh].astype(np.float32)
        self._mesh_deltas = deltas[:, mesh].reshape(len(self.bases.channels), -1).astype(np.float32)
        jaw_line = 0.35
        head_ring = _ellipse(0.0, -0.1, 0.74, 0.98, 28, keep=lambda x, y: y < jaw_line)
        fixed = np.vstack([
            _ellipse(0.0, 0.12, 1.22, 1.4, 36),
            np.array([[0.62, 1.05, 0], [-0.62, 1.05, 0], [0.33, 1.25, 0], [-0.33, 1.25, 0], [0.0, 1.32, 0]]),
        ])
        self._ring = head_ring.astype(np.float32)
        ring_px = frame.to_image(head_ring)[:, :2]
        fixed_px = frame.to_image(fixed)[:, :2]
        mesh_px = pts[mesh, :2]
        # roi: the fixed ellipse's bounding box plus a margin, inside the picture
        ext = frame.to_image(_ellipse(0.0, 0.12, 1.22 * 1.18, 1.4 * 1.15, 64))[:, :2]
        x0, y0 = np.floor(ext.min(0)).astype(int)
        x1, y1 = np.ceil(ext.max(0)).astype(int)
        roi = (max(x0, 0), max(y0, 0), min(x1, w), min(y1, h))
        rx0, ry0, rx1, ry1 = roi
        bx = np.linspace(rx0, rx1 - 1, 9)
        by = np.linspace(ry0, ry1 - 1, 9)
        border = np.array([(x, y) for x in bx for y in (ry0, ry1 - 1)] + [(x, y) for y in by[1:-1] for x in (rx0, rx1 - 1)])
        ctrl = np.vstack([mesh_px, ring_px, fixed_px, border])
        self._ctrl_src = ctrl.astype(np.float32)
        self._n_mesh, self._n_ring = len(mesh_px), len(ring_px)
        # Only mesh and head-ring controls ever move; the fixed anchors' columns of the
        # operators are dropped below (their displacement is always zero): a smaller matmul.
        self._disp = np.zeros((self._n_mesh + self._n_ring, 2), np.float32)

        # --- the lip seam: nodes below it follow a spline fitted without the upper lip, nodes
        # above it one fitted without the lower lip (a single spline cannot split a closed mouth).
        jw = geo.jaw()
        near_mouth = np.zeros(len(ctrl), bool)
        lat = geo.lateral(0.12)
        seam_y = geo.seam(neutral[:, 0])
        nm = len(mesh)
        near_mouth[:nm] = (lat[mesh] > 0.3) & (np.abs(neutral[mesh, 1] - seam_y[mesh]) < 0.2)
        is_low = np.zeros(len(ctrl), bool)
        is_low[:nm] = jw[mesh] > 0.5
        use_upper = ~(near_mouth & is_low)
        use_lower = ~(near_mouth & ~is_low)

        def level(level_roi, grid, feather=None, taper=True) -> GridLevel:
            nodes_px = grid_nodes(level_roi, grid).reshape(-1, 2) + level_roi[:2]
            nodes_c = frame.to_canonical(np.hstack([nodes_px, np.full((len(nodes_px), 1), frame.origin[2])]))
            m_low = geo.jaw_at(nodes_c.astype(np.float64))
            tp = None
            if taper:  # 1 inside the fixed ellipse, 0 at the roi border
                ell = np.sqrt((nodes_c[:, 0] / 1.22) ** 2 + ((nodes_c[:, 1] - 0.12) / 1.4) ** 2)
                tp = 1.0 - np.clip((ell - 1.0) / 0.12, 0.0, 1.0)
                tp = tp * tp * (3 - 2 * tp)
            return GridLevel.build(level_roi, grid, ctrl, unit,
                                   [(1.0 - m_low, use_upper), (m_low, use_lower)], tp, feather)

        # The fine level covers the face from brows to chin, where features move a few pixels.
        core = frame.to_image(np.array([[-0.55, -0.45, 0], [0.55, -0.45, 0], [-0.55, 0.95, 0], [0.55, 0.95, 0]]))[:, :2]
        fx0, fy0 = np.maximum(np.floor(core.min(0)).astype(int), (rx0, ry0))
        fx1, fy1 = np.minimum(np.ceil(core.max(0)).astype(int), (rx1, ry1))
        levels = [level(roi, max(16, (grid * 3) // 4))]
        if fx1 - fx0 > 16 and fy1 - fy0 > 16:
            levels.append(level((int(fx0), int(fy0), int(fx1), int(fy1)), grid,
                                feather_weights(int(fx1 - fx0), int(fy1 - fy0), 0.12), taper=False))
        moving = self._n_mesh + self._n_ring
        for lvl in levels:
            lvl.operator = np.ascontiguousarray(lvl.operator[:, :moving])
        self.warp = GridWarp(levels)

        # --- layers
        self.mouth = MouthLayer.build(self.base, pts, neutral, frame, authored, geo)
        self.eyes = EyeLayer.build(self.base, pts, neutral, frame, authored)
        self._layer_idx = np.array(sorted(set(LIP_INNER_UPPER + LIP_INNER_LOWER + EYE_OPENING_POINTS
                                               + IRIS["Left"] + IRIS["Right"] + (1, 14, 13, 33, 133, 263, 362))))
        self._layer_neutral = neutral[self._layer_idx].astype(np.float32)
        self._layer_deltas = authored.deltas[:, self._layer_idx].reshape(len(self.bases.channels), -1)
        # A portrait photographed with parted lips seals them by a remap of the mouth's box
        # (lip_seal.py); the layers see the sealed landmarks, the warp's controls do not (the
        # remap is composed with the warp's map instead).
        profile = SealProfile.build(neutral)
        self.seal = None if profile is None else LipSeal(profile, self.mouth.to_canon, unit)
        self._layer_seal = None if authored.seal is None else authored.seal[self._layer_idx].reshape(-1)
        # the chin's part of the seal is drawn by the warp
        self._mesh_seal = None if authored.seal_jaw is None else authored.seal_jaw[mesh].reshape(-1).astype(np.float32)
        self._inner_idx = [i for i, k in enumerate(self._layer_idx.tolist()) if k in LIP_INNER_UPPER + LIP_INNER_LOWER]
        self._lid_idx = np.array(EYE_OPENING_POINTS)
        self._lid_neutral = neutral[self._lid_idx].astype(np.float32)
        self._lid_deltas = deltas[:, self._lid_idx].reshape(len(self.bases.channels), -1)
        # the face crop (for PSNR and contact sheets): eyebrows to chin, cheek to cheek
        fb = pts[:N_MESH, :2]
        self.face_box = tuple(int(v) for v in (*np.floor(fb.min(0)), *np.ceil(fb.max(0))))
        self._person = self.base.copy()  # the warped person layer (background modes only)
        self._alpha: np.ndarray | None = None
        if background is None and self.coverage is not None:
            background = "keep"
        if background is not None:
            self.set_background(background)
        return self

    def set_background(self, background: "BackgroundSpec | str") -> None:
        """Switch the background mode (segmentation runs once per portrait, the plate per mode).
        Raises InputError for a bad spec; the renderer is unchanged then."""
        spec = background if isinstance(background, BackgroundSpec) else BackgroundSpec.parse(background)
        if self._alpha is None:
            if self._segmenter is None:
                self._segmenter = PersonSegmenter.load()
            seg = self._segmenter.mask(self.base)
            self._alpha = person_alpha(seg, self.landmarks[:N_MESH, :2], self.coverage)
        self.background = Background.build(spec, self.base, self._alpha, self.coverage)

    # ------------------------------------------------------------------ per frame
    def view(self) -> "PortraitRenderer":
        """A renderer sharing this one's precomputation (read-only: bases, warp operators, layers)
        with its own scratch buffer, so several avatars of one analysed portrait render on
        separate threads (plugin/serve); the precomputation costs seconds and megabytes, a view
        neither. render() writes only ``_disp`` and ``last_stats`` on the renderer itself."""
        import copy

        out = copy.copy(self)
        out._disp = np.zeros_like(self._disp)
        out.last_stats = RenderStats([], False, 0)
        return out

    def clamp(self, motion: MotionFrame) -> tuple[MotionFrame, list[Clamp]]:
        """The motion clamped to the motion space and to this renderer's pose range, with a report."""
        m, clamps = motion.clamped()
        vals = {}
        for name in POSE_NAMES:
            lo, hi = POSE_RANGE[name]
            v = getattr(m, name)
            if not lo <= v <= hi:
                vals[name] = min(max(v, lo), hi)
                clamps.append(Clamp(name, float(getattr(motion, name)), vals[name]))
        if vals:
            m = m.replace(**vals)
        return m, clamps

    def _redraw_seal(self, out: np.ndarray, source_map: np.ndarray, inner_px: np.ndarray, seal: float) -> None:
        """Re-sample the mouth's box through the lip seal: the inner lips' box, padded by the
        band the seal moves above and below them (at the largest pose scale), inside the warp's roi."""
        f = self.face_width_px * POSE_RANGE["scale"][1]
        lo, hi = inner_px.min(0), inner_px.max(0)
        rx0, ry0, rx1, ry1 = self.warp.roi
        x0, y0 = int(max(lo[0] - 0.03 * f, rx0)), int(max(lo[1] - self.seal.reach_up * f, ry0))
        x1, y1 = int(min(hi[0] + 0.03 * f + 1, rx1)), int(min(hi[1] + self.seal.reach_down * f + 1, ry1))
        if x1 - x0 > 1 and y1 - y0 > 1:
            self.seal.redraw(out, self.base, source_map, self.warp.roi, (x0, y0, x1, y1), seal)

    def render(self, motion: MotionFrame) -> np.ndarray:
        """uint8 (H, W, 3) RGB. Out-of-range values are clamped; see ``last_stats.clamps``."""
        m, clamps = self.clamp(motion)
        # mouthClose is relative to jawOpen and seals the lips (bases.lip_closure): the one
        # non-linear step; ``seal`` is the closure of the portrait's own rest gap.
        weights, seal = self.authored_bases.lip_closure(m.blendshapes[self._arkit_idx])
        pose = HeadPose(m.pitch, m.yaw, m.roll, m.tx, m.ty, m.scale)
        a, b = self.frame.image_matrix(pose)
        a2, b2 = a[:2].astype(np.float32), b[:2].astype(np.float32)
        bg = self.background
        out = self.base.copy() if bg is None else bg.still.copy()
        active = bool(weights.any()) or seal > 0.0
        if pose.is_neutral and not active:
            self.last_stats = RenderStats(clamps, False, 0)
            if bg is not None and bg.spec.mode == "transparent":
                self.last_alpha = bg.alpha
            return out
        disp = self._disp
        n, r = self._n_mesh, self._n_ring
        mesh = self._mesh_neutral
        if active:
            dm = weights @ self._mesh_deltas
            if seal > 0.0 and self._mesh_seal is not None:
                dm = dm + seal * self._mesh_seal
            mesh = mesh + dm.reshape(-1, 3)
        disp[:n] = mesh @ a2.T + b2 - self._ctrl_src[:n]
        disp[n:n + r] = self._ring @ a2.T + b2 - self._ctrl_src[n:n + r]
        if bg is None:
            source_map = self.warp.apply(self.base, out, disp)
        else:
            # The person is warped on its own layer and laid over the still plate by its mask,
            # carried by the same map: the background never bends.
            layer = bg.layer
            if self._person.shape != layer.shape:
                self._person = layer.copy()
            source_map = self.warp.apply(layer, self._person, disp)
            bg.composite(out, self._person, self.warp.roi, self.warp.bands)
            if bg.spec.mode == "transparent":
                alpha = bg.alpha.copy()
                x0, y0, x1, y1 = self.warp.roi
                alpha[y0:y1, x0:x1] = bg.last_alpha_roi
                self.last_alpha = alpha
        mouth_drawn, eyes_drawn = False, 0
        if active:
            lay = weights @ self._layer_deltas
            if seal > 0.0 and self._layer_seal is not None:
                lay = lay + seal * self._layer_seal
            lay_px = (self._layer_neutral + lay.reshape(-1, 3)) @ a2.T + b2
            if seal > 0.0 and self.seal is not None:
                self._redraw_seal(out, source_map, lay_px[self._inner_idx], seal)
            pts = dict(zip(self._layer_idx.tolist(), lay_px))
            mouth_drawn = self.mouth.draw(out, pts, weights, a2, b2)
            lid = self._lid_neutral + (weights @ self._lid_deltas).reshape(-1, 3)
            warp_pts = dict(zip(self._lid_idx.tolist(), lid @ a2.T + b2))
            eyes_drawn = self.eyes.draw(out, pts, warp_pts, weights, source_map, self.warp.roi)
        self.last_stats = RenderStats(clamps, mouth_drawn, eyes_drawn)
        return out
