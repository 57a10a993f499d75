"""The project's own default effects, synthesised from scratch (no third-party recordings).

    python -m app.audio.default_loops            # (re)writes app/effects/beats/*.wav and app/effects/ambience/*.wav

Three lo-fi drum loops at 72, 80 and 88 BPM (two bars each) and two loopable ambience beds, rain and
vinyl crackle. Everything is deterministic (fixed seeds), 16-bit stereo at 44.1 kHz, and written
atomically. Every loop is rendered circularly (tails that run past the end wrap onto the start, noise
beds are shaped in the frequency domain), so each file repeats without a seam.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app import paths
from app.config import SAMPLE_RATE
from app.files import atomic_path

KICK_PEAK_DBFS = -3.0  # loudest hit of a loop; leaves headroom for the mix
STEPS_PER_BAR = 16  # sixteenth notes in 4/4


@dataclass(frozen=True)
class BeatPattern:
    """A drum loop as data: per-bar lists of sixteenth-note steps (0..15) for each voice."""

    name: str
    bpm: float
    swing: float  # where the off-beat note falls within its pair: 0.5 straight, 0.58 lazy
    kick: tuple[tuple[int, ...], ...]
    snare: tuple[tuple[int, ...], ...]
    hats: tuple[tuple[int, ...], ...]
    ghost_snare: tuple[tuple[int, ...], ...] = ()
    open_hat: tuple[tuple[int, ...], ...] = ()
    rim: tuple[tuple[int, ...], ...] = ()
    shaker: tuple[tuple[int, ...], ...] = ()
    snare_delay_ms: float = 0.0  # laid-back snare, a touch behind the grid
    kick_hz: float = 50.0  # where the kick's pitch settles
    snare_decay_s: float = 0.14
    brushed: bool = False
    tone_hz: float = 9000.0  # final low-pass: lower is dustier
    swing_unit: int = 16  # swing the off-beat sixteenths (16) or the off-beat eighths (8)
    seed: int = 0
    bars: int = field(default=2)

    @property
    def file_name(self) -> str:
        return f"{self.name}_{self.bpm:g}bpm.wav"


EIGHTHS = (0, 2, 4, 6, 8, 10, 12, 14)
SIXTEENTHS = tuple(range(16))

DEFAULT_BEATS = (
    # Dusty boom-bap at 72: kick on 1 and the "and" of 3, brushed snare on 2 and 4, swung eighths.
    BeatPattern(
        name="dusty", bpm=72, swing=0.58, swing_unit=8, seed=72,
        kick=((0, 10), (0, 7, 10)),
        snare=((4, 12), (4, 12)),
        ghost_snare=((), (15,)),
        hats=(EIGHTHS, EIGHTHS + (15,)),
        snare_delay_ms=12.0, kick_hz=47.0, snare_decay_s=0.2, brushed=True, tone_hz=6500.0,
    ),
    # Classic boom-bap at 80: busier kick, tighter snare, swung sixteenth hats, an open hat to turn the bar.
    BeatPattern(
        name="boombap", bpm=80, swing=0.57, seed=80,
        kick=((0, 8, 11), (0, 6, 8, 11)),
        snare=((4, 12), (4, 12)),
        ghost_snare=((7,), (9,)),
        hats=(SIXTEENTHS, tuple(s for s in SIXTEENTHS if s != 14)),
        open_hat=((), (14,)),
        snare_delay_ms=6.0, kick_hz=52.0, snare_decay_s=0.12, tone_hz=8500.0,
    ),
    # Laid-back half-time at 88: snare only on beat 3, rim clicks and a soft shaker fill the space.
    BeatPattern(
        name="lazy", bpm=88, swing=0.6, swing_unit=8, seed=88,
        kick=((0, 11), (0, 3, 14)),
        snare=((8,), (8,)),
        hats=(EIGHTHS, EIGHTHS),
        rim=((12,), (5, 12)),
        shaker=(SIXTEENTHS, SIXTEENTHS),
        snare_delay_ms=15.0, kick_hz=45.0, snare_decay_s=0.24, brushed=True, tone_hz=7000.0,
    ),
)

RAIN_SECONDS = 12.0
VINYL_SECONDS = 10.8  # six turns of a record at 33 1/3 rpm, so the once-a-turn scratch loops too


def make_default_effects(folder: Path = paths.EFFECTS_DIR, sample_rate: int = SAMPLE_RATE) -> list[Path]:
    """Write the default beat loops to folder/beats/ and ambience to folder/ambience/.

    Returns the paths written (16-bit stereo WAVs at `sample_rate`).
    """
    folder = Path(folder)
    written = []
    for pattern in DEFAULT_BEATS:
        audio = render_beat(pattern, sample_rate)
        written.append(write_wav_16(folder / "beats" / pattern.file_name, audio, sample_rate))
    written.append(write_wav_16(folder / "ambience" / "rain.wav", render_rain(sample_rate), sample_rate))
    written.append(
        write_wav_16(folder / "ambience" / "vinyl_crackle.wav", render_vinyl(sample_rate), sample_rate)
    )
    return written


def write_wav_16(path: Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE, seed: int = 16) -> Path:
    """Write float (2, n) audio as 16-bit PCM with TPDF dither (seeded), atomically."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    scaled = np.asarray(audio, np.float64).T * 32767.0
    dither = rng.uniform(-0.5, 0.5, scaled.shape) + rng.uniform(-0.5, 0.5, scaled.shape)
    pcm = np.clip(np.round(scaled + dither), -32768, 32767).astype(np.int16)
    with atomic_path(path) as tmp:
        sf.write(os.fsencode(tmp), pcm, sample_rate, subtype="PCM_16", format="WAV")
    return Path(path)


