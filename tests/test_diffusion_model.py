"""Training, resuming and exporting the diffusion model on a synthetic corpus (needs torch: the
`train` extra). A tiny network learns a toy audio->jaw rule in seconds; the exported ONNX then runs in
the torch-free streaming runtime and must carry what was learned."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed (pip install 'marionette[train]')")

from marionette.core.generators.diffusion import DiffusionGenerator  # noqa: E402
from marionette.core.motion_space import CHANNEL_INDEX  # noqa: E402
from marionette.core.types import AudioFeatures, Emotion  # noqa: E402
from marionette.models.diffusion.data import DataConfig, synthetic_corpus  # noqa: E402
from marionette.models.diffusion.export import export  # noqa: E402
from marionette.models.diffusion.network import NetConfig  # noqa: E402
from marionette.models.diffusion.train import RuntimeDefaults, TrainConfig, train  # noqa: E402

TINY = NetConfig(d_model=48, n_layers=2, n_heads=4, d_ff=96, d_audio_row=8)
FAST = TrainConfig(steps=30, batch=32, eval_every=10, ckpt_every=10, warmup=10, threads=1)


def _features(u):
    a = u.audio
    return AudioFeatures(mel=a[:, :80], loudness=a[:, 80], f0=np.zeros(len(a), np.float32), vad=a[:, 83])


def test_resume_continues_exactly(tmp_path):
    utts = synthetic_corpus(6, 0, seconds=3.0)
    straight = train(utts[:5], utts[5:], tmp_path / "a", train_cfg=FAST, data_cfg=DataConfig(), net_cfg=TINY,
                     progress=False)
    half = train(utts[:5], utts[5:], tmp_path / "b", train_cfg=FAST, data_cfg=DataConfig(), net_cfg=TINY,
                 progress=False, stop_after=20)
    resumed = train(utts[:5], utts[5:], tmp_path / "b", train_cfg=FAST, data_cfg=DataConfig(), net_cfg=TINY,
                    resume=half, progress=False)
    a, b = torch.load(straight, weights_only=False), torch.load(resumed, weights_only=False)
    assert a["step"] == b["step"] == 30
    for k in a["ema"]:
        torch.testing.assert_close(a["ema"][k], b["ema"][k], rtol=1e-5, atol=1e-6)  # float rounding only
    assert (tmp_path / "b" / "loss.csv").read_text().count("\n") == 4  # header + steps 10, 20, 30
    assert (tmp_path / "b" / "loss.png").stat().st_size > 1000


def test_speaker_normalisation_switched_on_for_a_fine_tune_reaches_the_runtime(tmp_path):
    """--mel-norm on a resumed model: the prior comes from the corpus, the exported config carries it,
    and the runtime then normalises the stream."""
    import json

    utts = synthetic_corpus(4, 2, seconds=3.0)
    base = train(utts[:3], utts[3:], tmp_path / "a", train_cfg=FAST, data_cfg=DataConfig(), net_cfg=TINY,
                 progress=False, stop_after=10)
    tuned = train(utts[:3], utts[3:], tmp_path / "a", train_cfg=FAST, data_cfg=DataConfig(mel_norm_frames=40),
                  net_cfg=TINY, resume=base, progress=False)
    state = torch.load(tuned, weights_only=False)
    assert state["data"]["mel_norm_frames"] == 40 and len(state["stats"]["mel_prior"]) == 80
    export(tuned, tmp_path / "a", runtime=RuntimeDefaults())
    doc = json.loads((tmp_path / "a" / "diffusion.json").read_text())
    assert doc["runtime"]["mel_norm"]["prior_frames"] == 40
    gen = DiffusionGenerator.load(tmp_path / "a")
    assert gen.spec.mel_norm is not None and len(gen.push(_features(utts[3])) + gen.flush()) > 0


@pytest.mark.slow
def test_learns_audio_and_emotion_and_exports(tmp_path):
    utts = synthetic_corpus(24, 1, seconds=4.0)
    cfg = TrainConfig(steps=250, batch=48, eval_every=50, ckpt_every=250, threads=2)
    ckpt = train(utts[:20], utts[20:], tmp_path, train_cfg=cfg, data_cfg=DataConfig(), net_cfg=TINY, progress=False)
    rows = (tmp_path / "loss.csv").read_text().splitlines()
    first, last = float(rows[1].split(",")[2]), float(rows[-1].split(",")[2])
    assert last < 0.5 * first, rows
    export(ckpt, tmp_path, runtime=RuntimeDefaults(hop=2, steps=2))
    held_out = utts[21]
    gen = DiffusionGenerator.load(tmp_path, seed=3)
    frames = gen.push(_features(held_out)) + gen.flush()
    jaw = np.array([f["jawOpen"] for f in frames])
    truth = held_out.motion[: len(jaw), CHANNEL_INDEX["jawOpen"]]
    assert np.corrcoef(jaw, truth)[0, 1] > 0.7
    # Emotion condition: the toy rule is "happy smiles".
    gen = DiffusionGenerator.load(tmp_path, seed=3)
    gen.set_emotion(Emotion("happy"), blend=0.0)
    happy = gen.push(_features(held_out)) + gen.flush()
    assert np.mean([f["mouthSmileLeft"] for f in happy[10:]]) > 0.3
    assert np.mean([f["mouthSmileLeft"] for f in frames[10:]]) < 0.15


def test_train_command_on_corpus_shards(tmp_path, capsys):
    """`marionette train` end to end on real shard files (tools.corpus.shards format), then the runtime loads it."""
    import json

    from marionette.tools.corpus.shards import CorpusUtterance, write_shard
    from marionette.core.track import MotionTrack
    from marionette.plugin.cli import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shards = {}
    for split, utts in (("train", synthetic_corpus(4, 5, seconds=3.0)), ("heldout", synthetic_corpus(1, 6, seconds=3.0))):
        rows = []
        for u in utts:
            a = u.audio
            f0 = np.where(a[:, 82] > 0, 100 * 2 ** a[:, 81], 0).astype(np.float32)
            rows.append(CorpusUtterance(u.name, AudioFeatures(a[:, :80], a[:, 80], f0, a[:, 83]),
                                        MotionTrack(u.fps, u.motion), [], {"emotion": {"label": "happy", "intensity": 0.5}}))
        write_shard(corpus / f"{split}-00000.npz", rows)
        shards[split] = [f"{split}-00000.npz"]
    (corpus / "manifest.json").write_text(json.dumps({"shards": shards}))
    out = tmp_path / "model"
    assert main(["train", "--corpus", str(corpus), "--out", str(out), "--steps", "12", "--batch", "16",
                 "--size", "small", "--threads", "1", "--quiet"]) == 0
    assert "4 utterances" in capsys.readouterr().out
    for name in ("diffusion.pt", "diffusion.onnx", "diffusion.json", "loss.csv", "loss.png"):
        assert (out / name).exists(), name
    gen = DiffusionGenerator.load(out, fps=30.0)
    frames = gen.push(_features(synthetic_corpus(1, 7, seconds=2.0)[0])) + gen.flush()
    assert abs(len(frames) - 60) <= 2 and all(np.isfinite(f.to_vector()).all() for f in frames)
    # Resuming needs an existing checkpoint, and says so.
    assert main(["train", "--corpus", str(corpus), "--out", str(out), "--resume", str(tmp_path / "nope.pt")]) == 2
