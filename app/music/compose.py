"""Models -> an arranged Song: a looping progression with variations, a melody with returning
motifs, a bass line, and lo-fi sections (intro, groove, A, B, breakdown, outro)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.music import bass, harmony, phrasing, theory, voicing
from app.learn.sample import SamplingOptions, sample_melody, sample_progression
from app.music.song import Chord, Note, Part, Section, Song
from app.config import DEFAULT_COLOUR, DEFAULT_ENERGY

if TYPE_CHECKING:
    from app.learn.numpy_model import NumpyChordLSTM, NumpyDrumLSTM, NumpyMelodyLSTM

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
# The generated drummer (compose_song(drums=True)) plays in every section but the kind of bar
# changes: sparse hat and rim in the intro, the full kit in the groove and A/B, no kick in the
# breakdown, thinning in the outro (app.learn.drum_sample.bar_plan); the drum part's notes are
# where a section's layers hold 'drums'.
DRUM_SECTIONS = frozenset(SECTION_LAYERS)
LOOP_BARS = 4
# A part named in config.REROLL_PARTS draws from its own sub-seed, so a new take of one (--reroll)
# leaves the others note for note as they were. Take 0 is the song the seed made first.
TAKE_STREAM = 23  # the seed tuple's part that keeps a later take's draws apart from take 0's


@dataclass
class Models:
    """The sampling models compose_song draws from (numpy ports of the trained LSTMs); the drum model
    is needed only for a song with drums."""

    chord: NumpyChordLSTM
    melody: NumpyMelodyLSTM
    drum: NumpyDrumLSTM | None = None


def load_models(chord_path=None, melody_path=None, drum_path=None) -> Models:
    """Load the shipped (or given) checkpoints' sampling weights (numpy; no torch import)."""
    from app import paths
    from app.learn.checkpoint import load_sampling_model

    return Models(load_sampling_model(chord_path or paths.CHORD_CHECKPOINT, "chord"),
                  load_sampling_model(melody_path or paths.MELODY_CHECKPOINT, "melody"),
                  load_sampling_model(drum_path or paths.DRUM_CHECKPOINT, "drum"))


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


def _shift(chords: list[Chord], beats: float) -> list[Chord]:
    return [Chord(c.root, c.quality, c.start + beats, c.duration, c.bass) for c in chords]


def _turnaround(loop: list[Chord], key: int, mode: str, bar_beats: float, rng: random.Random,
                colour: float, home: Chord) -> list[Chord]:
    """The last bar of a section leads home: its second half becomes the dominant (coloured), its
    tritone substitute, or the last beat a chromatic approach chord into the next downbeat."""
    end = loop[-1].end
    cut = end - bar_beats / 2
    out = [c if c.end <= cut + 1e-9 else Chord(c.root, c.quality, c.start, cut - c.start, c.bass)
           for c in loop if c.start < cut - 1e-9]
    move = rng.random()
    if move < 0.35 and out:
        last = out.pop()
        return out + harmony.approach_into([Chord(last.root, last.quality, last.start, end - last.start, last.bass)],
                                           home, rng)
    dominant = Chord((key + 7) % 12, "dom7", cut, end - cut)
    dominant = harmony.colour(dominant, key, mode, rng, colour, home)
    if move < 0.65:
        dominant = Chord((key + 1) % 12, "dom9s11", cut, end - cut)  # the tritone substitute: bII7 -> I
    if out and out[-1].root == dominant.root and out[-1].end >= cut - 1e-9:
        last = out.pop()  # already on that root: hold it rather than strike it again
        dominant = Chord(last.root, dominant.quality, last.start, end - last.start)
    return out + [dominant]


TONIC_QUALITY = {"major": "maj9", "lydian": "maj9", "mixolydian": "dom9", "minor": "min9", "dorian": "min9",
                 "phrygian": "min7"}  # the home chord that the outro holds: only tones of the mode's scale


def _tonic(key: int, mode: str, start: float, duration: float) -> Chord:
    return Chord(key, TONIC_QUALITY[mode], start, duration)


