"""Layering. A song's mix (mix_song, what generate_music and batch use): every layer is set by its
loudness where it plays (app/audio/levels.py), finished on its own (gain, kick shelf, the pump under
the kick, the intro's low-pass, the fades) and the mix is their float sum, so the stems written from
the layers add up to it; a room return (pedalboard's reverb) on the keys and the snare/hats band is
one more layer. The preset's colour, the tilt EQ and the limiter come after (master.master_song).

    from app.audio.mix import mix_song
    mixed = mix_song(song, stems, beat=None, ambience=[(rain, -24.0)], preset="default")
    mixed.audio, mixed.layers, mixed.levels

mix_track is the plain layering of loops over a music bus (scripts and benchmarks use it):

    from app.audio.mix import mix_track
    mixed = mix_track({"melody": m, "chords": c, "bass": b}, beat=loop, ambience=[(rain, -18.0)])

There the music bus is set to MUSIC_BUS_RMS_DBFS (-18 dBFS RMS) after the lo-fi chain, and every
layer's level (beat_gain_db, each ambience level_db) is in dB relative to that bus RMS; pydub lays the
layers over it. Mastering sets the final loudness afterwards.
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from app.config import SAMPLE_RATE, TAIL_S
from app.errors import BadValueError
from app.audio.drum_bus import drum_bus
from app.audio.fx import (as_stereo, fade_gain, kick_envelope, kick_envelope_control, lofi_chain,
                          run_chunked, upsample_linear_range)
from app.audio.levels import Staging, excerpt, report_frames, section_figures, stage_levels
from app.audio.spill import SPILL_BLOCK_FRAMES, SpilledAudio, read_block, spill

if TYPE_CHECKING:
    from app.audio.loops import EffectFile
    from app.music.song import Song

# Balance of the music stems (dB); the bass sits a touch lower so it doesn't swamp laptop speakers.
DEFAULT_STEM_GAINS_DB = {"melody": 0.0, "chords": -2.0, "bass": -3.0}
MUSIC_BUS_RMS_DBFS = -18.0
# The sum of all layers' peaks is kept under this (linear, -1 dBFS), so nothing can clip inside pydub.
MAX_SUM_OF_PEAKS = 10 ** (-1.0 / 20)
# pydub works on interleaved integers; 16 bit halves the bytes it copies (its overlay makes several
# copies) and with the bus at -18 dBFS RMS its rounding floor is still > 80 dB below the music.
MIX_SAMPLE_WIDTH = 2
# Frames per chunk laid out by pydub: small enough that its copies stay in cache and memory does
# not grow with the track's length.
PYDUB_CHUNK_FRAMES = 1 << 15
PYDUB_PAD_MS = 3  # silence after each chunk, more than pydub's millisecond rounding can take off
# The song's shape in the mix: the intro plays through a low-pass that opens when the groove starts;
# the track fades in over two beats (at most 3 s) and out over its last quarter (at most 4 bars of
# 4/4) plus the release tail.
INTRO_CUTOFF_HZ = 900.0
FADE_IN_BEATS, FADE_IN_MAX_S = 2, 3.0
FADE_OUT_SHARE, FADE_OUT_MAX_BEATS = 0.25, 4 * 4


def to_segment(audio: np.ndarray, sample_rate: int, sample_width: int = MIX_SAMPLE_WIDTH, *, gain: float = 1.0):
    """float32 (channels, n) in [-1, 1) -> pydub AudioSegment of 16-bit (2) or 32-bit (4) integers.

    `gain` (linear) is applied on the way, saving a pass; values past full scale are clipped, rounding
    is to nearest.
    """
    from pydub import AudioSegment

    if sample_width not in (2, 4):
        raise BadValueError(f"sample_width must be 2 or 4 bytes, got {sample_width}")
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None, :]
    channels, n = audio.shape
    dtype = np.int16 if sample_width == 2 else np.int32
    full_scale = float(2 ** (8 * sample_width - 1))
    # float32 cannot hold 2**31 - 1; its largest value below 2**31 is 2**31 - 128.
    top = 32767.0 if sample_width == 2 else 2147483520.0
    interleaved = np.empty((n, channels), dtype)

    def work(start, stop):
        block = audio[:, start:stop] * np.float32(full_scale * gain)
        np.clip(block, -full_scale, top, out=block)
        np.rint(block, out=block)
        interleaved[start:stop] = block.T

    run_chunked(work, n)
    return AudioSegment(
        data=interleaved.tobytes(), sample_width=sample_width, frame_rate=int(sample_rate), channels=channels
    )


def from_segment(segment) -> np.ndarray:
    """pydub AudioSegment (8/16/32-bit integers) -> float32 (channels, n) in [-1, 1)."""
    width = segment.sample_width
    dtypes = {1: np.int8, 2: np.int16, 4: np.int32}
    if width not in dtypes:
        raise BadValueError(f"unsupported sample width {width} bytes")
    ints = np.frombuffer(segment.raw_data, dtypes[width]).reshape(-1, segment.channels)
    out = np.empty((segment.channels, ints.shape[0]), np.float32)
    np.multiply(ints.T, np.float32(1.0 / 2 ** (8 * width - 1)), out=out)
    return out


def _loop_to(audio: np.ndarray, n: int) -> np.ndarray:
    """Loop (tile) or cut audio (channels, m) to exactly n samples."""
    if audio.shape[1] == 0:
        raise BadValueError("a beat or ambience layer is empty")
    reps = -(-n // audio.shape[1])
    return np.tile(audio, (1, reps))[:, :n] if reps > 1 else audio[:, :n]


def _looped_kick_envelope(loop: np.ndarray, n: int, sample_rate: int, bpm: float | None) -> np.ndarray:
    """kick_envelope of `loop` repeated to n samples, computed on one loop only.

    The loop is analysed twice over and the second pass kept, so a kick's release that runs past the
    loop's end is carried into its start, as it will be when the loop repeats.
    """
    m = loop.shape[1]
    if m >= n:
        return kick_envelope(loop[:, :n], sample_rate, bpm)
    env = kick_envelope(np.tile(loop, (1, 2)), sample_rate, bpm)[m:]
    return _loop_to(env[None, :], n)[0]


def _rms(audio: np.ndarray) -> float:
    if isinstance(audio, SpilledAudio):  # summed in float64 as its blocks were written
        return math.sqrt(audio.sum_squares / max(audio.size, 1))
    flat = audio.ravel()
    return math.sqrt(float(np.dot(flat, flat)) / max(flat.size, 1))


def _peak(audio: np.ndarray) -> float:
    if isinstance(audio, SpilledAudio):
        return audio.peak
    return max(float(audio.max(initial=0.0)), -float(audio.min(initial=0.0)))


def _as_layer(audio, name: str):
    """A SpilledAudio as it is (it is float32 stereo by construction), anything else through as_stereo."""
    if isinstance(audio, SpilledAudio):
        if audio.channels != 2:
            raise BadValueError(f"{name} must be stereo, got {audio.channels} channels")
        return audio
    return as_stereo(audio, name)


def sum_stems(stems: dict[str, np.ndarray], stem_gains_db: dict[str, float] | None = None) -> np.ndarray:
    """Sum stems (each (2, n) or mono) with gains in dB (defaults: DEFAULT_STEM_GAINS_DB, others 0 dB).

    Shorter stems are zero-padded to the longest; returns float32 (2, n).
    """
    if not stems:
        raise BadValueError("no music stems to mix")
    gains = {**DEFAULT_STEM_GAINS_DB, **(stem_gains_db or {})}
    weighted = [
        (_as_layer(audio, f"stem {name!r}"), np.float32(10 ** (gains.get(name, 0.0) / 20)))
        for name, audio in stems.items()
    ]
    n = max(audio.shape[1] for audio, _ in weighted)
    bus = np.zeros((2, n), np.float32)

    def work(start, stop):
        target = bus[:, start:stop]
        for audio, gain in weighted:
            part = read_block(audio, start, min(stop, audio.shape[1]))
            if part.shape[1]:
                target[:, : part.shape[1]] += part * gain

    run_chunked(work, n)
    return bus


def mix_track(
    stems: dict[str, np.ndarray],
    *,
    beat: np.ndarray | None = None,
    ambience: list[tuple[np.ndarray, float]] = (),
    stem_gains_db: dict[str, float] | None = None,
    beat_gain_db: float = -4.0,
    chain=None,
    duck_db: float = 3.0,
    sample_rate: int = SAMPLE_RATE,
    bpm: float | None = None,
) -> np.ndarray:
    """Mix music stems, a beat and ambience layers; returns float32 (2, n), n = the longest stem.

    stems: name -> audio (2, n) float32 (mono accepted); summed with stem_gains_db over the defaults.
    chain: the lo-fi effect for the music bus: None = lofi_chain("default"), a preset name, or any
        `effect(audio, sample_rate)` callable.
    beat: a beat loop (looped or cut to the music's length), placed beat_gain_db relative to the bus;
        the music ducks duck_db under its kick (bpm, if known, caps the duck's release).
    ambience: (audio, level_db) pairs, looped or cut to length, level relative to the bus RMS.
    The result is not normalised: the bus sits at -18 dBFS RMS unless headroom needed it lower.
    """
    if not stems:
        raise BadValueError("no music stems to mix")
    n = max(_as_layer(audio, f"stem {name!r}").shape[1] for name, audio in stems.items())
    envelope = None
    if beat is not None and duck_db:  # before the bus exists: the analysis's temporaries come and go first
        envelope = _kick_envelope_blocks(_as_layer(beat, "beat"), n, sample_rate, bpm)
    music = sum_stems(stems, stem_gains_db)
    if chain is None or isinstance(chain, str):
        chain = lofi_chain(chain or "default")
    if hasattr(chain, "process_in_place"):
        chain.process_in_place(music, sample_rate)  # the bus is ours: no full-length copy per effect
    else:
        music = np.asarray(chain(music, sample_rate), dtype=np.float32)
    if music.shape != (2, n):
        raise BadValueError(f"the lo-fi chain changed the bus shape from (2, {n}) to {music.shape}")

    bus_rms = _rms(music)
    target_rms = 10 ** (MUSIC_BUS_RMS_DBFS / 20)
    bus_gain = target_rms / bus_rms if bus_rms > 1e-9 else 1.0
    reference_rms = target_rms  # layers keep their level even over a silent bus

    layers = []  # (loop as given, linear gain); pydub loops each over the bus
    if beat is not None:
        beat_loop = _as_layer(beat, "beat")
        if envelope is not None:
            _duck_in_place(music, envelope, duck_db)
        beat_layer = _cut(beat_loop, n)
        layers.append((beat_layer, _layer_gain(beat_layer, reference_rms, beat_gain_db)))
    for item in ambience:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and np.ndim(item[1]) == 0):
            raise BadValueError("ambience must be a list of (audio, level_db) pairs")
        audio, level_db = item
        layer = _cut(_as_layer(audio, "ambience"), n)
        layers.append((layer, _layer_gain(layer, reference_rms, float(level_db))))
    if any(audio.shape[1] == 0 for audio, _ in layers):
        raise BadValueError("a beat or ambience layer is empty")

    # Headroom: scale everything together if the layers' peaks could add up past -1 dBFS.
    sum_of_peaks = _peak(music) * bus_gain + sum(_peak(a) * g for a, g in layers)
    headroom = min(1.0, MAX_SUM_OF_PEAKS / sum_of_peaks) if sum_of_peaks > 0 else 1.0

    _overlay_in_chunks(music, layers, bus_gain * headroom, headroom, sample_rate)
    return music


def _overlay_in_chunks(music: np.ndarray, layers: list, bus_gain: float, headroom: float, sample_rate: int) -> None:
    """pydub lays the layers ((audio, gain) pairs) over music (2, n) at bus_gain, one chunk at a
    time, each written back over the bus (so no whole-track segment or copy is ever made).

    pydub's overlay slices in whole milliseconds (rounded), which can drop or pad a frame at a
    chunk's end: every chunk is handed over with PYDUB_PAD_MS of silence after it, and only its own
    frames are kept.
    """
    pad = np.zeros((2, math.ceil(PYDUB_PAD_MS * sample_rate / 1000)), np.float32)

    def work(start, stop):
        padded = np.concatenate([music[:, start:stop], pad], axis=1)
        mixed = to_segment(padded, sample_rate, gain=bus_gain)
        for audio, gain in layers:
            if gain > 0:
                layer = np.concatenate([_looped_block(audio, start, stop), pad], axis=1)
                mixed = mixed.overlay(to_segment(layer, sample_rate, gain=gain * headroom), loop=True)
        block = from_segment(mixed)
        music[:, start:stop] = block[:, : stop - start]

    run_chunked(work, music.shape[1], PYDUB_CHUNK_FRAMES)


def _cut(layer, n: int):
    """The first n samples of a layer (a SpilledAudio must be at most n long: it is not cut)."""
    if isinstance(layer, SpilledAudio):
        if layer.shape[1] > n:
            raise BadValueError(f"a spilled layer is {layer.shape[1]} samples long, more than the music's {n}")
        return layer
    return layer[:, :n]


def _looped_block(layer, start: int, stop: int) -> np.ndarray:
    """Samples start..stop of `layer` repeated end to end (as pydub's overlay(loop=True) repeats it)."""
    m = layer.shape[1]
    if stop <= m:
        return read_block(layer, start, stop)
    return np.take(np.asarray(layer), np.arange(start, stop) % m, axis=1)


def _kick_envelope_blocks(beat, n: int, sample_rate: int, bpm: float | None):
    """envelope(start, stop) -> float32 values of _looped_kick_envelope(beat, n, ...)[start:stop];
    a beat at least n long (a song's beat layer) is analysed block by block, never expanded whole."""
    if beat.shape[1] >= n:
        values, factor = kick_envelope_control(_cut(beat, n), sample_rate, bpm)
        if values.size == 0:
            return lambda start, stop: np.zeros(stop - start, np.float32)
        return lambda start, stop: upsample_linear_range(values, factor, start, stop)
    whole = _looped_kick_envelope(beat, n, sample_rate, bpm)
    return lambda start, stop: whole[start:stop]


def _duck_in_place(music: np.ndarray, envelope, depth_db: float) -> None:
    """fx.duck over music (2, n), in place; envelope(start, stop) gives the kick envelope's values."""
    per_unit = np.float32(-depth_db * math.log(10) / 20)

    def work(start, stop):
        gain = np.exp(envelope(start, stop) * per_unit)
        np.multiply(music[:, start:stop], gain, out=music[:, start:stop])

    run_chunked(work, music.shape[1])


def _layer_gain(audio: np.ndarray, reference_rms: float, level_db: float) -> float:
    """Linear gain that puts `audio`'s RMS level_db relative to reference_rms (silent layers: 0)."""
    rms = _rms(audio)
    if rms <= 1e-9:
        return 0.0
    return reference_rms * 10 ** (level_db / 20) / rms


# --- a song's mix: the layers its sections play, the intro filter, the fades ----------------------


# Layers of at most this many bytes (a 6-minute track's, stereo float32; a 3-minute one is 64 MB) are
# made side by side: the beds beside the drum bus, the room's two halves, the report beside the
# master. A longer track's are made one after the other, as what waits for the other half would
# not fit the memory a long track is allowed (app/audio/spill.py).
SIDE_BY_SIDE_MAX_BYTES = 128 << 20


def _side_by_side(frames: int) -> bool:
    """Whether a track of `frames` stereo float32 frames is short enough for side-by-side layers."""
    return 2 * 4 * frames <= SIDE_BY_SIDE_MAX_BYTES


@dataclass
class MixedSong:
    """A song's pre-master mix and the layers it is the sum of, each at the mix's own gain staging
    (written as stem WAVs: summed, they give `audio`); `levels` are the per-part loudness figures of
    section A (levels.section_loudness) and `staging` the gains that were chosen."""

    audio: np.ndarray  # float32 (2, n)
    layers: dict[str, np.ndarray]  # the music stems, then 'beat' or 'drums', 'ambience' and 'room' when present
    # the figures, or the Future of the worker measuring them (mix_song: while the master is made)
    measured_levels: dict[str, float | None] | Future = field(default_factory=dict)
    staging: Staging | None = None

    @property
    def levels(self) -> dict[str, float | None]:
        """The section's loudness figures (waits for them when they are still being measured)."""
        if isinstance(self.measured_levels, Future):
            self.measured_levels = self.measured_levels.result()
        return self.measured_levels


def mix_song(song: Song, stems: dict[str, np.ndarray], beat: EffectFile | None = None,
             ambience: list[tuple[EffectFile, float]] = (), preset: str = "default",
             sample_rate: int = SAMPLE_RATE, *, release: bool = False) -> MixedSong:
    """Mix a song's rendered stems with its drums (the generated 'drums' stem through the drum bus, or
    a beat loop stretched to the tempo and playing in the sections whose layers hold 'beat') and its
    ambience layers ((effect, level_db)). Every level is set by loudness (app/audio/levels.py); the
    music pumps under the kick by the preset's pump_db; the keys and the snare band feed a room
    return at its room_db; then the intro filter and the fades. Each layer is finished on its own
    and the mix is their sum, so the stems add up to it. The preset's colour and tone come later, on
    the whole mix (master.finish_mix). Returns the MixedSong, n = the stems' length.

    release: the caller hands the stems over (SpilledAudio, as render_song makes them): each is
    closed once its layer is made, and so are the mix's own intermediate layers, so their memory
    goes back to the spill budget (app/audio/spill.py) for the layers that follow."""
    from app.audio.fx import preset_parameters
    from app.audio.loops import ambience_track

    parameters = preset_parameters(preset)
    n = next(iter(stems.values())).shape[1]
    if all(name == "drums" for name in stems):
        raise BadValueError("no music stems to mix")
    made: list = []  # the layers made here, freed if the mix fails
    # Layers are made and finished side by side (numpy, pedalboard and libsndfile release the GIL).
    with ThreadPoolExecutor(2, thread_name_prefix="mix") as pool:
        def beds_made() -> list:
            beds = [(spill(ambience_track(effect, n, sample_rate), owned=True), level) for effect, level in ambience]
            made.extend(bed for bed, _ in beds)
            return beds

        try:
            # The ambience beds are made while the drum bus runs (a long track's one after the other).
            beds_job = pool.submit(beds_made) if _side_by_side(n) else None
            given = stems
            stems, drums = split_drums(stems, sample_rate)
            made.append(drums)
            if release and drums is not None:
                _close(given["drums"])  # split_drums made the drum layer from a copy
            kit, kit_name = (drums, "drums") if drums is not None else (None, None)
            if beat is not None:
                kit, kit_name = _beat_layer(song, beat, n, sample_rate), "beat"
                made.append(kit)
            beds = beds_job.result() if beds_job is not None else beds_made()
            envelope = None
            if kit is not None and parameters["pump_db"]:
                envelope = _kick_envelope_blocks(kit, n, sample_rate, song.tempo_bpm)
            staging = stage_levels(song, stems, kit, beds, sample_rate, duck=envelope, duck_db=parameters["pump_db"])
        except BaseException:
            for audio in made:
                _close(audio)
            raise
        finish = _LayerFinisher(song, n, sample_rate)

        def finished(audio, gain_db: float, frees=(), **options) -> SpilledAudio:
            """finish(audio, ...), then free what it was made from, so that at most the two layers being
            finished are held twice (a 3-minute track's layers then stay within the memory budget)."""
            layer = finish(audio, gain_db, **options)
            for used in frees:
                _close(used)
            return layer

        def ambience_layer() -> SpilledAudio:
            bed = _bed_layer(beds, staging)
            for audio, _ in beds:
                _close(audio)
            return finished(bed, 0.0, frees=(bed,))

        # The ambience first, as its beds are the most memory held.
        bed_job = pool.submit(ambience_layer) if beds else None
        jobs = {part: pool.submit(finished, audio, staging.gains_db[part], (audio,) if release else (),
                                  duck=envelope, duck_db=parameters["pump_db"])
                for part, audio in stems.items()}
        if kit is not None:  # the drum bus's copy or the beat: made here
            jobs[kit_name] = pool.submit(finished, kit, staging.gains_db["drums"], (kit,),
                                         kick_shelf_db=staging.kick_shelf_db)
        if bed_job is not None:
            jobs["ambience"] = bed_job
        layers = {name: job.result() for name, job in jobs.items()}
    if parameters["room_db"] is not None:
        room = room_return(song, layers, kit_name, parameters["room_db"], sample_rate)
        if room is not None:
            wet, gain_db = room
            layers["room"] = finished(wet, gain_db, (wet,), intro=False)
    mixed = sum_layers(layers, n)
    return MixedSong(mixed, layers, _section_levels(song, layers, mixed, sample_rate), staging)


def _section_levels(song: Song, layers: dict, mixed: np.ndarray, sample_rate: int) -> dict | Future:
    """section_loudness of the mix: measured on a worker thread of its own while the master is made
    (a Future), or now for a track too long for side by side (its excerpts would add to the master's
    peak memory). The mix's excerpt is copied first, as the master works on the mix in place; the
    layers are read on the worker (nothing changes them)."""
    frames = report_frames(song, mixed.shape[1], sample_rate)
    mix_part = excerpt(mixed, frames)
    if not _side_by_side(mixed.shape[1]):
        return section_figures(layers, mix_part, frames, sample_rate)
    worker = ThreadPoolExecutor(1, thread_name_prefix="levels")
    try:
        return worker.submit(section_figures, layers, mix_part, frames, sample_rate)
    finally:
        worker.shutdown(wait=False)  # the thread ends once the figures are measured


def _close(audio) -> None:
    """Free a SpilledAudio that is no longer needed (its memory goes back to the spill budget)."""
    if isinstance(audio, SpilledAudio):
        audio.close()


def sum_layers(layers: dict, n: int) -> np.ndarray:
    """The layers (arrays or SpilledAudio, (2, <= n)) summed in float32 into a new (2, n) array."""
    mixed = np.zeros((2, n), np.float32)
    for start in range(0, n, SPILL_BLOCK_FRAMES):
        stop = min(n, start + SPILL_BLOCK_FRAMES)
        target = mixed[:, start:stop]
        for audio in layers.values():
            block = read_block(audio, start, stop)
            target[:, : block.shape[1]] += block
    return mixed


class _LayerFinisher:
    """finish(layer, gain_db, ...) -> the layer as it sits in the mix, spilled: its gain, a kick shelf
    (drums), the pump (music), the intro's low-pass and the song's fades, block by block (so each
    stem carries exactly what it adds to the mix)."""

    def __init__(self, song: Song, n: int, sample_rate: int):
        self.song, self.n, self.sample_rate = song, n, sample_rate
        beat_s = 60.0 / song.tempo_bpm
        self.fade_in = min(n, int(round(min(FADE_IN_BEATS * beat_s, FADE_IN_MAX_S) * sample_rate)))
        fade_out_s = min(song.length_seconds * FADE_OUT_SHARE, FADE_OUT_MAX_BEATS * beat_s) + TAIL_S
        self.fade_out = min(n, int(round(fade_out_s * sample_rate)))
        intro = next((s for s in song.sections if s.name == "intro"), None)
        # filter_intro's reach: the intro plus the half second its filter takes to open
        self.head = 0 if intro is None else min(n, int(intro.end * beat_s * sample_rate) + int(0.5 * sample_rate))
        # The fades' gain of each block a fade reaches, made once for all the layers (a few blocks).
        self._fades: dict[tuple[int, int], np.ndarray] = {}

    def fade(self, start: int, stop: int) -> np.ndarray | None:
        """The fades' gain over samples start..stop (float32), None where it is 1 throughout."""
        if not (start < self.fade_in or stop > self.n - self.fade_out):
            return None
        key = (start, stop)
        if key not in self._fades:  # two layers may make it at once: the same values either way
            self._fades[key] = fade_gain(start, stop, self.n, self.fade_in, self.fade_out)
        return self._fades[key]

    def __call__(self, layer, gain_db: float, *, duck=None, duck_db: float = 0.0, kick_shelf_db: float = 0.0,
                 intro: bool = True) -> SpilledAudio:
        from app.audio.levels import kick_shelf_part, kick_splitter

        gain = np.float32(10 ** (gain_db / 20)) if math.isfinite(gain_db) else np.float32(0.0)
        shelf = np.float32(10 ** (kick_shelf_db / 20) - 1)
        splitter = kick_splitter() if kick_shelf_db else None
        per_unit = np.float32(-duck_db * math.log(10) / 20)
        out = SpilledAudio()
        head = self.head if intro else 0
        edges = [0, head] if head else [0]
        edges = sorted(set(edges + list(range(edges[-1] + SPILL_BLOCK_FRAMES, self.n, SPILL_BLOCK_FRAMES)) + [self.n]))
        for start, stop in zip(edges, edges[1:]):
            source = read_block(layer, start, stop)
            if splitter is None and source.shape[1] == stop - start:
                block = np.multiply(source, gain)  # the copy and the gain in one pass
            else:
                block = np.zeros((2, stop - start), np.float32)
                block[:, : source.shape[1]] = source
                if splitter is not None:  # the kick shelf: the drums plus (shelf - 1) x their low band
                    block += kick_shelf_part(block, self.sample_rate, splitter) * shelf
                block *= gain
            if duck is not None and duck_db:
                block *= np.exp(duck(start, stop) * per_unit)
            if start == 0 and head:
                filter_intro(block, self.song, sample_rate=self.sample_rate)
            fade = self.fade(start, stop)
            if fade is not None:
                block *= fade
            out.append(block, owned=True)
        return out


# The room: a short, damped room (pedalboard's Freeverb) fed by the keys and the drums' snare/hats
# band (the kick stays dry), its return high-passed so it never muddies the low end.
ROOM_SIZE = 0.3
ROOM_DAMPING = 0.6
ROOM_RETURN_HIGHPASS_HZ = 250.0
KEY_PARTS = ("chords", "melody")
# The room is made in two halves side by side (tracks up to SIDE_BY_SIDE_MAX_BYTES; the seam is the
# spill block nearest the middle, so both constants place it). The second half's reverb, kick
# splitter and high-pass first run over this much of the send before it (output dropped), so it starts
# with the room already ringing as the first half left it. Freeverb's combs at this room size lose
# 2 dB per ~35 ms loop: after 3 s the halves' states differ by ~170 dB, under float32's resolution
# (the two filters forget far sooner).
ROOM_PREROLL_S = 3.0


def room_return(song: Song, layers: dict, kit_name: str | None, room_db: float, sample_rate: int):
    """The room return of the finished layers, as (the wet reverb, a SpilledAudio; the gain in dB that
    sets it at room_db from the loudness of the keys and drums where the melody plays): the keys and
    the drums above the kick through the reverb, wet only. None when nothing feeds it."""
    from app.audio.levels import section_frames
    from app.audio.master import integrated_lufs

    sends = [layers[p] for p in KEY_PARTS if p in layers]
    if kit_name:
        sends.append(layers[kit_name])
    if not sends:
        return None
    n = sends[0].shape[1]
    raw = SpilledAudio()
    # pedalboard releases the GIL, so two halves take one core each; the second half's blocks wait in
    # memory for the first, so a long track's room is made in one pass, block by block.
    middle = (n // 2) // SPILL_BLOCK_FRAMES * SPILL_BLOCK_FRAMES
    if middle and _side_by_side(n):
        with ThreadPoolExecutor(1, thread_name_prefix="room") as pool:
            second = pool.submit(lambda: list(room_wet(layers, kit_name, sample_rate, middle, n)))
            for block in room_wet(layers, kit_name, sample_rate, 0, middle):
                raw.append(block, owned=True)
            for block in second.result():
                raw.append(block, owned=True)
    else:
        for block in room_wet(layers, kit_name, sample_rate, 0, n):
            raw.append(block, owned=True)
    frames = section_frames(song, {"melody"}, n, sample_rate) or [(0, n)]
    dry = sum(excerpt(layers[k], frames) for k in (*KEY_PARTS, kit_name) if k in layers)  # only where measured
    wet = excerpt(raw, frames)
    if dry.shape[1] < 0.4 * sample_rate:
        raw.close()
        return None
    dry_lufs, wet_lufs = integrated_lufs(dry, sample_rate), integrated_lufs(wet, sample_rate)
    if not (math.isfinite(dry_lufs) and math.isfinite(wet_lufs)):
        raw.close()
        return None
    return raw, dry_lufs + room_db - wet_lufs


def room_wet(layers: dict, kit_name: str | None, sample_rate: int, first: int, stop: int):
    """The room's wet return (before its gain) of frames first..stop, yielded in spill blocks: the keys
    and the drums above the kick through the reverb, which first runs over the ROOM_PREROLL_S before
    `first`."""
    import pedalboard

    from app.audio.levels import kick_shelf_part, kick_splitter

    reverb = pedalboard.Pedalboard([
        pedalboard.Reverb(room_size=ROOM_SIZE, damping=ROOM_DAMPING, wet_level=1.0, dry_level=0.0, width=1.0),
        pedalboard.HighpassFilter(cutoff_frequency_hz=ROOM_RETURN_HIGHPASS_HZ)])
    splitter = kick_splitter()

    def wet(start: int, end: int) -> np.ndarray:
        send = sum(read_block(layers[p], start, end) for p in KEY_PARTS if p in layers)
        if kit_name:
            drums = read_block(layers[kit_name], start, end)
            send = send + drums - kick_shelf_part(drums, sample_rate, splitter)
        return reverb(np.asarray(send, np.float32), sample_rate, reset=False)

    if first > 0:
        wet(max(0, first - int(ROOM_PREROLL_S * sample_rate)), first)
    for start in range(first, stop, SPILL_BLOCK_FRAMES):
        yield wet(start, min(stop, start + SPILL_BLOCK_FRAMES))


def split_drums(stems: dict[str, np.ndarray], sample_rate: int = SAMPLE_RATE):
    """(the music stems, the 'drums' stem through the drum bus or None): the generated drums are a
    layer over the music, not part of its lo-fi bus."""
    if "drums" not in stems:
        return stems, None
    music = {name: audio for name, audio in stems.items() if name != "drums"}
    # One float32 copy of the drums, the bus applied in place, spilled again: the drums add one
    # track-length buffer at most while the bus runs.
    source = stems["drums"]
    drums = (np.array(source, dtype=np.float32, order="C") if isinstance(source, np.ndarray)
             else source.read(0, source.shape[1]))
    drum_bus().process_in_place(drums, sample_rate)
    return music, spill(drums, owned=True)


def _beat_layer(song: Song, beat: EffectFile, n: int, sample_rate: int) -> SpilledAudio:
    """The beat loop on the song's grid, n samples, gated by section_gain: spilled to disk."""
    from app.audio.loops import beat_track

    audio = beat_track(beat, song.tempo_bpm, n, sample_rate)
    for start in range(0, n, SPILL_BLOCK_FRAMES):
        stop = min(n, start + SPILL_BLOCK_FRAMES)
        audio[:, start:stop] *= section_gain(song, "beat", n, sample_rate=sample_rate, start=start, stop=stop)
    return spill(audio, owned=True)


def _bed_layer(beds: list[tuple[SpilledAudio, float]], staging: Staging) -> SpilledAudio:
    """The ambience layer: the beds summed at the gains staging chose for them, block by block."""
    gains = [np.float32(10 ** (staging.gains_db[f"ambience{k}"] / 20)) if math.isfinite(staging.gains_db[f"ambience{k}"])
             else np.float32(0.0) for k in range(len(beds))]
    out = SpilledAudio()
    for start in range(0, beds[0][0].shape[1], SPILL_BLOCK_FRAMES):
        total = 0
        for (audio, _), gain in zip(beds, gains):
            total = total + read_block(audio, start, start + SPILL_BLOCK_FRAMES) * gain
        out.append(total, owned=True)
    return out


def section_gain(song: Song, layer: str, n: int, ramp_s: float = 0.05,
                 sample_rate: int = SAMPLE_RATE, *, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Gain per sample, 1 where the song's sections play `layer` and 0 elsewhere, with short
    linear ramps at each change (so a beat never clicks in or out). Reads Section.layers.
    start, stop: only samples start..stop of the n (float32 (stop - start,))."""
    spb = 60.0 / song.tempo_bpm * sample_rate
    ramp = ramp_s * sample_rate
    times, values = [0.0], [0.0]
    for s in song.sections:
        on = 1.0 if layer in s.layers else 0.0
        at = s.start * spb
        if on != values[-1]:
            times += [max(times[-1], at - ramp / 2), at + ramp / 2]
            values += [values[-1], on]
    times.append(float(n))
    values.append(values[-1])
    stop = n if stop is None else stop
    # float32 sample positions, as np.arange(n, dtype=np.float32) rounds them (past 2**24, to even)
    positions = np.arange(start, stop, dtype=np.int64).astype(np.float32)
    return np.interp(positions, times, values).astype(np.float32)


def filter_intro(mixed: np.ndarray, song: Song, cutoff_hz: float = INTRO_CUTOFF_HZ,
                 sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The intro plays through a low-pass that opens over a second when the groove starts
    (filters the mix in place: only the chords and the ambience sound in the intro)."""
    from app.audio.fx import lowpass

    intro = next((s for s in song.sections if s.name == "intro"), None)
    if intro is None:
        return mixed
    end = int(intro.end * 60.0 / song.tempo_bpm * sample_rate)
    fade = min(end, int(0.5 * sample_rate))
    head = mixed[:, :end + fade]
    wet = np.ones(head.shape[1], dtype=np.float32)
    wet[end - fade:] = np.linspace(1, 0, 2 * fade, dtype=np.float32)[:head.shape[1] - (end - fade)]
    mixed[:, :head.shape[1]] = lowpass(cutoff_hz)(head, sample_rate) * wet + head * (1 - wet)
    return mixed
