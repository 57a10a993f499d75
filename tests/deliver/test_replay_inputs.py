"""What a sidecar records so that --replay makes the same track (issue 10, item 9 and leftovers):
a content hash of every input file, checked before a replay (a changed beat loop, SoundFont or model
is refused by name; --replay-anyway goes on with a warning); the beat's tempo note; no chords
instrument for a --no-chords track; a number too long to read is exit 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app import paths
from app.audio import loops
from app.deliver.names import OutputDirs
from app.deliver.replay import ReplayChangedError, SIDECAR_VERSION, check_replay_inputs, load_replay
from app.errors import BadValueError
from app.main import main
from app.spec import TrackSpec
from tests.fixtures.wav import click_loop, write_wav

GM = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
needs_gm = pytest.mark.skipif(not GM.exists(), reason="the system GM SoundFont (fluid-soundfont-gm) is not installed")


@pytest.fixture(scope="module")
def models():
    from app.music.compose import load_models

    return load_models()


@pytest.fixture
def fast_loop(tmp_path, monkeypatch) -> Path:
    """app/effects in tmp_path holding one beat, 'fast_170bpm' (one bar of clicks at 170 BPM: the
    track plays it half-time at 85)."""
    loop = write_wav(tmp_path / "effects" / "beats" / "fast_170bpm.wav", click_loop(170.0, 4))
    monkeypatch.setattr(paths, "EFFECTS_DIR", tmp_path / "effects")
    loops.clear_cache()
    yield loop
    loops.clear_cache()


def make_track(models, out: Path, **changes):
    from app.pipeline import run_track

    values = dict(name="replayed", minutes=0.15, seed=4, key="D", mode="minor", beat="fast_170bpm", ambience=[],
                  picture=False)
    values.update(changes)
    return run_track(TrackSpec(**values), models=models, dirs=OutputDirs.under(out))


@needs_gm
def test_the_sidecar_hashes_every_input_and_notes_the_beat_tempo(tmp_path, models, fast_loop):
    import hashlib

    result = make_track(models, tmp_path / "out")
    side = json.loads(result.files["sidecar"].read_text(encoding="utf-8"))
    beat = side["beat"]
    assert (beat["name"], beat["bpm"], beat["source_bpm"], beat["bpm_clamped"]) == ("fast_170bpm", 85.0, 170.0, False)
    assert "half-time at 85" in beat["tempo_note"]
    inputs = side["inputs"]
    assert {"instrument.melody", "instrument.chords", "instrument.bass", "beat", "chord.checkpoint",
            "melody.checkpoint", "chord.sampling_weights", "melody.sampling_weights"} <= set(inputs)
    assert inputs["beat"]["sha256"] == hashlib.sha256(fast_loop.read_bytes()).hexdigest()
    assert check_replay_inputs(result.files["sidecar"], load_replay(result.files["sidecar"])) == []


@needs_gm
def test_replay_refuses_a_changed_beat_and_goes_on_with_replay_anyway(tmp_path, models, fast_loop, monkeypatch, capsys):
    import app.pipeline as pipeline

    side = make_track(models, tmp_path / "out").files["sidecar"]
    recorded = json.loads(side.read_text(encoding="utf-8"))["inputs"]["beat"]["sha256"]
    write_wav(fast_loop, 0.5 * click_loop(170.0, 4))  # the same name, another (quieter) loop
    loops.clear_cache()
    replay_out = tmp_path / "replay"
    monkeypatch.setattr(pipeline, "OutputDirs", lambda: OutputDirs.under(replay_out))

    code = main(["generate_music", "--replay", str(side), "--name", "again"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1, err
    assert re.fullmatch(rf"error: replay file {re.escape(str(side))}: the beat loop \S*fast_170bpm\.wav has changed "
                        r"since the track was made, so the replay would make a different track; give --replay-anyway "
                        r"to make it regardless", err), err
    assert not replay_out.exists()  # refused before any work

    code = main(["generate_music", "--replay", str(side), "--name", "again", "--replay-anyway"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert re.search(r"warning: the beat loop \S*fast_170bpm\.wav has changed since the track was made; replaying "
                     r"anyway", captured.err)
    again = json.loads((replay_out / "final_results" / "again.json").read_text(encoding="utf-8"))
    assert again["inputs"]["beat"]["sha256"] != recorded  # made from the new loop, as warned


@needs_gm
def test_a_changed_soundfont_or_model_is_named(tmp_path, models, fast_loop):
    side_path = make_track(models, tmp_path / "out").files["sidecar"]
    side = json.loads(side_path.read_text(encoding="utf-8"))
    side["inputs"]["instrument.bass"]["sha256"] = "0" * 64  # as if the SoundFont had been replaced since
    side["inputs"]["melody.sampling_weights"]["sha256"] = "0" * 64
    side_path.write_text(json.dumps(side), encoding="utf-8")
    with pytest.raises(ReplayChangedError, match=r"the SoundFont \S+\.sf2 has changed since the track was made "
                                                 r"\(and 1 more\)"):
        check_replay_inputs(side_path, load_replay(side_path))
    changes = check_replay_inputs(side_path, load_replay(side_path), anyway=True)
    assert len(changes) == 2 and changes[1].startswith("the model file ")


@needs_gm
def test_a_no_chords_track_lists_no_chords_instrument_or_soundfont(tmp_path, models, fast_loop):
    side = make_track(models, tmp_path / "out", include_chords=False).sidecar.to_json()
    assert set(side["instruments"]) == {"melody", "bass"}
    assert "instrument.chords" not in side["inputs"]


def test_a_number_too_long_to_read_is_exit_2(tmp_path):
    spec = TrackSpec(seed=5, key="F", mode="major").to_json()
    text = json.dumps({"version": SIDECAR_VERSION, "name": "x", "spec": spec})
    text = text.replace('"seed": 5', '"seed": 1' + "0" * 5000)  # a JSON number Python will not convert
    path = tmp_path / "long.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadValueError, match=r"replay file .*long\.json holds a number too long to read"):
        load_replay(path)


def test_the_wizard_says_when_a_beat_plays_half_time(fast_loop, monkeypatch, capsys):
    import app.wizard as wizard

    monkeypatch.setattr(wizard, "_ask", lambda question: "fast_170bpm")  # the person picks the loop
    assert wizard.ask_beat(None) == ("fast_170bpm", 85.0)
    assert re.search(r"fast_170bpm: .*half-time at 85", capsys.readouterr().out)
