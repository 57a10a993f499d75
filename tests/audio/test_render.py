"""FluidSynth rendering: real synth, real SoundFonts; assertions on lengths, levels and onsets."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from app.music import song
from app.errors import BadValueError, RenderError, SoundFontError
from app.audio.instruments import default_instrument, discover_soundfonts
from app.audio.render import audition, render_part, render_song, stem_length, swing_beats
from app.music.song import Chord, Note, Part, Song
from tests.fixtures.sf2 import write_tiny_sf2
from tests.fixtures.checks import needs_gm, rms

SR = 44100


def onsets_s(audio: np.ndarray, sample_rate: int = SR, frame: int = 128) -> list[float]:
    """Onset times (s): the first sample rising above 10 % of the overall peak after at least
    four quiet frames (~12 ms). Frames are longer than one cycle of the test sine, so the frame
    peak follows the envelope, not the waveform."""
    mono = np.abs(audio).max(axis=0)
    threshold = 0.1 * mono.max()
    frames = mono[: len(mono) // frame * frame].reshape(-1, frame).max(axis=1)
    above = frames > threshold
    times = []
    for f in np.flatnonzero(above):
        if f >= 1 and above[max(0, f - 4):f].any():
            continue
        start = max(0, (f - 1) * frame)
        times.append((start + int(np.argmax(mono[start:] > threshold))) / sample_rate)
    return times


@pytest.fixture(scope="module")
def tiny_sine(tmp_path_factory):
    """The 'Tiny Sine' preset of the test SoundFont: an instantly starting sine, clean onsets."""
    folder = tmp_path_factory.mktemp("sf2")
    write_tiny_sf2(folder / "Tiny.sf2")
    files, skipped = discover_soundfonts([folder])
    assert skipped == []
    return files[0].presets[0]


@pytest.fixture(scope="module")
def short_song() -> Song:
    chords = [Chord(9, "min7", 0.0, 4.0), Chord(2, "min7", 4.0, 4.0)]
    melody = Part("melody", [
        Note(72, 0.0, 0.5, 90), Note(74, 0.5, 0.5, 80), Note(76, 1.0, 1.0, 85),
        Note(79, 2.5, 0.5, 75), Note(77, 4.0, 1.5, 85), Note(76, 6.0, 1.0, 80),
    ])
    tune = Song(tempo_bpm=84.0, key=0, mode="major", chords=chords)
    return tune.with_part(melody).with_part(song.chords_to_part(chords)).with_part(song.bass_from_chords(chords))


@needs_gm
def test_render_song_gives_equal_stereo_stems_of_the_right_length(short_song: Song):
    instruments = {part: default_instrument(part) for part in ("melody", "chords", "bass")}
    stems = render_song(short_song, instruments, tail_s=1.5)
    assert list(stems) == ["melody", "chords", "bass"]
    expected = round((short_song.length_beats * 60 / short_song.tempo_bpm + 1.5) * SR)
    assert expected == stem_length(8.0, 84.0, 1.5)
    for name, stem in stems.items():
        assert stem.dtype == np.float32
        assert stem.shape == (2, expected), name
        assert np.isfinite(stem).all()
        assert rms(stem) > 1e-3, f"{name} stem is silent"
        assert np.abs(stem).max() < 1.0
    # The chords end with the song: their release tail rings on after it, then dies away.
    keys = stems["chords"]
    music_end = round(8.0 * 60 / 84.0 * SR)
    assert rms(keys[:, music_end:music_end + SR // 10]) > 1e-4
    assert rms(keys[:, -SR // 10:]) < rms(keys[:, :music_end]) / 10


@needs_gm
def test_parts_without_an_instrument_are_left_out(short_song: Song):
    stems = render_song(short_song, {"bass": default_instrument("bass")}, tail_s=0.5)
    assert list(stems) == ["bass"]


def test_tiny_soundfont_renders_sound(tiny_sine):
    part = Part("melody", [Note(69, 0.0, 1.0, 100), Note(76, 1.0, 1.0, 100)])
    audio = render_part(part, tiny_sine, 120.0, tail_s=0.5)
    assert audio.shape == (2, round((2 * 0.5 + 0.5) * SR))
    assert rms(audio[:, : SR]) > 0.01
    # It is the 441 Hz sine: the spectrum of the first note peaks there.
    first = audio[0, 1000:1000 + 16384]
    spectrum = np.abs(np.fft.rfft(first * np.hanning(len(first))))
    peak_hz = np.argmax(spectrum) * SR / len(first)
    assert abs(peak_hz - 440) < 5


def test_straight_grid_without_humanize_is_exact(tiny_sine):
    starts = [0.0, 0.75, 1.5, 2.25, 3.0]  # a 16th-note grid, with gaps so each onset is clear
    part = Part("melody", [Note(69, s, 0.2, 100) for s in starts])
    audio = render_part(part, tiny_sine, 120.0, swing=0.5, humanize=0.0, tail_s=0.5)
    found = onsets_s(audio)
    expected = [s * 0.5 for s in starts]
    assert len(found) == len(expected)
    assert np.max(np.abs(np.array(found) - expected)) < 0.010


@pytest.mark.parametrize("swing", [0.57, 0.62])
def test_swing_delays_the_off_beat_8th(tiny_sine, swing: float):
    part = Part("melody", [Note(69, 1.5, 0.25, 100)])  # one note on the off-beat of beat 2
    straight = onsets_s(render_part(part, tiny_sine, 120.0, swing=0.5, humanize=0.0, length_beats=3.0))
    swung = onsets_s(render_part(part, tiny_sine, 120.0, swing=swing, humanize=0.0, length_beats=3.0))
    assert len(straight) == len(swung) == 1
    assert abs(straight[0] - 0.75) < 0.010
    expected = (1 + swing) * 0.5  # lands at `swing` of the beat
    assert abs(swung[0] - expected) < 0.010
    assert swung[0] - straight[0] > (swing - 0.5) * 0.5 - 0.005


def test_swing_warps_the_beat_proportionally():
    warped = swing_beats(np.array([0.0, 0.25, 0.5, 0.75, 1.0, 2.5]), 0.6)
    assert np.allclose(warped, [0.0, 0.3, 0.6, 0.8, 1.0, 2.6])
    assert np.allclose(swing_beats(np.linspace(0, 4, 33), 0.5), np.linspace(0, 4, 33))


def test_same_seed_same_samples_other_seed_differs(tiny_sine):
    part = Part("melody", [Note(60 + (i * 5) % 12, i * 0.5, 0.4, 80) for i in range(12)])
    first = render_part(part, tiny_sine, 90.0, seed=3, tail_s=0.3)
    again = render_part(part, tiny_sine, 90.0, seed=3, tail_s=0.3)
    other = render_part(part, tiny_sine, 90.0, seed=4, tail_s=0.3)
    assert np.array_equal(first, again)
    assert first.shape == other.shape
    assert not np.array_equal(first, other)


@needs_gm
def test_gm_render_is_deterministic(short_song: Song):
    chords, rhodes = short_song.parts["chords"], default_instrument("chords")
    a = render_part(chords, rhodes, 84.0, seed=11, tail_s=0.5)
    b = render_part(chords, rhodes, 84.0, seed=11, tail_s=0.5)
    c = render_part(chords, rhodes, 84.0, seed=12, tail_s=0.5)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_humanize_moves_onsets_only_a_few_ms(tiny_sine):
    starts = [0.0, 1.0, 2.0, 3.0]
    part = Part("melody", [Note(69, s, 0.3, 100) for s in starts])
    found = onsets_s(render_part(part, tiny_sine, 120.0, swing=0.5, humanize=1.0, seed=5, tail_s=0.5))
    errors = np.abs(np.array(found) - np.array(starts) * 0.5)
    assert len(found) == 4
    assert errors.max() < 0.012  # jitter is clipped at 10 ms, plus 1.45 ms block rounding
    assert errors.max() > 0.0015  # ...but it did move something


def test_length_beats_sets_length_and_cuts_later_notes(tiny_sine):
    part = Part("melody", [Note(69, 0.0, 1.0, 100), Note(72, 6.0, 1.0, 100)])
    audio = render_part(part, tiny_sine, 100.0, length_beats=4.0, tail_s=0.25)
    assert audio.shape == (2, round((4 * 0.6 + 0.25) * SR))
    assert rms(audio[:, round(1.5 * SR):]) < 1e-6  # the note at beat 6 is past the end


def test_restruck_pitch_keeps_sounding(tiny_sine):
    # The same pitch twice, overlapping: the first note's end must not silence the second.
    part = Part("melody", [Note(69, 0.0, 2.0, 100), Note(69, 1.0, 2.0, 100)])
    audio = render_part(part, tiny_sine, 60.0, humanize=0.0, tail_s=0.5)
    assert rms(audio[:, round(2.2 * SR):round(2.9 * SR)]) > 0.01


def test_empty_part_is_silence_of_the_right_length(tiny_sine):
    audio = render_part(Part("melody"), tiny_sine, 90.0, length_beats=3.0, tail_s=1.0)
    assert audio.shape == (2, round(3.0 * SR))
    assert not audio.any()


def test_bad_arguments_raise_bad_value(tiny_sine):
    part = Part("melody", [Note(69, 0.0, 1.0)])
    with pytest.raises(BadValueError):
        render_part(part, tiny_sine, 90.0, swing=0.3)
    with pytest.raises(BadValueError):
        render_part(part, tiny_sine, 0.0)
    with pytest.raises(BadValueError):
        render_part(part, tiny_sine, 90.0, humanize=-1.0)


def test_missing_preset_raises_soundfont_error(tiny_sine):
    from dataclasses import replace

    with pytest.raises(SoundFontError, match="no preset 3:3"):
        render_part(Part("melody", [Note(69, 0.0, 1.0)]), replace(tiny_sine, bank=3, program=3), 90.0)


def test_missing_fluidsynth_raises_render_error(tiny_sine, monkeypatch):
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # `import fluidsynth` now fails
    with pytest.raises(RenderError, match="apt install libfluidsynth3"):
        render_part(Part("melody", [Note(69, 0.0, 1.0)]), tiny_sine, 90.0)


def test_audition_writes_a_16_bit_preview(tiny_sine, tmp_path: Path):
    out = audition(tiny_sine, tmp_path / "preview" / "tiny.wav", seconds=3.0)
    info = soundfile.info(out)
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (44100, 2, "PCM_16", 3 * 44100)
    audio, _ = soundfile.read(out)
    assert abs(20 * np.log10(np.abs(audio).max()) - -3.0) < 0.1
    assert not list(out.parent.glob("*.partial*"))


@needs_gm
def test_drum_kit_audition_is_not_silent(tmp_path: Path):
    out = audition(default_instrument("drums"), tmp_path / "drums.wav", seconds=2.0)
    audio, sr = soundfile.read(out)
    assert sr == 44100 and rms(audio) > 0.01
