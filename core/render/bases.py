"""Expression bases: per-ARKit-channel landmark displacements, authored on the portrait's own face.

landmarks = neutral + sum_c w_c * deltas[c], in canonical face-normalised units (core.render.face_frame).
The bases are linear by construction so that motion extraction can invert them with bounded least
squares. They are built from the portrait's neutral geometry (lid onto lid for a blink, lip onto lip
for mouthClose) rather than from a generic mesh: no canonical mesh ships in any registry package, and
portrait-relative bases fit a given face better. Magnitudes follow ARKit's 1.0 = the full expression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mesh_index import (  # noqa: F401
    BROWS,
    EYE_CORNERS,
    EYE_LOWER,
    EYE_UPPER,
    IRIS,
    LIP_INNER_LOWER,
    LIP_INNER_UPPER,
    LIP_OUTER_LOWER,
    LIP_OUTER_UPPER,
    MOUTH_CORNERS,
    NOSE_ALA,
    SIDES,
)
from ..motion_space import ARKIT_BLENDSHAPES
from .lip_seal import SealProfile

# Landmark indices live in one table, core/mesh_index.py (re-exported here for the layers and tests).

SIGN = {"Left": 1.0, "Right": -1.0}  # subject's left is image right (+x)

# How much of each authored motion the landmark analyser reads back from a rendered frame: the
# median of (read back / commanded) with the flow tracker of tools.control_eval fitting the
# authored bases (points flow lost weighted by core.face.flow.LOST_CONFIDENCE). Measured on portraits DISJOINT from the control-accuracy set (astronaut, hopper,
# obama): Biden's portrait and its mirror image, commanded 0.3-0.9
# (`python -m marionette.tools.control_eval --calibrate`, control_eval.calibrate_gains).
# The analyser under-reads warped expressions: a closed rendered lid keeps about half its
# aperture to the mesh and iris models (a shut real eye too), and the flow reading, which
# follows the lid margin by its texture where it can (core.face.lid_track), 0.6-0.75 of the
# blink; a gaze shift, which the iris model reads as 0.5-0.8 of itself, the flow reading
# follows by the iris's texture (core.face.iris_track) and reads whole. build_bases()
# returns bases scaled by these gains (landmark motion as it will be measured) for motion
# extraction to fit; the renderer draws the authored motion (build_bases(calibrated=False)).
# Channels not listed were not measured and keep gain 1. `marionette eval control` reports the
# calibrated ("flow") and the authored ("flow_authored") figures.
ANALYSIS_GAIN: dict[str, float] = {
    "jawOpen": 0.97,
    "mouthSmileLeft": 0.96, "mouthSmileRight": 0.96,
    "eyeBlinkLeft": 0.61, "eyeBlinkRight": 0.73,
    "browInnerUp": 0.83,
    "eyeLookOutLeft": 1.03, "eyeLookInRight": 0.95,  # gaze towards the subject's left
    "eyeLookInLeft": 0.94, "eyeLookOutRight": 0.97,  # gaze towards the subject's right
}

# Where a closed upper lid meets the lower one, as a fraction of the opening above the lower lid:
# (0.08 was tried: no clearer reading, and the lids no longer met exactly at every point).
CLOSED_LID = 0.2

# Channels a 2D warp of one photo cannot show: the tongue has no texture in a closed-mouth
# portrait and no landmark to move.
UNSUPPORTED: tuple[str, ...] = ("tongueOut",)


# Lip closure is relative, not additive (ARKit: mouthClose equal to jawOpen = lips sealed against
# the open jaw). The one non-linear step between channel values and landmarks, for drawing
# (ExpressionBases.lip_closure; motion extraction fits the linear bases alone):
# closure s = mouthClose / max(jawOpen, SEAL_JAW_FLOOR), raised by pressed lips (SEAL_PRESS per
# unit of the stronger side) and by both lips rolled in (SEAL_ROLL per unit of the lesser roll:
# a lower lip rolled alone under the upper teeth is an F or V, lips apart), clipped to 1.
# mouthClose is then drawn as s * jawOpen (never beyond the jaw: the lips would push through each
# other), and s of ``seal``, the motion that closes the portrait's own rest gap (a smile showing
# its teeth; None for a closed-mouth portrait), is added. The floor keeps a lone mouthClose on a
# still jaw from switching the seal on at 0.001; from 0.02 it seals.
SEAL_JAW_FLOOR = 0.02
SEAL_PRESS = 2.0  # pressed lips touch: sealed from mouthPress 0.5
SEAL_ROLL = 2.0
# Of the rest gap, the share the jaw closes (the chin rises) when the lips seal; lip_seal
# stretches the lips across the rest.
SEAL_JAW_SHARE = 0.5


@dataclass(frozen=True)
class ExpressionBases:
    """channels: ARKit names. deltas: float32 (C, 478, 3), canonical face widths per unit weight.
    seal: float32 (478, 3) or None, the portrait's rest gap closed (see lip_closure);
    seal_jaw: the part of it the mandible does (the chin rising); None with seal, and for a
    portrait whose lips already meet (its seal only brings the inner-lip landmarks together)."""

    channels: tuple[str, ...]
    deltas: np.ndarray
    seal: np.ndarray | None = None
    seal_jaw: np.ndarray | None = None

    def __post_init__(self) -> None:
        d = np.asarray(self.deltas, np.float32)
        if d.ndim != 3 or d.shape[0] != len(self.channels) or d.shape[2] != 3:
            raise ValueError(f"deltas shape {d.shape}, expected ({len(self.channels)}, N, 3)")
        object.__setattr__(self, "deltas", d)
        for name in ("seal", "seal_jaw"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, np.asarray(getattr(self, name), np.float32))
        ch = self.channels
        jc = (ch.index("jawOpen"), ch.index("mouthClose")) if {"jawOpen", "mouthClose"} <= set(ch) else None
        object.__setattr__(self, "_jaw_close", jc)
        pick = (lambda names: [ch.index(n) for n in names if n in ch])
        object.__setattr__(self, "_press", pick(("mouthPressLeft", "mouthPressRight")))
        object.__setattr__(self, "_roll", pick(("mouthRollLower", "mouthRollUpper")))

    def lip_closure(self, weights: np.ndarray) -> tuple[np.ndarray, float]:
        """The weights as drawn (mouthClose relative to jawOpen, see SEAL_JAW_FLOOR) and the
        closure s in 0..1 that scales ``seal``. Returns ``weights`` itself when nothing changes."""
        if self._jaw_close is None:
            return weights, 0.0
        j_i, c_i = self._jaw_close
        j, c = float(weights[j_i]), float(weights[c_i])
        s = c / max(j, SEAL_JAW_FLOOR)
        if self._press:
            s = max(s, SEAL_PRESS * float(max(weights[i] for i in self._press)))
        if len(self._roll) == 2:
            s = max(s, SEAL_ROLL * float(min(weights[i] for i in self._roll)))
        s = min(max(s, 0.0), 1.0)
        close = min(max(c, s * j), j)
        if close != c:
            weights = np.array(weights, np.float32)
            weights[c_i] = close
        return weights, s

    def apply_drawn(self, neutral: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Landmarks as the renderer draws them: apply() after lip_closure(), plus the seal."""
        w, s = self.lip_closure(weights)
        out = self.apply(neutral, w)
        if self.seal is not None and s > 0.0:
            out = out + s * self.seal
        return out

    @property
    def unsupported(self) -> tuple[str, ...]:
        return tuple(c for c in ARKIT_BLENDSHAPES if c not in self.channels)

    def index(self, name: str) -> int:
        return self.channels.index(name)

    def apply(self, neutral: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """neutral (N, 3) + sum_c weights[c] * deltas[c]; weights float (C,) in self.channels order."""
        w = np.asarray(weights, np.float32)
        return neutral + np.tensordot(w, self.deltas, axes=1)

    def weights_from_blendshapes(self, blendshapes: np.ndarray) -> np.ndarray:
        """float32 (C,) picked out of a (52,) ARKit-ordered vector."""
        return np.asarray(blendshapes, np.float32)[_arkit_index(self.channels)]


def _arkit_index(channels: tuple[str, ...]) -> np.ndarray:
    order = {n: i for i, n in enumerate(ARKIT_BLENDSHAPES)}
    return np.array([order[c] for c in channels], np.int64)


# ------------------------------------------------------------------------- helpers
def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _gauss(p: np.ndarray, centre: np.ndarray, sigma: float) -> np.ndarray:
    d2 = ((p[:, :2] - centre[:2]) ** 2).sum(1)
    return np.exp(-d2 / (2 * sigma * sigma))


class FaceGeometry:
    """Measurements of one neutral face that the bases are authored from."""

    def __init__(self, c: np.ndarray) -> None:
        self.c = c.astype(np.float64)
        n = len(c)
        self.n = n
        c = self.c
        iu = np.array(LIP_INNER_UPPER)
        # The seam: midway between inner upper and inner lower lip, as a function of x.
        xs_u, ys_u = c[iu, 0], c[iu, 1]
        lower = np.concatenate([[78], LIP_INNER_LOWER, [308]])
        xs_l, ys_l = c[lower, 0], c[lower, 1]
        ou, ol = np.argsort(xs_u), np.argsort(xs_l)
        self._seam_u = (xs_u[ou], ys_u[ou])
        self._seam_l = (xs_l[ol], ys_l[ol])
        self.corner = {s: c[MOUTH_CORNERS[s]] for s in SIDES}
        self.mouth_half = float(abs(self.corner["Left"][0] - self.corner["Right"][0]) / 2)
        self.mouth_cx = float((self.corner["Left"][0] + self.corner["Right"][0]) / 2)
        self.upper_thick = float(max(c[13, 1] - c[0, 1], 0.02))
        self.lower_thick = float(max(c[17, 1] - c[14, 1], 0.03))
        self.subnasale_gap = float(max(self.seam(np.array([c[2, 0]]))[0] - c[2, 1], 0.05))
        self.chin_gap = float(max(c[152, 1] - self.seam(np.array([c[152, 0]]))[0], 0.15))

    def seam(self, x: np.ndarray) -> np.ndarray:
        yu = np.interp(x, *self._seam_u)
        yl = np.interp(x, *self._seam_l)
        return (yu + yl) / 2

    def opening(self, x: np.ndarray) -> np.ndarray:
        """Inner-lip gap at x (0 for a closed mouth)."""
        return np.maximum(np.interp(x, *self._seam_l) - np.interp(x, *self._seam_u), 0.0)

    def lateral(self, extra: float = 0.06) -> np.ndarray:
        """1 between the mouth corners, fading to 0 ``extra`` beyond them."""
        dx = np.abs(self.c[:, 0] - self.mouth_cx) - self.mouth_half
        return 1.0 - _smoothstep(dx / extra)

    def upper_lip(self) -> np.ndarray:
        """Weight of the upper lip region: 1 on the lip, fading to 0 at the nose."""
        d = self.seam(self.c[:, 0]) - self.c[:, 1]  # > 0 above the seam
        w = 1.0 - _smoothstep((d - self.upper_thick) / max(self.subnasale_gap - self.upper_thick, 0.02))
        w[d < -0.004] = 0.0
        return w * self.lateral()

    def lower_lip(self) -> np.ndarray:
        d = self.c[:, 1] - self.seam(self.c[:, 0])
        w = 1.0 - _smoothstep((d - self.lower_thick) / 0.08)
        w[d < -0.004] = 0.0
        return w * self.lateral()

    def jaw(self) -> np.ndarray:
        """Weight of the points that ride on the mandible: below the seam, out to the jaw angle.

        The lips are stretched between the skull and the jaw, pinned at the corners: the lower
        lip follows the jaw fully only at the middle and the upper lip stays put only there, both
        meeting half way at the corners. Across the mouth (u = 0 middle, 1 corner) the lower lip
        sags as 1 - u^2 / 2 and the upper lip is drawn down only near the corners, as u^4 / 2: the
        opening is a lens with pointed corners. Weights of 1 and 0 right up to the corners opened
        a box with vertical sides, which neither a viewer nor the mesh network reads as a mouth."""
        w = self.jaw_at(self.c)
        x = self.c[:, 0]
        # Each lip line (inner, outer) is measured from its own corners.
        for ring_up, ring_lo in ((LIP_INNER_UPPER, LIP_INNER_LOWER), (LIP_OUTER_UPPER, LIP_OUTER_LOWER)):
            a, b = x[ring_up[0]], x[ring_up[-1]]
            u2 = np.clip(np.abs(x - (a + b) / 2) / max(abs(b - a) / 2, 1e-6), 0.0, 1.0) ** 2
            up, lo = list(ring_up[1:-1]), list(ring_lo)
            w[up] = 0.5 * u2[up] ** 2
            w[lo] = 1.0 - 0.5 * u2[lo]
        return w

    def jaw_at(self, c: np.ndarray) -> np.ndarray:
        """The mandible weight at any canonical points (N, 2+): the warp's lip seam uses it too."""
        dx = np.maximum(np.abs(c[:, 0] - self.mouth_cx) - self.mouth_half, 0.0)
        y0 = self.seam(c[:, 0]) + 0.7 * dx  # the boundary drops from the corners to the jaw angle
        tau = 0.012 + 0.25 * dx  # soft beside the mouth, sharp at the lips
        return 1.0 / (1.0 + np.exp(np.clip(-(c[:, 1] - y0) / tau, -50, 50)))

    def side(self, s: str, soft: float = 0.05) -> np.ndarray:
        """1 on one side of the face midline, 0 on the other, smooth across it."""
        x = self.c[:, 0] * SIGN[s]
        return _smoothstep(0.5 + x / (2 * soft))

    def lid_curve(self, s: str, which: str) -> tuple[np.ndarray, np.ndarray]:
        idx = EYE_UPPER[s] if which == "upper" else EYE_LOWER[s]
        pts = np.concatenate([[EYE_CORNERS[s][0]], idx, [EYE_CORNERS[s][1]]])
        x, y = self.c[pts, 0], self.c[pts, 1]
        o = np.argsort(x)
        return x[o], y[o]

    def eye_opening(self, s: str, x: np.ndarray) -> np.ndarray:
        return np.maximum(np.interp(x, *self.lid_curve(s, "lower")) - np.interp(x, *self.lid_curve(s, "upper")), 0.0)

    def eye_width(self, s: str) -> float:
        a, b = EYE_CORNERS[s]
        return float(np.linalg.norm(self.c[a, :2] - self.c[b, :2]))

    def above_lid(self, s: str, reach: float) -> np.ndarray:
        """Skin above one upper lid: 1 at the lid, 0 at ``reach`` above it, 0 outside the eye's span."""
        c = self.c
        xu, yu = self.lid_curve(s, "upper")
        d = np.interp(c[:, 0], xu, yu) - c[:, 1]
        w = 1.0 - _smoothstep(d / reach)
        w[d < -0.003] = 0.0
        span = 1.0 - _smoothstep((np.maximum(xu[0] - c[:, 0], c[:, 0] - xu[-1])) / 0.04)
        return w * span

    def below_lid(self, s: str, reach: float) -> np.ndarray:
        c = self.c
        xl, yl = self.lid_curve(s, "lower")
        d = c[:, 1] - np.interp(c[:, 0], xl, yl)
        w = 1.0 - _smoothstep(d / reach)
        w[d < -0.003] = 0.0
        span = 1.0 - _smoothstep((np.maximum(xl[0] - c[:, 0], c[:, 0] - xl[-1])) / 0.04)
        return w * span


def _jaw_rotation(f: FaceGeometry, degrees: float) -> np.ndarray:
    """Linearised rotation of the mandible about the jaw joints (in front of the ears)."""
    c = f.c
    pivot = np.array([0.0, (c[234, 1] + c[454, 1]) / 2 + 0.05, (c[234, 2] + c[454, 2]) / 2 + 0.3])
    theta = np.radians(degrees)
    rel = c - pivot
    d = np.zeros_like(c)
    d[:, 1] = -theta * rel[:, 2]  # small-angle Rx: y' = y - theta z, z' = z + theta y
    d[:, 2] = theta * rel[:, 1]
    return d


def build_bases(neutral: np.ndarray, *, calibrated: bool = True) -> ExpressionBases:
    """Author the bases on one portrait's canonical neutral landmarks (478, 3).

    calibrated: scale each channel by ANALYSIS_GAIN (landmark motion as the analyser measures
    it; what motion extraction should fit). False: the authored motion the renderer draws."""
    c = np.asarray(neutral, np.float64)
    if c.shape != (478, 3):
        raise ValueError(f"neutral landmarks shape {c.shape}, expected (478, 3) canonical")
    f = FaceGeometry(c)
    n = len(c)
    out: dict[str, np.ndarray] = {}

    def vec(w: np.ndarray, v) -> np.ndarray:
        return w[:, None] * np.asarray(v, np.float64)[None, :]

    # --- jaw --------------------------------------------------------------------------
    wj = f.jaw()
    jaw_open = _jaw_rotation(f, 16.0) * wj[:, None]
    out["jawOpen"] = jaw_open
    out["jawForward"] = vec(wj, (0.0, 0.0, -0.05))
    out["jawLeft"] = vec(wj, (0.05, 0.0, 0.0))
    out["jawRight"] = vec(wj, (-0.05, 0.0, 0.0))

    # --- lips -------------------------------------------------------------------------
    wu, wl = f.upper_lip(), f.lower_lip()
    lips = np.maximum(wu, wl)
    x_rel = c[:, 0] - f.mouth_cx
    y_seam = f.seam(c[:, 0])
    # mouthClose: the lips meet half way across the gap jawOpen opens between the inner lips
    # (the lower lip's drop less the upper lip's, drawn down near the corners), whatever the jaw
    # does: at mouthClose = jawOpen the inner lips are back at rest (lip_closure seals the rest gap).
    def inner_drop(ring: tuple[int, ...]) -> np.ndarray:
        xr = c[list(ring), 0]
        o = np.argsort(xr)
        return np.interp(c[:, 0], xr[o], jaw_open[list(ring), 1][o])

    jaw_at = inner_drop((LIP_INNER_UPPER[0], *LIP_INNER_LOWER, LIP_INNER_UPPER[-1])) - inner_drop(LIP_INNER_UPPER)
    close = np.zeros_like(c)
    close[:, 1] = 0.5 * jaw_at * wu - 0.5 * jaw_at * wl
    out["mouthClose"] = close
    funnel = np.zeros_like(c)
    funnel[:, 0] = -0.22 * x_rel * lips
    funnel[:, 1] = -0.025 * wu + 0.035 * wl
    funnel[:, 2] = -0.04 * lips
    out["mouthFunnel"] = funnel
    pucker = np.zeros_like(c)
    pucker[:, 0] = -0.35 * x_rel * lips
    pucker[:, 1] = -0.15 * (c[:, 1] - y_seam) * lips  # lips pushed together and pursed
    pucker[:, 2] = -0.06 * lips
    out["mouthPucker"] = pucker
    mouth_area = np.maximum(lips, f.lateral(0.1) * np.exp(-((c[:, 1] - y_seam) / 0.12) ** 2))
    out["mouthLeft"] = vec(mouth_area, (0.07, 0.0, 0.0))
    out["mouthRight"] = vec(mouth_area, (-0.07, 0.0, 0.0))
    band_u = wu * (c[:, 1] <= y_seam + 0.004)
    band_l = wl * (c[:, 1] >= y_seam - 0.004)
    lip_thin = np.zeros_like(c)
    lip_thin[:, 1] = -(c[:, 1] - y_seam)
    for s in SIDES:
        sg = SIGN[s]
        corner = f.corner[s]
        g = _gauss(c, corner, 0.08)
        cheek = _gauss(c, corner + np.array([0.07 * sg, -0.12, 0.0]), 0.1)
        side = f.side(s)
        smile = vec(g, (0.045 * sg, -0.05, 0.0)) + vec(cheek * side, (0.01 * sg, -0.025, 0.0))
        out[f"mouthSmile{s}"] = smile
        out[f"mouthFrown{s}"] = vec(g, (0.01 * sg, 0.045, 0.0))
        out[f"mouthDimple{s}"] = vec(g, (0.025 * sg, -0.005, 0.02))
        stretch = vec(g, (0.05 * sg, 0.015, 0.0)) + vec(wl * side, (0.0, 0.015, 0.0))
        out[f"mouthStretch{s}"] = stretch
        press = 0.35 * lip_thin * (lips * side)[:, None]
        out[f"mouthPress{s}"] = press
        out[f"mouthUpperUp{s}"] = vec(wu * side, (0.0, -0.045, -0.01))
        out[f"mouthLowerDown{s}"] = vec(wl * side, (0.0, 0.05, -0.01))
    out["mouthRollLower"] = 0.6 * lip_thin * band_l[:, None] + vec(band_l, (0.0, 0.0, 0.02))
    out["mouthRollUpper"] = 0.6 * lip_thin * band_u[:, None] + vec(band_u, (0.0, 0.0, 0.02))
    chin = _gauss(c, c[152] + np.array([0.0, -0.08, 0.0]), 0.1) * (c[:, 1] > y_seam)
    # Shrugs push the lips together upwards: both lips move (less the upper one), so the
    # closed mouth stays closed instead of opening a slit.
    out["mouthShrugLower"] = vec(np.maximum(np.maximum(wl, 0.8 * wu), chin), (0.0, -0.03, -0.01))
    out["mouthShrugUpper"] = vec(np.maximum(wu, wl), (0.0, -0.02, -0.005))

    # --- cheeks and nose ----------------------------------------------------------------
    for s in SIDES:
        sg = SIGN[s]
        side = f.side(s)
        eye_c = c[list(EYE_UPPER[s]) + list(EYE_LOWER[s])].mean(0)
        cheek_c = eye_c + np.array([0.02 * sg, 0.17, 0.0])
        lower_lid = f.below_lid(s, 0.06)
        opening = f.eye_opening(s, c[:, 0])
        sq = vec(_gauss(c, cheek_c, 0.09) * side, (0.0, -0.025, 0.0))
        sq[:, 1] += -0.15 * opening * lower_lid
        out[f"cheekSquint{s}"] = sq
        ala = c[NOSE_ALA[s]]
        sneer = vec(_gauss(c, ala, 0.05) * side, (0.005 * sg, -0.025, 0.0))
        sneer += vec(wu * side * 0.4, (0.0, -0.02, 0.0))
        out[f"noseSneer{s}"] = sneer
    puff = np.zeros_like(c)
    for s in SIDES:
        cc = np.array([0.3 * SIGN[s], 0.36, 0.0])
        puff[:, 0] += 0.04 * SIGN[s] * _gauss(c, cc, 0.13) * f.side(s)
    out["cheekPuff"] = puff

    # --- brows ----------------------------------------------------------------------------
    inner_up = np.zeros_like(c)
    for s in SIDES:
        sg = SIGN[s]
        brow = c[list(BROWS[s])]
        inner = brow[np.argmin(np.abs(brow[:, 0]))]
        outer = brow[np.argmax(np.abs(brow[:, 0]))]
        not_eye = 1.0 - f.above_lid(s, 0.05) * 0.8
        inner_up[:, 1] += -0.05 * _gauss(c, inner + np.array([0.0, -0.02, 0.0]), 0.07) * f.side(s, 0.02) * not_eye
        down = vec(_gauss(c, inner, 0.07) * not_eye, (-0.015 * sg, 0.035, 0.0))
        down += vec(_gauss(c, (inner + outer) / 2, 0.1) * not_eye, (0.0, 0.015, 0.0))
        out[f"browDown{s}"] = down * f.side(s, 0.02)[:, None]
        out[f"browOuterUp{s}"] = vec(_gauss(c, outer, 0.07) * not_eye * f.side(s, 0.02), (0.0, -0.05, 0.0))
    out["browInnerUp"] = inner_up

    # --- eyes -----------------------------------------------------------------------------
    for s in SIDES:
        upper, lower = list(EYE_UPPER[s]), list(EYE_LOWER[s])
        xu, yu = f.lid_curve(s, "upper")
        xl, yl = f.lid_curve(s, "lower")
        x = c[:, 0]
        y_up, y_lo = np.interp(x, xu, yu), np.interp(x, xl, yl)
        closed = y_lo - CLOSED_LID * (y_lo - y_up)  # lids meet low in the eye, as in a real blink
        skin_up = f.above_lid(s, 0.05)
        skin_lo = f.below_lid(s, 0.04)
        blink = np.zeros_like(c)
        blink[:, 1] = (closed - y_up) * skin_up * np.where(np.isin(np.arange(n), upper), 1.0, 0.35)
        blink[:, 1] += (closed - y_lo) * skin_lo * np.where(np.isin(np.arange(n), lower), 1.0, 0.3)
        out[f"eyeBlink{s}"] = blink
        opening = np.maximum(y_lo - y_up, 0.0)
        wide = np.zeros_like(c)
        wide[:, 1] = -0.4 * opening * skin_up - 0.05 * opening * skin_lo
        out[f"eyeWide{s}"] = wide
        squint = np.zeros_like(c)
        squint[:, 1] = -0.35 * opening * skin_lo + 0.12 * opening * skin_up
        out[f"eyeSquint{s}"] = squint
        # Gaze: the iris moves; the upper lid follows a vertical gaze a little, as in life.
        ew = f.eye_width(s)
        iris = np.zeros(n)
        iris[list(IRIS[s])] = 1.0
        out_dir = SIGN[s]  # looking "out" moves the iris away from the nose
        out[f"eyeLookOut{s}"] = vec(iris, (0.22 * ew * out_dir, 0.0, 0.0))
        out[f"eyeLookIn{s}"] = vec(iris, (-0.22 * ew * out_dir, 0.0, 0.0))
        up = vec(iris, (0.0, -0.11 * ew, 0.0))
        out[f"eyeLookUp{s}"] = up
        dn = vec(iris, (0.0, 0.11 * ew, 0.0))
        dn[:, 1] += 0.3 * opening * skin_up * (1 - iris)
        out[f"eyeLookDown{s}"] = dn

    channels = tuple(ch for ch in ARKIT_BLENDSHAPES if ch in out and ch not in UNSUPPORTED)
    gains = [ANALYSIS_GAIN.get(ch, 1.0) if calibrated else 1.0 for ch in channels]
    deltas = np.stack([out[ch] * g for ch, g in zip(channels, gains)]).astype(np.float32)
    profile = SealProfile.build(c, min_gap=0.0)
    if profile is None:
        return ExpressionBases(channels, deltas)
    if SealProfile.build(c) is None:
        # Lips that meet in the photo, a pixel or two apart as landmarks: nothing in the picture
        # moves (no remap, no jaw), but the layers learn that sealed lips touch, so the mouth
        # layer paints no sliver of teeth between them at an M.
        return ExpressionBases(channels, deltas, profile.landmark_delta(c))
    # Sealing a mouth photographed open raises the jaw as well as the lips (the teeth come
    # together): the mandible, less the lips (lip_seal moves those), closes SEAL_JAW_SHARE of the
    # rest gap, as a jaw rotation. Lips alone stretched across the whole gap under a chin that
    # stayed low; the mesh network, which reads the jaw from the face's proportions, still saw
    # a mouth half open (inner-lip gap 0.04 face widths, a closed mouth reads 0.003-0.01).
    rest_gap = float(c[14, 1] - c[13, 1])
    drop = float(jaw_open[14, 1] - jaw_open[13, 1])  # inner-lip gap per unit jawOpen
    chin = -SEAL_JAW_SHARE * max(rest_gap, 0.0) / max(drop, 1e-6) * jaw_open * (1.0 - lips)[:, None]
    return ExpressionBases(channels, deltas, profile.landmark_delta(c) + chin, chin)
