"""app/audio/filters.py against scipy.signal (and pyloudnorm): same designs, same samples, and the
generate path's imports never pull scipy.signal in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from app.audio import filters as F
from app.errors import BadValueError

SR = 44100
ROOT = Path(__file__).resolve().parents[2]


def _noise(shape, dtype=np.float32, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("kind, cutoff, rate", [("lowpass", 5000.0, SR), ("highpass", 40.0, SR),
                                                ("bandpass", (4500.0, 11000.0), SR),
                                                ("lowpass", 150.0, 4009.09), ("bandpass", (60.0, 200.0), 22050)])
def test_butter_sos_is_scipys(order, kind, cutoff, rate):
    ours = F.butter_sos(order, cutoff, kind, rate)
    theirs = signal.butter(order, cutoff, kind, fs=rate, output="sos")
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sosfilt_gives_scipys_samples(dtype):
    sos = F.butter_sos(4, 3000.0, "lowpass", SR).astype(dtype)
    x = _noise((2, 4000), dtype)
    np.testing.assert_array_equal(F.sosfilt(sos, x), signal.sosfilt(sos, x))
    np.testing.assert_array_equal(F.sosfilt(sos, x.T, axis=0), signal.sosfilt(sos, x.T, axis=0))
    zi = _noise((2, 2, 2), dtype, seed=1)
    ours, ours_state = F.sosfilt(sos, x, zi=zi)
    theirs, theirs_state = signal.sosfilt(sos, x, zi=zi)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(ours_state, theirs_state)
    assert ours.dtype == theirs.dtype == dtype


def test_in_place_filters_match_one_scipy_call():
    from app.audio.blocks import sosfilt_in_place

    sos = F.butter_sos(2, 200.0, "highpass", SR).astype(np.float32)
    audio = _noise((2, 50_000))
    expected = signal.sosfilt(sos, audio)
    sosfilt_in_place(sos, audio)
    np.testing.assert_array_equal(audio, expected)
    # Carried state over blocks is the same as one pass.
    rows, state = _noise((1, 50_000)), np.zeros((1, 1, 2), np.float32)
    expected = signal.sosfilt(sos, rows)
    for start in range(0, rows.shape[1], 7000):
        F.sosfilt_rows_in_place(sos, rows[:, start:start + 7000], state)
    np.testing.assert_array_equal(rows, expected)


def test_one_pole_lowpass_is_lfilter():
    x = np.abs(_noise(5000, np.float64))
    np.testing.assert_array_equal(F.one_pole_lowpass(x, 0.995), signal.lfilter([1 - 0.995], [1, -0.995], x))


def test_kaiser_taps_match_firwin():
    ours = F.kaiser_lowpass_taps(81, 0.25)
    theirs = signal.firwin(81, 0.25, window=("kaiser", 5.0))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-15)  # numpy's i0 vs scipy.special's: ~1e-18
    np.testing.assert_array_equal(ours.astype(np.float32), theirs.astype(np.float32))


@pytest.mark.parametrize("up, down", [(4, 1), (160, 147), (147, 160), (3, 2), (2, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resample_poly_is_scipys(up, down, dtype):
    x = _noise((2, 3001), dtype)
    ours, theirs = F.resample_poly(x, up, down, axis=1), signal.resample_poly(x, up, down, axis=1)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    if dtype == np.float32:
        np.testing.assert_array_equal(ours, theirs)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-13)


def test_upfirdn_is_scipys():
    taps = F.resample_taps(4, 1).astype(np.float32) * 4
    x = _noise((2, 999))
    np.testing.assert_array_equal(F.upfirdn(taps, x, 4, axis=-1), signal.upfirdn(taps, x, 4, axis=-1))


@pytest.mark.parametrize("rate", [44100, 48000, 22050])
def test_k_weighting_is_pyloudnorms(rate):
    import pyloudnorm

    rows = []
    for kind, gain_db, q, corner_hz in F.K_WEIGHTING_STAGES:
        stage = pyloudnorm.IIRfilter(gain_db, q, corner_hz, rate, kind)
        b, a = np.asarray(stage.b) * stage.passband_gain, np.asarray(stage.a)
        rows.append(np.concatenate([b / a[0], a / a[0]]))
    np.testing.assert_array_equal(F.k_weighting_sos(rate), np.array(rows))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_measuring_filter_gives_the_same_energies_and_filters_silence_as_zeros(dtype):
    """After a burst, plain sosfilt rings down into subnormal floats (and cycles among them, ~30x
    slower); sosfilt_measuring zeroes such a state, and the squares of the outputs stay the same
    (float32) or move by less than 1e-48 (float64)."""
    sos = F.k_weighting_sos(SR).astype(dtype)
    x = np.zeros((2, 200_000), dtype)
    x[:, :2000] = np.random.default_rng(3).standard_normal((2, 2000)) * 0.3
    x[1, 150_000:151_000] = 0.2  # the signal comes back after the silence
    plain, measured = x.copy(), x.copy()
    plain_state, state = np.zeros((2, 2, 2), dtype), np.zeros((2, 2, 2), dtype)
    F.sosfilt_rows_in_place(sos, plain, plain_state)
    F.sosfilt_measuring(sos, measured, state)
    tiny = np.finfo(dtype).tiny
    if dtype == np.float32:
        assert np.count_nonzero((np.abs(plain[0]) < tiny) & (plain[0] != 0)) > 100_000  # what it avoids
    if dtype == np.float32:
        assert np.array_equal(measured * measured, plain * plain)
    else:  # squares of what was dropped are representable, and negligible
        assert np.abs(measured * measured - plain * plain).max() < 1e-48
    assert not np.any(measured[0, 20_000:])  # silence filtered as exact zeros
    assert np.allclose(measured[1, 150_000:152_000], plain[1, 150_000:152_000], rtol=0, atol=1e-20)


def test_bad_designs_say_what_is_wrong():
    with pytest.raises(BadValueError, match="cutoff"):
        F.butter_sos(2, 30000.0, "lowpass", SR)
    with pytest.raises(BadValueError, match="kind"):
        F.butter_sos(2, 300.0, "notch", SR)
    with pytest.raises(BadValueError, match="one cutoff"):
        F.butter_sos(2, (300.0, 900.0), "lowpass", SR)


def test_the_audio_stages_do_not_import_scipy_signal():
    """Filtering, mastering and resampling in a fresh process leave scipy.signal unimported."""
    code = (
        "import sys, numpy as np\n"
        "from app.audio import fx, master, loops\n"
        "x = np.random.default_rng(0).standard_normal((2, 44100)).astype(np.float32) * 0.1\n"
        "fx.lofi_chain('dusty')(x, 44100)\n"
        "fx.kick_envelope(x, 44100, 90)\n"
        "master.master(x, 44100).true_peak_dbtp\n"
        "loops._resample(x, 48000, 44100)\n"
        "print('scipy.signal' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=ROOT)
    assert done.stdout.strip() == "False"


def test_threads_that_ask_for_a_kernel_while_it_loads_get_it_whole():
    """A thread asking for scipy's compiled kernel while another thread is still loading it (as the
    mix's and a Dask worker's threads may) waits for it: it never gets a module that has not run yet
    (an AttributeError). The load is slowed so the other threads surely ask during it."""
    code = (
        "import importlib.machinery, sys, threading, time\n"
        "load = importlib.machinery.ExtensionFileLoader.exec_module\n"
        "def slow_load(self, module):\n"
        "    if module.__name__ == 'scipy.signal._sosfilt':\n"
        "        time.sleep(0.3)  # registered in sys.modules, not yet run\n"
        "    load(self, module)\n"
        "importlib.machinery.ExtensionFileLoader.exec_module = slow_load\n"
        "from app.audio.filters import _signal_kernel\n"
        "errors = []\n"
        "def ask():\n"
        "    try:\n"
        "        _signal_kernel('_sosfilt')._sosfilt\n"
        "    except Exception as exc:\n"
        "        errors.append(repr(exc))\n"
        "first = threading.Thread(target=ask)\n"
        "first.start()\n"
        "while 'scipy.signal._sosfilt' not in sys.modules:\n"
        "    time.sleep(0.001)\n"
        "others = [threading.Thread(target=ask) for _ in range(4)]\n"
        "[t.start() for t in others]\n"
        "[t.join() for t in [first, *others]]\n"
        "print(errors)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("kind", F.BIQUAD_KINDS)
def test_cookbook_biquads_are_pyloudnorms(kind):
    import pyloudnorm

    stage = pyloudnorm.IIRfilter(-3.5, 0.9, 2500.0, SR, kind)
    b, a = np.asarray(stage.b), np.asarray(stage.a)
    np.testing.assert_array_equal(F.cookbook_biquad(kind, -3.5, 0.9, 2500.0, SR),
                                  np.concatenate([b / a[0], a / a[0]]))
    with pytest.raises(BadValueError, match="corner"):
        F.cookbook_biquad(kind, 0.0, 0.7, 30000.0, SR)
