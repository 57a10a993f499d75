"""FluidSynth rendering: a song part + an instrument -> a stereo stem. The only module that touches
pyfluidsynth; a missing libfluidsynth raises RenderError only when something is rendered.

Rendering is in process: note events are applied to a fluidsynth.Synth between calls to
fluid_synth_write_float, which writes float32 samples straight into the output array (no
subprocess, no temporary files, no 16-bit rounding or dither).

Choices:
- FluidSynth's reverb and chorus are OFF. The lo-fi chain adds room and wobble to the mix later;
  reverb baked into every stem would stack with it and could not be taken out again, and the
  reverb unit also costs CPU on every block even when nothing plays. Dry stems leave the mix free.
- Timing resolution is FluidSynth's internal block of 64 samples (1.45 ms at 44.1 kHz): an event
  sent mid-block would only take effect at the next boundary. We round event times to the nearest
  boundary ourselves, so every write is a whole number of blocks and timing errors stay under 0.73 ms.
- Every render gets a new synth (see _loaded_font for why), loading only the samples of the
  chosen preset; render_song renders parts in parallel threads.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import os
import sys
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import BadValueError, OutputError, RenderError, SoundFontError
from app.files import atomic_path, printable
from app.audio.instruments import Instrument
from app.music.song import Note, Part, Song

SAMPLE_RATE = 44100
BLOCK_SAMPLES = 64  # FluidSynth's FLUID_BUFSIZE: events take effect on these boundaries
# Master gain inside FluidSynth (its default is 0.2, which leaves stems near -30 dBFS RMS). At 0.8
# the default Rhodes chords, vibraphone melody and finger bass each peak around -12 dBFS (RMS about
# -30..-28 dBFS): headroom for summing stems and beats in the mix, and float32 never clips anyway.
SYNTH_GAIN = 0.8
# Sample interpolation: linear instead of FluidSynth's default 4th order. Measured on the default
# instruments: 25 % less CPU on the Rhodes chords (the stem that bounds render_song's time), while
# the rendered difference stays 45..64 dB below the signal and lies mostly in the slight treble
# droop of linear interpolation, which the lo-fi chain's low-pass removes anyway.
FLUID_INTERP_LINEAR = 1
MELODIC_CHANNEL = 0
DRUM_CHANNEL = 9  # GM percussion channel, used for bank-128 (drum kit) presets

DEFAULT_SWING = 0.57
SWING_RANGE = (0.5, 0.75)  # straight .. dotted-8th+16th; 2/3 is a triplet shuffle
# Humanisation at humanize=1: onset jitter with this standard deviation (clipped at 2.5 sd, so
# never more than 10 ms) and velocity jitter of this many MIDI steps. Enough to loosen the grid
# the way a player would, not enough to sound late.
TIMING_JITTER_S = 0.004
VELOCITY_JITTER = 6.0
# Laid back: at humanize=1 each part sits this far behind the beat (the beat loop stays on it). The
# keys drag most, the bass least, so the low end stays locked to the kick.
LAID_BACK_S = {"melody": 0.010, "chords": 0.018, "bass": 0.005}


# The drums: their micro-timing and velocities are the drum model's, as it learned them from
# drummers, so the render adds no random jitter to them (swing still applies). The kick stays on
# the grid (the bass locks to it); the snare (or rim) drags a little and the hats a touch less:
# the laid-back backbeat of lo-fi. Seconds at humanize=1, by GM drum note.
OWN_FEEL_PARTS = frozenset({"drums"})
DRUM_LAID_BACK_S = {38: 0.010, 37: 0.010, 42: 0.005, 46: 0.005}


def laid_back_s(part_name: str, humanize: float) -> float:
    """Seconds a part plays behind the beat (0 for parts not named in LAID_BACK_S, or humanize 0)."""
    return LAID_BACK_S.get(part_name, 0.0) * humanize


def drum_laid_back_s(pitch: int, humanize: float) -> float:
    """Seconds a drum stroke of GM note `pitch` plays behind the beat (DRUM_LAID_BACK_S)."""
    return DRUM_LAID_BACK_S.get(pitch, 0.0) * humanize

INSTALL_HINT = (
    "install FluidSynth: `sudo apt install libfluidsynth3` (Debian/Ubuntu) or "
    "`brew install fluid-synth` (macOS), and `pip install pyfluidsynth`"
)


def _fluidsynth():
    """The pyfluidsynth module, or RenderError with the install command when it or the C library is missing."""
    try:
        import fluidsynth
    except (ImportError, OSError) as exc:
        raise RenderError(f"FluidSynth is not available ({exc}); {INSTALL_HINT}") from exc
    return fluidsynth


# ---------------------------------------------------------------------------------------------
# Timing: swing and humanisation
# ---------------------------------------------------------------------------------------------

def swing_beats(beats: np.ndarray | float, swing: float = DEFAULT_SWING) -> np.ndarray:
    """Swung positions (beats) for straight positions (beats).

    Each beat is warped piecewise-linearly: its first half [0, 0.5) stretches to [0, swing) and its
    second half [0.5, 1) squeezes into [swing, 1). So off-beat 8ths (x.5) land at x+swing, downbeats
    stay, and 16ths move proportionally (x.25 -> x+swing/2, x.75 -> halfway between x+swing and
    x+1), which keeps every note in order and keeps 16th runs evenly spaced inside each half-beat.
    Applied to note ends too, so a straight 8th pair becomes long-short. swing=0.5 is the identity.
    """
    beats = np.asarray(beats, dtype=np.float64)
    whole = np.floor(beats)
    frac = beats - whole
    warped = np.where(frac < 0.5, frac * (swing / 0.5), swing + (frac - 0.5) * ((1.0 - swing) / 0.5))
    return whole + warped


@dataclass(frozen=True)
class _Events:
    """Note-on/off events in sample time, sorted (offs before ons at the same sample)."""

    samples: np.ndarray  # int64, multiples of BLOCK_SAMPLES
    is_on: np.ndarray  # bool
    pitches: np.ndarray  # int
    velocities: np.ndarray  # int (ignored for offs)


def _schedule(
    notes: list[Note],
    tempo_bpm: float,
    swing: float,
    humanize: float,
    rng: np.random.Generator,
    sample_rate: int,
    music_end_sample: int,
    late_s: float = 0.0,
    late_of_pitch=None,
) -> _Events:
    """Notes -> block-aligned events: swing, humanise, clamp to the music's end, and resolve
    overlapping notes of the same pitch (FluidSynth would otherwise let the first note's off cut
    the second note short)."""
    notes = sorted(notes, key=lambda n: (n.start, n.pitch, n.duration, n.velocity))
    count = len(notes)
    starts = np.array([n.start for n in notes], dtype=np.float64)
    ends = np.array([n.end for n in notes], dtype=np.float64)
    velocities = np.array([n.velocity for n in notes], dtype=np.float64)
    pitches = np.array([n.pitch for n in notes], dtype=np.int64)

    seconds_per_beat = 60.0 / tempo_bpm
    if late_of_pitch is not None:  # a lateness per note (the drums: by the voice it strikes)
        late_s = late_s + np.array([late_of_pitch(p) for p in pitches.tolist()], dtype=np.float64)
    start_s = swing_beats(starts, swing) * seconds_per_beat + late_s
    end_s = swing_beats(ends, swing) * seconds_per_beat + late_s
    if humanize > 0 and count:
        sd = TIMING_JITTER_S * humanize
        shift = np.clip(rng.normal(0.0, sd, count), -2.5 * sd, 2.5 * sd)
        start_s += shift  # the whole note moves: its length is the player's, the timing is loose
        end_s += shift
        velocities = velocities + rng.normal(0.0, VELOCITY_JITTER * humanize, count)
    velocities = np.clip(np.rint(velocities), 1, 127).astype(np.int64)

    def to_block(seconds: np.ndarray) -> np.ndarray:
        return (np.rint(seconds * sample_rate / BLOCK_SAMPLES) * BLOCK_SAMPLES).astype(np.int64)

    on = to_block(np.maximum(start_s, 0.0))
    off = to_block(np.minimum(end_s, music_end_sample / sample_rate))
    off = np.maximum(off, on + BLOCK_SAMPLES)  # every note sounds at least one block

    keep = on < music_end_sample
    sounding: dict[int, int] = {}  # pitch -> index of its latest note
    for i in range(count):
        if not keep[i]:
            continue
        pitch = int(pitches[i])
        j = sounding.get(pitch)
        if j is not None and on[i] < off[j]:
            if on[i] <= on[j]:  # same pitch struck twice at once: one louder, longer note
                off[j] = max(off[j], off[i])
                velocities[j] = max(velocities[j], velocities[i])
                keep[i] = False
                continue
            off[j] = on[i]  # re-strike: the earlier note ends where the new one starts
        sounding[pitch] = i

    idx = np.flatnonzero(keep)
    samples = np.concatenate([off[idx], on[idx]])
    is_on = np.concatenate([np.zeros(len(idx), bool), np.ones(len(idx), bool)])
    event_pitches = np.concatenate([pitches[idx], pitches[idx]])
    event_velocities = np.concatenate([velocities[idx], velocities[idx]])
    order = np.lexsort((event_pitches, is_on, samples))  # by sample, then offs first, then pitch
    return _Events(samples[order], is_on[order], event_pitches[order], event_velocities[order])


def _part_rng(seed: int, part_name: str) -> np.random.Generator:
    """A generator per (seed, part): parts get independent jitter, and the same seed always gives
    the same jitter (crc32 is stable across runs, unlike hash())."""
    return np.random.default_rng([seed, zlib.crc32(part_name.encode())])


# ---------------------------------------------------------------------------------------------
# Synths: a fresh one per render
# ---------------------------------------------------------------------------------------------

# FluidSynth's one-time global set-up inside new_fluid_synth (default modulators, tables) is not
# thread-safe: synths created at once in two threads corrupted the default velocity modulators
# (louder stems, "Modulator with source 1 none" warnings). Synths are therefore created one at a time.
_create_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _c_functions(fluidsynth) -> tuple[Any, Any]:
    """(fluid_synth_write_float, fluid_synth_set_interp_method) built with pyfluidsynth's public
    cfunc() helper: its Synth class wraps neither (it only writes 16-bit samples and has no
    interpolation setter), and float output straight into numpy arrays is the point of this module."""
    arg = lambda name, kind: (name, kind, 1)  # noqa: E731 - cfunc's (name, type, input flag)
    write_float = fluidsynth.cfunc(
        "fluid_synth_write_float", ctypes.c_int, arg("synth", ctypes.c_void_p), arg("len", ctypes.c_int),
        arg("lout", ctypes.c_void_p), arg("loff", ctypes.c_int), arg("lincr", ctypes.c_int),
        arg("rout", ctypes.c_void_p), arg("roff", ctypes.c_int), arg("rincr", ctypes.c_int))
    set_interp = fluidsynth.cfunc("fluid_synth_set_interp_method", ctypes.c_int, arg("synth", ctypes.c_void_p),
                                  arg("chan", ctypes.c_int), arg("interp_method", ctypes.c_int))
    if write_float is None or set_interp is None:
        raise RenderError(f"this libfluidsynth lacks fluid_synth_write_float; {INSTALL_HINT}")
    return write_float, set_interp


# FluidSynth's warnings (a ROM sample ignored, a sample with bad offsets...) come once per sample per
# load, hundreds per track for some SoundFonts. They are collected per thread while a file is in use
# and summarised in one line per file per process.
_FLUID_LOG_LEVELS = (1, 2)  # FLUID_ERR, FLUID_WARN
_log_target = threading.local()
_summarised: set[str] = set()
_summary_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _install_log_collector(fluidsynth) -> Any:
    """Route FluidSynth's errors and warnings to _on_fluid_log (once per process); returns the
    callback, kept alive by the cache."""
    log_type = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
    callback = log_type(_on_fluid_log)
    set_log = fluidsynth.cfunc("fluid_set_log_function", ctypes.c_void_p, ("level", ctypes.c_int, 1),
                               ("fun", log_type, 1), ("data", ctypes.c_void_p, 1))
    if set_log is not None:
        for level in _FLUID_LOG_LEVELS:
            set_log(level, callback, None)
    return callback


def _on_fluid_log(level: int, message: bytes | None, data) -> None:
    text = (message or b"").decode("utf-8", "replace").strip()
    sink = getattr(_log_target, "messages", None)
    if sink is not None:
        sink.append(text)
    else:  # outside a render (none expected): as FluidSynth itself would print it
        print(f"fluidsynth: {text}", file=sys.stderr)


@contextlib.contextmanager
def _collected_warnings(sf2_path: Path):
    """Collect FluidSynth's messages in this thread while the block runs; afterwards print one
    summary line for the file, the first time it has any in this process."""
    _log_target.messages = messages = []
    try:
        yield messages
    finally:
        _log_target.messages = None
        key = str(sf2_path)
        with _summary_lock:
            first_time = messages and key not in _summarised
            _summarised.add(key) if messages else None
        if first_time:
            distinct = list(dict.fromkeys(messages))
            more = f" (and {len(distinct) - 2} more kinds)" if len(distinct) > 2 else ""
            print(f"fluidsynth: {len(messages)} warning{'s' if len(messages) != 1 else ''} for "
                  f"{printable(sf2_path.name)}, e.g. {'; '.join(distinct[:2])}{more}", file=sys.stderr)


@dataclass
class _LoadedFont:
    synth: Any  # fluidsynth.Synth with one SoundFont loaded
    sfid: int
    write_float: Any  # ctypes function fluid_synth_write_float; releases the GIL while it runs

    def render_into(self, out: np.ndarray, start: int, count: int) -> None:
        """Render `count` samples (a multiple of BLOCK_SAMPLES) into out[:, start:start+count],
        clipping at the end of `out` (the last block may run past it)."""
        length = out.shape[1]
        direct = max(0, min(count, length - start))
        direct -= direct % BLOCK_SAMPLES
        if direct:
            self._write(out, start, direct)
        rest = count - direct
        if rest:
            scratch = np.zeros((2, rest), dtype=np.float32)
            self._write(scratch, 0, rest)
            keep = max(0, min(rest, length - start - direct))
            out[:, start + direct:start + direct + keep] = scratch[:, :keep]

    def _write(self, buf: np.ndarray, start: int, count: int) -> None:
        left, right = buf[0].ctypes.data, buf[1].ctypes.data
        if self.write_float(self.synth.synth, count, left, start, 1, right, start, 1) != 0:
            raise RenderError("FluidSynth failed while rendering")


@contextlib.contextmanager
def _loaded_font(sf2_path: Path, sample_rate: int):
    """A new synth with the SoundFont loaded, deleted afterwards.

    Not pooled on purpose: a FluidSynth voice that has played before starts its next note's attack
    slightly differently from a new one (the first ~2 blocks differ by up to 1e-4), so a reused
    synth would break "same inputs, identical samples". With dynamic sample loading a new synth
    costs ~35 ms for FluidR3_GM (only the chosen preset's samples are read).
    """
    fluidsynth = _fluidsynth()
    write_float, set_interp = _c_functions(fluidsynth)
    _install_log_collector(fluidsynth)
    with _create_lock:
        synth = fluidsynth.Synth(
            gain=SYNTH_GAIN,
            samplerate=float(sample_rate),
            channels=16,
            **{"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.dynamic-sample-loading": 1},
        )
    try:
        set_interp(synth.synth, -1, FLUID_INTERP_LINEAR)  # -1: all channels
        sfid = _sfload(fluidsynth, synth, sf2_path)
        if sfid < 0:
            raise SoundFontError(f"FluidSynth could not load {sf2_path} (missing or not a usable SoundFont)")
        yield _LoadedFont(synth, sfid, write_float)
    finally:
        synth.delete()


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------

def stem_length(length_beats: float, tempo_bpm: float, tail_s: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Samples in a stem: round((length_beats * 60 / tempo_bpm + tail_s) * sample_rate)."""
    return round((length_beats * 60.0 / tempo_bpm + tail_s) * sample_rate)


def _check_args(tempo_bpm: float, swing: float, humanize: float, seed: int, sample_rate: int, tail_s: float) -> None:
    if not (math.isfinite(tempo_bpm) and tempo_bpm > 0):
        raise BadValueError(f"tempo must be a positive number of BPM, got {tempo_bpm}")
    if not SWING_RANGE[0] <= swing <= SWING_RANGE[1]:
        raise BadValueError(f"swing must be between {SWING_RANGE[0]} (straight) and {SWING_RANGE[1]}, got {swing}")
    if not (math.isfinite(humanize) and humanize >= 0):
        raise BadValueError(f"humanize must be 0 or more, got {humanize}")
    if seed < 0:
        raise BadValueError(f"seed must be 0 or more, got {seed}")
    if not 8000 <= sample_rate <= 192000:
        raise BadValueError(f"sample rate must be 8000..192000 Hz, got {sample_rate}")
    if not (math.isfinite(tail_s) and tail_s >= 0):
        raise BadValueError(f"tail must be 0 s or more, got {tail_s}")


def render_part(
    part: Part,
    instrument: Instrument,
    tempo_bpm: float,
    *,
    swing: float = DEFAULT_SWING,
    humanize: float = 1.0,
    seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
    length_beats: float | None = None,
    tail_s: float = 2.0,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """Render one part with one instrument; returns float32 audio shaped (2, samples).

    Length: `length_beats` (default: the part's end) at `tempo_bpm`, plus `tail_s` seconds for
    release tails, i.e. stem_length(...) samples, so stems given the same length_beats line up.
    Notes still sounding at length_beats are released there; notes starting later are dropped.
    swing: where off-beat 8ths land within the beat (0.5 straight; see swing_beats). humanize:
    scale of timing (~4 ms sd) and velocity (~6 steps sd) jitter; 0 = exact. Same arguments and
    seed -> identical samples. Raises RenderError (FluidSynth missing or failing), SoundFontError
    (file or preset unusable), BadValueError (arguments out of range). When `cancel` is set (by
    render_song on Ctrl-C / SIGTERM) the render stops at the next note and raises RenderError.
    """
    _fluidsynth()  # fail early with the install hint, before any work
    _check_args(tempo_bpm, swing, humanize, seed, sample_rate, tail_s)
    beats = part.end if length_beats is None else length_beats
    if not (math.isfinite(beats) and beats >= 0):
        raise BadValueError(f"length must be 0 beats or more, got {beats}")
    total = stem_length(beats, tempo_bpm, tail_s, sample_rate)
    blocks = _part_blocks(part, instrument, tempo_bpm, beats, swing=swing, humanize=humanize, seed=seed,
                          sample_rate=sample_rate, tail_s=tail_s, block_frames=max(total, 1), cancel=cancel)
    whole = list(blocks)  # one block (running the generator to its end, where silence is checked)
    return whole[0] if whole else np.zeros((2, 0), np.float32)


def _part_blocks(part: Part, instrument: Instrument, tempo_bpm: float, beats: float, *, swing: float,
                 humanize: float, seed: int, sample_rate: int, tail_s: float, block_frames: int,
                 cancel: threading.Event | None):
    """Render a part (arguments as render_part, checked) as consecutive float32 (2, m) blocks of
    block_frames samples (the last one shorter) covering stem_length(...) samples.

    The synth stays loaded from the first block to the last; blocks end on FluidSynth's 64-sample
    boundaries (block_frames is rounded up to them), so the samples are identical to one render of
    the whole part. Raises RenderError at the end when the part has notes but rendered silent.
    """
    total = stem_length(beats, tempo_bpm, tail_s, sample_rate)
    music_end = round(beats * 60.0 / tempo_bpm * sample_rate)
    own_feel = part.name in OWN_FEEL_PARTS
    events = _schedule(part.notes, tempo_bpm, swing, 0.0 if own_feel else humanize, _part_rng(seed, part.name),
                       sample_rate, music_end, laid_back_s(part.name, humanize),
                       (lambda pitch: drum_laid_back_s(pitch, humanize)) if own_feel else None)
    block_frames = -(-block_frames // BLOCK_SAMPLES) * BLOCK_SAMPLES
    if len(events.samples) == 0:
        for start in range(0, total, block_frames):
            yield np.zeros((2, min(block_frames, total - start)), dtype=np.float32)
        return
    sounded = False
    with _collected_warnings(instrument.sf2_path):
        for block in _play_events(events, instrument, sample_rate, cancel, total, block_frames):
            sounded = sounded or bool(np.any(block))
            yield block
    if not sounded:  # FluidSynth plays an unusable sample as nothing, without an error
        raise RenderError(f"the {part.name} part ({len(part.notes)} notes) rendered silent with {instrument.label}: "
                          f"FluidSynth cannot sound preset {instrument.id}; choose another instrument")


def _play_events(events: _Events, instrument: Instrument, sample_rate: int, cancel: threading.Event | None,
                 total: int, block_frames: int):
    """Load the instrument's SoundFont, apply `events` and render between them; yields float32 (2, m)
    blocks of block_frames (a multiple of BLOCK_SAMPLES) covering `total` samples."""
    padded = -(-total // BLOCK_SAMPLES) * BLOCK_SAMPLES
    channel = DRUM_CHANNEL if instrument.is_percussion else MELODIC_CHANNEL
    with _loaded_font(instrument.sf2_path, sample_rate) as font:
        synth = font.synth
        if synth.program_select(channel, font.sfid, instrument.bank, instrument.program) != 0:
            raise SoundFontError(
                f"{instrument.sf2_path.name} has no preset {instrument.bank}:{instrument.program} ({instrument.name})"
            )
        position, i = 0, 0
        samples, is_on = events.samples.tolist(), events.is_on.tolist()
        pitches, velocities = events.pitches.tolist(), events.velocities.tolist()
        for block_start in range(0, total, block_frames):
            block_end = min(block_start + block_frames, padded)
            out = np.zeros((2, min(block_frames, total - block_start)), dtype=np.float32)
            while i < len(samples) and samples[i] < block_end:
                if cancel is not None and cancel.is_set():
                    raise RenderError("render cancelled")
                when = samples[i]
                if when > position:
                    font.render_into(out, position - block_start, when - position)  # one call per gap
                    position = when
                if is_on[i]:
                    synth.noteon(channel, pitches[i], velocities[i])
                else:
                    synth.noteoff(channel, pitches[i])
                i += 1
            if position < block_end:
                font.render_into(out, position - block_start, block_end - position)
                position = block_end
            yield out


def _workload(part: Part) -> float:
    """Rough rendering cost of a part (sounding note-beats), to start the heaviest first."""
    return sum(n.duration for n in part.notes)


def render_song(
    song: Song,
    instruments: dict[str, Instrument],
    *,
    swing: float = DEFAULT_SWING,
    humanize: float = 1.0,
    seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
    tail_s: float = 2.0,
    spill: bool = False,
) -> dict[str, np.ndarray]:
    """Render every part of the song that has an instrument (parts without one are left out).

    Returns part name -> float32 (2, samples) stems, all song.length_beats + tail_s long. Parts
    render in parallel threads (FluidSynth runs with the GIL released), one synth each. With
    spill=True each stem is rendered block by block into a SpilledAudio (app/audio/spill.py: on disk,
    same samples), so memory does not grow with the song's length.
    """
    names = sorted((n for n in song.parts if n in instruments), key=lambda n: -_workload(song.parts[n]))
    if not names:
        return {}
    _fluidsynth()
    length = song.length_beats

    cancel = threading.Event()

    def render(name: str) -> np.ndarray:
        if spill:
            return _render_spilled(song.parts[name], instruments[name], song.tempo_bpm, length, swing=swing,
                                   humanize=humanize, seed=seed, sample_rate=sample_rate, tail_s=tail_s,
                                   cancel=cancel)
        return render_part(
            song.parts[name], instruments[name], song.tempo_bpm, swing=swing, humanize=humanize,
            seed=seed, sample_rate=sample_rate, length_beats=length, tail_s=tail_s, cancel=cancel,
        )

    workers = min(len(names), os.cpu_count() or 1)
    if workers == 1:
        stems = {name: render(name) for name in names}
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="render") as pool:
            futures = {name: pool.submit(render, name) for name in names}
            try:
                stems = {name: future.result() for name, future in futures.items()}
            except BaseException:  # Ctrl-C, SIGTERM or a failed part: stop the other threads now
                cancel.set()
                raise
    return {name: stems[name] for name in song.parts if name in stems}  # the song's part order


def _render_spilled(part: Part, instrument: Instrument, tempo_bpm: float, beats: float, **options):
    """render_part's samples (options: its keywords), block by block into a SpilledAudio."""
    from app.audio.spill import SPILL_BLOCK_FRAMES, SpilledAudio

    _check_args(tempo_bpm, options["swing"], options["humanize"], options["seed"], options["sample_rate"],
                options["tail_s"])
    out = SpilledAudio()
    for block in _part_blocks(part, instrument, tempo_bpm, beats, block_frames=SPILL_BLOCK_FRAMES, **options):
        out.append(block, owned=True)  # each block is a new array
    return out


def _sfload(fluidsynth, synth, sf2_path: Path) -> int:
    """Load a SoundFont by its file-system bytes, so names that are not valid UTF-8 work too
    (pyfluidsynth's Synth.sfload encodes the name as UTF-8 and fails on them)."""
    raw = getattr(fluidsynth, "fluid_synth_sfload", None)
    if raw is None:
        return synth.sfload(str(sf2_path))
    return raw(synth.synth, os.fsencode(sf2_path), 0)


# ---------------------------------------------------------------------------------------------
# Audition
# ---------------------------------------------------------------------------------------------

_AUDITION_TEMPO = 80.0
# Cmaj9 in a lo-fi voicing: C3 root, then E G B D stacked above.
_CMAJ9 = (48, 55, 59, 62, 64)
# Kick, closed hat, snare, closed hat... for drum kits.
_DRUM_PATTERN = ((36, 42), (42,), (38, 42), (42,))
_AUDITION_PEAK_DBFS = -3.0


def _audition_part(instrument: Instrument, music_beats: float) -> Part:
    notes = []
    if instrument.is_percussion:
        step, t = 0, 0.0
        while t < music_beats - 1e-9:
            for pitch in _DRUM_PATTERN[step % len(_DRUM_PATTERN)]:
                notes.append(Note(pitch, t, 0.25, 96 if pitch != 42 else 70))
            step, t = step + 1, t + 0.5
        return Part("audition", notes)
    chord_beats = max(0.5, round(music_beats * 0.4 * 2) / 2)
    notes += [Note(p, 0.0, chord_beats, 64) for p in _CMAJ9]
    arpeggio = [*_CMAJ9, *(p + 12 for p in _CMAJ9[1:])]
    t, i = chord_beats, 0
    while t < music_beats - 1e-9:
        notes.append(Note(arpeggio[i % len(arpeggio)], t, min(0.5, music_beats - t), 72))
        t, i = t + 0.5, i + 1
    return Part("audition", notes)


def audition(instrument: Instrument, path: Path, seconds: float = 5.0) -> Path:
    """Write a preview WAV (16-bit, 44.1 kHz, stereo, exactly `seconds` long) of the instrument
    playing a Cmaj9 chord then a swung arpeggio (drum kits play a simple beat), peak-normalised to
    -3 dBFS so previews compare at equal loudness. Returns the path; written atomically."""
    import soundfile

    if not (math.isfinite(seconds) and 0.5 <= seconds <= 60):
        raise BadValueError(f"audition length must be 0.5..60 s, got {seconds}")
    tail_s = min(1.5, seconds * 0.3)
    music_beats = (seconds - tail_s) * _AUDITION_TEMPO / 60.0
    audio = render_part(
        _audition_part(instrument, music_beats), instrument, _AUDITION_TEMPO,
        length_beats=music_beats, tail_s=tail_s, seed=0,
    )
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 0:
        audio = audio * np.float32(10 ** (_AUDITION_PEAK_DBFS / 20) / peak)
    path = Path(path)
    with atomic_path(path) as tmp:
        try:
            soundfile.write(tmp, audio.T, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        except RuntimeError as exc:  # libsndfile errors
            raise OutputError(f"cannot write {path}: {exc}") from exc
    return path
