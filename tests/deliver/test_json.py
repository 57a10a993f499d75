"""Every value written to a sidecar, manifest or report is plain JSON (issue 10, item 1).

app.files.json_ready/write_json turn numpy scalars and arrays into plain types and refuse NaN/inf;
a beat loop whose tempo is detected gives a plain float BPM (it was numpy.float32 and crashed the
sidecar writer at the end of every track)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from app.files import json_ready, write_json

NUMPY_INTS = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
NUMPY_FLOATS = (np.float16, np.float32, np.float64)


def numpy_scalars():
    ints = st.sampled_from(NUMPY_INTS).flatmap(
        lambda t: st.integers(int(np.iinfo(t).min), int(np.iinfo(t).max)).map(t))
    floats = st.sampled_from(NUMPY_FLOATS).flatmap(
        lambda t: st.floats(-1e4, 1e4, allow_nan=False, width=16 if t is np.float16 else 32).map(t))
    return st.one_of(ints, floats, st.booleans().map(np.bool_))


def leaves():
    arrays = st.lists(st.floats(-100, 100, width=32), max_size=4).map(lambda v: np.array(v, np.float32))
    return st.one_of(numpy_scalars(), arrays, st.text(max_size=5), st.none())


# Sidecar/manifest-shaped records: every field a numpy scalar, nested dicts and lists of them.
records = st.recursive(leaves(), lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(min_size=1, max_size=8), kids, max_size=5)), max_leaves=25)


def _plain(value) -> bool:
    if isinstance(value, dict):
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["seed", "bpm", "lufs", "key", "beat", "files", "sections"]), records,
                       min_size=1))
def test_json_ready_gives_plain_types_with_the_same_values(record):
    ready = json_ready(record)
    assert _plain(ready)
    text = json.dumps(ready, allow_nan=False)
    assert json.loads(text) == ready  # round trips exactly


@settings(max_examples=60, deadline=None)
@given(numpy_scalars())
def test_numpy_scalars_keep_their_value(value):
    plain = json_ready({"x": value})["x"]
    assert type(plain) in (int, float, bool)
    assert plain == value.item()


def test_write_json_writes_numpy_fields(tmp_path):
    path = write_json(tmp_path / "side.json", {"bpm": np.float32(79.99), "seed": np.int64(7),
                                               "peaks": np.array([-1.5, -2.0]), "ok": np.bool_(True)})
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == {"bpm": pytest.approx(79.99, abs=1e-4), "seed": 7, "peaks": [-1.5, -2.0], "ok": True}
    assert not list(tmp_path.glob(".*"))  # no temporary file left


@pytest.mark.parametrize("bad", [float("nan"), np.float32("inf"), -math.inf])
def test_nan_and_inf_are_refused_naming_the_field(tmp_path, bad):
    with pytest.raises(ValueError, match=r"side\.json\.audio\.lufs is"):
        write_json(tmp_path / "side.json", {"audio": {"lufs": bad}})
    assert not list(tmp_path.iterdir())


def test_objects_json_cannot_hold_are_refused():
    with pytest.raises(TypeError, match=r"value\.x is a set"):
        json_ready({"x": {1, 2}})


def test_detected_tempo_is_a_plain_float(tmp_path):
    """The boombap loop with a 150 ms tail, named without its BPM: its tempo is detected."""
    import soundfile as sf

    from app import paths
    from app.audio import loops

    audio, rate = sf.read(paths.EFFECTS_DIR / "beats" / "boombap_80bpm.wav", dtype="float32", always_2d=True)
    tail = np.zeros((int(0.15 * rate), audio.shape[1]), np.float32)
    (tmp_path / "beats").mkdir()
    sf.write(tmp_path / "beats" / "my_loop.wav", np.concatenate([audio, tail]), rate)
    (effect,), skipped = loops.discover_effects(tmp_path)
    assert skipped == [] and effect.name == "my_loop"
    assert type(effect.bpm) is float
    json.dumps({"bpm": effect.bpm})  # what the sidecar writer does


# --- the writers themselves: a sidecar and a manifest with numpy scalars in every field ---------------


def numpified(value, data):
    """`value` with every number inside it (dataclass fields, dict values, list items) turned into a
    numpy scalar of a type drawn from `data` that holds it exactly; bools become numpy.bool_."""
    from dataclasses import fields, is_dataclass, replace

    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: numpified(getattr(value, f.name), data) for f in fields(value) if f.init})
    if isinstance(value, dict):
        return {k: numpified(v, data) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [numpified(v, data) for v in value]
    if isinstance(value, bool):
        return np.bool_(value)
    if isinstance(value, int):
        kinds = [t for t in NUMPY_INTS if np.iinfo(t).min <= value <= np.iinfo(t).max]
        return data.draw(st.sampled_from(kinds))(value) if kinds else value
    if isinstance(value, float):
        return data.draw(st.sampled_from([t for t in NUMPY_FLOATS if float(t(value)) == value]))(value)
    return value


def plain_sidecar(seed: int, bpm: float, lufs: float):
    from app.deliver.replay import SIDECAR_VERSION, Sidecar
    from app.spec import TrackSpec

    return Sidecar(
        version=SIDECAR_VERSION, name="numbers", seed=seed, takes={"melody": 1}, key="F", mode="dorian", bpm=bpm,
        duration_s=12.5, sample_rate=48000, bit_depth=24,
        music_s=10.0, lufs=lufs, true_peak_dbtp=-1.25, instruments={"melody": {"id": "GM:0:4", "name": "EP"}},
        beat={"name": "loop", "bpm": bpm, "source_bpm": 2 * bpm, "tempo_note": "half-time", "bpm_clamped": False},
        ambience=[{"name": "rain", "level_db": -18.5}], temperature=0.75, include_chords=True,
        sections=[{"name": "A", "start_beat": 0.0, "bars": 8}], chords=["Dm7"],
        checkpoints={"melody": {"checkpoint": {"file": "m.pt", "sha256": "ab"}}},
        inputs={"beat": {"file": "loop.wav", "sha256": "cd"}}, timings_s={"compose": 0.5, "render": 1.25},
        files={"wav": "numbers.wav"}, spec={**TrackSpec(seed=seed, key="F").to_json(), "bpm": bpm},
    )  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(st.data(), st.integers(0, 2**32 - 1), st.floats(50, 140), st.floats(-40, -6))
def test_the_sidecar_writer_writes_plain_json_from_numpy_fields(tmp_path_factory, data, seed, bpm, lufs):
    from app.deliver.replay import write_sidecar

    plain = plain_sidecar(seed, bpm, lufs)
    path = write_sidecar(numpified(plain, data), tmp_path_factory.mktemp("side") / "numbers.json")
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(json.dumps(plain.to_json()))


def plain_manifest(tmp_path, lufs: float, duration_s: float):
    """A real new release's manifest, its first track done with every figure filled in, and a mix."""
    from dataclasses import replace

    from app.release.manifest import new_release
    from app.release.records import DONE, Compliance, FileCheck, MixEntry, Regeneration
    from app.release.request import BatchRequest, validate_request

    req = validate_request(BatchRequest(count=2, minutes=1.0, out=tmp_path, seed=3))
    _, manifest = new_release(req)
    row = manifest.tracks[0]
    manifest.replace_row(replace(
        row, status=DONE, files={"wav": "a.wav"}, file_checks={"a.wav": FileCheck(bytes=1234, sha256="ef")},
        duration_s=duration_s, lufs=lufs, true_peak_dbtp=-1.5, regenerated=[Regeneration(seed=9, reason="twin")],
        compliance=Compliance(lufs=lufs, true_peak_dbtp=-1.5, clipped_samples=0, longest_silence_s=0.25,
                              duration_s=duration_s, expected_duration_s=duration_s, checks={"lufs": True},
                              passed=True),
        passages=["aa"]))  # fmt: skip
    manifest.mix = MixEntry(file="mix.wav", tracklist="tracklist.txt", minutes=1.0, crossfade_s=4.0,
                            duration_s=duration_s, entries=2, bytes=99, fingerprint="01")
    return manifest


