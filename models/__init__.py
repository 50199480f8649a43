"""Networks and their weights; training code imports torch lazily (the `train` extra)."""
