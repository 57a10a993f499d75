"""The IIR and FIR filters the audio stages need, without importing scipy.signal.

`import scipy.signal` costs a fresh process 0.8-1.5 s (it pulls in scipy.stats and more), longer than
mastering a 3-minute track, so the generate path never imports it. Instead:

- the designs are numpy ports of scipy 1.17's (butter -> second-order sections with its 'nearest'
  pairing, firwin with a Kaiser window, resample_poly's filter) and of pyloudnorm's K-weighting biquads;
- the per-sample loops run in scipy.signal's own compiled kernels (`_sosfilt`, `_upfirdn_apply`),
  loaded straight from their files, which skips scipy/signal/__init__.py. Results are therefore the
  same samples scipy.signal gives (tests/audio/test_filters.py compares every function against it).

    from app.audio.filters import butter_sos, sosfilt, resample_poly
    sos = butter_sos(4, 5000.0, "lowpass", 44100)      # float64 (sections, 6)
    y = sosfilt(sos, x)                               # along the last axis
    y = resample_poly(x, 160, 147, axis=1)            # 48 kHz -> 44.1 kHz
"""

from __future__ import annotations

import math
import sys
import threading

import numpy as np

from app.errors import BadValueError

# resample_poly's default window, and the filter half length per unit of the larger rate.
KAISER_BETA = 5.0
HALF_LENGTH_PER_RATE = 10

_KERNEL_LOCK = threading.Lock()
_KERNELS: dict[str, object] = {}  # name -> scipy.signal's compiled module, once fully loaded


def _signal_kernel(name: str):
    """scipy.signal's compiled module `name` (e.g. "_sosfilt"), loaded from its file without running
    scipy/signal/__init__.py. It is registered under its real name, so a later `import scipy.signal`
    (tests, plots) reuses the same module. Falls back to the normal import if the file is not found."""
    module = _KERNELS.get(name)  # not sys.modules: it holds the module while it is still loading
    if module is None:
        with _KERNEL_LOCK:
            module = _KERNELS.get(name) or _load_signal_kernel(name)
            _KERNELS[name] = module
    return module


