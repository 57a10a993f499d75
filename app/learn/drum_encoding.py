"""Drum tokens: the Groove MIDI Dataset's 9 canonical voices on a 16th-note grid.

One row per 16th step. Targets: the step's hit pattern (which of the 9 voices strike, one token of
2**9 combinations, as Magenta's DrumsRNN does), and per voice a velocity bin and a micro-timing bin
(the played onset's offset from the grid, in sixteenths). Conditioning: the step's position in the
bar, the section kind and whether the bar is a fill (the last bar of a section).

    row = [pattern, vel_0..vel_8, off_0..off_8, position, kind, fill]

Velocity and offset tokens are PAD for voices that do not strike (ignored by the loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD, BOS = 0, 1  # as in app.learn.encoding
FIRST = 2  # first real token of every drum vocabulary

# The paper's 9-voice folding of the Roland TD-11 mapping (Gillick et al. 2019, table 2).
VOICES = ("kick", "snare", "closed_hat", "open_hat", "low_tom", "mid_tom", "high_tom", "crash", "ride")
KICK, SNARE, CLOSED_HAT, OPEN_HAT, LOW_TOM, MID_TOM, HIGH_TOM, CRASH, RIDE = range(len(VOICES))
TOMS = (LOW_TOM, MID_TOM, HIGH_TOM)
ROLAND_TO_VOICE = {36: KICK, 35: KICK, 38: SNARE, 40: SNARE, 37: SNARE,
                   42: CLOSED_HAT, 22: CLOSED_HAT, 44: CLOSED_HAT, 46: OPEN_HAT, 26: OPEN_HAT,
                   43: LOW_TOM, 58: LOW_TOM, 45: MID_TOM, 47: MID_TOM, 48: HIGH_TOM, 50: HIGH_TOM,
                   49: CRASH, 55: CRASH, 57: CRASH, 52: CRASH, 51: RIDE, 59: RIDE, 53: RIDE}
# Output on the General MIDI drum map (channel 10).
GM_KICK, GM_SIDE_STICK, GM_SNARE, GM_CLOSED_HAT, GM_OPEN_HAT = 36, 37, 38, 42, 46
GM_LOW_TOM, GM_MID_TOM, GM_HIGH_TOM, GM_CRASH, GM_RIDE = 41, 45, 48, 49, 51
VOICE_TO_GM = (GM_KICK, GM_SNARE, GM_CLOSED_HAT, GM_OPEN_HAT, GM_LOW_TOM, GM_MID_TOM, GM_HIGH_TOM, GM_CRASH, GM_RIDE)
GM_TO_VOICE = {**{p: v for v, p in enumerate(VOICE_TO_GM)}, GM_SIDE_STICK: SNARE}

STEPS_PER_BEAT = 4
STEPS_PER_BAR = 16  # 4/4: the dataset's files are all 4/4
VELOCITY_BINS = 16
VELOCITY_WIDTH = 8  # bin b holds velocities 8b .. 8b+7
OFFSET_BINS = 16  # micro-timing from -1/2 to +1/2 of a 16th, 1/32 of a beat per bin

SECTION_KINDS = ("groove", "A", "B", "breakdown", "outro")
KIND_INDEX = {k: i for i, k in enumerate(SECTION_KINDS)}
COLUMNS = 1 + 2 * len(VOICES) + 3  # pattern, 9 velocities, 9 offsets, position, kind, fill
TARGETS = 1 + 2 * len(VOICES)


@dataclass(frozen=True)
class DrumVocab:
    """Sizes of the drum vocabularies; a checkpoint stores it and loading checks it against the code."""

    voices: int = len(VOICES)
    pattern: int = FIRST + 2 ** len(VOICES)
    velocity: int = FIRST + VELOCITY_BINS
    offset: int = FIRST + OFFSET_BINS
    position: int = STEPS_PER_BAR
    kind: int = len(SECTION_KINDS)
    fill: int = 2


DRUM_VOCAB = DrumVocab()


@dataclass(frozen=True)
class Hit:
    """One played drum stroke: voice index, onset in beats (as played), MIDI velocity 1..127."""

    voice: int
    beat: float
    velocity: int


def encode_pattern(voices) -> int:
    """Set of voice indices striking on a step -> pattern token (2 + bitmask)."""
    mask = 0
    for v in voices:
        mask |= 1 << int(v)
    return FIRST + mask


def decode_pattern(token: int) -> list[int]:
    """Pattern token -> sorted voice indices (empty for PAD/BOS and the silent step)."""
    if token < FIRST:
        return []
    mask = token - FIRST
    return [v for v in range(len(VOICES)) if mask >> v & 1]


def pattern_voice_bits() -> np.ndarray:
    """Bool array (pattern vocab, voices): which voices each pattern token strikes."""
    bits = np.zeros((DRUM_VOCAB.pattern, len(VOICES)), dtype=bool)
    for token in range(FIRST, DRUM_VOCAB.pattern):
        bits[token, decode_pattern(token)] = True
    return bits


def encode_velocity(velocity: int) -> int:
    return FIRST + min(VELOCITY_BINS - 1, max(0, int(velocity)) // VELOCITY_WIDTH)


def decode_velocity(token: int) -> int:
    """Velocity token -> the bin's centre (4, 12 ... 124)."""
    return (token - FIRST) * VELOCITY_WIDTH + VELOCITY_WIDTH // 2


