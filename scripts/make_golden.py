"""Write tests/golden/: the MIDI files and audio hashes of one short reference track (seed 7).

    .venv/bin/python scripts/make_golden.py

tests/test_golden.py makes the same track and checks that the MIDI is byte-identical and every
audio file hashes the same. Run this only when a change is meant to change the music or the sound,
and say so in the commit message: a refactor must leave the golden files as they are.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
NAME, SEED, MINUTES = "ref7", 7, 0.5
ARGS = ["generate_music", "--yes", "--minutes", str(MINUTES), "--seed", str(SEED), "--name", NAME,
        "--formats", "wav", "--no-picture"]


def make_reference(out: Path) -> None:
    """Run the real CLI into `out` (LOFI_OUTPUT_DIR)."""
    env = {**os.environ, "LOFI_OUTPUT_DIR": str(out)}
    subprocess.run([sys.executable, "-m", "app.main", *ARGS], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def audio_hashes(out: Path) -> dict[str, str]:
    """SHA-256 of the master and of every stem, by file name."""
    files = sorted((out / "wav").glob("*.wav")) + sorted((out / "final_results").glob("*.wav"))
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        make_reference(out)
        for old in GOLDEN.glob("*.mid"):
            old.unlink()
        for mid in (out / "midi").glob("*.mid"):
            shutil.copy(mid, GOLDEN / mid.name)
        (GOLDEN / "audio_sha256.json").write_text(json.dumps(audio_hashes(out), indent=2) + "\n")
    print(f"wrote {GOLDEN.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
