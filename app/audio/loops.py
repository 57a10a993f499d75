"""Effect WAVs from the drop folder app/effects/: discovery, loading, beat-loop tempo sync, ambience tiling.

Two kinds of file live there:
  beats/     drum loops; tempo from the name ("dusty_72bpm.wav", "loop 84 BPM.wav") or detected
  ambience/  textures (rain, vinyl crackle, cafe) that are tiled with crossfades to any length
Files outside those folders are sorted by name (beat/drum/loop/bpm -> beat, otherwise ambience).

    python -m app.main effects        # lists what was found, and what was skipped and why

Audio comes back as float32 arrays shaped (2, samples) at the requested sample rate.
"""

from __future__ import annotations

import functools
import math
import os
import re
import stat
import threading
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from app import paths
from app.audio.tempo import (  # noqa: F401 - detect_bpm, fold_bpm, onset_envelope: re-exported
    LoopTempo, detect_bpm, detect_loop_tempo, first_hit_s, fold_bpm, onset_envelope, stretch_loop, track_bpm,
)
from app.errors import BadValueError, EffectFileError

BEAT = "beat"
AMBIENCE = "ambience"
KINDS = (BEAT, AMBIENCE)

# Sub-folder names (lower case) that decide a file's kind.
BEAT_FOLDERS = {"beats", "beat", "drums", "loops"}
AMBIENCE_FOLDERS = {"ambience", "ambiences", "ambient", "atmos", "textures"}
BEAT_NAME_WORDS = re.compile(r"beat|drum|loop|bpm", re.IGNORECASE)

WAV_SUFFIXES = {".wav", ".wave"}
# Notes people keep beside their samples; ignored without a "skipped" line.
QUIET_SUFFIXES = {".md", ".txt", ".json", ".asd", ".reapeaks", ".pkf"}

MIN_EFFECT_SECONDS = 0.5
MIN_DETECT_SECONDS = 2.0  # shorter beat loops need their BPM in the name
# Long files are never read whole: listing reads only the header, tempo detection the first
# MAX_DETECT_SECONDS, a track uses the first MAX_BEAT_SECONDS of a beat loop (cut to whole bars)
# and the first MAX_AMBIENCE_SECONDS of an ambience file (tiled with crossfades beyond that).
MAX_DETECT_SECONDS = 60.0
MAX_BEAT_SECONDS = 60.0
MAX_AMBIENCE_SECONDS = 300.0
MAX_LOAD_SECONDS = 600.0  # load_wav's default cap
SAMPLE_RATE_RANGE = (4000, 384000)  # Hz; outside it resampling is absurd (a '1 Hz' header)
CACHE_BYTES = 256 * 2**20  # decoded audio kept between calls (least recently used goes first)
NAME_BPM_RANGE = (40.0, 250.0)

_BPM_AFTER = re.compile(r"(?<![\d.])(\d{2,3}(?:\.\d+)?)\s*[-_ ]?\s*bpm", re.IGNORECASE)
_BPM_BEFORE = re.compile(r"bpm\s*[-_ =]?\s*(\d{2,3}(?:\.\d+)?)(?![\d])", re.IGNORECASE)


@dataclass(frozen=True)
class EffectFile:
    path: Path
    kind: str  # 'beat' | 'ambience'
    name: str  # stem of the file name
    bpm: float | None  # beat loops only: the tempo a track plays it at (its own, folded into 50-140)
    frames: int  # at the file's own sample rate
    sample_rate: int
    channels: int
    source_bpm: float | None = None  # the loop's own tempo, from the name or detected
    tempo_note: str | None = None  # for people, when bpm is not source_bpm: "170 BPM played half-time ..."

    @property
    def bpm_clamped(self) -> bool:
        """True when even half- or double-time could not bring the loop into the track's tempo range."""
        return bool(self.tempo_note and "clamped" in self.tempo_note)

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    @property
    def bpm_from_name(self) -> bool:
        """True when the BPM was read from the file name rather than detected."""
        return bpm_from_name(self.name) is not None


# ---------------------------------------------------------------------------------------------
# Discovery