# ---------------------------------------------------------------------------------------------
# Drum voices: each returns a mono float64 one-shot at `sr`.


def kick(sr: int, rng: np.random.Generator, settle_hz: float = 50.0, velocity: float = 1.0) -> np.ndarray:
    """Soft, round kick: a sine gliding down to settle_hz, a short click, gentle saturation."""
    t = np.arange(int(0.55 * sr)) / sr
    drop_hz, drop_s = 70.0, 0.03
    phase = 2 * np.pi * (settle_hz * t + drop_hz * drop_s * (1 - np.exp(-t / drop_s)))
    body = np.sin(phase) * np.exp(-t / 0.16) * np.minimum(1.0, t / 0.0015)
    click = _band(rng.standard_normal(t.size), sr, 800, 4000) * np.exp(-t / 0.0025) * 0.35
    return velocity * np.tanh(1.8 * (body + click)) / np.tanh(1.8)


def snare(sr: int, rng: np.random.Generator, decay_s: float = 0.14, brushed: bool = False,
          velocity: float = 1.0) -> np.ndarray:
    """Dusty snare: band-passed noise with a slow decay over a little tonal body.

    Brushed: a softer, slower attack (a sweep rather than a crack).
    """
    t = np.arange(int(0.6 * sr)) / sr
    attack_s = 0.012 if brushed else 0.002
    envelope = np.minimum(1.0, t / attack_s) * np.exp(-t / decay_s)
    noise = _band(rng.standard_normal(t.size), sr, 900 if brushed else 1500, 6500) * envelope
    noise += _band(rng.standard_normal(t.size), sr, 300, 1200) * envelope * 0.4
    body = np.sin(2 * np.pi * 185.0 * t) * np.exp(-t / 0.05) * (0.25 if brushed else 0.45)
    out = noise / (np.abs(noise).max() + 1e-12) + body
    return velocity * 0.8 * out / np.abs(out).max()


def hat(sr: int, rng: np.random.Generator, open_: bool = False, velocity: float = 1.0) -> np.ndarray:
    """Closed (or open) hat: high-passed noise with a short (long) decay."""
    t = np.arange(int((0.45 if open_ else 0.12) * sr)) / sr
    decay = 0.14 if open_ else 0.022
    noise = _band(rng.standard_normal(t.size), sr, 7000, 15000) * np.exp(-t / decay)
    return velocity * 0.6 * noise / np.abs(noise).max()


def rim(sr: int, rng: np.random.Generator, velocity: float = 1.0) -> np.ndarray:
    """Rim click: a woody ping (two damped partials) with a tiny noise tick."""
    t = np.arange(int(0.1 * sr)) / sr
    ping = (np.sin(2 * np.pi * 480 * t) + 0.6 * np.sin(2 * np.pi * 1750 * t)) * np.exp(-t / 0.018)
    tick = _band(rng.standard_normal(t.size), sr, 2000, 8000) * np.exp(-t / 0.002) * 0.5
    out = ping + tick
    return velocity * 0.5 * out / np.abs(out).max()


