"""loudness_lufs (numpy) against pyloudnorm's Meter, the reference it replaces on the batch checks."""

from __future__ import annotations

import numpy as np
import pytest

from app.audio.master import loudness_lufs


@pytest.mark.parametrize("rate, seconds, channels", [(44100, 7.003, 2), (48000, 3.0, 1), (44100, 0.4, 2),
                                                     (22050, 5.0, 5), (44100, 13.0, 2)])
def test_loudness_is_pyloudnorms(rate, seconds, channels):
    import pyloudnorm

    rng = np.random.default_rng(channels)
    n = int(seconds * rate)
    # A fade-in with a quiet stretch, so both gates drop blocks.
    envelope = np.linspace(0.0005, 0.5, n) * ((np.arange(n) + rate // 4) % (3 * rate) > rate // 2)
    audio = (rng.standard_normal((channels, n)) * envelope).astype(np.float32)
    expected = pyloudnorm.Meter(rate).integrated_loudness(audio.T.astype(np.float64))
    assert abs(loudness_lufs(audio, rate) - expected) < 1e-6


def test_silence_is_minus_infinity():
    assert loudness_lufs(np.zeros((2, 44100), np.float32), 44100) == -np.inf
