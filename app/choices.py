"""A TrackSpec resolved: every 'default' and 'surprise me' replaced by what the track really uses
(seed, key, mode, tempo, SoundFont presets, effect files). The first thing run_track does, so an
unknown instrument or effect fails before any work or any file."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.config import DEFAULT_BPM, NO_BEAT, RANDOM_SEED_LIMIT, RANGES
from app.music import theory
from app.spec import TrackSpec

if TYPE_CHECKING:  # the modules that define these import scanners and numpy; loaded when resolving
    from app.audio.instruments import Instrument
    from app.audio.loops import EffectFile


@dataclass
class Choices:
    """The spec with every 'default' and 'surprise me' resolved: what the track really uses."""

    seed: int
    key: int  # tonic pitch class 0..11 (TrackSpec.key is its name)
    mode: str
    bpm: float
    instruments: dict[str, Instrument]  # part ('melody', 'chords', 'bass') -> its SoundFont preset
    beat: EffectFile | None  # None: no beat
    ambience: list[tuple[EffectFile, float]]  # (effect, level_db)


def resolve_choices(spec: TrackSpec) -> Choices:
    """Resolve defaults and 'surprise me' values; unknown instruments or effects raise BadValueError."""
    from app.audio.loops import default_beat, discover_effects, find_effect
    from app.audio.instruments import default_instrument, discover_soundfonts, find_instrument

    seed = spec.seed if spec.seed is not None else random.SystemRandom().randrange(RANDOM_SEED_LIMIT)
    rng = random.Random(seed)
    key = theory.pitch_class(spec.key) if spec.key else rng.randrange(12)
    mode = spec.mode or rng.choice(theory.MODES)
    files, _ = discover_soundfonts()
    instruments = {}
    for part, query in (("melody", spec.melody_instrument), ("chords", spec.chords_instrument),
                        ("bass", spec.bass_instrument)):
        instruments[part] = find_instrument(query, files) if query else default_instrument(part, files)
    effects, _ = discover_effects()
    beat = None
    if spec.beat != NO_BEAT:
        if spec.beat:
            beat = find_effect(spec.beat, "beat", effects)
        else:
            beat = default_beat(effects)
    ambience = [(find_effect(name, "ambience", effects), level) for name, level in spec.ambience]
    if spec.bpm is not None:
        bpm = spec.bpm
    elif beat is not None and beat.bpm:
        # Follow the beat, within the tempo range every other route allows (the loop is stretched).
        bpm = min(max(round(beat.bpm, 2), RANGES["bpm"][0]), RANGES["bpm"][1])
    else:
        bpm = DEFAULT_BPM
    return Choices(seed, key, mode, float(bpm), instruments, beat, ambience)
