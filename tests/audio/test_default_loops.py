"""The shipped default effects: format, tempo, length, level, loopability, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from app.audio import default_loops as de
from app.audio import loops as ef

SR = 44100


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("effects")
    written = de.make_default_effects(folder)
    return folder, written


def _read(path):
    audio, rate = sf.read(path, dtype="float64", always_2d=True)
    return audio.T, rate


def test_files_are_16bit_stereo_44k(generated):
    folder, written = generated
    assert {p.parent.name for p in written} == {"beats", "ambience"}
    assert (folder / "ambience" / "rain.wav") in written
    assert (folder / "ambience" / "vinyl_crackle.wav") in written
    for path in written:
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype, info.format) == (SR, 2, "PCM_16", "WAV")
    assert not list(folder.rglob(".*"))  # no temporary files left behind
    assert sum(p.stat().st_size for p in written) < 8 * 1024 * 1024


def test_beats_whole_bars_at_their_named_bpm(generated):
    folder, _ = generated
    beats = sorted((folder / "beats").glob("*.wav"))
    tempos = [ef.bpm_from_name(p.stem) for p in beats]
    assert len(beats) >= 3 and len(set(tempos)) == len(tempos)
    for path, bpm in zip(beats, tempos):
        assert 70 <= bpm <= 90
        audio, _ = _read(path)
        bar = 4 * 60 / bpm * SR
        bars = round(audio.shape[1] / bar)
        assert bars in (2, 4)
        assert abs(audio.shape[1] - bars * bar) <= 1
        # The rhythm itself is at that tempo, not just the name.
        assert abs(ef.detect_bpm(audio.astype(np.float32), SR) - bpm) < 2


def test_levels_not_silent_no_clipping(generated):
    _, written = generated
    for path in written:
        audio, _ = _read(path)
        peak_db = 20 * np.log10(np.abs(audio).max())
        rms_db = 20 * np.log10(np.sqrt(np.mean(audio**2)))
        assert peak_db < -1.0, path.name
        if path.parent.name == "beats":
            assert -4.0 < peak_db < -2.0  # kick peaks around -3 dBFS
            assert rms_db > -25
        else:
            assert rms_db > -50
            assert 10.0 <= audio.shape[1] / SR <= 15.0


def test_beats_sound_like_drums(generated):
    """Kick energy low, hats up high, and real gaps between hits (not a wall of noise)."""
    folder, _ = generated
    for path in (folder / "beats").glob("*.wav"):
        audio, _ = _read(path)
        mono = audio.mean(axis=0)
        spectrum = np.abs(np.fft.rfft(mono)) ** 2
        freqs = np.fft.rfftfreq(mono.size, 1 / SR)
        low = spectrum[(freqs > 30) & (freqs < 150)].sum()
        high = spectrum[freqs > 6000].sum()
        assert low > 10 * high > 0
        frame = int(0.01 * SR)
        frames = mono[: mono.size // frame * frame].reshape(-1, frame)
        levels = np.sqrt(np.mean(frames**2, axis=1))
        assert np.percentile(levels, 95) > 8 * np.percentile(levels, 10)


def test_loops_are_seamless(generated):
    _, written = generated
    for path in written:
        audio, _ = _read(path)
        if path.parent.name == "ambience":
            wrap_jump = np.abs(audio[:, 0] - audio[:, -1]).max()
            assert wrap_jump <= np.abs(np.diff(audio, axis=1)).max()
        # The tail of the last hit wraps onto the start: the loop's first and last 50 ms are not silent.
        edge = int(0.05 * SR)
        assert np.abs(audio[:, :edge]).max() > 1e-3, path.name
        assert np.abs(audio[:, -edge:]).max() > 1e-3, path.name


def test_deterministic():
    pattern = de.DEFAULT_BEATS[0]
    np.testing.assert_array_equal(de.render_beat(pattern), de.render_beat(pattern))
    np.testing.assert_array_equal(de.render_vinyl(seconds=2.0), de.render_vinyl(seconds=2.0))


def test_swing_positions():
    assert de.step_time_beats(0, 0.58) == 0.0
    assert de.step_time_beats(2, 0.58) == 0.5
    assert de.step_time_beats(1, 0.58) == pytest.approx(0.29)
    assert de.step_time_beats(15, 0.5) == pytest.approx(3.75)
    assert de.step_time_beats(2, 0.58, unit=8) == pytest.approx(0.58)
    assert de.step_time_beats(6, 0.6, unit=8) == pytest.approx(1.6)
    assert de.step_time_beats(4, 0.6, unit=8) == 1.0
