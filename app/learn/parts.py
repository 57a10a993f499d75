"""Which part of a MIDI file is which: chords, bass, melody, drums; and where its key changes.

Real loop packs are not shaped like chorales: a chord loop is a track of block (or rolled, or
broken) voicings and a track of bass, often in a type 0 file with the parts on channels; a melody
loop is one monophonic line; a drum loop sits on channel 10. detect_parts reads the lines of
app.music.midi_io.read_midi_lines (one per track and channel) by their texture, channel, program
and name:

    from app.music.midi_io import read_midi_lines
    found = read_midi_lines("loop.mid")
    parts = detect_parts([Line(n, ch, prog, notes) for (n, ch, notes), prog in zip(found.lines, found.programs)])
    parts.chords, parts.bass, parts.melody, parts.drums   # lists of Note (beats)

key_segments splits a file where its key changes (key signature events, or the pitch content).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from app.music import theory
from app.music.song import Chord, Note

GM_DRUM_CHANNEL = 9  # channel 10 counted from 1
BASS_PROGRAMS = range(32, 40)  # General MIDI's acoustic .. synth basses
ROLL_BEATS = 0.125  # notes struck within a 32nd of each other are one attack (a rolled chord)
HELD_BEATS = 0.125  # an earlier note still sounding this long after an attack is held under it
CHORD_ATTACK_SHARE = 0.4  # a line is a chord part when this share of its attacks sound 3+ pitches ...
DYAD_ATTACK_SHARE = 0.7  # ... or this share sound 2+ (shell voicings)
MONO_SHARE = 0.7  # a single line: this share of its attacks strike one note
BASS_MEAN_PITCH = 53  # a single line lower than F3 on average is a bass line
ARPEGGIO_LEAP_SHARE = 0.6  # a broken chord moves by leaps of 3+ semitones ...
ARPEGGIO_WINDOW_SHARE = 0.7  # ... and its half bars spell chords
MIN_MELODY_NOTES = 4  # a one-bar melody loop has a handful of notes
DRUM_NAME = re.compile(r"drum|perc|kit|beat|groove", re.I)
BASS_NAME = re.compile(r"bass", re.I)
# Notes a drum kit plays (kick, snare, hats, toms, cymbals): a channel-10 line made of these is drums.
KIT_NOTES = frozenset(range(35, 60))
# Key segments: a file is split where the key changes only when each side lasts MIN_KEY_BARS, fits
# its own key this well (Krumhansl correlation) and fits it better than the whole file fits one key.
MIN_KEY_BARS = 4
MIN_KEY_FIT = 0.6
MIN_KEY_GAIN = 0.12

# Krumhansl-Kessler key profiles.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
# (24, 12): each key's profile, centred and normalised, so a correlation is one dot product.
_KEYS = [(tonic, mode) for mode in ("major", "minor") for tonic in range(12)]
_PROFILES = np.array([np.roll(MAJOR_PROFILE if m == "major" else MINOR_PROFILE, t) for t, m in _KEYS])
_PROFILES = (_PROFILES - _PROFILES.mean(1, keepdims=True)) / np.linalg.norm(
    _PROFILES - _PROFILES.mean(1, keepdims=True), axis=1, keepdims=True)


@dataclass
class Line:
    """One track's notes on one channel, with its name and General MIDI program (None: none set)."""

    name: str
    channel: int
    program: int | None
    notes: list[Note]

    @property
    def label(self) -> str:
        return f"{self.name} (channel {self.channel + 1})"


@dataclass
class FileParts:
    """The parts found in one file (notes in beats) and what each line was taken as."""

    chords: list[Note] = field(default_factory=list)  # the voicings (block or rolled)
    broken: list[Note] = field(default_factory=list)  # broken chords (arpeggios)
    bass: list[Note] = field(default_factory=list)
    melody: list[Note] = field(default_factory=list)  # monophonic
    drums: list[Note] = field(default_factory=list)  # GM drum note numbers
    roles: dict[str, str] = field(default_factory=dict)  # line label -> 'chords', 'bass', ...


@dataclass
class Texture:
    """How a line sounds, from its attacks (notes struck within ROLL_BEATS of each other)."""

    attacks: int
    chord_share: float  # attacks with 3+ distinct pitches sounding
    dyad_share: float  # attacks with 2+
    alone_share: float  # attacks of one note struck alone (held notes may sound under it)
    leap_share: float  # successive attacks' top notes 3+ semitones apart
    mean_pitch: float
    distinct_pitches: int


