"""Key-relative tokens for melodies and chord progressions.

Pitches are encoded relative to the tonic so one model serves every key. A melody event is three
tokens (note, duration, velocity) plus two conditioning tokens (chord at onset, position in bar);
a chord event is a symbol token (degree and quality) and a duration token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.music import theory
from app.music.song import Chord, Note, chord_finder

PAD, BOS = 0, 1  # shared by every vocabulary
REST = 2  # note vocabulary only

# Melody pitch range relative to the tonic near middle C; notes outside are folded by octaves.
REL_LOW, REL_HIGH = -12, 28
# Duration classes on a 16th-note grid: 16th, 8th, dotted 8th, quarter, dotted quarter, half,
# dotted half, whole. Longer events are split (rests) or clipped (notes).
DURATION_16THS = (1, 2, 3, 4, 6, 8, 12, 16)
VELOCITY_BINS = 8
POSITIONS = 16  # 16ths in a 4/4 bar; other metres wrap at their own bar length
CHORD_DURATION_BEATS = (1, 2, 3, 4, 6, 8)
QUALITIES = theory.QUALITY_NAMES
# The models know major and minor; a church mode is read as its parent mode (theory.PARENT_MODE).
MODE_INDEX = {m: {"major": 0, "minor": 1}[theory.PARENT_MODE[m]] for m in theory.ALL_MODES}


@dataclass(frozen=True)
class Vocab:
    """Sizes of every vocabulary; a checkpoint stores it and loading checks it against the code."""

    note: int = 3 + (REL_HIGH - REL_LOW + 1)
    duration: int = 2 + len(DURATION_16THS)
    velocity: int = 2 + VELOCITY_BINS
    chord: int = 1 + 12 * len(QUALITIES)  # 0 = no chord
    position: int = POSITIONS
    mode: int = 2
    chord_symbol: int = 2 + 12 * len(QUALITIES)
    chord_duration: int = 2 + len(CHORD_DURATION_BEATS)


VOCAB = Vocab()


# --- melody -------------------------------------------------------------------------------

def encode_pitch(pitch: int | None, tonic_pc: int) -> int:
    """MIDI pitch (None for a rest) -> note token."""
    if pitch is None:
        return REST
    rel = pitch - theory.tonic_midi(tonic_pc)
    while rel < REL_LOW:
        rel += 12
    while rel > REL_HIGH:
        rel -= 12
    return 3 + rel - REL_LOW


def decode_pitch(token: int, tonic_pc: int) -> int | None:
    """Note token -> MIDI pitch (None for a rest)."""
    if token == REST:
        return None
    if token < 3:
        raise ValueError(f"note token {token} is not a pitch")
    return theory.tonic_midi(tonic_pc) + token - 3 + REL_LOW


def quantize_16ths(beats: float) -> int:
    """A duration in beats -> whole 16ths (at least 1)."""
    return max(1, int(round(beats * 4)))


def onset_16ths(beats: float) -> int:
    """An onset in beats -> the nearest 16th on the grid."""
    return int(round(beats * 4))


def encode_duration(sixteenths: int) -> int:
    """A length in 16ths -> the nearest duration class token."""
    best = min(range(len(DURATION_16THS)), key=lambda i: (abs(DURATION_16THS[i] - sixteenths), -i))
    return 2 + best


def decode_duration(token: int) -> int:
    """Duration token -> length in 16ths."""
    return DURATION_16THS[token - 2]


def encode_velocity(velocity: int) -> int:
    return 2 + min(VELOCITY_BINS - 1, max(0, (velocity - 1) * VELOCITY_BINS // 127))


def decode_velocity(token: int) -> int:
    """Velocity token -> the bin's centre (1..127)."""
    b = token - 2
    return int(round(1 + (b + 0.5) * 127 / VELOCITY_BINS))


def encode_chord(chord: Chord | None, tonic_pc: int) -> int:
    """Chord sounding at an onset -> conditioning token (0 when none)."""
    if chord is None:
        return 0
    degree = (chord.root - tonic_pc) % 12
    return 1 + degree * len(QUALITIES) + QUALITIES.index(theory.token_quality(chord.quality))


def position_token(onset_16ths: int, bar_16ths: int = 16) -> int:
    return (onset_16ths % bar_16ths) % POSITIONS


