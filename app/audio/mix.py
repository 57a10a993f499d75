"""Layering: the music stems become one bus, the lo-fi chain colours it, and pydub lays the beat and the
ambience over it.

    from app.audio.mix import mix_track
    mixed = mix_track({"melody": m, "chords": c, "bass": b}, beat=loop, ambience=[(rain, -18.0)])

Levels: the music bus is set to MUSIC_BUS_RMS_DBFS (-18 dBFS RMS) before layering, and every layer's
level (beat_gain_db, each ambience level_db) is in dB relative to that bus RMS, so a layer's level does
not depend on how loud its WAV happened to be recorded. Mastering sets the final loudness afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from app.config import SAMPLE_RATE, TAIL_S
from app.errors import BadValueError
from app.audio.drum_bus import DRUM_GAIN_DB, drum_bus
from app.audio.fx import as_stereo, duck, kick_envelope, lofi_chain, run_chunked

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
    flat = audio.ravel()
    return math.sqrt(float(np.dot(flat, flat)) / max(flat.size, 1))


def _peak(audio: np.ndarray) -> float:
    return max(float(audio.max(initial=0.0)), -float(audio.min(initial=0.0)))


def sum_stems(stems: dict[str, np.ndarray], stem_gains_db: dict[str, float] | None = None) -> np.ndarray:
    """Sum stems (each (2, n) or mono) with gains in dB (defaults: DEFAULT_STEM_GAINS_DB, others 0 dB).

    Shorter stems are zero-padded to the longest; returns float32 (2, n).
    """
    if not stems:
        raise BadValueError("no music stems to mix")
    gains = {**DEFAULT_STEM_GAINS_DB, **(stem_gains_db or {})}
    weighted = [
        (as_stereo(audio, f"stem {name!r}"), np.float32(10 ** (gains.get(name, 0.0) / 20)))
        for name, audio in stems.items()
    ]
    n = max(audio.shape[1] for audio, _ in weighted)
    bus = np.zeros((2, n), np.float32)

    def work(start, stop):
        target = bus[:, start:stop]
        for audio, gain in weighted:
            part = audio[:, start : min(stop, audio.shape[1])]
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
    music = sum_stems(stems, stem_gains_db)
    n = music.shape[1]
    if chain is None or isinstance(chain, str):
        chain = lofi_chain(chain or "default")
    music = np.asarray(chain(music, sample_rate), dtype=np.float32)
    if music.shape != (2, n):
        raise BadValueError(f"the lo-fi chain changed the bus shape from (2, {n}) to {music.shape}")

    bus_rms = _rms(music)
    target_rms = 10 ** (MUSIC_BUS_RMS_DBFS / 20)
    bus_gain = target_rms / bus_rms if bus_rms > 1e-9 else 1.0
    reference_rms = target_rms  # layers keep their level even over a silent bus

    layers = []  # (loop as given, linear gain); pydub loops each over the bus
    if beat is not None:
        beat_loop = as_stereo(beat, "beat")
        if duck_db:
            music = duck(music, _looped_kick_envelope(beat_loop, n, sample_rate, bpm), duck_db)
        layers.append((beat_loop[:, :n], _layer_gain(beat_loop[:, :n], reference_rms, beat_gain_db)))
    for item in ambience:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and np.ndim(item[1]) == 0):
            raise BadValueError("ambience must be a list of (audio, level_db) pairs")
        audio, level_db = item
        layer = as_stereo(audio, "ambience")[:, :n]
        layers.append((layer, _layer_gain(layer, reference_rms, float(level_db))))
    if any(audio.shape[1] == 0 for audio, _ in layers):
        raise BadValueError("a beat or ambience layer is empty")

    # Headroom: scale everything together if the layers' peaks could add up past -1 dBFS.
    sum_of_peaks = _peak(music) * bus_gain + sum(_peak(a) * g for a, g in layers)
    headroom = min(1.0, MAX_SUM_OF_PEAKS / sum_of_peaks) if sum_of_peaks > 0 else 1.0

    mixed = to_segment(music, sample_rate, gain=bus_gain * headroom)
    for audio, gain in layers:
        if gain > 0:
            mixed = mixed.overlay(to_segment(audio, sample_rate, gain=gain * headroom), loop=True)
    return from_segment(mixed)


def _layer_gain(audio: np.ndarray, reference_rms: float, level_db: float) -> float:
    """Linear gain that puts `audio`'s RMS level_db relative to reference_rms (silent layers: 0)."""
    rms = _rms(audio)
    if rms <= 1e-9:
        return 0.0
    return reference_rms * 10 ** (level_db / 20) / rms


