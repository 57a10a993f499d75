"""The keys player's hands: a voicing for each chord (close, drop-2, rootless, spread) that moves as
little as possible from the last one, and a comping pattern per section (held and rolled in the
intro, pushed stabs in the groove, sparse hits in the breakdown).

Pitches are MIDI numbers; times in beats. The right hand sits in the fourth and fifth octaves with
its top at most VOICING_TOP, so the melody (lifted above it) always has its own register.
"""

from __future__ import annotations

import random

from app.music import theory
from app.music.song import Chord, Note, Part

VOICING_LOW = 43  # G2: the lowest note of a spread voicing's left hand
VOICING_TOP = 74  # D5: the highest voicing note; the melody sits above
MIN_TOP = 64  # E4: the lowest the voicings' ceiling goes under a low melody
RIGHT_HAND_LOW = 55  # G3: the lowest note of a close, drop-2 or rootless voicing
# How often each kind of voicing is chosen, per section kind (the rest of the weight is close position).
KIND_WEIGHTS = {
    "intro": {"spread": 0.45, "rootless": 0.25, "drop2": 0.2, "close": 0.1},
    "groove": {"spread": 0.25, "rootless": 0.45, "drop2": 0.2, "close": 0.1},
    "A": {"spread": 0.3, "rootless": 0.35, "drop2": 0.2, "close": 0.15},
    "B": {"spread": 0.3, "rootless": 0.35, "drop2": 0.2, "close": 0.15},
    "breakdown": {"spread": 0.5, "rootless": 0.3, "drop2": 0.1, "close": 0.1},
    "outro": {"spread": 0.45, "rootless": 0.25, "drop2": 0.2, "close": 0.1},
}
ROLL_STEP = 0.04  # beats between the notes of a rolled chord (about 30 ms at 80 BPM)


def _tones(chord: Chord) -> dict[str, int]:
    """A chord's tones by role: root, third, fifth, seventh (or 6th), and the tensions as 'ext1'..."""
    roles: dict[str, int] = {}
    for i in theory.CHORD_QUALITIES[chord.quality]:
        pc = (chord.root + i) % 12
        role = ("root" if i == 0 else "third" if i in (2, 3, 4, 5) else "fifth" if i in (6, 7, 8)
                else "seventh" if i in (9, 10, 11) else f"ext{i}")
        roles.setdefault(role, pc)
    return roles


def _stack(pcs: list[int], low: int) -> list[int]:
    """Pitch classes stacked upward in the given order, the first at or above low."""
    out: list[int] = []
    for pc in pcs:
        floor = out[-1] + 1 if out else low
        out.append(theory.in_register(pc, floor))
    return out


def candidates(chord: Chord, kind: str, top: int = VOICING_TOP) -> list[list[int]]:
    """Every placement of one kind of voicing within the register. Kinds: 'close' (the chord's
    tones stacked), 'drop2' (close four notes with the second from the top an octave down),
    'rootless' (3-5-7-9 or 7-9-3-5 and the like: the bass has the root) and 'spread' (root and
    seventh or fifth in the left hand, third and tensions an octave or more above)."""
    t = _tones(chord)
    exts = [pc for role, pc in sorted(t.items()) if role.startswith("ext")]
    upper = [t[r] for r in ("third", "fifth", "seventh") if r in t]
    if kind == "rootless":
        if "seventh" not in t and not exts:
            return []
        shapes = [[t.get("third"), t.get("fifth"), t.get("seventh"), *exts[:1]],
                  [t.get("seventh"), *exts[:1], t.get("third"), t.get("fifth")],
                  [t.get("third"), t.get("seventh"), *exts[:2]]]
        low_range = range(RIGHT_HAND_LOW, RIGHT_HAND_LOW + 12)
    elif kind == "spread":
        left = [t["root"], t.get("seventh", t.get("fifth"))]
        right = [t.get("third"), *(exts[:2] or [t.get("fifth")])]
        shapes = [left + right]
        low_range = range(VOICING_LOW, VOICING_LOW + 12)
    else:
        shapes = []
        body = [t["root"], *upper, *exts[:1]]
        for r in range(len(body)):  # every inversion
            shapes.append(body[r:] + body[:r])
        low_range = range(RIGHT_HAND_LOW, RIGHT_HAND_LOW + 12)
    out = []
    for shape in shapes:
        pcs = [pc for pc in shape if pc is not None]
        if len(pcs) < 3:
            continue
        for low in low_range:
            if low % 12 != pcs[0]:
                continue
            notes = _stack(pcs, low)
            if kind == "drop2" and len(notes) >= 4:
                notes = sorted(notes[:-2] + [notes[-2] - 12] + notes[-1:])
            if notes[-1] <= top and notes[0] >= VOICING_LOW and notes[-1] - notes[0] <= 26:
                out.append(notes)
    return out


