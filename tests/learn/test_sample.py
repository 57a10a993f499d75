"""app.learn.sample on the shipped numpy models: draw()'s mask, temperature and nucleus; progressions
that fill exactly the bars asked, changing on bar lines or half bars; melodies on the 16th grid,
inside the mode's scale with the in-key mask, deterministic for a seed."""

from __future__ import annotations

import numpy as np
import pytest

from app.learn import encoding
from app.learn.sample import SamplingOptions, draw, sample_melody, sample_progression
from app.music import theory
from app.music.song import Chord

GRID_16THS = set(encoding.DURATION_16THS)


# --- draw ------------------------------------------------------------------------------------

def test_draw_never_picks_a_masked_index_however_likely():
    logits = np.array([10.0, 0.0, 0.0, 9.0])
    mask = np.array([False, True, True, True])
    rng = np.random.default_rng(0)
    picks = {draw(logits, 1.0, 1.0, rng, mask) for _ in range(500)}
    assert 0 not in picks and picks <= {1, 2, 3}
    assert draw(logits, 0.0, 1.0, rng, mask) == 3  # greedy: the most likely allowed index


def test_zero_temperature_and_tiny_top_p_are_greedy_whatever_the_rng():
    logits = np.log(np.array([0.1, 0.45, 0.3, 0.15]))
    for seed in range(20):
        assert draw(logits, 0.0, 0.92, np.random.default_rng(seed)) == 1
        assert draw(logits, 1.0, 1e-9, np.random.default_rng(seed)) == 1


@pytest.mark.parametrize("top_p, kept", [(0.5, {0}), (0.7, {0, 1}), (0.79, {0, 1}), (0.81, {0, 1, 2}),
                                         (1.0, {0, 1, 2, 3})])
def test_top_p_keeps_the_smallest_nucleus_reaching_p(top_p, kept):
    """probs 0.5, 0.3, 0.15, 0.05: a token is kept while the mass before it is under top_p."""
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    rng = np.random.default_rng(1)
    picks = {draw(logits, 1.0, top_p, rng) for _ in range(3000)}
    assert picks == kept


def test_temperature_one_draws_in_proportion_and_higher_temperature_flattens():
    probs = np.array([0.6, 0.25, 0.1, 0.05])
    logits = np.log(probs)

    def shares(temperature):
        rng = np.random.default_rng(2)
        counts = np.bincount([draw(logits, temperature, 1.0, rng) for _ in range(8000)], minlength=4)
        return counts / counts.sum()

    assert np.allclose(shares(1.0), probs, atol=0.025)
    hot = shares(2.0)  # p ** (1/2), renormalised: 0.41, 0.26, 0.17, 0.12
    expected = np.sqrt(probs) / np.sqrt(probs).sum()
    assert np.allclose(hot, expected, atol=0.025)
    assert hot[0] < 0.45 and hot[3] > 0.1


# --- progressions ----------------------------------------------------------------------------

def _check_fills(chords: list[Chord], bars: int, beats_per_bar: int, min_beats: int = 2):
    total = bars * beats_per_bar
    assert chords[0].start == 0.0
    for before, after in zip(chords, chords[1:]):
        assert after.start == before.end  # no gaps, no overlaps
        assert (after.root, after.quality) != (before.root, before.quality)  # a new token changes the chord
    assert chords[-1].end == total
    half = beats_per_bar // 2
    for chord in chords[:-1]:  # only the last chord may be cut short or land off the grid
        assert chord.duration >= min_beats
        assert chord.end % beats_per_bar in (0, half)


@pytest.mark.parametrize("beats_per_bar", [3, 4, 6])
@pytest.mark.parametrize("bars", [1, 2, 3, 4, 5, 8])
def test_progressions_fill_exactly_the_bars_asked(models, bars, beats_per_bar):
    for seed in range(3):
        chords = sample_progression(models.chord, 7, "major", bars, beats_per_bar, SamplingOptions(seed=seed))
        _check_fills(chords, bars, beats_per_bar)
        assert sum(c.duration for c in chords) == bars * beats_per_bar


@pytest.mark.parametrize("mode, quality", [("major", "maj"), ("minor", "min"), ("mixolydian", "maj"),
                                           ("dorian", "min")])
def test_progressions_open_on_the_tonic_of_the_parent_mode(models, mode, quality):
    for key in (0, 3, 10):
        chords = sample_progression(models.chord, key, mode, 4, options=SamplingOptions(seed=key))
        assert (chords[0].root, chords[0].quality) == (key, quality)


