"""Start-up stays instant: `--help` (every subcommand's parser) imports none of the heavy libraries,
and a whole generate run never imports scipy.signal (about a second of every fresh process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "scipy", "matplotlib", "torch", "music21", "fluidsynth", "pydub", "mido", "soundfile",
         "pedalboard", "pyloudnorm")


def _imported_after(code: str, env: dict | None = None) -> set[str]:
    probe = (f"import sys\n{code}\n"
             "print(' '.join(sorted({k.split('.')[0] for k in sys.modules} | "
             "({'scipy.signal'} if 'scipy.signal' in sys.modules else set()))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT,
                          env=env)
    return set(done.stdout.strip().splitlines()[-1].split())  # the last line: what the run printed comes first


def test_help_imports_nothing_heavy():
    code = ("import app.main as m\n"
            "for argv in (['--help'], ['generate_music', '--help'], ['batch', '--help'], ['bench', '--help']):\n"
            "    try:\n"
            "        m.main(argv)\n"
            "    except SystemExit:\n"
            "        pass")
    assert not _imported_after(code) & set(HEAVY)


def test_a_generate_run_does_not_import_scipy_signal(tmp_path):
    env = {**os.environ, "LOFI_OUTPUT_DIR": str(tmp_path)}
    code = ("import app.main as m\n"
            "m.main(['generate_music', '--yes', '--minutes', '0.1', '--seed', '3', '--formats', 'wav'])")
    imported = _imported_after(code, env)
    assert "fluidsynth" in imported and "matplotlib" in imported  # the run really rendered and drew
    assert "scipy.signal" not in imported and "pyloudnorm" not in imported
