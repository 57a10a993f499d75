"""`evaluate --mix` (issue 14 item 5): the mix's figures over generated tracks, printed and as JSON."""

from __future__ import annotations

import json

from app.main import main
from tests.fixtures.checks import needs_gm


@needs_gm
def test_evaluate_mix_reports_the_figures_and_their_windows(capsys):
    assert main(["evaluate", "--mix", "--count", "1", "--minutes", "0.2", "--seed", "7", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    figures = report["tracks"][0]["figures"]
    for name in ("melody_vs_chords", "bass_vs_chords", "drums_vs_music", "backbeat_vs_music", "rolloff_hz",
                 "share_above_1k", "lufs", "true_peak_dbtp"):
        assert figures[name] is not None, name
    assert report["summary"]["true_peak_dbtp"]["in_window"] == 1
    assert report["summary"]["lufs"]["in_window"] == 1
    assert main(["evaluate", "--mix", "--count", "1", "--minutes", "0.2", "--seed", "7"]) == 0
    table = capsys.readouterr().out
    assert "melody_vs_chords" in table and "-4..1" in table and "in window" in table
