"""Effect drop folder: discovery, loading of odd WAVs, bad files, beat-grid lock, ambience seams."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from app.audio import loops as ef
from app.audio.default_loops import make_default_effects
from app.errors import BadValueError, EffectFileError
from tests.fixtures.wav import SR, click_loop, kick_pattern, noise_bed, threshold_onsets, write_wav


@pytest.fixture(scope="module")
def defaults_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("effects")
    make_default_effects(folder)
    return folder


@pytest.fixture(scope="module")
def click_effect(tmp_path_factory) -> ef.EffectFile:
    """Two bars of clicks on every beat at 80 BPM, found through discovery like a user's file."""
    folder = tmp_path_factory.mktemp("clicks")
    write_wav(folder / "beats" / "clicks_80bpm.wav", click_loop(80, 8))
    return ef.find_effect("clicks_80bpm", "beat", ef.discover_effects(folder)[0])


# --- discovery --------------------------------------------------------------------------------


def test_discover_finds_defaults_with_bpm_from_name(defaults_dir):
    effects, skipped = ef.discover_effects(defaults_dir)
    assert skipped == []
    beats = {e.name: e for e in effects if e.kind == "beat"}
    ambience = {e.name for e in effects if e.kind == "ambience"}
    assert {"rain", "vinyl_crackle"} <= ambience
    assert len(beats) >= 3
    for name, effect in beats.items():
        assert effect.bpm == ef.bpm_from_name(name)
        assert effect.bpm_from_name
        assert 70 <= effect.bpm <= 90
        assert effect.sample_rate == SR and effect.channels == 2
    listing = ef.format_listing(effects, skipped)
    assert "from name" in listing and "rain" in listing


@pytest.mark.parametrize(
    "name, bpm",
    [("dusty_72bpm", 72), ("Loop 84 BPM", 84), ("kit-bpm95", 95), ("groove_92.5bpm", 92.5), ("rain", None),
     ("track 2024", None)],
)
def test_bpm_from_name(name, bpm):
    assert ef.bpm_from_name(name) == bpm


def test_kind_from_folder_then_name(tmp_path):
    assert ef.kind_of(tmp_path / "beats" / "rain.wav", tmp_path) == "beat"
    assert ef.kind_of(tmp_path / "ambience" / "drum room.wav", tmp_path) == "ambience"
    assert ef.kind_of(tmp_path / "my Drum loop.wav", tmp_path) == "beat"
    assert ef.kind_of(tmp_path / "misc" / "cafe.wav", tmp_path) == "ambience"


def test_beat_without_bpm_in_name_gets_detected_bpm(tmp_path):
    # 4 bars at 90 BPM plus a ragged 0.37 s tail, so the length alone does not give the answer away.
    write_wav(tmp_path / "beats" / "mystery groove.wav", kick_pattern(90, 4, tail_s=0.37))
    write_wav(tmp_path / "my drum thing.wav", kick_pattern(90, 4))  # kind from the name
    effects, skipped = ef.discover_effects(tmp_path)
    assert skipped == []
    found = {e.name: e for e in effects}
    for name in ("mystery groove", "my drum thing"):
        assert found[name].kind == "beat"
        assert abs(found[name].bpm - 90) < 2, found[name].bpm
        assert not found[name].bpm_from_name
    assert "detected" in ef.format_listing(effects, skipped)


@pytest.mark.parametrize("bpm", [72, 90, 135])
def test_detect_bpm_direct(bpm):
    audio = kick_pattern(bpm, 4, tail_s=0.2)
    assert abs(ef.detect_bpm(audio, SR) - bpm) < 2


def test_detect_bpm_on_noise_finds_nothing():
    noise = np.random.default_rng(0).standard_normal((2, SR * 5)).astype(np.float32) * 0.1
    assert ef.detect_bpm(noise, SR) is None
    assert ef.detect_bpm(np.zeros((2, SR * 5), np.float32), SR) is None


def test_find_effect(defaults_dir):
    effects, _ = ef.discover_effects(defaults_dir)
    assert ef.find_effect("RAIN", "ambience", effects).name == "rain"
    assert ef.find_effect("dusty_72bpm.wav", None, effects).bpm == 72
    with pytest.raises(BadValueError, match="rain") as info:
        ef.find_effect("thunder", "ambience", effects)
    assert "vinyl_crackle" in str(info.value)
    with pytest.raises(BadValueError):
        ef.find_effect("rain", "beat", effects)


