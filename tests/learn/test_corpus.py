"""Corpus import (app/learn/corpus.py): the chorales, a MIDI folder with bad files, the cache."""


import numpy as np
import pytest

from app.learn import encoding
from app.music import theory
from tests.fixtures.music import write_folk_midi


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


def test_chorale_paths_are_music21s_list_without_importing_it():
    """The same files (so the same cache fingerprint) as music21's corpus.getComposer("bach")."""
    import subprocess
    import sys
    from pathlib import Path

    from app.learn.corpus import CHORALE_SUFFIXES, chorale_paths

    code = ("import sys; from app.learn.corpus import chorale_paths; paths = chorale_paths(); "
            "print(len(paths), 'music21' in sys.modules)")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    count, imported = done.stdout.split()
    assert int(count) > 300 and imported == "False"
    from music21 import corpus

    expected = sorted(str(p) for p in corpus.getComposer("bach") if Path(str(p)).suffix in CHORALE_SUFFIXES)
    assert chorale_paths() == expected
    assert chorale_paths(limit=5) == expected[:5]
