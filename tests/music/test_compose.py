"""app.music.compose: plan_sections fills exactly the bars asked, always with an A section;
compose_song keeps the key, mode and tempo asked, lasts the minutes asked within one bar, writes
each section's layers into the song and plays each part only where its layer is listed."""

from __future__ import annotations

import pytest

from app.music import theory
from app.music.compose import SECTION_LAYERS, compose_song, plan_sections

PART_LAYER = {"melody": "melody", "chords": "chords", "bass": "bass"}


@pytest.mark.parametrize("total_bars", range(1, 401))
def test_plan_sections_sums_to_the_bars_asked(total_bars):
    plan = plan_sections(total_bars)
    assert sum(bars for _, bars in plan) == total_bars
    assert all(bars > 0 for _, bars in plan)
    names = [name for name, _ in plan]
    assert "A" in names  # the melody always has an A section of its own
    assert set(names) <= set(SECTION_LAYERS)
    assert all(a != b for a, b in zip(names, names[1:]))  # two A sections in a row are one longer A
    if total_bars >= 4:
        assert names[0] == "intro"
    if total_bars >= 3:
        assert names[-1] == "outro"
    if total_bars >= 16:
        assert plan[0] == ("intro", 4) and plan[-1] == ("outro", 4)
    assert "groove" not in names[2:]  # the groove only opens the track


@pytest.mark.parametrize("total_bars, plan", [
    (1, [("A", 1)]), (3, [("A", 2), ("outro", 1)]), (4, [("intro", 1), ("A", 2), ("outro", 1)]),
    (8, [("intro", 2), ("A", 4), ("outro", 2)]), (16, [("intro", 4), ("A", 8), ("outro", 4)]),
    (20, [("intro", 4), ("groove", 4), ("A", 8), ("outro", 4)]),
    (40, [("intro", 4), ("groove", 4), ("A", 8), ("B", 8), ("A", 8), ("breakdown", 4), ("outro", 4)]),
])
def test_plan_sections_examples(total_bars, plan):
    assert plan_sections(total_bars) == plan


SONGS = [  # (key, mode, bpm, minutes, seed): short songs across the ranges
    (0, "major", 80, 0.4, 1), (9, "minor", 60, 0.3, 2), (6, "dorian", 140, 0.25, 3), (10, "lydian", 95, 0.5, 4),
    (4, "phrygian", 50, 0.1, 5), (7, "mixolydian", 72, 0.9, 6),
]


@pytest.fixture(scope="module")
def songs(models):
    return [(args, compose_song(models, key=args[0], mode=args[1], bpm=args[2], minutes=args[3], seed=args[4]))
            for args in SONGS]


def test_key_mode_and_tempo_are_exactly_as_asked(songs):
    for (key, mode, bpm, _, _), song in songs:
        assert (song.key, song.mode, song.tempo_bpm, song.time_signature) == (key, mode, float(bpm), (4, 4))


def test_length_is_within_one_bar_of_the_minutes_asked(songs):
    for (_, _, bpm, minutes, _), song in songs:
        bar_seconds = 4 * 60.0 / bpm
        assert abs(song.length_seconds - minutes * 60) <= bar_seconds / 2 + 1e-9  # rounded to the nearest bar
        assert song.length_beats == song.sections[-1].end  # nothing sounds past the last section
        assert song.length_beats % 4 == 0


def test_sections_tile_the_song_with_the_planned_layers(songs):
    for (_, _, bpm, minutes, _), song in songs:
        total_bars = max(1, round(minutes * bpm / 4))
        assert [(s.name, s.duration / 4) for s in song.sections] == plan_sections(total_bars)
        assert song.sections[0].start == 0.0
        for before, after in zip(song.sections, song.sections[1:]):
            assert after.start == before.end
        for section in song.sections:
            assert section.layers == frozenset(SECTION_LAYERS[section.name])


def test_parts_play_only_in_sections_that_list_their_layer(songs):
    for args, song in songs:
        assert set(song.parts) == {"melody", "chords", "bass"}
        assert song.melody(), args
        for name, part in song.parts.items():
            for note in part.notes:
                (section,) = [s for s in song.sections if s.start <= note.start + 1e-9 < s.end]
                assert PART_LAYER[name] in section.layers, (args, name, note, section.name)


def test_chords_cover_the_song_and_the_melody_keeps_to_the_mode(songs):
    for (key, mode, _, _, _), song in songs:
        assert song.chords[0].start == 0.0 and song.chords[-1].end == song.length_beats
        assert {n.pitch % 12 for n in song.melody()} <= theory.scale_pitch_classes(key, mode)


def test_without_chords_there_is_no_chords_part(models):
    song = compose_song(models, key=2, mode="minor", bpm=80, minutes=0.3, seed=9, include_chords=False)
    assert set(song.parts) == {"melody", "bass"}
    assert song.chords  # the harmony is still there for the bass and the melody


@pytest.mark.parametrize("minutes, bpm, bars", [(0.01, 50, 1), (0.05, 80, 1), (0.1, 140, 4), (0.2, 100, 5)])
def test_even_the_shortest_songs_have_a_melody_section(models, minutes, bpm, bars):
    song = compose_song(models, key=0, mode="major", bpm=bpm, minutes=minutes, seed=1)
    assert len(song.sections) == len(plan_sections(bars)) and song.length_beats == bars * 4
    assert any(s.name == "A" for s in song.sections)


@pytest.mark.parametrize("part", ["melody", "chords", "bass", "drums"])
def test_a_new_take_of_one_part_leaves_the_others_note_for_note(models, part):
    kw = dict(key=2, mode="dorian", bpm=84, minutes=0.5, seed=21, drums=True)
    first = compose_song(models, **kw)
    assert compose_song(models, **kw, takes={part: 0}) == first  # take 0 is the seed's song itself
    again = compose_song(models, **kw, takes={part: 1})
    for name, played in first.parts.items():
        assert (again.parts[name].notes == played.notes) == (name != part), name
    assert again.chords == first.chords and again.sections == first.sections
    assert compose_song(models, **kw, takes={part: 2}).parts[part].notes != again.parts[part].notes