def discover_effects(
    folder: Path | None = None,
) -> tuple[list[EffectFile], list[tuple[Path, str]]]:
    """Scan `folder` (recursively; default app/effects/, read when called) for effect WAVs.

    Returns (effects, skipped): effects sorted by kind then name; skipped is a list of
    (path, short reason) for every file that cannot be used. Never raises for a bad file;
    a missing folder gives two empty lists. Only headers are read (plus up to MAX_DETECT_SECONDS
    of a beat loop without a BPM in its name), so an hour-long file lists as fast as a short one.
    """
    folder = Path(paths.EFFECTS_DIR if folder is None else folder)
    effects: list[EffectFile] = []
    skipped: list[tuple[Path, str]] = []
    if not folder.is_dir():
        return effects, skipped
    for path in _walk_files(folder):
        suffix = path.suffix.lower()
        if path.name.startswith(".") or suffix in QUIET_SUFFIXES:
            continue  # hidden files include atomic_path's half-written ".x.partial.wav"
        if suffix not in WAV_SUFFIXES:
            skipped.append((path, "not a .wav file"))
            continue
        try:
            effects.append(_read_effect(path, folder))
        except EffectFileError as exc:
            skipped.append((path, str(exc)))
        except Exception as exc:  # noqa: BLE001 - one odd file must not stop the scan
            skipped.append((path, f"unreadable ({type(exc).__name__})"))
    effects.sort(key=lambda e: (KINDS.index(e.kind), e.name.casefold(), str(e.path)))
    return effects, skipped


def _walk_files(folder: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / name for name in sorted(files))
    return found


def kind_of(path: Path, folder: Path) -> str:
    """'beat' or 'ambience': from the first sub-folder under `folder`, else from the file name."""
    try:
        parts = Path(path).relative_to(folder).parts
    except ValueError:
        parts = (Path(path).name,)
    if len(parts) > 1:
        top = parts[0].lower()
        if top in BEAT_FOLDERS:
            return BEAT
        if top in AMBIENCE_FOLDERS:
            return AMBIENCE
    return BEAT if BEAT_NAME_WORDS.search(Path(path).stem) else AMBIENCE


def bpm_from_name(name: str) -> float | None:
    """The tempo written in a file name ("dusty_72bpm", "Loop 84 BPM", "bpm=90 kit"), or None."""
    for pattern in (_BPM_AFTER, _BPM_BEFORE):
        match = pattern.search(name)
        if match:
            bpm = float(match.group(1))
            if NAME_BPM_RANGE[0] <= bpm <= NAME_BPM_RANGE[1]:
                return bpm
    return None


