"""Training data and the lip-sync yardstick for audio -> motion.

    build.build(BuildConfig(out=..., hours=..., seed=...))   `marionette corpus build`: TTS voices + real
                                                             speech, augmented, taught, sharded
    shards.load_corpus(dir, "train" | "heldout")             iterate CorpusUtterance(features, motion, phonemes, meta)
    lipsync.evaluate(generator, "heldout-real" | "heldout-tts")  `marionette eval lipsync`
    metrics.score([...])                                     the metric definitions (documented there)
    real.clips(split) / real.is_heldout_clip(name)           the recorded speaker and its fixed split

Submodules import their heavy dependencies lazily; importing the package costs nothing.
"""
