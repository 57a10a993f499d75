"""The real wizard driven through a pseudo-terminal (pexpect): `python -m app.main generate_music`.

Outputs go to a tmp folder through LOFI_OUTPUT_DIR, so nothing lands in data/.
"""

import json
import os
import uuid
from pathlib import Path

import numpy as np
import pytest

pexpect = pytest.importorskip("pexpect")

from app import paths  # noqa: E402
from app.wizard import range_check  # noqa: E402

REPO = paths.ROOT
ENTER, DOWN, UP, SPACE, CLEAR, CTRL_C = "\r", "\x1b[B", "\x1b[A", " ", "\x15", "\x03"  # CLEAR = Ctrl-U
needs_models = pytest.mark.skipif(
    not (paths.CHORD_CHECKPOINT.exists() and paths.MELODY_CHECKPOINT.exists()),
    reason="trained models missing (python -m app.main train)")


def spawn(out_dir: Path, name: str, *flags: str):
    env = {**os.environ, "TERM": "xterm", "LOFI_OUTPUT_DIR": str(out_dir),
           "PROMPT_TOOLKIT_NO_CPR": "1"}  # no terminal answers cursor-position requests here
    command = f".venv/bin/python -m app.main generate_music --minutes 0.25 --name {name} --no-picture"
    return pexpect.spawn(" ".join([command, *flags]), cwd=str(REPO), env=env, dimensions=(40, 120),
                         encoding="utf-8", timeout=30)


def answer(child, steps):
    """For each (prompt regex, keys): wait for the prompt, then type the keys."""
    for prompt, keys in steps:
        child.expect(prompt)
        if keys:
            child.send(keys)


def finish(child, timeout=90) -> int:
    child.expect(pexpect.EOF, timeout=timeout)
    child.close()
    return child.exitstatus


def sidecar(out_dir: Path, name: str) -> dict:
    return json.loads((out_dir / "final_results" / f"{name}.json").read_text(encoding="utf-8"))


def unique(tag: str) -> str:
    return f"wiz{tag}{uuid.uuid4().hex[:8]}"


ALL_PROMPTS = ["Song name", "Length in minutes", "Key", "Mode", "Beat", "Drum kit", "for the drums: listen",
               "Tempo in BPM", "Include chords",
               "Melody instrument", "for the melody: listen", "Chords instrument", "for the chords: listen",
               "Bass instrument", "for the bass: listen", "Ambience", "Level of vinyl_crackle", "Lo-fi sound",
               "Creativity", "Harmony colour", "Energy", "File format", r"Seed \(", "Make this track"]


@needs_models
def test_enter_all_the_way_makes_a_track_with_the_defaults(tmp_path):
    import soundfile as sf

    from app.audio.instruments import default_instrument

    name = unique("d")
    child = spawn(tmp_path, name)
    answer(child, [(p, ENTER) for p in ALL_PROMPTS[:-1]])
    child.expect(r"\n  seed +(\d+)")
    shown_seed = int(child.match.group(1))
    answer(child, [("Make this track", ENTER), (r"\[5/5\] export", None)])
    child.expect("What next", timeout=90)
    child.send(DOWN * 2 + ENTER)  # another variation: new melody
    child.expect(r"take 2 of the melody")
    child.expect("What next", timeout=90)
    child.send(ENTER)  # done
    assert finish(child) == 0

    # The variation: the same seed, a new take of the melody, every other part's MIDI as it was.
    again = sidecar(tmp_path, f"{name}-2")
    assert again["seed"] == shown_seed and again["spec"]["takes"] == {"melody": 1}
    first_files = sidecar(tmp_path, name)["files"]
    for part in ("melody", "chords", "bass", "drums"):
        same = Path(again["files"][f"midi_{part}"]).read_bytes() == Path(first_files[f"midi_{part}"]).read_bytes()
        assert same == (part != "melody"), part

    s = sidecar(tmp_path, name)
    assert s["seed"] == shown_seed
    assert (s["beat"]["name"], s["bpm"]) == ("generated", 80.0)
    assert s["instruments"]["drums"]["id"] == s["beat"]["kit"]["id"] == default_instrument("drums").id
    assert "stem_drums" in s["files"] and "midi_drums" in s["files"]
    assert s["ambience"] == [{"name": "vinyl_crackle", "level_db": -24.0}]
    assert s["include_chords"] is True and s["temperature"] == 1.0
    assert s["spec"]["lofi_preset"] == "default" and s["spec"]["minutes"] == 0.25
    for part in ("melody", "chords", "bass"):
        assert s["instruments"][part]["id"] == default_instrument(part).id
    audio, rate = sf.read(s["files"]["wav"], dtype="float32")
    assert rate == 44100 and 12.0 < len(audio) / rate < 25.0
    assert (s["bit_depth"], s["sample_rate"]) == (16, 44100)
    assert float(np.sqrt(np.mean(audio ** 2))) > 0.01  # not silent
    assert not (paths.DATA_DIR / "final_results" / f"{name}.json").exists()


