"""Small synthetic WAVs for tests: click loops, drum patterns, noise beds; and a precise onset finder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

SR = 44100


def write_wav(path: Path, audio: np.ndarray, sample_rate: int = SR, subtype: str = "PCM_16", fmt: str = "WAV") -> Path:
    """Write `audio` ((channels, n) or (n,)) with soundfile's subtype/format; returns the path."""
    import soundfile as sf

    data = np.asarray(audio)
    data = data.T if data.ndim == 2 else data
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(os.fsencode(path), data, sample_rate, subtype=subtype, format=fmt)
    return Path(path)


def click(sample_rate: int = SR, length_s: float = 0.004, amplitude: float = 0.8) -> np.ndarray:
    """A short decaying noise burst: a sharp, broadband transient."""
    n = int(length_s * sample_rate)
    rng = np.random.default_rng(7)
    return (amplitude * rng.uniform(-1, 1, n) * np.exp(-np.arange(n) / (n / 4))).astype(np.float32)


def click_loop(bpm: float, beats: int, sample_rate: int = SR) -> np.ndarray:
    """(2, n) loop of exactly `beats` beats at `bpm` with a click on every beat."""
    beat = 60.0 / bpm * sample_rate
    n = int(round(beats * beat))
    out = np.zeros((2, n), np.float32)
    c = click(sample_rate)
    for k in range(beats):
        s = int(round(k * beat))
        m = min(c.size, n - s)
        out[:, s:s + m] += c[:m]
    return out


def kick_pattern(bpm: float, bars: int, sample_rate: int = SR, tail_s: float = 0.0) -> np.ndarray:
    """(2, n) kick on 1 and 3, snare-ish noise on 2 and 4, soft hats on the 8ths; `tail_s` extra silence."""
    beat = 60.0 / bpm * sample_rate
    n = int(round(bars * 4 * beat + tail_s * sample_rate))
    out = np.zeros(n, np.float64)
    rng = np.random.default_rng(3)
    t = np.arange(int(0.3 * sample_rate)) / sample_rate
    kick = np.sin(2 * np.pi * (55 * t + 60 * (1 - np.exp(-t / 0.03)) * 0.03)) * np.exp(-t / 0.12)
    snare = rng.standard_normal(t.size) * np.exp(-t / 0.06) * 0.5
    hat = rng.standard_normal(t.size) * np.exp(-t / 0.01) * 0.15
    for k in range(bars * 8):
        s = int(round(k * beat / 2))
        sound = hat.copy()
        if k % 4 == 0:
            sound = sound + kick
        elif k % 4 == 2:
            sound = sound + snare
        m = min(sound.size, n - s)
        out[s:s + m] += sound[:m]
    out *= 0.7 / np.abs(out).max()
    return np.stack([out, out]).astype(np.float32)


def noise_bed(seconds: float, sample_rate: int = SR, seed: int = 1) -> np.ndarray:
    """(2, n) brownish noise with a slow swell: start and end differ, so naive tiling would click."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    white = rng.standard_normal((2, n))
    # one-pole low-pass: strong low frequencies make any seam jump obvious
    from scipy.signal import lfilter

    bed = lfilter([0.05], [1, -0.95], white, axis=1)
    bed *= 0.25 / np.abs(bed).max()
    return bed.astype(np.float32)


def threshold_onsets(audio: np.ndarray, sample_rate: int = SR, threshold: float = 0.2, hold_s: float = 0.1) -> np.ndarray:
    """Onset times (s): first sample whose |amplitude| crosses `threshold`, then `hold_s` dead time.

    Exact to the sample for clicks over silence, which is what the grid tests use.
    """
    env = np.abs(np.asarray(audio)).max(axis=0) if np.ndim(audio) == 2 else np.abs(audio)
    hot = np.flatnonzero(env > threshold)
    onsets: list[int] = []
    hold = int(hold_s * sample_rate)
    for i in hot:
        if not onsets or i - onsets[-1] > hold:
            onsets.append(int(i))
    return np.array(onsets) / sample_rate
