"""Song <-> tokens <-> MIDI round trips, corpus import, training, sampling and checkpoints."""

from pathlib import Path

import numpy as np
import pytest

from app.learn import encoding
from app.music import theory
from app.music.midi_io import read_midi, write_midi
from app.music.song import Note
from tests.music_fixtures import little_song, write_folk_midi


def test_theory_names_and_chords():
    assert theory.pitch_class("F#") == 6 and theory.pitch_class("bb") == 10
    assert theory.parse_chord_symbol("Am7") == (9, "min7")
    for q in ("maj", "min", "dom7", "maj7", "min7", "hdim7", "dim", "sus4", "sus2"):
        assert theory.parse_chord_symbol(theory.chord_symbol(4, q)) == (4, q)
    assert theory.name_chord({0, 4, 7, 11}) == (0, "maj7")
    assert theory.name_chord({2, 5, 9}, bass_pc=2) == (2, "min")
    assert theory.name_chord({7, 11, 2, 5}) == (7, "dom7")


def test_song_to_tokens_to_song_round_trip():
    song = little_song(key=2, mode="major")
    # Bin centres survive the velocity quantisation exactly.
    melody = [Note(n.pitch, n.start, n.duration, encoding.decode_velocity(encoding.encode_velocity(n.velocity)))
              for n in song.melody()]
    tokens = encoding.encode_melody(melody, song.chords, song.key, song.mode)
    assert tokens.shape[1] == 6
    assert encoding.decode_melody(tokens, song.key) == melody
    prog = encoding.encode_progression(song.chords, song.key, song.mode)
    assert encoding.decode_progression(prog, song.key) == song.chords


def test_tokens_are_key_relative():
    a, b = little_song(key=0), little_song(key=5)
    ta = encoding.encode_melody(a.melody(), a.chords, a.key, a.mode)
    tb = encoding.encode_melody(b.melody(), b.chords, b.key, b.mode)
    assert np.array_equal(ta, tb)
    assert np.array_equal(encoding.encode_progression(a.chords, 0, "minor"), encoding.encode_progression(b.chords, 5, "minor"))


def test_rests_and_dotted_durations_encode():
    notes = [Note(60, 0, 0.75, 64), Note(62, 2.0, 1.5, 64)]  # dotted 8th, a rest, dotted quarter
    tokens = encoding.encode_melody(notes, [], 0, "major")
    assert [encoding.decode_duration(t) for t in tokens[:, 1]] == [3, 4, 1, 6]
    assert tokens[1, 0] == encoding.REST


def test_song_to_midi_to_song(tmp_path):
    song = little_song()
    path = write_midi(song, tmp_path / "song.mid")
    back = read_midi(path)
    assert back == song
    import mido

    names = [t.name for t in mido.MidiFile(str(path)).tracks]
    assert names == ["melody", "chords", "bass"]


def test_midi_write_is_byte_identical(tmp_path):
    song = little_song()
    a = write_midi(song, tmp_path / "a.mid").read_bytes()
    b = write_midi(song, tmp_path / "b.mid").read_bytes()
    assert a == b
    assert not list(tmp_path.glob(".*partial*"))


def test_chorale_import():
    from app.learn.corpus import load_corpus

    corpus = load_corpus(limit=3, jobs=1, use_cache=False)
    assert len(corpus.pieces) == 3
    for piece in corpus.pieces:
        assert len(piece.melody) > 20 and len(piece.chords) > 10
        assert piece.mode in ("major", "minor")
        # Soprano notes on beats are mostly tones of the harmony named under them (the three
        # chorales here: all of them); a chord or key misread would leave about a third.
        m = piece.melody
        on_beat = m[(m[:, 4] % 4 == 0) & (m[:, 3] > 0) & (m[:, 0] != encoding.REST)]
        assert len(on_beat) > 10
        tones = 0
        for row in on_beat:
            degree, quality = divmod(int(row[3]) - 1, len(encoding.QUALITIES))
            chord = theory.chord_pitch_classes((piece.key + degree) % 12, encoding.QUALITIES[quality])
            tones += encoding.decode_pitch(int(row[0]), piece.key) % 12 in chord
        assert tones >= 0.8 * len(on_beat)


def test_midi_folder_import_skips_bad_files(tmp_path):
    from app.learn.corpus import load_corpus

    write_folk_midi(tmp_path / "good_c.mid")
    write_folk_midi(tmp_path / "good_g.mid", key_offset=-5)
    (tmp_path / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (tmp_path / "empty.mid").write_bytes(b"")
    corpus = load_corpus(tmp_path, jobs=1, use_cache=False)
    assert sorted(p.name for p in corpus.pieces) == ["good_c.mid", "good_g.mid"]
    skipped = dict(corpus.skipped)
    assert set(skipped) == {"corrupt.mid", "empty.mid"}
    assert all(reason for reason in skipped.values())
    keys = {p.name: (p.key, p.mode) for p in corpus.pieces}
    assert keys["good_c.mid"] == (0, "major") and keys["good_g.mid"] == (7, "major")
    # Key-relative: the same tune in two keys gives the same tokens.
    a, b = corpus.pieces
    assert np.array_equal(a.melody[:, :3], b.melody[:, :3])


def test_corpus_cache_hits(tmp_path, monkeypatch):
    from app.learn import corpus as corpus_mod

    monkeypatch.setattr(corpus_mod.paths, "CACHE_DIR", tmp_path / "cache")
    write_folk_midi(tmp_path / "a.mid")
    write_folk_midi(tmp_path / "b.mid", key_offset=2)
    first = corpus_mod.load_corpus(tmp_path, jobs=1)
    assert list((tmp_path / "cache").glob("corpus-*.pkl"))
    monkeypatch.setattr(corpus_mod, "_run_imports", lambda *a: pytest.fail("cache was not used"))
    second = corpus_mod.load_corpus(tmp_path, jobs=1)
    assert second.fingerprint == first.fingerprint and len(second.pieces) == 2


def test_evaluation_figures_on_a_known_song():
    from app.report.evaluate import interval_windows, repetitiveness, song_figures

    song = little_song(key=9, mode="minor")
    f = song_figures(song)
    assert f["notes"] == 16 and f["scale_hits"] == 16  # the fixture melody is in A minor
    assert f["on_beat"] == 16
    assert 0 < f["chord_hits"] <= 16
    # An 8-note figure repeated is perfectly repetitive; transposing does not change interval windows.
    assert repetitiveness([60, 62, 64, 65, 67, 65, 64, 62, 60, 59] * 3) == [1.0] * 11
    assert interval_windows([60, 62, 64] * 6) == interval_windows([67, 69, 71] * 6)
