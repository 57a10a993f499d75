"""Sampling a drum part for a song's sections from the drum LSTM's numpy port.

    from app.learn.checkpoint import load_sampling_model
    model = load_sampling_model(paths.DRUM_CHECKPOINT, "drum")
    notes = sample_drums(model, song.sections, bpm=80, seed=7)   # GM drum-map Notes, beats

The model plays every 16th step, conditioned on the step's position, the section kind and the fill
flag (the last bar of a section that another follows). The arrangement's habits are rules on top,
applied as masks on the hit patterns the model may choose, as the melody's sampler keeps the key:
the intro keeps time on the closed hat and rim (its last bar a pickup fill), the groove and A/B
play the full kit with the backbeat (kick on 1, snare on 2 and 4) and a crash after each fill,
the breakdown drops the kick, crash and toms (snare as side stick), and the outro thins out bar by
bar and fades. Deterministic for a seed: one numpy Generator drives every draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.learn import drum_encoding as de
from app.learn.sample import _rng, draw
from app.music.song import Note, Section

DRUM_STREAM = 17  # the seed tuple's second part: keeps drum draws apart from chords and melody
NOTE_BEATS = 0.25  # drum notes last a 16th; the kit's samples ring on by themselves
FULL_KINDS = ("groove", "A", "B")
ALL_VOICES = frozenset(range(len(de.VOICES)))
TIME_VOICES = frozenset({de.SNARE, de.CLOSED_HAT})
NO_KICK = frozenset({de.SNARE, de.CLOSED_HAT, de.OPEN_HAT, de.RIDE})


@dataclass(frozen=True)
class BarPlan:
    """What one bar may play: the model's conditioning and the arrangement's rules."""

    kind: str  # the section kind the model is conditioned on
    fill: bool
    voices: frozenset  # voices allowed to strike
    velocity_scale: float = 1.0
    rim: bool = False  # the snare voice plays as side stick (GM 37)
    backbeat: bool = False  # kick on step 0, snare on steps 4 and 12
    crash_on_one: bool = False


def bar_plan(section: str, bar: int, bars: int, followed: bool, after_fill: bool) -> BarPlan:
    """The plan of bar `bar` (0-based) of `bars` in a section named `section`; `followed`: another
    section comes after it; `after_fill`: the section before ended with a fill."""
    fill = followed and bar == bars - 1
    if section == "intro":
        if fill:
            return BarPlan("groove", True, ALL_VOICES - {de.KICK, de.CRASH}, 0.85)
        return BarPlan("groove", False, TIME_VOICES, 0.7, rim=True)
    if section == "breakdown":
        voices = NO_KICK | set(de.TOMS) if fill else NO_KICK
        return BarPlan("breakdown", fill, frozenset(voices), 0.85, rim=not fill)
    if section == "outro":
        progress = bar / max(1, bars - 1) if bars > 1 else 1.0
        voices = ALL_VOICES - {de.CRASH, *de.TOMS} if progress < 0.5 else NO_KICK
        if bar == bars - 1 and bars > 1:
            voices = frozenset({de.CLOSED_HAT, de.RIDE})
        return BarPlan("outro", fill, frozenset(voices), 1.0 - 0.4 * progress, rim=progress >= 0.5)
    kind = section if section in FULL_KINDS else "A"
    return BarPlan(kind, fill, ALL_VOICES, 1.0, backbeat=not fill, crash_on_one=bar == 0 and after_fill)


def _pattern_mask(plan: BarPlan, step: int, bits: np.ndarray) -> np.ndarray:
    """Pattern tokens the plan allows on a step (bits: pattern -> voices)."""
    allowed = np.zeros(bits.shape[1], dtype=bool)
    allowed[list(plan.voices)] = True
    mask = ~(bits & ~allowed).any(axis=1)
    mask[:de.FIRST] = False
    required = []
    if step == 0 and (plan.backbeat or plan.crash_on_one):
        required.append(de.KICK)
    if plan.backbeat and step in (4, 12):
        required.append(de.SNARE)
    if plan.crash_on_one and step == 0:
        required.append(de.CRASH)
    for voice in required:
        if allowed[voice]:
            mask &= bits[:, voice]
    return mask


def sample_drums(model, sections: list[Section], bpm: float, seed: int | tuple[int, ...] = 0,
                 temperature: float = 1.0, top_p: float = 0.95, beats_per_bar: int = 4) -> list[Note]:
    """A drum part for the sections (names intro, groove, A, B, breakdown, outro; others play as A),
    as Notes on the GM drum map (channel 10 is the renderer's business), times in beats.

    bpm is not used for the grid (the model's micro-timing is a share of a 16th, as it learned it)
    but names the tempo the part is meant for, so callers and figures can convert to ms.
    Deterministic for (seed, sections, temperature, top_p).
    """
    if beats_per_bar != 4:
        raise ValueError("the drum model plays 4/4 only")
    rng = _rng((*(seed if isinstance(seed, tuple) else (seed,)), DRUM_STREAM))
    bits = de.pattern_voice_bits()
    n = len(de.VOICES)
    value_mask = np.zeros(model.cfg.velocity_vocab, dtype=bool)
    value_mask[de.FIRST:] = True
    offset_mask = np.zeros(model.cfg.offset_vocab, dtype=bool)
    offset_mask[de.FIRST:] = True
    prev = (de.BOS, [de.BOS] * n, [de.BOS] * n)
    state, notes, after_fill = None, [], False
    for index, section in enumerate(sections):
        steps = int(round(section.duration * de.STEPS_PER_BEAT))
        bars = -(-steps // de.STEPS_PER_BAR)
        followed = index < len(sections) - 1
        for step in range(steps):
            bar, position = divmod(step, de.STEPS_PER_BAR)
            plan = bar_plan(section.name, bar, bars, followed, after_fill)
            (p_log, v_log, o_log), state = model.step(*prev, position, de.KIND_INDEX[plan.kind], int(plan.fill), state)
            pattern = draw(p_log, temperature, top_p, rng, _pattern_mask(plan, position, bits))
            velocities, offsets = [de.PAD] * n, [de.PAD] * n
            for voice in de.decode_pattern(pattern):
                velocities[voice] = draw(v_log[voice], temperature, top_p, rng, value_mask)
                offsets[voice] = draw(o_log[voice], temperature, top_p, rng, offset_mask)
                notes.append(_note(voice, velocities[voice], offsets[voice], section.start + step / 4, plan, rng))
            prev = (pattern, velocities, offsets)
        after_fill = followed  # every section that another follows ends with a fill
    return sorted(notes, key=lambda x: (x.start, x.pitch))


def _note(voice: int, velocity_token: int, offset_token: int, grid_beat: float, plan: BarPlan,
          rng: np.random.Generator) -> Note:
    """One stroke: the bins' values spread evenly inside the bin (velocities and timing stay
    continuous), the plan's velocity scale, the rim for a side-stick snare."""
    velocity = de.decode_velocity(velocity_token) + rng.uniform(-de.VELOCITY_WIDTH / 2, de.VELOCITY_WIDTH / 2)
    velocity = int(np.clip(round(velocity * plan.velocity_scale), 1, 127))
    offset = de.decode_offset(offset_token) + rng.uniform(-0.5, 0.5) / de.OFFSET_BINS
    pitch = de.GM_SIDE_STICK if voice == de.SNARE and plan.rim else de.VOICE_TO_GM[voice]
    return Note(pitch, max(0.0, grid_beat + offset / de.STEPS_PER_BEAT), NOTE_BEATS, velocity)
