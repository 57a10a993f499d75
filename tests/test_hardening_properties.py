"""Property tests (issue 7, hypothesis): token round trips, name sanitising, and the effect loader on
generated WAV headers. Example counts are modest so the suite stays fast."""

from __future__ import annotations

import os
import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.learn import encoding
from app.music import theory
from app.deliver.names import MAX_NAME, MAX_NAME_BYTES, safe_name
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


# --- names ----------------------------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=()), max_size=400)
NASTY = st.lists(st.sampled_from(["/", "\\", "..", ".", " ", "\x00", "\x1b", "\n", "-", "_", "🎵", "caf\udce9",
                                  "𠀀", "ａ", "…", "½", "x" * 50]), max_size=30).map("".join)


@SETTINGS
@given(st.one_of(ANY_TEXT, NASTY))
def test_safe_name_properties(text):
    name = safe_name(text)
    assert name and "/" not in name and "\\" not in name and "\x00" not in name
    assert not name.startswith(".") and not name.startswith("-") and name not in (".", "..")
    assert ".." not in name
    assert len(name) <= MAX_NAME and len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert all(unicodedata.category(ch)[0] != "C" for ch in name)  # no control, surrogate, unassigned
    assert name == name.strip() and safe_name(name) == name  # idempotent
    assert os.path.basename(name) == name


# --- effect WAVs ----------------------------------------------------------------------------------

SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]


@settings(SETTINGS, max_examples=40)
@given(channels=st.integers(1, 2), rate=st.integers(8000, 96000), subtype=st.sampled_from(SUBTYPES),
       extensible=st.booleans(), seconds=st.floats(0.2, 0.8))
def test_load_wav_on_generated_headers(tmp_path, channels, rate, subtype, extensible, seconds):
    import soundfile as sf

    from app.audio import loops as ef

    assume(not (extensible and subtype == "PCM_U8"))  # libsndfile writes no 8-bit WAVEX
    frames = int(seconds * rate)
    t = np.arange(frames) / rate
    tone = 0.5 * np.sin(2 * np.pi * 220 * t)
    data = np.stack([tone] * channels, axis=1)
    path = tmp_path / f"h_{channels}_{rate}_{subtype}_{extensible}.wav"
    sf.write(str(path), data, rate, subtype=subtype, format="WAVEX" if extensible else "WAV")

    audio = ef.load_wav(path, 44100)

    assert audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[0] == 2
    assert audio.shape[1] / 44100 == pytest.approx(frames / rate, rel=2e-3, abs=2 / rate)
    assert np.isfinite(audio).all()
    middle = audio[:, audio.shape[1] // 4: 3 * audio.shape[1] // 4]
    assert 0.4 < np.abs(middle).max() < 0.6  # the tone's level survives depth and rate
    np.testing.assert_allclose(audio[0], audio[1], atol=1e-6)  # mono duplicated, stereo identical here
    ef.clear_cache()
    path.unlink()
