"""The lip-sync yardstick: metrics that reward the right mouth and punish the wrong one, end to end."""

import json

import numpy as np
import pytest

from marionette.tools.corpus import metrics as M
from marionette.tools.corpus import real
from marionette.tools.corpus.build import teach_track
from marionette.core.motion_space import CHANNEL_INDEX
from marionette.core.types import NEUTRAL_VECTOR, Phoneme

FPS = 100.0
# "Mama bought a blue moon pie" (hand-timed ARPAbet), with a pause in the middle.
PHONES = [Phoneme(s, a, b) for s, a, b in [
    ("SIL", 0.0, 0.3), ("M", 0.3, 0.38), ("AA", 0.38, 0.5), ("M", 0.5, 0.58), ("AH", 0.58, 0.66),
    ("B", 0.66, 0.72), ("AO", 0.72, 0.88), ("T", 0.88, 0.94), ("AH", 0.94, 1.0), ("SIL", 1.0, 1.3),
    ("B", 1.3, 1.36), ("L", 1.36, 1.42), ("UW", 1.42, 1.6), ("M", 1.6, 1.68), ("UW", 1.68, 1.85),
    ("N", 1.85, 1.95), ("P", 1.95, 2.02), ("AY", 2.02, 2.25), ("SIL", 2.25, 2.6)]]


@pytest.fixture(scope="module")
def gt():
    return teach_track(PHONES, fps=FPS, duration=2.6, seed=0).values


def utt(pred, gt):
    return M.Utterance("u", FPS, pred, gt, PHONES)


def test_ground_truth_against_itself_is_perfect(gt):
    s = M.score([utt(gt, gt)])
    assert s.jaw_open_r == pytest.approx(1.0)
    assert s.bilabial_recall == 1.0 and s.bilabial_precision == 1.0
    assert s.rounded_recall == 1.0
    assert s.offset_ms == 0.0 and s.mouth_mae == 0.0
    assert s.n_bilabials == 6 and s.n_rounded == 3


def test_a_late_mouth_shows_as_a_positive_offset(gt):
    late = np.concatenate([np.tile(gt[:1], (12, 1)), gt[:-12]])  # 120 ms late
    s = M.score([utt(late, gt)])
    assert s.offset_ms == pytest.approx(120.0)
    assert s.jaw_open_r < 0.9
    early = np.concatenate([gt[8:], np.tile(gt[-1:], (8, 1))])
    assert M.score([utt(early, gt)]).offset_ms == pytest.approx(-80.0)


def test_a_mouth_that_never_moves_scores_nothing(gt):
    still = np.tile(NEUTRAL_VECTOR, (len(gt), 1))
    s = M.score([utt(still, gt)])
    assert s.jaw_open_r == 0.0
    assert s.rounded_recall == 0.0
    # A shut mouth "closes" for every M/B/P but is one long closure: precision is what exposes it.
    assert s.bilabial_recall == 1.0


def test_a_mouth_that_chatters_is_imprecise(gt):
    chatter = gt.copy()
    j, c = CHANNEL_INDEX["jawOpen"], CHANNEL_INDEX["mouthClose"]
    t = np.arange(len(gt)) / FPS
    chatter[:, j] = 0.3 * (np.sin(2 * np.pi * 7 * t) > 0)  # opens and shuts 7 times a second
    chatter[:, c] = 0.0
    s = M.score([utt(chatter, gt)])
    # 10 closures where the truth has 6 (this sentence is dense in M/B/P, so chance hits are many).
    assert s.n_closures >= 8 and s.bilabial_precision <= 0.7
    assert M.score([utt(gt, gt)]).bilabial_precision == 1.0


def test_rounded_recall_needs_rounding(gt):
    flat = gt.copy()
    flat[:, [CHANNEL_INDEX["mouthFunnel"], CHANNEL_INDEX["mouthPucker"]]] = 0.0
    assert M.score([utt(flat, gt)]).rounded_recall == 0.0


needs_real = pytest.mark.skipif(real.available() is not None, reason=str(real.available()))


@needs_real
def test_evaluate_envelope_and_teacher_on_real_clips():
    from marionette.tools.corpus.lipsync import evaluate

    env = evaluate("envelope", "heldout-real", limit=8)
    teach = evaluate("teacher", "heldout-real", limit=8)
    assert env["n_utterances"] >= 6 and env["n_utterances"] == teach["n_utterances"]
    for r in (env, teach):
        assert -1 <= r["jaw_open_r"] <= 1 and 0 <= r["mouth_mae"] < 1
        assert abs(r["offset_ms"]) <= 300
    # The teacher with the transcript reproduces its own ground truth (up to 30 fps sampling);
    # the loudness follower cannot round lips or find M/B/P inside words.
    assert teach["jaw_open_r"] > 0.95 and teach["bilabial_recall"] > 0.9
    assert env["rounded_recall"] < 0.2 and env["jaw_open_r"] < teach["jaw_open_r"]


@needs_real
def test_cli_eval_lipsync_json(capsys):
    from marionette.plugin.cli import main

    assert main(["eval", "lipsync", "--generator", "envelope", "--limit", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["generator"] == "envelope" and out["split"] == "heldout-real" and out["n_utterances"] >= 2
    assert {"jaw_open_r", "bilabial_recall", "bilabial_precision", "rounded_recall", "offset_ms", "mouth_mae"} <= set(out)
    assert main(["eval", "lipsync", "--generator", "nonesuch", "--limit", "1"]) == 2


def test_heldout_real_split_is_stable_and_about_fifteen_percent():
    names = [f"clip-{i}" for i in range(2000)]
    share = np.mean([real.is_heldout_clip(n) for n in names])
    assert 0.12 < share < 0.18
    assert real.is_heldout_clip("vm-goodbye") == real.is_heldout_clip("vm-goodbye")


def test_speakable_transcripts():
    assert real.speakable("[this is a simple beep tone]") is None
    assert real.speakable("press * to toggle pause, press # to enter") == "press star to toggle pause, press pound to enter"
    assert real.speakable("Thank you. [pause]") == "Thank you."
    assert real.speakable("(10 seconds of silence)") is None
    assert real.speakable('IAX (note: does not say "2")') == "IAX"