def encode_offset(sixteenths: float) -> int:
    """Offset from the grid in sixteenths (-0.5 .. 0.5) -> offset token."""
    b = int(np.floor((sixteenths + 0.5) * OFFSET_BINS))
    return FIRST + min(OFFSET_BINS - 1, max(0, b))


def decode_offset(token: int) -> float:
    """Offset token -> the bin's centre in sixteenths (-15/32 .. 15/32)."""
    return (token - FIRST + 0.5) / OFFSET_BINS - 0.5


def hits_to_grid(hits: list[Hit], bars: int | None = None) -> np.ndarray:
    """Played hits -> int array (steps, 1 + 2*voices): pattern, velocity and offset tokens per step.

    Each hit goes to its nearest 16th; two strokes of one voice on one step keep the louder (a
    flam or a pedal hat under a played hat). `bars` pads or cuts to whole bars (default: up to
    the bar of the last hit).
    """
    n_voices = len(VOICES)
    best: dict[tuple[int, int], Hit] = {}
    for h in hits:
        step = int(round(h.beat * STEPS_PER_BEAT))
        if step < 0:
            continue
        key = (step, h.voice)
        if key not in best or h.velocity > best[key].velocity:
            best[key] = h
    last = max((s for s, _ in best), default=-1)
    bars = bars if bars is not None else last // STEPS_PER_BAR + 1
    grid = np.zeros((bars * STEPS_PER_BAR, TARGETS), dtype=np.int64)
    grid[:, 0] = FIRST
    for (step, voice), h in best.items():
        if step >= len(grid):
            continue
        grid[step, 0] = FIRST + ((grid[step, 0] - FIRST) | (1 << voice))
        grid[step, 1 + voice] = encode_velocity(h.velocity)
        grid[step, 1 + n_voices + voice] = encode_offset(h.beat * STEPS_PER_BEAT - step)
    return grid


def grid_to_hits(grid: np.ndarray, start_beat: float = 0.0) -> list[Hit]:
    """Inverse of hits_to_grid: each struck voice's onset is its step plus the offset bin's centre,
    its velocity the velocity bin's centre. Sorted by onset, then voice."""
    n_voices = len(VOICES)
    hits = []
    for step, row in enumerate(np.asarray(grid)):
        for voice in decode_pattern(int(row[0])):
            beat = start_beat + (step + decode_offset(int(row[1 + n_voices + voice]))) / STEPS_PER_BEAT
            hits.append(Hit(voice, max(0.0, beat), decode_velocity(int(row[1 + voice]))))
    return sorted(hits, key=lambda h: (h.beat, h.voice))


def conditioning(bars: int, kinds: list[str], fills: list[bool]) -> np.ndarray:
    """Per-bar section kind and fill flag -> int array (bars*16, 3): position, kind, fill per step."""
    steps = bars * STEPS_PER_BAR
    cond = np.zeros((steps, 3), dtype=np.int64)
    cond[:, 0] = np.arange(steps) % STEPS_PER_BAR
    cond[:, 1] = np.repeat([KIND_INDEX[k] for k in kinds], STEPS_PER_BAR)
    cond[:, 2] = np.repeat([int(bool(f)) for f in fills], STEPS_PER_BAR)
    return cond


def bar_voice_counts(grid: np.ndarray) -> np.ndarray:
    """(steps, ...) grid -> int array (bars, voices): strokes of each voice per bar."""
    bits = pattern_voice_bits()[grid[:, 0]]
    return bits.reshape(-1, STEPS_PER_BAR, len(VOICES)).sum(axis=1)
