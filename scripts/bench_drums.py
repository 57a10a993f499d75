"""The time the generated drums add to a track's render and mix (issue 17's target: <= 0.5 s for a
3-minute track). Composes one song with drums, then times render_song + mix_song with the drums
part and kit, and without them, `--runs` times each (alternating), and prints the medians.

    .venv/bin/python scripts/bench_drums.py --minutes 3 --runs 3

Only meaningful on a quiet machine: it prints the 1-minute load average first and refuses to time
(exit 1) when it is at or above --max-load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    from app.report.bench import machine_is_busy
    from app.audio.mix import mix_song
    from app.audio.render import render_song
    from app.choices import resolve_choices
    from app.config import SAMPLE_RATE, TAIL_S
    from app.pipeline import compose
    from app.spec import TrackSpec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-load", type=float, default=1.5)
    args = parser.parse_args()
    if machine_is_busy(args.max_load):
        print(f"the machine is busy (load >= {args.max_load:g}): not timed")
        return 1
    spec = TrackSpec(minutes=args.minutes, seed=args.seed, ambience=[]).validate()
    choices = resolve_choices(spec)
    song = compose(spec, choices)
    without_parts = {k: v for k, v in song.parts.items() if k != "drums"}
    plain = type(song)(song.tempo_bpm, song.key, song.mode, song.time_signature, song.chords, without_parts,
                       song.sections)
    plain_instruments = {k: v for k, v in choices.instruments.items() if k != "drums"}

    def once(s, instruments) -> float:
        start = time.perf_counter()
        stems = render_song(s, instruments, swing=spec.swing, seed=choices.seed, sample_rate=SAMPLE_RATE,
                            tail_s=TAIL_S)
        mix_song(s, stems, preset=spec.lofi_preset)
        return time.perf_counter() - start

    once(song, choices.instruments)  # warm caches (SoundFont headers, filters)
    with_drums, without = [], []
    for _ in range(args.runs):
        with_drums.append(once(song, choices.instruments))
        without.append(once(plain, plain_instruments))
    a, b = statistics.median(with_drums), statistics.median(without)
    print(f"{args.minutes:g}-minute track, render + mix, median of {args.runs}: with drums {a:.2f} s, "
          f"without {b:.2f} s, the drums add {a - b:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
