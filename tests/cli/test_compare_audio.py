"""scripts/compare_audio.py: a difference under the limit passes, one over it, a length change or a
missing file fails."""

from __future__ import annotations

import numpy as np

from scripts.compare_audio import compare
from tests.fixtures.wav import write_wav


def test_differences_are_judged_against_the_limit(tmp_path):
    rng = np.random.default_rng(0)
    music = (0.3 * rng.standard_normal((2, 4410))).astype(np.float32)
    before, after = tmp_path / "before", tmp_path / "after"
    for name, change in (("same", 0.0), ("quiet", 10 ** (-75 / 20)), ("loud", 10 ** (-40 / 20))):
        write_wav(before / f"{name}.wav", music, subtype="FLOAT")
        write_wav(after / f"{name}.wav", music + np.float32(0.3 * change), subtype="FLOAT")
    write_wav(before / "short.wav", music, subtype="FLOAT")
    write_wav(after / "short.wav", music[:, :4000], subtype="FLOAT")
    write_wav(before / "gone.wav", music, subtype="FLOAT")
    lines = {line.split()[1].rstrip(":"): line for line in compare(before, after, -60.0)}
    assert lines["same.wav"].startswith("ok") and "-inf dB" in lines["same.wav"]
    assert lines["quiet.wav"].startswith("ok")
    assert lines["loud.wav"].startswith("FAIL") and "-40.0 dB" in lines["loud.wav"]
    assert lines["short.wav"].startswith("FAIL") and "frames" in lines["short.wav"]
    assert lines["gone.wav"].startswith("FAIL") and "only in" in lines["gone.wav"]
