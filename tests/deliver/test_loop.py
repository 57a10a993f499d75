"""The seamless loop (app/deliver/loop.py): exactly N bars, and the join is no rougher than the inside
of the loop, measured as the sample jump and the spectral flux (a naive cut fails the same checks)."""

import numpy as np
import pytest

from app.deliver.loop import loop_audio, loop_length, loop_start_beat
from app.errors import BadValueError
from app.music.song import Section, Song
from tests.fixtures.checks import loop_flux, loop_jumps

RATE = 44100
BPM = 84.0  # a bar is not a whole number of samples: the length must still be exact


def _song(bars: int) -> Song:
    sections = [Section("intro", 0.0, 8.0, frozenset({"chords"})),
                Section("A", 8.0, (bars - 4) * 4.0, frozenset({"chords", "bass", "melody", "drums"})),
                Section("outro", (bars - 2) * 4.0, 8.0, frozenset({"chords"}))]
    return Song(BPM, 0, "major", sections=sections)


def _track(song: Song) -> np.ndarray:
    """A stand-in track: a new tone struck on every beat, ringing long over the next ones (so a
    plain cut would stop notes dead), over quiet noise."""
    beat = 60.0 / BPM
    n = int(round((song.sections[-1].end * beat + 2.0) * RATE))
    out = np.random.default_rng(0).normal(0, 0.002, n)
    ring = np.arange(int(6.0 * RATE)) / RATE  # each tone rings 6 s, dying away
    for i in range(int(song.sections[-1].end)):
        at = int(round(i * beat * RATE))
        freq = 220.0 * 2 ** ((i * 5 % 12) / 12)
        tone = 0.2 * np.sin(2 * np.pi * freq * ring) * np.exp(-ring / 1.5)
        out[at:at + len(ring)] += tone[:n - at]
    return np.stack([out, out * 0.9]).astype(np.float32)


@pytest.mark.parametrize("bars", [2, 4])
def test_loop_is_exactly_n_bars_and_joins_seamlessly(bars):
    song = _song(12)
    loop = loop_audio(_track(song), song, bars, RATE)
    assert loop.shape == (2, loop_length(song, bars, RATE)) == (2, round(bars * 4 * 60 / BPM * RATE))
    assert loop.dtype == np.float32 and np.isfinite(loop).all()
    jump, inside = loop_jumps(loop)
    assert jump <= inside
    join_flux, inside_flux = loop_flux(loop)
    assert join_flux <= inside_flux


def test_a_plain_cut_fails_the_same_checks():
    """The checks above can fail: the same bars cut without the fold click at the join."""
    song = _song(12)
    audio = _track(song)
    start = int(round(loop_start_beat(song, 2) * 60 / BPM * RATE))
    plain = audio[:, start:start + loop_length(song, 2, RATE)]
    jump, inside = loop_jumps(plain)
    join_flux, inside_flux = loop_flux(plain)
    assert jump > inside or join_flux > inside_flux


def test_the_loop_starts_at_the_fullest_section():
    assert loop_start_beat(_song(12), 4) == 8.0  # the A section, not the intro
    assert loop_start_beat(_song(6), 4) == 4.0  # A is too short for 4 bars and a beat: a bar line that fits


def test_a_loop_longer_than_the_track_is_a_clear_error():
    with pytest.raises(BadValueError, match="fewer bars or more minutes"):
        loop_audio(_track(_song(6)), _song(6), 8, RATE)
