"""Models -> an arranged Song: a looping progression with variations, a melody with returning
motifs, a bass line, and lo-fi sections (intro, groove, A, B, breakdown, outro)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.music import theory
from app.learn.sample import SamplingOptions, sample_melody, sample_progression
from app.music.song import Chord, Note, Part, Section, Song, bass_from_chords, chords_to_part

if TYPE_CHECKING:
    from app.learn.numpy_model import NumpyChordLSTM, NumpyMelodyLSTM

# Which layers play in each kind of section. compose_song writes each section's set into the song
# (Section.layers): the melody, chords and bass parts have notes only where listed, and the mix
# plays the beat only where listed.
SECTION_LAYERS = {
    "intro": {"chords"},
    "groove": {"chords", "bass", "beat"},
    "A": {"chords", "bass", "beat", "melody"},
    "B": {"chords", "bass", "beat", "melody"},
    "breakdown": {"chords", "melody"},
    "outro": {"chords", "bass", "melody"},
}
LOOP_BARS = 4


@dataclass
class Models:
    """The two sampling models compose_song draws from (numpy ports of the trained LSTMs)."""

    chord: NumpyChordLSTM
    melody: NumpyMelodyLSTM


def load_models(chord_path=None, melody_path=None) -> Models:
    """Load the shipped (or given) checkpoints' sampling weights (numpy; no torch import)."""
    from app import paths
    from app.learn.checkpoint import load_sampling_model

    return Models(load_sampling_model(chord_path or paths.CHORD_CHECKPOINT, "chord"),
                  load_sampling_model(melody_path or paths.MELODY_CHECKPOINT, "melody"))


def plan_sections(total_bars: int) -> list[tuple[str, int]]:
    """Section names and bar counts summing to exactly total_bars (at least 1 bar). Songs under 16
    bars get a shorter intro and outro, so the melody always has an A section of its own."""
    if total_bars < 16:
        intro = 0 if total_bars < 4 else 1 if total_bars < 8 else 2
        outro = 0 if total_bars < 3 else 1 if total_bars < 8 else 2
        return [(n, b) for n, b in (("intro", intro), ("A", total_bars - intro - outro), ("outro", outro)) if b > 0]
    intro, outro = 4, 4
    middle = total_bars - intro - outro
    plan = [("intro", intro)]
    cycle = [("groove", 4), ("A", 8), ("B", 8), ("A", 8), ("breakdown", 4)]
    i = 0
    while middle > 0:
        name, bars = cycle[i % len(cycle)]
        if i >= len(cycle) and name == "groove":
            name = "A"  # the groove only opens the track
        if name == "groove" and middle < 12:
            name = "A"  # a short song goes straight to its melody
        bars = min(bars, middle)
        if plan[-1][0] == name:  # two A sections in a row are one longer A
            plan[-1] = (name, plan[-1][1] + bars)
        else:
            plan.append((name, bars))
        middle -= bars
        i += 1
    plan.append(("outro", outro))
    return plan


def lofi_colour(chord: Chord, key: int, mode: str) -> Chord:
    """Lo-fi harmony: triads become sevenths (V becomes dominant 7th), diminished becomes half-diminished."""
    degree = (chord.root - key) % 12
    quality = {"maj": "dom7" if degree == 7 else "maj7", "min": "min7", "dim": "hdim7"}.get(chord.quality, chord.quality)
    return Chord(chord.root, quality, chord.start, chord.duration)


def substitute(loop: list[Chord], key: int, mode: str, rng: random.Random) -> list[Chord]:
    """One jazz substitution in a pass of the loop, chosen by rng, that keeps most chord tones so a
    returning melody still fits: a tonic becomes its relative (Cmaj7 -> Am7, Am7 -> Cmaj7), or a
    dominant of two beats or more is split into ii-V (G7 -> Dm7 G7). Returns a new list."""
    options = []
    for i, c in enumerate(loop):
        degree = (c.root - key) % 12
        if degree == 0 and i > 0:  # leave the opening tonic alone: the loop must still sound like home
            relative = (Chord((c.root + 9) % 12, "min7", c.start, c.duration) if c.quality in ("maj7", "maj")
                        else Chord((c.root + 3) % 12, "maj7", c.start, c.duration))
            options.append((i, [relative]))
        if c.quality == "dom7" and c.duration >= 2:
            half = c.duration / 2
            options.append((i, [Chord((c.root + 7) % 12, "min7", c.start, half),
                                Chord(c.root, "dom7", c.start + half, half)]))
    if not options:
        return list(loop)
    index, replacement = options[rng.randrange(len(options))]
    return loop[:index] + replacement + loop[index + 1:]


