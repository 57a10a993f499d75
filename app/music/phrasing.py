"""How a lo-fi player phrases the melody model's tune (the model writes the pitches; this is the
arrangement's doing): repeated notes tied, call and response with a breath at the end of every
two-bar phrase, 8th-note passing tones, anticipations an 8th ahead of the bar or half bar when the
harmony allows, pickups into the next phrase, and accents by position.

Every function takes notes (beats, relative to the phrase's start) and returns a new list.
"""

from __future__ import annotations

import random

from app.music import theory
from app.music.song import Chord, Note, chord_finder
from app.music.voicing import accent

PHRASE_BARS = 2  # a call or a response
SPLIT_SHARE = 0.4  # share of stepwise quarter notes split into two 8ths (a passing or neighbour tone)
ANTICIPATE_SHARE = 0.45  # share of notes on the bar or half bar that come in an 8th early
PICKUP_SHARE = 0.6  # share of phrases led into by a pickup 8th


def _clashes(pitch: int, chord: Chord | None) -> bool:
    """True when the pitch rubs a semitone against the chord (theory.rubs); never without a chord."""
    return chord is not None and theory.rubs(pitch, chord.pitch_classes())


def tie_repeats(notes: list[Note], longest: float = 3.0) -> list[Note]:
    """A note repeating the pitch of the one it follows without a gap becomes one longer note."""
    out: list[Note] = []
    for n in sorted(notes, key=lambda n: n.start):
        last = out[-1] if out else None
        if last and last.pitch == n.pitch and abs(last.end - n.start) < 1e-6 and n.end - last.start <= longest:
            out[-1] = Note(last.pitch, last.start, n.end - last.start, last.velocity)
        else:
            out.append(n)
    return out


def breathe(notes: list[Note], length: float, bar: float, rng: random.Random, energy: float) -> list[Note]:
    """Call and response: the last 1-2 beats of every PHRASE_BARS bars are silent (fewer with more
    energy); a note running into the breath is cut, one starting in it is dropped."""
    phrase = PHRASE_BARS * bar
    rests = []
    at = phrase
    while at <= length + 1e-9:
        breath = rng.choice((1.0, 1.5, 2.0)) * (1.2 - 0.4 * energy)
        rests.append((at - round(breath * 2) / 2, at))
        at += phrase
    out = []
    for n in notes:
        cut = n.end
        drop = False
        for lo, hi in rests:
            if lo - 1e-9 <= n.start < hi:
                drop = True
            elif n.start < lo < n.end:
                cut = min(cut, lo)
        if not drop and cut - n.start >= 0.25:
            out.append(Note(n.pitch, n.start, cut - n.start, n.velocity))
    return out


def _step_between(a: int, b: int, scale: set[int]) -> int | None:
    """A scale tone strictly between a and b, nearest b; a neighbour of a when they are equal or a step apart."""
    lo, hi = sorted((a, b))
    between = [p for p in range(lo + 1, hi) if p % 12 in scale]
    if between:
        return min(between, key=lambda p: abs(p - b))
    return next((p for p in (a + 2, a + 1, a - 1, a - 2) if p % 12 in scale and p != b), None)


def passing_tones(notes: list[Note], scale: set[int], chord_at, rng: random.Random, share: float = SPLIT_SHARE) -> list[Note]:
    """Split a share of quarter notes on a beat into an 8th and an 8th passing tone toward the next
    note (or a neighbour), when the passing tone does not clash with the chord sounding under it."""
    out: list[Note] = []
    ordered = sorted(notes, key=lambda n: n.start)
    for i, n in enumerate(ordered):
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        on_beat = abs(n.start - round(n.start)) < 1e-6
        if on_beat and abs(n.duration - 1.0) < 1e-6 and nxt is not None and rng.random() < share:
            passing = _step_between(n.pitch, nxt.pitch, scale)
            if passing is not None and not _clashes(passing, chord_at(n.start + 0.5)):
                out += [Note(n.pitch, n.start, 0.5, n.velocity),
                        Note(passing, n.start + 0.5, 0.5, max(1, n.velocity - 8))]
                continue
        out.append(n)
    return out


def anticipate(notes: list[Note], chord_at, bar: float, rng: random.Random, share: float = ANTICIPATE_SHARE) -> list[Note]:
    """Move a share of the notes on a bar line or half bar an 8th earlier (the note before gives up
    that 8th), when the note does not clash with the chord sounding at its new onset."""
    out = sorted(notes, key=lambda n: n.start)
    for i in range(1, len(out)):
        n, before = out[i], out[i - 1]
        strong = abs((n.start / (bar / 2)) - round(n.start / (bar / 2))) < 1e-6
        if (strong and abs(before.end - n.start) < 1e-6 and before.duration >= 1.0 and rng.random() < share
                and not _clashes(n.pitch, chord_at(n.start - 0.5))):
            out[i - 1] = Note(before.pitch, before.start, before.duration - 0.5, before.velocity)
            out[i] = Note(n.pitch, n.start - 0.5, n.duration + 0.5, min(127, n.velocity + 6))
    return out


def pickups(notes: list[Note], scale: set[int], chord_at, rng: random.Random, share: float = PICKUP_SHARE) -> list[Note]:
    """An 8th pickup a scale step below (or above) a note that follows a rest of a beat or more."""
    ordered = sorted(notes, key=lambda n: n.start)
    out = list(ordered)
    for i, n in enumerate(ordered):
        gap_start = ordered[i - 1].end if i else 0.0
        if n.start - gap_start >= 1.0 and n.start >= 0.5 and rng.random() < share:
            step = _step_between(n.pitch, n.pitch - 3 if rng.random() < 0.6 else n.pitch + 3, scale)
            if step is not None and not _clashes(step, chord_at(n.start - 0.5)):
                out.append(Note(step, n.start - 0.5, 0.5, max(1, n.velocity - 10)))
    return sorted(out, key=lambda n: n.start)


def phrase(notes: list[Note], chords: list[Chord], key: int, mode: str, length: float, bar: float,
           rng: random.Random, energy: float) -> list[Note]:
    """The whole treatment for one sampled phrase (notes and chords relative to its start)."""
    scale = theory.scale_pitch_classes(key, mode)
    chord_at = chord_finder(chords)
    shaped = tie_repeats(notes)
    shaped = breathe(shaped, length, bar, rng, energy)
    shaped = passing_tones(shaped, scale, chord_at, rng, SPLIT_SHARE * (0.6 + 0.8 * energy))
    shaped = anticipate(shaped, chord_at, bar, rng)
    shaped = pickups(shaped, scale, chord_at, rng)
    return [Note(n.pitch, round(n.start, 4), round(n.duration, 4), accent(n.velocity, n.start % bar, bar))
            for n in shaped if n.duration > 1e-6]
