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

from app import paths
from app.music import theory
from app.errors import BadValueError, OutputError
from app.files import staged_files
from app.spec import DEFAULT_BPM, NO_BEAT, RANGES, SPEC_VERSION, TrackSpec

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

# Parts and layers whose files carry a track's name (NAME_<part>.mid / .wav): a name is free only
# when none of its files exist, so a new track never replaces a part file of another one.
TRACK_PARTS = ("melody", "chords", "bass", "drums", "beat", "ambience")
RESULT_SUFFIXES = (".json", ".wav", ".mp3", ".flac", ".png")
# File names are limited to 255 bytes; a track's longest file name adds '_ambience.wav' and a
# temporary name adds '.<pid>.staged.<pid>.partial' and dots: keep the name well below.
MAX_NAME_BYTES = 150
STALE_RESERVATION_S = 10.0


def safe_name(name: str) -> str:
    """A track name -> a safe file name: no path separators, no leading dots, no control
    characters or undecodable bytes, at most MAX_NAME characters and MAX_NAME_BYTES bytes of UTF-8;
    'track' when nothing usable is left. safe_name(safe_name(x)) == safe_name(x)."""
    text = unicodedata.normalize("NFKC", str(name))
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = re.sub(r"[^\w\- .()]+", "_", text, flags=re.UNICODE)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\.{2,}", "_", text)
    text = _trim(text)
    return text or "track"


def _trim(text: str) -> str:
    """Strip separators at both ends and cut to MAX_NAME characters / MAX_NAME_BYTES bytes, until
    stable (cutting can expose a separator at the end)."""
    while True:
        cut = text.strip(" ._-")[:MAX_NAME]
        while len(cut.encode("utf-8")) > MAX_NAME_BYTES:
            cut = cut[:-1]
        if cut == text:
            return text
        text = cut


def track_files(dirs: OutputDirs, name: str) -> list[Path]:
    """Every path a track named `name` may write."""
    return ([dirs.results / f"{name}{ext}" for ext in RESULT_SUFFIXES] + [dirs.midi / f"{name}.mid"]
            + [dirs.midi / f"{name}_{part}.mid" for part in TRACK_PARTS]
            + [dirs.wav / f"{name}_{part}.wav" for part in TRACK_PARTS])


def _taken(dirs: OutputDirs, name: str) -> bool:
    return any(os.path.lexists(p) for p in track_files(dirs, name))


def prepare_output_dirs(dirs: OutputDirs) -> None:
    """Create the output folders and check that files can be written there (before any work is
    done); remove temporary files that runs killed outright left behind. Raises OutputError."""
    from app.files import clean_stale_temps

    for folder in dict.fromkeys((dirs.midi, dirs.wav, dirs.results)):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".lofi-write-test.{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise OutputError(f"cannot write to {folder}: {exc.strerror or exc}") from exc
        clean_stale_temps(folder)


@contextlib.contextmanager
def reserve_name(dirs: OutputDirs, wanted: str, overwrite: bool):
    """Yield a free track name (NAME, NAME-2, NAME-3...) reserved for this process, so two processes
    never write the same track. The reservation is a marker file created exclusively and locked
    (flock) while held; a marker left by a process that died (SIGKILL) is taken over."""
    try:
        dirs.results.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {dirs.results}: {exc.strerror or exc}") from exc
    base = safe_name(wanted)
    for n in range(1, 10000):
        name = base if n == 1 else f"{base}-{n}"
        if not overwrite and _taken(dirs, name):
            continue
        marker = dirs.results / f".{name}.reserved"
        fd = _claim(marker)
        if fd is None:
            continue
        try:
            if not overwrite and _taken(dirs, name):  # finished by another process meanwhile
                continue
            yield name
            return
        finally:
            with contextlib.suppress(OSError):
                marker.unlink()  # while still locked, so nobody can lock this marker any more
            os.close(fd)
    raise OutputError(f"no free name for {base!r} in {dirs.results}")


def _claim(marker: Path) -> int | None:
    """An open, locked descriptor of `marker` when this process now holds it, else None."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return _take_over_stale(marker)
    except OSError as exc:
        raise OutputError(f"cannot write to {marker.parent}: {exc.strerror or exc}") from exc
    _lock(fd, blocking=False)  # new and ours; the lock only tells others that we are alive
    with contextlib.suppress(OSError):
        os.write(fd, str(os.getpid()).encode())
    return fd


def _take_over_stale(marker: Path) -> int | None:
    """A marker nobody holds a lock on, older than STALE_RESERVATION_S (its process died): ours."""
    try:
        if time.time() - marker.stat().st_mtime < STALE_RESERVATION_S:
            return None
        fd = os.open(marker, os.O_WRONLY)
    except OSError:
        return None
    if _lock(fd, blocking=False) is not True:
        os.close(fd)
        return None
    try:  # the holder may have removed it and a newcomer made a new one: only the same file counts
        same = os.path.samestat(os.fstat(fd), os.stat(marker))
    except OSError:
        same = False
    if not same:
        os.close(fd)
        return None
    os.utime(fd)
    return fd


def _lock(fd: int, blocking: bool) -> bool | None:
    """flock the file: True when locked, False when another process holds it, None when this
    platform or file system has no locks."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


