"""What a release is made from: the `batch` options as a validated BatchRequest.

    req = request_from_args(args)      # CLI flags and --preset TOML; flags win
    req.identity()                     # the options that name the release (a rerun with them resumes it)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app import paths
from app.config import DEFAULT_BIT_DEPTH, DEFAULT_COLOUR, DEFAULT_ENERGY, SAMPLE_RATE
from app.errors import BadValueError
from app.music import theory

DEFAULT_POOLS = {
    "melody_instruments": ("Vibraphone", "Electric Piano 1", "Celesta", "Music Box", "Acoustic Guitar (nylon)",
                           "Electric Guitar (jazz)", "Marimba", "Flute"),
    "chords_instruments": ("Electric Piano 1", "Electric Piano 2", "Acoustic Grand Piano", "Acoustic Guitar (nylon)",
                           "Pad 2 (warm)", "Vibraphone"),
    "bass_instruments": ("Electric Bass (finger)", "Acoustic Bass", "Fretless Bass"),
    "lofi_presets": ("default", "dusty", "tape"),
}
OPTIONS = ("count", "minutes", "minutes_range", "jobs", "out", "formats", "artist", "album", "seed", "keys", "modes",
           "bpm_range", "melody_instruments", "chords_instruments", "bass_instruments", "beats", "ambience",
           "lofi_presets", "swing_range", "temperature", "mix_minutes", "crossfade", "colours", "colour_range",
           "energies", "energy_range", "drum_kits", "sample_rate", "bit_depth", "ascii_names", "cluster",
           "shared_dir", "video", "stems")
# The 0-1 controls a release draws per track: a pool of values or a range, each the other's alternative.
CONTROLS = {"colour": ("colours", "colour_range"), "energy": ("energies", "energy_range")}


@dataclass
class BatchRequest:
    """Everything a release is made from. Fields up to `energy_range` identify the release."""

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
    beats: tuple[str, ...] | None = None  # 'generated', loop names, 'none'; None: the generated drums
    ambience: tuple[str, ...] | None = None  # NAME[:LEVEL_DB] or 'none'; None: every ambience found
    lofi_presets: tuple[str, ...] = DEFAULT_POOLS["lofi_presets"]
    swing_range: tuple[float, float] = (0.54, 0.62)
    temperature: float = 1.0
    colours: tuple[float, ...] | None = (DEFAULT_COLOUR,)  # None when colour_range is given
    colour_range: tuple[float, float] | None = None
    energies: tuple[float, ...] | None = (DEFAULT_ENERGY,)  # None when energy_range is given
    energy_range: tuple[float, float] | None = None
    drum_kits: tuple[str, ...] | None = None  # kits for the generated drums; None: the default kit
    sample_rate: int = SAMPLE_RATE  # Hz, config.SAMPLE_RATES
    bit_depth: int = DEFAULT_BIT_DEPTH  # config.BIT_DEPTHS
    ascii_names: bool = True  # '01_Title_Words.wav'; False ('--unicode-names'): '01 - Title Words.wav'
    # How to run it (not part of the release's identity):
    jobs: int | None = None  # None: default_jobs() picks it from the CPU cores and the free memory
    out: Path = field(default_factory=lambda: paths.OUTPUT_ROOT / "releases")
    mix_minutes: float | None = None
    crossfade: float = 4.0
    cluster: str | None = None  # a Dask scheduler address or local:N (app/release/cluster.py); None: --jobs
    shared_dir: Path | None = None  # with cluster: a folder every machine sees; files stay there, not sent back
    video: str | None = None  # None, or the shape of an MP4 per track and for the mix (config.VIDEO_SHAPES)
    stems: bool = False  # each track's stems (float WAVs that sum to its pre-master mix) in stems/<track>/

    def identity(self) -> dict:
        """The options that define the release, JSON-normalised (a rerun with these resumes it)."""
        data = asdict(self)
        for name in ("jobs", "out", "mix_minutes", "crossfade", "cluster", "shared_dir", "video", "stems"):
            data.pop(name)
        # Releases made before an option existed resume with the same identity: an option at the value
        # they were all made with is left out.
        for name, before in (("drum_kits", None), ("sample_rate", SAMPLE_RATE), ("bit_depth", DEFAULT_BIT_DEPTH),
                             ("ascii_names", True)):
            if data[name] == before:
                data.pop(name)
        from app.files import json_text

        return json.loads(json_text(data, "request"))


# Peak memory of one worker making one track, in MB: measured (peak RSS) at about 0.9 GB for a
# 3-minute track (`batch --jobs 1`: the worker's models, the originality guard's melodies, the
# layers made side by side and the freed memory a worker keeps for its next short track) and 1.25 GB
# for 20 minutes (`generate_music`); rounded up.
WORKER_BASE_MB = 800
WORKER_MB_PER_MINUTE = 32


def default_jobs(req: BatchRequest, meminfo: Path = Path("/proc/meminfo")) -> tuple[int, str]:
    """Worker processes when --jobs is not given: the CPU cores, but no more than the available
    memory (MemAvailable) holds at one worker's peak for the release's longest track.
    Returns (jobs, a line saying why)."""
    cores = os.cpu_count() or 1
    longest = req.minutes if req.minutes is not None else req.minutes_range[1]
    per_job = WORKER_BASE_MB + WORKER_MB_PER_MINUTE * longest
    try:
        fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)
        free_mb = int(fields["MemAvailable"].split()[0]) / 1024  # kB
    except (OSError, KeyError, ValueError):
        return cores, f"{cores} jobs (the CPU cores; free memory unknown)"
    jobs = max(1, min(cores, int(free_mb // per_job)))
    return jobs, (f"{jobs} job{'s' if jobs != 1 else ''} ({cores} CPU cores, {free_mb / 1024:.1f} GB free, "
                  f"about {per_job / 1024:.2f} GB per {longest:g}-minute track); --jobs sets it")


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
    for single, ranged in (("minutes", "minutes_range"), *CONTROLS.values()):
        if getattr(args, single, None) is not None:
            given[ranged] = None  # a flag beats a preset's range
        elif getattr(args, ranged, None) is not None:
            given[single] = None
    req = BatchRequest()
    for name in ("count", "jobs", "seed", "sample_rate", "bit_depth"):
        if given[name] is not None:
            if not isinstance(given[name], int) or isinstance(given[name], bool):
                raise BadValueError(f"{name} must be a whole number, got {given[name]!r}")
            setattr(req, name, given[name])
    for name in ("temperature", "mix_minutes", "crossfade"):
        if given[name] is not None:
            if not isinstance(given[name], (int, float)) or isinstance(given[name], bool):
                raise BadValueError(f"{name} must be a number, got {given[name]!r}")
            setattr(req, name, float(given[name]))
    if given["stems"] is not None:
        if not isinstance(given["stems"], bool):
            raise BadValueError(f"stems must be true or false, got {given['stems']!r}")
        req.stems = given["stems"]
    if given["minutes_range"] is not None:
        req.minutes, req.minutes_range = None, _parse_range(given["minutes_range"], "minutes range")
    elif given["minutes"] is not None:
        req.minutes = float(given["minutes"])
    for name in ("bpm_range", "swing_range"):
        if given[name] is not None:
            setattr(req, name, _parse_range(given[name], name.replace("_", " ")))
    if given["ascii_names"] is not None:
        if not isinstance(given["ascii_names"], bool):
            raise BadValueError(f"ascii_names must be true or false, got {given['ascii_names']!r}")
        req.ascii_names = given["ascii_names"]
    for name in ("artist", "album"):
        if given[name] is not None:
            setattr(req, name, str(given[name]).strip())
    if given["out"] is not None:
        req.out = Path(given["out"]).expanduser()
    if given["cluster"] is not None:
        req.cluster = str(given["cluster"]).strip()
    if given["shared_dir"] is not None:
        req.shared_dir = Path(given["shared_dir"]).expanduser()
    if given["video"] is not None:
        req.video = str(given["video"])
    if given["formats"] is not None:
        req.formats = tuple(f.lower() for f in _split_list(given["formats"], "formats"))
    for name in ("keys", "modes", "melody_instruments", "chords_instruments", "bass_instruments", "beats", "ambience",
                 "lofi_presets", "drum_kits"):
        if given[name] is not None:
            setattr(req, name, _split_list(given[name], name.replace("_", " ")))
    if req.keys and [k.lower() for k in req.keys] in (["any"], ["all"], ["surprise"]):
        req.keys = tuple(theory.KEY_NAMES)
    if [m.lower() for m in req.modes] == ["all"]:
        req.modes = tuple(theory.ALL_MODES)
    for pool, ranged in CONTROLS.values():
        _set_control(req, pool, ranged, given[pool], given[ranged])
    return validate_request(req)


def _set_control(req: BatchRequest, pool: str, ranged: str, values, span) -> None:
    """A 0-1 control's pool ('0.4,0.6' or a list) or range ('0.4-0.8'); the range wins if both are given."""
    if span is not None:
        setattr(req, pool, None)
        setattr(req, ranged, _parse_range(span, ranged.replace("_", " ")))
    elif values is not None:
        items = _split_list([values] if isinstance(values, (int, float)) else values, pool)
        try:
            setattr(req, pool, tuple(float(x) for x in items))
        except ValueError:
            raise BadValueError(f"{pool} must be numbers from 0 to 1, e.g. 0.4,0.6,0.8; got {values!r}") from None


