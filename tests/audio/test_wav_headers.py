"""Property tests (hypothesis): any WAV header loads as float audio of the right shape."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

# No example database: nothing is written into the repository.
SETTINGS = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# --- effect WAVs ----------------------------------------------------------------------------------

SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]


@settings(SETTINGS, max_examples=40)
@given(channels=st.integers(1, 2), rate=st.integers(8000, 96000), subtype=st.sampled_from(SUBTYPES),
       extensible=st.booleans(), seconds=st.floats(0.2, 0.8))
def test_load_wav_on_generated_headers(tmp_path, channels, rate, subtype, extensible, seconds):
    import soundfile as sf

    from app.audio import loops as ef

    assume(not (extensible and subtype == "PCM_U8"))  # libsndfile writes no 8-bit WAVEX
    frames = int(seconds * rate)
    t = np.arange(frames) / rate
    tone = 0.5 * np.sin(2 * np.pi * 220 * t)
    data = np.stack([tone] * channels, axis=1)
    path = tmp_path / f"h_{channels}_{rate}_{subtype}_{extensible}.wav"
    sf.write(str(path), data, rate, subtype=subtype, format="WAVEX" if extensible else "WAV")

    audio = ef.load_wav(path, 44100)

    assert audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[0] == 2
    assert audio.shape[1] / 44100 == pytest.approx(frames / rate, rel=2e-3, abs=2 / rate)
    assert np.isfinite(audio).all()
    middle = audio[:, audio.shape[1] // 4: 3 * audio.shape[1] // 4]
    assert 0.4 < np.abs(middle).max() < 0.6  # the tone's level survives depth and rate
    np.testing.assert_allclose(audio[0], audio[1], atol=1e-6)  # mono duplicated, stereo identical here
    ef.clear_cache()
    path.unlink()