def _shift(chords: list[Chord], beats: float) -> list[Chord]:
    return [Chord(c.root, c.quality, c.start + beats, c.duration) for c in chords]


def _turnaround(loop: list[Chord], key: int, bar_beats: float) -> list[Chord]:
    """Replace the second half of the last bar with the dominant seventh, leading back to the tonic."""
    end = loop[-1].end
    cut = end - bar_beats / 2
    out = []
    for c in loop:
        if c.end <= cut + 1e-9:
            out.append(c)
        elif c.start < cut:
            out.append(Chord(c.root, c.quality, c.start, cut - c.start))
    dominant = Chord((key + 7) % 12, "dom7", cut, end - cut)
    if out and (out[-1].root, out[-1].quality) == (dominant.root, dominant.quality) and out[-1].end >= cut - 1e-9:
        last = out.pop()  # already on the dominant: hold it rather than strike it again
        dominant = Chord(last.root, last.quality, last.start, end - last.start)
    out.append(dominant)
    return out


def _tonic(key: int, mode: str, start: float, duration: float) -> Chord:
    return Chord(key, "maj7" if mode == "major" else "min7", start, duration)


def compose_song(models: Models, *, key: int, mode: str, bpm: float, minutes: float, seed: int,
                 temperature: float = 1.0, top_p: float = 0.92, include_chords: bool = True,
                 in_key: bool = True, beats_per_bar: int = 4) -> Song:
    """Write an arranged song of `minutes` (within one bar) at `bpm` in key/mode.

    The chord model writes two 4-bar loops (A and B); sections repeat them, ending each section
    with a turnaround; the melody model writes a phrase per section kind and varies it when it
    returns. Deterministic for a seed.
    """
    total_bars = max(1, int(round(minutes * bpm / beats_per_bar)))
    bar = float(beats_per_bar)
    opts = lambda s: SamplingOptions(temperature=temperature, top_p=top_p, in_key=in_key, seed=s)  # noqa: E731
    loops = {}
    for i, name in enumerate(("A", "B")):
        raw = sample_progression(models.chord, key, mode, LOOP_BARS, beats_per_bar, opts((seed, 1, i)),
                                 start_on_tonic=(name == "A"))
        loops[name] = [lofi_colour(c, key, mode) for c in raw]
    loops["groove"] = loops["intro"] = loops["breakdown"] = loops["A"]

    chords: list[Chord] = []
    sections: list[Section] = []
    melody: list[Note] = []
    phrases: dict[str, list[Note]] = {}  # first phrase of each section kind, relative to its start
    t = 0.0
    plan = plan_sections(total_bars)
    for s_index, (name, bars) in enumerate(plan):
        start = t
        length = bars * bar
        sections.append(Section(name, start, length, frozenset(SECTION_LAYERS[name])))
        if name == "outro":
            section_chords = _outro_chords(loops["A"], key, mode, start, length, bar)
        else:
            loop = loops.get(name, loops["A"])
            section_chords = []
            at = start
            repeat = 0
            while at < start + length - 1e-9:
                piece = _shift(loop, at)
                if repeat % 2 == 1:  # every second pass of the loop gets a substitution
                    piece = substitute(piece, key, mode, random.Random(f"{seed}:{s_index}:{repeat}"))
                repeat += 1
                last_loop = at + LOOP_BARS * bar >= start + length - 1e-9
                if last_loop and name in ("A", "B", "groove") and bars >= LOOP_BARS:
                    piece = _turnaround(piece, key, bar)
                section_chords += [c for c in piece if c.start < start + length - 1e-9]
                at += LOOP_BARS * bar
            section_chords = [Chord(c.root, c.quality, c.start, min(c.end, start + length) - c.start)
                              for c in section_chords]
        chords += section_chords
        if "melody" in SECTION_LAYERS[name]:
            melody += _section_melody(models, name, section_chords, key, mode, start, length, bar, phrases,
                                      opts, (seed, 2, s_index), beats_per_bar)
        t += length

    parts = {"melody": Part("melody", _lift_above_chords(melody))}
    layer_chords = lambda layer: [c for c in chords if layer in SECTION_LAYERS[_section_at(sections, c.start)]]  # noqa: E731
    if include_chords:
        parts["chords"] = chords_to_part(layer_chords("chords"))
    parts["bass"] = bass_from_chords(layer_chords("bass"), bar)
    return Song(float(bpm), key, mode, (beats_per_bar, 4), chords=chords, parts=parts, sections=sections)


