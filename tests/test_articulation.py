"""The articulation yardstick (tools/articulation): metric definitions on synthetic tracks with
known answers, the phone table, its independence from the teacher, and one real end-to-end run."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from marionette.core.motion_space import CHANNEL_INDEX
from marionette.core.types import N_CHANNELS, Phoneme
from marionette.tools.articulation import metrics, phones

FPS = metrics.FPS
J, C = CHANNEL_INDEX["jawOpen"], CHANNEL_INDEX["mouthClose"]

# "SIL m AA p AH s T AA b SIL": two bilabials inside, open vowels, non-labial S T.
PHONES = [Phoneme(s, a, b) for s, a, b in [
    ("SIL", 0.0, 0.3), ("M", 0.3, 0.38), ("AA", 0.38, 0.56), ("P", 0.56, 0.64), ("AH", 0.64, 0.76),
    ("S", 0.76, 0.9), ("T", 0.9, 0.98), ("AA", 0.98, 1.18), ("B", 1.18, 1.26), ("SIL", 1.26, 1.6)]]
N = int(1.6 * FPS)
TIMES = np.arange(N) / FPS


def track(jaw, close=0.0, **channels) -> np.ndarray:
    v = np.zeros((N, N_CHANNELS), np.float32)
    v[:, J] = jaw
    v[:, C] = close
    for k, x in channels.items():
        v[:, CHANNEL_INDEX[k]] = x
    return v


def scores(pred: np.ndarray, truth: np.ndarray | None = None) -> dict:
    truth = phones.truth_track(PHONES, TIMES) if truth is None else truth
    return metrics.tally(pred, truth, PHONES).scores()


def test_closed_definition():
    cases = {(0.10, 0.0): True, (0.50, 0.40): True, (0.80, 0.5): True, (0.50, 0.0): False, (0.16, 0.0): False}
    for (jaw, close), want in cases.items():
        assert metrics.closed(track(jaw, close)[:1])[0] == want, (jaw, close)
    assert metrics.closed(track(0.5, mouthPressLeft=0.5)[:1])[0]
    assert not metrics.closed(track(0.5, mouthPressLeft=0.49)[:1])[0]


def test_always_closed_track_recalls_every_bilabial_with_low_precision():
    s = scores(track(0.05))
    assert s["bilabial_recall"] == 1.0
    # closed everywhere: precision = the labial (+-40 ms) share of speech time, well under 1
    zone = metrics.labial_zone(TIMES, PHONES, metrics.TOLERANCE) & metrics.speech_time(TIMES, PHONES)
    assert s["bilabial_precision"] == pytest.approx(zone.sum() / metrics.speech_time(TIMES, PHONES).sum(), abs=1e-3)
    assert s["bilabial_precision"] < 0.7
    assert s["open_vowel_closed"] == 1.0
    assert s["nonlabial_closed"] == 1.0
    assert s["open_vowel_jaw_median"] == pytest.approx(0.05)


def test_always_open_track_misses_every_bilabial():
    s = scores(track(0.6))
    assert s["bilabial_recall"] == 0.0
    assert s["bilabial_precision"] is None  # nothing closed: no closed time to be precise about
    assert s["open_vowel_closed"] == 0.0
    assert s["nonlabial_closed"] == 0.0
    assert s["open_vowel_jaw_median"] == pytest.approx(0.6)


def test_truth_scores_itself_perfectly_and_lag_finds_a_shift():
    truth = phones.truth_track(PHONES, TIMES)
    s = scores(truth, truth)
    assert s["r_within_speech"] == pytest.approx(1.0)
    assert s["lag_ms"] == 0
    assert s["bilabial_recall"] == 1.0
    assert s["open_vowel_closed"] < 0.05  # only where a vowel leaves a bilabial inside the 20 ms trim
    late = phones.truth_track(PHONES, TIMES - 0.05)  # the same motion 50 ms late
    early = phones.truth_track(PHONES, TIMES + 0.07)
    assert scores(late, truth)["lag_ms"] == 50
    assert scores(early, truth)["lag_ms"] == -70
    assert scores(late, truth)["r_within_speech"] < 0.95


def test_closure_only_at_bilabials_is_precise():
    truth = phones.truth_track(PHONES, TIMES)
    v = track(0.5)
    for p in PHONES:
        if p.symbol in phones.BILABIALS:
            m = (TIMES >= p.start) & (TIMES < p.end)
            v[m, C] = 0.5
    s = scores(v, truth)
    assert s["bilabial_recall"] == 1.0 and s["bilabial_precision"] == 1.0
    assert s["nonlabial_closed"] == 0.0


def test_truth_closes_lips_at_bilabials_and_opens_vowels():
    truth = phones.truth_track(PHONES, TIMES)
    shut = metrics.closed(truth)
    for p in PHONES:
        mid = int(round(0.5 * (p.start + p.end) * FPS))
        if p.symbol in phones.BILABIALS:
            assert shut[mid] and truth[mid, J] - truth[mid, C] == pytest.approx(0.0, abs=1e-6)
        if p.symbol in ("AA", "AH"):
            assert not shut[mid] and truth[mid, J] >= 0.45


def test_table_covers_the_aligner_phones_and_converts_to_arkit():
    from marionette.core.speech.phonesets import phoneset

    arpabet = {a for out in phoneset("cmu").table.values() for a in out} - phones.SILENCES
    assert arpabet and arpabet <= set(phones.MM), arpabet - set(phones.MM)
    assert phones.targets("AA")[0].jaw == pytest.approx(13 / phones.JAW_FULL_MM)
    assert phones.targets("HH") is None
    with pytest.raises(KeyError, match="not in the articulation table"):
        phones.targets("QQ")


def test_scorer_shares_no_code_with_the_teacher():
    root = Path(phones.__file__).parent
    for f in root.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for n in names:
                assert "teacher" not in n and not n.endswith("corpus.metrics"), (f.name, n)


@pytest.mark.slow
def test_end_to_end_on_real_speakers():
    from marionette.tools.articulation.evaluate import evaluate

    truth = evaluate("truth", "real", limit=6)
    assert truth["r_within_speech"] == pytest.approx(1.0) and truth["bilabial_recall"] == 1.0
    assert truth["n_speakers"] >= 2 and truth["n_bilabials"] > 5
    env = evaluate("envelope", "real", limit=6)
    assert 0.0 < env["r_within_speech"] < 0.95
    assert set(env["per_speaker"]) == set(truth["per_speaker"])


def test_openfacefx_peer_with_the_words_closes_every_bilabial():
    pytest.importorskip("openfacefx", reason="peer tool: pip install marionette[peers]")
    from types import SimpleNamespace

    from marionette.tools.articulation import peers

    pred = peers.predictor("openfacefx")(SimpleNamespace(phones=PHONES), None, N)
    s = scores(pred)
    assert s["bilabial_recall"] == 1.0 and s["r_within_speech"] > 0.5


@pytest.mark.slow
def test_export_then_score_tracks_made_elsewhere(tmp_path):
    """--export writes the split's audio and words; tracks:DIR scores tracks another tool made for them
    (here the truth itself written as marionette motion files at 30 fps: nearly perfect)."""
    from marionette.core.track import MotionTrack
    from marionette.tools.articulation.evaluate import evaluate, export, utterances

    names = export("real", str(tmp_path), limit=2)
    assert [p.name for p in sorted(tmp_path.glob("*.wav"))] == sorted(f"{n}.wav" for n in names)
    for u in utterances("real", limit=2):
        t = np.arange(int(u.audio.duration * 30)) / 30
        MotionTrack(30.0, phones.truth_track(u.phones, t)).save(tmp_path / f"{u.name}.json")
    r = evaluate(f"tracks:{tmp_path}", "real", limit=2)
    assert r["r_within_speech"] > 0.97 and r["bilabial_recall"] == 1.0 and abs(r["lag_ms"]) <= 10
    (tmp_path / f"{names[0]}.json").unlink()
    with pytest.raises(Exception, match="no track for utterance"):
        evaluate(f"tracks:{tmp_path}", "real", limit=2)
