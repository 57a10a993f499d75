"""Property tests (hypothesis) of the token encoding: round trips, tokens inside the vocabulary."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.learn import encoding
from app.music import theory
from app.music.song import Chord, Note

# No example database: nothing is written into the repository.
SETTINGS = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# --- tokens ---------------------------------------------------------------------------------------


@st.composite
def grid_melodies(draw):
    """(tonic, notes): a monophonic melody on the 16th grid that the encoding can hold exactly:
    durations from its classes, pitches in its range around the tonic, velocities at bin centres,
    any gaps (rests) between notes, the first note inside the first bar."""
    tonic = draw(st.integers(0, 11))
    low = theory.tonic_midi(tonic) + encoding.REL_LOW
    velocities = [encoding.decode_velocity(2 + b) for b in range(encoding.VELOCITY_BINS)]
    t16 = draw(st.integers(0, 15))
    notes = []
    for _ in range(draw(st.integers(1, 40))):
        length = draw(st.sampled_from(encoding.DURATION_16THS))
        pitch = low + draw(st.integers(0, encoding.REL_HIGH - encoding.REL_LOW))
        notes.append(Note(pitch, t16 / 4, length / 4, draw(st.sampled_from(velocities))))
        t16 += length + draw(st.integers(0, 20))
    return tonic, notes


@SETTINGS
@given(grid_melodies(), st.sampled_from(theory.MODES))
def test_melody_tokens_round_trip(melody, mode):
    tonic, notes = melody
    tokens = encoding.encode_melody(notes, [], tonic, mode)
    assert tokens.shape[1] == 6
    decoded = encoding.decode_melody(tokens, tonic, start_beat=notes[0].start)
    assert decoded == notes


@SETTINGS
@given(st.integers(0, 11), st.sampled_from(theory.MODES),
       st.lists(st.tuples(st.floats(0, 64), st.floats(0.01, 8), st.integers(0, 127), st.integers(1, 127)),
                min_size=1, max_size=40),
       st.sampled_from([12, 14, 16]))
def test_any_notes_give_tokens_inside_the_vocabulary(tonic, mode, raw, bar_16ths):
    """Off-grid, overlapping, out-of-range notes are still encoded into valid tokens that decode."""
    notes = [Note(p, s, d, v) for s, d, p, v in raw]
    chords = [Chord(tonic, "maj7", 0.0, 4.0), Chord((tonic + 5) % 12, "min7", 4.0, 4.0)]
    tokens = encoding.encode_melody(notes, chords, tonic, mode, bar_16ths=bar_16ths)
    v = encoding.VOCAB
    for column, size in enumerate((v.note, v.duration, v.velocity, v.chord, v.position, v.mode)):
        assert tokens[:, column].min() >= (0 if column >= 3 else 2) and tokens[:, column].max() < size
    for note in encoding.decode_melody(tokens, tonic):
        assert 0 <= note.pitch <= 127 and 1 <= note.velocity <= 127 and note.duration > 0


@SETTINGS
@given(st.integers(0, 11), st.sampled_from(theory.MODES),
       st.lists(st.tuples(st.integers(0, 11), st.sampled_from(encoding.QUALITIES),
                          st.sampled_from(encoding.CHORD_DURATION_BEATS)), min_size=1, max_size=30))
def test_progression_tokens_round_trip(tonic, mode, raw):
    chords, t = [], 0.0
    for root, quality, beats in raw:
        chords.append(Chord(root, quality, t, float(beats)))
        t += beats
    tokens = encoding.encode_progression(chords, tonic, mode)
    assert tokens.shape == (len(chords), 4)
    assert encoding.decode_progression(tokens, tonic) == chords