@settings(max_examples=25, deadline=None)
@given(st.data(), st.floats(-30, -8), st.floats(10, 1200))
def test_the_manifest_writer_writes_plain_json_from_numpy_fields(tmp_path_factory, data, lufs, duration_s):
    from app.files import json_text
    from app.release.manifest import write_manifest

    folder = tmp_path_factory.mktemp("release")
    plain = plain_manifest(folder, lufs, duration_s)
    write_manifest(folder, numpified(plain, data))
    assert json.loads((folder / "manifest.json").read_text(encoding="utf-8")) == json.loads(json_text(plain.to_json()))
    assert (folder / "manifest.csv").read_text(encoding="utf-8").count("\n") == 3


@pytest.mark.parametrize("report", ["evaluate", "bench", "drums"])
def test_report_writers_take_numpy_fields(report, monkeypatch, capsys):
    """`evaluate --json`, `evaluate --drums --json` and `bench --json` print reports holding numpy
    figures as plain JSON."""
    import importlib

    from app.main import main

    figures = {"mean_pitch": np.float32(64.5), "songs": np.int64(2), "per_song": [np.float64(0.25)],
               "ok": np.bool_(True)}
    module, function, argv = {
        "evaluate": ("app.report.evaluate", "evaluate", ["evaluate", "--json", "--count", "1"]),
        "drums": ("app.report.drum_figures", "evaluate_drums", ["evaluate", "--drums", "--json", "--count", "1"]),
        "bench": ("app.report.bench", "run_bench", ["bench", "--json"]),
    }[report]
    target = importlib.import_module(module)
    if not hasattr(target, function):
        pytest.skip(f"{module} has no {function}")
    monkeypatch.setattr(target, function, lambda *a, **k: figures)
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"mean_pitch": 64.5, "songs": 2, "per_song": [0.25], "ok": True}