def attack_groups(notes: list[Note]) -> list[list[Note]]:
    """Notes sorted by start, grouped into attacks: each note struck within ROLL_BEATS of the one
    before it joins its attack (so a rolled chord is one attack, a 16th-note run is not)."""
    groups: list[list[Note]] = []
    for n in sorted(notes, key=lambda n: (n.start, n.pitch)):
        if groups and n.start - groups[-1][-1].start <= ROLL_BEATS:
            groups[-1].append(n)
        else:
            groups.append([n])
    return groups


def _sounding(groups: list[list[Note]]) -> list[set[int]]:
    """The pitches sounding at each attack: its own and earlier notes held past it (HELD_BEATS)."""
    out, held = [], []
    for g in groups:
        t = g[0].start
        held = [n for n in held if n.end > t + HELD_BEATS]
        out.append({n.pitch for n in g} | {n.pitch for n in held})
        held += g
    return out


def texture(notes: list[Note]) -> Texture:
    groups = attack_groups(notes)
    if not groups:
        return Texture(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0)
    sounding = _sounding(groups)
    counts = np.array([len(s) for s in sounding])
    tops = np.array([max(n.pitch for n in g) for g in groups])
    leaps = np.abs(np.diff(tops)) >= 3 if len(tops) > 1 else np.zeros(1, bool)
    return Texture(len(groups), float(np.mean(counts >= 3)), float(np.mean(counts >= 2)),
                   float(np.mean([len(g) == 1 for g in groups])),
                   float(np.mean(leaps)), float(np.mean([n.pitch for n in notes])), len({n.pitch for n in notes}))


def is_chordal(t: Texture) -> bool:
    """Attacks that sound chords, not a single line whose notes ring on (a held or pedalled melody)."""
    return t.attacks > 0 and t.alone_share < MONO_SHARE and (t.chord_share >= CHORD_ATTACK_SHARE
                                                              or t.dyad_share >= DYAD_ATTACK_SHARE)


