"""What a lo-fi keys player does with the chord model's progression: map it into a church mode,
let it breathe (about one change a bar), colour it (9ths, 11ths, 13ths, 6/9, add9, sus, altered
dominants, a few plain triads) by each chord's function, substitute (tritone, chromatic approach,
backdoor ii-V, borrowed iv, ii-V split, slash chords) and push changes an 8th ahead of the bar.

Every function takes chords in beats and returns new lists; randomness comes from the rng passed in.
"""

from __future__ import annotations

import random
from dataclasses import replace

from app.music import theory
from app.music.song import Chord
from app.config import DEFAULT_COLOUR

# Share of bars of the model's two-chords-a-bar progressions that keep both chords: the rest hold
# one chord for the bar, as lo-fi loops do (chords of 3-4 beats, about 1.1 changes a bar).
KEEP_SPLIT_BAR = 0.2
PUSH_SHARE = 0.45  # share of in-section bar-line changes anticipated by an 8th


# --- modes ----------------------------------------------------------------------------------

_TRIADS = {(4, 7): "maj", (3, 7): "min", (3, 6): "dim", (4, 8): "aug"}
_SEVENTHS = {(4, 7, 11): "maj7", (4, 7, 10): "dom7", (3, 7, 10): "min7", (3, 6, 10): "hdim7", (3, 7, 11): "min7",
             (3, 6, 9): "dim7", (4, 8, 10): "dom7", (4, 8, 11): "maj7"}


# The chord that says the mode's name (degree above the tonic, quality): dorian's major IV,
# phrygian's bII, mixolydian's bVII, lydian's major II. It replaces a mapped chord that came out diminished.
CHARACTERISTIC = {"dorian": (5, "maj"), "phrygian": (1, "maj7"), "mixolydian": (10, "maj"), "lydian": (2, "maj")}


def to_mode(chords: list[Chord], key: int, mode: str) -> list[Chord]:
    """Chords sampled in the parent mode (major or minor) -> the church mode's harmony. A chord whose
    tones all lie in the mode's scale stays; otherwise its root moves to the mode's characteristic
    note when the root itself is outside the scale (dorian's major 6th, mixolydian's b7, lydian's #4,
    phrygian's b2), and its third, fifth and seventh are stacked from the mode's scale; one that comes
    out diminished becomes the mode's characteristic chord instead."""
    if mode in theory.MODES:
        return list(chords)
    scale = theory.scale_pitch_classes(key, mode)
    out = []
    for c in chords:
        tones = theory.chord_pitch_classes(c.root, theory.token_quality(c.quality))
        if tones <= scale:
            out.append(c)
            continue
        root = c.root if c.root in scale else next(r for r in ((c.root + 1) % 12, (c.root - 1) % 12) if r in scale)
        pick = lambda options: next((i for i in options if (root + i) % 12 in scale), options[0])  # noqa: E731
        third, fifth = pick((3, 4) if 3 in theory.CHORD_QUALITIES[c.quality] else (4, 3)), pick((7, 6, 8))
        if 10 in theory.CHORD_QUALITIES[c.quality] or 11 in theory.CHORD_QUALITIES[c.quality]:
            quality = _SEVENTHS.get((third, fifth, pick((10, 11))), "min7" if third == 3 else "dom7")
        else:
            quality = _TRIADS.get((third, fifth), "min" if third == 3 else "maj")
        if quality in ("dim", "hdim7"):
            degree, quality = CHARACTERISTIC[mode]
            root = (key + degree) % 12
        out.append(replace(c, root=root, quality=quality))
    return out


# --- harmonic rhythm --------------------------------------------------------------------------

