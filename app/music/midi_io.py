"""Song <-> MIDI file (type 1, one named track per part). Nothing else touches the MIDI library.

The first track also carries tempo, time signature and key signature. Chord symbols travel as text
events ('chord:Am7') and sections as markers ('section:intro'), so a file read back is the same Song.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.music import theory
from app.music.song import Chord, Note, Part, Section, Song

TICKS_PER_BEAT = 480
CHANNELS = {"melody": 0, "chords": 1, "bass": 2, "drums": 9}
PART_ORDER = ["melody", "chords", "bass", "drums"]


def _ticks(beats: float) -> int:
    return int(round(beats * TICKS_PER_BEAT))


def _key_signature(song: Song) -> str:
    name = theory.key_name(song.key)
    if theory.PARENT_MODE[song.mode] == "minor":  # a church mode is written in its parent's signature
        # mido spells minor keys with sharps where the major relative does (e.g. 'C#m', 'G#m').
        minor_names = ["Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm"]
        return minor_names[song.key]
    return name


def song_to_midi(song: Song, programs: dict[str, int] | None = None):
    """Build a mido.MidiFile; programs optionally maps part name -> General MIDI program."""
    import mido

    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    names = sorted(song.parts, key=lambda n: (PART_ORDER.index(n) if n in PART_ORDER else 99, n))
    if not names:
        names = ["melody"]
    for index, name in enumerate(names):
        part = song.parts.get(name, Part(name))
        channel = CHANNELS.get(name, min(15, 3 + index))
        # (tick, order, pitch, make): note-offs (order 3) sort before note-ons (4) at the same tick.
        # Messages are built once, after sorting, with their delta time (mido's copy() is slow).
        events: list[tuple[int, int, int, object]] = []
        if index == 0:
            num, den = song.time_signature
            events.append((0, 0, 0, lambda t: mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(song.tempo_bpm), time=t)))
            events.append((0, 0, 0, lambda t: mido.MetaMessage("time_signature", numerator=num, denominator=den, time=t)))
            events.append((0, 0, 0, lambda t: mido.MetaMessage("key_signature", key=_key_signature(song), time=t)))
            if song.mode not in theory.MODES:  # the signature cannot say 'dorian': a text event does
                events.append((0, 0, 0, lambda t: mido.MetaMessage("text", text=f"mode:{song.mode}", time=t)))
            for section in song.sections:
                text = f"section:{section.name}:{section.duration:g}"
                events.append((_ticks(section.start), 1, 0, lambda t, x=text: mido.MetaMessage("marker", text=x, time=t)))
        if name == "chords":
            for chord in song.chords:
                text = f"chord:{chord.symbol}:{chord.duration:g}"
                events.append((_ticks(chord.start), 1, 0, lambda t, x=text: mido.MetaMessage("text", text=x, time=t)))
        if programs and name in programs and channel != 9:
            program = programs[name]
            events.append((0, 2, 0, lambda t: mido.Message("program_change", channel=channel, program=program, time=t)))
        for note in part.notes:
            events.append((_ticks(note.start), 4, note.pitch, ("note_on", note.velocity)))
            events.append((_ticks(note.end), 3, note.pitch, ("note_off", 0)))
        events.sort(key=lambda e: e[:3])
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=name))
        now = 0
        for tick, _, pitch, make in events:
            if isinstance(make, tuple):
                # Note and the channel table already hold every value in MIDI range, and the sort makes
                # the delta >= 0: mido's per-message checks (most of this function's time) are skipped.
                msg = mido.Message(make[0], skip_checks=True, channel=channel, note=pitch, velocity=make[1],
                                   time=tick - now)
            else:
                msg = make(tick - now)
            track.append(msg)
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        mid.tracks.append(track)
    return mid


def write_midi(song: Song, path: str | Path, programs: dict[str, int] | None = None) -> Path:
    """Write the song to path atomically (temp name, then rename). Returns the path."""
    from app.files import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        song_to_midi(song, programs).save(str(tmp))
    return path


def write_part_midis(song: Song, path_for_part) -> list[Path]:
    """Write one MIDI file per part; path_for_part(name) gives each file's path."""
    written = []
    for name, part in song.parts.items():
        single = Song(song.tempo_bpm, song.key, song.mode, song.time_signature,
                      chords=song.chords if name == "chords" else [], parts={name: part})
        written.append(write_midi(single, path_for_part(name)))
    return written


