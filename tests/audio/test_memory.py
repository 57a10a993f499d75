"""Memory does not grow with a track's length beyond its output buffer: the peak of mixing and
mastering long spilled stems, measured with tracemalloc (never timed)."""

from __future__ import annotations

import tracemalloc

import numpy as np

from app.audio.master import master
from app.audio.mix import mix_track
from app.audio.spill import SPILL_BLOCK_FRAMES, SpilledAudio, use_memory
from app.config import SPILL_MEMORY_BYTES

SR = 44100


def _noise_layer(seconds: float, level: float, seed: int) -> SpilledAudio:
    """Stereo noise written block by block to a SpilledAudio (never whole in memory)."""
    rng = np.random.default_rng(seed)
    out = SpilledAudio()
    n = int(seconds * SR)
    for start in range(0, n, SPILL_BLOCK_FRAMES):
        m = min(SPILL_BLOCK_FRAMES, n - start)
        out.append((rng.standard_normal((2, m)) * level).astype(np.float32))
    return out


def _peak_of_mix_and_master(seconds: float) -> tuple[int, int]:
    """(tracemalloc peak in bytes of mix_track + master(in_place) over spilled noise stems, output bytes)."""
    stems = {name: _noise_layer(seconds, 0.05, seed) for seed, name in enumerate(("melody", "chords", "bass"))}
    beat, bed = _noise_layer(seconds, 0.1, 7), _noise_layer(seconds, 0.02, 8)
    tracemalloc.start()
    try:
        mixed = mix_track(stems, beat=beat, ambience=[(bed, -20.0)], chain="default", bpm=85.0)
        done = master(mixed, SR, in_place=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert done.audio.shape == (2, int(seconds * SR))
    assert abs(done.lufs - (-14.0)) < 0.1
    return peak, done.audio.nbytes


def test_mix_and_master_peak_grows_only_by_the_output():
    # Every block on disk, as past the in-memory budget (a fixed amount, tested in test_blockwise.py).
    use_memory(0)
    try:
        _peak_with_every_layer_on_disk()
    finally:
        use_memory(SPILL_MEMORY_BYTES)


def _peak_with_every_layer_on_disk():
    _peak_of_mix_and_master(5.0)  # one-time allocations (imports, the thread pool, filter designs)
    short_peak, short_out = _peak_of_mix_and_master(20.0)
    long_peak, long_out = _peak_of_mix_and_master(120.0)
    # The old path (a float32 copy per stage, float64 filter outputs, whole pydub segments, five
    # layers held in memory) grew by about 10x the output. Now the output buffer is the only
    # full-length array; what else grows are control-rate arrays (one float64 per ~1 ms block: the
    # loudness model, block peaks, gain curves), about a third of the output's size.
    assert long_peak - short_peak <= 1.5 * (long_out - short_out), (short_peak, long_peak, long_out)
    assert long_peak <= 1.5 * long_out + 32 * 2**20, (long_peak, long_out)