# --- loading any WAV --------------------------------------------------------------------------


def _tone(seconds: float, rate: int, channels: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([0.5 * np.sin(2 * np.pi * 440 * t)] * channels)


@pytest.mark.parametrize(
    "rate, channels, subtype, fmt",
    [
        (22050, 1, "PCM_24", "WAV"),  # mono, half rate, 24-bit
        (44100, 2, "PCM_U8", "WAV"),  # 8-bit unsigned
        (44100, 2, "DOUBLE", "WAV"),  # 64-bit float
        (48000, 2, "PCM_16", "WAVEX"),  # WAVE_FORMAT_EXTENSIBLE, other rate
        (44100, 2, "PCM_32", "WAVEX"),
        (96000, 4, "FLOAT", "WAVEX"),  # quad, 32-bit float, high rate
    ],
)
def test_load_wav_any_format(tmp_path, rate, channels, subtype, fmt):
    path = write_wav(tmp_path / "ambience" / f"tone_{subtype}.wav", _tone(1.5, rate, channels), rate, subtype, fmt)
    audio = ef.load_wav(path, 44100)
    assert audio.dtype == np.float32
    assert audio.shape == (2, int(1.5 * 44100))
    # Still a 440 Hz tone at a sensible level in both channels.
    spectrum = np.abs(np.fft.rfft(audio[0]))
    assert abs(np.argmax(spectrum) * 44100 / audio.shape[1] - 440) < 2
    assert 0.2 < np.abs(audio).max() <= 0.6
    assert np.allclose(audio[0], audio[1], atol=1e-3)
    effects, skipped = ef.discover_effects(tmp_path)
    assert skipped == [] and effects[0].sample_rate == rate and effects[0].channels == channels


def test_load_wav_returns_independent_copies(tmp_path):
    path = write_wav(tmp_path / "a.wav", _tone(1.0, SR, 2))
    first = ef.load_wav(path)
    first *= 0
    assert np.abs(ef.load_wav(path)).max() > 0.4


# --- bad files are skipped, never a crash -------------------------------------------------------


def test_bad_files_are_skipped_with_reasons(tmp_path):
    good = write_wav(tmp_path / "ambience" / "good.wav", noise_bed(1.0))
    (tmp_path / "ambience" / "corrupt.wav").write_bytes(np.random.default_rng(1).bytes(5000))
    (tmp_path / "ambience" / "riff_garbage.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk" + b"\x00" * 64)
    (tmp_path / "ambience" / "empty.wav").write_bytes(b"")
    (tmp_path / "ambience" / "broken.wav").symlink_to(tmp_path / "nowhere.wav")
    write_wav(tmp_path / "ambience" / "blip.wav", noise_bed(0.1))
    write_wav(tmp_path / "beats" / "tiny_90bpm.wav", np.zeros((2, 0)))
    (tmp_path / "ambience" / "notes.mp3").write_bytes(b"ID3")
    weird = Path(os.fsdecode(os.fsencode(str(tmp_path / "ambience")) + b"/caf\xe9 noise.wav"))
    write_wav(weird, noise_bed(1.0))
    (tmp_path / "ambience" / ".good.123.partial.wav").write_bytes(b"half")

    effects, skipped = ef.discover_effects(tmp_path)

    names = {e.name for e in effects}
    assert "good" in names and "caf\ufffd noise" in names  # names are printable; the path keeps the bytes
    reasons = {p.name: r for p, r in skipped}
    assert reasons["corrupt.wav"].startswith("not a WAV")
    assert "not a readable WAV" in reasons["riff_garbage.wav"]
    assert reasons["empty.wav"] == "empty file"
    assert reasons["broken.wav"] == "broken symlink"
    assert reasons["blip.wav"].startswith("too short")
    assert "0 frames" in reasons["tiny_90bpm.wav"] or "too short" in reasons["tiny_90bpm.wav"]
    assert reasons["notes.mp3"] == "not a .wav file"
    assert not any(p.name.startswith(".") for p, _ in skipped)
    listing = ef.format_listing(effects, skipped)
    listing.encode("utf-8")  # printable: undecodable name bytes became U+FFFD
    assert "broken symlink" in listing and "caf\ufffd noise" in listing

    with pytest.raises(EffectFileError, match="corrupt.wav"):
        ef.load_wav(tmp_path / "ambience" / "corrupt.wav")
    with pytest.raises(EffectFileError, match="broken symlink"):
        ef.load_wav(tmp_path / "ambience" / "broken.wav")
    assert ef.load_wav(good).shape == (2, SR)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_skipped(tmp_path):
    path = write_wav(tmp_path / "ambience" / "locked.wav", noise_bed(1.0))
    path.chmod(0)
    try:
        effects, skipped = ef.discover_effects(tmp_path)
        assert effects == [] and "permission" in skipped[0][1]
    finally:
        path.chmod(0o644)


def test_missing_folder_is_empty(tmp_path):
    assert ef.discover_effects(tmp_path / "nope") == ([], [])


# --- beat loops on the song grid --------------------------------------------------------------


@pytest.mark.parametrize("bpm", [92.0, 70.0, 80.0])
def test_beat_onsets_land_on_song_grid(click_effect, bpm):
    bars = 9
    n_samples = int(bars * 4 * 60 / bpm * SR) + 1234  # not a whole number of bars
    audio = ef.beat_track(click_effect, bpm, n_samples)
    assert audio.shape == (2, n_samples) and audio.dtype == np.float32
    onsets = threshold_onsets(audio)
    beat_s = 60.0 / bpm
    expected = np.arange(int(np.ceil(n_samples / SR / beat_s))) * beat_s
    expected = expected[expected < n_samples / SR - 0.01]
    assert len(onsets) == len(expected)
    assert np.abs(onsets - expected).max() < 0.010


def test_beat_track_keeps_pitch(tmp_path):
    loop = click_loop(80, 4) * 0.2
    t = np.arange(loop.shape[1]) / SR
    loop += 0.3 * np.sin(2 * np.pi * 440 * t)
    write_wav(tmp_path / "beats" / "tone_80bpm.wav", loop)
    effect = ef.find_effect("tone_80bpm", "beat", ef.discover_effects(tmp_path)[0])
    audio = ef.beat_track(effect, 100.0, 4 * SR)
    spectrum = np.abs(np.fft.rfft(audio[0] * np.hanning(audio.shape[1])))
    assert abs(np.argmax(spectrum) * SR / audio.shape[1] - 440) < 3


def test_beat_track_bad_tempo(click_effect):
    with pytest.raises(BadValueError):
        ef.beat_track(click_effect, 0, SR)
    assert ef.beat_track(click_effect, 90, 0).shape == (2, 0)


# --- ambience tiling --------------------------------------------------------------------------


def test_ambience_tiles_without_seams(tmp_path):
    source = noise_bed(3.0)
    inside_jump = np.abs(np.diff(source, axis=1)).max()
    path = write_wav(tmp_path / "ambience" / "bed.wav", source, subtype="FLOAT")
    effect = ef.find_effect("bed", "ambience", ef.discover_effects(tmp_path)[0])
    crossfade_s = 0.5
    n = 11 * SR
    audio = ef.ambience_track(effect, n, crossfade_s=crossfade_s)
    assert audio.shape == (2, n) and audio.dtype == np.float32
    np.testing.assert_array_equal(audio[:, :SR], ef.load_wav(path)[:, :SR])  # starts like the file

    fade = int(crossfade_s * SR)
    unit = source.shape[1] - fade
    seams = np.arange(unit, n, unit)  # where one pass ends and the next (crossfaded) pass begins
    assert len(seams) >= 3
    for seam in seams:
        jump = np.abs(np.diff(audio[:, seam - 3:seam + 3], axis=1)).max()
        assert jump <= inside_jump
    # Level through each join (the crossfade runs from the seam for `fade` samples): no dip, no bump.
    file_rms = np.sqrt(np.mean(source.astype(np.float64) ** 2))
    window = int(0.2 * SR)
    for seam in seams:
        for start in range(seam - window // 2, min(seam + fade, n - window), window // 2):
            piece = audio[:, start:start + window].astype(np.float64)
            level_db = 20 * np.log10(np.sqrt(np.mean(piece**2)) / file_rms)
            assert abs(level_db) < 1.5, (seam, start, level_db)


def test_ambience_short_request_is_file_start(defaults_dir):
    effect = ef.find_effect("rain", "ambience", ef.discover_effects(defaults_dir)[0])
    audio = ef.ambience_track(effect, 1000)
    np.testing.assert_array_equal(audio, ef.load_wav(effect.path)[:, :1000])
