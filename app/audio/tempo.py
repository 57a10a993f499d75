"""Tempo of a beat loop: coarse BPM from the onset envelope's autocorrelation, then a beat grid
fitted through the loop's hits, so loops that are not cut on bar lines (a release tail, a lead-in,
a live take) get their true tempo and their first hit.

    from app.audio.tempo import detect_loop_tempo, track_bpm
    tempo = detect_loop_tempo(audio, 22050)   # LoopTempo(bpm=80.0, start_s=0.12) or None
    bpm, note = track_bpm(170.0)               # (85.0, '170 BPM played half-time at 85 BPM')

stretch_loop() time-stretches a loop to another tempo beat by beat, keeping every beat on its line.
Audio is float32 (channels, n) or (n,). Every number returned is a plain Python float.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DETECT_BPM_RANGE = (60.0, 180.0)
FOLD_BPM_RANGE = (70.0, 140.0)
# Tempi a track can have (spec RANGES["bpm"]): a loop outside is played half- or double-time.
TRACK_BPM_RANGE = (50.0, 140.0)
# Normalised onset autocorrelation at the beat period: noise and rain score ~0.07, drum loops 0.5-0.9.
MIN_BEAT_PERIODICITY = 0.25
# Grid fit: onsets within this fraction of a beat from a beat line count as hits on the beat.
ON_BEAT_FRACTION = 0.12
FINE_HOP = 64  # samples per onset frame for the grid fit: 2.9 ms at 22.05 kHz
# A first hit later than this is a lead-in to trim; earlier, the loop starts on its first sample
# (a kick's attack crosses the threshold a few samples in).
MIN_LEAD_IN_S = 0.010
FIRST_HIT_THRESHOLD = 0.1  # of the loop's peak amplitude
# A loop whose length after the first hit is within this of whole bars is taken as cut on bar lines.
SNAP_TOLERANCE_S = 0.005


@dataclass(frozen=True)
class LoopTempo:
    bpm: float  # the loop's tempo, folded into FOLD_BPM_RANGE
    start_s: float  # where its first hit (bar 1, beat 1) is; 0.0 when it starts at once




def onset_envelope(audio: np.ndarray, sample_rate: int, hop: int = 256) -> tuple[np.ndarray, float]:
    """Spectral-flux onset strength of `audio` ((channels, n) or (n,)).

    Returns (envelope, frames_per_second); envelope[i] describes the hop starting at i*hop samples.
    """
    mono = np.asarray(audio, dtype=np.float32)
    if mono.ndim == 2:
        mono = mono.mean(axis=0)
    n_fft = 4 * hop
    if mono.size < n_fft:
        return np.zeros(0, np.float32), sample_rate / hop
    # Centre frames on their hop so a peak marks the onset time, not a window-length later.
    padded = np.pad(mono, (n_fft // 2, n_fft // 2))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1))
    log_mag = np.log1p(1000.0 * spectrum)
    flux = np.maximum(0.0, np.diff(log_mag, axis=0, prepend=log_mag[:1])).sum(axis=1)
    return flux.astype(np.float32), sample_rate / hop


def detect_bpm(audio: np.ndarray, sample_rate: int) -> float | None:
    """Tempo in BPM by autocorrelating the onset envelope.

    Searches 60-180 BPM, refines on the envelope's later periodicities, then folds into 70-140
    (doubling or halving). Returns None for silence or when nothing periodic stands out.
    """
    env, fps = onset_envelope(audio, sample_rate)
    env = env - env.mean() if env.size else env
    n = env.size
    max_lag = int(math.ceil(60.0 * fps / DETECT_BPM_RANGE[0])) + 2
    min_lag = int(math.floor(60.0 * fps / DETECT_BPM_RANGE[1]))
    if n < 2 * max_lag or not np.any(env):
        return None
    spectrum = np.fft.rfft(env, 2 * n)
    acf = np.fft.irfft(np.abs(spectrum) ** 2)[:n]
    if acf[0] <= 0:
        return None
    acf = acf / acf[0]
    lags = np.arange(min_lag, max_lag + 1)
    is_peak = (acf[lags] >= acf[lags - 1]) & (acf[lags] >= acf[lags + 1])
    if not is_peak.any():
        return None
    # A gentle preference for the middle of the range breaks ties between octaves.
    bpms = 60.0 * fps / lags
    prior = np.exp(-0.5 * (np.log2(bpms / 100.0) / 1.5) ** 2)
    score = np.where(is_peak, acf[lags] * prior, -np.inf)
    best = int(lags[int(np.argmax(score))])
    if acf[best] < MIN_BEAT_PERIODICITY:
        return None
    lag = _parabolic_peak(acf, best)
    # Later multiples of the period pin it down more finely (lag resolution / m).
    for multiple in (2, 4, 8):
        centre = int(round(lag * multiple))
        if centre + 3 >= n * 0.7:
            break
        window = np.arange(centre - 2, centre + 3)
        peak = int(window[np.argmax(acf[window])])
        if acf[peak] < 0.5 * acf[best]:
            break
        lag = _parabolic_peak(acf, peak) / multiple
    bpm = 60.0 * fps / lag
    return fold_bpm(bpm)


def _parabolic_peak(values: np.ndarray, i: int) -> float:
    if i <= 0 or i >= values.size - 1:
        return float(i)
    a, b, c = values[i - 1], values[i], values[i + 1]
    denom = a - 2 * b + c
    return float(i) if denom == 0 else float(i + 0.5 * (a - c) / denom)


def fold_bpm(bpm: float, low: float = FOLD_BPM_RANGE[0], high: float = FOLD_BPM_RANGE[1]) -> float:
    """Double or halve `bpm` until it lies in [low, high] (a 160 BPM reading of a 80 BPM loop)."""
    while bpm < low:
        bpm *= 2.0
    while bpm > high:
        bpm /= 2.0
    return bpm


def snap_bpm_to_length(bpm: float, duration_s: float, beats_per_bar: int = 4, tolerance: float = 0.02) -> float:
    """If the file is (within `tolerance`) a whole number of bars (1-16) at `bpm`, the BPM that makes
    it exactly so; loops are cut on bar lines, so this removes the detector's last fraction of a BPM."""
    bars = duration_s * bpm / 60.0 / beats_per_bar
    whole = round(bars)
    if 1 <= whole <= 16:
        snapped = whole * beats_per_bar * 60.0 / duration_s
        if abs(snapped - bpm) <= tolerance * bpm:
            return snapped
    return bpm




