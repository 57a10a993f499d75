"""`python -m app.main batch`: a release of N distinct, mastered, tagged tracks, ready to upload.

    python -m app.main batch --count 10 --minutes 2 --jobs 2 --out /tmp/release
    python -m app.main batch --count 12 --minutes-range 2-3 --formats wav,mp3 --mix-minutes 60
    python -m app.main batch --preset release.toml        # any of the options in TOML (underscores)

A release folder, OUT/<album>/:

    01 - Amber Window.wav (.mp3 .flac)   the finals: 44.1 kHz 16-bit, -14 LUFS, <= -1 dBTP, tagged
    02 - Tea at Dusk.wav                 (title, artist, album, track number, genre, BPM, key), the
    ...                                  cover embedded in MP3 (APIC) and FLAC (picture block)
    cover.jpg                            3000x3000, drawn from the release seed (app/cover.py)
    manifest.json, manifest.csv          one row per track: files, tags, figures, seed, status, error
    compliance.md                        loudness, true peak, clipping, silence, duration: pass/fail
    mix.wav, tracklist.txt               with --mix-minutes: one crossfaded mix, "00:00 Title" lines
    work/                                what the pipeline also makes: midi/, stems/ (per part),
                                         tracks/ (the replayable sidecar JSON of each track)
    .batch.lock                          held (flock) by the run working on the release

How it runs. The plan (titles, keys, tempi, instruments, effects, seeds) is drawn from the release
seed and written to manifest.json before any track is made. J worker processes ('spawn', models
loaded once per worker) each make one track at a time with app.pipeline.run_track
into work/; the parent checks the originality guard across tracks, moves the finished files to the
release root (a rename), and rewrites the manifest atomically after every track. Each finished song
is checked against the training melodies and the release's other tracks (app/originality.py); a track
that fails the guard is made again with a new seed and its row and the compliance report say so. A track that fails is recorded with its error, the others
go on, and the exit code is 1.

Running the same command again resumes the release: it is found by its options (or by --album), done
tracks whose files still match the manifest (size and SHA-256) are skipped, the rest are made. To make
a second release with the same options, give another --seed or --album. Ctrl-C stops the workers;
every file is written under a temporary name and renamed when complete, so nothing half-written sits
under a final name, and the manifest only lists finished tracks as done.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import queue
import random
import signal
import sys
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app import paths
from app.music import theory
from app.errors import BadValueError, LofiError, OutputError, RenderError
from app.files import atomic_path, file_sha256, hold_signals

MANIFEST_VERSION = 1
MAX_ATTEMPTS = 6  # seeds tried per track before the originality guard gives up
PENDING, DONE, FAILED = "pending", "done", "failed"
# Fault injection for tests and drills: track numbers listed here (e.g. "2" or "1,3") fail at their
# render stage with a RenderError, through the same path as any real failure.
FAIL_HOOK_ENV = "LOFI_BATCH_FAIL_TRACKS"

# Delivery spec checked by the compliance report.
TARGET_LUFS = -14.0
LUFS_TOLERANCE = 0.5
MAX_TRUE_PEAK_DBTP = -1.0
MAX_SILENCE_S = 2.0
SILENCE_DBFS = -60.0
TAIL_S = 2.0  # the pipeline's reverb/fade tail after the music

DEFAULT_POOLS = {
    "melody_instruments": ("Vibraphone", "Electric Piano 1", "Celesta", "Music Box", "Acoustic Guitar (nylon)",
                           "Electric Guitar (jazz)", "Marimba", "Flute"),
    "chords_instruments": ("Electric Piano 1", "Electric Piano 2", "Acoustic Grand Piano", "Acoustic Guitar (nylon)",
                           "Pad 2 (warm)", "Vibraphone"),
    "bass_instruments": ("Electric Bass (finger)", "Acoustic Bass", "Fretless Bass"),
    "lofi_presets": ("default", "dusty", "tape"),
}
DEFAULT_AMBIENCE_LEVELS_DB = (-28.0, -20.0)
OPTIONS = ("count", "minutes", "minutes_range", "jobs", "out", "formats", "artist", "album", "seed", "keys", "modes",
           "bpm_range", "melody_instruments", "chords_instruments", "bass_instruments", "beats", "ambience",
           "lofi_presets", "swing_range", "temperature", "mix_minutes", "crossfade")
CSV_COLUMNS = ("track_number", "status", "title", "artist", "album", "file_wav", "file_mp3", "file_flac", "duration_s",
               "bpm", "key", "mode", "lufs", "true_peak_dbtp", "seed", "melody_instrument", "chords_instrument",
               "bass_instrument", "beat", "ambience", "lofi_preset", "isrc", "compliance", "error", "regenerated")


class OriginalityError(LofiError):
    """No seed within MAX_ATTEMPTS gave a track that passes the originality guard."""


# --- the request --------------------------------------------------------------------------


@dataclass
class BatchRequest:
    """Everything a release is made from. Fields up to `temperature` identify the release."""

    count: int = 10
    minutes: float | None = 2.0
    minutes_range: tuple[float, float] | None = None
    formats: tuple[str, ...] = ("wav",)
    artist: str = "lofi generator"
    album: str | None = None  # None: a title drawn from the seed
    seed: int | None = None  # None: random, recorded in the manifest
    keys: tuple[str, ...] = tuple(theory.KEY_NAMES)
    modes: tuple[str, ...] = tuple(theory.MODES)
    bpm_range: tuple[float, float] = (70.0, 90.0)
    melody_instruments: tuple[str, ...] = DEFAULT_POOLS["melody_instruments"]
    chords_instruments: tuple[str, ...] = DEFAULT_POOLS["chords_instruments"]
    bass_instruments: tuple[str, ...] = DEFAULT_POOLS["bass_instruments"]
    beats: tuple[str, ...] | None = None  # None: every beat loop in app/effects
    ambience: tuple[str, ...] | None = None  # NAME[:LEVEL_DB] or 'none'; None: every ambience found
    lofi_presets: tuple[str, ...] = DEFAULT_POOLS["lofi_presets"]
    swing_range: tuple[float, float] = (0.54, 0.62)
    temperature: float = 1.0
    # How to run it (not part of the release's identity):
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    out: Path = field(default_factory=lambda: paths.OUTPUT_ROOT / "releases")
    mix_minutes: float | None = None
    crossfade: float = 4.0

    def identity(self) -> dict:
        """The options that define the release, JSON-normalised (a rerun with these resumes it)."""
        data = asdict(self)
        for name in ("jobs", "out", "mix_minutes", "crossfade"):
            data.pop(name)
        return json.loads(json.dumps(data))


def _split_list(value, name: str) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise BadValueError(f"{name} must be a comma list or a list, got {value!r}")
    out = tuple(str(x).strip() for x in items if str(x).strip())
    if not out:
        raise BadValueError(f"{name} is empty")
    return out


def _parse_range(value, name: str) -> tuple[float, float]:
    """'2-3', [2, 3] or a single number -> (low, high)."""
    try:
        if isinstance(value, (int, float)):
            return float(value), float(value)
        if isinstance(value, str):
            low, sep, high = value.strip().partition("-")
            return (float(low), float(high)) if sep else (float(low), float(low))
        low, high = value
        return float(low), float(high)
    except (TypeError, ValueError):
        raise BadValueError(f"{name} must look like A-B (e.g. 70-90), got {value!r}") from None


def _load_preset(path: str | Path) -> dict:
    import tomllib

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadValueError(f"preset file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadValueError(f"preset file {path} is unreadable: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadValueError(f"preset file {path} is not valid TOML: {exc}") from None
    data = {k.replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - set(OPTIONS))
    if unknown:
        raise BadValueError(f"preset file {path}: unknown option {unknown[0]!r}; known: {', '.join(OPTIONS)}")
    return data


def request_from_args(args) -> BatchRequest:
    """CLI flags (and --preset) -> a validated BatchRequest. Flags win over the preset."""
    preset = _load_preset(args.preset) if getattr(args, "preset", None) else {}
    given = {}
    for name in OPTIONS:
        flag = getattr(args, name, None)
        given[name] = flag if flag is not None else preset.get(name)
    if getattr(args, "minutes", None) is not None:
        given["minutes_range"] = None  # a flag beats a preset's range
    elif getattr(args, "minutes_range", None) is not None:
        given["minutes"] = None
    req = BatchRequest()
    for name in ("count", "jobs", "seed"):
        if given[name] is not None:
            if not isinstance(given[name], int) or isinstance(given[name], bool):
                raise BadValueError(f"{name} must be a whole number, got {given[name]!r}")
            setattr(req, name, given[name])
    for name in ("temperature", "mix_minutes", "crossfade"):
        if given[name] is not None:
            if not isinstance(given[name], (int, float)) or isinstance(given[name], bool):
                raise BadValueError(f"{name} must be a number, got {given[name]!r}")
            setattr(req, name, float(given[name]))
    if given["minutes_range"] is not None:
        req.minutes, req.minutes_range = None, _parse_range(given["minutes_range"], "minutes range")
    elif given["minutes"] is not None:
        req.minutes = float(given["minutes"])
    for name in ("bpm_range", "swing_range"):
        if given[name] is not None:
            setattr(req, name, _parse_range(given[name], name.replace("_", " ")))
    for name in ("artist", "album"):
        if given[name] is not None:
            setattr(req, name, str(given[name]).strip())
    if given["out"] is not None:
        req.out = Path(given["out"]).expanduser()
    if given["formats"] is not None:
        req.formats = tuple(f.lower() for f in _split_list(given["formats"], "formats"))
    for name in ("keys", "modes", "melody_instruments", "chords_instruments", "bass_instruments", "beats", "ambience",
                 "lofi_presets"):
        if given[name] is not None:
            setattr(req, name, _split_list(given[name], name.replace("_", " ")))
    if req.keys and [k.lower() for k in req.keys] in (["any"], ["all"], ["surprise"]):
        req.keys = tuple(theory.KEY_NAMES)
    return validate_request(req)


def validate_request(req: BatchRequest) -> BatchRequest:
    """Check every value and pool entry (instruments and effects must exist); BadValueError names the
    first problem. Returns req."""
    from app.audio.loops import discover_effects, find_effect
    from app.audio.fx import PRESETS
    from app.audio.instruments import discover_soundfonts, find_instrument
    from app.spec import FORMATS, RANGES, check_range, parse_ambience

    def ordered(name, pair, key):
        lo, hi = RANGES[key]
        check_range(name, pair[0], lo, hi)
        check_range(name, pair[1], lo, hi)
        if pair[0] > pair[1]:
            raise BadValueError(f"{name} {pair[0]:g}-{pair[1]:g} runs backwards; give LOW-HIGH")

    check_range("count", req.count, 1, 999)
    check_range("jobs", req.jobs, 1, 64)
    if req.minutes_range is not None:
        ordered("minutes range", req.minutes_range, "minutes")
    else:
        check_range("minutes", req.minutes, *RANGES["minutes"])
    ordered("bpm range", req.bpm_range, "bpm")
    ordered("swing range", req.swing_range, "swing")
    check_range("temperature", req.temperature, *RANGES["temperature"])
    if req.seed is not None:
        check_range("seed", req.seed, 0, 2**32 - 1)
    if req.mix_minutes is not None:
        check_range("mix minutes", req.mix_minutes, 0.1, 600)
    check_range("crossfade", req.crossfade, 0.0, 15.0)
    bad = [f for f in req.formats if f not in FORMATS]
    if bad:
        raise BadValueError(f"unknown format {bad[0]!r}; allowed: {', '.join(FORMATS)}")
    if not req.artist:
        raise BadValueError("artist must not be empty")
    if req.album is not None and not req.album:
        raise BadValueError("album must not be empty")
    for k in req.keys:
        try:
            theory.pitch_class(k)
        except ValueError:
            raise BadValueError(f"unknown key {k!r} in keys; allowed: {', '.join(theory.KEY_NAMES)}") from None
    for m in req.modes:
        if m not in theory.MODES:
            raise BadValueError(f"unknown mode {m!r} in modes; allowed: major, minor")
    for p in req.lofi_presets:
        if p not in PRESETS:
            raise BadValueError(f"unknown lo-fi preset {p!r}; allowed: {', '.join(PRESETS)}")
    files, _ = discover_soundfonts()
    for pool in ("melody_instruments", "chords_instruments", "bass_instruments"):
        for name in getattr(req, pool):
            find_instrument(name, files)  # raises BadValueError with close matches
    effects, _ = discover_effects()
    for name in req.beats or ():
        if name.lower() != "none":
            find_effect(name, "beat", effects)
    for entry in req.ambience or ():
        if entry.lower() != "none":
            name, level = parse_ambience(entry) if ":" in entry else (entry, None)
            find_effect(name, "ambience", effects)
            if level is not None:
                check_range(f"ambience level of {name}", level, *RANGES["level_db"])
    return req


# --- the plan -----------------------------------------------------------------------------


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
    beat: str  # an effect name or 'none'
    ambience: list  # [[name, level_db]]
    lofi_preset: str
    swing: float
    temperature: float
    seed: int

    @property
    def base_name(self) -> str:
        """The file name stem of the finals: '03 - Amber Window'."""
        from app.pipeline import safe_name

        return safe_name(f"{self.number:02d} - {self.title}")


def track_seed(release_seed: int, number: int, attempt: int) -> int:
    """The seed of a track's attempt (0 = first), stable for a release seed."""
    digest = hashlib.sha256(f"{release_seed}:{number}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


def _effect_names(kind: str) -> tuple[str, ...]:
    from app.audio.loops import discover_effects

    return tuple(e.name for e in discover_effects()[0] if e.kind == kind)


def plan_release(req: BatchRequest, release_seed: int, titles: list[str]) -> list[TrackPlan]:
    """Draw every track's choices. Each pool is shuffled and dealt in turn, so neighbouring tracks
    differ; tempi (and lengths, for a range) are spread over their range rather than drawn freely."""
    rng = random.Random(f"release:{release_seed}")
    n = req.count

    def dealt(pool) -> list:
        order = list(pool)
        rng.shuffle(order)
        return [order[i % len(order)] for i in range(n)]

    def spread(lo: float, hi: float, step: float) -> list[float]:
        slots = rng.sample(range(n), n)
        return [round((lo + (hi - lo) * (s + rng.random()) / n) / step) * step for s in slots]

    beats = req.beats if req.beats is not None else (_effect_names("beat") or ("none",))
    ambience = req.ambience if req.ambience is not None else (_effect_names("ambience") or ("none",))
    keys, modes = dealt(req.keys), dealt(req.modes)
    bpms = spread(*req.bpm_range, 0.5)
    minutes = spread(*req.minutes_range, 0.05) if req.minutes_range else [req.minutes] * n
    melody, chords, bass = dealt(req.melody_instruments), dealt(req.chords_instruments), dealt(req.bass_instruments)
    beat, amb, lofi = dealt(beats), dealt(ambience), dealt(req.lofi_presets)
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
            temperature=req.temperature, seed=track_seed(release_seed, i + 1, 0),
        ))  # fmt: skip
    return plans


