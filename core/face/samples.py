"""Real human faces for tests, benchmarks and `marionette eval control`, all from registry packages,
none stored in this repository.

- ``astronaut``: Eileen Collins, NASA photograph, public domain (US federal government work;
  scikit-image documents "no known copyright restrictions"). From the scikit-image wheel
  (``skimage.data.astronaut()``, the ``test`` extra). 512x512 RGB, face about 100 px.
- ``hopper``: Rear Admiral Grace Hopper, official US Navy photograph, public domain (US federal
  government work). From the matplotlib wheel (``mpl-data/sample_data/grace_hopper.jpg``, the
  ``test`` extra). 512x600 RGB, face about 300 px, glasses.
- ``obama``: Barack Obama's official 2012 White House portrait (Pete Souza), public domain (US
  federal government work). From the face_recognition 1.3.0 source distribution on PyPI
  (``tests/test_images/obama.jpg``; the package itself is MIT-licensed), fetched once with
  ``pip download`` into ~/.cache/marionette/test-faces. 910x1137 RGB, face about 300 px, smiling
  with teeth visible.
- ``biden``: Joe Biden's official vice-presidential portrait (2013), public domain (US federal
  government work); same source as ``obama`` (``biden.jpg``). 970x2204, full length, face about
  190 px: the "large photo, modest face" case.
- ``obama_speech``: Barack Obama speaking at a lectern, mouth open mid-word, eyes turned aside
  (``tests/test_images/obama2.jpg`` of the same sdist; a White House photograph, public domain).
  626x1200.
- ``obama_standing``: Barack Obama standing, full length, face about 100 px in a 1434x2333
  picture (``obama3.jpg``, same sdist, White House photograph, public domain).
- Two framings derived from the photos above (see evaluation_faces): ``hopper_tight``, a tight
  square crop around Hopper's face (face about two thirds of the picture, glasses), and
  ``obama_landscape``, Obama's portrait cut to a landscape 800x533.

``python tests/faces.py`` fetches and checks them (scripts/setup.sh --test runs it). scikit-image and
matplotlib come with the ``test`` extra; a missing one raises an InputError naming it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError
from .image import load_image

FACE_RECOGNITION_SDIST = "face-recognition==1.3.0"
# sha256 of the files we take out of the sdist, so a changed upload cannot change our tests.
SDIST_FILES = {
    "obama": ("tests/test_images/obama.jpg", "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"),
    "biden": ("tests/test_images/biden.jpg", "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c"),
    "obama_speech": ("tests/test_images/obama2.jpg", "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6"),
    "obama_standing": ("tests/test_images/obama3.jpg", "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3"),
}


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "marionette" / "test-faces"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_sdist_faces() -> dict[str, Path]:
    """Paths of obama.jpg and biden.jpg, downloading the face_recognition sdist once if needed."""
    out = cache_dir()
    paths = {name: out / Path(member).name for name, (member, _) in SDIST_FILES.items()}
    if all(p.is_file() and _sha256(p) == SDIST_FILES[n][1] for n, p in paths.items()):
        return paths
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", "-q", FACE_RECOGNITION_SDIST, "-d", tmp]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        archives = list(Path(tmp).glob("face_recognition-*.tar.gz"))
        if res.returncode != 0 or not archives:
            raise InputError(
                f"could not download the {FACE_RECOGNITION_SDIST} sdist (test faces) from PyPI: "
                f"{res.stderr.strip()[-500:]}"
            )
        with tarfile.open(archives[0]) as tar:
            root = tar.getnames()[0].split("/")[0]
            for name, (member, digest) in SDIST_FILES.items():
                data = tar.extractfile(f"{root}/{member}").read()
                if hashlib.sha256(data).hexdigest() != digest:
                    raise InputError(f"{member} in {archives[0].name} has an unexpected sha256")
                paths[name].write_bytes(data)
    return paths


@functools.cache
def _load_all() -> dict[str, np.ndarray]:
    try:
        from matplotlib import cbook
        from skimage import data
    except ImportError as e:
        raise InputError(
            f"the sample faces need scikit-image and matplotlib ({e}); install them with "
            "`pip install -e '.[test]'`"
        ) from e

    faces = {
        "astronaut": np.ascontiguousarray(data.astronaut()),
        "hopper": load_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)),
    }
    for name, path in fetch_sdist_faces().items():
        faces[name] = load_image(path)
    for img in faces.values():
        img.flags.writeable = False
    return faces


def real_faces() -> dict[str, np.ndarray]:
    """Name -> uint8 RGB (H, W, 3) photo of a real person, one face each (read-only arrays)."""
    return dict(_load_all())


def portrait_faces() -> dict[str, np.ndarray]:
    """The three head-and-shoulders photos (astronaut, hopper, obama): the control-accuracy set."""
    faces = _load_all()
    return {k: faces[k] for k in ("astronaut", "hopper", "obama")}


def evaluation_faces() -> dict[str, np.ndarray]:
    """Seven faces the expression bases were not calibrated on (calibration uses Biden), for
    `marionette eval control --faces evaluation`: the three portraits, Obama mid-word and
    standing, and two framings a user brings: a tight square crop (Hopper, glasses) and a
    landscape 800x533 cut (Obama). Crops are fixed pixel boxes, so the set is reproducible."""
    import cv2

    faces = _load_all()
    out = {k: faces[k] for k in ("astronaut", "hopper", "obama", "obama_speech", "obama_standing")}
    out["hopper_tight"] = np.ascontiguousarray(faces["hopper"][94:371, 124:401])  # 277x277 around the face
    o = faces["obama"]
    small = cv2.resize(o, (800, round(o.shape[0] * 800 / o.shape[1])), interpolation=cv2.INTER_AREA)
    out["obama_landscape"] = np.ascontiguousarray(small[40:573])
    for img in out.values():
        img.flags.writeable = False
    return out
