"""Layering: stems + lo-fi chain + ducking + pydub overlays of beat and ambience."""

from __future__ import annotations

import numpy as np
import pytest

from app.audio import mix
from app.errors import BadValueError
from tests.fixtures.checks import rms

SR = 44100


def tone(freq_hz: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return np.tile(amplitude * np.sin(2 * np.pi * freq_hz * t), (2, 1)).astype(np.float32)


def stems(seconds: float = 4.0) -> dict[str, np.ndarray]:
    return {"melody": tone(660, seconds), "chords": tone(330, seconds), "bass": tone(82.4, seconds, 0.5)}


def beat_loop(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A one-bar loop: a 55 Hz kick on each half second and noisy hats between."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    since = (np.arange(n) / SR) % 0.5
    kick = 0.8 * np.sin(2 * np.pi * 55 * since) * np.exp(-since / 0.06)
    hats = 0.2 * rng.standard_normal(n) * np.exp(-((since - 0.25) % 0.5) / 0.02)
    left = kick + hats
    return np.stack([left, kick + 0.9 * hats]).astype(np.float32)


def noise(seconds: float, amplitude: float = 0.1, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amplitude * rng.standard_normal((2, int(seconds * SR)))).astype(np.float32)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


@pytest.mark.parametrize("chain", [None, "clean", "dusty", "tape"])
def test_mix_keeps_length_and_does_not_clip(chain):
    out = mix.mix_track(stems(), beat=beat_loop(), ambience=[(noise(1.5), -18.0)], chain=chain)
    assert out.shape == (2, 4 * SR) and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert np.abs(out).max() < 0.95
    assert rms(out) > 0.01


def test_music_bus_sits_at_minus_18_dbfs_rms():
    out = mix.mix_track(stems(), chain="clean")
    assert abs(20 * np.log10(rms(out)) - mix.MUSIC_BUS_RMS_DBFS) < 0.2


def test_beat_is_audible_and_looped():
    loop = beat_loop()
    out = mix.mix_track(stems(), beat=loop, chain="clean", duck_db=0.0)
    looped = np.tile(loop, (1, 4))
    assert correlation(out, looped) > 0.4
    without = mix.mix_track(stems(), chain="clean")
    assert abs(correlation(without, looped)) < 0.05
    # Looped over the whole mix, not just once: the last second correlates as well as the first.
    assert correlation(out[:, -SR:], looped[:, -SR:]) > 0.4


@pytest.mark.parametrize("beat_gain_db", [-10.0, -4.0, 0.0])
def test_beat_level_relative_to_the_bus(beat_gain_db):
    loop = beat_loop()
    out = mix.mix_track(stems(), beat=loop, chain="clean", duck_db=0.0, beat_gain_db=beat_gain_db)
    looped = np.tile(loop, (1, 4))
    # Least-squares share of the beat in the mix; the music (sines) is nearly orthogonal to it.
    share = np.dot(out.ravel(), looped.ravel()) / np.dot(looped.ravel(), looped.ravel())
    beat_part = share * looped
    music_part = out - beat_part
    assert abs(20 * np.log10(rms(beat_part) / rms(music_part)) - beat_gain_db) < 1.0


@pytest.mark.parametrize("level_db", [-24.0, -12.0, -6.0])
def test_ambience_level_roughly_as_asked(level_db):
    rain = noise(1.5)
    out = mix.mix_track(stems(), ambience=[(rain, level_db)], chain="clean")
    looped = np.tile(rain, (1, 3))[:, : 4 * SR]
    share = np.dot(out.ravel(), looped.ravel()) / np.dot(looped.ravel(), looped.ravel())
    ambience_part = share * looped
    music_part = out - ambience_part
    assert abs(20 * np.log10(rms(ambience_part) / rms(music_part)) - level_db) < 1.0


def test_music_ducks_under_the_kick():
    loop = beat_loop()
    plain = mix.mix_track({"melody": tone(660, 4.0)}, beat=loop, chain="clean", duck_db=0.0, beat_gain_db=-40)
    ducked = mix.mix_track({"melody": tone(660, 4.0)}, beat=loop, chain="clean", duck_db=6.0, beat_gain_db=-40)
    onset = 2 * SR  # a kick lands on every half second
    after = slice(onset + int(0.01 * SR), onset + int(0.05 * SR))
    before = slice(onset - int(0.1 * SR), onset - int(0.06 * SR))
    drop_after = 20 * np.log10(rms(ducked[:, after]) / rms(plain[:, after]))
    drop_before = 20 * np.log10(rms(ducked[:, before]) / rms(plain[:, before]))
    assert drop_after - drop_before < -4.0


def test_headroom_when_layers_are_hot():
    hot = {"melody": tone(440, 2.0, 0.99), "bass": tone(55, 2.0, 0.99)}
    out = mix.mix_track(hot, beat=beat_loop() * 1.2, beat_gain_db=6.0, ambience=[(noise(2.0, 0.5), 0.0)])
    assert np.abs(out).max() < 0.95


def test_stems_of_different_lengths_and_mono_are_accepted():
    out = mix.mix_track({"melody": tone(440, 3.0)[0], "bass": tone(55, 2.0)}, chain="clean")
    assert out.shape == (2, 3 * SR)


def test_custom_chain_callable_is_used():
    seen = []

    def spy(audio, sample_rate):
        seen.append((audio.shape, sample_rate))
        return audio

    mix.mix_track(stems(1.0), chain=spy, sample_rate=SR)
    assert seen == [((2, SR), SR)]


def test_bad_input():
    with pytest.raises(BadValueError):
        mix.mix_track({})
    with pytest.raises(BadValueError):
        mix.mix_track(stems(1.0), ambience=[noise(1.0)])
    with pytest.raises(BadValueError):
        mix.mix_track({"melody": np.zeros((3, 100), np.float32)})
    with pytest.raises(BadValueError):
        mix.mix_track(stems(1.0), chain="nope")


@pytest.mark.parametrize("sample_width", [2, 4])
def test_segment_round_trip(sample_width):
    audio = noise(0.5, 0.1)
    segment = mix.to_segment(audio, SR, sample_width)
    assert segment.frame_rate == SR and segment.channels == 2 and segment.sample_width == sample_width
    assert len(segment) == 500  # milliseconds
    back = mix.from_segment(segment)
    assert back.shape == audio.shape and back.dtype == np.float32
    assert np.abs(back - audio).max() <= 1.0 / 2 ** (8 * sample_width - 1)


def test_to_segment_clips_instead_of_wrapping():
    loud = np.array([[1.5, -1.5, 0.5]] * 2, np.float32)
    back = mix.from_segment(mix.to_segment(loud, SR))
    assert back[0, 0] > 0.99 and back[0, 1] <= -0.99


def _sectioned_song():
    """A 12-beat song at 120 BPM (0.5 s a beat): a 4-beat intro without the beat, then 8 beats with it."""
    from app.music.song import Note, Part, Section, Song

    sections = [Section("intro", 0, 4, frozenset({"chords"})), Section("A", 4, 8, frozenset({"chords", "beat"}))]
    melody = Part("melody", [Note(69, 0, 12)])
    return Song(120.0, 9, "minor", parts={"melody": melody}, sections=sections)


def test_section_gain_follows_the_sections_layers():
    song = _sectioned_song()
    n = 6 * SR
    gain = mix.section_gain(song, "beat", n)
    assert gain.shape == (n,)
    assert gain[: int(1.9 * SR)].max() == 0.0  # intro: no beat
    assert gain[int(2.1 * SR):].min() == 1.0  # A: the beat plays
    ramp = gain[int(1.97 * SR): int(2.03 * SR)]
    assert np.all(np.diff(ramp) >= 0) and 0 < ramp[len(ramp) // 2] < 1  # a short ramp, no click
    assert mix.section_gain(song, "melody", n).max() == 0.0  # no section lists it


def test_intro_is_low_passed_until_the_groove():
    song = _sectioned_song()
    rng = np.random.default_rng(1)
    noise = (0.1 * rng.standard_normal((2, 6 * SR))).astype(np.float32)
    out = mix.filter_intro(noise.copy(), song)

    def high_share(audio):  # energy share above 4 kHz
        spectrum = np.abs(np.fft.rfft(audio[0])) ** 2
        freqs = np.fft.rfftfreq(audio.shape[1], 1 / SR)
        return spectrum[freqs > 4000].sum() / spectrum.sum()

    assert high_share(out[:, : int(1.4 * SR)]) < 0.05 * high_share(noise[:, : int(1.4 * SR)])
    assert np.array_equal(out[:, int(2.6 * SR):], noise[:, int(2.6 * SR):])  # after the intro: untouched


def test_the_room_made_in_two_halves_is_the_room_made_in_one_pass():
    """The second half's reverb warms up on the send before it, so the seam cannot be heard: the wet
    return equals one reverb over the whole send within float32 rounding (under -100 dB)."""
    from app.audio.spill import SPILL_BLOCK_FRAMES

    seconds = 2.5 * SPILL_BLOCK_FRAMES / SR  # the seam one spill block in, 1.5 blocks after it
    hits = noise(seconds, 0.2) * (np.arange(int(seconds * SR)) % SR < SR // 10)  # a hit every second
    layers = {"chords": noise(seconds, 0.05, seed=1), "melody": tone(660, seconds), "drums": hits.astype(np.float32)}
    n = layers["chords"].shape[1]
    middle = SPILL_BLOCK_FRAMES
    whole = np.concatenate(list(mix.room_wet(layers, "drums", SR, 0, n)), axis=1)
    halves = np.concatenate([*mix.room_wet(layers, "drums", SR, 0, middle), *mix.room_wet(layers, "drums", SR, middle, n)],
                            axis=1)
    assert halves.shape == whole.shape == (2, n)
    assert rms(whole[:, middle:]) > 0.01  # the room rings across the seam
    assert np.abs(halves - whole).max() < 1e-5 * rms(whole)