def _load_signal_kernel(name: str):
    """The module, from sys.modules when `import scipy.signal` already loaded it, else from its file
    (registered in sys.modules before it runs, as the import system does). Called under _KERNEL_LOCK."""
    import importlib
    import importlib.machinery
    import importlib.util
    from pathlib import Path

    import scipy

    full_name = f"scipy.signal.{name}"
    module = sys.modules.get(full_name)
    if module is not None:
        return module
    folder = Path(scipy.__file__).parent / "signal"
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / f"{name}{suffix}"
        if path.is_file():
            spec = importlib.util.spec_from_file_location(full_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[full_name] = module
            spec.loader.exec_module(module)
            return module
    return importlib.import_module(full_name)  # another SciPy layout: the slow, sure way


# --- IIR design ------------------------------------------------------------------------------------


def butter_sos(order: int, cutoff_hz, kind: str, sample_rate: float) -> np.ndarray:
    """A digital Butterworth filter as float64 second-order sections (sections, 6), the same as
    scipy.signal.butter(order, cutoff_hz, kind, fs=sample_rate, output="sos").

    kind: "lowpass" or "highpass" (cutoff_hz one frequency) or "bandpass" (cutoff_hz (low, high)).
    BadValueError for a cutoff outside 0 < f < sample_rate / 2 or an unknown kind.
    """
    if order < 1 or int(order) != order:
        raise BadValueError(f"filter order must be a whole number >= 1, got {order}")
    order = int(order)
    nyquist = sample_rate / 2
    normalised = np.atleast_1d(np.asarray(cutoff_hz, dtype=np.float64)) / nyquist
    if np.any(normalised <= 0) or np.any(normalised >= 1):
        raise BadValueError(f"filter cutoff must be between 0 and {nyquist:g} Hz, got {cutoff_hz}")
    # Analog prototype (scipy's buttap), pre-warped for the bilinear transform at fs = 2.
    m = np.arange(-order + 1, order, 2, dtype=np.float64)
    poles = -np.exp(1j * np.pi * m / (2 * order))
    zeros = np.array([], dtype=np.float64)
    gain = 1.0
    warped = 2 * 2.0 * np.tan(np.pi * normalised / 2.0)
    if kind in ("lowpass", "highpass"):
        if normalised.size != 1:
            raise BadValueError(f"a {kind} filter takes one cutoff frequency, got {cutoff_hz}")
        wo = float(warped[0])
        if kind == "lowpass":  # scipy's lp2lp_zpk
            zeros, poles, gain = wo * zeros, wo * poles, gain * wo ** order
        else:  # scipy's lp2hp_zpk
            gain = gain * np.real(np.prod(-zeros) / np.prod(-poles))
            zeros, poles = np.concatenate((wo / zeros, np.zeros(order))), wo / poles
    elif kind == "bandpass":  # scipy's lp2bp_zpk
        if normalised.size != 2 or not normalised[0] < normalised[1]:
            raise BadValueError(f"a bandpass filter takes (low, high) frequencies, got {cutoff_hz}")
        bandwidth = float(warped[1] - warped[0])
        wo = float(np.sqrt(warped[0] * warped[1]))
        z_lp = (zeros * bandwidth / 2).astype(np.complex128)
        p_lp = (poles * bandwidth / 2).astype(np.complex128)
        zeros = np.concatenate((z_lp + np.sqrt(z_lp ** 2 - wo ** 2), z_lp - np.sqrt(z_lp ** 2 - wo ** 2),
                                np.zeros(order)))
        poles = np.concatenate((p_lp + np.sqrt(p_lp ** 2 - wo ** 2), p_lp - np.sqrt(p_lp ** 2 - wo ** 2)))
        gain = gain * bandwidth ** order
    else:
        raise BadValueError(f"filter kind must be lowpass, highpass or bandpass, got {kind!r}")
    # scipy's bilinear_zpk at fs = 2.
    fs2 = 4.0
    degree = poles.size - zeros.size
    z_digital = np.concatenate(((fs2 + zeros) / (fs2 - zeros), -np.ones(degree)))
    p_digital = (fs2 + poles) / (fs2 - poles)
    gain = gain * np.real(np.prod(fs2 - zeros) / np.prod(fs2 - poles))
    return zpk_to_sos(z_digital, p_digital, gain)


def _split_conjugates(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scipy's _cplxreal: (one of each conjugate pair, with positive imaginary part; the real values),
    each sorted as scipy sorts them."""
    values = np.atleast_1d(values)
    if values.size == 0:
        return values, values
    tol = 100 * np.finfo((1.0 * values).dtype).eps
    values = values[np.lexsort((abs(values.imag), values.real))]
    real = abs(values.imag) <= tol * abs(values)
    reals = values[real].real
    if real.all():
        return np.array([]), reals
    values = values[~real]
    positive, negative = values[values.imag > 0], values[values.imag < 0]
    if positive.size != negative.size:
        raise BadValueError("filter roots have a complex value without its conjugate")
    same_real = np.diff(positive.real) <= tol * abs(positive[:-1])
    edges = np.diff(np.concatenate(([0], same_real, [0])))
    for start, stop in zip(np.nonzero(edges > 0)[0], np.nonzero(edges < 0)[0] + 1):
        for run in (positive[start:stop], negative[start:stop]):
            run[...] = run[np.lexsort([abs(run.imag)])]
    if np.any(abs(positive - negative.conj()) > tol * abs(negative)):
        raise BadValueError("filter roots have a complex value without its conjugate")
    return (positive + negative.conj()) / 2, reals


def _nearest_index(values: np.ndarray, target, which: str) -> int:
    """scipy's _nearest_real_complex_idx: index of the value nearest `target` that is real,
    complex or either ("real", "complex", "any")."""
    order = np.argsort(np.abs(values - target))
    if which == "any":
        return int(order[0])
    mask = np.isreal(values[order])
    if which == "complex":
        mask = ~mask
    return int(order[np.nonzero(mask)[0][0]])


def _section(zeros, poles) -> np.ndarray:
    """One second-order section [b0, b1, b2, 1, a1, a2] from up to two zeros and two poles (gain 1)."""
    section = np.zeros(6)
    b, a = np.atleast_1d(_poly(zeros)), np.atleast_1d(_poly(poles))
    section[3 - b.size:3] = b
    section[6 - a.size:6] = a
    return section


def _poly(roots) -> np.ndarray:
    """Polynomial coefficients from roots, as scipy's _polyutils.poly (real when roots pair up)."""
    roots = np.atleast_1d(np.asarray(roots))
    if roots.size == 0:
        return np.asarray(1.0, dtype=np.real(roots).dtype)
    coefficients = np.ones((1,), dtype=roots.dtype)
    one = np.ones_like(roots[0])
    for root in roots:
        coefficients = np.convolve(coefficients, np.stack((one, -root)), mode="full")
    if np.iscomplexobj(coefficients):
        as_complex = np.asarray(roots, dtype=np.complex128)
        if np.all(np.sort(as_complex.imag) == np.sort(np.conj(as_complex).imag)):
            coefficients = np.real(coefficients).copy()
    return coefficients


def zpk_to_sos(zeros, poles, gain: float) -> np.ndarray:
    """Digital zeros/poles/gain -> second-order sections, as scipy.signal.zpk2sos with its default
    'nearest' pairing: the poles nearest the unit circle go in the last section, the gain in the first."""
    zeros, poles = np.asarray(zeros), np.asarray(poles)
    if zeros.size == poles.size == 0:
        return np.array([[gain, 0.0, 0.0, 1.0, 0.0, 0.0]])
    poles = np.concatenate((poles, np.zeros(max(zeros.size - poles.size, 0))))
    zeros = np.concatenate((zeros, np.zeros(max(poles.size - zeros.size, 0))))
    n_sections = (max(poles.size, zeros.size) + 1) // 2
    if poles.size % 2 == 1:
        poles, zeros = np.concatenate((poles, [0.0])), np.concatenate((zeros, [0.0]))
    zeros = np.concatenate(_split_conjugates(zeros))
    poles = np.concatenate(_split_conjugates(poles))
    gain = float(np.real(gain))

    def worst(values):
        return int(np.argmin(np.abs(1 - np.abs(values))))

    sos = np.zeros((n_sections, 6))
    for si in range(n_sections - 1, -1, -1):
        i = worst(poles)
        p1 = poles[i]
        poles = np.delete(poles, i)
        if np.isreal(p1) and np.isreal(poles).sum() == 0:
            i = _nearest_index(zeros, p1, "real")
            z1 = zeros[i]
            zeros = np.delete(zeros, i)
            sos[si] = _section([z1, 0], [p1, 0])
        elif (poles.size + 1 == zeros.size and not np.isreal(p1) and np.isreal(poles).sum() == 1
              and np.isreal(zeros).sum() == 1):
            i = _nearest_index(zeros, p1, "complex")
            z1 = zeros[i]
            zeros = np.delete(zeros, i)
            sos[si] = _section([z1, z1.conj()], [p1, p1.conj()])
        else:
            if np.isreal(p1):
                real_index = np.flatnonzero(np.isreal(poles))
                i = int(real_index[worst(poles[real_index])])
                p2 = poles[i]
                poles = np.delete(poles, i)
            else:
                p2 = p1.conj()
            if zeros.size:
                i = _nearest_index(zeros, p1, "any")
                z1 = zeros[i]
                zeros = np.delete(zeros, i)
                if not np.isreal(z1):
                    sos[si] = _section([z1, z1.conj()], [p1, p2])
                elif zeros.size:
                    i = _nearest_index(zeros, p1, "real")
                    z2 = zeros[i]
                    zeros = np.delete(zeros, i)
                    sos[si] = _section([z1, z2], [p1, p2])
                else:
                    sos[si] = _section([z1], [p1, p2])
            else:
                sos[si] = _section([], [p1, p2])
    sos[0][:3] *= gain
    return sos


BIQUAD_KINDS = ("high_shelf", "low_shelf", "high_pass", "low_pass", "peaking", "notch")


def cookbook_biquad(kind: str, gain_db: float, q: float, corner_hz: float, sample_rate: float) -> np.ndarray:
    """One RBJ-cookbook biquad as a normalised section [b0, b1, b2, 1, a1, a2] (float64), with the
    formulas and arithmetic of pyloudnorm's IIRfilter; kind is one of BIQUAD_KINDS (gain_db matters
    for the shelves and the peak). For EQ: run it with sosfilt / sosfilt_rows_in_place."""
    if not 0 < corner_hz < sample_rate / 2:
        raise BadValueError(f"biquad corner must be between 0 and {sample_rate / 2:g} Hz, got {corner_hz:g}")
    if not q > 0:
        raise BadValueError(f"biquad Q must be above 0, got {q:g}")
    amplitude = 10 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * (corner_hz / sample_rate)
    alpha = np.sin(w0) / (2.0 * q)
    cos_w0, root = np.cos(w0), np.sqrt(amplitude)
    if kind == "high_shelf":
        b = [amplitude * ((amplitude + 1) + (amplitude - 1) * cos_w0 + 2 * root * alpha),
             -2 * amplitude * ((amplitude - 1) + (amplitude + 1) * cos_w0),
             amplitude * ((amplitude + 1) + (amplitude - 1) * cos_w0 - 2 * root * alpha)]
        a = [(amplitude + 1) - (amplitude - 1) * cos_w0 + 2 * root * alpha,
             2 * ((amplitude - 1) - (amplitude + 1) * cos_w0),
             (amplitude + 1) - (amplitude - 1) * cos_w0 - 2 * root * alpha]
    elif kind == "low_shelf":
        b = [amplitude * ((amplitude + 1) - (amplitude - 1) * cos_w0 + 2 * root * alpha),
             2 * amplitude * ((amplitude - 1) - (amplitude + 1) * cos_w0),
             amplitude * ((amplitude + 1) - (amplitude - 1) * cos_w0 - 2 * root * alpha)]
        a = [(amplitude + 1) + (amplitude - 1) * cos_w0 + 2 * root * alpha,
             -2 * ((amplitude - 1) + (amplitude + 1) * cos_w0),
             (amplitude + 1) + (amplitude - 1) * cos_w0 - 2 * root * alpha]
    elif kind == "high_pass":
        b = [(1 + cos_w0) / 2, -(1 + cos_w0), (1 + cos_w0) / 2]
        a = [1 + alpha, -2 * cos_w0, 1 - alpha]
    elif kind == "low_pass":
        b = [(1 - cos_w0) / 2, (1 - cos_w0), (1 - cos_w0) / 2]
        a = [1 + alpha, -2 * cos_w0, 1 - alpha]
    elif kind == "peaking":
        b = [1 + alpha * amplitude, -2 * cos_w0, 1 - alpha * amplitude]
        a = [1 + alpha / amplitude, -2 * cos_w0, 1 - alpha / amplitude]
    elif kind == "notch":
        b = [1, -2 * cos_w0, 1]
        a = [1 + alpha, -2 * cos_w0, 1 - alpha]
    else:
        raise BadValueError(f"biquad kind must be one of {', '.join(BIQUAD_KINDS)}, got {kind!r}")
    # pyloudnorm divides both by a0; the section form divides once more by the (then 1.0) a0.
    b, a = np.array(b) / a[0], np.array(a) / a[0]
    return np.concatenate([b / a[0], a / a[0]])


# BS.1770's K-weighting as pyloudnorm's Meter builds it: (kind, gain dB, Q, corner Hz) per stage.
K_WEIGHTING_STAGES = (("high_shelf", 4.0, 1 / np.sqrt(2), 1500.0), ("high_pass", 0.0, 0.5, 38.0))


def k_weighting_sos(sample_rate: float) -> np.ndarray:
    """The K-weighting filter (pre-filter shelf, then RLB high-pass) as float64 sections (2, 6)."""
    return np.array([cookbook_biquad(kind, gain_db, q, corner_hz, sample_rate)
                     for kind, gain_db, q, corner_hz in K_WEIGHTING_STAGES])


# --- IIR filtering ---------------------------------------------------------------------------------


def sosfilt(sos: np.ndarray, x: np.ndarray, axis: int = -1, zi: np.ndarray | None = None):
    """scipy.signal.sosfilt: x filtered along `axis` by the sections; with zi (sections, ..., 2, ...)
    returns (y, final state) like scipy. The dtype is result_type(sos, x[, zi]) (float32 stays float32)."""
    x = np.asarray(x)
    sos = np.atleast_2d(np.asarray(sos))
    if sos.ndim != 2 or sos.shape[1] != 6:
        raise BadValueError(f"sos must be shaped (sections, 6), got {sos.shape}")
    n_sections = sos.shape[0]
    inputs = [sos, x] if zi is None else [sos, x, np.asarray(zi)]
    dtype = np.result_type(*inputs)
    if dtype.char not in "fdg":
        raise BadValueError(f"sosfilt needs real floating-point data, got {dtype}")
    axis = axis % x.ndim
    state_shape = list(x.shape)
    state_shape[axis] = 2
    state_shape = tuple([n_sections] + state_shape)
    if zi is None:
        state = np.zeros(state_shape, dtype=dtype)
    else:
        state = np.array(zi, dtype=dtype)
        if state.shape != state_shape:
            raise BadValueError(f"zi must be shaped {state_shape}, got {state.shape}")
    moved = np.moveaxis(x, axis, -1)
    moved_shape = moved.shape
    rows = np.array(moved.reshape(-1, moved.shape[-1]), dtype=dtype, order="C")  # a copy, filtered in place
    state = np.moveaxis(state, [0, axis + 1], [-2, -1])
    state_moved_shape = state.shape
    state = np.ascontiguousarray(state.reshape(-1, n_sections, 2))
    _signal_kernel("_sosfilt")._sosfilt(np.ascontiguousarray(sos, dtype=dtype), rows, state)
    y = np.moveaxis(rows.reshape(moved_shape), -1, axis)
    if zi is None:
        return y
    state = np.moveaxis(state.reshape(state_moved_shape), [-2, -1], [0, axis + 1])
    return y, state


def sosfilt_rows_in_place(sos: np.ndarray, rows: np.ndarray, state: np.ndarray) -> None:
    """Filter rows (signals, n) in place, carrying `state` (signals, sections, 2), also updated in
    place; all three must share one float dtype and rows/state be C-contiguous (no copies are made)."""
    _signal_kernel("_sosfilt")._sosfilt(sos, rows, state)


# A recursive filter fed silence rings down into subnormal floats and can keep cycling among them
# for good; the CPU works on those some 30 times slower (a K-weighted layer with silent sections
# took 1.2 s for 90 s of audio instead of 0.04 s). sosfilt_measuring zeroes a state this small.
SUBNORMAL_GUARD = 1e-25
_GUARD_RUN = 16384  # samples filtered between looks at the state


def sosfilt_measuring(sos: np.ndarray, rows: np.ndarray, state: np.ndarray) -> None:
    """sosfilt_rows_in_place for a measurement of energy: a row's state is set to zero whenever all
    of it has decayed under SUBNORMAL_GUARD (looked at every _GUARD_RUN samples), so silence is
    filtered as exact zeros. What that drops is under 1e-24 a sample, whose square is 0 in float32
    and under 1e-48 in float64: the energies are the same."""
    kernel = _signal_kernel("_sosfilt")._sosfilt
    for r in range(rows.shape[0]):
        row, row_state = rows[r:r + 1], state[r:r + 1]
        for start in range(0, row.shape[1], _GUARD_RUN):
            kernel(sos, row[:, start:start + _GUARD_RUN], row_state)
            if np.abs(row_state).max() < SUBNORMAL_GUARD:
                row_state.fill(0)


def one_pole_lowpass(x: np.ndarray, pole: float) -> np.ndarray:
    """y[n] = (1 - pole) x[n] + pole y[n-1] along the last axis (float64), from rest: the same values
    as scipy.signal.lfilter([1 - pole], [1, -pole], x)."""
    section = np.array([[1 - pole, 0.0, 0.0, 1.0, -pole, 0.0]])
    return sosfilt(section, np.asarray(x, dtype=np.float64))


# --- FIR design and multirate ----------------------------------------------------------------------


def kaiser_lowpass_taps(numtaps: int, cutoff: float, beta: float = KAISER_BETA) -> np.ndarray:
    """Linear-phase low-pass FIR taps (float64), unity gain at DC: scipy.signal.firwin(numtaps, cutoff,
    window=("kaiser", beta)) with cutoff a fraction of Nyquist (0 < cutoff < 1)."""
    if not 0 < cutoff < 1:
        raise BadValueError(f"cutoff must be a fraction of Nyquist between 0 and 1, got {cutoff:g}")
    alpha = 0.5 * (numtaps - 1)
    m = np.arange(0, numtaps, dtype=np.float64) - alpha
    taps = cutoff * np.sinc(cutoff * m) - 0.0 * np.sinc(0.0 * m)
    taps *= np.kaiser(numtaps, beta)
    taps /= np.sum(taps * np.cos(np.pi * m * 0.0))
    return taps


def upfirdn(taps: np.ndarray, x: np.ndarray, up: int = 1, down: int = 1, axis: int = -1) -> np.ndarray:
    """scipy.signal.upfirdn with zero padding: upsample x by `up`, filter by `taps`, keep every
    `down`-th sample, along `axis`. Output dtype result_type(taps, x, float32)."""
    kernel = _signal_kernel("_upfirdn_apply")
    taps = np.asarray(taps)
    if taps.ndim != 1 or taps.size == 0:
        raise BadValueError("taps must be 1-D and not empty")
    x = np.asarray(x)
    dtype = np.result_type(taps.dtype, x.dtype, np.float32)
    taps = np.asarray(taps, dtype)
    # Taps transposed into phases and each phase reversed (scipy's _pad_h).
    padded = np.zeros(taps.size + (-taps.size % up), dtype)
    padded[:taps.size] = taps
    phases = np.ascontiguousarray(padded.reshape(-1, up).T[:, ::-1].ravel())
    axis = axis % x.ndim
    shape = np.asarray(x.shape, dtype=np.int64)
    shape[axis] = kernel._output_len(taps.size, x.shape[axis], up, down)
    out = np.zeros(shape, dtype=dtype, order="C")
    kernel._apply(np.asarray(x, dtype), phases, out, up, down, axis, kernel.mode_enum("constant"), 0)
    return out


def resample_taps(up: int, down: int) -> np.ndarray:
    """resample_poly's anti-alias filter for up/down (already reduced): Kaiser, cutoff 1/max(up, down)."""
    max_rate = max(up, down)
    return kaiser_lowpass_taps(2 * HALF_LENGTH_PER_RATE * max_rate + 1, 1.0 / max_rate)


def resample_poly(x: np.ndarray, up: int, down: int, axis: int = 0) -> np.ndarray:
    """scipy.signal.resample_poly(x, up, down, axis) with its defaults (Kaiser beta 5, zero padding):
    x resampled by up/down along `axis`, ceil(n * up / down) samples; float32 in gives float32 out."""
    x = np.asarray(x)
    if up != int(up) or down != int(down) or up < 1 or down < 1:
        raise BadValueError(f"up and down must be whole numbers >= 1, got {up} and {down}")
    divisor = math.gcd(int(up), int(down))
    up, down = int(up) // divisor, int(down) // divisor
    if up == down == 1:
        return x.copy()
    n_in = x.shape[axis]
    n_out = n_in * up
    n_out = n_out // down + bool(n_out % down)
    half_len = HALF_LENGTH_PER_RATE * max(up, down)
    taps = resample_taps(up, down)
    if np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.complexfloating):
        taps = taps.astype(x.dtype)
    taps *= up
    kernel = _signal_kernel("_upfirdn_apply")
    n_pre_pad = down - half_len % down
    n_post_pad = 0
    n_pre_remove = (half_len + n_pre_pad) // down
    while kernel._output_len(taps.size + n_pre_pad + n_post_pad, n_in, up, down) < n_out + n_pre_remove:
        n_post_pad += 1
    taps = np.concatenate((np.zeros(n_pre_pad, taps.dtype), taps, np.zeros(n_post_pad, taps.dtype)))
    y = upfirdn(taps, x, up, down, axis=axis)
    keep = [slice(None)] * x.ndim
    keep[axis] = slice(n_pre_remove, n_pre_remove + n_out)
    return y[tuple(keep)]