# --- one track (runs in a worker) ---------------------------------------------------------


def _spec_for(plan: TrackPlan, seed: int, release: dict):
    from app.spec import TrackSpec

    return TrackSpec(
        name=plan.base_name, minutes=plan.minutes, key=plan.key, mode=plan.mode, bpm=plan.bpm,
        melody_instrument=plan.melody_instrument, chords_instrument=plan.chords_instrument,
        bass_instrument=plan.bass_instrument, beat=plan.beat, ambience=[tuple(a) for a in plan.ambience],
        temperature=plan.temperature, seed=seed, formats=tuple(release["formats"]), overwrite=True, swing=plan.swing,
        lofi_preset=plan.lofi_preset, picture=False, artist=release["artist"], album=release["album"],
    ).validate()  # fmt: skip


def _forced_failures() -> set[int]:
    text = os.environ.get(FAIL_HOOK_ENV, "")
    return {int(x) for x in text.replace(" ", "").split(",") if x.isdigit()}


def work_dirs(folder: Path):
    from app.pipeline import OutputDirs

    work = Path(folder) / "work"
    return OutputDirs(midi=work / "midi", wav=work / "stems", results=work / "tracks")


def make_track(task: dict, models, windows: set, progress=None) -> dict:
    """Make one planned track into the release's work/ folder: run the pipeline, check the song
    against the originality guard (new seeds until it passes), tag the finals (title, track number,
    cover) and measure them for the compliance report.

    task: {'plan': TrackPlan fields, 'release': {...}, 'attempt': first attempt, 'regenerated': [...],
    'taken_passages': [hashes of the release's finished tracks]}. Returns {'number', 'work_files':
    {format: path}, 'sidecar', 'row': manifest fields, 'passages': [...], 'attempt'}.
    Raises LofiError subclasses (OriginalityError when no seed passes).
    """
    from app.release.originality import check_song
    from app.pipeline import run_track

    plan = TrackPlan(**task["plan"])
    release = task["release"]
    taken = set(task.get("taken_passages", ()))
    regenerated = list(task.get("regenerated", ()))
    dirs = work_dirs(Path(release["folder"]))
    forced = plan.number in _forced_failures()

    def stage(name):
        if forced and name == "render":
            raise RenderError(f"forced failure of track {plan.number} ({FAIL_HOOK_ENV})")
        if progress:
            progress(name)

    for attempt in range(task.get("attempt", 0), MAX_ATTEMPTS):
        seed = plan.seed if attempt == 0 else track_seed(release["seed"], plan.number, attempt)
        spec = _spec_for(plan, seed, release)
        # The guard judges the song run_track really made. A rejection costs one render, but it is
        # rare (none in 30 two-minute songs with the shipped weights), while composing every song
        # twice to judge it first would cost every track.
        result = run_track(spec, models=models, dirs=dirs, progress=stage)
        verdict = check_song(result.song, windows, taken)
        if verdict.ok:
            break
        _remove_files(result.files.values())
        regenerated.append({"seed": seed, "reason": verdict.reason})
    else:
        raise OriginalityError(f"no seed in {MAX_ATTEMPTS} tries passed the originality guard "
                               f"(last: {regenerated[-1]['reason']})")

    if progress:
        progress("tag")
    finals = {fmt: result.files[fmt] for fmt in release["formats"] if fmt in result.files}
    cover = Path(release["cover"]).read_bytes() if release.get("cover") else None
    tags = {"title": plan.title, "artist": release["artist"], "album": release["album"],
            "tracknumber": f"{plan.number}/{release['count']}"}
    for fmt, path in finals.items():
        retag(path, fmt, tags, cover)
    if progress:
        progress("measure")
    s = result.sidecar
    bar_s = 4 * 60.0 / result.song.tempo_bpm
    intro_end, outro_start = _intro_outro_s(result.song)
    compliance = measure_compliance(_measured_file(finals), plan.minutes * 60.0 + TAIL_S, bar_s, intro_end, outro_start)
    row = {
        "track_number": plan.number, "title": plan.title, "duration_s": compliance["duration_s"],
        "bpm": round(float(s["bpm"]), 2), "key": s["key"], "mode": s["mode"], "lufs": compliance["lufs"],
        "true_peak_dbtp": compliance["true_peak_dbtp"], "seed": s["seed"],
        "instruments": {part: v["name"] for part, v in s["instruments"].items()},
        "instrument_ids": {part: v["id"] for part, v in s["instruments"].items()},
        "effects": {"beat": (s["beat"] or {}).get("name", "none"),
                    "ambience": [f"{a['name']}:{a['level_db']:g}" for a in s["ambience"]],
                    "lofi_preset": plan.lofi_preset, "swing": plan.swing},
        "regenerated": regenerated, "compliance": compliance,
    }  # fmt: skip
    return {"number": plan.number, "work_files": {f: str(p) for f, p in finals.items()},
            "sidecar": str(result.files["sidecar"]), "row": row, "passages": sorted(verdict.passages),
            "attempt": attempt}


