"""The live engine: a clocked frame loop that turns live audio into frames for every sink.

Public names: Engine (the loop), IdleLife/IdleConfig (life when nobody speaks), EngineStats,
StatusEvent, SinkRunner (newest-frame-wins delivery), AudioMixer/LinearResampler.
"""

from .audio_mix import AudioMixer, LinearResampler
from .fanout import SinkRunner
from .idle import IdleConfig, IdleLife
from .loop import STAGES, Engine, MotionMixer, estimate_av_delay
from .stats import EngineStats, SinkStats, StageTiming, StatusEvent

__all__ = [
    "AudioMixer", "Engine", "EngineStats", "IdleConfig", "IdleLife", "LinearResampler", "MotionMixer",
    "STAGES", "SinkRunner", "SinkStats", "StageTiming", "StatusEvent", "estimate_av_delay",
]