def slower_changes(chords: list[Chord], bar: float, rng: random.Random, keep_split: float = KEEP_SPLIT_BAR) -> list[Chord]:
    """Fewer changes: in most bars the chord on the downbeat holds the whole bar (a chord that
    starts mid-bar is dropped, its time given to the one before); repeats merge into one chord."""
    out: list[Chord] = []
    bar_keeps: dict[int, bool] = {}
    for c in chords:
        bar_index = int(c.start // bar + 1e-9)
        mid_bar = c.start - bar_index * bar > 1e-9
        keep = bar_keeps.setdefault(bar_index, rng.random() < keep_split)
        if mid_bar and out and not keep:
            last = out.pop()
            out.append(replace(last, duration=c.end - last.start))
        elif out and (out[-1].root, out[-1].quality) == (c.root, c.quality):
            last = out.pop()
            out.append(replace(last, duration=c.end - last.start))
        else:
            out.append(c)
    return out


# What a player does with a loop that came out as one chord: alternate it with chords of the mode,
# a bar each (degrees above the loop's chord, each moved into the mode's scale).
MOVING_LOOPS = {"minor": [(0, 5, 0, 5), (0, 8, 5, 7)], "major": [(0, 9, 2, 7), (0, 5, 0, 5)]}


def diatonic_seventh(root: int, key: int, mode: str) -> str:
    """The seventh chord the mode's scale stacks on this root (min7, maj7, dom7 or hdim7)."""
    scale = theory.scale_pitch_classes(key, mode, leading_tone=False)
    pick = lambda options: next((i for i in options if (root + i) % 12 in scale), options[0])  # noqa: E731
    third, fifth, seventh = pick((3, 4)), pick((7, 6, 8)), pick((10, 11, 9))
    return _SEVENTHS.get((third, fifth, seventh), "min7" if third == 3 else "dom7")


def keep_moving(loop: list[Chord], key: int, mode: str, bar: float, rng: random.Random) -> list[Chord]:
    """A loop with at most one root in the mode's scale (the model's loop collapsed into one chord
    when its repeats merged, or one chord and a chromatic one that fit_to_melody may leave out) gets
    motion: each chord of that root lasting two bars or more becomes a bar-a-chord alternation in the
    mode starting on it: i iv i iv or i bVI iv v (minor family), I vi ii V or I IV I IV (major
    family), each root moved into the scale. Any other loop is returned as it is (rng not drawn)."""
    if len({c.root for c in loop if c.root in theory.scale_pitch_classes(key, mode)}) > 1:
        return list(loop)
    long = [c for c in loop if c.duration >= 2 * bar - 1e-9]
    if not long:
        return list(loop)
    scale = theory.scale_pitch_classes(key, mode, leading_tone=False)
    degrees = rng.choice(MOVING_LOOPS[theory.PARENT_MODE[mode]])
    out: list[Chord] = []
    for c in loop:
        if c not in long:
            out.append(c)
            continue
        bars = int(round(c.duration / bar))
        for i in range(bars):
            root = (c.root + degrees[i % len(degrees)]) % 12
            root = root if root in scale else (root - 1) % 12 if (root - 1) % 12 in scale else (root + 1) % 12
            quality = c.quality if root == c.root else diatonic_seventh(root, key, mode)
            out.append(Chord(root, quality, c.start + i * c.duration / bars, c.duration / bars))
    return out


def push_changes(chords: list[Chord], bar: float, rng: random.Random, share: float = PUSH_SHARE) -> list[Chord]:
    """Anticipate a share of the changes that fall on a bar line (not the first): the chord comes in
    an 8th early and the one before gives up that 8th. A chord shorter than a beat is never made shorter."""
    out = list(chords)
    for i in range(1, len(out)):
        c, before = out[i], out[i - 1]
        on_bar = abs(c.start / bar - round(c.start / bar)) < 1e-9
        if on_bar and before.end == c.start and before.duration >= 1.5 and rng.random() < share:
            out[i - 1] = replace(before, duration=before.duration - 0.5)
            out[i] = replace(c, start=c.start - 0.5, duration=c.duration + 0.5)
    return out


# --- colour -----------------------------------------------------------------------------------

def _function(chord: Chord, key: int, mode: str) -> str:
    """'tonic', 'dominant' (a dom7 family chord), 'minor', 'major', 'sus' or 'other'."""
    base = theory.token_quality(chord.quality)
    if (chord.root - key) % 12 == 0 and base in ("maj", "maj7", "maj9", "min", "min7", "min9"):
        return "tonic"
    if base == "dom7":
        return "dominant"
    if base in ("min", "min7", "min9"):
        return "minor"
    if base in ("maj", "maj7", "maj9"):
        return "major"
    if base in ("sus4", "sus2"):
        return "sus"
    return "other"


def _options(function: str, base: str, minor_target: bool) -> tuple[list[str], list[str], list[str]]:
    """(extended, seventh, triad) colours for a chord of this function and token quality."""
    minor_like = base in ("min", "min7", "min9")
    if function == "tonic":
        return ((["min9", "min11", "madd9"], ["min7", "min6"], ["min"]) if minor_like else
                (["maj9", "maj69", "add9", "maj13"], ["maj7", "maj6"], ["maj"]))
    if function == "dominant":
        altered = ["dom7b9", "dom7s9", "dom7b13"] if minor_target else ["dom9", "dom13", "dom9sus4", "dom7b9"]
        return altered + ["dom9", "dom13"], ["dom7", "dom7sus4"], ["dom7"]
    if function == "minor":
        return ["min9", "min11"], ["min7"], ["min"]
    if function == "major":
        return ["maj9", "maj69", "maj9s11", "add9"], ["maj7", "maj6"], ["maj"]
    if function == "sus":
        return ["dom9sus4"], ["dom7sus4", base], [base]
    if base == "hdim7":
        return ["min7b5_9"], ["hdim7"], ["hdim7"]
    return [base], [base], [base]


def colour(chord: Chord, key: int, mode: str, rng: random.Random, amount: float = DEFAULT_COLOUR,
           next_chord: Chord | None = None) -> Chord:
    """A coloured quality for one chord by its function: with probability `amount` a 9th or more,
    else a seventh or sixth, and on non-dominant chords sometimes (more at low amounts) the plain
    triad. Diatonic chords only take extensions that lie in the mode's scale (plus their own tones);
    a dominant resolving to a minor chord takes an altered colour (b9, #9, b13)."""
    function = _function(chord, key, mode)
    base = theory.token_quality(chord.quality)
    minor_target = next_chord is not None and theory.token_quality(next_chord.quality) in ("min", "min7", "min9")
    extended, seventh, triad = _options(function, base, minor_target)
    allowed = theory.scale_pitch_classes(key, mode) | theory.chord_pitch_classes(chord.root, base)

    def fits(q: str) -> bool:
        return q.startswith("dom7") and q[4:] in ("b9", "s9", "b13") or theory.chord_pitch_classes(chord.root, q) <= allowed

    draw = rng.random()
    triad_share = 0.08 + 0.3 * (1.0 - amount) if function not in ("dominant", "other") else 0.0
    if draw < triad_share:
        pool = triad
    elif draw < triad_share + amount * (1.0 - triad_share):
        pool = [q for q in extended if fits(q)] or [q for q in seventh if fits(q)]
    else:
        pool = [q for q in seventh if fits(q)]
    return replace(chord, quality=pool[rng.randrange(len(pool))]) if pool else chord


def colour_all(chords: list[Chord], key: int, mode: str, rng: random.Random, amount: float = DEFAULT_COLOUR) -> list[Chord]:
    """colour() for each chord, knowing the chord it moves to."""
    return [colour(c, key, mode, rng, amount, chords[i + 1] if i + 1 < len(chords) else None)
            for i, c in enumerate(chords)]


# --- substitutions ----------------------------------------------------------------------------

def substitution_options(loop: list[Chord], key: int, mode: str) -> list[tuple[str, int, list[Chord]]]:
    """Every substitution that fits this pass of the loop: (name, index replaced, replacement)."""
    options = []
    major = theory.PARENT_MODE[mode] == "major"
    for i, c in enumerate(loop):
        degree = (c.root - key) % 12
        base = theory.token_quality(c.quality)
        nxt = loop[i + 1] if i + 1 < len(loop) else None
        resolves_down_fifth = nxt is not None and (c.root - nxt.root) % 12 == 7
        if base == "dom7" and resolves_down_fifth:  # G7 -> C becomes Db7(#11) -> C: the bass slides down
            options.append(("tritone", i, [replace(c, root=(c.root + 6) % 12, quality="dom9s11")]))
        if base == "dom7" and c.duration >= 2:  # G7 -> Dm7 G7
            half = c.duration / 2
            options.append(("ii-V", i, [Chord((c.root + 7) % 12, "min7", c.start, half),
                                        replace(c, start=c.start + half, duration=half)]))
        if major and degree == 7 and base == "dom7" and nxt is not None and (nxt.root - key) % 12 == 0:
            half = c.duration / 2  # backdoor: iv7 bVII7 -> I
            options.append(("backdoor", i, [Chord((key + 5) % 12, "min7", c.start, half),
                                            Chord((key + 10) % 12, "dom9", c.start + half, half)]))
        if major and degree == 5 and base in ("maj", "maj7", "maj9"):  # borrowed iv: F -> Fm6
            options.append(("borrowed iv", i, [replace(c, quality="min6" if c.duration < 4 else "min7")]))
        if nxt is not None and c.duration >= 2 and (nxt.root - c.root) % 12 not in (1, 11):
            approach = (nxt.root + 1) % 12  # a half step above the target, a beat before it
            options.append(("approach", i, [replace(c, duration=c.duration - 1),
                                            Chord(approach, "dom9" if base != "min7" else "min9", c.end - 1, 1.0)]))
        if degree == 7 and base == "dom7":  # V7 -> IV/V: the soft lo-fi dominant
            options.append(("slash", i, [replace(c, root=(key + 5) % 12, quality="maj7" if major else "min7",
                                                bass=c.root)]))
    return options


def substitute(loop: list[Chord], key: int, mode: str, rng: random.Random, count: int = 1) -> list[Chord]:
    """Up to `count` substitutions in one pass of the loop, each on a different chord. Returns a new
    list. A sus4 or sus2 tonic is never taken for a minor chord (the old relative-major swap made a
    bIIImaj7 that clashed a semitone with the melody)."""
    out = list(loop)
    used: set[int] = set()
    for _ in range(count):
        options = [o for o in substitution_options(out, key, mode) if o[1] not in used]
        if not options:
            break
        _, index, replacement = options[rng.randrange(len(options))]
        out = out[:index] + replacement + out[index + 1:]
        used = {u + len(replacement) - 1 if u > index else u for u in used} | set(range(index, index + len(replacement)))
    return out


def pedal(chords: list[Chord], bass_pc: int) -> list[Chord]:
    """The bass holds one note (usually the tonic) under moving chords: slash chords (Fmaj7/D)."""
    return [c if c.root == bass_pc else replace(c, bass=bass_pc) for c in chords]


def approach_into(chords: list[Chord], target: Chord, rng: random.Random) -> list[Chord]:
    """The turnaround into a section's next downbeat: the last chord gives its final beat to a chord
    a half step above the target (a tritone-substitute dominant) or below it (a leading dim7 colour)."""
    if not chords or chords[-1].duration < 2:
        return chords
    last = chords[-1]
    above = rng.random() < 0.7
    root = (target.root + (1 if above else -1)) % 12
    quality = "dom9" if above else "dom7b9"
    return chords[:-1] + [replace(last, duration=last.duration - 1), Chord(root, quality, last.end - 1, 1.0)]


# Each colour's next plainer quality: what a player falls back to when a tension rubs the tune.
PLAINER = {"maj13": "maj9", "maj9s11": "maj9", "maj9": "maj7", "maj69": "maj6", "add9": "maj", "maj6": "maj", "maj7": "maj",
           "min11": "min9", "min9": "min7", "madd9": "min", "min7": "min", "min6": "min", "dom13": "dom9",
           "dom9s11": "dom9", "dom9": "dom7", "dom7b9": "dom7", "dom7s9": "dom7", "dom7b13": "dom7",
           "dom9sus4": "dom7sus4", "dom7sus4": "sus4", "min7b5_9": "hdim7"}


def _rub(quality: str, root: int, melody: list[tuple[int, float]]) -> float:
    """Beats of melody (pitch class, beats) a semitone from one of the chord's tones without being one."""
    tones = theory.chord_pitch_classes(root, quality)
    return sum(beats for pc, beats in melody if theory.rubs(pc, tones))


def fit_to_melody(chords: list[Chord], melody, key: int, mode: str, min_overlap: float = 0.25) -> list[Chord]:
    """Listen to the tune: each chord takes the richest quality along its PLAINER chain that rubs
    the melody sounding over it least (melody: Notes), and a chromatic chord (an approach chord or
    tritone substitute, its root outside the scale) that still rubs it for half a beat or more is
    left out, the chord before it held instead. Returns new chords."""
    ordered = sorted(melody, key=lambda n: n.start)
    scale = theory.scale_pitch_classes(key, mode)
    out: list[Chord] = []
    for c in chords:
        heard = [(n.pitch % 12, min(n.end, c.end) - max(n.start, c.start)) for n in ordered
                 if n.start < c.end and n.end > c.start]
        heard = [(pc, beats) for pc, beats in heard if beats >= min_overlap]
        best, best_rub, quality = c.quality, _rub(c.quality, c.root, heard), c.quality
        while quality in PLAINER and best_rub > 0:
            quality = PLAINER[quality]
            rub = _rub(quality, c.root, heard)
            if rub < best_rub - 1e-9:
                best, best_rub = quality, rub
        if c.root not in scale and best_rub >= 0.5 and out and abs(out[-1].end - c.start) < 1e-9:
            out[-1] = replace(out[-1], duration=c.end - out[-1].start)
            continue
        out.append(c if best == c.quality else replace(c, quality=best))
    return out