def _loops(models: Models, key: int, mode: str, bar: float, beats_per_bar: int, opts, seed: int,
           colour: float) -> dict[str, list[Chord]]:
    """The A and B loops: sampled in the parent mode, mapped to the mode, slowed to about a chord a
    bar and coloured (seeded per loop)."""
    loops = {}
    for i, name in enumerate(("A", "B")):
        raw = sample_progression(models.chord, key, theory.PARENT_MODE[mode], LOOP_BARS, beats_per_bar,
                                 opts((seed, 1, i)), start_on_tonic=(name == "A"))
        rng = random.Random(f"{seed}:loop:{name}")
        loop = harmony.slower_changes(harmony.to_mode(raw, key, mode), bar, rng)
        loop = harmony.keep_moving(loop, key, mode, bar, rng)
        loops[name] = harmony.colour_all(loop, key, mode, rng, colour)
    loops["groove"] = loops["intro"] = loops["breakdown"] = loops["A"]
    return loops


def _section_chords(name: str, bars: int, start: float, loops, key: int, mode: str, bar: float, seed: int,
                    s_index: int, colour: float) -> list[Chord]:
    """One section's chords: the loop repeated, every second pass substituted, a turnaround at the
    end of A, B and groove sections, changes pushed an 8th ahead of the bar inside the section."""
    length = bars * bar
    if name == "outro":
        return _outro_chords(loops["A"], key, mode, start, length, bar)
    loop = loops.get(name, loops["A"])
    chords: list[Chord] = []
    at, repeat = start, 0
    while at < start + length - 1e-9:
        piece = _shift(loop, at)
        rng = random.Random(f"{seed}:{s_index}:{repeat}")
        if repeat % 2 == 1 or (name in ("A", "B") and rng.random() < colour * 0.5):
            piece = harmony.substitute(piece, key, mode, rng, count=1 + (rng.random() < colour))
        repeat += 1
        last_loop = at + LOOP_BARS * bar >= start + length - 1e-9
        if last_loop and name in ("A", "B", "groove") and bars >= LOOP_BARS:
            piece = _turnaround(piece, key, mode, bar, rng, colour, loops["A"][0])
        chords += [c for c in piece if c.start < start + length - 1e-9]
        at += LOOP_BARS * bar
    chords = [Chord(c.root, c.quality, c.start, min(c.end, start + length) - c.start, c.bass) for c in chords]
    if name == "groove":  # the bass comes in holding the tonic under the moving chords
        chords = harmony.pedal(chords, key)
    return harmony.push_changes(chords, bar, random.Random(f"{seed}:{s_index}:push"))