# --- a song's mix: the layers its sections play, the intro filter, the fades ----------------------


@dataclass
class MixedSong:
    """A song's mix, ready to master, and the layers that went into it (written as stem WAVs)."""

    audio: np.ndarray  # float32 (2, n)
    layers: dict[str, np.ndarray]  # the music stems, then 'beat' and 'ambience' when present


def mix_song(song: Song, stems: dict[str, np.ndarray], beat: EffectFile | None = None,
             ambience: list[tuple[EffectFile, float]] = (), preset: str = "default",
             sample_rate: int = SAMPLE_RATE) -> MixedSong:
    """Mix a song's rendered stems with its beat loop (stretched to the tempo, playing only in the
    sections whose layers hold 'beat') and ambience layers ((effect, level_db)) through the lo-fi
    preset; then the intro filter and the fades. A 'drums' stem (the generated drums) goes through
    the drum bus and is laid over the music like a loop (the music ducks under its kick) rather than
    into the lo-fi chain. Returns the MixedSong, n = the stems' length."""
    from app.audio.fx import fade
    from app.audio.loops import ambience_track, beat_track

    n = next(iter(stems.values())).shape[1]
    stems, drums = split_drums(stems, sample_rate)
    beat_audio, drum_level = drums, {"beat_gain_db": DRUM_GAIN_DB} if drums is not None else {}
    if beat is not None:
        beat_audio = beat_track(beat, song.tempo_bpm, n, sample_rate) * section_gain(song, "beat", n,
                                                                                    sample_rate=sample_rate)
    beds = [(ambience_track(effect, n, sample_rate), level) for effect, level in ambience]
    mixed = mix_track(stems, beat=beat_audio, ambience=beds, chain=lofi_chain(preset),
                      sample_rate=sample_rate, bpm=song.tempo_bpm, **drum_level)
    mixed = filter_intro(mixed, song, sample_rate=sample_rate)
    beat_s = 60.0 / song.tempo_bpm
    mixed = fade(mixed, sample_rate, fade_in_s=min(FADE_IN_BEATS * beat_s, FADE_IN_MAX_S),
                 fade_out_s=min(song.length_seconds * FADE_OUT_SHARE, FADE_OUT_MAX_BEATS * beat_s) + TAIL_S)
    layers = dict(stems)
    if beat_audio is not None:
        layers["drums" if drums is not None else "beat"] = beat_audio
    if beds:
        layers["ambience"] = sum(a * np.float32(10 ** (lv / 20)) for a, lv in beds)
    return MixedSong(mixed, layers)


def split_drums(stems: dict[str, np.ndarray], sample_rate: int = SAMPLE_RATE):
    """(the music stems, the 'drums' stem through the drum bus or None): the generated drums are a
    layer over the music, not part of its lo-fi bus."""
    if "drums" not in stems:
        return stems, None
    music = {name: audio for name, audio in stems.items() if name != "drums"}
    return music, drum_bus()(stems["drums"], sample_rate)


def section_gain(song: Song, layer: str, n: int, ramp_s: float = 0.05,
                 sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Gain per sample, 1 where the song's sections play `layer` and 0 elsewhere, with short
    linear ramps at each change (so a beat never clicks in or out). Reads Section.layers."""
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
    return np.interp(np.arange(n, dtype=np.float32), times, values).astype(np.float32)


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
