"""The drums part of an arranged Song (issue 17): the drum model plays every section on the GM drum
map, with fills at section ends and no kick in the breakdown; the same seed writes the same drums
MIDI bytes on channel 10, and a song without drums has no part and no 'drums' layer."""

from __future__ import annotations

import mido
import pytest

from app.learn import drum_encoding as de
from app.music.compose import compose_song, load_models
from app.music.midi_io import write_midi, write_part_midis
from app.report.drum_figures import is_fill, strokes_to_bars

GM_DRUMS = set(de.VOICE_TO_GM) | {de.GM_SIDE_STICK}


@pytest.fixture(scope="module")
def models():
    return load_models()


def _song(models, seed=5, minutes=2.0, drums=True, bpm=84):
    return compose_song(models, key=seed % 12, mode="minor", bpm=bpm, minutes=minutes, seed=seed, drums=drums)


@pytest.fixture(scope="module")
def songs(models):
    return [_song(models, seed=s) for s in (1, 2, 3)]


def test_the_drums_play_every_section_on_the_gm_drum_map(songs):
    for song in songs:
        notes = song.parts["drums"].notes
        assert notes and {n.pitch for n in notes} <= GM_DRUMS
        assert all("drums" in s.layers for s in song.sections)
        end = song.sections[-1].end
        assert max(n.end for n in notes) <= end + 1e-9  # the drums never lengthen the song
        for s in song.sections:
            inside = [n for n in notes if s.start <= round(n.start * 4) / 4 < s.end]  # by the 16th it is played on
            assert inside, s.name
            if s.name == "breakdown":
                assert not [n for n in inside if n.pitch == de.GM_KICK]
            if s.name in ("groove", "A", "B"):
                assert {de.GM_KICK, de.GM_SNARE} <= {n.pitch for n in inside}


def test_sections_end_with_a_fill(songs):
    ends = []
    for song in songs:
        bars = strokes_to_bars([(de.GM_TO_VOICE[n.pitch], n.start, n.velocity) for n in song.parts["drums"].notes],
                               song.tempo_bpm, int(song.sections[-1].end // 4))
        for s in song.sections[:-1]:  # every section that another follows
            own = bars[int(s.start // 4):int(s.end // 4)]
            if len(own) > 1:
                ends.append(is_fill(own[-1], own[:-1]))
    assert len(ends) >= 10
    assert sum(ends) / len(ends) >= 0.8


def test_no_two_strokes_of_one_drum_overlap(songs):
    for song in songs:
        by_pitch: dict[int, list] = {}
        for n in song.parts["drums"].notes:
            by_pitch.setdefault(n.pitch, []).append(n)
        for strokes in by_pitch.values():
            assert all(a.end <= b.start + 1e-9 for a, b in zip(strokes, strokes[1:]))


def test_same_seed_same_drums_midi_bytes_on_channel_10(models, tmp_path):
    paths = []
    for run in ("a", "b", "c"):
        song = _song(models, seed=9 if run != "c" else 10, minutes=1.0)
        written = {p.stem: p for p in write_part_midis(song, lambda part, r=run: tmp_path / f"{r}_{part}.mid")}
        paths.append(written[f"{run}_drums"])
        whole = write_midi(song, tmp_path / f"{run}.mid")
        tracks = {t.name: t for t in mido.MidiFile(whole).tracks}
        channels = {m.channel for m in tracks["drums"] if m.type == "note_on"}
        assert channels == {9}  # MIDI channel 10
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_a_song_without_drums_has_no_drums_part_or_layer(models):
    song = _song(models, seed=4, minutes=0.5, drums=False)
    assert "drums" not in song.parts
    assert not any("drums" in s.layers for s in song.sections)
