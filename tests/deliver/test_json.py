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
