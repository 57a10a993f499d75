"""Training lowers the loss, sampling is deterministic, checkpoints describe and check themselves."""


import pytest

from app.errors import CheckpointError
from tests.fixtures.music import write_folk_midi


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    from app.learn.corpus import load_corpus

    folder = tmp_path_factory.mktemp("midis")
    for i, offset in enumerate([0, 2, -3, 5, -5, 4]):
        write_folk_midi(folder / f"tune{i}.mid", key_offset=offset, bars=8 + i)
    return load_corpus(folder, jobs=1, use_cache=False)


@pytest.fixture(scope="module")
def trained(tiny_corpus, tmp_path_factory):
    from app.learn.train import TrainConfig, train_model

    out = tmp_path_factory.mktemp("models")
    cfg = TrainConfig(epochs=6, batch_size=8, window=32, out_dir=out, patience=10, val_fraction=0.2)
    results = {k: train_model(k, tiny_corpus, cfg, log=lambda *_: None) for k in ("chord", "melody")}
    return out, results


def test_training_lowers_loss(trained):
    _, results = trained
    for kind, r in results.items():
        history = r["history"]
        assert history[-1]["train_loss"] < history[0]["train_loss"], kind
        assert r["best_val_loss"] < history[0]["val_loss"] + 1e-9, kind


def test_checkpoint_describes_itself(trained, tiny_corpus):
    from app.learn.checkpoint import load_checkpoint

    out, _ = trained
    model, payload = load_checkpoint(out / "melody_lstm.pt", "melody")
    assert payload["data_fingerprint"] == tiny_corpus.fingerprint
    assert set(payload["val_loss_per_head"]) == {"note", "duration", "velocity"}
    assert payload["model_config"]["hidden"] == model.cfg.hidden
    assert (out / "melody_lstm.last.pt").exists()


def test_resume_continues_from_last_epoch(trained, tiny_corpus):
    from app.learn.train import TrainConfig, train_model

    out, results = trained
    cfg = TrainConfig(epochs=7, batch_size=8, window=32, out_dir=out, patience=10, val_fraction=0.2)
    r = train_model("chord", tiny_corpus, cfg, resume=True, log=lambda *_: None)
    assert r["epochs_run"] == results["chord"]["epochs_run"] + 1


def test_same_seed_same_song_different_seed_different(trained):
    from app.music.compose import compose_song, load_models

    out, _ = trained
    models = load_models(out / "chord_lstm.pt", out / "melody_lstm.pt")
    a = compose_song(models, key=2, mode="minor", bpm=80, minutes=0.5, seed=7)
    b = compose_song(models, key=2, mode="minor", bpm=80, minutes=0.5, seed=7)
    c = compose_song(models, key=2, mode="minor", bpm=80, minutes=0.5, seed=8)
    assert a == b
    assert a.melody() != c.melody() or a.chords != c.chords


def test_composed_song_meets_length_key_and_scale(trained):
    from app.music import theory
    from app.music.compose import compose_song, load_models

    out, _ = trained
    models = load_models(out / "chord_lstm.pt", out / "melody_lstm.pt")
    song = compose_song(models, key=10, mode="major", bpm=84, minutes=1.0, seed=1)
    assert abs(song.length_seconds - 60.0) <= 4 * 60 / 84  # within one bar
    assert song.key == 10 and song.mode == "major" and song.tempo_bpm == 84
    scale = theory.scale_pitch_classes(10, "major")
    assert all(n.pitch % 12 in scale for n in song.melody())  # the in-key constraint
    assert song.chords[0].root == 10  # the progression opens on the tonic
    assert song.sections[0].name == "intro" and song.sections[-1].name == "outro"
    assert song.chords[-1].root == 10  # the outro resolves
    # Each section carries the layers it plays; the parts keep to them (the mix gates the beat so).
    assert song.sections[0].layers == {"chords"}
    assert all({"beat", "melody"} <= s.layers for s in song.sections if s.name == "A")
    for part in ("melody", "bass"):
        for note in song.parts[part].notes:
            section = next(s for s in song.sections if s.start <= note.start < s.end)
            assert part in section.layers, (part, note, section)


def test_mismatched_checkpoint_fails_clearly(trained, tmp_path):
    import torch

    from app.learn.checkpoint import load_checkpoint

    out, _ = trained
    payload = torch.load(out / "melody_lstm.pt", weights_only=False)
    payload["vocab"]["note"] += 5
    bad = tmp_path / "bad_vocab.pt"
    torch.save(payload, bad)
    with pytest.raises(CheckpointError, match="bad_vocab.pt"):
        load_checkpoint(bad, "melody")
    payload = torch.load(out / "melody_lstm.pt", weights_only=False)
    payload["model_config"]["hidden"] = 64
    bad = tmp_path / "bad_shape.pt"
    torch.save(payload, bad)
    with pytest.raises(CheckpointError, match="bad_shape.pt.*shape"):
        load_checkpoint(bad, "melody")
    with pytest.raises(CheckpointError, match="not a chord model"):
        load_checkpoint(out / "melody_lstm.pt", "chord")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt", "chord")


def test_numpy_port_matches_torch_logits(trained):
    """Sampling runs the numpy port; it must compute what the trained torch modules compute."""
    import numpy as np
    import torch

    from app.learn.checkpoint import load_checkpoint, load_sampling_model

    out, _ = trained
    rng = np.random.default_rng(0)
    for kind, n_inputs in (("melody", 6), ("chord", 4)):
        torch_model, _ = load_checkpoint(out / f"{kind}_lstm.pt", kind)
        port = load_sampling_model(out / f"{kind}_lstm.pt", kind)
        cfg = torch_model.cfg
        highs = ([cfg.note_vocab, cfg.duration_vocab, cfg.velocity_vocab, cfg.chord_vocab, cfg.position_vocab,
                  cfg.mode_vocab] if kind == "melody" else [cfg.symbol_vocab, cfg.duration_vocab, cfg.position_vocab,
                                                            cfg.mode_vocab])
        steps = np.stack([rng.integers(0, h, 12) for h in highs], axis=1)
        with torch.no_grad():
            expected, _ = torch_model(*[torch.tensor(steps[None, :, i]) for i in range(n_inputs)])
        state = None
        for t, row in enumerate(steps):
            got, state = port.step(*[int(x) for x in row], state)
            for head_np, head_torch in zip(got, expected):
                np.testing.assert_allclose(head_np, head_torch[0, t].numpy(), rtol=1e-4, atol=1e-4)


def test_mismatched_sampling_weights_fail_clearly(trained, tmp_path):
    import numpy as np

    from app.learn.checkpoint import load_sampling_model

    out, _ = trained
    with np.load(out / "chord_lstm.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["symbol_head.bias"] = arrays["symbol_head.bias"][:-3]
    np.savez(tmp_path / "cut.npz", **arrays)
    with pytest.raises(CheckpointError, match="cut.npz.*symbol_head.bias"):
        load_sampling_model(tmp_path / "cut.npz", "chord")
    with pytest.raises(CheckpointError, match="not a melody model"):
        load_sampling_model(out / "chord_lstm.npz", "melody")
    with pytest.raises(CheckpointError, match="nothere.npz not found"):
        load_sampling_model(tmp_path / "nothere.pt", "chord")
