"""Chunked work over long audio: a small shared thread pool, chunks in parallel, and the in-place
variants the lo-fi chain uses so that a long track is never copied whole.

    run_chunked(work, n)                      # work(start, stop) for consecutive ranges, in parallel
    each_channel(work, channels)              # work(ch) for every channel, in parallel
    sosfilt_in_place(sos, audio)              # an IIR filter over (channels, n), state carried
    run_chunked_in_place(compute, audio, h)   # effects that read up to h samples back
"""

from __future__ import annotations

import os

import numpy as np

# Frames per work unit: two channels of float32 at this size stay inside a core's L2 cache.
_CHUNK_FRAMES = 1 << 15
_POOL = None


def _pool():
    """A small shared thread pool; numpy releases the GIL inside ufuncs, so chunks run in parallel."""
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 2), thread_name_prefix="fx")
    return _POOL


def run_chunked(work, n_frames: int, chunk_frames: int = _CHUNK_FRAMES) -> None:
    """Call `work(start, stop)` for consecutive frame ranges covering 0..n_frames, in parallel.

    `work` must write its own output slice; ranges never overlap.
    """
    bounds = [(s, min(s + chunk_frames, n_frames)) for s in range(0, n_frames, chunk_frames)]
    if len(bounds) <= 2:
        for start, stop in bounds:
            work(start, stop)
        return
    for future in [_pool().submit(work, start, stop) for start, stop in bounds]:
        future.result()


def each_channel(work, channels: int) -> None:
    """Call `work(ch)` for ch in 0..channels-1, channels in parallel threads (for in-place work on one
    row each, in compiled code that releases the GIL); errors are raised here."""
    list(_pool().map(work, range(channels)))


def map_channels(func, audio: np.ndarray) -> np.ndarray:
    """Apply `func(channel) -> channel` (1-D arrays) to each row of `audio`, channels in parallel.

    For filters whose compiled loops release the GIL while they run.
    """
    if audio.shape[0] == 1:
        return func(audio[0])[None, :]
    return np.stack(list(_pool().map(func, audio)))


def sosfilt_in_place(sos: np.ndarray, audio: np.ndarray) -> None:
    """Filter audio (channels, n) float32, C-contiguous, through second-order sections, in place.

    The same samples as scipy.signal.sosfilt over each whole channel (its compiled kernel, see
    app/audio/filters.py), without a copy; channels run in parallel threads (the kernel releases the GIL).
    """
    from app.audio.filters import sosfilt_rows_in_place

    sos = np.ascontiguousarray(sos, dtype=audio.dtype)

    def one_channel(ch: int) -> None:
        sosfilt_rows_in_place(sos, audio[ch:ch + 1], np.zeros((1, sos.shape[0], 2), dtype=audio.dtype))

    each_channel(one_channel, audio.shape[0])


def run_chunked_in_place(compute, audio: np.ndarray, history: int) -> None:
    """Replace audio (channels, n) chunk by chunk, in parallel, with compute(source, base, start, stop).

    compute returns the new (channels, stop - start) block from `source`, the original samples
    base..stop (base = max(0, start - history)): an effect that reads up to `history` samples back
    can so work in place. Each chunk's history is copied before any chunk is overwritten.
    """
    n = audio.shape[1]
    heads = {start: audio[:, max(0, start - history):start].copy() for start in range(0, n, _CHUNK_FRAMES)}

    def work(start, stop):
        head = heads[start]
        source = np.concatenate([head, audio[:, start:stop]], axis=1) if head.shape[1] else audio[:, start:stop]
        audio[:, start:stop] = compute(source, start - head.shape[1], start, stop)

    run_chunked(work, n)
