"""The mix (issue 14) on a short generated song (seed 5, 0.4 minutes, the real GM SoundFont and
drums): per-part loudness windows where the parts play, stems that sum to the pre-master mix
(issue 15 item 4), the master's spectral figures and loudness targets, presets that differ from
clean on the same seed, and the same seed giving the same audio."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from app.audio.fx import PRESETS
from app.audio.levels import DRUM_SPLIT_HZ, excerpt, highpass_fft, section_frames
from app.audio.master import integrated_lufs, loudness_lufs, master_song, power_spectrum, spectral_balance
from app.config import CEILING_DBTP, SAMPLE_RATE, TARGET_LUFS
from tests.fixtures.checks import needs_gm

SR = SAMPLE_RATE
pytestmark = needs_gm


@pytest.fixture(scope="module")
def made():
    """(song, stems, mix_song result, spec, choices) of a 0.4-minute track, seed 5, default preset."""
    from app import pipeline
    from app.choices import resolve_choices
    from app.spec import TrackSpec

    spec = TrackSpec(name="levels", minutes=0.4, seed=5, picture=False)
    choices = resolve_choices(spec)
    song = pipeline.compose(spec, choices)
    stems = pipeline.render(song, spec, choices)
    return song, stems, _mix(song, stems, spec, choices), spec, choices


def _mix(song, stems, spec, choices, release=False):
    """pipeline.mix, keeping the stems (release=False) so a test can mix them again."""
    from app.audio.mix import mix_song

    return mix_song(song, stems, beat=choices.beat, ambience=choices.ambience, preset=spec.lofi_preset,
                    sample_rate=spec.sample_rate, release=release)


def test_per_part_loudness_sits_in_its_window(made):
    song, _, mixed, _, _ = made
    levels = mixed.levels
    assert -4.0 <= levels["melody_vs_chords"] <= 1.0, levels
    assert -8.0 <= levels["bass_vs_chords"] <= -2.0, levels  # the bass's 100 Hz-and-up copy
    assert levels["bass_sub_vs_chords"] <= -1.5, levels  # the sub-bass check
    assert -3.0 <= levels["drums_vs_music"] <= 1.0, levels  # with the kick
    assert -3.0 <= levels["backbeat_vs_music"] <= 1.0, levels  # the snare/hats band alone
    # the ambience follows its level_db (-24 by default) from the mix's loudness
    assert abs(levels["ambience"] - levels["mix"] - -24.0) <= 2.0, levels


def test_the_figures_measured_while_the_master_runs_are_those_of_the_mix_before_it(made):
    """mix_song measures the section's figures on a worker while the pipeline masters the mix in place:
    they are section_loudness of the pre-master mix, whatever the master does to it meanwhile."""
    from app.audio.levels import section_loudness

    song, stems, _, spec, choices = made
    mixed = _mix(song, stems, spec, choices)
    before = mixed.audio.copy()
    master_song(mixed.audio, spec.sample_rate, spec.lofi_preset)  # in place, as the pipeline does
    assert not np.array_equal(mixed.audio, before)
    assert mixed.levels == section_loudness(song, mixed.layers, before, spec.sample_rate)


def test_a_long_tracks_one_after_another_mix_is_the_side_by_side_mix(made, monkeypatch):
    """Over SIDE_BY_SIDE_MAX_BYTES the beds, the room and the report are made one after the other:
    the same layers and figures, the room made in one pass (float32 rounding at the halves' seam)."""
    from app.audio import mix as mix_module

    song, stems, mixed, spec, choices = made
    monkeypatch.setattr(mix_module, "SIDE_BY_SIDE_MAX_BYTES", 0)
    serial = _mix(song, stems, spec, choices)
    assert isinstance(serial.measured_levels, dict)  # measured at once, not on a worker
    assert list(serial.layers) == list(mixed.layers)
    for name, layer in mixed.layers.items():
        if name != "room":
            assert np.array_equal(np.asarray(serial.layers[name]), np.asarray(layer)), name
    room, serial_room = np.asarray(mixed.layers["room"]), np.asarray(serial.layers["room"])
    assert np.abs(serial_room - room).max() < 1e-5 * float(np.sqrt(np.mean(room.astype(np.float64) ** 2)))
    assert serial.levels == mixed.levels


def test_the_figures_are_measured_where_the_parts_play(made):
    """The report's figures are gated BS.1770 on section A: pyloudnorm agrees on the finished layers."""
    song, _, mixed, _, _ = made
    frames = section_frames(song, {"melody", "chords"}, mixed.audio.shape[1], SR, max_s=None)[:1]
    melody = excerpt(mixed.layers["melody"], frames)
    assert loudness_lufs(melody, SR) == pytest.approx(mixed.levels["melody"], abs=0.1)
    assert integrated_lufs(melody, SR) == pytest.approx(loudness_lufs(melody, SR), abs=0.02)
    drums = excerpt(mixed.layers["drums"], frames)
    assert loudness_lufs(highpass_fft(drums, DRUM_SPLIT_HZ, SR), SR) == pytest.approx(mixed.levels["backbeat"], abs=0.1)


def test_the_stems_sum_to_the_pre_master_mix(made, tmp_path):
    from app.deliver.export import write_stem

    _, _, mixed, _, _ = made
    assert set(mixed.layers) == {"melody", "chords", "bass", "drums", "ambience", "room"}
    total = np.zeros_like(mixed.audio, dtype=np.float64)
    for name, layer in mixed.layers.items():
        path = write_stem(layer, tmp_path / f"{name}.wav")
        assert sf.info(str(path)).subtype == "FLOAT"
        total += sf.read(str(path), dtype="float32")[0].T
    error = total - mixed.audio
    residual_db = 10 * math.log10(float(np.sum(error ** 2)) / float(np.sum(mixed.audio.astype(np.float64) ** 2)))
    assert residual_db <= -60.0
    # the room is its own return (the keys and drums stems stay dry)
    assert np.abs(np.asarray(mixed.layers["room"])).max() > 0


def test_the_master_is_warm_but_not_muffled_and_meets_its_targets(made):
    _, _, mixed, _, _ = made
    done, _ = master_song(mixed.audio.copy(), SR, "default")
    balance = spectral_balance(done.audio, SR)
    assert 1200 <= balance["rolloff_hz"] <= 6000, balance
    assert 0.04 <= balance["share_above_1k"] <= 0.25, balance
    assert abs(loudness_lufs(done.audio, SR) - TARGET_LUFS) <= 0.2
    assert done.true_peak_dbtp <= CEILING_DBTP + 1e-6


def _band_db(audio: np.ndarray) -> np.ndarray:
    """Mean power (dB) in 40 log-spaced bands over 50 Hz-16 kHz."""
    freqs, power = power_spectrum(audio, SR)
    edges = np.geomspace(50, 16000, 41)
    return np.array([10 * np.log10(power[(freqs >= lo) & (freqs < hi)].mean() + 1e-20) for lo, hi in zip(edges, edges[1:])])


def test_every_preset_differs_from_clean_on_the_same_seed(made):
    _, _, mixed, _, _ = made
    clean = _band_db(master_song(mixed.audio.copy(), SR, "clean")[0].audio)
    for preset in PRESETS:
        if preset == "clean":
            continue
        done, _ = master_song(mixed.audio.copy(), SR, preset)
        assert abs(done.lufs - TARGET_LUFS) <= 0.1 and done.true_peak_dbtp <= CEILING_DBTP + 1e-6
        difference = float(np.sqrt(np.mean((_band_db(done.audio) - clean) ** 2)))
        assert difference >= 3.0, (preset, difference)


def test_the_same_seed_gives_the_same_mix_and_master(made):
    from app import pipeline
    from app.audio.spill import spill

    song, stems, mixed, spec, choices = made
    copies = {part: spill(np.asarray(audio)) for part, audio in stems.items()}
    again = pipeline.mix(song, copies, spec, choices)  # as the pipeline mixes: each stem freed once mixed
    assert np.array_equal(again.audio, mixed.audio)
    assert again.levels == mixed.levels
    for part, audio in copies.items():
        with pytest.raises(ValueError, match="freed"):
            audio.read(0, 10)
    first, second = master_song(mixed.audio.copy(), SR, "dusty"), master_song(again.audio.copy(), SR, "dusty")
    assert np.array_equal(first[0].audio, second[0].audio)


def test_spectral_loudness_is_the_k_weighted_filters(tmp_path):
    """Spectra's K-weighting per bin is the filters' |H|^2, and its ungated loudness of an excerpt
    (and of a sum a + c b, and above a band edge) is the time-domain K-weighted mean square's."""
    from app.audio.filters import sosfilt
    from app.audio.levels import Spectra, _k_weighting_power

    from app.audio.master import _k_weighting_sos

    freqs = np.linspace(0, SR / 2, 1001)
    z = np.exp(-2j * np.pi * freqs / SR)
    expected = np.ones(freqs.size)
    for row in _k_weighting_sos(SR).astype(np.float64):  # the float32 sections the master filters with
        b, a = row[:3], row[3:]
        expected *= np.abs((b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)) ** 2
    assert np.allclose(_k_weighting_power(freqs, SR), expected, rtol=1e-9, atol=1e-15)

    rng = np.random.default_rng(3)
    a = (0.1 * rng.standard_normal((2, 3 * SR))).astype(np.float32)
    b = (0.1 * rng.standard_normal((2, 3 * SR))).astype(np.float32)
    spectra = Spectra(a.shape[1], SR)
    sa, sb = spectra.of(a), spectra.of(b)

    def time_domain_lufs(x):  # the K filter over the excerpt followed by its zero padding (circular FFT)
        padded = np.zeros((2, spectra.n_fft)); padded[:, : x.shape[1]] = x
        y = sosfilt(_k_weighting_sos(SR).astype(np.float64), np.concatenate([padded, padded], axis=1), axis=-1)[:, spectra.n_fft:]
        return -0.691 + 10 * math.log10(float((y ** 2).sum()) / x.shape[1])

    assert spectra.lufs(sa) == pytest.approx(time_domain_lufs(a), abs=1e-6)
    c = 0.7
    assert spectra.lufs_of_sum(spectra.sum_energies(sa, sb), c) == pytest.approx(time_domain_lufs(a + c * b), abs=1e-5)
    whole, above = spectra.lufs(sa), spectra.lufs(sa, DRUM_SPLIT_HZ)
    assert above < whole and above == pytest.approx(time_domain_lufs(highpass_fft(a, DRUM_SPLIT_HZ, SR)), abs=0.01)
