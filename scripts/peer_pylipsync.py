"""Motion tracks from pylipsync 0.2.1 (MIT, PyPI: an MFCC template matcher after uLipSync) for the
audio that `marionette eval articulation --export DIR` writes, scored with `--generator tracks:DIR`.

Runs in its own environment (pylipsync needs librosa and numpy < 2.4, which Marionette's does not
carry): `python -m venv V && V/bin/pip install pylipsync==0.2.1 && V/bin/python scripts/peer_pylipsync.py DIR`.
pylipsync gives per-frame weights of five vowel templates (aa ee ih oh ou) and silence; ARKit values
are a weighted sum with the weights below (ours, in the spirit of the VRM A/I/U/E/O visemes uLipSync
drives: aa the widest opening, ou a small rounded one): the peer's timing and openness are its own,
the mapping to ARKit is ours and stated here.
"""

import json
import sys
from pathlib import Path

import soundfile as sf
from pylipsync import PhonemeAnalyzer

FPS = 60
SHAPES = {  # vowel template -> ARKit channel weights
    "aa": {"jawOpen": 0.7},
    "ee": {"jawOpen": 0.35, "mouthStretchLeft": 0.4, "mouthStretchRight": 0.4},
    "ih": {"jawOpen": 0.25, "mouthStretchLeft": 0.3, "mouthStretchRight": 0.3},
    "oh": {"jawOpen": 0.5, "mouthFunnel": 0.5},
    "ou": {"jawOpen": 0.2, "mouthPucker": 0.6},
}


def main(folder: str) -> None:
    analyzer = PhonemeAnalyzer()
    for wav in sorted(Path(folder).glob("*.wav")):
        audio, rate = sf.read(wav, dtype="float32")
        segs = analyzer.extract_phoneme_segments(audio, rate, fps=FPS)
        channels = {c: [0.0] * len(segs) for shape in SHAPES.values() for c in shape}
        for i, seg in enumerate(segs):
            for p in seg.phonemes:
                for c, w in SHAPES.get(p.name, {}).items():
                    channels[c][i] += w * float(p.target)
        doc = {"format": "marionette.motion", "version": 1, "fps": FPS, "frames": len(segs),
               "channels": {c: [round(min(max(v, 0.0), 1.0), 4) for v in vs] for c, vs in channels.items()}}
        wav.with_suffix(".json").write_text(json.dumps(doc))
        print(f"{wav.stem}: {len(segs)} frames")


if __name__ == "__main__":
    main(sys.argv[1])
