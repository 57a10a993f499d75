"""How far one build's audio is from another's: the difference of every WAV of the same name, in dB.

    .venv/bin/python scripts/compare_audio.py --make /tmp/before     # on the old code (e.g. main)
    .venv/bin/python scripts/compare_audio.py --make /tmp/after      # on the new code
    .venv/bin/python scripts/compare_audio.py /tmp/before /tmp/after

--make writes the golden reference track (seed 7, scripts/make_golden.py's arguments) into the folder.
Comparing prints, per file, the largest sample difference and the difference's RMS, both relative to
the first file's RMS (dB; -inf: identical samples), and exits 1 if any file is louder than
--limit-db (default -60 dB), has another length, or is missing from one side. A change that is not
meant to alter the sound must stay under the limit where the golden test's hashes cannot (a refactor
that moves float32 rounding by one step changes a hash but not what anyone can hear).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _db(ratio: float) -> float:
    return 20 * math.log10(ratio) if ratio > 0 else -math.inf


def compare(before: Path, after: Path, limit_db: float) -> list[str]:
    """Lines describing each WAV under `before` against the same relative path under `after`;
    a line starting with 'FAIL' is over the limit, a different length or a missing file."""
    import numpy as np
    import soundfile as sf

    lines = []
    names = sorted({p.relative_to(before) for p in before.rglob("*.wav")} |
                   {p.relative_to(after) for p in after.rglob("*.wav")})
    for name in names:
        a, b = before / name, after / name
        if not (a.is_file() and b.is_file()):
            lines.append(f"FAIL {name}: only in {before if a.is_file() else after}")
            continue
        x, _ = sf.read(str(a), dtype="float64", always_2d=True)
        y, _ = sf.read(str(b), dtype="float64", always_2d=True)
        if x.shape != y.shape:
            lines.append(f"FAIL {name}: {x.shape[0]} frames before, {y.shape[0]} after")
            continue
        reference = float(np.sqrt(np.mean(x * x))) or 1.0
        diff = y - x
        peak_db = _db(float(np.abs(diff).max()) / reference) if diff.size else -math.inf
        rms_db = _db(float(np.sqrt(np.mean(diff * diff))) / reference) if diff.size else -math.inf
        verdict = "FAIL" if peak_db > limit_db else "ok"
        lines.append(f"{verdict:<4} {name}: largest difference {peak_db:.1f} dB, RMS {rms_db:.1f} dB "
                     f"(relative to its RMS)")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, help="BEFORE AFTER")
    parser.add_argument("--make", type=Path, help="write the reference track into this folder and stop")
    parser.add_argument("--limit-db", type=float, default=-60.0)
    args = parser.parse_args()
    if args.make:
        from scripts.make_golden import make_reference

        args.make.mkdir(parents=True, exist_ok=True)
        make_reference(args.make)
        print(f"wrote the reference track under {args.make}")
        return 0
    if len(args.folders) != 2:
        parser.error("give two folders (BEFORE AFTER), or --make FOLDER")
    lines = compare(*args.folders, args.limit_db)
    print("\n".join(lines) if lines else "no WAV files found")
    return 1 if not lines or any(line.startswith("FAIL") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
