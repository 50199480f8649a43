"""`marionette bench generator`: the diffusion generator's cost per output frame on one pinned core."""

from __future__ import annotations

from pathlib import Path

from marionette.core.generators.diffusion import DiffusionGenerator, DiffusionModel
from marionette.tools.bench import pinned_core


def bench_generator(seconds: float = 20.0, steps_list: tuple[int, ...] = (1, 2, 4, 8),
                    model_dir: str | Path | None = None, repeats: int = 3) -> dict:
    """`marionette bench generator`: amortised ms per output frame on one pinned core (20 ms audio
    pushes through the real feature extractor, generator cost only), first-frame delay (audio start ->
    first frame out, feature and generator compute included) and lookahead, per sampling-step count."""
    import time

    from marionette.tools.bench.audio import _speechlike
    from marionette.core.audio.features import StreamingFeatureExtractor
    from marionette.core.types import AudioChunk

    with pinned_core():
        model = DiffusionModel.load(model_dir)
        x = _speechlike(seconds)
        chunk = 320  # 20 ms at 16 kHz
        ex = StreamingFeatureExtractor.load()
        feats = []
        for i in range(0, x.size, chunk):
            feats.append(ex.push(AudioChunk(x[i:i + chunk], 16000, t=i / 16000)))
        feats.append(ex.flush())
        out: dict = {"model_fps": model.spec.fps, "hop_frames": model.spec.hop, "default_steps": model.spec.steps,
                     "guidance": model.spec.guidance}
        for steps in steps_list:
            gen = DiffusionGenerator(model, steps=steps)
            walls, cpus, delays = [], [], []
            for _ in range(repeats):
                gen.reset()
                n, wall, cpu, first_delay = 0, 0.0, 0.0, None
                for k, f in enumerate(feats):
                    t0, c0 = time.perf_counter(), time.thread_time()
                    frames = gen.push(f) if k + 1 < len(feats) else gen.push(f) + gen.flush()
                    dt = time.perf_counter() - t0
                    wall += dt
                    cpu += time.thread_time() - c0
                    n += len(frames)
                    if frames and first_delay is None:
                        # Audio up to the end of chunk k has arrived; the features for it and this push ran.
                        first_delay = (k + 1) * chunk / 16000 + dt
                walls.append(wall / max(n, 1))
                cpus.append(cpu / max(n, 1))
                delays.append(first_delay if first_delay is not None else float("nan"))
            # Best of the repeats: on a shared machine the slower runs measure the neighbours, not us.
            out[f"steps{steps}_ms_per_frame"] = round(1000 * min(walls), 3)
            out[f"steps{steps}_cpu_ms_per_frame"] = round(1000 * min(cpus), 3)
            out[f"steps{steps}_first_frame_delay_ms"] = round(1000 * min(delays), 1)
        out["lookahead_ms"] = round(1000 * DiffusionGenerator(model).lookahead, 1)
        out["frames_per_run"] = n
        return out
