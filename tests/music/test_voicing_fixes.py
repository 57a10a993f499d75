"""The keys' voicings against the other parts: no rootless voicing where nothing else plays the
root (sections without bass, slash and pedal chords), and no voicing note doubling the melody or
rubbing a semitone under it."""

from __future__ import annotations

import random

import pytest

from app.music import voicing
from app.music.compose import compose_song, load_models
from app.music.song import Chord, Note

SEVENTHS = [Chord(r, q, 4.0 * i, 4.0) for i, (r, q) in enumerate(
    [(2, "min9"), (7, "dom13"), (0, "maj9"), (9, "min7"), (5, "maj7"), (4, "min7"), (9, "dom7b9"), (2, "min11")] * 4)]


def _has_root(chord: Chord, pitches: list[int]) -> bool:
    return any(p % 12 == chord.root for p in pitches)


def test_rootless_only_where_the_bass_plays_the_root():
    with_bass = voicing.voice_progression(SEVENTHS, lambda beat: "groove", random.Random(2))
    assert sum(kind == "rootless" for _, kind in with_bass) >= 5  # the groove's weights do draw them
    without = voicing.voice_progression(SEVENTHS, lambda beat: "groove", random.Random(2), bass_plays=lambda b: False)
    assert all(kind != "rootless" and _has_root(c, v) for c, (v, kind) in zip(SEVENTHS, without))
    slash = [Chord(c.root, c.quality, c.start, c.duration, bass=(c.root + 5) % 12) for c in SEVENTHS]
    over_pedal = voicing.voice_progression(slash, lambda beat: "groove", random.Random(2))
    assert all(kind != "rootless" and _has_root(c, v) for c, (v, kind) in zip(slash, over_pedal))


def test_ceiling_under_the_melody():
    tune = [Note(72, 1.0, 1.0), Note(69, 2.5, 1.0), Note(60, 9.0, 1.0)]
    assert voicing.ceiling_under(tune, 0.0, 4.0) == 67  # a whole step under the A4 over the chord
    assert voicing.ceiling_under(tune, 4.0, 8.0) == voicing.VOICING_TOP  # nothing sounding over it
    assert voicing.ceiling_under(tune, 8.0, 12.0) == voicing.MIN_TOP  # a low tune: the floor holds
    voiced = voicing.voice_progression(SEVENTHS[:2], lambda beat: "A", random.Random(0), melody=tune)
    assert max(voiced[0][0]) <= 67 and max(voiced[1][0]) <= voicing.VOICING_TOP


@pytest.fixture(scope="module")
def songs():
    models = load_models()
    return [compose_song(models, key=seed % 12, mode=("major", "minor")[seed % 2], bpm=80, minutes=1.5, seed=seed)
            for seed in range(6)]


def test_songs_keep_the_root_where_no_bass_plays_it(songs):
    checked = 0
    for song in songs:
        keys = song.parts["chords"].notes
        for section in song.sections:
            for chord in song.chords:
                if not section.start <= chord.start < section.end:
                    continue
                if "bass" in section.layers and chord.bass in (None, chord.root):
                    continue
                struck = [n.pitch for n in keys if chord.start - 1e-9 <= n.start < chord.end]
                if struck:
                    checked += 1
                    assert _has_root(chord, struck), (section.name, chord, struck)
    assert checked >= 20


def test_songs_keep_the_keys_under_the_melody(songs):
    pairs = 0
    for song in songs:
        keys = song.parts["chords"].notes
        for m in song.melody():
            for k in keys:
                if k.start < m.end and k.end > m.start:
                    pairs += 1
                    assert k.pitch <= max(voicing.MIN_TOP, m.pitch - 2), (m, k)
    assert pairs >= 100


def test_the_last_resort_voicing_stays_under_a_low_melody():
    # No close, drop-2, rootless or spread placement of a C13 fits under E4: the fallback folds
    # every tone under it instead of leaving the 13th (A4) above the melody.
    tune = [Note(66, 0.0, 4.0)]
    for seed in range(5):
        (voiced, kind), = voicing.voice_progression([Chord(0, "dom13", 0.0, 4.0)], lambda beat: "A",
                                                    random.Random(seed), melody=tune)
        assert max(voiced) <= voicing.MIN_TOP and len(voiced) >= 5 and kind == "close"
