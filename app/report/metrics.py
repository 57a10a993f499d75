"""Melody metrics that the evaluation figures and the evaluation plots both use (pitch lists in,
numbers out): share in scale, repetitiveness, and the interval windows the copy figures count."""

from __future__ import annotations

import numpy as np

from app.music import theory

WINDOW = 16


def in_scale(pitches: list[int], key: int, mode: str) -> tuple[int, int]:
    """(notes in scale, notes) for one melody."""
    scale = theory.scale_pitch_classes(key, mode)
    return sum(1 for p in pitches if p % 12 in scale), len(pitches)


def repetitiveness(pitches: list[int], span: int = 10) -> list[float]:
    """Per t: share of pitches in notes t-span..t that also occur in t-2*span..t-span."""
    out = []
    for t in range(2 * span, len(pitches) + 1):
        recent, before = pitches[t - span:t], set(pitches[t - 2 * span:t - span])
        out.append(sum(1 for p in recent if p in before) / span)
    return out


def interval_windows(pitches: list[int], n: int = WINDOW) -> list[tuple[int, ...]]:
    """All n-note windows of a melody as interval sequences (n-1 intervals): transposition-free."""
    intervals = np.diff(np.asarray(pitches, dtype=np.int64))
    return [tuple(intervals[i:i + n - 1]) for i in range(len(pitches) - n + 1)]
