"""Speech with phone timings: text-to-speech engines that report what they said and when, and
forced alignment of recorded speech to its transcript. Everything comes out as ARPAbet Phonemes."""

from .align import force_align, normalise_transcript, spell_number
from .errors import AlignmentError, EngineUnavailableError, SpeechQueueFull
from .phonesets import ARPABET, SIL, phoneset
from .stream import FallbackSynthesizer, SpeechLimits, TextSpeaker, split_text
from .tts import ENGINES, available_engines, list_voices, synthesize

__all__ = [
    "ARPABET", "ENGINES", "SIL", "AlignmentError", "EngineUnavailableError", "FallbackSynthesizer", "SpeechLimits",
    "SpeechQueueFull", "TextSpeaker", "available_engines", "force_align", "list_voices", "normalise_transcript",
    "phoneset", "spell_number", "split_text", "synthesize",
]
