"""OBS Studio integration over obs-websocket 5: a safe client, a self-healing link, scene
setup/teardown, and the run-time bridge (captions, speaking scenes, hotkeys/custom events).

Importing this package does not import obs-websocket-py; the client does, when it connects.
"""

from .client import ObsClient, ObsConfig, ObsConnectionError, ObsError, ObsRequestError
from .link import Backoff, ObsLink, ObsStatus

__all__ = [
    "Backoff", "ObsClient", "ObsConfig", "ObsConnectionError", "ObsError", "ObsLink",
    "ObsRequestError", "ObsStatus",
]
