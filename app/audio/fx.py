"""The lo-fi chain as effect callables.

Every effect has one signature, `effect(audio, sample_rate) -> audio`: float32 arrays shaped
(channels, samples), the pedalboard convention. Parameters are keyword arguments with units in their
names; a `Chain` is a list of effects that is itself callable; presets are plain data (`PRESETS`).

    from app.audio.fx import lofi_chain
    chain = lofi_chain("dusty", lowpass_hz=3500)
    music = chain(music, 44100)

Speed matters (a 3-minute stereo bus goes through the chain on every render), so the per-sample work is
numpy, and scipy.signal's compiled filter loops without importing scipy.signal (app/audio/filters.py),
done in cache-sized chunks over a small thread pool; pedalboard's plugins cost ~70 ms of overhead per
call on a 3-minute track before doing anything, so they are not used here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.audio.blocks import (  # noqa: F401 - run_chunked and map_channels are used from here too
    _CHUNK_FRAMES, _pool, map_channels, run_chunked, run_chunked_in_place, sosfilt_in_place)
from app.errors import BadValueError

NOISE_SEED = 1  # Hiss draws the same noise on every render: the same seed gives the same audio


def as_stereo(audio, name: str = "audio") -> np.ndarray:
    """Return `audio` as float32 (2, n): mono (n,) or (1, n) is duplicated; (2, n) passes through."""
    arr = np.asarray(audio)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] not in (1, 2):
        raise BadValueError(f"{name} must be shaped (2, samples) or (samples,), got {arr.shape}")
    if arr.shape[0] == 1:
        arr = np.repeat(arr, 2, axis=0)
    return np.ascontiguousarray(arr, dtype=np.float32)


def _check_audio(audio) -> np.ndarray:
    arr = np.asarray(audio)
    if arr.ndim != 2:
        raise BadValueError(f"audio must be shaped (channels, samples), got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _check_cutoff(name: str, value: float, sample_rate: int) -> None:
    if not 0 < value < sample_rate / 2:
        raise BadValueError(f"{name} must be between 0 and {sample_rate / 2:g} Hz, got {value:g}")


# --- effects ---------------------------------------------------------------------------------------


@dataclass
class ToneFilter:
    """Gentle high-pass plus the tone low-pass, both Butterworth, run as one IIR pass.

    One pass over the track costs about the same as one filter, so the two share it. `None` disables
    either side. Defaults: 6 dB/octave high-pass at 40 Hz, 24 dB/octave low-pass at 5 kHz.
    """

    highpass_hz: float | None = 40.0
    lowpass_hz: float | None = 5000.0
    highpass_order: int = 1
    lowpass_order: int = 4

    def sos(self, sample_rate: int) -> np.ndarray | None:
        """Second-order sections (float32) for this sample rate, or None when both sides are off."""
        from app.audio.filters import butter_sos

        sections = []
        if self.highpass_hz:
            _check_cutoff("highpass_hz", self.highpass_hz, sample_rate)
            sections.append(butter_sos(self.highpass_order, self.highpass_hz, "highpass", sample_rate))
        if self.lowpass_hz:
            _check_cutoff("lowpass_hz", self.lowpass_hz, sample_rate)
            sections.append(butter_sos(self.lowpass_order, self.lowpass_hz, "lowpass", sample_rate))
        return np.vstack(sections).astype(np.float32) if sections else None

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        out = _check_audio(audio).copy()
        self.process_in_place(out, sample_rate)
        return out

    def process_in_place(self, audio: np.ndarray, sample_rate: int) -> None:
        """As __call__, overwriting audio (float32 (channels, n), contiguous); same samples."""
        sos = self.sos(sample_rate)
        if sos is not None:
            sosfilt_in_place(sos, audio)

    def reset(self) -> None:
        """Stateless: each call filters the whole track from silence."""


def lowpass(cutoff_hz: float = 5000.0, order: int = 4) -> ToneFilter:
    """A tone low-pass alone (Butterworth, 6*order dB/octave)."""
    return ToneFilter(highpass_hz=None, lowpass_hz=cutoff_hz, lowpass_order=order)


def highpass(cutoff_hz: float = 40.0, order: int = 1) -> ToneFilter:
    """A high-pass alone (Butterworth, 6*order dB/octave); clears rumble and DC."""
    return ToneFilter(highpass_hz=cutoff_hz, lowpass_hz=None, highpass_order=order)


@dataclass
class TapeSaturation:
    """Soft clip like tape: y = (tanh(k*x + b) - tanh(b)) / (k * (1 - tanh(b)**2)), then makeup gain.

    k = 10**(drive_db/20). The division keeps small signals at unity gain, so only peaks are rounded
    off; `bias` tilts the curve a little for the even harmonics tape adds (its DC goes with the
    high-pass that follows in the chain).
    """

    drive_db: float = 4.0
    makeup_db: float = 0.0
    bias: float = 0.05

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        audio = _check_audio(audio)
        if self.drive_db <= 0 and self.makeup_db == 0:
            return audio.copy()
        out = np.empty_like(audio)
        self._saturate(audio, out)
        return out

    def process_in_place(self, audio: np.ndarray, sample_rate: int) -> None:
        """As __call__, overwriting audio (float32 (channels, n)); same samples."""
        if self.drive_db > 0 or self.makeup_db != 0:
            self._saturate(audio, audio)

    def _saturate(self, audio: np.ndarray, out: np.ndarray) -> None:
        drive = np.float32(10 ** (max(self.drive_db, 0.0) / 20))
        bias = np.float32(self.bias)
        offset = np.float32(math.tanh(self.bias))
        scale = np.float32(10 ** (self.makeup_db / 20) / (float(drive) * (1 - float(offset) ** 2)))

        def work(start, stop):
            block = out[:, start:stop]
            np.multiply(audio[:, start:stop], drive, out=block)
            block += bias
            np.tanh(block, out=block)
            block -= offset
            block *= scale

        run_chunked(work, audio.shape[1])

    def reset(self) -> None:
        """Stateless."""


@dataclass
class WowFlutter:
    """Tape speed wobble: a fractional delay modulated by a slow (wow) and a fast (flutter) sine.

    The delay swings between 0 and 2*(wow_depth_ms + flutter_depth_ms), read with linear
    interpolation; the pitch deviation is 2*pi*rate*depth (0.5 Hz, 0.6 ms: about 0.2 %, 3 cents).
    """

    wow_rate_hz: float = 0.5
    wow_depth_ms: float = 0.6
    flutter_rate_hz: float = 6.0
    flutter_depth_ms: float = 0.06
    # Start phases (radians); two tape machines never wobble in step.
    wow_phase: float = 0.0
    flutter_phase: float = 1.3

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        audio = _check_audio(audio)
        if self._is_still():
            return audio.copy()
        out = np.empty_like(audio)

        def work(start, stop):
            out[:, start:stop] = self._block(audio, 0, start, stop, sample_rate)

        run_chunked(work, audio.shape[1])
        return out

    def process_in_place(self, audio: np.ndarray, sample_rate: int) -> None:
        """As __call__, overwriting audio (float32 (channels, n)); same samples."""
        if self._is_still():
            return
        longest = 2 * (self.wow_depth_ms + self.flutter_depth_ms) * 1e-3 * sample_rate  # samples
        run_chunked_in_place(lambda source, base, start, stop: self._block(source, base, start, stop, sample_rate),
                             audio, history=math.ceil(longest) + 2)

    def _is_still(self) -> bool:
        """True when neither depth modulates (the audio passes unchanged); BadValueError for a
        negative depth beside a positive one."""
        if self.wow_depth_ms <= 0 and self.flutter_depth_ms <= 0:
            return True
        if self.wow_depth_ms < 0 or self.flutter_depth_ms < 0:
            raise BadValueError("wow_depth_ms and flutter_depth_ms must be >= 0")
        return False

    def _block(self, source: np.ndarray, base: int, start: int, stop: int, sample_rate: int) -> np.ndarray:
        """Output samples start..stop (a chunk of _CHUNK_FRAMES), read from source (its column 0 is
        sample `base` of the input)."""
        wow_amp = np.float32(self.wow_depth_ms * 1e-3 * sample_rate)  # samples
        flutter_amp = np.float32(self.flutter_depth_ms * 1e-3 * sample_rate)
        wow_step = 2 * math.pi * self.wow_rate_hz / sample_rate  # radians per sample
        flutter_step = 2 * math.pi * self.flutter_rate_hz / sample_rate
        m = stop - start
        ramp = np.arange(m, dtype=np.float32)
        # Phases restart from a float64 value per chunk, so float32 never accumulates error.
        wow_phase = np.float32((self.wow_phase + wow_step * start) % (2 * math.pi))
        flutter_phase = np.float32((self.flutter_phase + flutter_step * start) % (2 * math.pi))
        delay = np.sin(ramp * np.float32(wow_step) + wow_phase)
        delay += 1
        delay *= wow_amp
        wobble = np.sin(ramp * np.float32(flutter_step) + flutter_phase)
        wobble += 1
        wobble *= flutter_amp
        delay += wobble  # total delay in samples, >= 0
        whole = np.floor(delay)
        frac = delay - whole  # weight of the older sample
        newer = np.arange(start, stop, dtype=np.int64) - whole.astype(np.int64)
        older = newer - 1
        np.maximum(newer, 0, out=newer)
        np.maximum(older, 0, out=older)
        newer -= base
        older -= base
        out = np.empty((source.shape[0], m), np.float32)
        for ch in range(source.shape[0]):
            a = source[ch].take(newer)
            b = source[ch].take(older)
            b -= a
            b *= frac
            a += b
            out[ch] = a
        return out

    def reset(self) -> None:
        """Stateless: the modulation always starts at the configured phases."""


@dataclass
class BitCrush:
    """Quantise to `bit_depth` bits (no dither: the grit is the point)."""

    bit_depth: int = 12

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        audio = _check_audio(audio)
        self._check()
        out = np.empty_like(audio)
        self._crush(audio, out)
        return out

    def process_in_place(self, audio: np.ndarray, sample_rate: int) -> None:
        """As __call__, overwriting audio (float32 (channels, n)); same samples."""
        self._check()
        self._crush(audio, audio)

    def _check(self) -> None:
        if not 2 <= self.bit_depth <= 24:
            raise BadValueError(f"bit_depth must be 2..24, got {self.bit_depth}")

    def _crush(self, audio: np.ndarray, out: np.ndarray) -> None:
        steps = np.float32(2 ** (self.bit_depth - 1))
        inv = np.float32(1 / float(steps))

        def work(start, stop):
            block = out[:, start:stop]
            np.multiply(audio[:, start:stop], steps, out=block)
            np.rint(block, out=block)
            block *= inv

        run_chunked(work, audio.shape[1])

    def reset(self) -> None:
        """Stateless."""


@dataclass
class SampleHold:
    """Sample-rate reduction: hold every sample for sample_rate/downsample_hz samples (aliasing and all)."""

    downsample_hz: float = 22050.0

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        audio = _check_audio(audio)
        self._check(sample_rate)
        if self.downsample_hz == sample_rate:
            return audio.copy()
        out = np.empty_like(audio)

        def work(start, stop):
            out[:, start:stop] = self._block(audio, 0, start, stop, sample_rate)

        run_chunked(work, audio.shape[1])
        return out

    def process_in_place(self, audio: np.ndarray, sample_rate: int) -> None:
        """As __call__, overwriting audio (float32 (channels, n)); same samples."""
        self._check(sample_rate)
        if self.downsample_hz != sample_rate:
            run_chunked_in_place(lambda source, base, start, stop: self._block(source, base, start, stop, sample_rate),
                                 audio, history=math.ceil(sample_rate / self.downsample_hz) + 1)

    def _check(self, sample_rate: int) -> None:
        if not 0 < self.downsample_hz <= sample_rate:
            raise BadValueError(f"downsample_hz must be between 0 and {sample_rate}, got {self.downsample_hz:g}")

    def _block(self, source: np.ndarray, base: int, start: int, stop: int, sample_rate: int) -> np.ndarray:
        """Output samples start..stop read from source (its column 0 is input sample `base`)."""
        ratio = sample_rate / self.downsample_hz
        held = np.floor(np.floor(np.arange(start, stop) / ratio) * ratio).astype(np.int64) - base
        return np.stack([source[ch].take(held) for ch in range(source.shape[0])])

    def reset(self) -> None:
        """Stateless."""


@dataclass
class Hiss:
    """A noise floor: white noise at level_dbfs RMS per channel added to the audio, drawn from `seed`
    (the same every call, so a render repeats); the filters after it in a chain shape it like tape
    or a sampler's hiss."""

    level_dbfs: float = -50.0
    seed: int = NOISE_SEED

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        out = _check_audio(audio).copy()
        self.process_in_place(out, sample_rate)
        return out

    def process_in_place(self, audio: np.ndarray, sample_rate: int) -> None:
        """As __call__, adding to audio (float32 (channels, n)) block by block; same samples."""
        if self.level_dbfs >= 0:
            raise BadValueError(f"noise level must be below 0 dBFS, got {self.level_dbfs:g}")
        level = np.float32(10 ** (self.level_dbfs / 20))
        rng = np.random.default_rng(self.seed)
        channels, n = audio.shape
        for start in range(0, n, _CHUNK_FRAMES):  # in order: the noise does not depend on threads
            stop = min(n, start + _CHUNK_FRAMES)
            audio[:, start:stop] += rng.standard_normal((channels, stop - start), np.float32) * level

    def reset(self) -> None:
        """Stateless: every call draws the same noise."""


