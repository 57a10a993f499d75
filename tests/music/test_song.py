"""app.music.song: the records' constructors refuse values outside their ranges; chord_at finds the
chord sounding at a beat (starts inclusive, ends exclusive, None in gaps); a song's length in beats
and seconds; with_part copies; sections carry their layers."""

from __future__ import annotations

import pytest

from app.music import theory
from app.music.song import (Chord, Note, Part, Section, Song, bass_from_chords, chord_finder, chords_to_part)


# --- constructors ----------------------------------------------------------------------------

@pytest.mark.parametrize("pitch", [0, 60, 127])
@pytest.mark.parametrize("velocity", [1, 80, 127])
def test_notes_in_range(pitch, velocity):
    note = Note(pitch, 1.5, 0.25, velocity)
    assert note.end == 1.75


@pytest.mark.parametrize("changes, match", [
    ({"pitch": -1}, r"pitch -1 outside MIDI range 0\.\.127"), ({"pitch": 128}, r"pitch 128 outside"),
    ({"duration": 0}, r"note duration must be positive, got 0"), ({"duration": -0.5}, r"positive, got -0\.5"),
    ({"start": -0.25}, r"note start must be >= 0, got -0\.25"),
    ({"velocity": 0}, r"velocity 0 outside 1\.\.127"), ({"velocity": 128}, r"velocity 128 outside"),
])
def test_notes_out_of_range_are_refused(changes, match):
    values = {"pitch": 60, "start": 0.0, "duration": 1.0, "velocity": 80, **changes}
    with pytest.raises(ValueError, match=match):
        Note(**values)


def test_notes_are_frozen():
    with pytest.raises(AttributeError):
        Note(60, 0, 1).pitch = 61


def test_chords():
    for quality in theory.CHORD_QUALITIES:
        assert Chord(0, quality, 0, 4).quality == quality
    chord = Chord(9, "min7", 4.0, 2.0, bass=7)
    assert chord.end == 6.0
    assert chord.symbol == theory.chord_symbol(9, "min7", 7)
    assert chord.pitch_classes() == {9, 0, 4, 7}
    with pytest.raises(ValueError, match=r"unknown chord quality 'min13b5'"):
        Chord(0, "min13b5", 0, 4)
    for root in (-1, 12):
        with pytest.raises(ValueError, match=rf"chord root must be a pitch class 0\.\.11, got {root}"):
            Chord(root, "maj", 0, 4)


def test_songs_check_key_and_mode():
    for mode in theory.ALL_MODES:
        for key in (0, 11):
            assert Song(80.0, key, mode).key == key
    with pytest.raises(ValueError, match=r"mode must be one of major, minor, .*, got 'locrian'"):
        Song(80.0, 0, "locrian")
    for key in (-1, 12):
        with pytest.raises(ValueError, match=rf"key must be a pitch class 0\.\.11, got {key}"):
            Song(80.0, key, "major")


# --- chord_at --------------------------------------------------------------------------------

# Out of order on purpose, with a gap from 6 to 8.
CHORDS = [Chord(5, "maj7", 4.0, 2.0), Chord(0, "maj", 0.0, 4.0), Chord(7, "dom7", 8.0, 4.0)]


@pytest.mark.parametrize("beat, root", [
    (-0.5, None), (0.0, 0), (3.999, 0), (4.0, 5), (5.5, 5), (6.0, None), (7.9, None), (8.0, 7), (11.99, 7),
    (12.0, None), (100.0, None),
])
def test_chord_at_boundaries(beat, root):
    song = Song(80.0, 0, "major", chords=list(CHORDS))
    found = song.chord_at(beat)
    assert (found.root if found else None) == root
    assert chord_finder(CHORDS)(beat) == found


def test_chord_at_tolerates_float_error_at_a_change():
    """A beat computed as 3 * (4/3) lands a hair off 4.0; it still finds the chord starting there."""
    at = chord_finder([Chord(0, "maj", 0.0, 4.0), Chord(2, "min", 4.0, 4.0)])
    assert at(4.0 - 1e-12).root == 2
    assert at(8.0 - 1e-12) is None


def test_chord_at_with_no_chords():
    assert Song(80.0, 0, "major").chord_at(0.0) is None