def detect_loop_tempo(audio: np.ndarray, sample_rate: int, beats_per_bar: int = 4) -> LoopTempo | None:
    """Tempo and first hit of a drum loop: the coarse detect_bpm() refined by a grid fitted through
    its on-beat hits (least squares over every hit, so a tail, a lead-in or a loop that is not whole
    bars does not bias it), then snapped to whole bars when the loop after its first hit is within
    SNAP_TOLERANCE_S of them. None when no steady beat is found."""
    coarse = detect_bpm(audio, sample_rate)
    if coarse is None:
        return None
    start_s = first_hit_s(audio, sample_rate)
    bpm = fit_beat_period(audio, sample_rate, coarse) or coarse
    bpm = fold_bpm(bpm)
    duration = np.shape(audio)[-1] / sample_rate - start_s
    bar_s = beats_per_bar * 60.0 / bpm
    bars = round(duration / bar_s)
    if bars >= 1 and abs(duration - bars * bar_s) <= SNAP_TOLERANCE_S * bars:
        bpm = bars * beats_per_bar * 60.0 / duration
    return LoopTempo(bpm=float(bpm), start_s=float(start_s))


def first_hit_s(audio: np.ndarray, sample_rate: int) -> float:
    """Seconds of silence (or near-silence) before the loop's first hit: the first sample above
    FIRST_HIT_THRESHOLD of the peak; 0.0 when that is within MIN_LEAD_IN_S of the start."""
    mono = np.abs(np.asarray(audio, dtype=np.float32))
    if mono.ndim == 2:
        mono = mono.max(axis=0)
    peak = float(mono.max()) if mono.size else 0.0
    if peak <= 0:
        return 0.0
    first = int(np.argmax(mono > FIRST_HIT_THRESHOLD * peak)) / sample_rate
    return first if first > MIN_LEAD_IN_S else 0.0


def fit_beat_period(audio: np.ndarray, sample_rate: int, coarse_bpm: float) -> float | None:
    """The BPM of the beat grid that best fits the loop's on-beat hits, starting from `coarse_bpm`.

    Onsets are the peaks of a fine onset envelope (FINE_HOP); each is given the nearest beat index
    at the current period, those within ON_BEAT_FRACTION of a beat line are fitted with a weighted
    straight line (time = phase + index * period), and this repeats with the new period. None when
    fewer than three beat lines have hits."""
    env, fps = onset_envelope(audio, sample_rate, hop=FINE_HOP)
    times, weights = _onset_peaks(env, fps, min_gap_s=0.25 * 60.0 / coarse_bpm)
    if times.size < 3:
        return None
    period = 60.0 / coarse_bpm
    anchor = times[int(np.argmax(weights >= 0.5 * weights.max()))]  # first strong hit
    for _ in range(3):
        index = np.round((times - anchor) / period)
        on_beat = np.abs(times - anchor - index * period) < ON_BEAT_FRACTION * period
        if np.unique(index[on_beat]).size < 3:
            return None
        slope, phase = np.polyfit(index[on_beat], times[on_beat], 1, w=np.sqrt(weights[on_beat]))
        if not (0.5 * period < slope < 2.0 * period):
            return None
        period, anchor = float(slope), float(phase)
    return 60.0 / period


