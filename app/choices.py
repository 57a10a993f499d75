"""A TrackSpec resolved: every 'default' and 'surprise me' replaced by what the track really uses
(seed, key, mode, tempo, SoundFont presets, effect files). The first thing run_track does, so an
unknown instrument or effect fails before any work or any file."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.config import DEFAULT_BPM, GENERATED_BEAT, NO_BEAT, RANDOM_SEED_LIMIT, RANGES
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
    instruments: dict[str, Instrument]  # part ('melody', 'chords', 'bass'; 'drums': the kit) -> its preset
    beat: EffectFile | None  # the beat loop; None: no loop (generated drums when instruments has 'drums')
    ambience: list[tuple[EffectFile, float]]  # (effect, level_db)


def resolve_choices(spec: TrackSpec) -> Choices:
    """Resolve defaults and 'surprise me' values; unknown instruments or effects raise BadValueError."""
    from app.audio.loops import discover_effects, find_effect
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
    beat = None
    if spec.beat in (None, GENERATED_BEAT):
        from app.audio.kits import default_kit, find_kit

        instruments["drums"] = find_kit(spec.drum_kit, files) if spec.drum_kit else default_kit(files)
    effects, _ = discover_effects()
    if spec.beat not in (None, GENERATED_BEAT, NO_BEAT):
        beat = find_effect(spec.beat, "beat", effects)
    ambience = [(find_effect(name, "ambience", effects), level) for name, level in spec.ambience]
    if spec.bpm is not None:
        bpm = spec.bpm
    elif beat is not None and beat.bpm:
        # Follow the beat, within the tempo range every other route allows (the loop is stretched).
        bpm = min(max(round(beat.bpm, 2), RANGES["bpm"][0]), RANGES["bpm"][1])
    else:
        bpm = DEFAULT_BPM
    return Choices(seed, key, mode, float(bpm), instruments, beat, ambience)
