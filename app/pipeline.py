"""run_track(spec) -> a finished track: compose -> render -> mix -> master -> deliver. The one call the
wizard, the flags, replay and batch make. Each stage is one function with plain data in and out:

    compose   app/music/compose.py   TrackSpec + Choices + models -> Song (with its sections' layers)
    render    app/audio/render.py    Song + SoundFont presets     -> stems {part: (2, n)}
    mix       app/audio/mix.py       Song + stems + beat/ambience -> MixedSong (the mix and its layers)
    master    app/audio/master.py    the mix                      -> Mastered: the preset's colour, the tilt
                                                                     EQ, -14 LUFS, <= -1 dBTP (master_song)
    deliver   app/deliver/track.py   all of the above             -> files under a free name, TrackResult
                                                                     (opened before the master: the stems and
                                                                     MIDI are written while it runs)

Files of a track named NAME: data/midi/NAME.mid (+ NAME_<part>.mid), data/wav/NAME_<stem>.wav,
data/final_results/NAME.wav (+ .mp3/.flac), NAME.json (the sidecar that can replay it) and NAME.png.
Every file is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from app.choices import Choices, resolve_choices
from app.config import TAIL_S
from app.deliver.names import OutputDirs, file_name, prepare_output_dirs
from app.errors import DiskFullError
from app.deliver.track import TrackResult
from app.spec import TrackSpec

if TYPE_CHECKING:
    import numpy as np

    from app.audio.mix import MixedSong
    from app.music.compose import Models
    from app.music.song import Song

# Progress names of the stages (the last one writes the files; the sidecar's timings use these names).
STAGES = ("compose", "render", "mix", "master", "export")


def run_track(spec: TrackSpec, models: Models | None = None, dirs: OutputDirs | None = None,
              progress=None) -> TrackResult:
    """Make one finished track from a spec. progress(stage) is called as each stage starts.

    Returns the files written (kind -> path) and the sidecar. Raises LofiError subclasses for
    anything a user can fix.
    """
    from app.audio.master import master_song
    from app.audio.spill import use_folder as use_spill_folder
    from app.deliver.replay import hash_inputs_meanwhile
    from app.deliver.track import open_delivery

    spec.validate()
    dirs = dirs or OutputDirs()
    timings: dict[str, float] = {}
    choices = resolve_choices(spec)  # unknown instruments or effects fail before anything is written
    prepare_output_dirs(dirs)  # an unwritable folder fails now, not after minutes of work
    hash_inputs_meanwhile(spec, choices)  # on the core the compose leaves free
    use_spill_folder(dirs.wav)  # long layers wait on the disk the stems go to (app/audio/spill.py)
    step = _stepper(progress, timings)
    try:
        step("compose")
        song = compose(spec, choices, models)
        if spec.loop_bars:  # a loop longer than the song fails now, not after the render
            from app.deliver.loop import loop_start_beat

            loop_start_beat(song, spec.loop_bars)
        step("render")
        stems = render(song, spec, choices)
        step("mix")
        mixed = mix(song, stems, spec, choices)
    except DiskFullError as exc:  # a spilled layer filled the disk before any file of the track existed
        if exc.track:
            raise
        raise exc.for_track(file_name(spec.name, spec.ascii_names)) from exc
    step("master")
    with open_delivery(spec, choices, song, dirs) as files:
        files.write_layers(mixed.layers)  # the stems, MIDI and picture lanes are written while the master is made
        # The preset colours the whole mix and the tilt EQ sets its tone (in place: the layers keep the
        # pre-master mix).
        mastered, _ = master_song(mixed.audio, spec.sample_rate, spec.lofi_preset)
        step("export")
        result = files.finish(mastered, mixed.levels, timings)
    step(None)
    return result


def compose(spec: TrackSpec, choices: Choices, models: Models | None = None) -> Song:
    """The arranged Song (models: the shipped ones when None)."""
    from app.music.compose import compose_song, load_models

    return compose_song(models or load_models(), key=choices.key, mode=choices.mode, bpm=choices.bpm,
                        minutes=spec.minutes, seed=choices.seed, temperature=spec.temperature,
                        include_chords=spec.include_chords, colour=spec.colour, energy=spec.energy,
                        drums="drums" in choices.instruments, takes=spec.takes)


def render(song: Song, spec: TrackSpec, choices: Choices) -> dict[str, np.ndarray]:
    """Each part of the song through its SoundFont preset at spec.sample_rate: part -> float32 (2, n) stems, TAIL_S longer
    than the music, spilled to disk block by block (app/audio/spill.py) so memory does not grow with
    the track's length."""
    from app.audio.render import render_song

    return render_song(song, choices.instruments, swing=spec.swing, seed=choices.seed, sample_rate=spec.sample_rate,
                       tail_s=TAIL_S, spill=True)


def mix(song: Song, stems: dict[str, np.ndarray], spec: TrackSpec, choices: Choices) -> MixedSong:
    """The stems, the beat and the ambience mixed through the spec's lo-fi preset. The stems are
    handed over: each is freed once mixed (mix_song's release)."""
    from app.audio.mix import mix_song

    return mix_song(song, stems, beat=choices.beat, ambience=choices.ambience, preset=spec.lofi_preset,
                    sample_rate=spec.sample_rate, release=True)


def describe_result(result: TrackResult) -> str:
    """The lines a person sees after a track is made: key facts, then the main files."""
    s = result.sidecar
    lines = [f"{result.name}: {s['key']} {s['mode']}, {s['bpm']:g} BPM, {s['duration_s']:.1f} s, "
             f"{s['lufs']:.1f} LUFS, {s['true_peak_dbtp']:.1f} dBTP, seed {s['seed']}"]
    lines += [f"  {kind:<8} {path}" for kind, path in result.files.items() if not kind.startswith(("midi_", "stem_"))]
    levels = s["levels"] if "levels" in s.to_json() else None
    if levels:
        lines.append("  levels   " + describe_levels(levels))
    stems = [p for k, p in result.files.items() if k.startswith("stem_")]
    if stems:
        lines.append(f"  stems    {len(stems)} WAVs in {stems[0].parent}")
    return "\n".join(lines)


def describe_levels(levels: dict) -> str:
    """One line of per-part loudness in section A: 'melody -23.1, chords -22.4, ... LUFS; melody/chords
    -0.7 LU, ...'."""
    parts = [f"{name} {value:.1f}" for name, value in levels.items()
             if value is not None and not name.endswith(("_vs_chords", "_vs_music", "_up"))]
    gaps = [f"{name.replace('_vs_', '/')} {value:+.1f}" for name, value in levels.items()
            if value is not None and name.endswith(("_vs_chords", "_vs_music"))]
    return ", ".join(parts) + " LUFS (section A)" + ("; " + ", ".join(gaps) + " LU" if gaps else "")


def _stepper(progress, timings: dict):
    state = {"stage": None, "t": time.perf_counter()}

    def step(stage):
        now = time.perf_counter()
        if state["stage"]:
            timings[state["stage"]] = round(now - state["t"], 3)
        state.update(stage=stage, t=now)
        if progress and stage:
            progress(stage)

    return step
