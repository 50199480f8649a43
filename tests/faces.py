"""Real human faces for tests and benchmarks (see marionette.core.face.samples for each photo's
origin and licence: scikit-image's astronaut, matplotlib's Grace Hopper, and Barack Obama's and
Joe Biden's official portraits from the face_recognition 1.3.0 sdist on PyPI, all public domain).

``python tests/faces.py`` fetches and checks them; scripts/setup.sh --test runs it.
"""

from __future__ import annotations

from marionette.core.face.samples import portrait_faces, real_faces

__all__ = ["portrait_faces", "real_faces"]

if __name__ == "__main__":
    for name, img in real_faces().items():
        print(f"{name}: {img.shape[1]}x{img.shape[0]}")