def compose_song(models: Models, *, key: int, mode: str, bpm: float, minutes: float, seed: int,
                 temperature: float = 1.0, top_p: float = 0.92, include_chords: bool = True,
                 in_key: bool = True, beats_per_bar: int = 4, colour: float = DEFAULT_COLOUR,
                 energy: float = DEFAULT_ENERGY, drums: bool = False, takes: dict[str, int] | None = None) -> Song:
    """Write an arranged song of `minutes` (within one bar) at `bpm` in key/mode (major, minor or a
    church mode, played from its parent mode's models).

    The chord model writes two 4-bar loops (A and B); harmony.py colours, slows, substitutes and
    pushes them; the melody model writes a phrase per section kind over the chords actually sounding
    and phrasing.py shapes it; voicing.py and bass.py play the chords and the bass. colour (0-1):
    harmony richness; energy (0-1): density and activity of every part. drums: the drum model writes
    a 'drums' part (GM drum map) for every section whose layers then hold 'drums'. Deterministic for a seed.

    takes: part (config.REROLL_PARTS) -> take number; a take above 0 draws that part again from its own
    sub-seed and leaves every other part as take 0 made it. The harmony (the progression, fitted to
    the melody) and the keys' voicings always follow take 0's melody, so a new melody keeps the
    chords and the bass note for note; chords/bass/drums takes redraw only that part's playing.
    """
    takes = takes or {}
    total_bars = max(1, int(round(minutes * bpm / beats_per_bar)))
    bar = float(beats_per_bar)
    opts = lambda s: SamplingOptions(temperature=temperature, top_p=top_p, in_key=in_key, seed=s)  # noqa: E731
    loops = _loops(models, key, mode, bar, beats_per_bar, opts, seed, colour)

    chords: list[Chord] = []
    sections: list[Section] = []
    melody: list[Note] = []
    phrases: dict[str, tuple[list[Note], list[Note]]] = {}  # each section kind's motif (as sampled, as phrased)
    t = 0.0
    for s_index, (name, bars) in enumerate(plan_sections(total_bars)):
        length = bars * bar
        layers = SECTION_LAYERS[name] | ({"drums"} if drums and name in DRUM_SECTIONS else set())
        sections.append(Section(name, t, length, frozenset(layers)))
        section_chords = _section_chords(name, bars, t, loops, key, mode, bar, seed, s_index, colour)
        chords += section_chords
        if "melody" in SECTION_LAYERS[name]:
            melody += _section_melody(models, name, section_chords, key, mode, t, length, bar, phrases,
                                      opts, (seed, 2, s_index), beats_per_bar, energy)
        t += length

    melody = _lift_above_chords(melody)
    top = voicing.voicing_top([n.pitch for n in melody])
    chords = harmony.fit_to_melody(chords, melody, key, mode)
    parts = {"melody": Part("melody", melody)}
    if takes.get("melody"):
        parts["melody"] = Part("melody", _new_melody_take(models, sections, chords, key, mode, bar, opts, seed,
                                                          takes["melody"], beats_per_bar, energy))
    section_of = lambda beat: _section_at(sections, beat)  # noqa: E731
    layer_chords = lambda layer: [c for c in chords if layer in SECTION_LAYERS[section_of(c.start)]]  # noqa: E731
    if include_chords:
        played = layer_chords("chords")
        rng = random.Random(_take_name(f"{seed}:keys", takes.get("chords", 0)))
        bass_plays = lambda beat: "bass" in SECTION_LAYERS[section_of(beat)]  # noqa: E731
        voiced = voicing.voice_progression(played, section_of, rng, top, melody, bass_plays)
        parts["chords"] = voicing.comp(played, voiced, section_of, energy, rng, bar)
    parts["bass"] = bass.bass_line(layer_chords("bass"), energy,
                                   random.Random(_take_name(f"{seed}:bass", takes.get("bass", 0))), bar)
    if drums:
        drum_seed = seed if not takes.get("drums") else _take_seed((seed,), takes["drums"])
        parts["drums"] = Part("drums", _drum_part(models, sections, bpm, drum_seed, temperature, beats_per_bar))
    return Song(float(bpm), key, mode, (beats_per_bar, 4), chords=chords, parts=parts, sections=sections)


def _new_melody_take(models: Models, sections: list[Section], chords: list[Chord], key: int, mode: str, bar: float,
                     opts, seed: int, take: int, beats_per_bar: int, energy: float) -> list[Note]:
    """A later take of the melody: each melody section sampled and phrased again from the take's own
    seed, over the chords as they sound (already fitted to take 0's melody, which they keep)."""
    melody: list[Note] = []
    phrases: dict[str, tuple[list[Note], list[Note]]] = {}
    for s_index, section in enumerate(sections):
        if "melody" in SECTION_LAYERS[section.name]:
            heard = [c for c in chords if c.start < section.end - 1e-9 and c.end > section.start + 1e-9]
            melody += _section_melody(models, section.name, heard, key, mode, section.start, section.duration, bar,
                                      phrases, opts, _take_seed((seed, 2, s_index), take), beats_per_bar, energy)
    return _lift_above_chords(melody)


def _take_seed(seed: tuple[int, ...], take: int) -> tuple[int, ...]:
    """A part's sampling seed tuple for a take: take 0 keeps the seed as it always was (the same seed
    makes the same song as before takes existed), a later take its own independent stream."""
    return seed if not take else (*seed, TAKE_STREAM, take)


