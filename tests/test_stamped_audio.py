"""The stamped sound queue behind the speaker and the virtual microphone (plugin/sinks/stamped_audio.py)."""

import numpy as np

from marionette.plugin.sinks.stamped_audio import StampedAudio


def test_early_sound_waits_late_sound_is_skipped_and_the_queue_says_when_it_ran_dry():
    q = StampedAudio(1000, tolerance=0.005)
    q.push(1.0, np.ones(100, np.float32))  # due at 1.0 s, 0.1 s long
    out, taken, dry = q.take(0.95, 100)  # 50 samples of silence before it, then 50 of it
    assert taken == 50 and not out[:50].any() and out[50:].sum() == 50 and not dry
    out, taken, dry = q.take(1.10, 100)  # its other half was due at 1.05: overdue, skipped
    assert taken == 0 and dry and not out.any() and q.corrections == 1


def test_blocks_within_tolerance_play_back_to_back_and_the_queue_is_bounded():
    q = StampedAudio(1000, tolerance=0.005, max_behind=2.0)
    q.push(0.0, np.full(10, 0.5, np.float32))
    q.push(0.012, np.full(10, 0.25, np.float32))  # 2 ms late against the first: within tolerance
    out, taken, dry = q.take(0.0, 20)
    assert taken == 20 and np.array_equal(out, np.r_[np.full(10, 0.5), np.full(10, 0.25)].astype(np.float32))
    for t in range(10):
        q.push(float(t), np.zeros(10, np.float32))
    out, taken, _ = q.take(7.0, 10)
    assert taken == 10 and q.last_error == 0.0  # blocks over 2 s behind the newest were dropped, not waited on
