"""Live control of the motion space: the ControlMixer (override, offset, gesture, gaze, emotion).

The frame loop calls ``ControlMixer.apply`` once per frame; agents and the panel only write
into its state. Recipes and gesture shapes live in their own small modules.
"""

from .api import EngineControl, EngineEvent, MotionEvent, SpeechEvent
from .emotions import EMOTION_RECIPES, recipe_vector
from .gestures import GAZE_EYE_CHANNELS, GESTURES, GestureSpec, gaze_channels
from .mixer import ControlMixer

__all__ = ["ControlMixer", "EngineControl", "EngineEvent", "MotionEvent", "SpeechEvent", "EMOTION_RECIPES", "GESTURES", "GAZE_EYE_CHANNELS", "GestureSpec", "gaze_channels", "recipe_vector"]