def _take_name(name: str, take: int) -> str:
    """A part's random.Random seed string for a take (take 0: unchanged)."""
    return name if not take else f"{name}:take{take}"


MIN_DRUM_BEATS = 4 / 480  # a drum stroke lasts at least 4 MIDI ticks (a flam closer than that is one stroke)


def _drum_part(models: Models, sections: list[Section], bpm: float, seed: int | tuple[int, ...], temperature: float,
               beats_per_bar: int) -> list[Note]:
    """The drum model's part for the sections whose layers hold 'drums', cut to end with the song (a
    late stroke on the last 16th would otherwise lengthen it)."""
    from app.errors import BadValueError
    from app.learn.drum_sample import sample_drums

    if models.drum is None:
        raise BadValueError("a song with drums needs the drum model (load_models loads it)")
    playing = [s for s in sections if "drums" in s.layers]
    end = sections[-1].end if sections else 0.0
    notes = sample_drums(models.drum, playing, bpm, seed, temperature=temperature, beats_per_bar=beats_per_bar)
    out: list[Note] = []
    next_start: dict[int, float] = {}  # pitch -> the start of its next stroke
    for n in reversed(notes):  # a stroke ends where the same drum is struck again (MIDI cannot overlap them)
        until = min(end, next_start.get(n.pitch, end))
        if until - n.start >= MIN_DRUM_BEATS:
            out.append(Note(n.pitch, n.start, min(n.duration, until - n.start), n.velocity))
            next_start[n.pitch] = n.start
    return out[::-1]


MELODY_MIN_MEDIAN = voicing.VOICING_TOP + 2  # the lead sits above the keys' voicings
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
    head = [Chord(c.root, c.quality, c.start, min(c.end, start + length - bar) - c.start, c.bass) for c in head]
    tonic_start = head[-1].end if head else start
    return head + [_tonic(key, mode, tonic_start, start + length - tonic_start)]


def _section_melody(models, name, section_chords, key, mode, start, length, bar, phrases, opts, seed,
                    beats_per_bar, energy) -> list[Note]:
    """A melody for one section: the section kind's motif (4 bars) opens it; inside the section it
    returns developed (its first two bars as they were, the rest phrased anew) between answers that
    vary. Each is sampled over the chords sounding (pushes included) and phrased (phrasing.phrase)."""
    phrase_beats = min(length, LOOP_BARS * bar)
    rel_chords = _shift(section_chords, -start)
    out: list[Note] = []

    def shaped(notes, until, take):
        rng = random.Random(":".join(map(str, (*seed, take, "phrase"))))
        return phrasing.phrase(notes, rel_chords, key, mode, until, bar, rng, energy)

    if name not in phrases:
        raw = sample_melody(models.melody, rel_chords, key, mode, phrase_beats, opts((*seed, 0)), beats_per_bar)
        phrases[name] = (raw, shaped(raw, phrase_beats, 0))
    raw_motif, motif = phrases[name]
    half = phrase_beats / 2
    at = 0.0
    variation = 0
    while at < length - 1e-9:
        span = min(phrase_beats, length - at)
        if variation % 2 == 0:
            # The motif returns (cut to the span), developed after its first statement.
            source = motif if variation == 0 else (
                [n for n in motif if n.end <= half + 1e-9]
                + [n for n in shaped(raw_motif, phrase_beats, variation) if n.start >= half - 1e-9])
            notes = [Note(n.pitch, n.start + at, min(n.duration, span - n.start), n.velocity)
                     for n in source if n.start < span - 1e-9]
        else:
            # The answer: a new continuation primed by the motif, so it sounds related.
            notes = sample_melody(models.melody, rel_chords, key, mode, span, opts((*seed, variation)), beats_per_bar,
                                  start_beat=at, prime=[n for n in motif])
            notes = [n for n in shaped(notes, at + span, variation) if n.start >= at - 0.5 - 1e-9]
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
