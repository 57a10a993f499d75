"""How much the limiter darkens each preset's mix: the share of power above 1 kHz before and after the
first master, per track.

    .venv/bin/python scripts/tilt_darkening.py --seeds 1 2 3 4 5 6 --minutes 2

For every preset with a tilt aim, each seed's track is made as generate_music makes it (compose,
render, mix), then master.finish_mix (the preset's chain and the tilt EQ aimed at the preset's
tilt_share) and one master(). Prints a JSON line per track: the aim, the tilt, the share after the
tilt ("before": the aim unless the tilt hit its range) and after the master, and their ratio; then
each preset's median ratio. master_song trims the tilt and masters again when the ratio is off by
more than TILT_TOLERANCE (BENCHMARKS.md, "Latest table", says what that costs and where it lands).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--minutes", type=float, default=2.0)
    args = parser.parse_args()

    from app.audio.fx import PRESETS
    from app.audio.master import finish_mix, master, spectral_balance
    from app.config import SAMPLE_RATE
    from app.report.mix_figures import premaster_mix

    ratios: dict[str, list[float]] = {}
    for preset, parameters in PRESETS.items():
        if parameters["tilt_share"] is None:
            continue
        for seed in args.seeds:
            audio = premaster_mix(seed, args.minutes, preset).audio
            tilt = finish_mix(audio, SAMPLE_RATE, preset)
            before = spectral_balance(audio, SAMPLE_RATE)["share_above_1k"]
            after = spectral_balance(master(audio, SAMPLE_RATE, in_place=True).audio, SAMPLE_RATE)["share_above_1k"]
            ratio = after / before if before > 0 else float("nan")
            ratios.setdefault(preset, []).append(ratio)
            print(json.dumps({"preset": preset, "seed": seed, "aim": parameters["tilt_share"], "tilt_db": tilt,
                              "before": round(before, 4), "after": round(after, 4), "ratio": round(ratio, 3)}),
                  flush=True)
    for preset, values in ratios.items():
        print(f"{preset:10} median ratio {statistics.median(values):.3f} "
              f"(range {min(values):.3f}-{max(values):.3f}, {len(values)} tracks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