MELODY_MIN_MEDIAN = 69  # A4: the lead sits above the Rhodes voicings (theory.voice_chord tops out at 68)
MELODY_MAX = 91  # G6: above this a vibraphone or an electric piano turns thin and glassy


def _lift_above_chords(melody: list[Note]) -> list[Note]:
    """Move the whole melody up an octave when it would sit inside the chords' register (the chorale
    sopranos the model learned from live around middle C)."""
    if not melody:
        return melody
    pitches = sorted(n.pitch for n in melody)
    if pitches[len(pitches) // 2] >= MELODY_MIN_MEDIAN or pitches[-1] + 12 > MELODY_MAX:
        return melody
    return [Note(n.pitch + 12, n.start, n.duration, n.velocity) for n in melody]


def _section_at(sections: list[Section], beat: float) -> str:
    for s in sections:
        if s.start <= beat + 1e-9 < s.end:
            return s.name
    return sections[-1].name


def _outro_chords(loop: list[Chord], key: int, mode: str, start: float, length: float, bar: float) -> list[Chord]:
    """The loop's first half, then the tonic held to the end: the outro resolves."""
    if length <= bar:
        return [_tonic(key, mode, start, length)]
    head = [c for c in _shift(loop, start) if c.start < start + length - bar - 1e-9]
    head = [Chord(c.root, c.quality, c.start, min(c.end, start + length - bar) - c.start) for c in head]
    tonic_start = head[-1].end if head else start
    return head + [_tonic(key, mode, tonic_start, start + length - tonic_start)]


def _section_melody(models, name, section_chords, key, mode, start, length, bar, phrases, opts, seed,
                    beats_per_bar) -> list[Note]:
    """A melody for one section: the section kind's motif (4 bars) returns, its answer varies."""
    phrase_beats = min(length, LOOP_BARS * bar)
    rel_chords = _shift(section_chords, -start)
    out: list[Note] = []
    if name not in phrases:
        phrases[name] = sample_melody(models.melody, rel_chords, key, mode, phrase_beats, opts((*seed, 0)), beats_per_bar)
    motif = phrases[name]
    at = 0.0
    variation = 0
    while at < length - 1e-9:
        span = min(phrase_beats, length - at)
        if variation % 2 == 0:
            # The motif returns (cut to the span).
            notes = [Note(n.pitch, n.start + at, min(n.duration, span - n.start), n.velocity)
                     for n in motif if n.start < span - 1e-9]
        else:
            # The answer: a new continuation primed by the motif, so it sounds related.
            notes = sample_melody(models.melody, rel_chords, key, mode, span, opts((*seed, variation)), beats_per_bar,
                                  start_beat=at, prime=[n for n in motif])
        out += [Note(n.pitch, n.start + start, n.duration, n.velocity) for n in notes]
        at += span
        variation += 1
    if name == "outro" and out:
        last = out[-1]
        out[-1] = Note(_nearest_tonic(last.pitch, key), last.start, last.duration, last.velocity)
    return out


def _nearest_tonic(pitch: int, key: int) -> int:
    candidates = [p for p in range(pitch - 6, pitch + 7) if p % 12 == key]
    return min(candidates, key=lambda p: abs(p - pitch))