def motion(previous: list[int] | None, notes: list[int]) -> float:
    """Voice-leading cost: how far each voice moves (every note to the nearest note of the other
    chord, both ways), plus a pull toward the middle of the register so voicings do not drift."""
    centre = abs(sum(notes) / len(notes) - 63)
    if not previous:
        return centre
    there = sum(min(abs(n - p) for p in previous) for n in notes)
    back = sum(min(abs(p - n) for n in notes) for p in previous)
    return (there + back) / (len(notes) + len(previous)) + 0.3 * centre


def voicing_top(melody_pitches: list[int]) -> int:
    """The highest voicing note for a melody: VOICING_TOP, or lower (to MIN_TOP) so that the voicings
    stay under the melody's median when the melody could not be lifted above them."""
    if not melody_pitches:
        return VOICING_TOP
    median = sorted(melody_pitches)[len(melody_pitches) // 2]
    return max(MIN_TOP, min(VOICING_TOP, median - 2))


def _folded_under(chord: Chord, top: int) -> list[int]:
    """The voicing of last resort: the chord's tones close around the middle register, each note
    above top moved down by octaves until it is not (theory.voice_chord folds only once)."""
    notes = theory.voice_chord(chord.root, chord.quality, high=top)
    return sorted({n - 12 * ((n - top + 11) // 12) if n > top else n for n in notes})


def ceiling_under(melody: list[Note], start: float, end: float, top: int = VOICING_TOP) -> int:
    """The highest voicing note for a chord sounding from start to end (beats): top, or lower (to
    MIN_TOP) so that every voicing note sits at least a whole step under the lowest melody note
    sounding over the chord: the tune is neither doubled nor rubbed a semitone from below."""
    over = [n.pitch for n in melody if n.start < end - 1e-9 and n.end > start + 1e-9]
    return top if not over else max(MIN_TOP, min(top, min(over) - 2))


def voice_progression(chords: list[Chord], section_of, rng: random.Random, top: int = VOICING_TOP,
                      melody: list[Note] | tuple = (), bass_plays=lambda beat: True) -> list[tuple[list[int], str]]:
    """A voicing and its kind for each chord: the kind drawn by the section's weights, the placement
    the one nearest the previous voicing (voice leading), every note at most `top` and under the
    melody sounding over the chord (ceiling_under). A rootless voicing is drawn only where the bass
    plays the chord's root (bass_plays(beat) and no slash bass): elsewhere the hands keep the root."""
    out = []
    previous = None
    for chord in chords:
        weights = KIND_WEIGHTS.get(section_of(chord.start), KIND_WEIGHTS["A"])
        if not bass_plays(chord.start) or chord.bass not in (None, chord.root):
            weights = {**weights, "rootless": 0.0}
        kinds = list(weights)
        kind = rng.choices(kinds, [weights[k] for k in kinds])[0]
        ceiling = ceiling_under(melody, chord.start, chord.end, top)
        options = candidates(chord, kind, ceiling)
        if not options:
            kind = "close"
            options = candidates(chord, kind, ceiling) or [_folded_under(chord, ceiling)]
        best = min(options, key=lambda v: motion(previous, v))
        out.append((best, kind))
        previous = best
    return out


# --- comping ---------------------------------------------------------------------------------

# Hits relative to the start of each bar a chord is played in (beats) and their lengths as a share of
# the time to the next hit. A chord longer than a bar is played again in each bar (every two bars in
# the breakdown): the Rhodes is near silent 4-6 s after a strike, so a held chord dies away.
PATTERNS = {
    "sustain": [(0.0, 1.0)],
    "stabs": [(0.0, 0.7), (1.5, 0.6), (3.5, 0.9)],
    "push": [(0.0, 0.9), (2.5, 0.8)],
    "pulse": [(0.0, 0.8), (1.5, 0.5), (2.5, 0.9)],
    "sparse": [(0.0, 0.6)],
}
SECTION_PATTERNS = {"intro": ["sustain"], "groove": ["stabs", "push", "pulse"], "A": ["push", "stabs", "sustain"],
                    "B": ["pulse", "push", "stabs"], "breakdown": ["sparse"], "outro": ["sustain", "push"]}
RESTRIKE_BARS = {"breakdown": 2}  # bars between strikes of a held chord (1 elsewhere)
MAX_HOLD_BARS = {"breakdown": 1.5}  # the longest a chord note rings, in bars (1 elsewhere)
FIRST_SPAN = 1.5  # beats: a chord that starts closer than this to a bar line is struck again only at the next
LAST_SPAN = 1.0  # beats: no re-strike closer than this to the next chord
RESTRIKE_SOFTER = 8  # velocity: a held chord's re-strike is played softer than its first attack
RESTRIKE_ROLL = 0.35  # share of a held chord's re-strikes that are rolled
RESTRIKE_PUSH = 0.3  # share of a held chord's re-strikes pushed to the "and" of 4 before the bar


def accent(velocity: int, beat_in_bar: float, bar: float = 4.0) -> int:
    """Velocity by position: the downbeat strongest, beat 3 next, other beats softer, and 8ths
    ahead of a beat (pushes) a little stronger than other off-beats."""
    frac = beat_in_bar % 1.0
    if abs(beat_in_bar) < 1e-6:
        delta = 8
    elif abs(beat_in_bar - bar / 2) < 1e-6:
        delta = 4
    elif frac < 1e-6:
        delta = 0
    elif abs(frac - 0.5) < 1e-6:
        delta = -2
    else:
        delta = -6
    return max(1, min(127, velocity + delta))


def windows(chord: Chord, section: str, bar: float) -> list[tuple[float, float, bool]]:
    """The spans (start, end, restruck) a chord is played in (beats): the first from its start, then
    one from each bar line (every RESTRIKE_BARS bars) that lies at least FIRST_SPAN past where a
    re-strike was due and LAST_SPAN before the chord ends. A chord of a bar or less is one span."""
    every = RESTRIKE_BARS.get(section, 1) * bar
    cuts = [(chord.start, False)]
    line = (int(chord.start // bar + 1e-9) + 1) * bar
    while line <= chord.end - LAST_SPAN + 1e-9:
        if line - cuts[-1][0] >= every - bar + FIRST_SPAN - 1e-9:
            cuts.append((line, True))
        line += bar
    return [(at, cuts[i + 1][0] if i + 1 < len(cuts) else chord.end, again) for i, (at, again) in enumerate(cuts)]


def _pushed(spans: list[tuple[float, float, bool]], rng: random.Random) -> list[tuple[float, float, bool]]:
    """A share (RESTRIKE_PUSH) of a held chord's re-strikes moved an 8th ahead, onto the "and" of 4:
    the span before gives up that 8th. Returns new spans."""
    out = list(spans)
    for i in range(1, len(out)):
        if out[i][2] and out[i - 1][1] - out[i - 1][0] >= 2.0 and rng.random() < RESTRIKE_PUSH:
            out[i - 1] = (out[i - 1][0], out[i - 1][1] - 0.5, out[i - 1][2])
            out[i] = (out[i][0] - 0.5, out[i][1], True)
    return out


def comp(chords: list[Chord], voicings: list[tuple[list[int], str]], section_of, energy: float,
         rng: random.Random, bar: float = 4.0, velocity: int = 60) -> Part:
    """The 'chords' part: each chord played in its section's pattern (one pattern per section kind,
    drawn once; energy above 0.5 adds the pattern's later stabs, below drops them) in every bar it
    lasts (windows), no note held longer than a bar (MAX_HOLD_BARS in the breakdown); sustained
    chords and some others rolled from the bottom up, a held chord's re-strikes softer."""
    notes: list[Note] = []
    pattern_of: dict[str, str] = {}
    for chord, (pitches, _) in zip(chords, voicings):
        section = section_of(chord.start)
        name = pattern_of.setdefault(section, rng.choice(SECTION_PATTERNS.get(section, ["sustain"])))
        held = name in ("sustain", "sparse")
        spans = windows(chord, section, bar)
        if held:
            spans = _pushed(spans, rng)
        longest = MAX_HOLD_BARS.get(section, 1.0) * bar
        for at, until_span, again in spans:
            span = until_span - at
            hits = [h for h in PATTERNS[name] if h[0] < span - 0.2]
            if energy < 0.35 and len(hits) > 1:
                hits = hits[:1]
            elif energy > 0.7 and not held and span >= 3:
                hits = sorted(set(hits) | {(1.0, 0.4)})
            roll = (rng.random() < RESTRIKE_ROLL) if held and again else held or rng.random() < 0.15
            softer = RESTRIKE_SOFTER if held and again else 0
            for j, (offset, share) in enumerate(hits):
                start = at + offset
                until = at + hits[j + 1][0] if j + 1 < len(hits) else until_span
                length = min(longest, max(0.25, (until - start) * share))
                level = accent(velocity - softer - (6 if name == "sparse" else 0), (start % bar), bar)
                for k, pitch in enumerate(pitches):
                    lag = k * ROLL_STEP if roll and j == 0 else 0.0
                    if lag < length:
                        notes.append(Note(pitch, round(start + lag, 4), round(length - lag, 4), level))
    return Part("chords", notes)