def is_arpeggio(notes: list[Note], t: Texture, beats_per_bar: float) -> bool:
    """A broken chord: a single line moving mostly by leaps whose half bars each spell a chord
    (3+ pitch classes, all tones of the chord name_chord finds)."""
    if t.alone_share < MONO_SHARE or t.leap_share < ARPEGGIO_LEAP_SHARE:
        return False
    window = beats_per_bar / 2 if beats_per_bar % 2 == 0 else beats_per_bar
    windows: dict[int, set[int]] = {}
    for n in notes:
        windows.setdefault(int(n.start // window), set()).add(n.pitch % 12)
    full = [pcs for pcs in windows.values() if len(pcs) >= 3]
    if not full:
        return False
    spelled = sum(1 for pcs in full if (named := theory.name_chord(pcs)) is not None
                  and pcs <= theory.chord_pitch_classes(*named))
    return len(full) >= 0.5 * len(windows) and spelled >= ARPEGGIO_WINDOW_SHARE * len(full)


def is_drum_line(line: Line, has_pitched_company: bool, t: Texture) -> bool:
    """Channel 10 is drums, unless it holds a melody beside other pitched parts: a single line of
    5+ pitches, mostly off the kit's notes. Elsewhere a line is drums when its name says so and
    its notes are the kit's."""
    on_kit = sum(n.pitch in KIT_NOTES for n in line.notes) / max(1, len(line.notes))
    if line.channel == GM_DRUM_CHANNEL:
        melodic = has_pitched_company and t.alone_share >= MONO_SHARE and t.distinct_pitches >= 5 and on_kit < 0.3
        return not melodic
    return bool(DRUM_NAME.search(line.name)) and on_kit >= 0.8 and not BASS_NAME.search(line.name)


def top_line_over_voicing(notes: list[Note]) -> list[Note]:
    """The notes of a chord part struck alone above every pitch held under them: a right-hand
    melody over its own chords. A chords-only part gives none (its attacks are all chords)."""
    groups = attack_groups(notes)
    sounding = _sounding(groups)
    return [g[0] for g, s in zip(groups, sounding) if len(g) == 1 and len(s) > 1 and g[0].pitch == max(s)]


def skyline(notes: list[Note]) -> list[Note]:
    """The top note at each attack, each cut at the next attack: a monophonic line."""
    line = [max(g, key=lambda n: n.pitch) for g in attack_groups(notes)]
    out = []
    for i, n in enumerate(line):
        end = n.end if i + 1 == len(line) else min(n.end, line[i + 1].start)
        if end - n.start > 1e-6:
            out.append(Note(n.pitch, n.start, end - n.start, n.velocity))
    return out


def detect_parts(lines: list[Line], beats_per_bar: float = 4.0) -> FileParts:
    """Each line -> its role. Drums: channel 10 (unless a melody, see is_drum_line) or a drum-named
    line of kit notes. Chords: lines whose attacks are simultaneities (block or rolled voicings) or
    broken chords. Bass: a single line below BASS_MEAN_PITCH on average, on a bass program or named
    bass, when another part lies above it. Melody: the highest single line that is not a voicing
    (or the notes struck alone above a chord part's voicing); the other single lines accompany.
    With no chord part, single lines that together sound chords (a chorale's voices) are the chords.
    """
    parts = FileParts()
    textures = {id(line): texture(line.notes) for line in lines}
    pitched_any = [ln for ln in lines if ln.channel != GM_DRUM_CHANNEL and ln.notes]
    pitched: list[Line] = []
    for line in lines:
        if not line.notes:
            continue
        if is_drum_line(line, bool(pitched_any), textures[id(line)]):
            parts.drums += line.notes
            parts.roles[line.label] = "drums"
        else:
            pitched.append(line)
    singles: list[Line] = []
    melody_candidates: list[tuple[float, str, list[Note]]] = []
    for line in pitched:
        t = textures[id(line)]
        if is_arpeggio(line.notes, t, beats_per_bar):
            parts.broken += line.notes
            parts.roles[line.label] = "chords (broken)"
        elif is_chordal(t):
            parts.chords += line.notes
            parts.roles[line.label] = "chords"
            top = top_line_over_voicing(line.notes)
            if len(top) >= 2 * MIN_MELODY_NOTES:  # a few lone top notes are the voicing's, not a tune
                melody_candidates.append((float(np.mean([n.pitch for n in top])), line.label + " (top line)", top))
        else:
            singles.append(line)
    highest_other = max((textures[id(ln)].mean_pitch for ln in pitched), default=0.0)
    for line in singles:
        t = textures[id(line)]
        named_bass = (line.program in BASS_PROGRAMS) or bool(BASS_NAME.search(line.name))
        lowest = t.mean_pitch < highest_other - 7 or len(pitched) == 1
        if (named_bass or t.mean_pitch < BASS_MEAN_PITCH) and lowest and t.alone_share >= 0.5:
            parts.bass += line.notes
            parts.roles[line.label] = "bass"
        elif t.alone_share >= MONO_SHARE:
            melody_candidates.append((t.mean_pitch, line.label, line.notes))
            parts.roles[line.label] = "single line"
        else:
            parts.chords += line.notes  # a polyphonic line that is neither: it accompanies
            parts.roles[line.label] = "chords"
    melody_candidates = [c for c in melody_candidates if len(skyline(c[2])) >= MIN_MELODY_NOTES]
    if melody_candidates:
        _, label, notes = max(melody_candidates, key=lambda c: c[0])
        parts.melody = skyline(notes)
        parts.roles[label] = "melody"
        rest = [ln for ln in singles if ln.label != label and parts.roles.get(ln.label) == "single line"]
    else:
        rest = [ln for ln in singles if parts.roles.get(ln.label) == "single line"]
    for line in rest:  # the other single lines: inner voices
        parts.roles[line.label] = "accompaniment"
    if not parts.chords and rest:
        together = [n for ln in rest for n in ln.notes] + parts.bass
        if is_chordal(texture(together)):  # separate voices that sound chords together
            parts.chords = [n for ln in rest for n in ln.notes]
            for line in rest:
                parts.roles[line.label] = "chords (a voice)"
    return parts


# --- harmony --------------------------------------------------------------------------------

def name_voicing(pitch_classes: set[int], bass_pc: int | None = None) -> tuple[int, str] | None:
    """(root, quality) of a voicing as a keyboard player reads it: a chord whose tones are exactly
    the pitch classes (the bass's root first, then token qualities: D-F-A-C-E is Dm9, not Dm7 with
    a passing E); else theory.name_chord's best cover; else, for a voicing of 9ths, 11ths and 13ths
    that covers nothing (G-F-A-B-E), the smallest chord holding every pitch class."""
    pcs = {p % 12 for p in pitch_classes}
    if len(pcs) < 3:
        return theory.name_chord(pcs, bass_pc)
    roots = ([bass_pc % 12] if bass_pc is not None and bass_pc % 12 in pcs else []) + sorted(pcs)
    for root in roots:
        for quality in theory.CHORD_QUALITIES:  # token qualities come first
            if theory.chord_pitch_classes(root, quality) == pcs:
                return root, quality
    named = theory.name_chord(pcs, bass_pc)
    if named is not None:
        return named
    for root in roots:
        holding = [q for q in theory.CHORD_QUALITIES if pcs <= theory.chord_pitch_classes(root, q)]
        if holding:
            return root, min(holding, key=lambda q: len(theory.CHORD_QUALITIES[q]))
    return None


GRID_BEATS = 0.25  # chord parts are named on the 16th grid


def _grid(beat: float) -> float:
    return round(beat / GRID_BEATS) * GRID_BEATS


def harmony_with_bass(chord_notes: list[Note], bass_notes: list[Note], end: float, step: float,
                      broken: list[Note] = (), bar: float = 4.0) -> list[Chord]:
    """Name the chord part's harmony per step (merging repeats), with the bass line's note as the
    lowest note: it picks the root among readings (C-E-G-A over A is Am7), and a bass note that is
    not the root makes a slash chord (C/E). broken: notes of broken chords (arpeggios), heard as the
    block chord each bar (of `bar` beats) spells. Voicings are named by name_voicing."""
    from app.learn.corpus import harmony_per_step

    # A rolled chord's notes start where its first does, and every attack sits on the 16th grid,
    # so each step hears the whole chord and a chord played a little early or late (or left ringing
    # into the next) is heard where it belongs.
    chord_notes = [Note(n.pitch, _grid(g[0].start), max(GRID_BEATS, _grid(n.end) - _grid(g[0].start)), n.velocity)
                   for g in attack_groups(chord_notes) for n in g]
    bass_notes = [Note(n.pitch, _grid(n.start), max(GRID_BEATS, _grid(n.end) - _grid(n.start)), n.velocity)
                  for n in bass_notes]
    # A broken chord's notes sound from its bar's start to its end.
    chord_notes += [Note(n.pitch, (n.start // bar) * bar, bar, n.velocity) for n in broken]
    chords = harmony_per_step(chord_notes + bass_notes, end, step=step, namer=name_voicing)
    if not bass_notes:
        return chords
    ordered = sorted(bass_notes, key=lambda n: n.start)
    out = []
    for c in chords:
        under = [n for n in ordered if n.start < c.end - 1e-6 and n.end > c.start + 1e-6]
        first = min(under, key=lambda n: (n.start < c.start - 1e-6, abs(n.start - c.start))) if under else None
        bass = first.pitch % 12 if first is not None and first.pitch % 12 != c.root else None
        out.append(Chord(c.root, c.quality, c.start, c.duration, bass))
    return out


# --- keys -----------------------------------------------------------------------------------

def key_fit(histogram: np.ndarray) -> tuple[int, str, float]:
    """(tonic, mode, correlation) of the key whose Krumhansl profile best fits a pitch-class
    histogram; (0, 'major', 0.0) for silence or a flat histogram."""
    h = np.asarray(histogram, dtype=float)
    centred = h - h.mean()
    norm = np.linalg.norm(centred)
    if h.sum() <= 0 or norm < 1e-12:
        return 0, "major", 0.0
    r = _PROFILES @ (centred / norm)
    best = int(np.argmax(r))
    return _KEYS[best][0], _KEYS[best][1], float(r[best])


TONIC_QUALITIES = {"major": ("maj", "maj7", "maj9", "maj6", "maj69", "add9"),
                   "minor": ("min", "min7", "min9", "min6", "madd9", "min11")}
DOMINANT_QUALITIES = ("maj", "dom7")


def best_key(histogram: np.ndarray, chords: list[Chord]) -> tuple[int, str]:
    """The key of a stretch of music from its pitch-class histogram and, where it has chords, their
    fit: a key scores its Krumhansl correlation plus, per beat of chord, 1 when the chord's tones are
    in its scale, 1 more on its tonic chord and 0.5 on its dominant (V or V7). The chords settle
    what the histogram alone gets wrong in a jazz loop (ii7-V7-Imaj7-vi7 reads as E minor by its
    notes) and between relative keys (G7 points to C, not A minor)."""
    h = np.asarray(histogram, dtype=float)
    centred = h - h.mean()
    norm = np.linalg.norm(centred)
    scores = _PROFILES @ (centred / norm) if norm > 1e-12 else np.zeros(len(_KEYS))
    total = sum(c.duration for c in chords)
    if total > 0:
        for i, (tonic, mode) in enumerate(_KEYS):
            scale = theory.scale_pitch_classes(tonic, mode)
            fit = 0.0
            for c in chords:
                pcs = theory.chord_pitch_classes(c.root, c.quality)
                fit += c.duration * (pcs <= scale)
                fit += c.duration * (c.root == tonic and c.quality in TONIC_QUALITIES[mode])
                fit += 0.5 * c.duration * (c.root == (tonic + 7) % 12 and c.quality in DOMINANT_QUALITIES)
            scores[i] += fit / total
    best = int(np.argmax(scores))
    return _KEYS[best]


def pc_histogram(notes: list[Note], start: float = 0.0, end: float = float("inf")) -> np.ndarray:
    """Duration-weighted pitch-class histogram of the notes (the parts inside start..end)."""
    h = np.zeros(12)
    for n in notes:
        overlap = min(n.end, end) - max(n.start, start)
        if overlap > 0:
            h[n.pitch % 12] += overlap
    return h


def _signature_family(tonic: int, mode: str) -> int:
    """The major key sharing the key's notes (relative keys read as one)."""
    return (tonic + 3) % 12 if theory.PARENT_MODE.get(mode, mode) == "minor" else tonic % 12


@dataclass
class KeySegment:
    start: float  # beats
    end: float
    key: int
    mode: str


def key_segments(notes: list[Note], beats_per_bar: float, end: float,
                 signatures: list[tuple[float, str]] | None = None) -> list[KeySegment]:
    """Split a file where its key changes; each segment gets its own key.

    Key signature events that change the key split there (each segment's key is the signature's
    major key or its relative minor, whichever the notes fit better). Without them the notes are
    searched for a bar line where both sides (MIN_KEY_BARS or more) fit different keys better than
    the whole fits one (MIN_KEY_GAIN), recursively. A loop of 1-8 bars stays one segment unless a
    signature says otherwise.
    """
    if signatures and len(signatures) > 1:
        cuts = [0.0] + [round(b / beats_per_bar) * beats_per_bar for b, _ in signatures[1:]] + [end]
        out = []
        for (a, b), (_, name) in zip(zip(cuts, cuts[1:]), signatures):
            if b - a < 1e-6:
                continue
            tonic = theory.pitch_class(name.rstrip("m"))
            major = tonic if not name.endswith("m") else (tonic + 3) % 12
            h = pc_histogram(notes, a, b)
            options = [(major, "major"), ((major + 9) % 12, "minor")]
            tk, mode = max(options, key=lambda km: float(_PROFILES[_KEYS.index(km)] @ (h - h.mean()))) \
                if h.sum() > 0 else (tonic, "minor" if name.endswith("m") else "major")
            if out and (out[-1].key, out[-1].mode) == (tk, mode):
                out[-1].end = b
            else:
                out.append(KeySegment(a, b, tk, mode))
        if out:
            return out
    bars = max(1, int(np.ceil(end / beats_per_bar - 1e-9)))
    per_bar = np.array([pc_histogram(notes, i * beats_per_bar, (i + 1) * beats_per_bar) for i in range(bars)])
    return [KeySegment(a * beats_per_bar, min(end, b * beats_per_bar), *key_fit(per_bar[a:b].sum(0))[:2])
            for a, b in _split_bars(per_bar, 0, bars)]


def _split_bars(per_bar: np.ndarray, a: int, b: int, depth: int = 0) -> list[tuple[int, int]]:
    """Bar ranges [a, b) of one key each (see key_segments)."""
    if b - a < 2 * MIN_KEY_BARS or depth > 3:
        return [(a, b)]
    whole_tonic, whole_mode, whole_r = key_fit(per_bar[a:b].sum(0))
    best = None
    for cut in range(a + MIN_KEY_BARS, b - MIN_KEY_BARS + 1):
        lt, lm, lr = key_fit(per_bar[a:cut].sum(0))
        rt, rm, rr = key_fit(per_bar[cut:b].sum(0))
        if _signature_family(lt, lm) == _signature_family(rt, rm) or min(lr, rr) < MIN_KEY_FIT:
            continue
        gain = ((cut - a) * lr + (b - cut) * rr) / (b - a) - whole_r
        if gain >= MIN_KEY_GAIN and (best is None or gain > best[0]):
            best = (gain, cut)
    if best is None:
        return [(a, b)]
    return _split_bars(per_bar, a, best[1], depth + 1) + _split_bars(per_bar, best[1], b, depth + 1)
