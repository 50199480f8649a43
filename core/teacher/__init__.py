"""The viseme teacher: phone timings (+ audio features) -> motion tracks with coarticulation,
prosody, blinks, idle sway and emotion. Visemes and emotion styles are data (visemes.json,
emotions.json); the training corpus and the `teacher` generator are built on it."""

from .coarticulation import blend, segments
from .life import Life, LifeConfig
from .teacher import Teacher, TeacherConfig, emotion_styles, teach
from .visemes import VisemeTable, lip_gap, load_table, parse_table

__all__ = [
    "Life", "LifeConfig", "Teacher", "TeacherConfig", "VisemeTable", "blend", "emotion_styles", "lip_gap",
    "load_table", "parse_table", "segments", "teach",
]
