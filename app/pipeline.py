"""run_track(spec) -> files: compose -> render -> mix -> master -> deliver. The one call the
wizard, the flags, replay and batch make.

Files of a track named NAME: data/midi/NAME.mid (+ NAME_<part>.mid), data/wav/NAME_<stem>.wav,
data/final_results/NAME.wav (+ .mp3/.flac), NAME.json (the sidecar that can replay it) and NAME.png.
Every file is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app import paths, theory
from app.errors import BadValueError, OutputError
from app.spec import DEFAULT_BPM, NO_BEAT, SPEC_VERSION, TrackSpec

SAMPLE_RATE = 44100
STAGES = ("compose", "render", "mix", "master", "export")
MAX_NAME = 80


@dataclass
class OutputDirs:
    midi: Path = paths.MIDI_DIR
    wav: Path = paths.WAV_DIR
    results: Path = paths.RESULTS_DIR

    @classmethod
    def under(cls, root: Path) -> "OutputDirs":
        """midi/, wav/ and final_results/ inside one folder (batch releases, tests)."""
        return cls(root / "midi", root / "wav", root / "final_results")


@dataclass
class Choices:
    """The spec with every 'default' and 'surprise me' resolved: what the track really uses."""

    seed: int
    key: int
    mode: str
    bpm: float
    instruments: dict  # part -> Instrument
    beat: object | None  # EffectFile
    ambience: list  # [(EffectFile, level_db)]


@dataclass
class TrackResult:
    name: str
    files: dict[str, Path] = field(default_factory=dict)
    sidecar: dict = field(default_factory=dict)
    song: object = None


# --- names --------------------------------------------------------------------------------

def safe_name(name: str) -> str:
    """A track name -> a safe file name: no path separators, no leading dots, no control
    characters, at most MAX_NAME characters; 'track' when nothing usable is left."""
    text = unicodedata.normalize("NFKC", str(name))
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = re.sub(r"[^\w\- .()]+", "_", text, flags=re.UNICODE)
    text = re.sub(r"\s+", " ", text).strip(" ._-")
    text = text.replace("..", "_")
    text = text[:MAX_NAME].strip(" ._-")
    return text or "track"


def _taken(dirs: OutputDirs, name: str) -> bool:
    return any((dirs.results / f"{name}{ext}").exists() for ext in (".json", ".wav", ".mp3", ".flac")) or \
        (dirs.results / f".{name}.reserved").exists()


@contextlib.contextmanager
def reserve_name(dirs: OutputDirs, wanted: str, overwrite: bool):
    """Yield a free track name (NAME, NAME-2, NAME-3...) reserved for this process by an
    exclusively created marker file, so two processes never write the same track."""
    try:
        dirs.results.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {dirs.results}: {exc.strerror}") from exc
    base = safe_name(wanted)
    for n in range(1, 10000):
        name = base if n == 1 else f"{base}-{n}"
        if not overwrite and _taken(dirs, name):
            continue
        marker = dirs.results / f".{name}.reserved"
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"cannot write to {dirs.results}: {exc.strerror}") from exc
        os.close(fd)
        try:
            yield name
        finally:
            with contextlib.suppress(OSError):
                marker.unlink()
        return
    raise OutputError(f"no free name for {base!r} in {dirs.results}")


# --- choices ------------------------------------------------------------------------------

def resolve_choices(spec: TrackSpec) -> Choices:
    """Resolve defaults and 'surprise me' values; unknown instruments or effects raise BadValueError."""
    from app.effect_files import discover_effects, find_effect
    from app.instruments import default_instrument, discover_soundfonts, find_instrument

    seed = spec.seed if spec.seed is not None else random.SystemRandom().randrange(2**31)
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
            beats = sorted((e for e in effects if e.kind == "beat"), key=lambda e: e.name)
            beat = next((e for e in beats if e.name.startswith("boombap")), beats[0] if beats else None)
    ambience = [(find_effect(name, "ambience", effects), level) for name, level in spec.ambience]
    bpm = spec.bpm if spec.bpm is not None else (round(beat.bpm, 2) if beat is not None and beat.bpm else DEFAULT_BPM)
    return Choices(seed, key, mode, float(bpm), instruments, beat, ambience)


# --- the stages ---------------------------------------------------------------------------

def _section_gain(song, layer: str, n: int, ramp_s: float = 0.05) -> np.ndarray:
    """Gain per sample, 1 where the song's sections play `layer` and 0 elsewhere, with short
    linear ramps at each change (so a beat never clicks in or out)."""
    from app.compose import SECTION_LAYERS

    spb = 60.0 / song.tempo_bpm * SAMPLE_RATE
    ramp = ramp_s * SAMPLE_RATE
    times, values = [0.0], [0.0]
    for s in song.sections:
        on = 1.0 if layer in SECTION_LAYERS.get(s.name, ()) else 0.0
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
    from app.fx import lowpass

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
    from app.checkpoint import file_sha256
    from app.compose import compose_song, load_models
    from app.effect_files import ambience_track, beat_track
    from app.fx import fade, lofi_chain
    from app.master import export_track, loudness_lufs, master, true_peak_dbtp
    from app.midi_io import write_midi, write_part_midis
    from app.mix import mix_track
    from app.render import render_song

    spec.validate()
    dirs = dirs or OutputDirs()
    timings: dict[str, float] = {}
    choices = resolve_choices(spec)
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
                 fade_out_s=min(song.length_seconds * 0.25, 4 * 4 * beat_s) + 2.0)

    step("master")
    mastered = master(mixed, SAMPLE_RATE)

    step("export")
    layers = {**stems, **({"beat": beat} if beat is not None else {})}
    if ambience:
        layers["ambience"] = sum(a * np.float32(10 ** (lv / 20)) for a, lv in ambience)
    # Files are independent: stems, the measurement of the master and the master's export run side
    # by side (numpy, libsndfile and ffmpeg release the GIL).
    with reserve_name(dirs, spec.name, spec.overwrite) as name, ThreadPoolExecutor(2) as pool:
        measured = pool.submit(lambda: (loudness_lufs(mastered, SAMPLE_RATE), true_peak_dbtp(mastered, SAMPLE_RATE)))
        stem_jobs = {part: pool.submit(_write_stem, audio, dirs.wav / f"{name}_{part}.wav")
                     for part, audio in layers.items()}
        files: dict[str, Path] = {}
        files["midi"] = write_midi(song, dirs.midi / f"{name}.mid", _programs(choices))
        for p in write_part_midis(song, lambda part: dirs.midi / f"{name}_{part}.mid"):
            files[f"midi_{p.stem.rsplit('_', 1)[-1]}"] = p
        tags = {"title": spec.name, "artist": spec.artist, "album": spec.album or "lofi generator",
                "genre": "Lo-fi Hip Hop", "bpm": round(song.tempo_bpm),
                "key": f"{theory.key_name(song.key)} {song.mode}", "comment": f"seed {choices.seed}"}
        for path in export_track(mastered, SAMPLE_RATE, dirs.results / name, spec.formats, tags):
            files[path.suffix.lstrip(".")] = path
        files.update({f"stem_{part}": job.result() for part, job in stem_jobs.items()})
        lufs, peak = measured.result()
        sidecar = _sidecar(name, spec, choices, song, lufs, peak, files, timings, models, file_sha256)
        if spec.picture:
            from app.pictures import track_picture

            files["picture"] = track_picture(song, mastered, SAMPLE_RATE, sidecar, dirs.results / f"{name}.png")
            sidecar["files"]["picture"] = str(files["picture"])
        files["sidecar"] = write_sidecar(sidecar, dirs.results / f"{name}.json")
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


def _write_stem(audio: np.ndarray, path: Path) -> Path:
    import soundfile as sf

    from app.files import atomic_path

    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    data = audio / peak * 0.89 if peak > 0.89 else audio  # stems are for remixing: keep them unclipped
    with atomic_path(path) as tmp:
        sf.write(str(tmp), data.T, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return path


def _sidecar(name, spec, choices, song, lufs, peak, files, timings, models, file_sha256) -> dict:
    from app.checkpoint import KINDS  # noqa: F401  (kept with the checkpoint module's names)

    checkpoints = {}
    for kind, path in (("chord", paths.CHORD_CHECKPOINT), ("melody", paths.MELODY_CHECKPOINT)):
        with contextlib.suppress(OSError):
            checkpoints[kind] = {"file": str(path.relative_to(paths.ROOT)), "sha256": file_sha256(path)}
    return {
        "version": SPEC_VERSION,
        "name": name,
        "seed": choices.seed,
        "key": theory.key_name(choices.key),
        "mode": choices.mode,
        "bpm": song.tempo_bpm,
        "duration_s": round(song.length_seconds + 2.0, 3),
        "music_s": round(song.length_seconds, 3),
        "lufs": round(lufs, 2),
        "true_peak_dbtp": round(peak, 2),
        "instruments": {part: {"id": inst.id, "name": inst.name} for part, inst in choices.instruments.items()},
        "beat": None if choices.beat is None else {"name": choices.beat.name, "bpm": choices.beat.bpm},
        "ambience": [{"name": e.name, "level_db": lv} for e, lv in choices.ambience],
        "temperature": spec.temperature,
        "include_chords": spec.include_chords,
        "sections": [{"name": s.name, "start_beat": s.start, "bars": s.duration / song.beats_per_bar} for s in song.sections],
        "chords": [c.symbol for c in song.chords[:16]],
        "checkpoints": checkpoints,
        "timings_s": timings,
        "files": {kind: str(path) for kind, path in files.items()},
        "spec": {**spec.to_json(), "seed": choices.seed, "name": spec.name},
    }


def write_sidecar(sidecar: dict, path: Path) -> Path:
    from app.files import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_replay(path: str | Path) -> TrackSpec:
    """A sidecar JSON -> the spec that made it (same seed). Raises BadValueError naming the problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadValueError(f"replay file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadValueError(f"replay file {path} is unreadable: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BadValueError(f"replay file {path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise BadValueError(f"replay file {path}: expected a JSON object")
    if "version" not in data:
        raise BadValueError(f"replay file {path}: missing field 'version'")
    if data["version"] != SPEC_VERSION:
        raise BadValueError(f"replay file {path}: unknown version {data['version']!r} (this tool reads {SPEC_VERSION})")
    if "spec" not in data:
        raise BadValueError(f"replay file {path}: missing field 'spec'")
    spec = TrackSpec.from_json(data["spec"])
    if spec.seed is None:
        raise BadValueError(f"replay file {path}: missing field 'spec.seed'")
    return spec