def fade(audio: np.ndarray, sample_rate: int, fade_in_s: float = 0.0, fade_out_s: float = 0.0, *,
         in_place: bool = False) -> np.ndarray:
    """Return a copy of `audio` (channels, n) with equal-power fades (sin/cos quarter waves); with
    in_place, fade audio itself (float32, contiguous) and return it.

    The first sample of a fade-in and the last of a fade-out are exactly zero; fades longer than the
    audio are cut to its length.
    """
    if fade_in_s < 0 or fade_out_s < 0:
        raise BadValueError("fade lengths must be >= 0 seconds")
    out = audio if in_place else _check_audio(audio).copy()
    n = out.shape[1]
    n_in = min(n, int(round(fade_in_s * sample_rate)))
    n_out = min(n, int(round(fade_out_s * sample_rate)))
    if n_in > 1:
        out[:, :n_in] *= fade_gain(0, n_in, n, n_in, 0)
    if n_out > 1:
        out[:, n - n_out:] *= fade_gain(n - n_out, n, n, 0, n_out)
    return out


def fade_gain(start: int, stop: int, n: int, fade_in: int, fade_out: int) -> np.ndarray:
    """The gain of `fade` over samples start..stop of an n-sample signal (float32): a sine quarter
    wave over the first fade_in samples, a cosine one over the last fade_out (its last sample exactly
    0), 1 between. Block by block, a long layer is faded without being held whole."""
    index = np.arange(start, stop, dtype=np.float64)
    gain = np.ones(stop - start)
    if fade_in > 1:
        inside = index < fade_in
        gain[inside] = np.sin(index[inside] / (fade_in - 1) * (np.pi / 2))
    if fade_out > 1:
        first = n - fade_out
        inside = index >= first
        gain[inside] *= np.cos((index[inside] - first) / (fade_out - 1) * (np.pi / 2))
        gain[index == n - 1] = 0.0  # cos(pi/2) in floating point is 6e-17, not silence
    return gain.astype(np.float32)


