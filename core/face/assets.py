"""Files shipped with the engine (see core/assets/NOTICE.md for their origin and licence)."""

from importlib import resources
from pathlib import Path


def default_portrait_path() -> Path:
    """The embedded default portrait: a head-and-shoulders crop of scikit-image's astronaut
    (NASA photograph of Eileen Collins, public domain)."""
    return Path(str(resources.files("marionette.core") / "assets" / "default_portrait.png"))