def _intro_outro_s(song) -> tuple[float, float]:
    """Seconds where the intro ends and the outro starts (silence is allowed outside them)."""
    spb = 60.0 / song.tempo_bpm
    intro = next((s for s in song.sections if s.name == "intro"), None)
    outro = next((s for s in reversed(song.sections) if s.name == "outro"), None)
    return (intro.end * spb if intro else 0.0), (outro.start * spb if outro else song.length_seconds)


def _measured_file(finals: dict) -> Path:
    for fmt in ("wav", "flac", "mp3"):
        if fmt in finals:
            return Path(finals[fmt])
    raise OutputError("no final file to measure")


def _remove_files(files) -> None:
    for p in files:
        with contextlib.suppress(OSError):
            Path(p).unlink()


def retag(path: Path, fmt: str, tags: dict, cover_jpeg: bytes | None) -> None:
    """Set title/artist/album/track number on a final and embed the cover; other tags run_track
    wrote stay (see app.deliver.tags.tag_file)."""
    from app.deliver.tags import tag_file

    tag_file(path, fmt, {k: tags[k] for k in ("title", "artist", "album", "tracknumber")}, cover_jpeg)


def _read_audio(path: Path):
    """A final file -> (float32 (2, n), sample rate)."""
    import numpy as np
    import soundfile as sf

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except RuntimeError:  # an MP3 this libsndfile cannot decode: go through ffmpeg
        from pydub import AudioSegment

        seg = AudioSegment.from_file(str(path))
        data = np.asarray(seg.get_array_of_samples(), np.float32).reshape(-1, seg.channels) / 32768.0
        rate = seg.frame_rate
    if data.shape[1] == 1:
        data = np.repeat(data, 2, axis=1)
    return np.ascontiguousarray(data.T), rate


