"""Mastering: loudness (ITU-R BS.1770), true peak, a true-peak-aware limiter. (Writing the files is
app/deliver/export.py.)

    from app.audio.master import master
    done = master(mixed, SAMPLE_RATE)      # TARGET_LUFS (-14) integrated, <= CEILING_DBTP (-1 dBTP)
    done.audio, done.lufs, done.true_peak_dbtp

How master() stays fast (a 3-minute track in well under a second): the signal is read only a few times.
It is K-weighted once; the loudness of any gain curve is then predicted from ~1 ms block energies, and
the limiter works on ~1 ms block peaks, so gain, glue compressor and limiter are iterated on arrays
40x shorter than the audio. 4x oversampling (the true peak) is only run on the blocks loud enough
to matter. The result is then applied once and measured for real, with a correction pass if needed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from app.config import CEILING_DBTP, TARGET_LUFS
from app.errors import BadValueError

OVERSAMPLING = 4
# Blocks whose sample peak is this far below the level that matters are not oversampled. An
# inter-sample peak more than 3 dB above the samples needs a dominant tone near Nyquist (a pure
# 11 kHz sine gives exactly 3 dB); lo-fi music has none. true_peak_dbtp() itself uses a proven bound.
TRUE_PEAK_SEARCH_MARGIN_DB = 3.0
LIMITER_LOOKAHEAD_MS = 5.0
LIMITER_RELEASE_MS = 80.0
# The limiter aims this far under the ceiling; the smooth gain curve moves inter-sample peaks a hair.
LIMITER_SAFETY_DB = 0.1
GLUE_THRESHOLD_LU = -2.0  # relative to the target loudness
GLUE_SMOOTHING_MS = 100.0
LOUDNESS_TOLERANCE_LU = 0.05


_BLOCK_S = 0.4  # BS.1770 gating block
_HOP_S = 0.1  # 75 % overlap
_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0


# --- measurement ------------------------------------------------------------------------------------


def check_audio(audio) -> np.ndarray:
    """audio as contiguous float32 (channels, n); a 1-D array is one channel. BadValueError for
    any other shape (more than 5 channels is taken for a transposed array)."""
    arr = np.asarray(audio, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] > 5:
        raise BadValueError(f"audio must be shaped (channels, samples), got {arr.shape}")
    return np.ascontiguousarray(arr)


def loudness_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS, ITU-R BS.1770-4 gated) of audio (channels, n): pyloudnorm's Meter
    computed without it (it imports scipy.signal and loops over blocks in Python): the same K-weighting
    (float64), the same 400 ms blocks every 100 ms and the same channel weights and gates; within
    1e-6 LU of pyloudnorm (tests/audio/test_loudness.py).

    Silence gives -inf; audio shorter than one 400 ms block raises BadValueError.
    """
    from app.audio.filters import k_weighting_sos, sosfilt_measuring

    audio = check_audio(audio)
    rate, (channels, n) = int(sample_rate), audio.shape
    if n < _BLOCK_S * rate:
        raise BadValueError("audio is shorter than 0.4 s; loudness needs at least one 400 ms block")
    step = _HOP_S / _BLOCK_S
    count = int(np.round((n / rate - _BLOCK_S) / (_BLOCK_S * step))) + 1
    # Block bounds with pyloudnorm's arithmetic (int() of float products; the last may run off the end).
    lower = np.array([int(_BLOCK_S * (j * step) * rate) for j in range(count)])
    upper = np.minimum([int(_BLOCK_S * (j * step + 1) * rate) for j in range(count)], n)
    # Energy per stretch between consecutive bounds, the K-filter run chunk by chunk (state carried).
    edges = np.union1d(lower, upper)
    energy = np.zeros((channels, edges.size))
    sos = k_weighting_sos(rate)
    state = np.zeros((channels, sos.shape[0], 2))
    for start in range(0, n, _CHUNK_FRAMES):
        stop = min(n, start + _CHUNK_FRAMES)
        chunk = audio[:, start:stop].astype(np.float64)
        sosfilt_measuring(sos, chunk, state)
        inside = edges[(edges > start) & (edges < stop)]
        cuts = np.concatenate([[start], inside]) - start
        sums = np.add.reduceat(chunk * chunk, cuts, axis=1)
        energy[:, np.searchsorted(edges, start + cuts, side="right") - 1] += sums
    cumulative = np.concatenate([np.zeros((channels, 1)), np.cumsum(energy, axis=1)], axis=1)
    z = (cumulative[:, np.searchsorted(edges, upper)] - cumulative[:, np.searchsorted(edges, lower)])
    z *= 1.0 / (_BLOCK_S * rate)
    return _gate_blocks(z * np.array(_CHANNEL_WEIGHTS[:channels])[:, None])


# BS.1770 channel weights: L, R, C, Ls, Rs.
_CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)


def _gate_blocks(z: np.ndarray) -> float:
    """Integrated loudness from weighted mean squares per channel and gating block (channels, blocks):
    the -70 LUFS absolute gate, then the relative gate 10 LU under the loudness of what passed it."""
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10 * np.log10(z.sum(axis=0))
    above_absolute = z[:, block_lufs >= _ABSOLUTE_GATE_LUFS]
    if above_absolute.shape[1] == 0:
        return -math.inf
    relative_gate = -0.691 + 10 * math.log10(above_absolute.mean(axis=1).sum()) + _RELATIVE_GATE_LU
    gated = z[:, (block_lufs > relative_gate) & (block_lufs > _ABSOLUTE_GATE_LUFS)]
    if gated.shape[1] == 0:
        return -math.inf
    return -0.691 + 10 * math.log10(gated.mean(axis=1).sum())


