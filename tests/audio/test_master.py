"""Mastering: loudness and true-peak meters, the limiter's targets, and tagged exports."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from app.audio import master as M
from app.deliver import export
from app.errors import BadValueError

SR = 44100


@functools.lru_cache(maxsize=None)
def _pink(seconds: float, seed: int = 0) -> np.ndarray:
    """Pink-ish stereo noise (Paul Kellet's -3 dB/octave filter on white noise)."""
    from scipy import signal

    rng = np.random.default_rng(seed)
    white = rng.standard_normal((2, int(seconds * SR)))
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1, -2.494956002, 2.017265875, -0.522189400]
    out = signal.lfilter(b, a, white, axis=1).astype(np.float32)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=None)
def _music(seconds: float, seed: int = 0) -> np.ndarray:
    """A dynamic music-like signal: chords with a quiet and a loud section, kicks and hats."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    chords = sum(a * np.sin(2 * np.pi * f * t) for f, a in [(220, 0.2), (277.2, 0.12), (330, 0.1)])
    since = t % 0.5
    kick = 0.9 * np.sin(2 * np.pi * 55 * since) * np.exp(-since / 0.05)
    hats = 0.3 * rng.standard_normal(n) * np.exp(-((t + 0.25) % 0.5) / 0.01)
    section = np.where(t % 4 < 2, 1.0, 0.25)
    left = chords * section + kick + hats
    right = 0.9 * chords * section + kick + 0.8 * hats
    out = np.stack([left, right]).astype(np.float32)
    out.setflags(write=False)
    return out


def at_lufs(audio: np.ndarray, lufs: float) -> np.ndarray:
    return (audio * np.float32(10 ** ((lufs - M.loudness_lufs(audio, SR)) / 20))).astype(np.float32)


SIGNALS = {"pink": lambda: _pink(12.0), "music": lambda: _music(12.0)}


# --- meters -----------------------------------------------------------------------------------------


def test_loudness_of_a_1k_sine_matches_bs1770():
    # A 1 kHz sine of amplitude A in both channels reads 20*log10(A) LUFS (the -0.691 offsets K at 1 kHz).
    t = np.arange(5 * SR) / SR
    tone = np.tile(0.1 * np.sin(2 * np.pi * 997 * t), (2, 1)).astype(np.float32)
    assert abs(M.loudness_lufs(tone, SR) - (-20.0)) < 0.1


@pytest.mark.parametrize("name", SIGNALS)
@pytest.mark.parametrize("level", [-30.0, -14.0])
def test_fast_loudness_model_agrees_with_pyloudnorm(name, level):
    audio = at_lufs(SIGNALS[name](), level)
    block = M._control_block(SR)
    assert abs(M._LoudnessModel(audio, SR, block).lufs() - M.loudness_lufs(audio, SR)) < 0.02


def test_k_weighted_shelf_and_highpass():
    t = np.arange(SR) / SR
    for freq, gain_db in [(20.0, -14.0), (997.0, 0.69), (10000.0, 4.0)]:
        x = np.tile(np.sin(2 * np.pi * freq * t), (2, 1)).astype(np.float32)
        y = M.k_weighted(x, SR)[:, SR // 2 :]
        measured = 20 * np.log10(np.sqrt(np.mean(y**2)) / np.sqrt(0.5))
        assert abs(measured - gain_db) < 1.0, (freq, measured)


def test_loudness_rejects_too_short_audio():
    with pytest.raises(BadValueError):
        M.loudness_lufs(np.zeros((2, 1000), np.float32), SR)


def test_true_peak_sees_the_intersample_peak():
    # A sine at fs/4 sampled 45 degrees off its peaks: samples at 0.707 A, true peak A (+3 dB).
    n = np.arange(SR)
    tone = np.tile(0.5 * np.sin(np.pi / 2 * n + np.pi / 4), (2, 1)).astype(np.float32)
    sample_peak_db = 20 * np.log10(np.abs(tone).max())
    tp = M.true_peak_dbtp(tone, SR)
    assert abs(tp - 20 * np.log10(0.5)) < 0.2  # resample_poly's filter ripple
    assert tp > sample_peak_db + 2.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_true_peak_block_search_equals_full_oversampling(seed):
    rng = np.random.default_rng(seed)
    audio = _music(3.0, seed) * np.float32(2.0) + 0.2 * rng.standard_normal((2, 3 * SR)).astype(np.float32)
    assert M.true_peak_dbtp(audio, SR) == pytest.approx(M.true_peak_dbtp_full(audio, SR), abs=1e-4)


@pytest.mark.parametrize("n", [1, 7, 40_000])  # shorter than the filter, and over two of its chunks
def test_interpolated_peaks_are_upfirdns_values_folded(n):
    """The block search's polyphase oversampling gives upfirdn's float32 values exactly."""
    from app.audio.filters import upfirdn

    x = (np.random.default_rng(n).standard_normal((2, n)) * 0.4).astype(np.float32)
    taps = M._interpolation_filter().astype(np.float32)
    delay = (taps.size - 1) // 2
    up = upfirdn(taps, x, M.OVERSAMPLING, axis=-1)[:, delay:delay + n * M.OVERSAMPLING]
    expected = np.abs(up).reshape(2, n, M.OVERSAMPLING).max(axis=2)
    assert np.array_equal(M._interpolated_peaks(taps, x), expected)


@pytest.mark.parametrize("n", [300, 12_345, 200_003])  # all stretches at an end; some inside; many batches
def test_refined_block_peaks_are_the_whole_signals_oversampled_peaks(n):
    """The block search's stretches (views inside the audio, gathered at its ends, and a gain curve's
    samples made on the fly) give each block the peak that oversampling the whole signal gives it."""
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((2, n)) * 0.4).astype(np.float32)
    block = M._control_block(SR)
    curve = np.linspace(-6.0, 2.0, -(-n // block))
    taps = M._interpolation_filter().astype(np.float32)
    for audio, samples in ((x, x), (M._Gained(x, curve, block), M._apply_gain_curve(x, curve, block))):
        peaks = M._BlockTruePeaks(audio, block)
        peaks.refine(np.ones(peaks.count, bool))
        whole = np.maximum(M._interpolated_peaks(taps, samples), np.abs(samples)).max(axis=0)
        expected = np.maximum.reduceat(whole, np.arange(0, n, block))
        assert np.array_equal(peaks.peak, expected.astype(np.float64))


def test_filters_run_channel_by_channel_give_one_stereo_calls_samples():
    audio = _music(3.0).copy()
    expected = M._tilt_board(4.0)(audio, SR)
    M.apply_filters_in_place(lambda: M._tilt_board(4.0), audio, SR, block_frames=10_000)
    assert np.array_equal(audio, expected)


def test_true_peak_of_silence():
    assert M.true_peak_dbtp(np.zeros((2, SR), np.float32), SR) == -np.inf


# --- master -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SIGNALS)
@pytest.mark.parametrize("input_lufs", [-30.0, -6.0])
def test_master_hits_loudness_and_true_peak(name, input_lufs):
    audio = at_lufs(SIGNALS[name](), input_lufs)
    out = M.master(audio, SR).audio
    assert out.shape == audio.shape and out.dtype == np.float32
    assert abs(M.loudness_lufs(out, SR) - (-14.0)) < 0.2
    assert M.true_peak_dbtp_full(out, SR) <= -1.0
    assert np.abs(out).max() < 1.0


@pytest.mark.parametrize("target_lufs, ceiling_dbtp", [(-16.0, -2.0), (-10.0, -1.0)])
def test_master_other_targets(target_lufs, ceiling_dbtp):
    out = M.master(at_lufs(_music(8.0, 3), -20.0), SR, target_lufs=target_lufs, ceiling_dbtp=ceiling_dbtp).audio
    assert abs(M.loudness_lufs(out, SR) - target_lufs) < 0.2
    assert M.true_peak_dbtp_full(out, SR) <= ceiling_dbtp


def test_limiter_is_smooth_not_a_clipper():
    # A steady sine pushed 6 dB past the ceiling comes out as a sine, not a flat-topped wave.
    t = np.arange(6 * SR) / SR
    tone = np.tile(np.sin(2 * np.pi * 100 * t), (2, 1)).astype(np.float32)
    out = M.master(tone, SR, target_lufs=-3.0, ceiling_dbtp=-3.0, glue_ratio=1.0).audio[0, SR : 5 * SR]
    spectrum = np.abs(np.fft.rfft(out * np.hanning(out.size)))
    fundamental = spectrum[400]  # 100 Hz at 0.25 Hz per bin
    third = spectrum[1190:1210].max()
    assert third < fundamental * 10 ** (-50 / 20)
    assert np.abs(out).max() <= 10 ** (-3 / 20)


def test_master_rejects_bad_input():
    with pytest.raises(BadValueError, match="silent"):
        M.master(np.zeros((2, SR), np.float32), SR)
    with pytest.raises(BadValueError, match="short"):
        M.master(np.ones((2, 100), np.float32) * 0.1, SR)
    with pytest.raises(BadValueError, match="ceiling"):
        M.master(_pink(2.0), SR, ceiling_dbtp=0.5)


# --- export -----------------------------------------------------------------------------------------

TAGS = {
    "title": "Rainy Window",
    "artist": "lofi bot",
    "album": "Tests",
    "bpm": 82,
    "key": "Am",
    "genre": "Lo-fi",
    "comment": "made by tests",
    "tracknumber": "3",
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    audio = M.master(at_lufs(_music(2.0), -20.0), SR).audio
    paths = export.export_track(audio, SR, folder / "track", formats=("wav", "mp3", "flac"), tags=TAGS)
    return folder, paths


def test_export_writes_every_format_with_right_audio(exported):
    import soundfile
    from mutagen.mp3 import MP3

    folder, paths = exported
    assert [p.name for p in paths] == ["track.wav", "track.mp3", "track.flac"]
    for path in paths:
        assert path.exists() and path.stat().st_size > 1000
    for path in (paths[0], paths[2]):
        info = soundfile.info(path)
        assert info.samplerate == 44100 and info.channels == 2
        assert info.subtype == "PCM_16"
        assert abs(info.duration - 2.0) < 1e-3
    mp3 = MP3(paths[1])
    assert mp3.info.sample_rate == 44100 and mp3.info.channels == 2
    assert mp3.info.bitrate == 320000
    assert abs(mp3.info.length - 2.0) < 0.1
    assert not list(folder.glob("*partial*"))


def test_export_wav_keeps_the_master(exported):
    import soundfile

    _, paths = exported
    data, _ = soundfile.read(paths[0], dtype="float32")
    assert np.abs(data).max() < 1.0
    assert abs(M.loudness_lufs(data.T, SR) - (-14.0)) < 0.2


def test_export_tags_read_back(exported):
    import soundfile
    from mutagen.flac import FLAC
    from mutagen.id3 import ID3

    _, (wav_path, mp3_path, flac_path) = exported
    with soundfile.SoundFile(wav_path) as wav:  # a LIST/INFO chunk (bpm and key are not INFO fields)
        assert (wav.title, wav.artist, wav.album, wav.genre, wav.comment, wav.tracknumber) == (
            "Rainy Window", "lofi bot", "Tests", "Lo-fi", "made by tests", "3")
    for id3 in (ID3(mp3_path),):
        assert id3["TIT2"].text[0] == "Rainy Window"
        assert id3["TPE1"].text[0] == "lofi bot"
        assert id3["TALB"].text[0] == "Tests"
        assert id3["TBPM"].text[0] == "82"
        assert id3["TKEY"].text[0] == "Am"
        assert id3["TCON"].text[0] == "Lo-fi"
        assert id3["TRCK"].text[0] == "3"
        assert id3.getall("COMM")[0].text[0] == "made by tests"
    flac = FLAC(flac_path)
    for name, value in TAGS.items():
        assert flac[name] == [str(value)]


def test_export_keeps_the_rate_it_is_given_and_drops_a_known_suffix(tmp_path):
    import soundfile

    audio = (0.1 * np.random.default_rng(0).standard_normal((2, 48000))).astype(np.float32)
    (path,) = export.export_track(audio, 48000, tmp_path / "song.wav")
    assert path == tmp_path / "song.wav"
    info = soundfile.info(path)
    assert info.samplerate == 48000 and info.frames == 48000  # made at 48 kHz: no resampling


def test_export_rejects_unknown_format_and_tag(tmp_path):
    audio = np.zeros((2, SR), np.float32)
    with pytest.raises(BadValueError, match="wav, mp3, flac"):
        export.export_track(audio, SR, tmp_path / "x", formats=("wav", "ogg"))
    with pytest.raises(BadValueError, match="title"):
        export.export_track(audio, SR, tmp_path / "x", tags={"mood": "chill"})
    assert list(tmp_path.iterdir()) == []


def test_master_reports_what_the_meters_measure():
    """The figures master returns (and the sidecar records) are the reference meters' figures."""
    from app.audio.master import loudness_lufs, master, true_peak_dbtp

    rng = np.random.default_rng(7)
    t = np.arange(44100 * 20) / 44100
    music = 0.3 * np.sin(2 * np.pi * 110 * t) * (1 + np.sin(2 * np.pi * 0.25 * t)) + 0.05 * rng.standard_normal(t.size)
    clicks = np.zeros_like(t)
    clicks[:: 44100 // 2] = 0.9
    audio = np.stack([music + clicks, music - clicks]).astype(np.float32)
    result = master(audio, 44100)
    assert abs(result.lufs - loudness_lufs(result.audio, 44100)) < 0.05
    assert abs(result.true_peak_dbtp - true_peak_dbtp(result.audio, 44100)) < 1e-3
    assert result.true_peak_dbtp <= -1.0


def test_master_short_term_curve_matches_the_picture_meter():
    from app.audio.master import master
    from app.report.pictures import short_term_loudness

    rng = np.random.default_rng(3)
    t = np.arange(44100 * 12) / 44100
    swell = 0.2 * (1 + np.sin(2 * np.pi * 0.1 * t))
    audio = np.stack([swell * rng.standard_normal(t.size)] * 2).astype(np.float32)
    result = master(audio, 44100)
    times, values = result.short_term_lufs()
    ref_times, ref_values = short_term_loudness(result.audio, 44100)
    assert len(values) == len(ref_values)
    np.testing.assert_allclose(times, ref_times, atol=0.01)
    np.testing.assert_allclose(values, ref_values, atol=0.1)


@pytest.mark.parametrize("sample_rate", [44100, 48000])
def test_the_lanes_measured_on_every_second_sample_read_as_the_full_meter(sample_rate):
    """The picture's lanes (short_term_curve, LANE_STEP 2) against every sample: a bass, a tone with
    a swell and hi-hat noise at 7-15 kHz (folded to 7-11 kHz, where K-weighting weighs the same),
    each as a SpilledAudio, stay within 0.2 LU of the full measurement."""
    from app.audio.filters import butter_sos, sosfilt
    from app.audio.spill import spill

    rng = np.random.default_rng(5)
    t = np.arange(sample_rate * 20) / sample_rate
    bass = np.stack([0.3 * np.sin(2 * np.pi * 55 * t)] * 2)
    keys = np.stack([0.2 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 0.1 * t))] * 2)
    hats = 0.3 * sosfilt(butter_sos(4, [7000, 15000], "bandpass", sample_rate), rng.standard_normal((2, t.size)))
    hats *= (t % 0.25) < 0.03
    for audio in (bass, keys, hats, bass + keys + hats):
        layer = spill(audio.astype(np.float32))
        times, lanes = M.short_term_curve(layer, sample_rate)
        full_times, full = M.short_term_curve(layer, sample_rate, step=1)
        assert len(lanes) == len(full) == 18
        np.testing.assert_allclose(times, full_times, atol=1e-9)
        np.testing.assert_allclose(lanes, full, atol=0.2)