def test_progressions_without_start_on_tonic_may_open_elsewhere(models):
    firsts = {(c[0].root, c[0].quality) for c in (
        sample_progression(models.chord, 0, "major", 2, options=SamplingOptions(seed=s), start_on_tonic=False)
        for s in range(12))}
    assert firsts != {(0, "maj")}


def test_progressions_are_deterministic_per_seed_and_differ_between_seeds(models):
    def prog(seed):
        return sample_progression(models.chord, 2, "minor", 8, options=SamplingOptions(seed=seed))

    assert prog(5) == prog(5)
    assert prog((5, 1, 0)) == prog((5, 1, 0))
    distinct = {tuple(prog(seed)) for seed in range(6)}
    assert len(distinct) == 6
    assert prog((5, 1, 0)) != prog((5, 1, 1))  # tuple seeds name independent streams


# --- melodies --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def progression(models):
    return sample_progression(models.chord, 2, "minor", 4, options=SamplingOptions(seed=3))


def _melody(models, chords, seed=0, key=2, mode="minor", beats=16.0, **options):
    return sample_melody(models.melody, chords, key, mode, beats, SamplingOptions(seed=seed, **options))


def test_melodies_are_deterministic_per_seed_and_differ_between_seeds(models, progression):
    assert _melody(models, progression, 4) == _melody(models, progression, 4)
    distinct = {tuple(_melody(models, progression, seed)) for seed in range(6)}
    assert len(distinct) == 6


@pytest.mark.parametrize("mode", theory.ALL_MODES)
def test_the_in_key_mask_keeps_every_note_in_the_modes_scale(models, mode):
    for key in (0, 6, 9):
        chords = sample_progression(models.chord, key, mode, 4, options=SamplingOptions(seed=key))
        scale = theory.scale_pitch_classes(key, mode)
        for seed in range(2):
            # A hot, unfiltered draw: the mask alone keeps the notes in the scale.
            notes = _melody(models, chords, seed, key, mode, temperature=2.0, top_p=1.0)
            assert notes
            assert {n.pitch % 12 for n in notes} <= scale


def test_without_the_mask_a_hot_draw_leaves_the_scale(models):
    """The control for the test above: the same hot draws, unmasked, do play notes outside C major."""
    chords = sample_progression(models.chord, 0, "major", 4, options=SamplingOptions(seed=1))
    scale = theory.scale_pitch_classes(0, "major")
    outside = [n for seed in range(5)
               for n in _melody(models, chords, seed, 0, "major", temperature=1.5, top_p=1.0, in_key=False)
               if n.pitch % 12 not in scale]
    assert outside


def test_a_tiny_top_p_is_greedy(models, progression):
    """With top_p near 0 only the most likely token survives: every seed gives the greedy melody."""
    greedy = _melody(models, progression, 0, temperature=1e-9)
    assert greedy
    for seed in range(4):
        assert _melody(models, progression, seed, top_p=1e-9) == greedy


@pytest.mark.parametrize("start_beat, beats", [(0.0, 16.0), (0.0, 7.25), (4.0, 8.0), (2.5, 5.0)])
def test_melody_notes_sit_on_the_grid_in_order_inside_the_span(models, progression, start_beat, beats):
    end = start_beat + beats
    for seed in range(3):
        notes = sample_melody(models.melody, progression, 2, "minor", beats, SamplingOptions(seed=seed),
                              start_beat=start_beat)
        assert notes
        for note in notes:
            assert (note.start * 4).is_integer() and (note.duration * 4).is_integer()
            assert note.start >= start_beat and note.end <= end
            assert 1 <= note.velocity <= 127
        for before, after in zip(notes, notes[1:]):
            assert after.start >= before.end  # one line: no overlaps
        # Every length is a duration class, except a note cut short at the end of the span.
        assert {int(n.duration * 4) for n in notes if n.end < end} <= GRID_16THS


def test_a_prime_warms_the_state_and_changes_the_continuation(models, progression):
    motif = _melody(models, progression, 1, beats=8.0)
    plain = sample_melody(models.melody, progression, 2, "minor", 8.0, SamplingOptions(seed=9), start_beat=8.0)
    primed = sample_melody(models.melody, progression, 2, "minor", 8.0, SamplingOptions(seed=9), start_beat=8.0,
                           prime=motif)
    again = sample_melody(models.melody, progression, 2, "minor", 8.0, SamplingOptions(seed=9), start_beat=8.0,
                          prime=motif)
    assert primed == again and primed != plain
    assert all(n.start >= 8.0 for n in primed)
