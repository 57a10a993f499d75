"""Pictures exist, have a sensible size and are not blank."""

import numpy as np

from tests.fixtures.music import little_song


def _assert_picture(path, min_w=600, min_h=300):
    from PIL import Image

    assert path.exists() and path.stat().st_size > 5000
    img = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert img.shape[1] >= min_w and img.shape[0] >= min_h
    assert img.std() > 10  # not a blank canvas
    assert (img < 128).mean() > 0.005  # something dark was drawn


def test_loss_curves(tmp_path):
    from app.report.pictures import plot_loss_curves

    history = [{"epoch": i, "train_loss": 3 - i * 0.2, "val_loss": 3.1 - i * 0.15, "val_note": 2 - i * 0.1,
                "val_duration": 1 - i * 0.05} for i in range(6)]
    _assert_picture(plot_loss_curves(history, tmp_path / "loss.png", "melody"))


def test_track_picture(tmp_path):
    from app.report.pictures import track_picture

    song = little_song()
    from app.music.song import Section

    song.sections = [Section("intro", 0, 4), Section("A", 4, 12)]
    t = np.arange(int(song.length_seconds * 44100)) / 44100
    audio = np.stack([0.1 * np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32)
    facts = {"name": "pic", "key": "A", "mode": "minor", "bpm": 84, "duration_s": 11.4, "lufs": -14.0,
             "true_peak_dbtp": -1.2, "seed": 1, "instruments": {"melody": {"name": "Vibraphone"}},
             "beat": None, "ambience": [{"name": "rain", "level_db": -20}]}
    _assert_picture(track_picture(song, audio, 44100, facts, tmp_path / "pic.png"))


def test_short_term_loudness_matches_integrated():
    from app.audio.master import loudness_lufs
    from app.report.pictures import short_term_loudness

    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((2, 44100 * 12)) * 0.05).astype(np.float32)
    _, values = short_term_loudness(audio, 44100)
    assert abs(np.median(values) - loudness_lufs(audio, 44100)) < 0.5


def test_evaluation_plots(tmp_path):
    from app.report.pictures import evaluation_plots

    rng = np.random.default_rng(1)
    gen = [list(60 + rng.integers(0, 12, 60)) for _ in range(3)]
    corpus = [list(60 + rng.integers(0, 12, 80)) for _ in range(5)] + [gen[0][:30]]
    report = {f: {"generated": 0.5, "corpus": 0.6} for f in ("in_scale", "chord_tone_on_beats", "copied_16gram",
                                                           "repetitiveness")}
    report.update(songs=3, minutes=1.0)
    paths = evaluation_plots(gen, corpus, report, tmp_path)
    assert sorted(p.name for p in paths) == ["copied_ngrams.png", "figures.png", "pitch_classes.png", "repetitiveness.png"]
    for p in paths:
        _assert_picture(p)


def test_track_picture_with_lanes_is_1280_wide_and_short_sections_get_their_own_label_row(tmp_path):
    from PIL import Image

    from app.music.song import Section
    from app.report.pictures import _section_label_rows, track_picture

    song = little_song()
    song.sections = [Section("intro", 0, 4), Section("A", 4, 4), Section("breakdown", 8, 1), Section("A", 9, 3),
                     Section("outro", 12, 4)]  # (name, start beat, beats)
    rows = _section_label_rows(song, 800)
    assert rows[3] != rows[2]  # "breakdown" is 1 beat wide: the next "A" moves to the other row
    assert rows[0] == rows[1] == 0 and rows[4] == 0  # wide sections keep the first row
    n = int(song.length_seconds * 44100)
    t = np.arange(n) / 44100
    audio = np.stack([0.1 * np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32)
    times = np.arange(1.5, song.length_seconds, 1.0)
    lanes = {"melody": (times, np.full(times.size, -24.0)), "drums": (times, np.linspace(-40, -20, times.size))}
    facts = {"name": "lanes", "key": "A", "mode": "minor", "bpm": 84, "duration_s": 11.4, "lufs": -14.0,
             "true_peak_dbtp": -1.2, "seed": 1, "instruments": {}, "beat": None, "ambience": [],
             "levels": {"melody": -24.0, "chords": -23.5, "melody_vs_chords": -0.5}}
    path = track_picture(song, audio, 44100, facts, tmp_path / "lanes.png", lanes=lanes)
    _assert_picture(path)
    assert 1200 <= Image.open(path).size[0] <= 1280
