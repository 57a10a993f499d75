"""batch's default --jobs: the CPU cores, fewer when the free memory would not hold them."""

from __future__ import annotations

from app.release import request
from app.release.request import WORKER_BASE_MB, WORKER_MB_PER_MINUTE, BatchRequest, default_jobs


def _meminfo(tmp_path, available_mb: float):
    path = tmp_path / "meminfo"
    path.write_text(f"MemTotal:       24000000 kB\nMemAvailable:   {int(available_mb * 1024)} kB\n")
    return path


def test_free_memory_caps_the_jobs(tmp_path, monkeypatch):
    monkeypatch.setattr(request.os, "cpu_count", lambda: 8)
    per_20 = WORKER_BASE_MB + 20 * WORKER_MB_PER_MINUTE
    jobs, why = default_jobs(BatchRequest(minutes=20.0), _meminfo(tmp_path, 3.5 * per_20))
    assert jobs == 3
    assert "3 jobs" in why and "8 CPU cores" in why and "20-minute" in why
    # Shorter tracks fit more workers; the cores still cap them.
    per_2 = WORKER_BASE_MB + 2 * WORKER_MB_PER_MINUTE
    assert default_jobs(BatchRequest(minutes=2.0), _meminfo(tmp_path, 3.5 * per_20))[0] == int(3.5 * per_20 // per_2) > 3
    assert default_jobs(BatchRequest(minutes=2.0), _meminfo(tmp_path, 9 * per_2))[0] == 8
    # A range is sized by its longest track; at least one job even when memory is short.
    assert default_jobs(BatchRequest(minutes=None, minutes_range=(2.0, 20.0)), _meminfo(tmp_path, 2.1 * per_20))[0] == 2
    assert default_jobs(BatchRequest(minutes=20.0), _meminfo(tmp_path, 100))[0] == 1


def test_unknown_free_memory_falls_back_to_the_cores(tmp_path, monkeypatch):
    monkeypatch.setattr(request.os, "cpu_count", lambda: 4)
    jobs, why = default_jobs(BatchRequest(minutes=3.0), tmp_path / "missing")
    assert jobs == 4 and "free memory unknown" in why