def _read_effect(path: Path, folder: Path) -> EffectFile:
    """Header checks (cheap) and, for a beat loop without a BPM in its name, tempo detection."""
    import soundfile as sf

    if path.is_symlink() and not path.exists():
        raise EffectFileError("broken symlink")
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
            raise EffectFileError("not a regular file")
        size = st.st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
    except PermissionError:
        raise EffectFileError("no permission to read it") from None
    except OSError as exc:
        raise EffectFileError(f"cannot open it ({exc.strerror or exc})") from None
    if size == 0:
        raise EffectFileError("empty file")
    is_riff = head[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64") and head[8:12] in (b"WAVE", b"BW64")
    try:
        info = sf.info(_sf_path(path))
    except Exception:  # noqa: BLE001 - libsndfile reports bad files in many ways
        raise EffectFileError(
            "not a readable WAV file" if is_riff else "not a WAV file (no RIFF/WAVE header)"
        ) from None
    if info.samplerate <= 0 or info.channels <= 0:
        raise EffectFileError("WAV header has no sample rate or channels")
    if not SAMPLE_RATE_RANGE[0] <= info.samplerate <= SAMPLE_RATE_RANGE[1]:
        raise EffectFileError(f"sample rate {info.samplerate} Hz is not supported "
                              f"({SAMPLE_RATE_RANGE[0] // 1000}-{SAMPLE_RATE_RANGE[1] // 1000} kHz)")
    if info.frames <= 0:
        raise EffectFileError("no audio in it (0 frames)")
    duration = info.frames / info.samplerate
    if duration < MIN_EFFECT_SECONDS:
        raise EffectFileError(f"too short ({duration:.2f} s; needs at least {MIN_EFFECT_SECONDS} s)")

    kind = kind_of(path, folder)
    name = _printable(path.stem)  # names are for people (and JSON): undecodable bytes become U+FFFD
    source_bpm = bpm = note = None
    if kind == BEAT:
        source_bpm = bpm_from_name(name)
        if source_bpm is None:
            source_bpm = _detected_bpm(path, duration)
        bpm, note = track_bpm(source_bpm)
    return EffectFile(
        path=path,
        kind=kind,
        name=name,
        bpm=bpm,
        frames=int(info.frames),
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        source_bpm=source_bpm,
        tempo_note=note,
    )


def _detected_bpm(path: Path, duration_s: float) -> float:
    if duration_s < MIN_DETECT_SECONDS:
        raise EffectFileError(
            f"beat loop without BPM in its name is too short to detect one ({duration_s:.1f} s); "
            "add it to the name, e.g. loop_84bpm.wav"
        )
    st = _stat(path)
    tempo = _detect_tempo_cached(str(path), st.st_mtime_ns, st.st_size)
    if tempo is None:
        raise EffectFileError("no steady beat found; put the BPM in the name, e.g. loop_84bpm.wav")
    return round(tempo.bpm, 2)


@functools.lru_cache(maxsize=64)
def _detect_tempo_cached(path_str: str, mtime_ns: int, size: int) -> LoopTempo | None:
    audio = load_wav(Path(path_str), 22050, max_seconds=MAX_DETECT_SECONDS)
    return detect_loop_tempo(audio, 22050)


# ---------------------------------------------------------------------------------------------
# Lookup and listing


def find_effect(query: str, kind: str | None = None, effects: list[EffectFile] | None = None) -> EffectFile:
    """The effect named `query` (file stem or file name, case-insensitive), optionally of one kind.

    `effects` defaults to discover_effects(). Unknown names raise BadValueError listing the choices.
    """
    if kind is not None and kind not in KINDS:
        raise BadValueError(f"unknown effect kind {kind!r}; use one of: {', '.join(KINDS)}")
    if effects is None:
        effects = discover_effects()[0]
    pool = [e for e in effects if kind is None or e.kind == kind]
    wanted = _printable(query).strip().casefold()
    for effect in pool:
        if wanted in (effect.name.casefold(), _printable(effect.path.name).casefold()):
            return effect
    prefixed = [e for e in pool if e.name.casefold().startswith(wanted)] if wanted else []
    if len(prefixed) == 1:
        return prefixed[0]
    what = f"{kind} effect" if kind else "effect"
    names = ", ".join(_printable(e.name) for e in pool) or "none (run: python -m app.audio.default_loops)"
    raise BadValueError(f"no {what} named {_printable(query)!r}; available: {names}")


def format_listing(effects: list[EffectFile], skipped: list[tuple[Path, str]]) -> str:
    """Human-readable listing for `python -m app.main effects`."""
    beats = [e for e in effects if e.kind == BEAT]
    ambience = [e for e in effects if e.kind == AMBIENCE]
    width = max([len(_printable(e.name)) for e in effects] + [8])
    lines = [f"Beat loops ({len(beats)}):"]
    for e in beats:
        source = "(from name)" if e.bpm_from_name else "(detected)"
        bars = e.duration_s * e.bpm / 60.0 / 4 if e.bpm else 0.0
        lines.append(
            f"  {_printable(e.name):<{width}}  {e.bpm:6.1f} BPM {source:<11}  {e.duration_s:5.1f} s"
            f"  ~{bars:.1f} bars  {_format_details(e)}{_long_note(e, MAX_BEAT_SECONDS)}"
            + (f"  ({e.tempo_note})" if e.tempo_note else "")
        )
    if not beats:
        lines.append("  none")
    lines.append(f"Ambience ({len(ambience)}):")
    for e in ambience:
        lines.append(f"  {_printable(e.name):<{width}}  {e.duration_s:5.1f} s  {_format_details(e)}"
                     f"{_long_note(e, MAX_AMBIENCE_SECONDS)}")
    if not ambience:
        lines.append("  none")
    if skipped:
        lines.append(f"Skipped ({len(skipped)}):")
        for path, reason in skipped:
            lines.append(f"  {_printable(str(path))}: {reason}")
    if not effects:
        lines.append("No usable effect files; `python -m app.audio.default_loops` writes the defaults.")
    return "\n".join(lines)


def _long_note(e: EffectFile, used_s: float) -> str:
    return f"  (first {used_s:g} s used)" if e.duration_s > used_s else ""


def _format_details(e: EffectFile) -> str:
    layout = {1: "mono", 2: "stereo"}.get(e.channels, f"{e.channels} ch")
    return f"{e.sample_rate / 1000:g} kHz {layout}"


def _printable(text: str) -> str:
    """`text` with undecodable file-name bytes shown as U+FFFD, so printing never fails."""
    from app.files import printable

    return printable(text)


# ---------------------------------------------------------------------------------------------
# Loading


def load_wav(path: str | Path, sample_rate: int = 44100, max_seconds: float | None = MAX_LOAD_SECONDS) -> np.ndarray:
    """Read a WAV (8/16/24/32-bit int, 32/64-bit float, extensible) as float32 (2, n) at `sample_rate`.

    Reads at most the first `max_seconds` (None: all of it). Mono is duplicated, more than two
    channels are mixed down to stereo, other rates are resampled, NaN/inf become 0/±1 and float
    samples are clipped to ±1. Results are cached (by path, mtime, size, rate and length, within
    CACHE_BYTES); the caller gets its own copy. Raises EffectFileError with a one-line reason when
    the file cannot be read.
    """
    path = Path(path)
    st = _stat(path)
    return _load_cached(str(path), st.st_mtime_ns, st.st_size, int(sample_rate), max_seconds).copy()


def _stat(path: Path) -> os.stat_result:
    try:
        return path.stat()
    except FileNotFoundError:
        kind = "broken symlink" if path.is_symlink() else "no such file"
        raise EffectFileError(f"cannot read {_printable(str(path))}: {kind}") from None
    except OSError as exc:
        raise EffectFileError(f"cannot read {_printable(str(path))}: {exc.strerror or exc}") from None


_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()


def _load_cached(path_str: str, mtime_ns: int, size: int, sample_rate: int,
                 max_seconds: float | None = MAX_LOAD_SECONDS) -> np.ndarray:
    """The decoded audio (read-only array) from the cache or the file."""
    key = (path_str, mtime_ns, size, sample_rate, max_seconds)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    audio = _decode(path_str, size, sample_rate, max_seconds)
    with _cache_lock:
        if audio.nbytes <= CACHE_BYTES:
            _cache[key] = audio
            total = sum(a.nbytes for a in _cache.values())
            while total > CACHE_BYTES and len(_cache) > 1:
                total -= _cache.popitem(last=False)[1].nbytes
    return audio


def _decode(path_str: str, size: int, sample_rate: int, max_seconds: float | None) -> np.ndarray:
    import soundfile as sf

    path = Path(path_str)
    label = _printable(path.name)
    if sample_rate <= 0:
        raise BadValueError(f"sample rate must be positive, got {sample_rate}")
    if size == 0:
        raise EffectFileError(f"cannot read {label}: empty file")
    try:
        with sf.SoundFile(_sf_path(path)) as f:
            file_rate = f.samplerate
            frames = -1 if max_seconds is None else max(1, int(math.ceil(max_seconds * file_rate)))
            data = f.read(frames=frames, dtype="float32", always_2d=True)
    except PermissionError:
        raise EffectFileError(f"cannot read {label}: no permission") from None
    except Exception as exc:  # noqa: BLE001 - libsndfile errors come as RuntimeError subclasses
        reason = getattr(exc, "error_string", None) or getattr(exc, "strerror", None) or type(exc).__name__
        raise EffectFileError(f"cannot read {label}: {reason}") from None
    if data.shape[0] == 0:
        raise EffectFileError(f"cannot read {label}: no audio in it")
    audio = np.nan_to_num(data.T, nan=0.0, posinf=1.0, neginf=-1.0)
    np.clip(audio, -1.0, 1.0, out=audio)  # float files can hold anything; keep the mix sane
    audio = _to_stereo(audio)
    if file_rate != sample_rate:
        audio = _resample(audio, int(file_rate), sample_rate)
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    audio.flags.writeable = False  # shared by the cache; load_wav hands out copies
    return audio


def _sf_path(path: Path) -> bytes:
    # Bytes keep names that are not valid UTF-8 intact; soundfile would fail to encode them.
    return os.fsencode(path)


def _to_stereo(audio: np.ndarray) -> np.ndarray:
    """(channels, n) -> (2, n): mono duplicated; extra channels spread equally over both sides."""
    channels = audio.shape[0]
    if channels == 1:
        return np.repeat(audio, 2, axis=0)
    if channels == 2:
        return audio
    side = 1.0 / math.sqrt(2.0)
    rest = audio[2:].sum(axis=0) * side
    gain = 1.0 / (1.0 + side * (channels - 2))  # keeps a full-scale sum from clipping
    return np.stack([(audio[0] + rest) * gain, (audio[1] + rest) * gain])


def _resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    from app.audio.filters import resample_poly

    ratio = Fraction(to_rate, from_rate).limit_denominator(1000)  # odd rates: within 0.1 %
    return resample_poly(audio, ratio.numerator, ratio.denominator, axis=1)


# ---------------------------------------------------------------------------------------------
# Beat loops


def beat_track(
    effect: EffectFile,
    bpm: float,
    n_samples: int,
    sample_rate: int = 44100,
    beats_per_bar: int = 4,
) -> np.ndarray:
    """A beat loop locked to a song's tempo grid: float32 (2, n_samples).

    The loop is trimmed/padded to whole bars at its own tempo, time-stretched without changing
    pitch to exactly those bars at `bpm`, and tiled from sample 0 so bar k starts at
    k * beats_per_bar * 60 / bpm seconds. Tile starts are rounded from the exact (fractional)
    bar positions, so the loop never drifts from the grid however long the track.
    """
    if not bpm or bpm <= 0 or not math.isfinite(bpm):
        raise BadValueError(f"tempo must be a positive BPM, got {bpm}")
    if beats_per_bar < 1:
        raise BadValueError(f"beats per bar must be at least 1, got {beats_per_bar}")
    if effect.bpm is None:
        raise EffectFileError(f"{_printable(effect.name)} has no BPM; put it in the name, e.g. loop_84bpm.wav")
    n_samples = int(n_samples)
    if n_samples <= 0:
        return np.zeros((2, 0), np.float32)
    st = _stat(effect.path)
    unit, unit_exact = _tempo_unit(
        str(effect.path), st.st_mtime_ns, st.st_size, int(sample_rate),
        float(effect.bpm), round(float(bpm), 6), int(beats_per_bar),
    )
    return _tile_exact(unit, unit_exact, n_samples)


def _bar_loop(audio: np.ndarray, loop_bpm: float, sample_rate: int, beats_per_bar: int) -> tuple[np.ndarray, int]:
    """Trim or pad `audio` to the nearest whole number of bars (at least one). Returns (loop, bars).
    A loop shorter than 3/4 bar (a 170 BPM bar played half-time at 85) is repeated to fill one."""
    bar = beats_per_bar * 60.0 / loop_bpm * sample_rate
    if 0 < audio.shape[1] < 0.75 * bar:
        audio = np.tile(audio, (1, max(1, int(round(bar / audio.shape[1])))))
    bars = max(1, int(round(audio.shape[1] / bar)))
    length = int(round(bars * bar))
    if audio.shape[1] >= length:
        return audio[:, :length], bars
    return np.pad(audio, ((0, 0), (0, length - audio.shape[1]))), bars


@functools.lru_cache(maxsize=8)
def _tempo_unit(
    path_str: str, mtime_ns: int, size: int, sample_rate: int, loop_bpm: float, bpm: float, beats_per_bar: int
) -> tuple[np.ndarray, float]:
    """The loop as one seamless unit at `bpm` and its exact (fractional) length in samples.
    Silence before the first hit is cut (bar 1 starts on it); a loop longer than MAX_BEAT_SECONDS
    is cut to its first whole bars within that."""
    audio = _load_cached(path_str, mtime_ns, size, sample_rate, MAX_BEAT_SECONDS)
    lead_in = int(round(first_hit_s(audio, sample_rate) * sample_rate))
    loop, bars = _bar_loop(audio[:, lead_in:], loop_bpm, sample_rate, beats_per_bar)
    exact = bars * beats_per_bar * 60.0 / bpm * sample_rate
    if abs(loop.shape[1] - exact) < 1.0:
        unit = loop
    else:
        unit = stretch_loop(loop, exact, bars * beats_per_bar, sample_rate)
    unit = np.ascontiguousarray(unit, dtype=np.float32)
    unit.flags.writeable = False
    return unit, exact


def _tile_exact(unit: np.ndarray, unit_exact: float, n_samples: int) -> np.ndarray:
    """Repeat `unit` with copy k starting at round(k * unit_exact), cut to n_samples."""
    out = np.zeros((2, n_samples), np.float32)
    k = 0
    while True:
        start = int(round(k * unit_exact))
        if start >= n_samples:
            break
        end = min(int(round((k + 1) * unit_exact)), n_samples)
        take = min(end - start, unit.shape[1])
        out[:, start:start + take] = unit[:, :take]
        k += 1
    return out


# ---------------------------------------------------------------------------------------------
# Ambience


def ambience_track(
    effect: EffectFile, n_samples: int, sample_rate: int = 44100, crossfade_s: float = 1.0
) -> np.ndarray:
    """An ambience file repeated to n_samples: float32 (2, n_samples).

    Plays the file from its start; each repeat is joined by an equal-power crossfade
    (crossfade_s, at most a quarter of the file) from the file's tail into its head, so the seam
    neither clicks nor dips in level (for noise-like textures, whose halves are uncorrelated).
    Only what is needed is read: the first n_samples, or the first MAX_AMBIENCE_SECONDS of a longer
    file, which is then tiled like a short one.
    """
    n_samples = int(n_samples)
    if n_samples <= 0:
        return np.zeros((2, 0), np.float32)
    if crossfade_s < 0:
        raise BadValueError(f"crossfade must be >= 0 s, got {crossfade_s}")
    needed_s = min(MAX_AMBIENCE_SECONDS, math.ceil(n_samples / sample_rate + crossfade_s + 1.0))
    # A file shorter than that is read whole: one cache entry whatever the track's length.
    needed_s = min(needed_s, math.ceil(effect.duration_s + 1.0))
    audio = _load_cached(str(effect.path), *_stat_key(effect.path), int(sample_rate), float(needed_s))
    length = audio.shape[1]
    if n_samples <= length:
        return audio[:, :n_samples].copy()
    fade = min(int(round(crossfade_s * sample_rate)), length // 4)
    if fade < 1:
        return np.tile(audio, (1, n_samples // length + 1))[:, :n_samples].copy()
    # The repeating unit is the file minus its last `fade` samples, whose sound is blended into the
    # unit's first `fade` samples: playing on past the unit's end continues seamlessly into it.
    t = (np.arange(fade) + 0.5) / fade
    fade_in = np.sin(0.5 * np.pi * t).astype(np.float32)
    fade_out = np.cos(0.5 * np.pi * t).astype(np.float32)
    unit = audio[:, : length - fade].copy()
    unit[:, :fade] = audio[:, :fade] * fade_in + audio[:, length - fade:] * fade_out
    out = np.empty((2, n_samples), np.float32)
    first = length - fade
    out[:, :first] = audio[:, :first]  # the first pass starts like the file itself
    position = first
    while position < n_samples:
        take = min(unit.shape[1], n_samples - position)
        out[:, position:position + take] = unit[:, :take]
        position += take
    return out


def _stat_key(path: Path) -> tuple[int, int]:
    st = _stat(path)
    return st.st_mtime_ns, st.st_size


def clear_cache() -> None:
    """Forget cached audio (tests, or a long-running process whose files changed in place)."""
    with _cache_lock:
        _cache.clear()
    _tempo_unit.cache_clear()
    _detect_tempo_cached.cache_clear()