def _onset_peaks(env: np.ndarray, fps: float, min_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(times in s, strengths) of the envelope's local maxima above a quarter of its highest peak,
    keeping the strongest within any `min_gap_s`; each time refined by a parabola through the peak."""
    if env.size < 3:
        return np.zeros(0), np.zeros(0)
    inner = env[1:-1]
    is_peak = (inner > env[:-2]) & (inner >= env[2:]) & (inner > 0.25 * env.max())
    candidates = np.flatnonzero(is_peak) + 1
    kept: list[int] = []
    gap = max(1, int(min_gap_s * fps))
    for i in candidates[np.argsort(-env[candidates])]:
        if all(abs(i - j) >= gap for j in kept):
            kept.append(int(i))
    kept.sort()
    times = np.array([_parabolic_peak(env, i) for i in kept]) / fps
    return times, env[kept].astype(np.float64)


def track_bpm(loop_bpm: float, low: float = TRACK_BPM_RANGE[0], high: float = TRACK_BPM_RANGE[1]) -> tuple[float, str | None]:
    """The tempo a track following a loop of `loop_bpm` gets, and a note for people when it is not
    the loop's own: outside [low, high] the loop is played half- or double-time (170 -> 85,
    45 -> 90); only what folding cannot bring into range is clamped. Returns (bpm, note or None)."""
    bpm = float(loop_bpm)
    if not (math.isfinite(bpm) and bpm > 0):
        return float(low if bpm <= 0 or math.isnan(bpm) else high), f"tempo {loop_bpm} is unusable; clamped"
    folded = bpm
    while folded > high and folded / 2.0 >= low:
        folded /= 2.0
    while folded < low and folded * 2.0 <= high:
        folded *= 2.0
    clamped = min(max(folded, low), high)
    if clamped != folded:
        return clamped, f"{bpm:g} BPM is outside {low:g}-{high:g}; clamped to {clamped:g} BPM"
    if folded != bpm:
        how = "half" if folded < bpm else "double"
        return folded, f"{bpm:g} BPM played {how}-time at {folded:g} BPM"
    return bpm, None


def stretch_loop(loop: np.ndarray, target_length: float, n_beats: int, sample_rate: int = 44100) -> np.ndarray:
    """Time-stretch a seamless loop (2, n) to `target_length` samples (may be fractional) keeping pitch.

    Returns (2, ceil(target_length)), itself seamless when repeated every target_length samples.
    Rubber Band (pedalboard.time_stretch) keeps pitch and transients but drifts by up to ~10 ms
    over a few seconds, so each beat is stretched on its own, with context from its neighbours
    (read circularly), and the beats are joined with 5 ms crossfades placed 10 ms before each
    beat line: every beat then starts within ~1-2 ms of its grid position.
    """
    from pedalboard import time_stretch

    length = loop.shape[1]
    factor = length / target_length  # > 1 speeds up (pedalboard's convention)
    n_out = int(math.ceil(target_length))
    out = np.zeros((2, n_out), np.float64)
    weight = np.zeros(n_out, np.float64)
    lead = 0.010 * sample_rate  # joins sit this far before each beat, where it is quietest
    fade = max(1, int(0.005 * sample_rate))
    context = int(0.1 * sample_rate)
    beat_out = target_length / n_beats
    ramp_up = np.linspace(0.0, 1.0, fade, endpoint=False) + 0.5 / fade
    for j in range(n_beats):
        start_out = j * beat_out - lead
        end_out = (j + 1) * beat_out - lead
        first = int(round(start_out))
        count = int(round(end_out)) - first + fade
        src_start = int(math.floor(start_out * factor)) - context
        src_count = int(math.ceil(count * factor)) + 2 * context + 2
        chunk = np.ascontiguousarray(loop[:, np.arange(src_start, src_start + src_count) % length], np.float32)
        stretched = time_stretch(chunk, sample_rate, stretch_factor=factor)
        # Output sample k of the chunk sits at output time src_start / factor + k.
        offset = int(round(first - src_start / factor))
        piece = stretched[:, offset:offset + count]
        if piece.shape[1] < count:
            piece = np.pad(piece, ((0, 0), (0, count - piece.shape[1])))
        w = np.ones(count)
        w[:fade] = ramp_up
        w[-fade:] = ramp_up[::-1]
        index = np.arange(first, first + count) % n_out
        np.add.at(out, (slice(None), index), piece * w)
        np.add.at(weight, index, w)
    return (out / np.maximum(weight, 1e-9)).astype(np.float32)
