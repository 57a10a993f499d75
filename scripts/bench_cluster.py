"""The overhead of the cluster engine (issue 16's target: under 10%): the same release, 20 tracks of
1 minute by default, made with `batch --cluster local:2` (a Dask LocalCluster of 2 worker processes)
and with `batch --jobs 2` (the project's own spawned workers), each timed wall-clock from the call to
the finished release (worker start-up included in both), `--runs` times each, alternating.

    .venv/bin/python scripts/bench_cluster.py                       # 20 x 1 minute, 1 run each
    .venv/bin/python scripts/bench_cluster.py --count 20 --minutes 1 --workers 2 --runs 3

The training melodies for the originality guard are loaded once before any timing (both ways use
them alike). Each run writes a fresh release in a temporary folder, removed afterwards; the two
ways' manifests are compared (they must be the same release). Only meaningful on a quiet machine:
it prints the 1-minute load average first and refuses to time (exit 1) at or above --max-load.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    from app.report.bench import machine_is_busy
    from app.release.batch import produce_release
    from app.release.originality import load_training_windows
    from app.release.request import BatchRequest, validate_request

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2, help="--cluster local:N against --jobs N")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--max-load", type=float, default=1.5)
    args = parser.parse_args()
    if machine_is_busy(args.max_load):
        print(f"the machine is busy (load >= {args.max_load:g}): not timed")
        return 1
    print("loading the training melodies ...", flush=True)
    windows = load_training_windows()
    ways = {f"--cluster local:{args.workers}": {"cluster": f"local:{args.workers}"},
            f"--jobs {args.workers}": {"jobs": args.workers}}
    times: dict[str, list[float]] = {way: [] for way in ways}
    manifests: dict[str, dict] = {}
    for run in range(args.runs):
        for way, options in ways.items():
            out = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
            try:
                req = validate_request(BatchRequest(count=args.count, minutes=args.minutes, out=out, seed=args.seed,
                                                    album="Bench Tapes", **options))
                start = time.perf_counter()
                code, folder, _ = produce_release(req, windows=windows)
                seconds = time.perf_counter() - start
                manifests[way] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            finally:
                shutil.rmtree(out, ignore_errors=True)
            times[way].append(seconds)
            print(f"run {run + 1}, {way}: {seconds:.1f} s (exit code {code})", flush=True)
    cluster_way, jobs_way = ways
    a, b = statistics.median(times[cluster_way]), statistics.median(times[jobs_way])
    same = manifests[cluster_way] == manifests[jobs_way]
    print(f"{args.count} tracks of {args.minutes:g} minute(s), median of {args.runs}: {cluster_way} {a:.1f} s, "
          f"{jobs_way} {b:.1f} s; the cluster engine's overhead {100 * (a / b - 1):+.1f}% "
          f"(target < 10%); the same release both ways: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
