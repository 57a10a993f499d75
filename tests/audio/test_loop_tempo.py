"""Beat loops that are not cut on bar lines (issue 10, item 2): a release tail, a lead-in before the
first hit, a 29 s live take at 85 BPM. Their tempo is found within 0.5 BPM and the beat stays on the
song's grid (every hit within 10 ms of a beat line) over a whole track; tempi outside 50-140 BPM are
played half- or double-time. Item 1's crash (numpy.float32 in the sidecar) is the end-to-end case."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app import paths
from app.audio import loops
from app.audio.tempo import track_bpm
from tests.fixtures.wav import SR, click, threshold_onsets, write_wav

GM = __import__("pathlib").Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


def live_take(bpm: float, seconds: float, jitter_s: float = 0.002, lead_in_s: float = 0.0) -> np.ndarray:
    """(2, n) drums played by hand: a loud hit on every beat (downbeats louder), soft swung hats on
    the off-beats, each hit a little early or late (normal jitter, clipped at 2.5 sd)."""
    rng = np.random.default_rng(85)
    n = int(round((seconds + lead_in_s) * SR))
    out = np.zeros((2, n), np.float32)
    beat = 60.0 / bpm
    hit, hat = click(SR, 0.006, 0.8), click(SR, 0.003, 0.15)
    k = 0
    while (start := lead_in_s + k * beat) < seconds + lead_in_s:
        for offset, sound, gain in ((0.0, hit, 1.0 if k % 4 == 0 else 0.7), (0.57 * beat, hat, 1.0)):
            t = start + offset + float(np.clip(rng.normal(0, jitter_s), -2.5 * jitter_s, 2.5 * jitter_s))
            s = int(round(t * SR))
            m = max(0, min(sound.size, n - s))
            out[:, s:s + m] += gain * sound[:m]
        k += 1
    return out


def boombap_with(tail_s: float = 0.0, lead_in_s: float = 0.0) -> np.ndarray:
    import soundfile as sf

    audio, rate = sf.read(paths.EFFECTS_DIR / "beats" / "boombap_80bpm.wav", dtype="float32", always_2d=True)
    assert rate == SR
    pad = lambda s: np.zeros((audio.shape[1], int(round(s * SR))), np.float32)  # noqa: E731
    return np.concatenate([pad(lead_in_s), audio.T, pad(tail_s)], axis=1)


def effect_of(tmp_path, name: str, audio: np.ndarray) -> loops.EffectFile:
    write_wav(tmp_path / "beats" / f"{name}.wav", audio)
    loops.clear_cache()
    (effect,), skipped = loops.discover_effects(tmp_path)
    assert skipped == []
    return effect


@pytest.mark.parametrize("tail_s, lead_in_s", [(0.1, 0.0), (0.15, 0.0), (0.0, 0.12), (0.1, 0.12)])
def test_boombap_off_whole_bars_is_80_bpm(tmp_path, tail_s, lead_in_s):
    effect = effect_of(tmp_path, "my_loop", boombap_with(tail_s, lead_in_s))
    assert not effect.bpm_from_name and type(effect.bpm) is float
    assert abs(effect.bpm - 80.0) <= 0.5 and effect.tempo_note is None


def grid_errors_ms(audio: np.ndarray, bpm: float) -> np.ndarray:
    """Distance (ms) of every hit in `audio` from the nearest beat line of a grid starting at 0."""
    onsets = threshold_onsets(audio, SR, threshold=0.4 * float(np.abs(audio).max()), hold_s=0.3 * 60 / bpm)
    beat = 60.0 / bpm
    return np.abs(onsets - np.round(onsets / beat) * beat) * 1000.0, onsets


@pytest.mark.parametrize("seconds, lead_in_s", [(28.0, 0.0), (29.3, 0.0), (30.0, 0.12)])
def test_live_take_at_85_stays_on_the_grid_for_two_minutes(tmp_path, seconds, lead_in_s):
    effect = effect_of(tmp_path, "live take", live_take(85.0, seconds, lead_in_s=lead_in_s))
    assert abs(effect.bpm - 85.0) <= 0.5
    song_bpm = round(effect.bpm, 2)  # what the pipeline gives the song
    n = 120 * SR
    stem = loops.beat_track(effect, song_bpm, n, SR)
    errors, onsets = grid_errors_ms(stem, song_bpm)
    assert onsets.size >= 0.95 * (n / SR) * song_bpm / 60  # a hit on (nearly) every beat, to the end
    assert onsets[0] < 0.010  # the lead-in was trimmed: bar 1 starts at once
    assert errors.max() <= 10.0, f"worst hit {errors.max():.1f} ms off the grid"


def test_forced_tempo_keeps_a_detected_loop_on_the_grid(tmp_path):
    effect = effect_of(tmp_path, "live take", live_take(85.0, 29.0, lead_in_s=0.12))
    stem = loops.beat_track(effect, 78.0, 60 * SR, SR)
    errors, onsets = grid_errors_ms(stem, 78.0)
    assert onsets.size >= 70 and errors.max() <= 10.0


@pytest.mark.parametrize("loop_bpm, played", [(170.0, 85.0), (45.0, 90.0), (280.0, 140.0), (25.0, 50.0), (85.0, 85.0), (140.0, 140.0)])
def test_tempo_outside_the_range_is_played_half_or_double_time(loop_bpm, played):
    bpm, note = track_bpm(loop_bpm)
    assert bpm == played
    assert (note is None) == (loop_bpm == played)
    if note:
        assert "time" in note and "clamped" not in note


def test_an_unusable_tempo_is_clamped_and_says_so():
    assert track_bpm(float("inf"))[1].endswith("clamped")
    assert track_bpm(100.0, 70.0, 90.0) == (90.0, "100 BPM is outside 70-90; clamped to 90 BPM")


def test_a_170_bpm_loop_plays_half_time_on_the_grid(tmp_path):
    one_bar = live_take(170.0, 4 * 60 / 170, jitter_s=1e-6)
    effect = effect_of(tmp_path, "fast_170bpm", one_bar)
    assert (effect.bpm, effect.source_bpm) == (85.0, 170.0) and not effect.bpm_clamped
    assert "half-time at 85" in effect.tempo_note
    stem = loops.beat_track(effect, effect.bpm, 30 * SR, SR)
    errors, onsets = grid_errors_ms(stem, 170.0)  # every hit of the loop, on its own beat lines
    assert onsets.size >= 0.95 * 30 * 170 / 60 and errors.max() <= 10.0


@pytest.mark.skipif(not GM.exists(), reason="the system GM SoundFont (fluid-soundfont-gm) is not installed")
def test_a_track_with_a_detected_tempo_loop_writes_its_sidecar(tmp_path, monkeypatch):
    """The issue's reproduction: boombap + 150 ms tail as my_loop.wav, chosen for a track."""
    from app.music.compose import load_models
    from app.deliver.names import OutputDirs
    from app.pipeline import run_track
    from app.spec import TrackSpec

    write_wav(tmp_path / "effects" / "beats" / "my_loop.wav", boombap_with(tail_s=0.15))
    monkeypatch.setattr(paths, "EFFECTS_DIR", tmp_path / "effects")
    loops.clear_cache()
    spec = TrackSpec(name="loop test", minutes=0.15, seed=3, beat="my_loop", ambience=[], picture=False)
    result = run_track(spec, models=load_models(), dirs=OutputDirs.under(tmp_path / "out"))
    side = json.loads(result.files["sidecar"].read_text(encoding="utf-8"))
    assert side["beat"]["name"] == "my_loop" and abs(side["bpm"] - 80.0) <= 0.5
    loops.clear_cache()