def encode_melody(notes: list[Note], chords: list[Chord], tonic_pc: int, mode: str,
                  bar_16ths: int = 16) -> np.ndarray:
    """Melody notes (monophonic, beats) -> int array (T, 6): note, duration, velocity, chord, position, mode.

    Gaps between notes become rest events; overlapping notes are cut at the next onset.
    """
    events = []
    ordered = sorted(notes, key=lambda n: n.start)
    cursor = onset_16ths(ordered[0].start) if ordered else 0
    cursor = min(cursor, cursor % bar_16ths)  # drop leading silence beyond one bar
    chord_at_beat = chord_finder(chords)

    def chord_at(t16: int) -> Chord | None:
        return chord_at_beat(t16 / 4)

    def add(pitch, length16, velocity, onset16):
        events.append((encode_pitch(pitch, tonic_pc), encode_duration(length16), encode_velocity(velocity),
                       encode_chord(chord_at(onset16), tonic_pc), position_token(onset16, bar_16ths),
                       MODE_INDEX[mode]))

    for i, note in enumerate(ordered):
        onset = onset_16ths(note.start)
        if onset < cursor:
            continue  # a chord tone under the melody or a duplicate onset
        gap = onset - cursor
        while gap > 0:  # rests, split into the largest classes
            step = max(d for d in DURATION_16THS if d <= gap)
            add(None, step, 64, cursor)
            cursor += step
            gap -= step
        length = quantize_16ths(note.duration)
        if i + 1 < len(ordered):
            next_onset = onset_16ths(ordered[i + 1].start)
            if next_onset > onset:
                length = min(length, next_onset - onset)
        length = decode_duration(encode_duration(min(length, DURATION_16THS[-1])))
        add(note.pitch, length, note.velocity, onset)
        cursor = onset + length
    return np.array(events, dtype=np.int64).reshape(-1, 6)


def decode_melody(tokens, tonic_pc: int, start_beat: float = 0.0) -> list[Note]:
    """(note, duration, velocity) token rows -> notes laid end to end from start_beat."""
    notes, t16 = [], 0
    for note_tok, dur_tok, vel_tok, *_ in tokens:
        length = decode_duration(int(dur_tok))
        pitch = decode_pitch(int(note_tok), tonic_pc)
        if pitch is not None:
            notes.append(Note(pitch, start_beat + t16 / 4, length / 4, decode_velocity(int(vel_tok))))
        t16 += length
    return notes


# --- chords -------------------------------------------------------------------------------

def encode_chord_symbol(root_pc: int, quality: str, tonic_pc: int) -> int:
    degree = (root_pc - tonic_pc) % 12
    return 2 + degree * len(QUALITIES) + QUALITIES.index(theory.token_quality(quality))


def decode_chord_symbol(token: int, tonic_pc: int) -> tuple[int, str]:
    """Chord symbol token -> (root pitch class, quality)."""
    index = token - 2
    degree, q = divmod(index, len(QUALITIES))
    return (tonic_pc + degree) % 12, QUALITIES[q]


def encode_chord_duration(beats: float) -> int:
    best = min(range(len(CHORD_DURATION_BEATS)), key=lambda i: (abs(CHORD_DURATION_BEATS[i] - beats), i))
    return 2 + best


def decode_chord_duration(token: int) -> int:
    return CHORD_DURATION_BEATS[token - 2]


def encode_progression(chords: list[Chord], tonic_pc: int, mode: str, beats_per_bar: float = 4.0) -> np.ndarray:
    """Chords -> int array (C, 4): symbol, duration, beat position in bar, mode."""
    rows = []
    for chord in sorted(chords, key=lambda c: c.start):
        beat_pos = int(round(chord.start)) % max(1, int(beats_per_bar))
        rows.append((encode_chord_symbol(chord.root, chord.quality, tonic_pc),
                     encode_chord_duration(chord.duration), min(beat_pos, POSITIONS - 1), MODE_INDEX[mode]))
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def decode_progression(tokens, tonic_pc: int, start_beat: float = 0.0) -> list[Chord]:
    chords, t = [], start_beat
    for sym, dur, *_ in tokens:
        root, quality = decode_chord_symbol(int(sym), tonic_pc)
        beats = decode_chord_duration(int(dur))
        chords.append(Chord(root, quality, t, float(beats)))
        t += beats
    return chords