@needs_models
def test_non_default_answers_reach_the_sidecar_and_a_variation_keeps_them(tmp_path):
    name = unique("n")
    child = spawn(tmp_path, name)
    answer(child, [
        ("Song name", ENTER), ("Length in minutes", ENTER),
        ("Key", DOWN * 3 + ENTER),  # surprise me, C, Db, D
        ("Mode", DOWN * 2 + ENTER),  # surprise me, major, minor
        ("Beat", DOWN * 2 + ENTER),  # generated, boombap, dusty
        ("Tempo in BPM", CLEAR + "300" + ENTER), ("out of range", CLEAR + "92" + ENTER),
        ("Include chords", "n"),
        ("Melody instrument", DOWN + ENTER),  # the first curated preset after the default
        ("for the melody: listen", DOWN + ENTER),  # audition it
        ("rendering a 5-second preview", None), (r"played with|no audio player|no audio device", None),
        ("for the melody: listen", ENTER),
        ("Bass instrument", DOWN * 2 + ENTER), ("for the bass: listen", ENTER),  # Fretless Bass
        ("Ambience", SPACE + ENTER),  # also rain
        ("Level of rain", CLEAR + "-18" + ENTER), ("Level of vinyl_crackle", ENTER),
        ("Lo-fi sound", DOWN + ENTER),  # default -> dusty
        ("Creativity", CLEAR + "5" + ENTER), ("out of range", CLEAR + "0.7" + ENTER),
        ("Harmony colour", ENTER), ("Energy", CLEAR + "0.8" + ENTER),
        ("File format", DOWN * 2 + ENTER),  # 16/44.1, 24/44.1, 24/48
        (r"Seed \(", CLEAR + "12345" + ENTER),
        ("Make this track", ENTER),
    ])
    child.expect("What next", timeout=90)
    child.send(DOWN + ENTER)  # another variation: new everything
    child.expect(r"new seed (\d+)")
    new_seed = int(child.match.group(1))
    child.expect("What next", timeout=90)
    child.send(ENTER)
    assert finish(child) == 0

    first, second = sidecar(tmp_path, name), sidecar(tmp_path, f"{name}-2")
    for s in (first, second):
        assert (s["key"], s["mode"], s["bpm"]) == ("D", "minor", 92.0)
        assert s["include_chords"] is False and s["temperature"] == 0.7
        assert s["beat"]["name"] == "dusty_72bpm"
        assert s["ambience"] == [{"name": "rain", "level_db": -18.0}, {"name": "vinyl_crackle", "level_db": -24.0}]
        assert s["instruments"]["bass"]["name"] == "Fretless Bass"
        assert s["instruments"]["melody"]["id"].endswith(":0:4")  # Electric Piano 1 (Rhodes)
        assert s["spec"]["lofi_preset"] == "dusty"
        assert (s["bit_depth"], s["sample_rate"]) == (24, 48000)
        assert "stem_chords" not in s["files"]
    assert first["seed"] == 12345 and second["seed"] == new_seed != 12345


def test_ctrl_c_at_a_prompt_cancels_with_130_and_writes_nothing(tmp_path):
    child = spawn(tmp_path, unique("c"))
    answer(child, [("Song name", ENTER), ("Length in minutes", ENTER), ("Key", CTRL_C)])
    child.expect("cancelled")
    assert finish(child, timeout=20) == 130
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_typed_numbers_are_checked_against_the_spec_ranges():
    assert range_check("minutes", "2.5") is True
    assert "0.1 to 20" in range_check("minutes", "25")
    assert "number" in range_check("bpm", "fast")
    assert range_check("bpm", "follow the beat", ("follow the beat",)) is True
    assert range_check("level_db", "-24") is True and range_check("level_db", "3") is not True
    assert range_check("temperature", "nan") is not True
