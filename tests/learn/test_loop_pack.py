"""Issue 13: a lo-fi loop pack (chord loops, melody loops, drum loops; type 0 and type 1) imports into
the right models with the right keys, and a fine-tune on it writes a complete, usable model folder."""

from __future__ import annotations

import pytest

from tests.fixtures.loops import write_chord_loop, write_loop_pack


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pack")
    write_loop_pack(folder, chord_loops=4)
    return folder


@pytest.fixture
def one_torch_thread():
    """Train on one thread, as the README advises on a shared CPU (torch's thread per core is many
    times slower there), and give the setting back."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_each_loop_feeds_the_right_models_in_the_right_key(pack):
    from app.learn.corpus import load_corpus

    corpus = load_corpus(pack, jobs=1, use_cache=False)
    assert corpus.skipped == []
    fed = corpus.fed
    for i in range(4):
        for label in ("type1", "type0", "rolled", "arp"):  # chords alone are enough
            assert fed[f"chords_{label}_{i}.mid"] == ("chord",), label
    assert fed["melody_only.mid"] == ("melody",)
    assert fed["drums.mid"] == ("drum",)
    assert fed["key_change.mid"] == ("chord", "melody")
    assert fed["melody_ch10.mid"] == ("chord", "melody")
    assert fed["one_bar.mid"] == ("chord", "melody")

    keys = {p.name: (p.key, p.mode) for p in corpus.pieces}
    for i in range(4):  # the ii-V-I-vi loops in C, G, D, A: the G7 says C major, not E or A minor
        for label in ("type1", "type0", "rolled", "arp"):
            assert keys[f"chords_{label}_{i}.mid"] == ((i * 7) % 12, "major"), label
    assert keys["melody_only.mid"] == (2, "major")
    assert keys["key_change.mid [bars 1-8]"] == (0, "major")
    assert keys["key_change.mid [bars 9-16]"] == (8, "major")
    assert keys["melody_ch10.mid"] == (5, "major")
    assert keys["one_bar.mid"] == (7, "major")

    pieces = {p.name: p for p in corpus.pieces}
    from app.learn import encoding

    # The voicing track is the harmony (not the melody): Dm9-ish, G13, Cmaj9, Am9, a bar each.
    for label in ("type1", "type0", "rolled", "arp"):
        chords = encoding.decode_progression(pieces[f"chords_{label}_0.mid"].chords, 0)
        assert [(c.root, c.duration) for c in chords] == [(2, 4.0), (7, 4.0), (0, 4.0), (9, 4.0)], label
    # The channel-10 melody is the melody, not the chords' top notes: it opens on the tonic (F5).
    ch10 = pieces["melody_ch10.mid"].melody
    assert encoding.decode_pitch(int(ch10[0, 0]), 5) == 77
    assert len(pieces["one_bar.mid"].chords) == 2 and len(pieces["one_bar.mid"].melody) == 4
    assert len(corpus.drums) == 1 and len(corpus.drums[0].drums) == 2 * 16  # two bars of 16ths

    summary = corpus.summary()
    assert "21 files imported, 0 skipped" in summary
    assert "chord model: 19 files" in summary and "melody model: 4 files" in summary
    assert "drum model: 1 file, 2 bars" in summary


def test_a_file_that_feeds_nothing_says_why(tmp_path):
    """Only a bass line: nothing for any model, and the reason names what is missing."""
    import mido

    from app.learn.corpus import load_corpus

    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    track = mido.MidiTrack()
    for p in (36, 43, 41, 43) * 2:
        track += [mido.Message("note_on", note=p, velocity=90, time=0), mido.Message("note_off", note=p, time=1920)]
    mid.tracks.append(track)
    mid.save(tmp_path / "bass.mid")
    corpus = load_corpus(tmp_path, jobs=1, use_cache=False)
    assert dict(corpus.skipped) == {"bass.mid": "no chord part; no melodic line (no monophonic line of 4+ notes "
                                                "besides the chord voicings and the bass)"}


def test_augmentation_adds_only_new_tokens_and_never_validates(tmp_path):
    from app.learn.corpus import load_corpus, split_pieces
    from tests.fixtures.loops import write_melody_loop

    for i in range(6):
        write_chord_loop(tmp_path / f"c{i}.mid", key=i)
        write_melody_loop(tmp_path / f"m{i}.mid", key=i)
    plain = load_corpus(tmp_path, jobs=1, use_cache=False)
    more = load_corpus(tmp_path, jobs=1, use_cache=False, augment=True)
    assert not any(p.augmented for p in plain.pieces)
    copies = [p for p in more.pieces if p.augmented]
    assert copies and more.melody_tokens > plain.melody_tokens
    seen = set()
    for p in more.pieces:  # no copy repeats tokens already kept for its file
        for arr in (p.melody, p.chords):
            if len(arr):
                assert (p.group, arr.tobytes()) not in seen
                seen.add((p.group, arr.tobytes()))
    train, val = split_pieces(more.pieces, 0.2, seed=0)
    assert val and not any(p.augmented for p in val)
    assert not {p.group for p in val} & {p.group for p in train}


def test_fine_tune_on_the_pack_writes_a_complete_folder_that_moves_toward_the_pack(pack, tmp_path, capsys,
                                                                                    monkeypatch, one_torch_thread):
    """train --midi-dir PACK --init-from models: a complete folder (the drum model too: the pack's one
    drum loop trains it; with --models chords,melody it is copied), used by generate_music, whose
    chord model writes progressions closer to the pack's (sevenths and ninths, a chord a bar)."""
    from app import paths
    from app.learn.checkpoint import load_checkpoint
    from app.learn.corpus import load_corpus
    from app.learn.finetune import distance_to_pack, progression_figures, pack_figures
    from app.learn.checkpoint import load_sampling_model
    from app.main import main

    monkeypatch.setattr("app.main.FINE_TUNE_MINUTES", 0.25)  # the figures' songs: few and short, to keep it fast
    monkeypatch.setattr("app.main.FINE_TUNE_SONGS", 3)
    out = tmp_path / "mine"
    code = main(["train", "--midi-dir", str(pack), "--init-from", str(paths.MODELS_DIR), "--out-dir", str(out),
                 "--models", "chords,melody", "--epochs", "3", "--lr", "2e-3", "--jobs", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "drum: copied from" in printed and "it was not trained" in printed
    assert "what changed" in printed and "distance to the pack" in printed
    for kind in ("chord", "melody", "drum"):
        assert (out / f"{kind}_lstm.pt").exists() and (out / f"{kind}_lstm.npz").exists()
    _, payload = load_checkpoint(out / "chord_lstm.pt", "chord")
    assert payload["init_from"]["file"].endswith("chord_lstm.pt") and len(payload["init_from"]["sha256"]) == 16

    pieces = load_corpus(pack, jobs=1, use_cache=False).pieces
    pack_fig = pack_figures(pieces)
    names = ("triad_share", "seventh_share", "extended_share", "changes_per_bar")

    def distance(folder):
        f = progression_figures(load_sampling_model(folder / "chord_lstm.pt", "chord"), count=10, seed=3)
        return distance_to_pack({k: {"v": f[k], "pack": pack_fig[k]} for k in names}, "v")

    assert distance(out) < distance(paths.MODELS_DIR) - 0.2

    # generate_music uses the folder: a short track's sidecar names its models and their hashes.
    from app.music.compose import compose_song, load_models

    models = load_models(out / "chord_lstm.pt", out / "melody_lstm.pt", out / "drum_lstm.pt")
    song = compose_song(models, key=2, mode="minor", bpm=85, minutes=0.2, seed=1)
    assert song.chords and song.melody()


def test_models_dir_points_generation_and_the_sidecar_at_a_folder(tmp_path, monkeypatch):
    """generate_music --models-dir DIR (like LOFI_MODELS_DIR): the models load from DIR and the
    sidecar's inputs name each model file there with its content hash."""
    from app import paths
    from app.deliver.replay import input_hashes
    from app.files import cached_sha256
    from app.learn.finetune import complete_model_dir
    from app.main import build_parser
    from app.spec import TrackSpec

    for name in ("MODELS_DIR", "CHORD_CHECKPOINT", "MELODY_CHECKPOINT", "DRUM_CHECKPOINT"):
        monkeypatch.setattr(paths, name, getattr(paths, name))
    monkeypatch.setenv("LOFI_MODELS_DIR", str(paths.MODELS_DIR))
    folder = tmp_path / "mine"
    assert complete_model_dir(folder, paths.MODELS_DIR) == ["melody", "chord", "drum"]  # an empty folder: all copied
    assert complete_model_dir(folder, paths.MODELS_DIR) == []
    assert build_parser().parse_args(["generate_music", "--models-dir", str(folder)]).models_dir == str(folder)

    paths.use_models_dir(folder)
    from app.choices import resolve_choices

    spec = TrackSpec(name="t", seed=3, minutes=0.1)
    hashes = input_hashes(spec, resolve_choices(spec))
    for kind in ("chord", "melody", "drum"):
        for role, file in ((f"{kind}.checkpoint", folder / f"{kind}_lstm.pt"),
                           (f"{kind}.sampling_weights", folder / f"{kind}_lstm.npz")):
            assert hashes[role] == {"file": str(file), "sha256": cached_sha256(file)}
    import os

    assert os.environ["LOFI_MODELS_DIR"] == str(folder)  # batch workers see it too


def test_key_signature_events_split_a_short_file(tmp_path):
    """Key signature events are trusted even in short files (the notes alone need 4+ bars a side):
    4 bars in C, then 4 in Eb, each segment encoded in its own key."""
    import mido

    from app.learn.corpus import import_midi_file
    from tests.fixtures.loops import TPB, _notes, _track, pop_section

    c1, m1 = pop_section(0, 0, 4)
    c2, m2 = pop_section(3, 4, 4)
    mid = mido.MidiFile(type=1, ticks_per_beat=TPB)
    meta = [mido.MetaMessage("key_signature", key="C"), mido.MetaMessage("key_signature", key="Eb", time=16 * TPB)]
    mid.tracks.append(_track([], "meta", meta=meta))
    mid.tracks.append(_track(_notes(m1 + m2, 0), "Lead"))
    mid.tracks.append(_track(_notes(c1 + c2, 1), "Piano"))
    mid.save(tmp_path / "sig.mid")
    result = import_midi_file(tmp_path / "sig.mid")
    assert [(p.name, p.key, p.mode) for p in result.pieces] == [("sig.mid [bars 1-4]", 0, "major"),
                                                                 ("sig.mid [bars 5-8]", 3, "major")]
    assert result.fed == ("chord", "melody")


def test_training_a_small_pack_from_scratch_warns_and_completes_the_folder(pack, tmp_path, capsys,
                                                                          one_torch_thread):
    """No --init-from: the few events get a warning suggesting it; the pack's drum loop trains the
    drum model; the melody model, not asked for, is copied from the current models."""
    from app.main import main

    out = tmp_path / "scratch"
    assert main(["train", "--midi-dir", str(pack), "--out-dir", str(out), "--models", "chords,drums", "--epochs", "1",
                 "--max-steps", "1", "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "warning:" in printed and "too few to train the chord model from scratch" in printed
    assert "--init-from" in printed
    assert "drum epoch 1" in printed  # the folder's drums, not data/groove
    assert "melody: copied from" in printed and "it was not trained" in printed
    assert "what changed" not in printed  # figures compare with a starting point: only for fine-tunes
    for kind in ("chord", "melody", "drum"):
        assert (out / f"{kind}_lstm.npz").exists()


def test_the_bass_picks_the_root_and_makes_slash_chords():
    """C-E-G-A over A is Am7 (the bass picks among readings of the same notes); C-E-G over E is C/E."""
    from app.learn.parts import harmony_with_bass
    from app.music.song import Note

    voicing = [Note(p, 0.0, 4.0, 60) for p in (60, 64, 67, 69)] + [Note(p, 4.0, 4.0, 60) for p in (60, 64, 67)]
    bass = [Note(45, 0.0, 4.0, 90), Note(40, 4.0, 4.0, 90)]
    chords = harmony_with_bass(voicing, bass, 8.0, 2.0)
    assert [(c.symbol, c.start, c.duration) for c in chords] == [("Am7", 0.0, 4.0), ("C/E", 4.0, 4.0)]