def integrated_lufs(audio, sample_rate: int) -> float:
    """loudness_lufs by the blockwise model master() uses (the same gating; within 0.01 LU of
    pyloudnorm): for the mix's per-part figures. -inf for silence; BadValueError under 0.4 s."""
    audio = check_audio(audio)
    if audio.shape[1] < _BLOCK_S * sample_rate:
        raise BadValueError("audio is shorter than 0.4 s; loudness needs at least one 400 ms block")
    return _LoudnessModel(audio, sample_rate, _control_block(int(sample_rate))).lufs()


def _k_weighting_sos(sample_rate: int) -> np.ndarray:
    """The K-weighting filters (pre-filter shelf + RLB high-pass) as float32 second-order sections,
    with pyloudnorm's coefficients (app/audio/filters.py designs them as its IIRfilter does)."""
    from app.audio.filters import k_weighting_sos

    return k_weighting_sos(int(sample_rate)).astype(np.float32)


def k_weighted(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """audio (channels, n) through the BS.1770 K-weighting filter (pyloudnorm's coefficients); float32."""
    from app.audio.blocks import sosfilt_in_place

    out = check_audio(audio).copy()
    sosfilt_in_place(_k_weighting_sos(int(sample_rate)), out)
    return out


# Frames per chunk of the blockwise passes (a multiple of the control block is used): 6 s of audio.
_CHUNK_FRAMES = 1 << 18


def _k_weighted_block_sums(audio, sample_rate: int, block: int) -> np.ndarray:
    """block_sums(k_weighted(audio), block) computed chunk by chunk with the filter state carried
    (same values, without a K-weighted copy of the whole track). audio: an array or a _Gained."""
    from app.audio.blocks import each_channel
    from app.audio.filters import sosfilt_measuring

    sos = _k_weighting_sos(int(sample_rate))
    channels, n = audio.shape
    states = [np.zeros((1, sos.shape[0], 2), np.float32) for _ in range(channels)]
    chunk = max(1, _CHUNK_FRAMES // block) * block
    sums = []
    for start in range(0, n, chunk):
        part = _chunk(audio, start, min(n, start + chunk))

        def one_channel(ch: int) -> None:
            sosfilt_measuring(sos, part[ch:ch + 1], states[ch])

        each_channel(one_channel, channels)
        sums.append(block_sums(part, block))
    return np.concatenate(sums) if sums else np.zeros(0)


class _Gained:
    """audio (channels, n) times the per-sample gain _apply_gain_curve would apply, never made whole:
    chunks and gathered samples are computed on demand, with the same float32 operations."""

    def __init__(self, audio: np.ndarray, curve_db: np.ndarray, block: int):
        self.audio, self.block, self.shape = audio, block, audio.shape
        self.values = (10 ** (curve_db / 20)).astype(np.float32)
        nxt = np.append(self.values[1:], self.values[-1:])
        self.slopes = nxt - self.values
        self.ramp = np.arange(block, dtype=np.float32) / np.float32(block)

    def gain(self, index: np.ndarray) -> np.ndarray:
        """The gain (float32) at each sample index (as upsample_linear's curve has it)."""
        k = np.minimum(index // self.block, self.values.size - 1)
        return self.values[k] + self.slopes[k] * self.ramp[index % self.block]

    def take(self, index: np.ndarray) -> np.ndarray:
        """Samples at `index` (any shape of valid sample indices), shaped (channels, *index.shape)."""
        return self.audio[:, index] * self.gain(index)

    def chunk(self, start: int, stop: int) -> np.ndarray:
        from app.audio.fx import upsample_linear_range

        return self.audio[:, start:stop] * upsample_linear_range(self.values, self.block, start, stop)


def _chunk(audio, start: int, stop: int) -> np.ndarray:
    """A new float32 array of samples start..stop of an array, a _Gained or a SpilledAudio (read)."""
    if isinstance(audio, _Gained):
        return audio.chunk(start, stop)
    if hasattr(audio, "read"):  # a SpilledAudio: read from disk, never whole
        return audio.read(start, stop)
    return audio[:, start:stop].copy()


def _control_block(sample_rate: int) -> int:
    """About 1 ms of samples, chosen to divide the 100 ms loudness hop exactly (42 at 44.1 kHz)."""
    hop = round(_HOP_S * sample_rate)
    for size in range(max(1, sample_rate // 1000), 0, -1):
        if hop % size == 0:
            return size
    return 1


def block_sums(values: np.ndarray, block: int) -> np.ndarray:
    """Sum over channels and over consecutive blocks of `block` samples of values**2 (float64 (K,)).
    Each block's few dozen squares are summed in the audio's own float32 (within 1e-7 of float64 and
    four times faster); everything summed over blocks afterwards is float64."""
    channels, n = values.shape
    whole = n // block
    shaped = values[:, : whole * block].reshape(channels, whole, block)
    sums = np.einsum("ckb,ckb->k", shaped, shaped).astype(np.float64)
    if whole * block < n:
        tail = values[:, whole * block :].astype(np.float64)
        sums = np.append(sums, float(np.sum(tail * tail)))
    return sums


def _block_peaks(values: np.ndarray, block: int) -> np.ndarray:
    """Largest |sample| over channels in each block of `block` samples (float64 (K,))."""
    starts = np.arange(0, values.shape[1], block)
    top = np.maximum.reduceat(values, starts, axis=1).max(axis=0)
    bottom = np.minimum.reduceat(values, starts, axis=1).min(axis=0)
    return np.maximum(top, -bottom).astype(np.float64)


class _LoudnessModel:
    """BS.1770 integrated loudness of `audio` under any slowly varying gain curve, without re-filtering.

    K-weighted energy is summed into control blocks once; a gain curve (one value per block) then only
    re-weights those sums. Exact for constant gain; for a limiter's smooth curve it is within a few
    hundredths of a LU (the K filter's memory is short next to a block).
    """

    def __init__(self, audio: np.ndarray, sample_rate: int, block: int):
        self.block = block
        n = audio.shape[1]
        self.energy = _k_weighted_block_sums(audio, sample_rate, block)  # (K,)
        # Gating blocks in control blocks, laid out as pyloudnorm lays them (the last may run off the end).
        hop = round(_HOP_S * sample_rate) // block
        size = round(_BLOCK_S * sample_rate) // block
        count = int(round((n / sample_rate - _BLOCK_S) / _HOP_S)) + 1
        self.starts = np.arange(count) * hop
        self.size = size
        self.samples_per_block = size * block
        needed = int(self.starts[-1]) + size
        if needed > self.energy.size:
            self.energy = np.concatenate([self.energy, np.zeros(needed - self.energy.size)])

    def lufs(self, gain_db: np.ndarray | float = 0.0) -> float:
        """Integrated loudness with per-control-block gain (dB, applied at each block's start)."""
        if np.ndim(gain_db) == 0:
            weights = self.energy * 10 ** (float(gain_db) / 10)
        else:
            gain = 10 ** (np.asarray(gain_db, dtype=np.float64) / 20)
            mid = 0.5 * (gain + np.append(gain[1:], gain[-1]))  # the curve is linear within a block
            weights = self.energy.copy()
            weights[: mid.size] *= mid * mid
        return _gated_loudness(weights, self.starts, self.size, self.samples_per_block)


def _gated_loudness(energy: np.ndarray, starts: np.ndarray, size: int, samples_per_block: int) -> float:
    cumulative = np.concatenate([[0.0], np.cumsum(energy)])
    z = (cumulative[starts + size] - cumulative[starts]) / samples_per_block
    return _gate_blocks(z[None, :])


def _interpolation_filter() -> np.ndarray:
    """The FIR resample_poly uses for 4x up-sampling (so block search and reference agree exactly)."""
    from app.audio.filters import resample_taps

    return resample_taps(OVERSAMPLING, 1) * OVERSAMPLING


class _BlockTruePeaks:
    """Peak per control block of audio: the sample peak, replaced by the 4x true peak where refined."""

    # Input samples of context each side of a refined stretch: the filter reaches 10.
    _CONTEXT = 12
    _BLOCKS_PER_STRETCH = 10
    _STRETCHES_PER_BATCH = 512  # ~5 MB of gathered samples and their peaks at a time

    def __init__(self, audio: np.ndarray, block: int):
        self.audio = audio  # an array or a _Gained
        self.block = block
        if isinstance(audio, _Gained):
            chunk = max(1, _CHUNK_FRAMES // block) * block
            n = audio.shape[1]
            self.sample_peak = np.concatenate([_block_peaks(audio.chunk(s, min(n, s + chunk)), block)
                                               for s in range(0, n, chunk)])
        else:
            self.sample_peak = _block_peaks(audio, block)
        self.count = self.sample_peak.size
        # A block's true peak also depends on its neighbours' samples (the filter's context).
        neighbours = self.sample_peak.copy()
        neighbours[1:] = np.maximum(neighbours[1:], self.sample_peak[:-1])
        neighbours[:-1] = np.maximum(neighbours[:-1], self.sample_peak[1:])
        self.context_peak = neighbours
        self.peak = self.sample_peak.copy()
        self.refined = np.zeros(self.count, bool)

    def refine(self, wanted: np.ndarray) -> None:
        """Oversample every block where `wanted` (bool per block) holds, unless already done."""
        todo = np.flatnonzero(~self.refined & wanted)
        if todo.size == 0:
            return
        per = self._BLOCKS_PER_STRETCH
        stretches = np.unique(todo // per)
        ctx, block = self._CONTEXT, self.block
        length = per * block
        channels = self.audio.shape[0]
        taps = _interpolation_filter().astype(np.float32)
        for first in range(0, stretches.size, self._STRETCHES_PER_BATCH):
            batch = stretches[first : first + self._STRETCHES_PER_BATCH]
            # Each stretch with ctx samples of context each side, laid end to end: the filter's reach
            # (10 samples) stays inside each one's context.
            joined = self._stretches(batch * length - ctx, length + 2 * ctx).reshape(channels, -1)
            top = _interpolated_peaks(taps, joined)
            top = top.reshape(channels, batch.size, -1)[:, :, ctx : ctx + length]
            per_block = top.reshape(channels, batch.size * per, block).max(axis=2).max(axis=0).reshape(batch.size, per)
            ids = (batch[:, None] * per + np.arange(per)[None, :]).ravel()
            keep = ids < self.count
            ids, values = ids[keep], per_block.ravel()[keep]
            self.peak[ids] = np.maximum(values, self.sample_peak[ids])
            self.refined[ids] = True

    def _stretches(self, starts: np.ndarray, width: int) -> np.ndarray:
        """Samples starts[i] .. starts[i] + width of the audio for each i, as float32 (channels,
        len(starts), width), zeros beyond its ends. Stretches inside the audio are picked from a view
        of every window (four times faster than gathering an index array); the few at the ends are
        gathered."""
        from numpy.lib.stride_tricks import sliding_window_view

        channels, n = self.audio.shape
        gained = isinstance(self.audio, _Gained)
        out = np.empty((channels, starts.size, width), np.float32)
        inside = (starts >= 0) & (starts + width <= n)
        if inside.any():
            windows = sliding_window_view(self.audio.audio if gained else self.audio, width, axis=1)
            picked = windows[:, starts[inside]]
            if gained:
                picked *= self.audio.gain(starts[inside, None] + np.arange(width)[None, :])
            out[:, inside] = picked
        if not inside.all():
            index = starts[~inside, None] + np.arange(width)[None, :]
            outside = (index < 0) | (index >= n)
            np.clip(index, 0, max(n - 1, 0), out=index)
            edge = self.audio.take(index) if gained else self.audio[:, index]
            edge[:, outside] = 0
            out[:, ~inside] = edge
        return out


# Input samples per pass of _interpolated_peaks: its three working rows (256 KB each in stereo) stay
# in a core's L2 cache; 16384 and 65536 were 11 % slower here.
_INTERPOLATION_CHUNK = 32768


def _interpolated_peaks(taps: np.ndarray, x: np.ndarray) -> np.ndarray:
    """x (channels, n) float32 up-sampled by OVERSAMPLING with the FIR `taps` (as upfirdn does, zeros
    beyond the ends, its delay taken off), then folded back: at each input position i the largest
    |value| among the interpolated samples i, i + 1/4, i + 1/2, i + 3/4. Returns float32 (channels, n).

    The same float32 values as upfirdn (each sum runs in its order), about three times faster: each
    phase of the polyphase filter is ~20 multiply-adds of whole cache-sized rows, where upfirdn walks
    the taps sample by sample."""
    channels, n = x.shape
    phases = [taps[r::OVERSAMPLING].astype(np.float32) for r in range(OVERSAMPLING)]
    assert (taps.size - 1) // 2 % OVERSAMPLING == 0, "the filter's delay must be whole input samples"
    reach = (taps.size - 1) // 2 // OVERSAMPLING  # the filter's delay in input samples (10)
    width = max(p.size for p in phases)
    padded = np.zeros((channels, n + 2 * width), np.float32)
    padded[:, width:width + n] = x
    out = np.empty((channels, n), np.float32)
    acc = np.empty((channels, _INTERPOLATION_CHUNK), np.float32)
    term = np.empty_like(acc)
    for start in range(0, n, _INTERPOLATION_CHUNK):
        m = min(_INTERPOLATION_CHUNK, n - start)
        a, t, top = acc[:, :m], term[:, :m], out[:, start:start + m]
        for r, phase in enumerate(phases):
            # output sample 4 (i + reach) + r of upfirdn = sum_j phase[j] x[i + reach - j]
            a.fill(0)
            for j in range(phase.size - 1, -1, -1):  # upfirdn's order of the sum: the same float32 values
                h = phase[j]
                at = width + start + reach - j
                np.multiply(padded[:, at:at + m], h, out=t)
                a += t
            np.abs(a, out=a)
            if r == 0:
                top[:] = a
            else:
                np.maximum(top, a, out=top)
    return out


def _phase_gain_bound() -> float:
    """Largest sum of |taps| over the filter's phases: no interpolated value exceeds this x the samples."""
    taps = _interpolation_filter()
    return max(float(np.abs(taps[p::OVERSAMPLING]).sum()) for p in range(OVERSAMPLING))


def true_peak_dbtp(audio: np.ndarray, sample_rate: int) -> float:
    """True peak (dBTP) of audio (channels, n): the largest |value| of its 4x oversampled version.

    Oversampling is resample_poly's filter, applied only where it can matter: a block whose
    samples (with context) stay under max|x| / (the filter's largest phase gain) cannot hold the maximum,
    so the result equals the full computation. Silence gives -inf.
    """
    audio = check_audio(audio)
    if audio.size == 0:
        return -math.inf
    peaks = _BlockTruePeaks(audio, _control_block(int(sample_rate)))
    loudest = float(peaks.sample_peak.max())
    if loudest == 0:
        return -math.inf
    peaks.refine(peaks.context_peak > loudest / _phase_gain_bound())
    return 20 * math.log10(float(peaks.peak.max()))


def true_peak_dbtp_full(audio: np.ndarray, sample_rate: int) -> float:
    """Reference true peak: resample_poly over the whole signal (slow: ~1.4 s for 3 minutes stereo)."""
    from app.audio.filters import resample_poly

    audio = check_audio(audio)
    up = resample_poly(audio, OVERSAMPLING, 1, axis=-1)
    peak = max(float(np.abs(up).max()), float(np.abs(audio).max()))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


# --- the mastering chain ----------------------------------------------------------------------------


def _limiter_reduction_db(peak: np.ndarray, threshold: float, lookahead: int, release: float) -> np.ndarray:
    """Gain reduction (dB >= 0) per control block keeping peak*gain <= threshold everywhere.

    Look-ahead max over [k-1, k+lookahead], exponential release (time constant `release` blocks),
    then a moving average over `lookahead`+1 blocks for a smooth attack. The average of values that
    each cover block p is >= block p's need, at p and p+1 alike, so the linearly interpolated
    per-sample gain never lets a peak through.
    """
    with np.errstate(divide="ignore"):
        need = np.maximum(20 * np.log10(np.maximum(peak, 1e-12) / threshold), 0.0)
    padded = np.concatenate([[0.0], need, np.zeros(lookahead)])
    # The look-ahead max: one np.maximum per offset of the window (a reduction over a sliding-window
    # view of a few samples costs fifteen times as much); max is exact, so the values are the same.
    window = lookahead + 2
    held = padded[: padded.size - window + 1].copy()
    for offset in range(1, window):
        np.maximum(held, padded[offset: padded.size - window + 1 + offset], out=held)
    # Exponential release without a loop: r[k] = max_j held[j] * exp(-(k-j)/release), in log space.
    ramp = np.arange(held.size) / max(release, 1e-6)
    with np.errstate(divide="ignore"):
        released = np.exp(np.maximum.accumulate(np.log(held) + ramp) - ramp)
    # The first blocks have no past to ramp down in: start already at the first block's reduction.
    padded = np.concatenate([np.full(lookahead, released[0]), released])
    cumulative = np.concatenate([[0.0], np.cumsum(padded)])
    width = lookahead + 1
    return (cumulative[width:] - cumulative[:-width])[: need.size] / width


def _glue_reduction_db(level_lufs: np.ndarray, threshold_lufs: float, ratio: float) -> np.ndarray:
    """Gentle compressor gain reduction (dB >= 0) from a smoothed level per control block."""
    if ratio <= 1:
        return np.zeros_like(level_lufs)
    return np.maximum(level_lufs - threshold_lufs, 0.0) * (1 - 1 / ratio)


def _short_term(model: _LoudnessModel, n: int, sample_rate: int, window_s: float, hop_s: float):
    """(times_s, LUFS) every hop_s over windows of window_s from a _LoudnessModel's block energies."""
    per_s = sample_rate / model.block
    energy = model.energy[: -(-n // model.block)]
    win, hop = max(1, round(window_s * per_s)), max(1, round(hop_s * per_s))
    csum = np.concatenate([[0.0], np.cumsum(energy)])
    starts = np.arange(0, max(1, energy.size - win + 1), hop)
    ends = np.minimum(starts + win, energy.size)
    mean_square = (csum[ends] - csum[starts]) / (np.maximum(1, ends - starts) * model.block)
    times = (starts + (ends - starts) / 2) / per_s
    return times, -0.691 + 10 * np.log10(np.maximum(mean_square, 1e-12))


# The picture's lanes measure every LANE_STEP-th sample at sample_rate / LANE_STEP: half the filtering.
# Music above the new Nyquist (11 kHz at 44.1 kHz) folds down onto frequencies the K-weighting
# weighs the same (+4 dB above 1.5 kHz), so a lane moves by hundredths of a LU (tests/audio/test_master.py).
LANE_STEP = 2


class _EveryNth:
    """Every step-th sample of an array or a SpilledAudio, read chunk by chunk (never made whole)."""

    def __init__(self, audio, step: int):
        self.audio, self.step = audio, step
        self.shape = (audio.shape[0], -(-audio.shape[1] // step))

    def read(self, start: int, stop: int) -> np.ndarray:
        from app.audio.spill import read_block

        source = read_block(self.audio, start * self.step, stop * self.step)
        return np.ascontiguousarray(source[:, ::self.step])


def short_term_curve(audio, sample_rate: int, window_s: float = 3.0, hop_s: float = 1.0, step: int = LANE_STEP):
    """(times_s, LUFS): short-term loudness (K-weighted, window_s windows every hop_s) of audio
    (channels, n), an array or a SpilledAudio read block by block (the picture's loudness lanes),
    measured on every step-th sample (LANE_STEP)."""
    rate = int(sample_rate) // step
    source = audio if step == 1 else _EveryNth(audio, step)
    model = _LoudnessModel(source, rate, _control_block(rate))
    return _short_term(model, source.shape[1], rate, window_s, hop_s)


@dataclass
class Mastered:
    """A mastered track and its figures, measured on the result: BS.1770 integrated loudness, and
    the exact 4x true peak, worked out on first use (it costs as much as mastering; the blocks the
    limiter already oversampled are reused)."""

    audio: np.ndarray
    lufs: float
    _peaks: "_BlockTruePeaks"
    _loudness: "_LoudnessModel"
    _sample_rate: int

    def short_term_lufs(self, window_s: float = 3.0, hop_s: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(times_s, LUFS) every hop_s over windows of window_s, from the K-weighted energy the final
        measurement already summed (no second filtering pass)."""
        return _short_term(self._loudness, self.audio.shape[1], self._sample_rate, window_s, hop_s)

    @functools.cached_property
    def true_peak_dbtp(self) -> float:
        peaks = self._peaks
        loudest = float(peaks.peak.max())
        # Refine every block that could still hold the maximum (as true_peak_dbtp does), then read it.
        peaks.refine(peaks.context_peak > loudest / _phase_gain_bound())
        peak = float(peaks.peak.max())
        return 20 * math.log10(peak) if peak > 0 else -math.inf


def master(
    audio: np.ndarray,
    sample_rate: int,
    target_lufs: float = TARGET_LUFS,
    ceiling_dbtp: float = CEILING_DBTP,
    *,
    glue_ratio: float = 1.5,
    in_place: bool = False,
) -> Mastered:
    """Master audio (2, n) float32: gain to target_lufs, a gentle glue compressor (ratio glue_ratio,
    1 = off), and a look-ahead limiter holding the 4x true peak at or below ceiling_dbtp.

    Gain is re-solved until the integrated loudness is within 0.05 LU of the target (as measured on the
    result). Returns Mastered: float32 audio of the same shape with its integrated loudness and exact
    true peak. Silent or too-short audio raises BadValueError.
    """
    from app.audio.filters import one_pole_lowpass

    audio = check_audio(audio)
    _check_master_args(audio, sample_rate, target_lufs, ceiling_dbtp)
    block = _control_block(int(sample_rate))
    blocks_per_ms = sample_rate / 1000 / block
    model = _LoudnessModel(audio, sample_rate, block)
    start_lufs = model.lufs()
    if not math.isfinite(start_lufs):
        raise BadValueError("the track is silent; there is nothing to master")
    peaks = _BlockTruePeaks(audio, block)

    # The glue compressor listens to K-weighted level (what loudness counts), smoothed over ~100 ms.
    pole = math.exp(-1 / (GLUE_SMOOTHING_MS * blocks_per_ms))
    smoothed = one_pole_lowpass(model.energy[: peaks.count] / block, pole)
    base_level = -0.691 + 10 * np.log10(np.maximum(smoothed, 1e-20))

    lookahead = max(1, round(LIMITER_LOOKAHEAD_MS * blocks_per_ms))
    release = LIMITER_RELEASE_MS * blocks_per_ms
    search = 10 ** (-TRUE_PEAK_SEARCH_MARGIN_DB / 20)
    threshold_db = ceiling_dbtp - LIMITER_SAFETY_DB

    def gain_curve(gain_db: float) -> np.ndarray:
        """Total gain (dB) per control block for a static gain: glue, then limiter."""
        glue = _glue_reduction_db(base_level + gain_db, target_lufs + GLUE_THRESHOLD_LU, glue_ratio)
        pre = 10 ** ((gain_db - glue) / 20)
        threshold = 10 ** (threshold_db / 20)
        # Only blocks that could come near the threshold need their true peak.
        peaks.refine(peaks.context_peak * pre > threshold * search)
        reduction = _limiter_reduction_db(peaks.peak * pre, threshold, lookahead, release)
        return gain_db - glue - reduction

    aim = target_lufs
    for _ in range(4):
        curve = _solve_gain(gain_curve, model, aim, target_lufs - start_lufs)
        result = _Gained(audio, curve, block)
        over, final_peaks = _true_peak_overshoot_db(result, peaks.peak * 10 ** (curve / 20), block, ceiling_dbtp)
        if over > 0:  # the curve moved an inter-sample peak: aim the limiter lower and redo
            threshold_db -= over + 0.05
            continue
        loudness = _LoudnessModel(result, sample_rate, block)
        measured = loudness.lufs()
        if abs(measured - target_lufs) <= LOUDNESS_TOLERANCE_LU:
            break
        aim += target_lufs - measured  # the model's small bias, measured: correct for it
    result = _apply_gain_curve(audio, curve, block, out=audio if in_place else None)
    final_peaks.audio = result  # the same samples the _Gained view gave
    if over > 0:  # never seen; a static trim keeps the promise about the ceiling whatever happens
        result *= np.float32(10 ** (-(over + 0.01) / 20))
        final_peaks = _BlockTruePeaks(result, block)
        loudness = _LoudnessModel(result, sample_rate, block)
        measured = loudness.lufs()
    return Mastered(result, float(measured), final_peaks, loudness, int(sample_rate))


def _check_master_args(audio: np.ndarray, sample_rate: int, target_lufs: float, ceiling_dbtp: float) -> None:
    """BadValueError for a ceiling at or over 0 dBTP, a target outside -60..0 LUFS, or audio under 0.4 s."""
    if ceiling_dbtp >= 0:
        raise BadValueError(f"ceiling_dbtp must be below 0 dBTP, got {ceiling_dbtp:g}")
    if not -60 <= target_lufs < 0:
        raise BadValueError(f"target_lufs must be between -60 and 0, got {target_lufs:g}")
    if audio.shape[1] < _BLOCK_S * sample_rate:
        raise BadValueError("audio is shorter than 0.4 s; too short to master")


def _solve_gain(gain_curve, model: _LoudnessModel, aim_lufs: float, gain_db: float) -> np.ndarray:
    """The gain curve (gain_curve(static gain dB) -> dB per control block) whose loudness predicted by
    `model` is aim_lufs, by secant steps from gain_db (loudness rises with the static gain)."""
    low = high = None
    for _ in range(40):
        curve = gain_curve(gain_db)
        error = aim_lufs - model.lufs(curve)
        if abs(error) < 0.005:
            break
        if error > 0:
            low = gain_db
        else:
            high = gain_db
        step = gain_db + error
        if low is not None and high is not None and not low < step < high:
            step = 0.5 * (low + high)  # the limiter flattens the slope: fall back to bisection
        gain_db = step
    return curve


def _apply_gain_curve(audio: np.ndarray, curve_db: np.ndarray, block: int, out: np.ndarray | None = None) -> np.ndarray:
    """audio times the gain curve (dB per control block, linear within a block), into `out` (which
    may be audio itself) or a new array."""
    from app.audio.fx import run_chunked, upsample_linear_range

    values = 10 ** (curve_db / 20)
    out = np.empty_like(audio) if out is None else out

    def work(start, stop):
        gain = upsample_linear_range(values, block, start, stop)
        np.multiply(audio[:, start:stop], gain, out=out[:, start:stop])

    run_chunked(work, audio.shape[1])
    return out


def _true_peak_overshoot_db(audio: np.ndarray, predicted: np.ndarray, block: int, ceiling_dbtp: float):
    """How far (dB) the true peak of `audio` exceeds the ceiling (<= 0: it doesn't), and the block
    peaks it refined (for the exact true peak afterwards).

    `predicted` is each block's expected peak; only blocks predicted within 1 dB of the ceiling, or
    whose samples come that close, are oversampled (the rest were cleared before the gain went on).
    """
    peaks = _BlockTruePeaks(audio, block)
    near = 10 ** ((ceiling_dbtp - 1.0) / 20)
    peaks.refine((predicted > near) | (peaks.context_peak > near))
    loudest = float(peaks.peak.max())
    return (20 * math.log10(loudest) - ceiling_dbtp if loudest > 0 else -math.inf), peaks


# --- the master's colour and tone: the preset on the whole mix, then the EQ/tilt ---------------------

# The master EQ is a tilt: a high shelf of +g dB and a low shelf of -g/2 dB, g solved per track so the
# share of power above 1 kHz reaches the preset's tilt_share (within TILT_RANGE_DB). Judged on the
# track's own spectrum, so a dark or a bright arrangement both end up lo-fi-warm, not muffled.
TILT_HIGH_SHELF_HZ = 1500.0
TILT_LOW_SHELF_HZ = 150.0
TILT_RANGE_DB = (-6.0, 12.0)
BALANCE_SPLIT_HZ = 1000.0  # the "share of power above" frequency
ROLLOFF_SHARE = 0.95
SPECTRUM_FFT = 4096  # Welch segment (93 ms at 44.1 kHz)
SPECTRUM_SEGMENTS = 600  # at most this many segments, spread over the track, make the spectrum


def power_spectrum(audio, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies Hz, mean power) of audio (channels, n): Welch's method with Hann windows of
    SPECTRUM_FFT samples, at most SPECTRUM_SEGMENTS of them spread evenly over the track, channels
    summed. Silence or audio shorter than a segment gives zeros."""
    audio = check_audio(audio)
    n = audio.shape[1]
    freqs = np.fft.rfftfreq(SPECTRUM_FFT, 1 / sample_rate)
    if n < SPECTRUM_FFT:
        return freqs, np.zeros(freqs.size)
    count = min(SPECTRUM_SEGMENTS, (n - SPECTRUM_FFT) // (SPECTRUM_FFT // 2) + 1)
    starts = np.linspace(0, n - SPECTRUM_FFT, count).astype(np.int64)
    window = np.hanning(SPECTRUM_FFT).astype(np.float32)
    # The segments are picked from a view of every window (the same samples as an index array of
    # every sample's position, gathered eight times faster).
    segments = np.lib.stride_tricks.sliding_window_view(audio, SPECTRUM_FFT, axis=1)
    power = np.zeros(freqs.size)
    for first in range(0, count, 64):  # 64 segments at a time: ~4 MB of work
        spectra = np.fft.rfft(segments[:, starts[first:first + 64]] * window, axis=-1)
        power += (np.abs(spectra) ** 2).sum(axis=(0, 1))
    return freqs, power / count


def spectral_balance(audio, sample_rate: int) -> dict[str, float]:
    """The master's tone in two figures: 'rolloff_hz' (the frequency under which ROLLOFF_SHARE of the
    power lies) and 'share_above_1k' (0..1, the power above BALANCE_SPLIT_HZ)."""
    freqs, power = power_spectrum(audio, sample_rate)
    return _balance(freqs, power)


def _balance(freqs: np.ndarray, power: np.ndarray) -> dict[str, float]:
    total = float(power.sum())
    if total <= 0:
        return {"rolloff_hz": 0.0, "share_above_1k": 0.0}
    cumulative = np.cumsum(power) / total
    rolloff = float(freqs[min(int(np.searchsorted(cumulative, ROLLOFF_SHARE)), freqs.size - 1)])
    return {"rolloff_hz": rolloff, "share_above_1k": float(power[freqs > BALANCE_SPLIT_HZ].sum() / total)}


def _tilt_board(gain_db: float):
    """The tilt as a pedalboard chain: low shelf -gain/2 dB, high shelf +gain dB."""
    import pedalboard

    return pedalboard.Pedalboard([
        pedalboard.LowShelfFilter(cutoff_frequency_hz=TILT_LOW_SHELF_HZ, gain_db=-gain_db / 2, q=0.707),
        pedalboard.HighShelfFilter(cutoff_frequency_hz=TILT_HIGH_SHELF_HZ, gain_db=gain_db, q=0.707)])


def _tilt_response(gain_db: float, sample_rate: int) -> np.ndarray:
    """|H|^2 of the tilt at the power_spectrum bins, from its impulse response (the filters exactly)."""
    impulse = np.zeros((1, 8 * SPECTRUM_FFT), np.float32)
    impulse[0, 0] = 1.0
    response = _tilt_board(gain_db)(impulse, sample_rate)[0]
    spectrum = np.abs(np.fft.rfft(response)) ** 2
    return spectrum[::8][: SPECTRUM_FFT // 2 + 1]


def solve_tilt_db(audio, sample_rate: int, target_share: float,
                  spectrum: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """The tilt gain (dB, within TILT_RANGE_DB) that brings audio's share of power above 1 kHz to
    target_share (0 for silence), by bisection on the tilt's response over the measured spectrum.
    spectrum: power_spectrum(audio, sample_rate) when the caller already has it (saves a pass)."""
    if not 0 < target_share < 1:
        raise BadValueError(f"tilt_share must be between 0 and 1, got {target_share:g}")
    freqs, power = power_spectrum(audio, sample_rate) if spectrum is None else spectrum
    if power.sum() <= 0:
        return 0.0
    low, high = TILT_RANGE_DB
    for _ in range(14):  # 18 dB / 2**14: far finer than anyone hears
        middle = 0.5 * (low + high)
        share = _balance(freqs, power * _tilt_response(middle, sample_rate))["share_above_1k"]
        low, high = (middle, high) if share < target_share else (low, middle)
    return round(0.5 * (low + high), 2)


def apply_filters_in_place(make_board, audio: np.ndarray, sample_rate: int, block_frames: int = 1 << 18) -> None:
    """A pedalboard chain of filters, which treat each channel alone (make_board() gives a fresh one),
    over audio (float32 (channels, n)) in place: each channel through its own board on its own
    thread (pedalboard releases the GIL), block by block with the state carried (reset=False), so no
    full-length copy is made; the same samples as one call on the whole audio."""
    from app.audio.blocks import each_channel

    n = audio.shape[1]

    def one_channel(ch: int) -> None:
        board, row = make_board(), audio[ch:ch + 1]
        for start in range(0, n, block_frames):
            stop = min(n, start + block_frames)
            row[:, start:stop] = board(row[:, start:stop], sample_rate, reset=False)

    each_channel(one_channel, audio.shape[0])


def tilt_eq(audio: np.ndarray, sample_rate: int, target_share: float | None,
            spectrum: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """The master EQ, in place on audio (float32 (2, n)): the tilt solved by solve_tilt_db (given
    audio's power_spectrum when already measured). Returns the tilt applied (dB); target_share None
    leaves the audio as it is (0.0)."""
    if target_share is None:
        return 0.0
    gain_db = solve_tilt_db(audio, sample_rate, target_share, spectrum)
    if gain_db:
        apply_filters_in_place(lambda: _tilt_board(gain_db), audio, sample_rate)
    return gain_db


def finish_mix(audio: np.ndarray, sample_rate: int, preset: str = "default") -> float:
    """The pre-master mix -> what the limiter gets, in place: the lo-fi preset's chain over the whole
    mix (app.audio.fx.lofi_chain: saturation, hiss, band-limiting, wow, crush) then the tilt EQ aimed at
    its tilt_share. Returns the tilt (dB). master() comes next."""
    from app.audio.fx import lofi_chain, preset_parameters

    parameters = preset_parameters(preset)
    lofi_chain(preset).process_in_place(audio, sample_rate)
    return tilt_eq(audio, sample_rate, parameters["tilt_share"])


TILT_TOLERANCE = 0.2  # a master whose share above 1 kHz is this far (relative) off the aim gets a second pass


def master_song(audio: np.ndarray, sample_rate: int, preset: str = "default") -> tuple[Mastered, float]:
    """A song's pre-master mix -> (Mastered, the tilt applied in dB), in place: finish_mix (the preset's
    chain and the tilt EQ), then master(). The limiter and glue darken a mix whose transients are its
    brightest part, so when the master's share above 1 kHz misses the preset's aim by more than
    TILT_TOLERANCE, the tilt is trimmed on the master and it is mastered again (no copy is kept)."""
    from app.audio.fx import preset_parameters

    target = preset_parameters(preset)["tilt_share"]
    tilt = finish_mix(audio, sample_rate, preset)
    done = master(audio, sample_rate, in_place=True)
    if target is not None:
        spectrum = power_spectrum(done.audio, sample_rate)  # measured once: the share and the retrim
        share = _balance(*spectrum)["share_above_1k"]
        if share > 0 and abs(share / target - 1) > TILT_TOLERANCE:
            extra = tilt_eq(done.audio, sample_rate, min(0.95, target * target / share), spectrum)
            tilt += extra
            done = master(done.audio, sample_rate, in_place=True)
    return done, round(tilt, 2)
