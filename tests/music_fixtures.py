"""Small songs and MIDI files the music-core tests write themselves."""

from __future__ import annotations

from pathlib import Path

from app.music.song import Chord, Note, Part, Song, bass_from_chords, chords_to_part


def little_song(key: int = 9, mode: str = "minor", bars: int = 4) -> Song:
    """A few bars of melody over a ii-V-i style loop, everything on the 16th grid."""
    roots = [(key + 5) % 12, (key + 7) % 12, key, key]
    qualities = ["min7", "dom7", "min7" if mode == "minor" else "maj7", "min7" if mode == "minor" else "maj7"]
    chords = [Chord(r, q, i * 4.0, 4.0) for i, (r, q) in enumerate(zip(roots[:bars], qualities[:bars]))]
    base = 60 + key
    pattern = [0, 3, 7, 5, 3, 2, 0, -2]
    notes = []
    t = 0.0
    for i in range(bars * 4):
        notes.append(Note(base + pattern[i % len(pattern)], t, 0.75 if i % 3 else 0.5, [72, 88, 56][i % 3]))
        t += 1.0
    song = Song(84.0, key, mode, (4, 4), chords=chords, parts={"melody": Part("melody", notes)})
    return song.with_part(chords_to_part(chords)).with_part(bass_from_chords(chords))


def write_folk_midi(path: Path, key_offset: int = 0, bars: int = 8) -> Path:
    """A two-track MIDI file (melody + block chords) like a user's lo-fi MIDI set."""
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    mel, acc = mido.MidiTrack(), mido.MidiTrack()
    mid.tracks += [mel, acc]
    mel.append(mido.MetaMessage("track_name", name="lead"))
    acc.append(mido.MetaMessage("track_name", name="keys"))
    scale = [0, 2, 4, 5, 7, 9, 11, 12]
    melody = [0, 2, 4, 2, 4, 5, 7, 4, 5, 4, 2, 0, 2, 4, 0, -1]
    for i in range(bars * 4):
        p = 72 + key_offset + scale[melody[i % len(melody)] % 8] - (12 if melody[i % len(melody)] < 0 else 0)
        mel.append(mido.Message("note_on", note=p, velocity=80, time=0))
        mel.append(mido.Message("note_off", note=p, velocity=0, time=480))
    progression = [(0, 4, 7), (5, 9, 12), (7, 11, 14), (0, 4, 7)]
    for b in range(bars):
        chord = [48 + key_offset + x for x in progression[b % 4]]
        for n in chord:
            acc.append(mido.Message("note_on", channel=1, note=n, velocity=60, time=0))
        for j, n in enumerate(chord):
            acc.append(mido.Message("note_off", channel=1, note=n, velocity=0, time=1920 if j == 0 else 0))
    mid.save(str(path))
    return path
