"""The batch workers' process settings: the allocator kept warm between short tracks (app/release/workers.py),
measured by the page faults a fresh interpreter takes to allocate the same blocks again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

_FAULTS_SCRIPT = """
import resource, sys
import numpy as np
from app.release.workers import keep_freed_memory
took = keep_freed_memory(float(sys.argv[1]))
counts = []
for _ in range(3):  # a 'track': 40 MB in 2 MB blocks, then freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [np.ones((2, 1 << 18), np.float32) for _ in range(20)]
    counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    del blocks
print(int(took), *counts)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_worker_keeps_freed_memory_for_the_next_short_track_only():
    """Before a short track the allocator keeps what the last one freed: the next track's blocks
    are not faulted in again. Before a long track it hands freed memory back (its peak is limited)."""
    def faults(minutes: float) -> list[int]:
        out = subprocess.run([sys.executable, "-c", _FAULTS_SCRIPT, str(minutes)], capture_output=True, text=True,
                             check=True, cwd=Path(__file__).resolve().parents[2]).stdout.split()
        return [int(v) for v in out]

    took, first, *again = faults(2.0)
    if not took:
        pytest.skip("not glibc")
    assert first > 5000 and max(again) < first // 10  # 40 MB is ~10,000 pages; reused, almost none
    _, first, *again = faults(20.0)
    assert min(again) > first // 2  # handed back, so faulted in again