@dataclass
class Fade:
    """`fade` as a chain effect."""

    fade_in_s: float = 0.0
    fade_out_s: float = 0.0

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        return fade(audio, sample_rate, self.fade_in_s, self.fade_out_s)

    def reset(self) -> None:
        """Stateless."""


# --- ducking ----------------------------------------------------------------------------------------


def upsample_linear(values: np.ndarray, factor: int, n: int) -> np.ndarray:
    """Linearly interpolate a control-rate curve (one value per `factor` samples) to `n` samples (float32).

    values[k] sits at sample k*factor; the last value is held past the end.
    """
    values = np.asarray(values, dtype=np.float32)
    nxt = np.append(values[1:], values[-1:])
    ramp = np.arange(factor, dtype=np.float32) / np.float32(factor)
    curve = values[:, None] + (nxt - values)[:, None] * ramp[None, :]
    curve = curve.ravel()
    if curve.size < n:
        curve = np.concatenate([curve, np.full(n - curve.size, values[-1], np.float32)])
    return curve[:n]


def upsample_linear_range(values: np.ndarray, factor: int, start: int, stop: int) -> np.ndarray:
    """upsample_linear(values, factor, n)[start:stop] (any n >= stop), computing only that range."""
    values = np.asarray(values)
    first, last = start // factor, min(values.size, -(-stop // factor))
    # Only the values this range needs become float32: a track-long float64 curve (a gain or duck
    # envelope) is read range by range, and converting it whole every time cost more than the rest.
    hold = values[-1:].astype(np.float32)
    nxt = np.append(values[first + 1:last + 1].astype(np.float32), hold)[: last - first]
    ramp = np.arange(factor, dtype=np.float32) / np.float32(factor)
    part = values[first:last].astype(np.float32, copy=False)
    curve = (part[:, None] + (nxt - part)[:, None] * ramp[None, :]).ravel()[start - first * factor:]
    if curve.size < stop - start:
        curve = np.concatenate([curve, np.full(stop - start - curve.size, hold[0], np.float32)])
    return curve[: stop - start]


