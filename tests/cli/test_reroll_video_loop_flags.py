"""--replay NAME.json --reroll PARTS: a new take of the named parts, the other parts' MIDI byte for byte
as they were, the take recorded in the new sidecar (and replayed from it)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.deliver.names import OutputDirs
from app.deliver.replay import load_replay
from app.pipeline import run_track
from app.spec import TrackSpec, reroll

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("melody", "chords", "bass", "drums")


@pytest.fixture(scope="module")
def original(models, tmp_path_factory):
    out = tmp_path_factory.mktemp("reroll")
    spec = TrackSpec(name="take", minutes=0.2, key="D", mode="minor", seed=5, picture=False, ambience=[])
    return run_track(spec, models=models, dirs=OutputDirs.under(out)), out


@pytest.mark.parametrize("parts", [("melody",), ("drums",), ("chords", "bass")])
def test_reroll_keeps_other_parts_byte_identical(original, models, parts):
    first, out = original
    spec = reroll(load_replay(first.files["sidecar"]), parts)
    spec.name = "take " + "+".join(parts)
    again = run_track(spec, models=models, dirs=OutputDirs.under(out))
    for part in PARTS:
        same = again.files[f"midi_{part}"].read_bytes() == first.files[f"midi_{part}"].read_bytes()
        assert same == (part not in parts), part
    side = json.loads(again.files["sidecar"].read_text())
    assert side["spec"]["takes"] == side["takes"] == {p: 1 for p in parts} and side["seed"] == first.sidecar["seed"]
    assert first.sidecar["takes"] == {}


def test_a_second_reroll_is_a_third_take_and_replays(original, models, tmp_path):
    first, _ = original
    spec = reroll(reroll(load_replay(first.files["sidecar"]), ["melody"]), ["melody"])
    assert spec.takes == {"melody": 2}
    second = run_track(spec, models=models, dirs=OutputDirs.under(tmp_path))
    replayed = run_track(load_replay(second.files["sidecar"]), models=models, dirs=OutputDirs.under(tmp_path / "r"))
    assert replayed.files["midi_melody"].read_bytes() == second.files["midi_melody"].read_bytes()
    assert second.files["midi_melody"].read_bytes() != first.files["midi_melody"].read_bytes()


def _cli(*args, out: Path):
    env = {**os.environ, "LOFI_OUTPUT_DIR": str(out)}
    return subprocess.run([sys.executable, "-m", "app.main", *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)


def test_cli_reroll_flag(original, tmp_path):
    first, _ = original
    done = _cli("generate_music", "--replay", str(first.files["sidecar"]), "--reroll", "bass", "--name", "cli take",
                "--no-picture", out=tmp_path)
    assert done.returncode == 0, done.stderr
    side = json.loads(next(tmp_path.rglob("cli take.json")).read_text())
    assert side["spec"]["takes"] == {"bass": 1}
    kept = next(tmp_path.rglob("cli take_melody.mid")).read_bytes()
    assert kept == first.files["midi_melody"].read_bytes()


@pytest.mark.parametrize("args, message", [
    (("--reroll", "melody", "--yes"), "--replay NAME.json"),
    (("--replay", "x.json", "--reroll", "flute"), "--reroll takes a comma list"),
])
def test_cli_reroll_bad_use_is_one_line(args, message, tmp_path):
    done = _cli("generate_music", *args, out=tmp_path)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_wizard_variations_offer_new_melody_drums_everything():
    from app.wizard import NEW_DRUMS, NEW_EVERYTHING, NEW_MELODY, next_variation, variation_choices

    spec = TrackSpec(seed=None)
    assert variation_choices(spec) == ["done", NEW_EVERYTHING, NEW_MELODY, NEW_DRUMS]
    assert NEW_DRUMS not in variation_choices(TrackSpec(beat="none"))  # no drum part to draw again
    melody = next_variation(spec, 42, NEW_MELODY)
    assert (melody.seed, melody.takes) == (42, {"melody": 1})
    drums = next_variation(melody, 42, NEW_DRUMS)
    assert (drums.seed, drums.takes) == (42, {"melody": 1, "drums": 1})
    fresh = next_variation(drums, 42, NEW_EVERYTHING)
    assert fresh.seed is not None and fresh.takes == {}


@pytest.mark.parametrize("args, message", [
    (("--video", "square"), "invalid choice"),
    (("--loop-bars", "0"), "loop bars must be between 1 and 64"),
    (("--loop-bars", "64", "--minutes", "0.1", "--seed", "1"), "ask for fewer bars or more minutes"),
])
def test_cli_video_and_loop_bad_values_are_one_line(args, message, tmp_path):
    done = _cli("generate_music", "--yes", "--no-picture", *args, out=tmp_path)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("*.wav"))