def read_midi(path: str | Path) -> Song:
    """Read a MIDI file written by write_midi (or any file: each track becomes a part by its name)."""
    import mido

    mid = mido.MidiFile(str(path))
    tpb = mid.ticks_per_beat
    tempo_bpm, time_sig, key, mode = 120.0, (4, 4), 0, "major"
    church_mode = None
    parts: dict[str, Part] = {}
    chords: list[Chord] = []
    sections: list[Section] = []
    for t_index, track in enumerate(mid.tracks):
        name = f"track{t_index}"
        tick = 0
        open_notes: dict[tuple[int, int], tuple[int, int]] = {}
        notes: list[Note] = []
        for msg in track:
            tick += msg.time
            beat = tick / tpb
            if msg.type == "track_name":
                name = msg.name
            elif msg.type == "set_tempo":
                tempo_bpm = round(mido.tempo2bpm(msg.tempo), 3)
            elif msg.type == "time_signature":
                time_sig = (msg.numerator, msg.denominator)
            elif msg.type == "key_signature":
                minor = msg.key.endswith("m")
                key, mode = theory.pitch_class(msg.key.rstrip("m")), "minor" if minor else "major"
            elif msg.type == "text" and msg.text.startswith("chord:"):
                _, symbol, duration = msg.text.split(":")
                root, quality = theory.parse_chord_symbol(symbol)
                chords.append(Chord(root, quality, beat, float(duration), theory.slash_bass(symbol)))
            elif msg.type == "text" and msg.text.startswith("mode:") and msg.text[5:] in theory.ALL_MODES:
                church_mode = msg.text[5:]
            elif msg.type == "marker" and msg.text.startswith("section:"):
                _, sec_name, duration = msg.text.split(":")
                sections.append(Section(sec_name, beat, float(duration)))
            elif msg.type == "note_on" and msg.velocity > 0:
                open_notes[(msg.channel, msg.note)] = (tick, msg.velocity)
            elif msg.type in ("note_off", "note_on"):
                started = open_notes.pop((msg.channel, msg.note), None)
                if started and tick > started[0]:
                    notes.append(Note(msg.note, started[0] / tpb, (tick - started[0]) / tpb, started[1]))
        if notes or name in CHANNELS:
            notes.sort(key=lambda n: (n.start, n.pitch))
            parts[name] = Part(name, notes)
    mode = church_mode or mode
    return Song(tempo_bpm, key, mode, time_sig, chords=chords, parts=parts, sections=sections)


@dataclass
class MidiLines:
    """What the training import needs from any MIDI file (see read_midi_lines)."""

    lines: list[tuple[str, int, list[Note]]]  # (track name, channel, notes in beats)
    time_signature: tuple[int, int]  # the one that lasts longest (4/4 when none is usable)
    bpm: float  # the tempo that lasts longest (120 when none)
    tracks: int  # tracks in the file
    drum_notes: int  # notes on the GM percussion channel (10, index 9)
    time_signatures: int  # time-signature events seen
    tempos: int  # tempo events seen
    programs: list[int | None] = field(default_factory=list)  # each line's GM program (None: none given)
    key_signatures: list[tuple[float, str]] = field(default_factory=list)  # (beat, mido key name) changes


