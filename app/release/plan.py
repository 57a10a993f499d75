"""The plan of a release: every track's choices drawn from the release seed and the option pools.

    plans = plan_release(req, release_seed, titles)   # TrackPlan per track, pools dealt in turn
    track_seed(release_seed, number, attempt)         # the seed of a track's nth try
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from app.config import GENERATED_BEAT
from app.release.request import BatchRequest

DEFAULT_AMBIENCE_LEVELS_DB = (-28.0, -20.0)


@dataclass
class TrackPlan:
    """One track's choices, drawn from the release seed (seed: the first one tried)."""

    number: int
    title: str
    minutes: float
    key: str
    mode: str
    bpm: float
    melody_instrument: str
    chords_instrument: str
    bass_instrument: str
    beat: str  # 'generated', an effect name or 'none'
    ambience: list  # [[name, level_db]]
    lofi_preset: str
    swing: float
    temperature: float
    seed: int
    colour: float  # harmony richness, 0-1
    energy: float  # density and activity of every part, 0-1
    drum_kit: str | None = None  # the generated drums' kit (None: the default kit; no kit for a loop or 'none')

    def base_name(self, ascii_names: bool = False) -> str:
        """The name the pipeline gets for the finals: '03 - Amber Window' (file '03 - Amber Window.wav'),
        or with ascii_names '03 Amber Window' (file '03_Amber_Window.wav', names.ascii_name)."""
        return f"{self.number:02d} {self.title}" if ascii_names else f"{self.number:02d} - {self.title}"


def track_seed(release_seed: int, number: int, attempt: int) -> int:
    """The seed of a track's attempt (0 = first), stable for a release seed."""
    digest = hashlib.sha256(f"{release_seed}:{number}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


def _effect_names(kind: str) -> tuple[str, ...]:
    from app.audio.loops import discover_effects

    return tuple(e.name for e in discover_effects()[0] if e.kind == kind)


def _spread(rng: random.Random, n: int, lo: float, hi: float) -> list[float]:
    """n values over [lo, hi], one in each of n equal slots, the slots in a shuffled order."""
    slots = rng.sample(range(n), n)
    return [lo + (hi - lo) * (s + rng.random()) / n for s in slots]


def plan_release(req: BatchRequest, release_seed: int, titles: list[str]) -> list[TrackPlan]:
    """Draw every track's choices. Each pool is shuffled and dealt in turn, so neighbouring tracks
    differ; tempi (and lengths, colours and energies, for a range) are spread over their range
    rather than drawn freely."""
    rng = random.Random(f"release:{release_seed}")
    n = req.count

    def dealt(pool) -> list:
        order = list(pool)
        rng.shuffle(order)
        return [order[i % len(order)] for i in range(n)]

    def spread(lo: float, hi: float, step: float) -> list[float]:
        return [round(x / step) * step for x in _spread(rng, n, lo, hi)]

    beats = req.beats if req.beats is not None else (GENERATED_BEAT,)
    ambience = req.ambience if req.ambience is not None else (_effect_names("ambience") or ("none",))
    keys, modes = dealt(req.keys), dealt(req.modes)
    bpms = spread(*req.bpm_range, 0.5)
    minutes = spread(*req.minutes_range, 0.05) if req.minutes_range else [req.minutes] * n
    melody, chords, bass = dealt(req.melody_instruments), dealt(req.chords_instruments), dealt(req.bass_instruments)
    beat, amb, lofi = dealt(beats), dealt(ambience), dealt(req.lofi_presets)
    colours, energies = _controls(req, release_seed)
    beat = [GENERATED_BEAT if b.lower() == GENERATED_BEAT else b for b in beat]
    kits = dealt(req.drum_kits) if req.drum_kits else [None] * n
    plans = []
    for i in range(n):
        amb_entry = amb[i]
        if amb_entry.lower() == "none":
            amb_list = []
        else:
            name, _, level = amb_entry.partition(":")
            lv = float(level) if level else round(rng.uniform(*DEFAULT_AMBIENCE_LEVELS_DB), 1)
            amb_list = [[name, lv]]
        plans.append(TrackPlan(
            number=i + 1, title=titles[i], minutes=round(float(minutes[i]), 2), key=keys[i], mode=modes[i],
            bpm=float(bpms[i]), melody_instrument=melody[i], chords_instrument=chords[i], bass_instrument=bass[i],
            beat=beat[i], ambience=amb_list, lofi_preset=lofi[i], swing=round(rng.uniform(*req.swing_range), 3),
            temperature=req.temperature, seed=track_seed(release_seed, i + 1, 0), colour=colours[i], energy=energies[i],
            drum_kit=kits[i] if beat[i] == GENERATED_BEAT else None,
        ))  # fmt: skip
    return plans


def _controls(req: BatchRequest, release_seed: int) -> tuple[list[float], list[float]]:
    """Every track's colour and energy: a pool dealt in turn, or a range spread over the tracks (to
    0.01). Drawn from a generator of their own, so the other choices of a seed stay what they were."""
    rng = random.Random(f"release:{release_seed}:controls")
    n = req.count
    drawn = []
    for pool, span in ((req.colours, req.colour_range), (req.energies, req.energy_range)):
        if span is not None:
            drawn.append([min(max(round(x, 2), span[0]), span[1]) for x in _spread(rng, n, *span)])
        else:
            order = list(pool)
            rng.shuffle(order)
            drawn.append([float(order[i % len(order)]) for i in range(n)])
    return drawn[0], drawn[1]