def shaker(sr: int, rng: np.random.Generator, velocity: float = 1.0) -> np.ndarray:
    """Shaker: band-passed noise with a soft attack."""
    t = np.arange(int(0.12 * sr)) / sr
    envelope = np.minimum(1.0, t / 0.012) * np.exp(-t / 0.035)
    noise = _band(rng.standard_normal(t.size), sr, 4500, 11000) * envelope
    return velocity * 0.3 * noise / np.abs(noise).max()


def _band(signal: np.ndarray, sr: int, low_hz: float, high_hz: float, order: int = 2) -> np.ndarray:
    from app.audio.filters import butter_sos, sosfilt

    high_hz = min(high_hz, 0.45 * sr)
    sos = butter_sos(order, [low_hz, high_hz], "bandpass", sr)
    return sosfilt(sos, signal)


# ---------------------------------------------------------------------------------------------
# Beat loops


def step_time_beats(step: int, swing: float, unit: int = 16) -> float:
    """Time in beats of sixteenth `step` (0..15) within a bar, swung.

    unit=16: each off-beat sixteenth falls at `swing` of its eighth (0.58 -> 0.29 beat after it).
    unit=8: each off-beat eighth falls at `swing` of its beat; sixteenths between sit halfway.
    """
    if unit == 8:
        beat, within = divmod(step, 4)
        return beat + (0.0, swing / 2, swing, (1 + swing) / 2)[within]
    pair, offbeat = divmod(step, 2)
    return pair * 0.5 + (swing * 0.5 if offbeat else 0.0)


