"""Render-to-file speed: this project's in-process path against the seeds' path, on the same song.

    .venv/bin/python scripts/bench_render_vs_seeds.py --minutes 3 --runs 5

Ours, as generate_music runs it: render_song (FluidSynth in process, into numpy) -> mix_song
(loudness staging, pump, room) -> master_song (lo-fi chain, tilt EQ, -14 LUFS, -1 dBTP) ->
export_track (16-bit WAV with tags).
Seeds': one `fluidsynth -ni -F part.wav` command per part (written MIDI files in, WAV files out),
then pydub reads the WAVs, overlays them with the beat and ambience, and exports the WAV. The
seeds' path does less work (no lo-fi chain, no mastering), so the comparison favours it. Runs are
interleaved (ours, seeds, ours, ...) after one warm-up each. `python -m app.main bench` prints the
same comparison among its other figures (app/report/bench.py compare_with_seeds).
Needs the `fluidsynth` command for the seeds' side: `sudo apt-get install fluidsynth`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from app.report.bench import compare_with_seeds

    result = compare_with_seeds(args.minutes, args.runs)
    if "skipped" in result:
        print(result["skipped"], file=sys.stderr)
        return 1
    print(f"song: {result['song_s']:.1f} s")
    print(f"ours  (render_song, mix_song, master_song, WAV):      median {result['ours_s']:.2f} s  "
          f"runs {', '.join(f'{x:.2f}' for x in result['ours_runs'])}")
    print(f"seeds (fluidsynth CLI per part, pydub overlay, WAV):  median {result['seeds_s']:.2f} s  "
          f"runs {', '.join(f'{x:.2f}' for x in result['seeds_runs'])}")
    print(f"speed-up: {result['speedup']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
