"""The lo-fi effects: shapes, physical behaviour (filtering, saturation, wobble, fades, ducking), presets."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from app.audio import fx
from app.errors import BadValueError

SR = 44100


@functools.lru_cache(maxsize=None)
def _sine(freq_hz: float, seconds: float = 1.0, amplitude: float = 0.5, sample_rate: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tone = (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    tone.setflags(write=False)
    return tone


def sine(freq_hz, seconds=1.0, amplitude=0.5, channels=2, sample_rate=SR) -> np.ndarray:
    return np.tile(_sine(freq_hz, seconds, amplitude, sample_rate), (channels, 1))


def rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)))


def crest_db(x: np.ndarray) -> float:
    return 20 * np.log10(np.abs(x).max()) - rms_db(x)


EFFECTS = {
    "tone": fx.ToneFilter(),
    "lowpass": fx.lowpass(4000),
    "highpass": fx.highpass(80),
    "saturation": fx.TapeSaturation(drive_db=9),
    "wow": fx.WowFlutter(wow_depth_ms=1.0, flutter_depth_ms=0.1),
    "bitcrush": fx.BitCrush(bit_depth=8),
    "samplehold": fx.SampleHold(downsample_hz=11025),
    "fade": fx.Fade(fade_in_s=0.1, fade_out_s=0.2),
    **{f"preset-{name}": fx.lofi_chain(name) for name in fx.PRESETS},
}


@pytest.mark.parametrize("name", EFFECTS)
@pytest.mark.parametrize("sample_rate", [44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_effect_keeps_shape_dtype_and_is_finite(name, sample_rate, channels):
    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal((channels, sample_rate // 2))).astype(np.float32)
    out = EFFECTS[name](audio, sample_rate)
    assert out.shape == audio.shape
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert np.abs(out).max() > 0.01  # not silenced


def test_effects_do_not_modify_their_input():
    audio = sine(440)
    before = audio.copy()
    for effect in EFFECTS.values():
        effect(audio, SR)
    np.testing.assert_array_equal(audio, before)


@pytest.mark.parametrize("cutoff_hz", [4000.0, 5000.0, 6000.0])
def test_tone_lowpass_cuts_12k_and_keeps_200hz(cutoff_hz):
    chain = fx.lofi_chain("default", lowpass_hz=cutoff_hz, drive_db=0, wow_depth_ms=0, flutter_depth_ms=0)
    settle = SR // 10  # skip the filters' start-up transient
    high = sine(12000)
    low = sine(200)
    assert rms_db(chain(high, SR)[:, settle:]) < rms_db(high) - 12
    assert abs(rms_db(chain(low, SR)[:, settle:]) - rms_db(low)) < 1.0


def test_highpass_removes_rumble_and_dc():
    rumble = sine(15) + np.float32(0.2)
    out = fx.highpass(40, order=2)(rumble, SR)
    assert rms_db(out[:, SR // 2 :]) < rms_db(rumble) - 12


def test_saturation_lowers_crest_factor_and_keeps_quiet_signals():
    loud = sine(220, amplitude=0.9)
    saturate = fx.TapeSaturation(drive_db=6)
    assert crest_db(saturate(loud, SR)) < crest_db(loud) - 0.5
    quiet = sine(220, amplitude=0.01)
    assert abs(rms_db(saturate(quiet, SR)) - rms_db(quiet)) < 0.1  # unity small-signal gain


def test_wow_flutter_keeps_length_and_changes_signal_slightly():
    tone = sine(100, seconds=2.0)
    out = fx.WowFlutter()(tone, SR)
    assert out.shape == tone.shape
    assert rms_db(out - tone) - rms_db(tone) > -40  # it does change
    # ...but only slightly: a (few-ms) delayed copy of the input still matches it closely.
    best = max(
        np.dot(out[0, 200:], tone[0, 200 - lag : tone.shape[1] - lag]) / np.dot(tone[0, 200:], tone[0, 200:])
        for lag in range(0, 120)
    )
    assert best > 0.95
    assert abs(rms_db(out[:, SR // 10 :]) - rms_db(tone)) < 0.1
    spectrum = np.abs(np.fft.rfft(fx.WowFlutter()(sine(1000, seconds=2.0), SR)[0]))
    assert abs(np.argmax(spectrum) * SR / (2 * SR) - 1000) < 2  # pitch stays put on average


def test_wow_flutter_modulates_pitch_by_the_expected_amount():
    # Delay swing of +-depth at rate f gives a pitch deviation of 2*pi*f*depth.
    wow = fx.WowFlutter(wow_rate_hz=1.0, wow_depth_ms=2.0, flutter_depth_ms=0.0)
    tone = sine(1000, seconds=2.0)
    out = wow(tone, SR)[0]
    analytic = np.unwrap(np.angle(__import__("scipy.signal").signal.hilbert(out)))
    inst_freq = np.diff(analytic) * SR / (2 * np.pi)
    core = inst_freq[SR // 10 : -SR // 10]
    expected_dev = 2 * np.pi * 1.0 * 2e-3 * 1000  # Hz
    assert abs((core.max() - core.min()) / 2 - expected_dev) < 0.25 * expected_dev


@pytest.mark.parametrize("fade_in_s, fade_out_s", [(0.5, 1.0), (0.0, 0.3), (2.0, 2.0)])
def test_fades_reach_silence_at_the_ends(fade_in_s, fade_out_s):
    tone = sine(330, seconds=1.5)
    out = fx.fade(tone, SR, fade_in_s, fade_out_s)
    assert out.shape == tone.shape
    if fade_in_s:
        assert np.all(out[:, 0] == 0)
        assert np.abs(out[:, :50]).max() < 0.01
    if fade_out_s:
        assert np.all(out[:, -1] == 0)
        assert np.abs(out[:, -50:]).max() < 0.01
    if fade_in_s + fade_out_s < 1.0:  # the middle is untouched
        mid = slice(int(fade_in_s * SR) + 1, -int(fade_out_s * SR) - 1)
        np.testing.assert_array_equal(out[:, mid], tone[:, mid])


def test_fade_equal_power_midpoint():
    ones = np.ones((2, SR), np.float32)
    out = fx.fade(ones, SR, fade_in_s=1.0)
    assert abs(20 * np.log10(out[0, SR // 2]) - (-3.01)) < 0.05


def _kick_train(seconds: float, period_s: float = 0.5, sample_rate: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """A beat of 55 Hz kicks (50 ms decay) plus quiet hats; returns (audio (2, n), onset samples)."""
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    since = t % period_s
    kick = 0.8 * np.sin(2 * np.pi * 55 * since) * np.exp(-since / 0.05)
    rng = np.random.default_rng(1)
    hats = 0.05 * rng.standard_normal(n) * np.exp(-((since - period_s / 2) % period_s) / 0.01)
    onsets = np.arange(0, n, int(period_s * sample_rate))
    beat = (kick + hats).astype(np.float32)
    return np.stack([beat, beat]), onsets


@pytest.mark.parametrize("depth_db", [3.0, 6.0])
def test_duck_dips_after_each_kick_and_recovers_between(depth_db):
    beat, onsets = _kick_train(3.0)
    env = fx.kick_envelope(beat, SR)
    assert env.shape == (beat.shape[1],) and env.dtype == np.float32
    assert env.min() >= 0 and env.max() <= 1
    music = np.full_like(beat, 0.25)
    gain_db = 20 * np.log10(fx.duck(music, env, depth_db=depth_db)[0] / 0.25)
    for onset in onsets[1:-1]:
        right_after = gain_db[onset : onset + int(0.06 * SR)]
        between = gain_db[onset + int(0.4 * SR) : onset + int(0.48 * SR)]
        assert abs(right_after.min() + depth_db) < 0.5, right_after.min()
        assert between.min() > -0.1 * depth_db, between.min()  # back within 10 % of the depth


def test_kick_envelope_ignores_a_beat_without_low_end():
    rng = np.random.default_rng(2)
    hats = (0.3 * rng.standard_normal((2, SR)) * (np.arange(SR) % 11025 < 400)).astype(np.float32)
    hats = fx.highpass(2000, order=4)(hats, SR)
    assert fx.kick_envelope(hats, SR).max() < 0.2


def test_kick_envelope_bpm_shortens_release():
    beat, _ = _kick_train(2.0)
    slow = fx.kick_envelope(beat, SR, release_ms=400)
    capped = fx.kick_envelope(beat, SR, bpm=240, release_ms=400)  # 40 % of a 250 ms beat = 100 ms
    at = int(0.3 * SR)
    assert capped[at] < slow[at]


def test_duck_pads_a_short_envelope():
    music = sine(200)
    out = fx.duck(music, np.ones(10, np.float32), depth_db=6)
    assert out.shape == music.shape
    np.testing.assert_allclose(out[:, 20:], music[:, 20:])


def test_presets_are_data_with_the_same_parameters():
    keys = {frozenset(p) for p in fx.PRESETS.values()}
    assert len(keys) == 1
    assert {"clean", "default", "dusty", "tape", "cassette", "radio"} <= set(fx.PRESETS)
    assert set(fx.PRESET_DESCRIPTIONS) == set(fx.PRESETS)


def test_lofi_chain_overrides_and_errors():
    chain = fx.lofi_chain("default", lowpass_hz=3000, wow_depth_ms=0, flutter_depth_ms=0)
    tone = [e for e in chain if isinstance(e, fx.ToneFilter)][0]
    assert tone.lowpass_hz == 3000
    assert not any(isinstance(e, fx.WowFlutter) for e in chain)
    assert any(isinstance(e, fx.BitCrush) for e in fx.lofi_chain("dusty"))
    with pytest.raises(BadValueError, match="clean"):
        fx.lofi_chain("vaporwave")
    with pytest.raises(BadValueError, match="cutoff"):
        fx.lofi_chain("default", cutoff=100)
    with pytest.raises(BadValueError):
        fx.lofi_chain("default", lowpass_hz=30000)(sine(100), SR)


def test_chain_is_a_callable_list():
    chain = fx.Chain([fx.TapeSaturation(), fx.lowpass(5000)])
    chain.reset()
    out = chain(sine(100), SR)
    expected = fx.lowpass(5000)(fx.TapeSaturation()(sine(100), SR), SR)
    np.testing.assert_allclose(out, expected)


def test_bitcrush_quantises_to_the_grid():
    out = fx.BitCrush(bit_depth=4)(sine(100), SR)
    assert len(np.unique(out)) <= 16


def test_samplehold_holds_values():
    out = fx.SampleHold(downsample_hz=SR / 4)(sine(100), SR)
    assert np.all(out[:, 0::4] == out[:, 3::4])


# --- the presets' named properties (issue 14 item 3): each preset is heard -------------------------


def _thd_percent(audio: np.ndarray, freq_hz: float) -> float:
    """Total harmonic distortion (%) of a steady tone: harmonics 2-10 over the fundamental (Hann FFT)."""
    channel = audio[0, SR // 4:SR // 4 + SR]  # one second past the filters' settling: 1 Hz bins
    spectrum = np.abs(np.fft.rfft(channel * np.hanning(channel.size)))

    def level(f: float) -> float:
        k = int(round(f))
        return float(spectrum[k - 2:k + 3].max())

    harmonics = [level(freq_hz * h) for h in range(2, 11) if freq_hz * h < SR / 2]
    return 100 * float(np.sqrt(np.sum(np.square(harmonics)))) / level(freq_hz)


def test_tape_saturation_is_measurable_distortion_and_clean_has_none():
    tone = sine(220, seconds=1.5, amplitude=0.4)  # about the pre-master mix's peaks
    tape = _thd_percent(fx.lofi_chain("tape", wow_depth_ms=0, flutter_depth_ms=0, noise_dbfs=None)(tone, SR), 220)
    clean = _thd_percent(fx.lofi_chain("clean")(tone, SR), 220)
    assert tape >= 3.0 and clean < 0.1, (tape, clean)


def test_tape_wow_is_a_slow_wobble_with_flutter_on_top():
    tape = fx.PRESETS["tape"]
    assert 0.3 <= tape["wow_rate_hz"] <= 1.0 and tape["flutter_depth_ms"] > 0
    wow = fx.WowFlutter(wow_rate_hz=tape["wow_rate_hz"], wow_depth_ms=tape["wow_depth_ms"], flutter_depth_ms=0.0)
    out = wow(sine(1000, seconds=8.0), SR)[0]
    analytic = np.unwrap(np.angle(__import__("scipy.signal").signal.hilbert(out)))
    deviation = np.diff(analytic)[SR // 10:-SR // 10] * SR / (2 * np.pi) - 1000
    spectrum = np.abs(np.fft.rfft(deviation - deviation.mean()))
    rate = np.argmax(spectrum[1:]) + 1
    assert 0.3 <= rate * SR / deviation.size <= 1.0
    cents = 1200 * np.log2(1 + (deviation.max() - deviation.min()) / 2 / 1000)
    assert cents >= 5  # a wobble a listener hears (a 0.1 % pitch drift is ~2 cents)


@pytest.mark.parametrize("preset, low_dbfs, high_dbfs", [("dusty", -60, -40), ("tape", -70, -50), ("cassette", -65, -45)])
def test_a_noise_floor_sits_where_the_preset_says(preset, low_dbfs, high_dbfs):
    floor = rms_db(fx.lofi_chain(preset)(np.zeros((2, SR), np.float32), SR))
    assert low_dbfs <= floor <= high_dbfs, floor
    assert rms_db(fx.lofi_chain("clean")(np.zeros((2, SR), np.float32), SR)) < -120


def test_dusty_reduces_bits_and_sample_rate():
    chain = fx.lofi_chain("dusty", noise_dbfs=None, wow_depth_ms=0, flutter_depth_ms=0)
    out = chain(sine(300, amplitude=0.3), SR)
    assert len(np.unique(np.round(out[0] * 2 ** (fx.PRESETS["dusty"]["bit_depth"] - 1)))) <= 2 ** fx.PRESETS["dusty"]["bit_depth"]
    hold = int(SR / fx.PRESETS["dusty"]["downsample_hz"])
    assert np.mean(out[0, 1:] == out[0, :-1]) >= (hold - 1) / hold - 0.05  # samples held


@pytest.mark.parametrize("preset", ["radio", "cassette"])
def test_narrow_band_presets_cut_the_lows_and_the_highs(preset):
    chain = fx.lofi_chain(preset, noise_dbfs=None, drive_db=0.0, makeup_db=0.0, bit_depth=None)
    mid = rms_db(chain(sine(1000, amplitude=0.1), SR)[:, SR // 4:])
    for edge_hz in (50.0, 12000.0):
        assert rms_db(chain(sine(edge_hz, amplitude=0.1), SR)[:, SR // 4:]) <= mid - 12, (preset, edge_hz)


def test_every_preset_but_clean_pumps_under_the_kick():
    assert fx.PRESETS["clean"]["pump_db"] == 0
    assert all(p["pump_db"] >= 2 for name, p in fx.PRESETS.items() if name != "clean")


def test_effects_lists_every_preset_with_its_description():
    listing = fx.format_presets()
    for name, text in fx.PRESET_DESCRIPTIONS.items():
        assert f"{name}" in listing and text in listing