def test_chord_finder_agrees_with_a_linear_scan():
    chords = [Chord(i % 12, "min7", i * 1.5, 1.0 if i % 3 else 1.5) for i in range(40)]
    at = chord_finder(list(reversed(chords)))
    for step in range(0, 250):
        beat = step * 0.25
        sounding = [c for c in chords if c.start <= beat < c.end]
        assert at(beat) == (sounding[-1] if sounding else None), beat


# --- length, copies, sections ----------------------------------------------------------------

def test_length_in_beats_and_seconds():
    song = Song(90.0, 0, "major")
    assert song.length_beats == 0.0 and song.length_seconds == 0.0
    song = Song(90.0, 0, "major", chords=[Chord(0, "maj", 0, 8)],
                parts={"melody": Part("melody", [Note(72, 8.0, 1.5), Note(74, 2.0, 1.0)])})
    assert song.length_beats == 9.5  # the melody outlasts the chords
    assert song.length_seconds == pytest.approx(9.5 * 60 / 90)
    assert Song(90.0, 0, "major", chords=[Chord(0, "maj", 0, 12)]).length_beats == 12.0


@pytest.mark.parametrize("signature, beats", [((4, 4), 4.0), ((3, 4), 3.0), ((6, 8), 3.0), ((7, 8), 3.5)])
def test_beats_per_bar(signature, beats):
    assert Song(80.0, 0, "major", time_signature=signature).beats_per_bar == beats


def test_part_end_and_melody():
    assert Part("bass").end == 0.0
    assert Part("bass", [Note(40, 2.0, 1.0), Note(43, 0.0, 4.0)]).end == 4.0
    assert Song(80.0, 0, "major").melody() == []
    notes = [Note(70, 0, 1)]
    assert Song(80.0, 0, "major", parts={"melody": Part("melody", notes)}).melody() == notes


def test_with_part_returns_a_copy():
    bass = Part("bass", [Note(36, 0, 1)])
    song = Song(80.0, 3, "minor", chords=[Chord(3, "min", 0, 4)], parts={"bass": bass},
                sections=[Section("A", 0, 4)])
    melody = Part("melody", [Note(75, 0, 2)])
    added = song.with_part(melody)
    assert set(added.parts) == {"bass", "melody"} and added.parts["melody"] is melody
    assert set(song.parts) == {"bass"}  # the original is untouched
    assert (added.tempo_bpm, added.key, added.mode, added.chords, added.sections) == (
        song.tempo_bpm, song.key, song.mode, song.chords, song.sections)
    louder = Part("bass", [Note(36, 0, 1, 120)])
    replaced = added.with_part(louder)
    assert replaced.parts["bass"] is louder and added.parts["bass"] is bass
    assert list(replaced.parts) == ["bass", "melody"]


def test_sections_carry_their_layers():
    plain = Section("A", 8.0, 16.0)
    assert plain.end == 24.0 and plain.layers == frozenset()  # as read back from MIDI: no layers
    section = Section("groove", 0.0, 16.0, frozenset({"chords", "bass", "beat"}))
    assert "beat" in section.layers and "melody" not in section.layers
    assert hash(section) == hash(Section("groove", 0.0, 16.0, frozenset({"beat", "bass", "chords"})))
    with pytest.raises(AttributeError):
        section.layers = frozenset()


# --- the plain parts made from chords --------------------------------------------------------

def test_chords_to_part_voices_every_chord_for_its_length():
    chords = [Chord(0, "maj7", 0, 4), Chord(9, "min", 4, 2)]
    part = chords_to_part(chords, velocity=50)
    assert part.name == "chords"
    for chord in chords:
        notes = [n for n in part.notes if n.start == chord.start]
        assert {n.pitch % 12 for n in notes} == chord.pitch_classes()
        assert all(n.duration == chord.duration and n.velocity == 50 for n in notes)


def test_bass_from_chords_follows_the_roots():
    chords = [Chord(2, "min7", 0, 4), Chord(7, "dom7", 4, 2), Chord(0, "maj", 6, 6)]
    part = bass_from_chords(chords)
    assert part.name == "bass"
    on_onsets = {n.start: n.pitch % 12 for n in part.notes}
    assert on_onsets[0] == 2 and on_onsets[4] == 7 and on_onsets[6] == 0
    assert on_onsets[2] in (2, 9)  # half a bar into a long chord: the root or its fifth
    for note in part.notes:
        chord = chord_finder(chords)(note.start)
        assert note.end <= chord.end  # never rings into the next chord
