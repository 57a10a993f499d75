"""The same seed makes the same track: byte-identical MIDI and identical audio against files made
earlier (tests/golden/, written by scripts/make_golden.py). A refactor must pass this unchanged;
a change meant to alter the music or the sound regenerates the golden files and says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.make_golden import GOLDEN, audio_hashes, make_reference


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("golden")
    make_reference(out)
    return out


def test_midi_is_byte_identical(reference):
    golden = sorted(p.name for p in GOLDEN.glob("*.mid"))
    made = sorted(p.name for p in (reference / "midi").glob("*.mid"))
    assert made == golden
    for name in golden:
        assert (reference / "midi" / name).read_bytes() == (GOLDEN / name).read_bytes(), name


def test_audio_is_identical(reference):
    expected = json.loads((GOLDEN / "audio_sha256.json").read_text())
    assert audio_hashes(reference) == expected