def read_midi_lines(path: str | Path) -> MidiLines:
    """Read any MIDI file as raw lines for import.

    Notes are split by track and channel (type 0 files keep all channels in one track). Times are
    in beats from the file's ticks, so tempo changes do not move notes off the grid. With several
    time signatures or tempi the one that lasts longest wins (bar positions follow it); implausible
    signatures (bars shorter than half a beat or longer than 16 beats) are ignored. A note struck
    again before its note-off ends there; notes never released end with their track. Raises the
    reader's own exception on a broken file; the caller turns it into a reason.
    """
    import mido

    mid = mido.MidiFile(str(path), clip=True)
    tpb = mid.ticks_per_beat or 480
    lines: dict[tuple[int, int], list[Note]] = {}
    names: dict[int, str] = {}
    programs: dict[tuple[int, int], int] = {}  # (track, channel) -> the first program it sets
    keys: list[tuple[int, str]] = []
    signatures: list[tuple[int, tuple[int, int]]] = []
    tempos: list[tuple[int, float]] = []
    end_tick = 0

    def close(t_index, channel, pitch, started, tick):
        if tick > started[0]:
            lines.setdefault((t_index, channel), []).append(
                Note(pitch, started[0] / tpb, (tick - started[0]) / tpb, max(1, started[1])))

    for t_index, track in enumerate(mid.tracks):
        tick = 0
        open_notes: dict[tuple[int, int], tuple[int, int]] = {}
        for msg in track:
            tick += msg.time
            if msg.type == "track_name":
                names[t_index] = msg.name
            elif msg.type == "time_signature":
                signatures.append((tick, (msg.numerator, msg.denominator)))
            elif msg.type == "set_tempo":
                tempos.append((tick, mido.tempo2bpm(msg.tempo)))
            elif msg.type == "key_signature":
                keys.append((tick, msg.key))
            elif msg.type == "program_change":
                programs.setdefault((t_index, msg.channel), msg.program)
            elif msg.type == "note_on" and msg.velocity > 0:
                key = (msg.channel, msg.note)
                if key in open_notes:  # struck again without a note-off: the old one ends here
                    close(t_index, msg.channel, msg.note, open_notes[key], tick)
                open_notes[key] = (tick, msg.velocity)
            elif msg.type in ("note_off", "note_on"):
                started = open_notes.pop((msg.channel, msg.note), None)
                if started:
                    close(t_index, msg.channel, msg.note, started, tick)
        for (channel, pitch), started in open_notes.items():  # never released: end with the track
            close(t_index, channel, pitch, started, tick)
        end_tick = max(end_tick, tick)

    drums = sum(len(notes) for (_, ch), notes in lines.items() if ch == 9)
    result = [(names.get(t, f"track{t}"), ch, sorted(notes, key=lambda n: (n.start, n.pitch)))
              for (t, ch), notes in sorted(lines.items())]
    usable = [(tick, sig) for tick, sig in signatures if sig[0] >= 1 and 0.5 <= sig[0] * 4 / sig[1] <= 16]
    # A program set in another track (a type 1 file's first track) applies to the channel.
    by_channel = {ch: prog for (_, ch), prog in sorted(programs.items())}
    line_programs = [programs.get((t, ch), by_channel.get(ch)) for (t, ch) in sorted(lines)]
    key_changes = []
    for tick, name in sorted(keys, key=lambda k: k[0]):
        if not key_changes or key_changes[-1][1] != name:
            key_changes.append((tick / tpb, name))
    return MidiLines(result, _longest(usable, end_tick, (4, 4)), float(_longest(tempos, end_tick, 120.0)),
                     len(mid.tracks), drums, len(signatures), len(tempos), line_programs, key_changes)


def _longest(changes: list[tuple[int, object]], end_tick: int, default):
    """The value that holds for the most ticks, given (tick, value) changes (the first holds from 0)."""
    if not changes:
        return default
    changes = sorted(changes, key=lambda c: c[0])
    held: dict = {}
    for i, (tick, value) in enumerate(changes):
        start = 0 if i == 0 else tick
        stop = changes[i + 1][0] if i + 1 < len(changes) else max(end_tick, tick)
        held[value] = held.get(value, 0) + max(0, stop - start)
    return max(held, key=lambda v: (held[v], -next(i for i, c in enumerate(changes) if c[1] == v)))