def measure_compliance(path: Path, expected_s: float, bar_s: float, intro_end_s: float, outro_start_s: float) -> dict:
    """The delivery checks on one final file: integrated loudness (within 0.5 LU of -14 LUFS), true
    peak (<= -1 dBTP), clipped samples (full-scale 16-bit values: none), the longest silence (< -60
    dBFS) between intro and outro (<= 2 s), duration (the requested length plus the tail, within a bar)."""
    import numpy as np

    from app.audio.master import loudness_lufs, true_peak_dbtp

    audio, rate = _read_audio(path)
    lufs = loudness_lufs(audio, rate)
    peak = true_peak_dbtp(audio, rate)
    clipped = int(np.count_nonzero(np.abs(audio) >= 32767 / 32768))
    hop = int(0.05 * rate)
    frames = audio[:, : audio.shape[1] // hop * hop].reshape(2, -1, hop)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=(0, 2)))
    silent = rms < 10 ** (SILENCE_DBFS / 20)
    lo, hi = int(intro_end_s / 0.05), int(outro_start_s / 0.05)
    longest = run = 0
    for s in silent[lo:hi]:
        run = run + 1 if s else 0
        longest = max(longest, run)
    duration = audio.shape[1] / rate
    checks = {
        "loudness": bool(abs(lufs - TARGET_LUFS) <= LUFS_TOLERANCE),
        "true_peak": bool(peak <= MAX_TRUE_PEAK_DBTP),
        "clipping": clipped == 0,
        "silence": longest * 0.05 <= MAX_SILENCE_S,
        "duration": bool(abs(duration - expected_s) <= bar_s + 0.5),
    }
    return {"lufs": round(float(lufs), 2), "true_peak_dbtp": round(float(peak), 2), "clipped_samples": clipped,
            "longest_silence_s": round(longest * 0.05, 2), "duration_s": round(duration, 2),
            "expected_duration_s": round(expected_s, 2), "checks": checks, "pass": all(checks.values())}


# --- worker processes ---------------------------------------------------------------------


def _exit_on_sigterm(signum, frame):
    raise SystemExit(143)  # unwinds through atomic_path, which removes its temporary file


def _worker_main(worker_id: int, tasks, events, windows) -> None:
    """A worker process: load the models once, then make tracks from its task queue until None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    from app.music.compose import load_models  # the numpy sampling port: workers never import torch

    models = load_models()
    events.put(("ready", worker_id, None, None))
    while True:
        task = tasks.get()
        if task is None:
            return
        number = task["plan"]["number"]
        try:
            out = make_track(task, models, windows,
                             progress=lambda st, n=number: events.put(("stage", worker_id, n, st)))
            events.put(("done", worker_id, number, out))
        except LofiError as exc:
            events.put(("failed", worker_id, number, str(exc)))
        except Exception as exc:  # noqa: BLE001 - one broken track must not stop the release
            events.put(("failed", worker_id, number, f"internal error: {type(exc).__name__}: {exc}"))


class _Workers:
    """J spawned worker processes, each with its own task queue so the parent knows who has what."""

    def __init__(self, jobs: int, windows: set):
        import multiprocessing as mp

        self.ctx = mp.get_context("spawn")  # FluidSynth and BLAS thread pools do not survive fork reliably
        self.events = self.ctx.Queue()
        self.windows = windows
        self.procs: dict[int, tuple] = {}
        self.busy: dict[int, dict] = {}
        self.ready: set[int] = set()
        self.starts_failed = 0
        for w in range(jobs):
            self._start(w)

    def _start(self, w: int) -> None:
        tasks = self.ctx.Queue()
        proc = self.ctx.Process(target=_worker_main, args=(w, tasks, self.events, self.windows), daemon=True,
                                name=f"lofi-batch-{w + 1}")
        # The worker inherits an ignored SIGINT through exec, so a Ctrl-C to the whole process group
        # while it is still starting up does not kill it with a traceback; the parent decides.
        with _sigint_ignored():
            proc.start()
        self.procs[w] = (proc, tasks)

    def idle(self) -> list[int]:
        return [w for w in sorted(self.ready) if w not in self.busy]

    def send(self, w: int, task: dict) -> None:
        self.busy[w] = task
        self.procs[w][1].put(task)

    def next_event(self, timeout: float = 0.5):
        """The next (kind, worker, track number, payload, task) or None after `timeout` s. A worker that
        died holding a task gives ('failed', ...) and is replaced."""
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            for w, (proc, _) in list(self.procs.items()):
                if not proc.is_alive():
                    task = self.busy.pop(w, None)
                    self.ready.discard(w)
                    code = proc.exitcode
                    self._start(w)
                    if task is not None:
                        return ("failed", w, task["plan"]["number"], f"worker process died (exit code {code})", task)
                    self.starts_failed += 1
                    if self.starts_failed > 2 * len(self.procs):
                        return ("fatal", w, None, f"worker processes keep dying at start (exit code {code})", None)
            return None
        kind, w, number, payload = event
        task = None
        if kind == "ready":
            self.ready.add(w)
        elif kind in ("done", "failed"):
            task = self.busy.pop(w, None)
        return kind, w, number, payload, task

    def stop(self, graceful: bool) -> None:
        """Ask workers to finish (graceful) or terminate them (SIGTERM: each unwinds, removing its
        temporary files; SIGKILL for any still alive 5 s later)."""
        import time

        for proc, tasks in self.procs.values():
            if graceful:
                with contextlib.suppress(Exception):
                    tasks.put(None)
            elif proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + (10 if graceful else 5)
        for proc, _ in self.procs.values():
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
        for proc, _ in self.procs.values():
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)


@contextlib.contextmanager
def _sigint_ignored():
    """SIGINT ignored for the block (main thread only; elsewhere a no-op)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --- progress display ---------------------------------------------------------------------


class ReleaseProgress:
    """One bar for the release and one line per worker with its current track and stage (on a
    terminal); elsewhere one plain line per finished track."""

    def __init__(self, total: int, done: int, workers: int, album: str):
        self.tty = sys.stderr.isatty()
        self.total, self.count = total, done
        self.bar = self.lines = None
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, desc=album[:30], unit="track", position=0, leave=True)
            self.lines = [tqdm(total=0, bar_format="{desc}", position=i + 1, leave=False) for i in range(workers)]

    def stage(self, worker: int, label: str, stage: str) -> None:
        if self.lines and worker < len(self.lines):
            self.lines[worker].set_description_str(f"  worker {worker + 1}: {label} - {stage}")

    def idle(self, worker: int) -> None:
        if self.lines and worker < len(self.lines):
            self.lines[worker].set_description_str(f"  worker {worker + 1}: idle")

    def finished(self, label: str, text: str) -> None:
        self.count += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.write(f"{label}: {text}")
        else:
            print(f"[{self.count}/{self.total}] {label}: {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        for line in self.lines or ():
            line.close()
        if self.bar is not None:
            self.bar.close()


# --- manifest, report, files --------------------------------------------------------------


def _write_if_changed(path: Path, text: str) -> bool:
    """Write text atomically unless the file already holds it (a no-op rerun leaves mtimes alone)."""
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == text:
            return False
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return True


def pending_row(plan: TrackPlan, release: dict) -> dict:
    """A manifest row for a planned track not made yet."""
    return {
        "track_number": plan.number, "status": PENDING, "title": plan.title, "artist": release["artist"],
        "album": release["album"], "files": {}, "file_checks": {}, "duration_s": None, "bpm": plan.bpm,
        "key": plan.key, "mode": plan.mode, "lufs": None, "true_peak_dbtp": None, "seed": plan.seed,
        "instruments": {"melody": plan.melody_instrument, "chords": plan.chords_instrument, "bass": plan.bass_instrument},
        "instrument_ids": {}, "effects": {"beat": plan.beat, "ambience": [f"{n}:{lv:g}" for n, lv in plan.ambience],
                                          "lofi_preset": plan.lofi_preset, "swing": plan.swing},
        "isrc": "", "error": "", "regenerated": [], "compliance": None, "passages": [], "plan": asdict(plan),
    }  # fmt: skip


def manifest_csv(manifest: dict) -> str:
    """The manifest's rows as CSV (CSV_COLUMNS), the same values as manifest.json."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in manifest["tracks"]:
        fx = r["effects"]
        writer.writerow([
            r["track_number"], r["status"], r["title"], r["artist"], r["album"], r["files"].get("wav", ""),
            r["files"].get("mp3", ""), r["files"].get("flac", ""), _blank(r["duration_s"]), _blank(r["bpm"]), r["key"],
            r["mode"], _blank(r["lufs"]), _blank(r["true_peak_dbtp"]), r["seed"], r["instruments"]["melody"],
            r["instruments"]["chords"], r["instruments"]["bass"], fx["beat"], ";".join(fx["ambience"]), fx["lofi_preset"],
            r["isrc"], "" if not r["compliance"] else ("pass" if r["compliance"]["pass"] else "fail"), r["error"],
            ";".join(f"seed {g['seed']}: {g['reason']}" for g in r["regenerated"]),
        ])  # fmt: skip
    return buf.getvalue()


def _blank(value) -> str:
    return "" if value is None else str(value)


def _summary(manifest: dict) -> dict:
    rows = manifest["tracks"]
    return {"tracks": len(rows), "done": sum(r["status"] == DONE for r in rows),
            "failed": sum(r["status"] == FAILED for r in rows), "pending": sum(r["status"] == PENDING for r in rows),
            "compliance_pass": sum(bool(r["compliance"] and r["compliance"]["pass"]) for r in rows)}


def write_manifest(folder: Path, manifest: dict) -> None:
    """manifest.json and manifest.csv, each atomically and only when changed."""
    manifest["summary"] = _summary(manifest)
    _write_if_changed(folder / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    _write_if_changed(folder / "manifest.csv", manifest_csv(manifest))


def compliance_report(manifest: dict) -> str:
    """compliance.md: a table per track of the delivery checks, pass or fail, and regenerations."""
    rel = manifest["release"]
    lines = [f"# Compliance report: {rel['album']} ({rel['artist']})", "",
             f"Delivery spec: WAV 44.1 kHz 16-bit, {TARGET_LUFS:g} LUFS integrated (within {LUFS_TOLERANCE} LU), "
             f"true peak <= {MAX_TRUE_PEAK_DBTP:g} dBTP, no clipped samples, no silence (< {SILENCE_DBFS:g} dBFS) "
             f"longer than {MAX_SILENCE_S:g} s outside intro and outro, duration = requested length + "
             f"{TAIL_S:g} s tail (within a bar).", "",
             "| # | title | status | LUFS | true peak dBTP | clipped | longest silence s | duration s | result |",
             "|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for r in manifest["tracks"]:
        c = r["compliance"]
        if c:
            failed = [k for k, ok in c["checks"].items() if not ok]
            result = "PASS" if c["pass"] else f"FAIL ({', '.join(failed)})"
            lines.append(f"| {r['track_number']} | {r['title']} | {r['status']} | {c['lufs']:.2f} | "
                         f"{c['true_peak_dbtp']:.2f} | {c['clipped_samples']} | {c['longest_silence_s']:.2f} | "
                         f"{c['duration_s']:.2f} | {result} |")
        else:
            lines.append(f"| {r['track_number']} | {r['title']} | {r['status']} | - | - | - | - | - | "
                         f"{'FAIL (not made)' if r['status'] == FAILED else 'not made yet'} |")
        if r["error"]:
            notes.append(f"- Track {r['track_number']} failed: {r['error']}")
        for g in r["regenerated"]:
            notes.append(f"- Track {r['track_number']}: seed {g['seed']} rejected by the originality guard "
                         f"({g['reason']}); made again with a new seed (now {r['seed']}).")
    s = _summary(manifest)
    lines += ["", f"{s['compliance_pass']} of {s['tracks']} tracks pass; {s['done']} done, {s['failed']} failed, "
              f"{s['pending']} not made yet.", "",
              "Originality guard: no 16-note melody window (as intervals) of any track occurs in the training "
              "melodies, and no two tracks share an identical 8-bar melody and chord passage."]
    if notes:
        lines += ["", "## Notes", ""] + notes
    return "\n".join(lines) + "\n"


def _clean_leftovers(folder: Path) -> None:
    """Remove what an interrupted run may leave: temporary files and name reservations."""
    for pattern in (".*.partial*", ".*.staged*", ".*.reserved"):
        for p in folder.rglob(pattern):
            with contextlib.suppress(OSError):
                p.unlink()


@contextlib.contextmanager
def _release_lock(folder: Path):
    """Hold an exclusive lock on the release for this process (released if it dies)."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / ".batch.lock", "a+")
    try:
        try:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # not POSIX: no cross-process lock
            pass
        except OSError:
            raise OutputError(f"another batch run is working on {folder}; wait for it or stop it") from None
        yield
    finally:
        handle.close()


def _verify_done(folder: Path, row: dict) -> bool:
    """A done track counts only if every file it lists is there with its recorded size and SHA-256."""
    if row["status"] != DONE or not row["files"]:
        return False
    for name in row["files"].values():
        path = folder / name
        check = row["file_checks"].get(name, {})
        try:
            if path.stat().st_size != check.get("bytes") or file_sha256(path) != check.get("sha256"):
                return False
        except OSError:
            return False
    return True


# --- the release --------------------------------------------------------------------------


def _read_manifest(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise OutputError(f"{path} is unreadable ({exc}); move it away to start this release again") from None
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
        raise OutputError(f"{path} is not a batch manifest this version can resume")
    return data


def find_release(req: BatchRequest) -> tuple[Path | None, dict | None]:
    """The release folder these options made before (and its manifest), or (None, None).

    With --album the folder is OUT/<album>, and options that differ from its manifest's are an error.
    """
    from app.pipeline import safe_name

    identity = req.identity()
    if req.album:
        folder = req.out / safe_name(req.album)
        manifest = _read_manifest(folder / "manifest.json")
        if manifest is not None and manifest["request"] != identity:
            differ = sorted(k for k in identity if manifest["request"].get(k) != identity[k])
            raise BadValueError(f"{folder} holds a release made with other options ({', '.join(differ)}); "
                                "give another --album or --out, or the same options to resume it")
        return folder, manifest
    if req.out.is_dir():
        for path in sorted(req.out.glob("*/manifest.json")):
            with contextlib.suppress(OutputError):
                manifest = _read_manifest(path)
                if manifest is not None and manifest["request"] == identity:
                    return path.parent, manifest
    return None, None


def new_release(req: BatchRequest) -> tuple[Path, dict]:
    """Draw a new release: seed, album title, track titles (none reused from OUT's other releases),
    the plan; returns its folder and a manifest with every track pending."""
    from app.pipeline import safe_name
    from app.release.titles import album_title, make_titles, titles_in_folder

    seed = req.seed if req.seed is not None else random.SystemRandom().randrange(2**31)
    taken_titles, taken_albums = titles_in_folder(req.out)
    album = req.album
    if album is None:
        for extra in range(1000):
            album = album_title(seed + extra, taken_albums)
            if not (req.out / safe_name(album) / "manifest.json").exists():
                break
    folder = req.out / safe_name(album)
    titles = make_titles(req.count, seed, taken_titles | {album})
    release = {"album": album, "artist": req.artist, "seed": seed, "count": req.count, "formats": list(req.formats),
               "folder": folder.name, "cover": "cover.jpg"}
    plans = plan_release(req, seed, titles)
    manifest = {"version": MANIFEST_VERSION, "request": req.identity(), "release": release,
                "tracks": [pending_row(p, release) for p in plans], "mix": None}
    return folder, manifest


def produce_release(req: BatchRequest, windows: set | None = None, models=None) -> tuple[int, Path, dict]:
    """Make (or resume) the release for a request. windows: the training melodies' 16-note interval
    windows (default: from the cached corpus); models: for jobs == 1 (default: the shipped ones).

    Returns (exit code: 0 all done / 1 some failed, release folder, manifest).
    """
    from app.music.compose import load_models
    from app.release.cover import make_cover

    folder, manifest = find_release(req)
    if manifest is None:
        folder, manifest = new_release(req)
    with _release_lock(folder):
        _clean_leftovers(folder)
        release = manifest["release"]
        for row in manifest["tracks"]:
            if row["status"] == DONE and not _verify_done(folder, row):
                row.update(pending_row(TrackPlan(**row["plan"]), release), error="files missing or changed; remade")
        write_manifest(folder, manifest)
        todo = [r["track_number"] for r in manifest["tracks"] if r["status"] != DONE]
        if todo:
            models = models if models is not None else load_models()  # fail fast on a broken checkpoint
            if windows is None:
                print("loading the training melodies for the originality guard ...", file=sys.stderr, flush=True)
                from app.release.originality import load_training_windows

                windows = load_training_windows()
            try:
                _make_tracks(req, folder, manifest, todo, windows, models, make_cover)
            finally:  # also on Ctrl-C: the report matches the manifest
                _write_if_changed(folder / "compliance.md", compliance_report(manifest))
        elif not (folder / release["cover"]).exists():
            make_cover(folder / release["cover"], release["album"], release["artist"], release["seed"])
        _write_if_changed(folder / "compliance.md", compliance_report(manifest))
        rows = manifest["tracks"]
        if req.mix_minutes and all(r["status"] == DONE for r in rows):
            manifest["mix"] = make_mix(folder, rows, req.mix_minutes, req.crossfade, manifest.get("mix"))
            write_manifest(folder, manifest)
    failed = [r for r in manifest["tracks"] if r["status"] != DONE]
    return (1 if failed else 0), folder, manifest


def _make_tracks(req, folder: Path, manifest: dict, todo: list[int], windows: set, models, make_cover) -> None:
    release = {**manifest["release"], "folder": str(folder), "cover": str(folder / manifest["release"]["cover"])}
    rows = {r["track_number"]: r for r in manifest["tracks"]}
    pending = deque({"plan": rows[n]["plan"], "release": release, "attempt": 0, "regenerated": []} for n in todo)
    jobs = max(1, min(req.jobs, len(todo)))
    progress = ReleaseProgress(len(rows), len(rows) - len(todo), jobs, release["album"])
    label = lambda n: f"{n:02d} {rows[n]['title']}"  # noqa: E731

    def taken(except_number: int) -> set[str]:
        return {h for r in rows.values() if r["status"] == DONE and r["track_number"] != except_number
                for h in r["passages"]}

    def finish(out: dict, task: dict) -> None:
        n = out["number"]
        clash = set(out["passages"]) & taken(n)
        if clash:  # a track finished meanwhile shares a passage: make this one again
            _remove_files(out["work_files"].values())
            seed = out["row"]["seed"]
            again = {**task, "attempt": out["attempt"] + 1,
                     "regenerated": out["row"]["regenerated"] + [{"seed": seed, "reason": f"{len(clash)} 8-bar "
                                                                   "passage(s) identical to another track of the release"}]}
            if again["attempt"] < MAX_ATTEMPTS:
                pending.append(again)
            else:
                fail(n, f"no seed in {MAX_ATTEMPTS} tries passed the originality guard")
            return
        files = {}
        # Moving the finals and recording them is one step: Ctrl-C / SIGTERM wait for it, so the
        # manifest never lists a track whose files are not all in place (nor the other way round).
        with hold_signals():
            for fmt, work_path in out["work_files"].items():
                final = folder / Path(work_path).name
                os.replace(work_path, final)  # same file system: the final name appears complete
                files[fmt] = final.name
            _update_sidecar(Path(out["sidecar"]), {fmt: folder / name for fmt, name in files.items()})
            row = rows[n]
            row.update(out["row"], status=DONE, error="", files=files, passages=out["passages"],
                       file_checks={name: {"bytes": (folder / name).stat().st_size, "sha256": file_sha256(folder / name)}
                                    for name in files.values()})
            write_manifest(folder, manifest)
        c = row["compliance"]
        progress.finished(label(n), f"{row['key']} {row['mode']}, {row['bpm']:g} BPM, {c['lufs']:.1f} LUFS, "
                                    f"{c['true_peak_dbtp']:.1f} dBTP, compliance {'pass' if c['pass'] else 'FAIL'}")

    def fail(n: int, message: str) -> None:
        rows[n].update(status=FAILED, error=message)
        write_manifest(folder, manifest)
        progress.finished(label(n), f"FAILED: {message}")

    cover = folder / manifest["release"]["cover"]
    try:
        if jobs == 1:
            if not cover.exists():
                make_cover(cover, release["album"], release["artist"], release["seed"])
            while pending:
                task = pending.popleft()
                n = task["plan"]["number"]
                task["taken_passages"] = sorted(taken(n))
                try:
                    out = make_track(task, models, windows, progress=lambda st, n=n: progress.stage(0, label(n), st))
                except LofiError as exc:
                    fail(n, str(exc))
                    continue
                except Exception as exc:  # noqa: BLE001 - one broken track must not stop the release
                    fail(n, f"internal error: {type(exc).__name__}: {exc}")
                    continue
                finish(out, task)
            return
        workers = _Workers(jobs, windows)  # they import and load models while the cover is drawn
        graceful = False
        try:
            if not cover.exists():
                make_cover(cover, release["album"], release["artist"], release["seed"])
            while pending or workers.busy:
                for w in workers.idle():
                    if not pending:
                        break
                    task = pending.popleft()
                    task["taken_passages"] = sorted(taken(task["plan"]["number"]))
                    workers.send(w, task)
                event = workers.next_event()
                if event is None:
                    continue
                kind, w, n, payload, task = event
                if kind == "stage":
                    progress.stage(w, label(n), payload)
                elif kind == "done":
                    progress.idle(w)
                    finish(payload, task)
                elif kind == "failed":
                    progress.idle(w)
                    fail(n, payload)
                elif kind == "fatal":
                    raise LofiError(payload)
            graceful = True
        finally:
            workers.stop(graceful)
            _clean_leftovers(folder)
    finally:
        progress.close()


def _update_sidecar(path: Path, finals: dict) -> None:
    """Point the track's sidecar at the finals' places in the release root."""
    from app.pipeline import write_sidecar

    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text(encoding="utf-8"))
        data["files"].update({fmt: str(p) for fmt, p in finals.items()})
        write_sidecar(data, path)


# --- the mix ------------------------------------------------------------------------------


def format_timestamp(seconds: float, hours: bool) -> str:
    """'04:05' or, for mixes of an hour or more, '1:04:05' (YouTube chapter style)."""
    s = int(seconds)
    if hours and s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60:02d}:{s % 60:02d}"


