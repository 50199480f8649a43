"""Contact sheets: every supported channel at 0, 0.5 and 1, and the pose extremes, for a portrait.

One PNG per portrait, face crops labelled with channel and value: the quickest way to see what
the renderer does to a face, and where it fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from marionette.core.types import MotionFrame
from marionette.core.render.renderer import POSE_RANGE, PortraitRenderer

TILE = 168
LABEL_H = 16
VALUES = (0.0, 0.5, 1.0)
PER_ROW = 3  # channels per row (each as three tiles)


def _tile(img: np.ndarray, box: tuple[int, int, int, int], label: str) -> np.ndarray:
    x0, y0, x1, y1 = box
    crop = img[y0:y1, x0:x1]
    t = cv2.resize(crop, (TILE, TILE), interpolation=cv2.INTER_AREA)
    out = np.full((TILE + LABEL_H, TILE, 3), 255, np.uint8)
    out[LABEL_H:] = t
    cv2.putText(out, label, (2, LABEL_H - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def sheet_frames(renderer: PortraitRenderer) -> list[tuple[str, MotionFrame]]:
    """(label, motion) for every tile, channels first, then the pose extremes."""
    items = []
    for ch in renderer.supported_channels:
        for v in VALUES:
            items.append((f"{ch} {v:g}", MotionFrame.from_dict({ch: v})))
    for name in ("yaw", "pitch", "roll", "tx", "ty", "scale"):
        for v in POSE_RANGE[name]:
            items.append((f"{name} {v:g}", MotionFrame.from_dict({name: v})))
    return items


def contact_sheet(renderer: PortraitRenderer, title: str = "") -> np.ndarray:
    """uint8 RGB sheet for one renderer."""
    fx0, fy0, fx1, fy1 = renderer.face_box
    cx, cy = (fx0 + fx1) / 2, (fy0 + fy1) / 2
    half = 0.68 * max(fx1 - fx0, fy1 - fy0)
    h, w = renderer.base.shape[:2]
    box = (int(max(cx - half, 0)), int(max(cy - half * 0.95, 0)), int(min(cx + half, w)), int(min(cy + half * 1.05, h)))
    tiles = [_tile(renderer.render(m), box, label) for label, m in sheet_frames(renderer)]
    per_row = PER_ROW * len(VALUES)
    while len(tiles) % per_row:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.hstack(tiles[i:i + per_row]) for i in range(0, len(tiles), per_row)]
    sheet = np.vstack(rows)
    head = np.full((28, sheet.shape[1], 3), 255, np.uint8)
    note = f"{title}  unsupported: {', '.join(renderer.unsupported_channels) or 'none'}"
    cv2.putText(head, note, (4, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([head, sheet])


def _portraits(portraits: Iterable[str] | str | None) -> list[tuple[str, object]]:
    if isinstance(portraits, str):
        portraits = [portraits]
    if portraits:
        return [(Path(p).stem, p) for p in portraits]
    items: list[tuple[str, object]] = [("default", None)]
    # The real test faces live in the source checkout (tests/faces.py), not in an installed package.
    faces_py = Path(__file__).resolve().parents[2] / "tests" / "faces.py"
    if faces_py.is_file():
        import importlib.util

        spec = importlib.util.spec_from_file_location("_marionette_test_faces", faces_py)
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
            items += [(name, np.ascontiguousarray(img)) for name, img in mod.portrait_faces().items()]
        except (ImportError, RuntimeError, OSError) as e:  # no network or matplotlib: default only
            print(f"contact sheets: test faces unavailable ({e}); default portrait only")
    return items


def write_contact_sheets(out_dir: str | Path, portraits: Iterable[str] | str | None = None,
                         size: tuple[int, int] = (512, 512), progress: bool = True) -> list[Path]:
    from tqdm import tqdm

    from marionette.core.render.portrait import load_renderer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, src in tqdm(_portraits(portraits), desc="contact sheets", disable=not progress):
        renderer, _ = load_renderer(src, size)
        kind = "real teeth" if renderer.mouth.real_teeth else "synthesised teeth"
        sheet = contact_sheet(renderer, f"{name} ({kind})")
        path = out / f"contact_{name}.png"
        cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths
