"""The song record every stage passes along: compose makes it, render turns its parts into stems.

Times and durations are in beats (quarter notes); pitches are MIDI numbers; velocities 1..127.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from app.music import theory


@dataclass(frozen=True)
class Note:
    pitch: int
    start: float
    duration: float
    velocity: int = 80

    def __post_init__(self):
        if not 0 <= self.pitch <= 127:
            raise ValueError(f"pitch {self.pitch} outside MIDI range 0..127")
        if self.duration <= 0:
            raise ValueError(f"note duration must be positive, got {self.duration}")
        if self.start < 0:
            raise ValueError(f"note start must be >= 0, got {self.start}")
        if not 1 <= self.velocity <= 127:
            raise ValueError(f"velocity {self.velocity} outside 1..127")

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Chord:
    root: int  # pitch class 0..11
    quality: str  # a key of theory.CHORD_QUALITIES
    start: float
    duration: float
    bass: int | None = None  # a slash chord's or pedal's bass pitch class; None = the root

    def __post_init__(self):
        if self.quality not in theory.CHORD_QUALITIES:
            raise ValueError(f"unknown chord quality {self.quality!r}")
        if not 0 <= self.root <= 11:
            raise ValueError(f"chord root must be a pitch class 0..11, got {self.root}")

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def symbol(self) -> str:
        return theory.chord_symbol(self.root, self.quality, self.bass)

    def pitch_classes(self) -> set[int]:
        return theory.chord_pitch_classes(self.root, self.quality)


@dataclass
class Part:
    """A named line of notes: 'melody', 'chords', 'bass' or 'drums'."""

    name: str
    notes: list[Note] = field(default_factory=list)

    @property
    def end(self) -> float:
        return max((n.end for n in self.notes), default=0.0)


@dataclass(frozen=True)
class Section:
    """A stretch of the arrangement (intro, A, B, breakdown, outro) in beats, and the layers that
    play in it ('melody', 'chords', 'bass', 'beat'): the arrangement sets them, the mix gates the
    beat by them. (A song read back from MIDI has no layers: the file keeps only name and length.)"""

    name: str
    start: float
    duration: float
    layers: frozenset[str] = frozenset()

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass
class Song:
    tempo_bpm: float
    key: int  # tonic pitch class 0..11 (inside the code keys are pitch classes: see app/config.py)
    mode: str  # 'major' | 'minor' | a church mode (theory.ALL_MODES)
    time_signature: tuple[int, int] = (4, 4)
    chords: list[Chord] = field(default_factory=list)
    parts: dict[str, Part] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)

    def __post_init__(self):
        if self.mode not in theory.ALL_MODES:
            raise ValueError(f"mode must be one of {', '.join(theory.ALL_MODES)}, got {self.mode!r}")
        if not 0 <= self.key <= 11:
            raise ValueError(f"key must be a pitch class 0..11, got {self.key}")

    @property
    def beats_per_bar(self) -> float:
        num, den = self.time_signature
        return num * 4 / den

    @property
    def length_beats(self) -> float:
        ends = [p.end for p in self.parts.values()] + [c.end for c in self.chords]
        return max(ends, default=0.0)

    @property
    def length_seconds(self) -> float:
        return self.length_beats * 60.0 / self.tempo_bpm

    @property
    def key_name(self) -> str:
        return theory.key_name(self.key)

    def chord_at(self, beat: float) -> Chord | None:
        """The chord sounding at a beat (None before the first or after the last)."""
        return chord_finder(self.chords)(beat)

    def melody(self) -> list[Note]:
        return self.parts["melody"].notes if "melody" in self.parts else []

    def with_part(self, part: Part) -> "Song":
        """A copy with one part added or replaced."""
        return replace(self, parts={**self.parts, part.name: part})


def chord_finder(chords: list[Chord]):
    """A function beat -> the chord sounding then (None in a gap, before the first or after the
    last), by binary search over the chords' starts; build it once, ask it many times."""
    import bisect

    ordered = sorted(chords, key=lambda c: c.start)
    starts = [c.start for c in ordered]

    def at(beat: float) -> Chord | None:
        i = bisect.bisect_right(starts, beat + 1e-9) - 1
        return ordered[i] if i >= 0 and beat + 1e-9 < ordered[i].end else None

    return at


def chords_to_part(chords: list[Chord], velocity: int = 62) -> Part:
    """Voice a progression as the 'chords' part (close voicings in the middle register)."""
    notes = []
    for chord in chords:
        for pitch in theory.voice_chord(chord.root, chord.quality):
            notes.append(Note(pitch, chord.start, chord.duration, velocity))
    return Part("chords", notes)


def bass_from_chords(chords: list[Chord], beats_per_bar: float = 4.0, velocity: int = 88) -> Part:
    """A bass line that follows the chord roots: the root on the chord's onset, a fifth or the root
    again half a bar in on long chords, so the default track has a floor."""
    notes = []
    for chord in chords:
        root = theory.bass_note(chord.root)
        if chord.duration >= beats_per_bar:
            half = beats_per_bar / 2
            t = chord.start
            toggle = 0
            while t < chord.end - 1e-9:
                length = min(half, chord.end - t)
                pitch = root if toggle % 2 == 0 else root + 7 if root + 7 <= 50 else root - 5
                notes.append(Note(pitch, t, length * 0.9, velocity if toggle % 2 == 0 else velocity - 12))
                t += half
                toggle += 1
        else:
            notes.append(Note(root, chord.start, chord.duration * 0.9, velocity))
    return Part("bass", notes)
