"""SoundFont discovery, preset listing, lookup and defaults (no FluidSynth needed here)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from app.audio import instruments
from app.errors import BadValueError, SoundFontError
from app.audio.instruments import (
    DEFAULT_INSTRUMENTS,
    Instrument,
    default_instrument,
    discover_soundfonts,
    find_instrument,
    format_listing,
)
from tests.fixtures.sf2 import TINY_PRESETS, tiny_sf2_bytes, write_tiny_sf2
from tests.fixtures.checks import needs_gm


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "fonts"
    write_tiny_sf2(folder / "Tiny.sf2")
    return folder


def test_tiny_soundfont_is_discovered_with_its_presets(tiny_dir: Path):
    files, skipped = discover_soundfonts([tiny_dir])
    assert skipped == []
    assert len(files) == 1
    presets = files[0].presets
    assert [(p.bank, p.program, p.name) for p in presets] == [(b, p, n) for b, p, n, _ in TINY_PRESETS]
    assert all(p.name != "EOP" for p in presets)  # the terminal record is not a preset
    first = presets[0]
    assert first.id == "Tiny:0:0"
    assert first.label == "Tiny Sine (Tiny)"
    assert first.sf2_path == (tiny_dir / "Tiny.sf2").resolve()


def test_same_file_through_a_symlink_is_listed_once(tiny_dir: Path, tmp_path: Path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "default-GM.sf2").symlink_to(tiny_dir / "Tiny.sf2")
    (tiny_dir / "alias.sf2").symlink_to(tiny_dir / "Tiny.sf2")
    files, skipped = discover_soundfonts([tiny_dir, other])
    assert skipped == []
    assert [f.path.name for f in files] == ["Tiny.sf2"]


def test_bad_files_are_skipped_with_reasons(tiny_dir: Path):
    good = (tiny_dir / "Tiny.sf2").read_bytes()
    rng = np.random.default_rng(7)
    (tiny_dir / "random.sf2").write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    (tiny_dir / "empty.sf2").write_bytes(b"")
    (tiny_dir / "truncated.sf2").write_bytes(good[: len(good) // 2])
    (tiny_dir / "cut_in_presets.sf2").write_bytes(good[:-30])
    (tiny_dir / "a_wave.sf2").write_bytes(b"RIFF" + (100).to_bytes(4, "little") + b"WAVE" + bytes(100))
    (tiny_dir / "no_presets.sf2").write_bytes(tiny_sf2_bytes(presets=[]))
    (tiny_dir / "dangling.sf2").symlink_to(tiny_dir / "missing.sf2")
    (tiny_dir / "notes.txt").write_text("not a soundfont and not named like one")

    files, skipped = discover_soundfonts([tiny_dir])

    assert [f.path.name for f in files] == ["Tiny.sf2"]
    reasons = {path.name: reason for path, reason in skipped}
    assert set(reasons) == {
        "random.sf2", "empty.sf2", "truncated.sf2", "cut_in_presets.sf2", "a_wave.sf2",
        "no_presets.sf2", "dangling.sf2",
    }
    assert "not a SoundFont" in reasons["random.sf2"]
    assert "not a SoundFont" in reasons["a_wave.sf2"]
    assert reasons["empty.sf2"] == "empty file"
    assert "truncated" in reasons["truncated.sf2"]
    assert "truncated" in reasons["cut_in_presets.sf2"]
    assert reasons["no_presets.sf2"] == "no presets"
    assert reasons["dangling.sf2"] == "broken symlink"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_is_skipped(tiny_dir: Path):
    locked = tiny_dir / "Tiny.sf2"
    locked.chmod(0)
    try:
        files, skipped = discover_soundfonts([tiny_dir])
    finally:
        locked.chmod(0o644)
    assert files == []
    assert skipped == [(locked, "unreadable (permission denied)")]


def test_missing_folders_are_ignored(tmp_path: Path):
    assert discover_soundfonts([tmp_path / "nowhere"]) == ([], [])


def test_find_instrument_by_id_name_and_file(tiny_dir: Path):
    files, _ = discover_soundfonts([tiny_dir])
    soft = files[0].presets[1]
    assert find_instrument("Tiny:0:5", files) == soft
    assert find_instrument("tiny soft sine", files) == soft
    assert find_instrument("TINY-SOFT-SINE", files) == soft
    assert find_instrument("Tiny Soft Sine@Tiny", files) == soft
    assert find_instrument("tiny_soft_sine@tiny.sf2", files) == soft


def test_unknown_instrument_raises_with_close_matches(tiny_dir: Path):
    files, _ = discover_soundfonts([tiny_dir])
    with pytest.raises(BadValueError, match="Tiny Soft Sine"):
        find_instrument("tiny sof sine", files)
    with pytest.raises(BadValueError, match="unknown instrument"):
        find_instrument("Tuba Solo Deluxe", files)
    with pytest.raises(BadValueError, match="unknown instrument"):
        find_instrument("Tiny:0:99", files)
    with pytest.raises(BadValueError, match="no SoundFont named"):
        find_instrument("Tiny Sine@Nope", files)


def test_format_listing_shows_presets_and_skipped_files(tiny_dir: Path):
    (tiny_dir / "broken.sf2").write_bytes(b"\x00" * 64)
    text = format_listing(*discover_soundfonts([tiny_dir]))
    # Each preset line reads "bank:program  name  (id)": the column, the name and the id agree.
    line = next(line for line in text.splitlines() if "(Tiny:0:5)" in line)
    assert line.split()[0] == "0:5" and "Tiny Soft Sine" in line
    assert "Skipped:" in text
    skipped_line = next(line for line in text.splitlines() if "broken.sf2" in line)
    assert "not a SoundFont" in skipped_line


def test_listing_of_nothing_says_how_to_install():
    assert "fluid-soundfont-gm" in format_listing([], [])


def test_default_instrument_without_gm_names_the_install_command(tiny_dir: Path):
    files, _ = discover_soundfonts([tiny_dir])
    with pytest.raises(SoundFontError, match="apt install fluid-soundfont-gm"):
        default_instrument("melody", files)
    with pytest.raises(BadValueError):
        default_instrument("kazoo", files)


@needs_gm
def test_defaults_come_from_the_gm_soundfont():
    for part, (bank, program) in DEFAULT_INSTRUMENTS.items():
        chosen = default_instrument(part)
        assert isinstance(chosen, Instrument)
        assert (chosen.bank, chosen.program) == (bank, program)
    gm = instruments.find_gm_soundfont()
    if gm.path.stem == "FluidR3_GM":
        assert default_instrument("chords").id == "FluidR3_GM:0:4"


@needs_gm
def test_general_midi_names_find_presets_named_otherwise():
    # FluidR3_GM calls program 4 'Rhodes EP'; the GM name still finds it.
    assert (find_instrument("Electric Piano 1").bank, find_instrument("Electric Piano 1").program) == (0, 4)
    assert find_instrument("electric-piano-1") == find_instrument("Electric Piano 1")
    assert find_instrument("acoustic guitar (nylon)").program == 24
