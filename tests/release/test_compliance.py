"""The delivery checks on a final file (app/release/compliance.py), on small WAVs written here: the
loudness, the clipped samples, the longest silence and the read-back itself."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from app.audio.master import loudness_lufs
from app.release.compliance import (clipped_samples, longest_silence_s, measure_compliance, read_audio,
                                    SILENCE_HOP_S)

RATE = 44100


def _music(seconds: float, seed: int = 0) -> np.ndarray:
    """Stereo noise shaped like a track: float32 (2, n), about -20 dBFS RMS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    tone = 0.2 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    return np.stack([tone + 0.03 * rng.standard_normal(n), tone + 0.03 * rng.standard_normal(n)]).astype(np.float32)


def test_pcm16_read_equals_libsndfiles_floats(tmp_path):
    audio = _music(3.0)
    path = tmp_path / "a.wav"
    sf.write(path, audio.T, RATE, subtype="PCM_16")
    read, rate = read_audio(path)
    floats, _ = sf.read(path, dtype="float32", always_2d=True)
    assert rate == RATE and read.dtype == np.float32 and read.flags.c_contiguous
    assert np.array_equal(read, floats.T)


def test_mono_and_float_files_come_back_stereo(tmp_path):
    mono = _music(1.0)[0]
    sf.write(tmp_path / "m.wav", mono, RATE, subtype="PCM_16")
    sf.write(tmp_path / "f.wav", mono, RATE, subtype="FLOAT")
    for name in ("m.wav", "f.wav"):
        read, _ = read_audio(tmp_path / name)
        assert read.shape == (2, mono.size) and np.array_equal(read[0], read[1])
    assert np.allclose(read_audio(tmp_path / "m.wav")[0][0], mono, atol=1 / 32768)


def test_clipped_samples_are_counted_in_every_channel():
    audio = _music(1.0) * 0.5
    assert clipped_samples(audio) == 0
    audio[0, 100:103] = 32767 / 32768
    audio[1, 5000] = -1.0
    assert clipped_samples(audio) == 4


def test_longest_silence_is_the_longest_quiet_run_between_intro_and_outro():
    audio = _music(10.0)
    audio[:, int(2.0 * RATE):int(3.0 * RATE)] = 0  # 1 s of silence
    audio[:, int(5.0 * RATE):int(7.5 * RATE)] *= 1e-4  # 2.5 s under -60 dBFS
    assert longest_silence_s(audio, RATE, 0.0, 10.0) == pytest.approx(2.5, abs=2 * SILENCE_HOP_S)
    # outside intro..outro silence does not count
    assert longest_silence_s(audio, RATE, 0.0, 4.0) == pytest.approx(1.0, abs=2 * SILENCE_HOP_S)
    assert longest_silence_s(_music(3.0), RATE, 0.0, 3.0) == 0.0


def test_measure_compliance_on_a_file(tmp_path):
    audio = _music(12.0)
    audio[:, int(4.0 * RATE):int(7.0 * RATE)] = 0  # 3 s gap: the silence check fails
    path = tmp_path / "t.wav"
    sf.write(path, audio.T, RATE, subtype="PCM_16")
    c = measure_compliance(path, expected_s=12.0, bar_s=2.0, intro_end_s=0.0, outro_start_s=12.0, sample_rate=RATE)
    reference = loudness_lufs(read_audio(path)[0], RATE)  # pyloudnorm's arithmetic, float64
    assert c.lufs == pytest.approx(reference, abs=0.01)
    assert c.clipped_samples == 0 and c.checks["clipping"]
    assert c.longest_silence_s == pytest.approx(3.0, abs=2 * SILENCE_HOP_S) and not c.checks["silence"]
    assert c.duration_s == 12.0 and c.checks["duration"] and c.checks["sample_rate"]
    assert not c.checks["loudness"] and not c.passed  # ~-20 LUFS, not the -14 a release needs
