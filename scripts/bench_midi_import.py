"""Speed of training on a loop pack (issue 13): import 1,000 small loops; fine-tune on 120.

    .venv/bin/python scripts/bench_midi_import.py                      # import 1,000 loops, --jobs 2
    .venv/bin/python scripts/bench_midi_import.py --files 1000 --jobs 4
    .venv/bin/python scripts/bench_midi_import.py --finetune 120        # also: fine-tune at the default epochs

The loops are written here with mido into a temporary folder (tests/fixtures/loops.py: 4-bar chord
loops as type 1 and type 0 files, block, rolled and broken; 2-bar melody loops; 2-bar drum loops),
in keys round the circle. Targets: the import <= 30 s, the fine-tune <= 5 min (`train --midi-dir
DIR --init-from models`, default epochs and patience, augmentation on as for any small set, with
OMP_NUM_THREADS=1 unless set: torch's thread per core is many times slower on a shared CPU).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IMPORT_TARGET_S = 30.0
FINETUNE_TARGET_S = 300.0


def write_loops(folder: Path, count: int) -> None:
    """`count` loops: of every 6, four chord loops (type 1 block, type 0 block, rolled, broken), a
    melody loop and a drum loop."""
    from tests.fixtures.loops import write_chord_loop, write_drum_loop, write_melody_loop

    kinds = [("type1", 1, "block"), ("type0", 0, "block"), ("rolled", 1, "rolled"), ("arp", 1, "arpeggio")]
    for i in range(count):
        key = (i * 7) % 12
        slot = i % 6
        if slot < 4:
            label, file_type, style = kinds[slot]
            write_chord_loop(folder / f"chords_{label}_{i:04d}.mid", key, file_type, style)
        elif slot == 4:
            write_melody_loop(folder / f"melody_{i:04d}.mid", key)
        else:
            write_drum_loop(folder / f"drums_{i:04d}.mid")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=1000, help="loops to import (default 1000)")
    p.add_argument("--jobs", type=int, default=2, help="import processes (default 2)")
    p.add_argument("--finetune", type=int, default=0, metavar="N", help="also fine-tune on N loops (e.g. 120)")
    args = p.parse_args(argv)
    os.environ.setdefault("LOFI_CACHE_DIR", tempfile.mkdtemp(prefix="lofi-bench-cache-"))
    from app.learn.corpus import load_corpus

    with tempfile.TemporaryDirectory(prefix="lofi-loops-") as tmp:
        folder = Path(tmp) / "loops"
        folder.mkdir()
        write_loops(folder, args.files)
        t0 = time.perf_counter()
        corpus = load_corpus(folder, jobs=args.jobs, use_cache=False)
        took = time.perf_counter() - t0
        print(corpus.summary().split("\n  skipped")[0])
        print(f"import of {args.files} loops with --jobs {args.jobs}: {took:.1f} s "
              f"(target <= {IMPORT_TARGET_S:.0f} s: {'met' if took <= IMPORT_TARGET_S else 'MISSED'})")
        if args.finetune:
            pack = Path(tmp) / "pack"
            pack.mkdir()
            write_loops(pack, args.finetune)
            cmd = [sys.executable, "-m", "app.main", "train", "--midi-dir", str(pack), "--init-from",
                   str(ROOT / "models"), "--out-dir", str(Path(tmp) / "out"), "--jobs", str(args.jobs)]
            # One torch thread: on a shared CPU torch's default of a thread per core is many times slower.
            env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
            t0 = time.perf_counter()
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
            took = time.perf_counter() - t0
            print(done.stdout[-4000:] + done.stderr[-2000:])
            print(f"fine-tune on {args.finetune} loops at the default epochs: {took:.0f} s "
                  f"(target <= {FINETUNE_TARGET_S:.0f} s: {'met' if took <= FINETUNE_TARGET_S else 'MISSED'}; exit {done.returncode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
