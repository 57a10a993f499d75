"""Package-relative folders. Bundled files are found relative to the repository, never the cwd."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_DIR = ROOT / "app"
SF2_DIR = APP_DIR / "sf2"
EFFECTS_DIR = APP_DIR / "effects"
# LOFI_MODELS_DIR points generation (and train's default --out-dir) at other weights.
# An empty variable (LOFI_OUTPUT_DIR=) counts as unset, not as the current directory.
MODELS_DIR = Path(os.environ.get("LOFI_MODELS_DIR") or ROOT / "models")
DATA_DIR = ROOT / "data"
# LOFI_OUTPUT_DIR moves midi/, wav/ and final_results/ elsewhere (tests, scripted runs).
OUTPUT_ROOT = Path(os.environ.get("LOFI_OUTPUT_DIR") or DATA_DIR)
MIDI_DIR = OUTPUT_ROOT / "midi"
WAV_DIR = OUTPUT_ROOT / "wav"
RESULTS_DIR = OUTPUT_ROOT / "final_results"
# Preprocessed training data; LOFI_CACHE_DIR lets tests keep theirs apart.
CACHE_DIR = Path(os.environ.get("LOFI_CACHE_DIR") or ROOT / ".cache")

# Where Debian/Ubuntu (fluid-soundfont-gm), Homebrew and others put General MIDI SoundFonts.
SYSTEM_SF2_DIRS = [
    Path("/usr/share/sounds/sf2"),
    Path("/usr/share/soundfonts"),
    Path("/usr/local/share/soundfonts"),
    Path("/opt/homebrew/share/soundfonts"),
]

CHORD_CHECKPOINT = MODELS_DIR / "chord_lstm.pt"
MELODY_CHECKPOINT = MODELS_DIR / "melody_lstm.pt"
DRUM_CHECKPOINT = MODELS_DIR / "drum_lstm.pt"


def use_models_dir(folder: Path) -> None:
    """Point generation at the models in `folder` (generate_music --models-dir), as LOFI_MODELS_DIR
    does: the checkpoint paths here, and the variable for worker processes started later."""
    global MODELS_DIR, CHORD_CHECKPOINT, MELODY_CHECKPOINT, DRUM_CHECKPOINT
    MODELS_DIR = Path(folder)
    CHORD_CHECKPOINT = MODELS_DIR / "chord_lstm.pt"
    MELODY_CHECKPOINT = MODELS_DIR / "melody_lstm.pt"
    DRUM_CHECKPOINT = MODELS_DIR / "drum_lstm.pt"
    os.environ["LOFI_MODELS_DIR"] = str(MODELS_DIR)