# --- choices ------------------------------------------------------------------------------

def resolve_choices(spec: TrackSpec) -> Choices:
    """Resolve defaults and 'surprise me' values; unknown instruments or effects raise BadValueError."""
    from app.audio.loops import default_beat, discover_effects, find_effect
    from app.audio.instruments import default_instrument, discover_soundfonts, find_instrument

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


# --- the stages ---------------------------------------------------------------------------

def _section_gain(song, layer: str, n: int, ramp_s: float = 0.05) -> np.ndarray:
    """Gain per sample, 1 where the song's sections play `layer` and 0 elsewhere, with short
    linear ramps at each change (so a beat never clicks in or out)."""
    from app.music.compose import SECTION_LAYERS

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
    from app.audio.master import export_track, master
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
                        seed=choices.seed, temperature=spec.temperature, include_chords=spec.include_chords,
                        colour=spec.colour, energy=spec.energy)

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

                facts = _sidecar(name, spec, choices, song, mastered, lufs, peak_job.result(), {}, timings)
                return track_picture(song, mastered, SAMPLE_RATE, facts, stage.temp(files["picture"]),
                                     loudness=done.short_term_lufs())

            picture_job = pool.submit(draw_picture)
        stem_paths = {part: dirs.wav / f"{name}_{part}.wav" for part in layers}
        stem_jobs = {part: pool.submit(_write_stem, audio, stage.temp(stem_paths[part]))
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
        sidecar = _sidecar(name, spec, choices, song, mastered, lufs, peak_job.result(), files, timings)
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


def _write_stem(audio: np.ndarray, path: Path) -> Path:
    import soundfile as sf

    from app.files import atomic_path

    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    data = audio / peak * 0.89 if peak > 0.89 else audio  # stems are for remixing: keep them unclipped
    with atomic_path(path) as tmp:
        sf.write(str(tmp), data.T, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return path


def _checkpoint_facts() -> dict:
    """Which weights made the music: file and content hash of each model's checkpoint and the numpy
    sampling weights exported from it."""
    from app.learn.checkpoint import file_sha256, sampling_weights_path

    facts = {}
    for kind, path in (("chord", paths.CHORD_CHECKPOINT), ("melody", paths.MELODY_CHECKPOINT)):
        entry = {}
        for label, file in (("checkpoint", path), ("sampling_weights", sampling_weights_path(path))):
            with contextlib.suppress(OSError):
                shown = file.relative_to(paths.ROOT) if file.is_relative_to(paths.ROOT) else file
                entry[label] = {"file": str(shown), "sha256": file_sha256(file)}
        facts[kind] = entry
    return facts


def _sidecar(name, spec, choices, song, audio, lufs, peak, files, timings) -> dict:
    checkpoints = _checkpoint_facts()
    return {
        "version": SPEC_VERSION,
        "name": name,
        "seed": choices.seed,
        "key": theory.key_name(choices.key),
        "mode": choices.mode,
        "bpm": song.tempo_bpm,
        "duration_s": round(audio.shape[1] / SAMPLE_RATE, 3),  # the music plus its release tail
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
    """Write the sidecar JSON atomically. Text that is not valid Unicode (undecodable file-name
    bytes) is written as JSON escapes rather than failing. Returns the path."""
    from app.files import atomic_path

    text = json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_bytes(text.encode("utf-8", "backslashreplace"))
    return path


def load_replay(path: str | Path) -> TrackSpec:
    """A sidecar JSON -> the spec that made it (same seed). Raises BadValueError naming the file and
    the field at fault: malformed JSON, a missing or unknown field, a wrong type, an unknown version."""
    path = Path(path)
    where = f"replay file {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadValueError(f"{where} not found") from None
    except UnicodeDecodeError:
        raise BadValueError(f"{where} is not UTF-8 text (is it a sidecar .json?)") from None
    except OSError as exc:
        raise BadValueError(f"{where} is unreadable: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise BadValueError(f"{where} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise BadValueError(f"{where} is not a sidecar (nested too deeply)") from None
    if not isinstance(data, dict):
        raise BadValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
    if "version" not in data:
        raise BadValueError(f"{where}: missing field 'version'")
    version = data["version"]
    if isinstance(version, int) and not isinstance(version, bool) and 1 <= version < SPEC_VERSION:
        raise BadValueError(f"{where} was made by an older version of this tool (sidecar version {version}, this one "
                            f"writes {SPEC_VERSION}): its seed now makes different music; generate again with "
                            f"--seed {data.get('seed', '?')} for the new arrangement")
    if isinstance(version, bool) or version != SPEC_VERSION:
        raise BadValueError(f"{where}: unknown version {version!r} in field 'version' (this tool reads {SPEC_VERSION})")
    if "spec" not in data:
        raise BadValueError(f"{where}: missing field 'spec'")
    return TrackSpec.from_json(data["spec"], where=where)
