"""bench's comparison with the seeds' path: runs interleaved where the fluidsynth command exists,
says why it was skipped where it does not."""

from __future__ import annotations

import shutil

import pytest

from app.report import bench


def test_without_the_fluidsynth_command_the_comparison_says_why(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = bench.compare_with_seeds(0.1, 1)
    assert "fluidsynth command" in result["skipped"]
    assert "skipped" in bench.format_seeds(result)


@pytest.mark.skipif(not shutil.which("fluidsynth"), reason="needs the fluidsynth command")
def test_the_comparison_times_both_paths_interleaved():
    result = bench.compare_with_seeds(0.1, 2)
    assert len(result["ours_runs"]) == len(result["seeds_runs"]) == 2
    assert result["ours_s"] > 0 and result["seeds_s"] > 0
    # the medians are printed to the millisecond, the speed-up is their unrounded ratio
    assert result["speedup"] == pytest.approx(result["seeds_s"] / result["ours_s"], rel=0.02)
    assert "x (render to file" in bench.format_seeds(result)


def test_a_timed_process_reports_its_own_peak_memory_not_the_benchs():
    """bench holds about a gigabyte when it times its processes; a child spawned from it would count
    that peak as its own (Linux's ru_maxrss), so each is started by a small launcher."""
    import os

    import numpy as np

    hog = np.ones(400 << 20, np.uint8)  # this process now peaks at 400 MiB or more
    wall, peak = bench._process(["--help"], dict(os.environ))
    assert hog[-1] == 1
    assert wall > 0
    assert 5 < peak < 100, peak  # `--help` on its own peaks near 15 MiB


def test_a_failing_process_is_an_error_with_its_message():
    import os

    with pytest.raises(RuntimeError, match="no-such-command"):
        bench._process(["no-such-command"], dict(os.environ))