def kick_envelope(
    beat_audio: np.ndarray,
    sample_rate: int,
    bpm: float | None = None,
    *,
    cutoff_hz: float = 150.0,
    attack_ms: float = 5.0,
    release_ms: float = 120.0,
) -> np.ndarray:
    """Envelope 0..1 of the beat's kick: the low band (< cutoff_hz) followed with a fast attack and a
    slower exponential release. Returns float32 (n,), one value per sample of `beat_audio`.

    With `bpm`, the release is capped at 40 % of a beat so the music is back up before the next kick.
    A beat without low end gives a small envelope (it is scaled against the beat's full-band peak).
    """
    env, factor = kick_envelope_control(beat_audio, sample_rate, bpm, cutoff_hz=cutoff_hz, attack_ms=attack_ms,
                                        release_ms=release_ms)
    return upsample_linear(env, factor, beat_audio.shape[-1]) if env.size else np.zeros(0, np.float32)


def kick_envelope_control(beat_audio, sample_rate: int, bpm: float | None = None, *, cutoff_hz: float = 150.0,
                          attack_ms: float = 5.0, release_ms: float = 120.0) -> tuple[np.ndarray, int]:
    """kick_envelope at its control rate: (values, factor), one value per `factor` samples; expand
    with upsample_linear or upsample_linear_range. beat_audio may be a SpilledAudio (read in blocks)."""
    from app.audio.filters import butter_sos, one_pole_lowpass, sosfilt
    from app.audio.spill import SpilledAudio

    spilled = isinstance(beat_audio, SpilledAudio)
    beat = beat_audio if spilled else (_check_audio(beat_audio) if np.ndim(beat_audio) == 2
                                       else as_stereo(beat_audio, "beat"))
    n = beat.shape[1]
    # Work at ~4 kHz: block means are a crude anti-alias filter, fine for an envelope, and 11x cheaper.
    factor = max(1, int(sample_rate // 4000))
    if n == 0:
        return np.zeros(0, np.float64), factor
    if bpm:
        release_ms = min(release_ms, 0.4 * 60_000.0 / bpm)
    control_rate = sample_rate / factor
    mono = _control_rate_mono(beat, factor)
    low = np.abs(sosfilt(butter_sos(4, cutoff_hz, "lowpass", control_rate), mono))
    # Peak detector with exponential release, without a Python loop:
    # held[k] = max_j low[j] * exp(-(k - j)/tau) = exp(-k/tau + cummax(log low[j] + j/tau)).
    tau = max(release_ms * 1e-3 * control_rate, 1e-3)
    k = np.arange(low.size) / tau
    with np.errstate(divide="ignore"):
        held = np.exp(np.maximum.accumulate(np.log(low) + k) - k)
    # Attack: a one-pole smoother (time constant attack_ms) on the held peaks.
    pole = math.exp(-1.0 / max(attack_ms * 1e-3 * control_rate, 1e-3))
    env = one_pole_lowpass(held, pole)
    beat_peak = beat.peak if spilled else float(np.abs(beat).max())
    reference = max(float(env.max()), 0.25 * beat_peak, 1e-9)
    return np.clip(env / reference, 0.0, 1.0), factor


def _control_rate_mono(beat, factor: int, block_frames: int = 1 << 18) -> np.ndarray:
    """The mean of both channels over every `factor` samples (float64, zero-padded at the end),
    block by block so a spilled beat is never read whole."""
    from app.audio.spill import read_block

    n = beat.shape[1]
    block_frames -= block_frames % factor
    parts = []
    for start in range(0, n, block_frames):
        block = read_block(beat, start, start + block_frames)
        m = block.shape[1]
        mono = np.zeros(-(-m // factor) * factor, np.float32)
        np.add(block[0], block[-1], out=mono[:m])
        parts.append(mono.reshape(-1, factor).mean(axis=1, dtype=np.float64) * 0.5)
    return np.concatenate(parts)


def duck(music: np.ndarray, kick_envelope: np.ndarray, depth_db: float = 3.0) -> np.ndarray:
    """Return `music` (channels, n) turned down by depth_db * envelope dB: gain = 10**(-depth_db*env/20).

    `kick_envelope` is (n,) 0..1 from `kick_envelope()`; it is cut or zero-padded to the music's length.
    """
    music = _check_audio(music)
    n = music.shape[1]
    env = np.asarray(kick_envelope, dtype=np.float32).ravel()
    if env.size < n:
        env = np.concatenate([env, np.zeros(n - env.size, np.float32)])
    env = env[:n]
    if depth_db == 0:
        return music.copy()
    per_unit = np.float32(-depth_db * math.log(10) / 20)
    out = np.empty_like(music)

    def work(start, stop):
        gain = np.exp(env[start:stop] * per_unit)
        np.multiply(music[:, start:stop], gain, out=out[:, start:stop])

    run_chunked(work, n)
    return out


# --- chains and presets -----------------------------------------------------------------------------


class Chain(list):
    """A list of effects that is itself an effect: chain(audio, sample_rate) runs them in order."""

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        for effect in self:
            audio = effect(audio, sample_rate)
        return audio

    def process_in_place(self, audio: np.ndarray, sample_rate: int) -> None:
        """Run the chain over audio (float32 (channels, n), contiguous), overwriting it: same samples
        as __call__ without a full-length copy per effect (effects without process_in_place are
        called and their result copied back)."""
        for effect in self:
            if hasattr(effect, "process_in_place"):
                effect.process_in_place(audio, sample_rate)
            else:
                audio[...] = effect(audio, sample_rate)

    def reset(self) -> None:
        for effect in self:
            if hasattr(effect, "reset"):
                effect.reset()


# Presets are data: every preset names every parameter, so a wizard can list and show them.
# None / 0 switch a stage off. The chain's parameters (drive_db .. downsample_hz, noise_dbfs) colour
# the whole pre-master mix (master.finish_mix); pump_db is the music's side-chain duck under the kick and
# room_db the level of the room return (app/audio/mix.py); tilt_share the share of power above 1 kHz
# the master EQ aims for (master.tilt_eq; None = no tilt).
PRESETS: dict[str, dict] = {
    "clean": {
        "drive_db": 0.0, "makeup_db": 0.0, "highpass_hz": 30.0, "lowpass_hz": None,
        "wow_rate_hz": 0.5, "wow_depth_ms": 0.0, "flutter_rate_hz": 6.0, "flutter_depth_ms": 0.0,
        "highpass_order": 1, "lowpass_order": 4,
        "bit_depth": None, "downsample_hz": None, "noise_dbfs": None,
        "pump_db": 0.0, "room_db": None, "tilt_share": 0.14,
    },
    "default": {
        "drive_db": 4.0, "makeup_db": 0.0, "highpass_hz": 40.0, "lowpass_hz": 9000.0,
        "wow_rate_hz": 0.5, "wow_depth_ms": 0.6, "flutter_rate_hz": 6.0, "flutter_depth_ms": 0.06,
        "highpass_order": 1, "lowpass_order": 4,
        "bit_depth": None, "downsample_hz": None, "noise_dbfs": None,
        "pump_db": 3.0, "room_db": -16.0, "tilt_share": 0.12,
    },
    "dusty": {
        "drive_db": 6.0, "makeup_db": 0.0, "highpass_hz": 90.0, "lowpass_hz": 3500.0,
        "wow_rate_hz": 0.5, "wow_depth_ms": 0.9, "flutter_rate_hz": 6.0, "flutter_depth_ms": 0.08,
        "highpass_order": 1, "lowpass_order": 4,
        "bit_depth": 10, "downsample_hz": 11025.0, "noise_dbfs": -46.0,
        "pump_db": 3.0, "room_db": -18.0, "tilt_share": 0.05,
    },
    "tape": {
        "drive_db": 12.0, "makeup_db": -1.0, "highpass_hz": 40.0, "lowpass_hz": 7000.0,
        "wow_rate_hz": 0.6, "wow_depth_ms": 2.5, "flutter_rate_hz": 7.0, "flutter_depth_ms": 0.15,
        "highpass_order": 1, "lowpass_order": 4,
        "bit_depth": None, "downsample_hz": None, "noise_dbfs": -60.0,
        "pump_db": 4.0, "room_db": -16.0, "tilt_share": 0.08,
    },
    "cassette": {
        "drive_db": 8.0, "makeup_db": -0.5, "highpass_hz": 120.0, "lowpass_hz": 6000.0,
        "wow_rate_hz": 0.8, "wow_depth_ms": 1.2, "flutter_rate_hz": 9.0, "flutter_depth_ms": 0.2,
        "highpass_order": 2, "lowpass_order": 4,
        "bit_depth": None, "downsample_hz": None, "noise_dbfs": -50.0,
        "pump_db": 3.0, "room_db": -18.0, "tilt_share": 0.07,
    },
    "radio": {
        "drive_db": 10.0, "makeup_db": 0.0, "highpass_hz": 400.0, "lowpass_hz": 3000.0,
        "wow_rate_hz": 0.5, "wow_depth_ms": 0.0, "flutter_rate_hz": 6.0, "flutter_depth_ms": 0.0,
        "highpass_order": 4, "lowpass_order": 4,
        "bit_depth": 12, "downsample_hz": None, "noise_dbfs": -52.0,
        "pump_db": 5.0, "room_db": None, "tilt_share": None,
    },
}  # fmt: skip

PRESET_DESCRIPTIONS = {
    "clean": "no colour: rumble filter, master tilt, no pump",
    "default": "warm 9 kHz roll-off, light saturation, a little wow, room, 3 dB pump",
    "dusty": "band-limited 90 Hz-3.5 kHz, 10 bits at 11 kHz, hiss: a worn sampler",
    "tape": "driven tape (audible distortion), deep wow and flutter, tape hiss",
    "cassette": "a cassette deck: 120 Hz-6 kHz, fast wow and flutter, hiss",
    "radio": "an AM radio: 400 Hz-3 kHz, driven, 12 bits, strong pump",
}
# The parameters of a preset that build its chain (the others are read by the mix and the master).
CHAIN_PARAMETERS = ("drive_db", "makeup_db", "highpass_hz", "lowpass_hz", "wow_rate_hz", "wow_depth_ms",
                    "flutter_rate_hz", "flutter_depth_ms", "highpass_order", "lowpass_order", "bit_depth",
                    "downsample_hz", "noise_dbfs")


def format_presets() -> str:
    """The lo-fi presets, one line each with its description (for `effects` and --help)."""
    width = max(len(name) for name in PRESETS)
    return "\n".join([f"Lo-fi presets ({len(PRESETS)}, --lofi-preset):"]
                     + [f"  {name:<{width}}  {PRESET_DESCRIPTIONS[name]}" for name in PRESETS])


def preset_parameters(preset: str) -> dict:
    """A preset's parameters (a copy); BadValueError naming the presets for an unknown name."""
    if preset not in PRESETS:
        raise BadValueError(f"unknown lo-fi preset {preset!r}; choose from {', '.join(PRESETS)}")
    return dict(PRESETS[preset])


def lofi_chain(preset: str = "default", **overrides) -> Chain:
    """Build the lo-fi chain for a preset name from `PRESETS`, with any of its parameters overridden.

    Order: saturation -> hiss (the noise floor, band-limited with the music) -> tone filter (its
    high-pass also clears the saturation's DC) -> wow/flutter -> sample-rate reduction -> bit crush.
    Unknown preset or chain parameter names raise BadValueError.
    """
    p = preset_parameters(preset)
    unknown = sorted(set(overrides) - set(CHAIN_PARAMETERS))
    if unknown:
        raise BadValueError(f"unknown lo-fi parameter(s) {', '.join(unknown)}; known: {', '.join(CHAIN_PARAMETERS)}")
    p.update(overrides)
    chain = Chain()
    if p["drive_db"] or p["makeup_db"]:
        chain.append(TapeSaturation(drive_db=p["drive_db"], makeup_db=p["makeup_db"]))
    if p["noise_dbfs"] is not None:
        chain.append(Hiss(level_dbfs=p["noise_dbfs"]))
    if p["highpass_hz"] or p["lowpass_hz"]:
        chain.append(ToneFilter(highpass_hz=p["highpass_hz"], lowpass_hz=p["lowpass_hz"],
                                highpass_order=int(p["highpass_order"]), lowpass_order=int(p["lowpass_order"])))
    if p["wow_depth_ms"] or p["flutter_depth_ms"]:
        chain.append(
            WowFlutter(
                wow_rate_hz=p["wow_rate_hz"], wow_depth_ms=p["wow_depth_ms"],
                flutter_rate_hz=p["flutter_rate_hz"], flutter_depth_ms=p["flutter_depth_ms"],
            )
        )  # fmt: skip
    if p["downsample_hz"]:
        chain.append(SampleHold(downsample_hz=p["downsample_hz"]))
    if p["bit_depth"]:
        chain.append(BitCrush(bit_depth=int(p["bit_depth"])))
    return chain
