"""Song <-> key-relative tokens (app/learn/encoding.py): round trips, rests, dotted durations."""


import numpy as np

from app.learn import encoding
from app.music.song import Note
from tests.fixtures.music import little_song


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
