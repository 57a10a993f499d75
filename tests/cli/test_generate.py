"""generate_music end to end with the shipped weights: files, sidecar, replay, flags, bad values."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.deliver.names import OutputDirs, safe_name
from app.deliver.replay import SIDECAR_VERSION, load_replay
from app.pipeline import run_track
from app.spec import TrackSpec

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args, out: Path, stdin=subprocess.DEVNULL, timeout=180):
    env = {**os.environ, "LOFI_OUTPUT_DIR": str(out)}
    return subprocess.run([sys.executable, "-m", "app.main", *args], cwd=ROOT, env=env, stdin=stdin,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def track(models, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    spec = TrackSpec(name="test song", minutes=0.4, key="Eb", mode="minor", seed=11, formats=("wav", "mp3", "flac"),
                     ambience=[("rain", -20.0), ("vinyl_crackle", -26.0)])
    return run_track(spec, models=models, dirs=OutputDirs.under(out)), out


def test_track_files_and_sidecar(track):
    result, out = track
    s = result.sidecar
    assert result.name == "test song"
    for kind in ("midi", "wav", "mp3", "flac", "sidecar", "stem_melody", "stem_chords", "stem_bass", "stem_drums",
                 "stem_ambience", "stem_room", "midi_melody", "midi_chords", "midi_bass", "midi_drums"):
        assert result.files[kind].exists(), kind
    side = json.loads(result.files["sidecar"].read_text())
    for key in ("name", "seed", "key", "mode", "bpm", "duration_s", "lufs", "true_peak_dbtp", "instruments",
                "ambience", "temperature", "checkpoints", "files"):
        assert key in side, key
    assert side["key"] == "Eb" and side["mode"] == "minor" and side["seed"] == 11
    # the per-part loudness of section A (issue 14), as generate_music prints it in one line
    assert -4.0 <= side["levels"]["melody_vs_chords"] <= 1.0 and side["levels"]["drums_vs_music"] is not None
    from app.pipeline import describe_result

    assert "melody/chords" in next(line for line in describe_result(result).splitlines() if "levels" in line)
    # The file is the Sidecar record's JSON form, version first (timings gain 'export' once written).
    from app.deliver.replay import SIDECAR_VERSION

    assert next(iter(side)) == "version" and side["version"] == SIDECAR_VERSION
    assert {k: v for k, v in s.to_json().items() if k != "timings_s"} == {k: v for k, v in side.items() if k != "timings_s"}
    assert {a["name"] for a in side["ambience"]} == {"rain", "vinyl_crackle"}
    assert abs(s["lufs"] + 14) <= 0.5 and s["true_peak_dbtp"] <= -1.0
    assert not list(out.rglob("*.partial*")) and not list(out.rglob(".*.reserved"))


def test_master_wav_matches_song(track):
    result, _ = track
    audio, rate = sf.read(result.files["wav"])
    info = sf.info(result.files["wav"])
    assert rate == 44100 and audio.shape[1] == 2 and info.subtype == "PCM_16"
    assert abs(len(audio) / rate - result.sidecar["duration_s"]) < 0.05
    assert abs(result.song.length_seconds - 0.4 * 60) <= 4 * 60 / result.song.tempo_bpm  # within a bar
    assert np.max(np.abs(audio)) < 1.0


def test_midi_has_key_tempo_and_named_tracks(track):
    import mido

    from app.music.midi_io import read_midi

    result, _ = track
    song = read_midi(result.files["midi"])
    assert song.key == 3 and song.mode == "minor"
    assert abs(song.tempo_bpm - result.sidecar["bpm"]) < 0.01
    assert [t.name for t in mido.MidiFile(str(result.files["midi"])).tracks] == ["melody", "chords", "bass", "drums"]


def test_replay_gives_identical_midi(track, models, tmp_path):
    result, _ = track
    spec = load_replay(result.files["sidecar"])
    again = run_track(spec, models=models, dirs=OutputDirs.under(tmp_path))
    assert again.files["midi"].read_bytes() == result.files["midi"].read_bytes()
    a, _ = sf.read(result.files["wav"])
    b, _ = sf.read(again.files["wav"])
    assert a.shape == b.shape and np.max(np.abs(a - b)) < 1e-3


def test_same_name_gets_a_suffix_unless_overwrite(track, models):
    result, out = track
    spec = load_replay(result.files["sidecar"])
    spec.formats, spec.picture = ("wav",), False
    second = run_track(spec, models=models, dirs=OutputDirs.under(out))
    assert second.name == "test song-2"
    before = result.files["wav"].stat().st_mtime_ns
    spec.overwrite = True
    third = run_track(spec, models=models, dirs=OutputDirs.under(out))
    assert third.name == "test song" and result.files["wav"].stat().st_mtime_ns != before


@pytest.mark.parametrize("raw,expected", [("a/b", "a_b"), ("../../etc", "etc"), (".hidden", "hidden"),
                                           ("x" * 300, "x" * 80), ("\x00\x07", "track"), ("🎵🎶", "track")])
def test_safe_names(raw, expected):
    assert safe_name(raw) == expected


@pytest.fixture(scope="module")
def cli_no_chords(tmp_path_factory):
    """A --yes run of the CLI without a terminal, with --no-chords: (output folder, sidecar)."""
    out = tmp_path_factory.mktemp("cli")
    r = _cli("generate_music", "--yes", "--minutes", "0.2", "--name", "cli", "--seed", "5", "--key", "G",
             "--mode", "major", "--bpm", "90", "--beat", "lazy_88bpm", "--ambience", "rain:-18", "--no-chords",
             "--temperature", "0.8", "--formats", "wav", "--no-picture", out=out)
    assert r.returncode == 0, r.stderr
    return out, json.loads((out / "final_results" / "cli.json").read_text())


def test_cli_yes_without_terminal(cli_no_chords):
    out, side = cli_no_chords
    assert (side["key"], side["mode"], side["bpm"], side["seed"]) == ("G", "major", 90.0, 5)
    assert side["beat"]["name"] == "lazy_88bpm" and side["ambience"] == [{"name": "rain", "level_db": -18.0}]
    assert side["temperature"] == 0.8 and side["include_chords"] is False
    assert (out / "wav" / "cli_melody.wav").exists() and not (out / "wav" / "cli_chords.wav").exists()


def test_no_chords_sidecar_lists_no_chords_instrument(cli_no_chords):
    _, side = cli_no_chords
    assert set(side["instruments"]) == {"melody", "bass"}


@pytest.mark.parametrize("args,needle", [
    (["--minutes", "-1"], "minutes must be between"),
    (["--key", "H"], "unknown key"),
    (["--bpm", "400"], "bpm must be between"),
    (["--melody-instrument", "no such piano"], "no such piano"),
    (["--beat", "nobeat"], "nobeat"),
    (["--ambience", "thunder"], "thunder"),
    (["--formats", "ogg"], "allowed: wav, mp3, flac"),
    (["--temperature", "9"], "temperature must be between"),
])
def test_cli_bad_values_exit_2(tmp_path, args, needle):
    r = _cli("generate_music", "--yes", *args, out=tmp_path, timeout=60)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_replay_bad_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = _cli("generate_music", "--replay", str(bad), out=tmp_path, timeout=60)
    assert r.returncode == 2 and "not valid JSON" in r.stderr
    bad.write_text(json.dumps({"version": 99, "spec": {}}))
    r = _cli("generate_music", "--replay", str(bad), out=tmp_path, timeout=60)
    assert r.returncode == 2 and "unknown version" in r.stderr
    bad.write_text(json.dumps({"version": SIDECAR_VERSION}))
    r = _cli("generate_music", "--replay", str(bad), out=tmp_path, timeout=60)
    assert r.returncode == 2 and "'spec'" in r.stderr
    bad.write_text(json.dumps({"version": 1, "seed": 5, "spec": {}}))
    r = _cli("generate_music", "--replay", str(bad), out=tmp_path, timeout=60)
    assert r.returncode == 2 and "made by an older version" in r.stderr


def test_replay_takes_output_flags_and_refuses_music_flags(track, tmp_path):
    result, _ = track
    r = _cli("generate_music", "--replay", str(result.files["sidecar"]), "--name", "again", "--formats", "flac",
             "--no-picture", "--no-stems", out=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "final_results" / "again.flac").exists() and not (tmp_path / "final_results" / "again.png").exists()
    assert not list((tmp_path / "wav").glob("again*"))  # --no-stems: no stem WAVs
    assert json.loads((tmp_path / "final_results" / "again.json").read_text())["spec"]["stems"] is False
    assert (tmp_path / "midi" / "again.mid").read_bytes() == result.files["midi"].read_bytes()
    r = _cli("generate_music", "--replay", str(result.files["sidecar"]), "--seed", "4", out=tmp_path, timeout=60)
    assert r.returncode == 2 and "--seed cannot change it" in r.stderr
