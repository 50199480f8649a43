"""The engine: typed stages at numpy/opencv level, no torch, no I/O at import."""
