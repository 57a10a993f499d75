"""The evaluation figures (app/report/evaluate.py) on a known song."""



from tests.fixtures.music import little_song


def test_evaluation_figures_on_a_known_song():
    from app.report.evaluate import interval_windows, repetitiveness, song_figures

    song = little_song(key=9, mode="minor")
    f = song_figures(song)
    assert f["notes"] == 16 and f["scale_hits"] == 16  # the fixture melody is in A minor
    assert f["on_beat"] == 16
    assert 0 < f["chord_hits"] <= 16
    # An 8-note figure repeated is perfectly repetitive; transposing does not change interval windows.
    assert repetitiveness([60, 62, 64, 65, 67, 65, 64, 62, 60, 59] * 3) == [1.0] * 11
    assert interval_windows([60, 62, 64] * 6) == interval_windows([67, 69, 71] * 6)