def render_beat(pattern: BeatPattern, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The loop for `pattern`: float (2, n), n = bars at its BPM, loudest peak at KICK_PEAK_DBFS."""
    rng = np.random.default_rng(pattern.seed)
    beat_samples = 60.0 / pattern.bpm * sample_rate
    length = int(round(pattern.bars * 4 * beat_samples))
    loop = np.zeros((2, length))

    def hits(steps_per_bar, make, pan=0.0, delay_ms=0.0, jitter_ms=0.0, accent=None):
        for bar, steps in enumerate(steps_per_bar):
            for step in steps:
                beats = bar * 4 + step_time_beats(step, pattern.swing, pattern.swing_unit)
                offset_ms = delay_ms + (rng.uniform(-jitter_ms, jitter_ms) if jitter_ms else 0.0)
                start = int(round(beats * beat_samples + offset_ms * sample_rate / 1000))
                velocity = accent(step) if accent else 1.0
                _add_circular(loop, make(velocity), start, pan)

    # Velocity variation: downbeat eighths strongest, off-eighths softer, swung sixteenths softest.
    def hat_accent(step):
        base = 0.85 if step % 4 == 0 else 0.62 if step % 2 == 0 else 0.42
        return base * rng.uniform(0.8, 1.1)

    hits(pattern.kick, lambda v: kick(sample_rate, rng, pattern.kick_hz, v),
         accent=lambda s: 1.0 if s in (0, 8) else 0.85)
    hits(pattern.snare, lambda v: snare(sample_rate, rng, pattern.snare_decay_s, pattern.brushed, v),
         delay_ms=pattern.snare_delay_ms, accent=lambda s: rng.uniform(0.9, 1.0))
    hits(pattern.ghost_snare, lambda v: snare(sample_rate, rng, 0.06, pattern.brushed, v),
         delay_ms=pattern.snare_delay_ms, accent=lambda s: 0.25)
    hits(pattern.hats, lambda v: hat(sample_rate, rng, False, v), pan=0.25, jitter_ms=4.0, accent=hat_accent)
    hits(pattern.open_hat, lambda v: hat(sample_rate, rng, True, v), pan=0.25, accent=lambda s: 0.5)
    hits(pattern.rim, lambda v: rim(sample_rate, rng, v), pan=-0.3, delay_ms=8.0,
         accent=lambda s: rng.uniform(0.45, 0.6))
    hits(pattern.shaker, lambda v: shaker(sample_rate, rng, v), pan=-0.4, jitter_ms=3.0,
         accent=lambda s: (0.5 if s % 2 else 0.32) * rng.uniform(0.8, 1.1))

    loop = _low_pass_circular(loop, sample_rate, pattern.tone_hz)
    loop = np.tanh(1.3 * loop / np.abs(loop).max()) / math.tanh(1.3)  # a little tape-like glue
    return loop * _db_to_gain(KICK_PEAK_DBFS) / np.abs(loop).max()


def _add_circular(buffer: np.ndarray, sound: np.ndarray, start: int, pan: float = 0.0) -> None:
    """Add a mono one-shot to a stereo loop at `start`, wrapping past the end onto the beginning."""
    length = buffer.shape[1]
    index = (start + np.arange(sound.size)) % length
    left, right = math.cos((pan + 1) * math.pi / 4), math.sin((pan + 1) * math.pi / 4)  # equal-power pan
    np.add.at(buffer[0], index, sound * left * math.sqrt(2))
    np.add.at(buffer[1], index, sound * right * math.sqrt(2))


def _low_pass_circular(audio: np.ndarray, sr: int, cutoff_hz: float) -> np.ndarray:
    """Gentle (12 dB/oct) low-pass in its steady state for a loop: filter two passes, keep the second."""
    from app.audio.filters import butter_sos, sosfilt

    sos = butter_sos(2, min(cutoff_hz, 0.45 * sr), "lowpass", sr)
    length = audio.shape[1]
    return sosfilt(sos, np.concatenate([audio, audio], axis=1), axis=1)[:, length:]


def _db_to_gain(db: float) -> float:
    return 10.0 ** (db / 20.0)


# ---------------------------------------------------------------------------------------------
# Ambience


def shaped_noise(rng: np.random.Generator, n: int, sr: int, gain_at_hz) -> np.ndarray:
    """White noise coloured in the frequency domain by gain_at_hz(freqs); circular, so it loops seamlessly.

    Returns float (n,) scaled to unit RMS.
    """
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    shaped = np.fft.irfft(spectrum * gain_at_hz(freqs), n)
    return shaped / (np.sqrt(np.mean(shaped**2)) + 1e-12)


def _smooth_random(rng: np.random.Generator, n: int, sr: int, max_hz: float) -> np.ndarray:
    """A slowly wandering, loopable curve with zero mean and unit peak (noise below max_hz)."""
    curve = shaped_noise(rng, n, sr, lambda f: (f > 0) & (f < max_hz))
    return curve / (np.abs(curve).max() + 1e-12)


def _stereo_noise(rng, n, sr, gain_at_hz, width: float = 0.7) -> np.ndarray:
    """Two channels sharing (1 - width) of their noise: wide but still anchored in the middle."""
    common = shaped_noise(rng, n, sr, gain_at_hz)
    sides = [shaped_noise(rng, n, sr, gain_at_hz) for _ in range(2)]
    return np.stack([(1 - width) * common + width * side for side in sides])


def render_rain(sample_rate: int = SAMPLE_RATE, seconds: float = RAIN_SECONDS, seed: int = 101) -> np.ndarray:
    """Steady rain: a filtered noise bed that breathes slowly, with random droplets on top. Float (2, n)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))

    def rain_colour(f):
        f = np.maximum(f, 1.0)
        tilt = (f / 1000.0) ** -0.35  # softer than white, brighter than pink
        band = 1 / np.sqrt(1 + (250.0 / f) ** 4) / np.sqrt(1 + (f / 7000.0) ** 4)
        hiss = 0.6 * np.exp(-0.5 * (np.log2(f / 2500.0) / 0.9) ** 2)
        return tilt * band + hiss * band

    bed = _stereo_noise(rng, n, sample_rate, rain_colour)
    rumble = shaped_noise(rng, n, sample_rate, lambda f: (f > 30) & (f < 180)) * 0.25
    swell = 1.0 + 0.18 * _smooth_random(rng, n, sample_rate, 0.4)
    rain = (bed + rumble) * swell * 0.075

    # Droplets: ticks on leaves and roofs (short band-passed clicks) and the odd plink into a puddle.
    t_tick = np.arange(int(0.02 * sample_rate)) / sample_rate
    for _ in range(int(28 * seconds)):
        start = int(rng.integers(0, n))
        centre = rng.uniform(1500, 6000)
        tick = _band(rng.standard_normal(t_tick.size), sample_rate, centre / 1.6, centre * 1.6)
        tick *= np.exp(-t_tick / rng.uniform(0.0015, 0.005))
        level = 0.06 * math.exp(rng.uniform(-1.6, 0.0))
        _add_circular(rain, level * tick / np.abs(tick).max(), start, rng.uniform(-0.8, 0.8))
    t_plink = np.arange(int(0.06 * sample_rate)) / sample_rate
    for _ in range(int(2.5 * seconds)):
        start = int(rng.integers(0, n))
        f0 = rng.uniform(1200, 3000)
        # A drop's bubble rings with a rising pitch as it shrinks.
        phase = 2 * np.pi * f0 * (t_plink + 4.0 * t_plink**2)
        plink = np.sin(phase) * np.exp(-t_plink / rng.uniform(0.006, 0.015)) * np.minimum(1, t_plink / 0.0005)
        _add_circular(rain, 0.07 * rng.uniform(0.3, 1.0) * plink, start, rng.uniform(-0.7, 0.7))
    return _limit_peak(rain, -6.0)


