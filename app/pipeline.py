"""run_track(spec) -> files: compose -> render -> mix -> master -> deliver. The one call the
wizard, the flags, replay and batch make.

Files of a track named NAME: data/midi/NAME.mid (+ NAME_<part>.mid), data/wav/NAME_<stem>.wav,
data/final_results/NAME.wav (+ .mp3/.flac), NAME.json (the sidecar that can replay it) and NAME.png.
Every file is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.choices import Choices, resolve_choices
from app.config import SAMPLE_RATE, TAIL_S
from app.deliver.names import MAX_NAME, MAX_NAME_BYTES, OutputDirs, prepare_output_dirs, reserve_name, safe_name  # noqa: F401
from app.deliver.replay import load_replay, track_sidecar, write_sidecar  # noqa: F401
from app.files import staged_files
from app.music import theory
from app.spec import TrackSpec

STAGES = ("compose", "render", "mix", "master", "export")


@dataclass
class TrackResult:
    name: str
    files: dict[str, Path] = field(default_factory=dict)
    sidecar: dict = field(default_factory=dict)
    song: object = None


# --- the stages ---------------------------------------------------------------------------

def _section_gain(song, layer: str, n: int, ramp_s: float = 0.05) -> np.ndarray:
    """Gain per sample, 1 where the song's sections play `layer` and 0 elsewhere, with short
    linear ramps at each change (so a beat never clicks in or out)."""
    spb = 60.0 / song.tempo_bpm * SAMPLE_RATE
    ramp = ramp_s * SAMPLE_RATE
    times, values = [0.0], [0.0]
    for s in song.sections:
        on = 1.0 if layer in s.layers else 0.0
        at = s.start * spb
        if on != values[-1]:
            times += [max(times[-1], at - ramp / 2), at + ramp / 2]
            values += [values[-1], on]
    times.append(float(n))
    values.append(values[-1])
    return np.interp(np.arange(n, dtype=np.float32), times, values).astype(np.float32)


def _filter_intro(mixed: np.ndarray, song, cutoff_hz: float = 900.0) -> np.ndarray:
    """The intro plays through a low-pass that opens over a second when the groove starts
    (filters the mix in place: only the chords and the ambience sound in the intro)."""
    from app.audio.fx import lowpass

    intro = next((s for s in song.sections if s.name == "intro"), None)
    if intro is None:
        return mixed
    end = int(intro.end * 60.0 / song.tempo_bpm * SAMPLE_RATE)
    fade = min(end, int(0.5 * SAMPLE_RATE))
    head = mixed[:, :end + fade]
    wet = np.ones(head.shape[1], dtype=np.float32)
    wet[end - fade:] = np.linspace(1, 0, 2 * fade, dtype=np.float32)[:head.shape[1] - (end - fade)]
    mixed[:, :head.shape[1]] = lowpass(cutoff_hz)(head, SAMPLE_RATE) * wet + head * (1 - wet)
    return mixed


def run_track(spec: TrackSpec, models=None, dirs: OutputDirs | None = None, progress=None) -> TrackResult:
    """Make one finished track from a spec. progress(stage) is called as each stage starts.

    Returns the files written (kind -> path) and the sidecar dict. Raises LofiError subclasses for
    anything a user can fix.
    """
    from app.music.compose import compose_song, load_models
    from app.audio.loops import ambience_track, beat_track
    from app.audio.fx import fade, lofi_chain
    from app.audio.master import master
    from app.deliver.export import export_track, write_stem
    from app.music.midi_io import write_midi, write_part_midis
    from app.audio.mix import mix_track
    from app.audio.render import render_song

    spec.validate()
    dirs = dirs or OutputDirs()
    timings: dict[str, float] = {}
    choices = resolve_choices(spec)  # unknown instruments or effects fail before anything is written
    prepare_output_dirs(dirs)  # an unwritable folder fails now, not after minutes of work
    step = _stepper(progress, timings)

    step("compose")
    models = models or load_models()
    song = compose_song(models, key=choices.key, mode=choices.mode, bpm=choices.bpm, minutes=spec.minutes,
                        seed=choices.seed, temperature=spec.temperature, include_chords=spec.include_chords)

    step("render")
    stems = render_song(song, choices.instruments, swing=spec.swing, seed=choices.seed, sample_rate=SAMPLE_RATE)
    n = next(iter(stems.values())).shape[1]

    step("mix")
    beat = None
    if choices.beat is not None:
        beat = beat_track(choices.beat, song.tempo_bpm, n, SAMPLE_RATE) * _section_gain(song, "beat", n)
    ambience = [(ambience_track(effect, n, SAMPLE_RATE), level) for effect, level in choices.ambience]
    mixed = mix_track(stems, beat=beat, ambience=ambience, chain=lofi_chain(spec.lofi_preset),
                      sample_rate=SAMPLE_RATE, bpm=song.tempo_bpm)
    mixed = _filter_intro(mixed, song)
    beat_s = 60.0 / song.tempo_bpm
    mixed = fade(mixed, SAMPLE_RATE, fade_in_s=min(2 * beat_s, 3.0),
                 fade_out_s=min(song.length_seconds * 0.25, 4 * 4 * beat_s) + TAIL_S)

    step("master")
    done = master(mixed, SAMPLE_RATE)
    mastered, lufs = done.audio, done.lufs

    step("export")
    layers = {**stems, **({"beat": beat} if beat is not None else {})}
    if ambience:
        layers["ambience"] = sum(a * np.float32(10 ** (lv / 20)) for a, lv in ambience)
    # Every file goes under a hidden temporary name first and all are renamed together at the end
    # (staged_files), so an interruption or a full disk leaves no file of the track at all, and with
    # --overwrite the old track stays whole until the new one is complete. Files are independent:
    # stems, the picture and the master's export run side by side (numpy, libsndfile and ffmpeg
    # release the GIL). The loudness and true peak are the master's own final measurement (the exact
    # true peak is finished on a worker thread).
    with reserve_name(dirs, spec.name, spec.overwrite) as name, staged_files() as stage, _threads(3) as pool:
        peak_job = pool.submit(lambda: done.true_peak_dbtp)
        files: dict[str, Path] = {}
        picture_job = None
        if spec.picture:
            files["picture"] = dirs.results / f"{name}.png"

            def draw_picture():
                from app.report.pictures import track_picture

                facts = track_sidecar(name, spec, choices, song, mastered.shape[1], lufs, peak_job.result(), {},
                                      timings).to_json()
                return track_picture(song, mastered, SAMPLE_RATE, facts, stage.temp(files["picture"]),
                                     loudness=done.short_term_lufs())

            picture_job = pool.submit(draw_picture)
        stem_paths = {part: dirs.wav / f"{name}_{part}.wav" for part in layers}
        stem_jobs = {part: pool.submit(write_stem, audio, stage.temp(stem_paths[part]))
                     for part, audio in layers.items()}
        files["midi"] = dirs.midi / f"{name}.mid"
        write_midi(song, stage.temp(files["midi"]), _programs(choices))
        part_paths: dict[str, Path] = {}

        def part_path(part: str) -> Path:
            part_paths[part] = dirs.midi / f"{name}_{part}.mid"
            return stage.temp(part_paths[part])

        write_part_midis(song, part_path)
        files.update({f"midi_{part}": path for part, path in part_paths.items()})
        tags = {"title": spec.name, "artist": spec.artist, "album": spec.album or "lofi generator",
                "genre": "Lo-fi Hip Hop", "bpm": round(song.tempo_bpm),
                "key": f"{theory.key_name(song.key)} {song.mode}", "comment": f"seed {choices.seed}"}
        finals = [dirs.results / f"{name}.{fmt}" for fmt in spec.formats]
        temps = [stage.temp(path) for path in finals]  # export_track appends .<format> to the base
        export_track(mastered, SAMPLE_RATE, temps[0].with_suffix(""), spec.formats, tags)
        files.update({path.suffix.lstrip("."): path for path in finals})
        for part, job in stem_jobs.items():
            job.result()
            files[f"stem_{part}"] = stem_paths[part]
        if picture_job is not None:
            picture_job.result()
        sidecar = track_sidecar(name, spec, choices, song, mastered.shape[1], lufs, peak_job.result(), files, timings)
        files["sidecar"] = dirs.results / f"{name}.json"
        write_sidecar(sidecar, stage.temp(files["sidecar"]))
    step(None)
    return TrackResult(name, files, sidecar, song)


def describe_result(result: TrackResult) -> str:
    """The lines a person sees after a track is made: key facts, then the main files."""
    s = result.sidecar
    lines = [f"{result.name}: {s['key']} {s['mode']}, {s['bpm']:g} BPM, {s['duration_s']:.1f} s, "
             f"{s['lufs']:.1f} LUFS, {s['true_peak_dbtp']:.1f} dBTP, seed {s['seed']}"]
    lines += [f"  {kind:<8} {path}" for kind, path in result.files.items() if not kind.startswith(("midi_", "stem_"))]
    stems = [p for k, p in result.files.items() if k.startswith("stem_")]
    if stems:
        lines.append(f"  stems    {len(stems)} WAVs in {stems[0].parent}")
    return "\n".join(lines)


@contextlib.contextmanager
def _threads(workers: int):
    """A thread pool that, when the block is left by an error or an interruption, drops the jobs not
    started and waits only for the running ones (they write temporary files the stage removes)."""
    pool = ThreadPoolExecutor(workers)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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


def _programs(choices: Choices) -> dict[str, int]:
    """GM programs in the MIDI file, so it sounds right in any player (bank 0 presets only)."""
    return {part: inst.program for part, inst in choices.instruments.items() if inst.bank == 0}