def make_mix(folder: Path, rows: list[dict], minutes: float, crossfade_s: float, previous: dict | None = None) -> dict:
    """One continuous mix of `minutes` from the release's tracks in order (repeated if the release is
    shorter), linear crossfades of crossfade_s (a linear fade never raises the true peak above the
    louder track's), the last track faded out at the end. Writes mix.wav and tracklist.txt
    ("00:00 Title" lines, ready for a video description). Skipped when `previous` describes the same
    mix of the same tracks and its files are still there. Returns the manifest's 'mix' entry.
    """
    import numpy as np
    import soundfile as sf

    sources = [(r["title"], folder / r["files"].get("wav", r["files"].get("flac", next(iter(r["files"].values())))),
                r["file_checks"]) for r in rows]
    fingerprint = hashlib.sha256(json.dumps([[t, str(p.name), c.get(p.name, {}).get("sha256")] for t, p, c in sources]
                                            + [minutes, crossfade_s]).encode()).hexdigest()[:16]
    mix_path, list_path = folder / "mix.wav", folder / "tracklist.txt"
    if previous and previous.get("fingerprint") == fingerprint and mix_path.exists() and list_path.exists() \
            and mix_path.stat().st_size == previous.get("bytes"):
        return previous
    rate = 44100
    target = int(round(minutes * 60 * rate))
    xf = int(crossfade_s * rate)
    fade_out = min(int(4.0 * rate), target // 4)
    entries: list[tuple[float, str]] = []
    written = 0

    with atomic_path(mix_path) as tmp:
        with sf.SoundFile(str(tmp), "w", samplerate=rate, channels=2, subtype="PCM_16", format="WAV") as out:

            def emit(chunk):
                nonlocal written
                chunk = chunk[: max(0, target - written)]
                if len(chunk):
                    pos = written + np.arange(len(chunk))
                    gain = np.clip((target - pos) / fade_out, 0.0, 1.0).astype(np.float32)[:, None]
                    out.write(chunk * gain)
                    written += len(chunk)

            carry = None
            i = 0
            while written < target:
                title, path, _ = sources[i % len(sources)]
                audio, sr = _read_audio(path)
                if sr != rate:
                    raise OutputError(f"{path.name} is {sr} Hz; the mix needs {rate} Hz files")
                audio = audio.T
                x = min(xf, len(audio) // 3, len(carry) if carry is not None else xf)
                if carry is None:
                    entries.append((0.0, title))
                    body = audio
                else:
                    entries.append((written / rate, title))
                    ramp = np.linspace(0.0, 1.0, x, dtype=np.float32)[:, None]
                    emit(carry[: len(carry) - x])
                    emit(carry[len(carry) - x:] * (1 - ramp) + audio[:x] * ramp)
                    body = audio[x:]
                carry = body[len(body) - xf:] if len(body) > xf else body
                emit(body[: len(body) - len(carry)])
                i += 1
                if i > 100000:
                    break
            if carry is not None:
                emit(carry)
    hours = written >= 3600 * rate
    text = "\n".join(f"{format_timestamp(t, hours)} {title}" for t, title in entries if t < written / rate - 1) + "\n"
    with atomic_path(list_path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return {"file": mix_path.name, "tracklist": list_path.name, "minutes": minutes, "crossfade_s": crossfade_s,
            "duration_s": round(written / rate, 2), "entries": len(entries), "bytes": mix_path.stat().st_size,
            "fingerprint": fingerprint}


# --- the command --------------------------------------------------------------------------


def run_batch(args) -> int:
    """The `batch` command: flags -> request -> release; prints a summary. Returns the exit code."""
    req = request_from_args(args)
    code, folder, manifest = produce_release(req)
    s = manifest["summary"]
    print(f"release: {folder} ({manifest['release']['album']} by {manifest['release']['artist']}, "
          f"seed {manifest['release']['seed']})")
    print(f"  {s['done']} of {s['tracks']} tracks done, {s['failed']} failed; compliance: {s['compliance_pass']} pass")
    extras = ["cover.jpg", "manifest.json", "manifest.csv", "compliance.md"]
    if manifest.get("mix"):
        extras += [manifest["mix"]["file"], manifest["mix"]["tracklist"]]
    elif req.mix_minutes:
        print("  mix: skipped until every track is done (run the same command again)")
    print("  " + ", ".join(extras))
    for r in manifest["tracks"]:
        if r["status"] != DONE:
            print(f"  track {r['track_number']} ({r['title']}): {r['status']}: {r['error']}", file=sys.stderr)
    return code
