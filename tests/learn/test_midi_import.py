"""MIDI import for training (train --midi-dir): odd metres, tempo changes, broken files, each skipped with its reason."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GM = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")

# --- MIDI files for training -----------------------------------------------------------------------

TPB = 480
PROGRESSION = [(48, 52, 55), (45, 48, 52), (41, 45, 48), (43, 47, 50)]  # C Am F G
SCALE = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62]


def write_piece(path: Path, bars: int = 8, signature=(4, 4), tempos=((0, 90.0),), signatures=None,
                voicing=None, melody_channel=0, chord_channel=1, note_offs=True, controls_only=False) -> Path:
    """A melody in 8ths over one chord per bar, written with mido. tempos / signatures: (beat, value)."""
    import mido

    beats_per_bar = signature[0] * 4 / signature[1]
    mid = mido.MidiFile(type=1, ticks_per_beat=TPB)
    meta = mido.MidiTrack()
    events = [(int(beat * TPB), mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))) for beat, bpm in tempos]
    for beat, (num, den) in signatures or [(0, signature)]:
        events.append((int(beat * TPB), mido.MetaMessage("time_signature", numerator=num, denominator=den)))
    now = 0
    for tick, msg in sorted(events, key=lambda e: e[0]):
        meta.append(msg.copy(time=tick - now))
        now = tick
    mid.tracks.append(meta)
    if controls_only:
        track = mido.MidiTrack()
        for i in range(64):
            track.append(mido.Message("control_change", control=[1, 7, 64, 11][i % 4], value=i, time=120))
        track.append(mido.Message("program_change", program=4, time=0))
        track.append(mido.Message("pitchwheel", pitch=100, time=10))
        mid.tracks.append(track)
        mid.save(path)
        return path

    def line(notes, channel):  # notes: (start beat, length beats, pitch, velocity)
        msgs = []
        for start, length, pitch, vel in notes:
            msgs.append((int(start * TPB), 1, mido.Message("note_on", channel=channel, note=pitch, velocity=vel)))
            if note_offs:
                msgs.append((int((start + length) * TPB), 0, mido.Message("note_off", channel=channel, note=pitch)))
        track, now = mido.MidiTrack(), 0
        for tick, _, msg in sorted(msgs, key=lambda m: (m[0], m[1])):
            track.append(msg.copy(time=tick - now))
            now = tick
        return track

    eighths = int(bars * beats_per_bar * 2)
    melody = [(i * 0.5, 0.5, SCALE[i % len(SCALE)], 80) for i in range(eighths)]
    chords = []
    for b in range(bars):
        tones = PROGRESSION[b % 4]
        pitches = voicing(tones) if voicing else tones
        chords += [(b * beats_per_bar, beats_per_bar, p, 60) for p in pitches]
    mid.tracks.append(line(melody, melody_channel))
    mid.tracks.append(line(chords, chord_channel))
    mid.save(path)
    return path


def every_octave(tones):
    """A chord voiced in every octave of the piano: 20-odd notes at once."""
    pcs = {t % 12 for t in tones}
    return [p for p in range(21, 109) if p % 12 in pcs]


def test_midi_import_takes_what_it_can_and_says_why_it_skips_the_rest(tmp_path):
    from app.learn.corpus import load_corpus, midi_file_to_song

    folder = tmp_path / "midi"
    folder.mkdir()
    write_piece(folder / "plain.mid")
    write_piece(folder / "waltz.mid", signature=(3, 4))
    write_piece(folder / "seven.mid", signature=(7, 8))
    write_piece(folder / "tempo_changes.mid", tempos=[(0, 70.0), (8, 140.0), (16, 95.5), (20, 60.0)],
                signatures=[(0, (4, 4)), (24, (3, 4)), (27, (4, 4))])
    write_piece(folder / "huge_chords.mid", voicing=every_octave)
    write_piece(folder / "never_released.mid", note_offs=False)
    write_piece(folder / "cluster.mid", voicing=lambda tones: list(range(21, 109)), melody_channel=1)
    write_piece(folder / "drums.mid", melody_channel=9, chord_channel=9)
    write_piece(folder / "controls.mid", controls_only=True)
    whole = (folder / "plain.mid").read_bytes()
    (folder / "truncated.mid").write_bytes(whole[: len(whole) * 2 // 3])
    import mido

    mido.MidiFile(type=1).save(folder / "no_tracks.mid")
    (folder / "empty.mid").write_bytes(b"")
    (folder / "noise.midi").write_bytes(os.urandom(500))
    os.mkfifo(folder / "pipe.mid")
    (folder / "gone.mid").symlink_to(folder / "nowhere.mid")

    corpus = load_corpus(folder, jobs=1, use_cache=False)

    imported = {p.name for p in corpus.pieces}
    reasons = dict(corpus.skipped)
    assert imported == {"plain.mid", "waltz.mid", "seven.mid", "tempo_changes.mid", "huge_chords.mid",
                        "never_released.mid", "cluster.mid"}
    # A file that gives one model something is imported for that model, with what it did not give.
    assert corpus.fed["cluster.mid"] == ("melody",)
    assert dict(corpus.notes)["cluster.mid"].startswith("no harmony found")
    assert corpus.fed["drums.mid"] == ("drum",)  # both lines on channel 10, no pitched company: drums
    assert [d.name for d in corpus.drums] == ["drums.mid"]
    assert reasons["controls.mid"].startswith("no notes")
    assert reasons["truncated.mid"].startswith("truncated")
    assert reasons["no_tracks.mid"] == "no tracks"
    assert reasons["empty.mid"] == "empty file"
    assert reasons["noise.midi"].startswith("not a readable MIDI file")
    assert reasons["pipe.mid"] == "not a regular file"
    assert reasons["gone.mid"] == "broken symlink"
    assert len(corpus.fed) + len(reasons) == 15
    first = corpus.summary().splitlines()[0]
    assert first.startswith("8 files imported, 7 skipped")
    assert all(f"skipped {name}: {why}" in corpus.summary() for name, why in reasons.items())

    # Imported correctly, not just imported: metre, positions, onsets in beats.
    pieces = {p.name: p for p in corpus.pieces}
    from app.learn import encoding

    waltz = midi_file_to_song(folder / "waltz.mid")
    seven = midi_file_to_song(folder / "seven.mid")
    assert waltz.time_signature == (3, 4) and seven.time_signature == (7, 8)
    assert pieces["waltz.mid"].melody[:, 4].max() < 12  # 12 16ths to a bar of 3/4
    assert set(pieces["seven.mid"].melody[:, 4]) == set(range(0, 14, 2))  # 8ths in a 14-16th bar
    changes = midi_file_to_song(folder / "tempo_changes.mid")
    assert changes.time_signature == (4, 4)  # the signature that lasts longest
    assert [n.start for n in changes.melody()[:6]] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]  # tempo moves no note
    assert changes.melody()[-1].start == 8 * 4 - 0.5
    huge = midi_file_to_song(folder / "huge_chords.mid")
    assert [c.symbol for c in huge.chords[:4]] == ["C", "Am", "F", "G"]
    held = midi_file_to_song(folder / "never_released.mid")
    # Each note lasts until the next one starts (the very last one, struck as the track ends, has no length).
    assert len(held.melody()) == 63 and {n.duration for n in held.melody()} == {0.5}
    assert pieces["plain.mid"].melody.shape[1] == 6 and len(pieces["plain.mid"].chords) >= 8
    assert encoding.VOCAB.note > pieces["huge_chords.mid"].melody[:, 0].max()