def validate_request(req: BatchRequest) -> BatchRequest:
    """Check every value and pool entry (instruments and effects must exist); BadValueError names the
    first problem. Returns req."""
    from app.audio.loops import discover_effects, find_effect
    from app.audio.fx import PRESETS
    from app.audio.instruments import discover_soundfonts, find_instrument
    from app.spec import FORMATS, GENERATED_BEAT, RANGES, check_format, check_range, parse_ambience

    def ordered(name, pair, key):
        lo, hi = RANGES[key]
        check_range(name, pair[0], lo, hi)
        check_range(name, pair[1], lo, hi)
        if pair[0] > pair[1]:
            raise BadValueError(f"{name} {pair[0]:g}-{pair[1]:g} runs backwards; give LOW-HIGH")

    check_range("count", req.count, 1, 999)
    if req.jobs is not None:
        check_range("jobs", req.jobs, 1, 64)
    if req.minutes_range is not None:
        ordered("minutes range", req.minutes_range, "minutes")
    else:
        check_range("minutes", req.minutes, *RANGES["minutes"])
    ordered("bpm range", req.bpm_range, "bpm")
    ordered("swing range", req.swing_range, "swing")
    check_range("temperature", req.temperature, *RANGES["temperature"])
    for control, (pool, ranged) in CONTROLS.items():
        if getattr(req, ranged) is not None:
            ordered(ranged.replace("_", " "), getattr(req, ranged), control)
        else:
            for value in getattr(req, pool) or ():
                check_range(f"{control} in {pool}", value, *RANGES[control])
            if not getattr(req, pool):
                raise BadValueError(f"{pool} is empty; give values from 0 to 1 or a {ranged.replace('_', ' ')}")
    if req.seed is not None:
        check_range("seed", req.seed, 0, 2**32 - 1)
    if req.mix_minutes is not None:
        check_range("mix minutes", req.mix_minutes, 0.1, 600)
    check_range("crossfade", req.crossfade, 0.0, 15.0)
    check_format(req.sample_rate, req.bit_depth)
    _check_cluster(req)
    from app.config import VIDEO_SHAPES

    if req.video is not None and req.video not in VIDEO_SHAPES:
        raise BadValueError(f"unknown video shape {req.video!r}; allowed: {', '.join(VIDEO_SHAPES)}")
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
        if m not in theory.ALL_MODES:
            raise BadValueError(f"unknown mode {m!r} in modes; allowed: {', '.join(theory.ALL_MODES)} (or all)")
    for p in req.lofi_presets:
        if p not in PRESETS:
            raise BadValueError(f"unknown lo-fi preset {p!r}; allowed: {', '.join(PRESETS)}")
    files, _ = discover_soundfonts()
    for pool in ("melody_instruments", "chords_instruments", "bass_instruments"):
        for name in getattr(req, pool):
            find_instrument(name, files)  # raises BadValueError with close matches
    effects, _ = discover_effects()
    for name in req.beats or ():
        if name.lower() not in ("none", GENERATED_BEAT):
            find_effect(name, "beat", effects)
    if req.drum_kits is not None:
        from app.audio.kits import find_kit

        if req.beats is not None and GENERATED_BEAT not in [b.lower() for b in req.beats]:
            raise BadValueError(f"drum kits play the generated drums; add {GENERATED_BEAT!r} to the beats pool")
        for name in req.drum_kits:
            find_kit(name, files)
    for entry in req.ambience or ():
        if entry.lower() != "none":
            name, level = parse_ambience(entry) if ":" in entry else (entry, None)
            find_effect(name, "ambience", effects)
            if level is not None:
                check_range(f"ambience level of {name}", level, *RANGES["level_db"])
    return req


def _check_cluster(req: BatchRequest) -> None:
    """--cluster and --shared-dir: a scheduler address or local:N, not with --jobs; the shared folder
    an existing folder, only with --cluster."""
    if req.cluster is not None:
        from app.release.cluster import parse_cluster

        parse_cluster(req.cluster)
        if req.jobs is not None:
            raise BadValueError("--jobs and --cluster both say where the tracks run; give one of them "
                                "(local:N for N worker processes on the cluster engine)")
    if req.shared_dir is not None:
        if req.cluster is None:
            raise BadValueError("--shared-dir goes with --cluster (a folder every machine of the cluster sees)")
        if not req.shared_dir.is_dir():
            raise BadValueError(f"--shared-dir {req.shared_dir} is not a folder; create it (on every machine, "
                                f"at the same path) or leave the option out to send the files back")
