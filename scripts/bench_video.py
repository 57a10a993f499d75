"""The time `--video` takes for a track (issue 15's target: a 3-minute video in <= 30 s). Writes a
track-like WAV of --minutes (a chord tone per beat over noise, so the waveform moves as music does;
or --audio FILE), draws a cover, and times app.deliver.video.make_video `--runs` times; prints each
run's wall and CPU seconds (this process and its ffmpegs) and the median wall time.

    .venv/bin/python scripts/bench_video.py --minutes 3 --runs 3
    .venv/bin/python scripts/bench_video.py --audio data/final_results/lofi.wav --shape shorts

The wall time is only meaningful on a quiet machine: it prints the 1-minute load average first and
says so when it is at or above --max-load (the CPU seconds are less sensitive to the load).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def track_like_wav(path: Path, minutes: float, rate: int = 44100) -> Path:
    """A stand-in track: a new tone on every beat at 80 BPM, ringing and dying away, over quiet noise."""
    import numpy as np
    import soundfile as sf

    n = int(minutes * 60 * rate)
    out = np.random.default_rng(0).normal(0, 0.01, n).astype(np.float32)
    ring = np.arange(int(2.0 * rate)) / rate
    beat = 60 / 80
    for i in range(int(minutes * 60 / beat)):
        at = int(i * beat * rate)
        tone = (0.2 * np.sin(2 * np.pi * 220 * 2 ** ((i * 5 % 12) / 12) * ring) * np.exp(-ring / 0.6)).astype(np.float32)
        out[at:at + len(ring)] += tone[: n - at]
    sf.write(path, np.stack([out, out]).T, rate, subtype="PCM_16")
    return path


def _cpu_s() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    from app.report.bench import machine_is_busy
    from app.config import VIDEO_SHAPES
    from app.deliver.video import make_video, probe_duration
    from app.release.cover import draw_cover

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the stand-in track (default 3)")
    parser.add_argument("--audio", type=Path, help="time a video of this audio file instead")
    parser.add_argument("--shape", choices=list(VIDEO_SHAPES), default="landscape")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-load", type=float, default=1.5)
    args = parser.parse_args()
    if machine_is_busy(args.max_load):
        print(f"warning: the machine is busy (load >= {args.max_load:g}): wall times are too long")
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        audio = args.audio or track_like_wav(Path(tmp) / "track.wav", args.minutes)
        seconds = probe_duration(audio)
        cover = draw_cover("Bench Track", "lofi generator", 7, 1024)
        walls = []
        for run in range(args.runs):
            cpu, began = _cpu_s(), time.perf_counter()
            make_video(audio, Path(tmp) / "bench.mp4", cover, args.shape, duration_s=seconds)
            walls.append(time.perf_counter() - began)
            size_mb = (Path(tmp) / "bench.mp4").stat().st_size / 1e6
            print(f"run {run + 1}: {walls[-1]:.1f} s wall, {_cpu_s() - cpu:.1f} s CPU, {size_mb:.1f} MB "
                  f"({seconds / 60:.1f}-minute {args.shape} video)")
    print(f"median: {statistics.median(walls):.1f} s wall for {seconds / 60:.1f} minutes (target <= 30 s for 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
