"""A moving bass line under the chords: the root (or a slash chord's bass) on each change, pushed
with the chord when the chord is pushed, then fifths, octaves and roots on the beats, rests, a
chromatic approach note into the next chord, and now and then a slide up into the root.

Register E1 (28) .. C3 (48): below every voicing. Times in beats, pitches MIDI numbers.
"""

from __future__ import annotations

import random

from app.music import theory
from app.music.song import Chord, Note, Part
from app.music.voicing import accent

BASS_LOW = 28  # E1
BASS_HIGH = 48  # C3
ROOT_LOW = 31  # G1: roots sit G1..F#2, leaving room for the octave and fifth above


def _fit(pitch: int) -> int:
    while pitch > BASS_HIGH:
        pitch -= 12
    while pitch < BASS_LOW:
        pitch += 12
    return pitch


def _chord_line(chord: Chord, nxt: Chord | None, energy: float, rng: random.Random) -> list[tuple[float, float, int]]:
    """(start, length, pitch) for one chord's stretch of the line."""
    root = theory.in_register(chord.bass if chord.bass is not None else chord.root, ROOT_LOW)
    fifth_iv = 7 if 7 in theory.CHORD_QUALITIES[chord.quality] else 6 if 6 in theory.CHORD_QUALITIES[chord.quality] else 7
    others = [_fit(root + 12), _fit(root + fifth_iv), _fit(root + fifth_iv - 12), root]
    if chord.bass is not None:  # a slash chord or a pedal: the bass stays on its note (the root's fifth may clash)
        others = [_fit(root + 12), root]
    events: list[tuple[float, float, int]] = [(chord.start, 1.0, root)]
    # Beats after the first that fall inside the chord, on the bar's grid.
    t = float(int(chord.start)) + 1.0
    while t < chord.end - 0.75:
        roll = rng.random()
        if roll < 0.25 - 0.15 * energy:
            pass  # a rest: the line breathes
        elif roll < 0.55:
            events.append((t + (0.5 if rng.random() < 0.3 * energy else 0.0), 0.5, rng.choice(others)))
        else:
            events.append((t, 1.0, rng.choice(others)))
        t += 1.0 if energy >= 0.3 else 2.0
    if nxt is not None and chord.duration >= 1.5 and rng.random() < 0.55:
        target = theory.in_register(nxt.bass if nxt.bass is not None else nxt.root, ROOT_LOW)
        step = rng.choice((-1, 1))
        events = [e for e in events if e[0] < nxt.start - 0.5 - 1e-9]
        events.append((nxt.start - 0.5, 0.5, _fit(target + step)))  # chromatic approach into the change
    return events


def bass_line(chords: list[Chord], energy: float, rng: random.Random, bar: float = 4.0, velocity: int = 86) -> Part:
    """The 'bass' part for these chords (already filtered to the sections where bass plays)."""
    notes: list[Note] = []
    for i, chord in enumerate(chords):
        nxt = chords[i + 1] if i + 1 < len(chords) and chords[i + 1].start <= chord.end + 1e-9 else None
        events = sorted(_chord_line(chord, nxt, energy, rng))
        for j, (start, length, pitch) in enumerate(events):
            if start < chord.start - 1e-9:
                continue
            until = events[j + 1][0] if j + 1 < len(events) else chord.end
            if nxt is None and j + 1 == len(events):
                until = chord.end
            length = min(length if j + 1 < len(events) else until - start, until - start) * 0.92
            if length < 0.1:
                continue
            approached = bool(notes) and notes[-1].end > start - 0.5  # an approach note already leads in
            if j == 0 and not approached and rng.random() < 0.1 and pitch - 2 >= BASS_LOW and start >= 0.25:
                notes.append(Note(pitch - 2, start - 0.25, 0.23, max(1, velocity - 20)))  # a slide up into the root
            notes.append(Note(pitch, round(start, 4), round(length, 4), accent(velocity, start % bar, bar)))
    return Part("bass", _monophonic(notes))


def _monophonic(notes: list[Note]) -> list[Note]:
    """Cut each note at the next onset, so the line never overlaps itself."""
    notes = sorted(notes, key=lambda n: n.start)
    out = []
    for i, n in enumerate(notes):
        end = n.end
        if i + 1 < len(notes):
            end = min(end, notes[i + 1].start)
        if end - n.start >= 0.1:
            out.append(Note(n.pitch, n.start, round(end - n.start, 4), n.velocity))
    return out