def render_vinyl(sample_rate: int = SAMPLE_RATE, seconds: float = VINYL_SECONDS, seed: int = 33) -> np.ndarray:
    """Vinyl surface: quiet hiss, low rumble, sparse crackles and a few pops. Float (2, n)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    hiss = _stereo_noise(
        rng, n, sample_rate,
        lambda f: 1 / np.sqrt(1 + (1500.0 / np.maximum(f, 1.0)) ** 2) / np.sqrt(1 + (f / 11000.0) ** 4),
        width=0.5,
    ) * 0.007
    rumble = shaped_noise(rng, n, sample_rate, lambda f: np.exp(-0.5 * (np.log2(np.maximum(f, 1) / 35.0)) ** 2))
    surface = hiss + np.stack([rumble, rumble]) * 0.006

    # Crackles: tiny, bright, sparse; louder ones are rarer (log-uniform levels).
    t_crackle = np.arange(int(0.004 * sample_rate)) / sample_rate
    for _ in range(int(14 * seconds)):
        start = int(rng.integers(0, n))
        burst = _band(rng.standard_normal(t_crackle.size), sample_rate, 1500, 12000)
        burst *= np.exp(-t_crackle / rng.uniform(0.0002, 0.0009))
        level = 0.12 * math.exp(rng.uniform(-3.5, 0.0))
        _add_circular(surface, level * burst / np.abs(burst).max(), start, rng.uniform(-0.6, 0.6))
    # Pops: a sharp edge and a dull thump.
    t_pop = np.arange(int(0.02 * sample_rate)) / sample_rate
    for _ in range(int(0.8 * seconds)):
        start = int(rng.integers(0, n))
        thump = _band(rng.standard_normal(t_pop.size), sample_rate, 150, 1500) * np.exp(-t_pop / 0.003)
        pop = thump / np.abs(thump).max() + (t_pop < 0.0003) * rng.choice([-1.0, 1.0])
        _add_circular(surface, rng.uniform(0.1, 0.3) * pop / np.abs(pop).max(), start, rng.uniform(-0.3, 0.3))
    # A scratch that comes round once per turn of the record (33 1/3 rpm).
    turn = 60.0 / (100.0 / 3.0) * sample_rate
    scratch_at = rng.uniform(0, turn)
    for k in range(int(round(n / turn))):
        start = int(round(scratch_at + k * turn))
        click = _band(rng.standard_normal(t_crackle.size), sample_rate, 800, 9000) * np.exp(-t_crackle / 0.0006)
        _add_circular(surface, 0.08 * click / np.abs(click).max(), start, 0.1)
    return _limit_peak(surface, -6.0)


def _limit_peak(audio: np.ndarray, peak_dbfs: float) -> np.ndarray:
    peak = np.abs(audio).max()
    ceiling = _db_to_gain(peak_dbfs)
    return audio * (ceiling / peak) if peak > ceiling else audio


def main() -> None:
    written = make_default_effects()
    for path in written:
        size_kb = path.stat().st_size / 1024
        print(f"wrote {path.relative_to(paths.ROOT)}  ({size_kb:.0f} KiB)")


if __name__ == "__main__":
    main()