@pytest.mark.parametrize("sample_rate", [44100, 48000])
@pytest.mark.parametrize("target", [0.05, 0.12, 0.2])
def test_the_tilt_eq_brings_the_share_above_1k_to_its_aim(sample_rate, target):
    """The master EQ's tilt, solved on the signal's own spectrum, lands on the aim at either rate
    (noise falling 6 dB an octave above 200 Hz: 9.5 % above 1 kHz); an aim out of reach stops at
    the tilt's limit."""
    from app.audio.master import spectral_balance, tilt_eq

    rng = np.random.default_rng(3)
    n = 4 * sample_rate
    spectrum = np.fft.rfft(rng.standard_normal((2, n)), axis=-1)
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    spectrum *= np.minimum(1.0, 200.0 / np.maximum(freqs, 1.0))
    audio = np.ascontiguousarray(np.fft.irfft(spectrum, n=n, axis=-1).astype(np.float32))
    audio *= np.float32(0.1 / np.abs(audio).max())
    before = spectral_balance(audio, sample_rate)["share_above_1k"]
    tilt = tilt_eq(audio, sample_rate, target)
    after = spectral_balance(audio, sample_rate)["share_above_1k"]
    assert abs(after - target) <= 0.01, (before, tilt, after)
    assert np.isfinite(audio).all()
    assert M.solve_tilt_db(np.zeros_like(audio), sample_rate, target) == 0.0  # silence: no tilt
    assert M.solve_tilt_db(audio, sample_rate, 0.9) == M.TILT_RANGE_DB[1]
