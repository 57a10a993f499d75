"""app.spec: TrackSpec.validate's ranges (app.config.RANGES) at both ends of every field, with
one-line errors naming the allowed values; the sidecar round trip (to_json/from_json) and its type
checks naming 'spec.FIELD'; parse_ambience, check_range and the argparse types' messages."""

from __future__ import annotations

import argparse
import math
import re

import pytest

from app.config import DEFAULT_AMBIENCE_LEVEL_DB, FORMATS, RANGES, SEED_MAX
from app.errors import BadValueError
from app.music import theory
from app.spec import (FIELD_TYPES, REPLAY_REQUIRED, TrackSpec, check_range, number_arg, parse_ambience,
                      whole_arg)

NUMBER_FIELDS = ("minutes", "temperature", "swing", "colour", "energy", "bpm")


def bad_value(match: str, **changes) -> BadValueError:
    """Validate a spec with `changes`; the BadValueError it raises, checked to be one line matching."""
    with pytest.raises(BadValueError) as info:
        TrackSpec(**changes).validate()
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    assert re.search(match, message), message
    return info.value


def test_the_defaults_are_valid():
    spec = TrackSpec().validate()
    assert spec.formats == ("wav",) and spec.seed is None and spec.bpm is None


@pytest.mark.parametrize("field", NUMBER_FIELDS)
def test_number_fields_accept_both_ends_and_refuse_just_outside(field):
    lo, hi = RANGES[field]
    for ok in (lo, hi, (lo + hi) / 2):
        assert getattr(TrackSpec(**{field: ok}).validate(), field) == ok
    allowed = rf"^{field} must be between {lo:g} and {hi:g}, got "
    for wrong in (lo - 0.01, hi + 0.01, -math.inf, math.inf, math.nan):
        bad_value(allowed, **{field: wrong})
    bad_value(allowed + "'2'$", **{field: "2"})  # a string is not a number, even a numeric one
    bad_value(allowed + "True$", **{field: True})


def test_bpm_none_follows_the_beat():
    assert TrackSpec(bpm=None).validate().bpm is None


def test_seed_range():
    assert TrackSpec(seed=0).validate().seed == 0
    assert TrackSpec(seed=SEED_MAX).validate().seed == SEED_MAX
    bad_value(rf"^seed must be between 0 and {SEED_MAX}, got -1$", seed=-1)
    bad_value(rf"^seed must be between 0 and {SEED_MAX}, got {SEED_MAX + 1}$", seed=SEED_MAX + 1)
    bad_value(r"got a 401-digit number$", seed=10**400)  # short however big


@pytest.mark.parametrize("key", ["C", "F#", "Gb", "bb", "Db", "b"])
def test_keys_in_either_spelling(key):
    assert TrackSpec(key=key).validate().key == key


@pytest.mark.parametrize("key", ["H", "", "C##", "do"])
def test_unknown_keys_name_the_allowed_ones(key):
    error = bad_value(r"^unknown key ", key=key)
    assert ", ".join(theory.KEY_NAMES) in str(error)


def test_modes():
    for mode in theory.ALL_MODES:
        assert TrackSpec(mode=mode).validate().mode == mode
    error = bad_value(r"^unknown mode 'locrian'; allowed: ", mode="locrian")
    assert str(error).endswith(", ".join(theory.ALL_MODES))


def test_formats_are_deduplicated_and_checked():
    assert TrackSpec(formats=("mp3", "wav", "mp3")).validate().formats == ("mp3", "wav")
    assert TrackSpec(formats=FORMATS).validate().formats == FORMATS
    allowed = f"; allowed: {', '.join(FORMATS)}$"
    bad_value(r"^unknown format 'ogg'" + allowed, formats=("wav", "ogg"))
    bad_value(r"^unknown format \(none\)" + allowed, formats=())
    bad_value(r"^unknown format 'og\\ng', 'mp4'" + allowed, formats=("og\ng", "mp4"))  # one line even so


def test_ambience_levels():
    lo, hi = RANGES["level_db"]
    assert TrackSpec(ambience=[("rain", lo), ("vinyl_crackle", hi)]).validate().ambience == [("rain", lo),
                                                                                            ("vinyl_crackle", hi)]
    bad_value(rf"^ambience level for 'rain' must be between {lo:g} and {hi:g} dB, got 3$", ambience=[("rain", 3)])
    bad_value(r"got -61$", ambience=[("rain", -61)])
    bad_value(r"dB, got 3$", ambience=[("ra\nin", 3)])  # one line even so


def test_lofi_presets_and_names():
    from app.audio.fx import PRESETS

    for preset in PRESETS:
        assert TrackSpec(lofi_preset=preset).validate().lofi_preset == preset
    error = bad_value(r"^unknown lo-fi preset 'shiny'; allowed: ", lofi_preset="shiny")
    assert str(error).endswith(", ".join(PRESETS))
    bad_value(r"^name must not be empty$", name=" \t ")


def test_text_fields_are_made_printable():
    """Undecodable file-name bytes (surrogate escapes, as a shell passes them) become U+FFFD."""
    spec = TrackSpec(name="caf\udce9", artist="x\udcff", album="a\udc80", ambience=[("r\udce9", -20.0)]).validate()
    assert (spec.name, spec.artist, spec.album) == ("caf\ufffd", "x\ufffd", "a\ufffd")
    assert spec.ambience == [("r\ufffd", -20.0)]
    spec.name.encode("utf-8")  # no surrogates left


# --- the sidecar's spec ----------------------------------------------------------------------

def full_spec() -> TrackSpec:
    return TrackSpec(name="night walk", minutes=1.5, key="F#", mode="dorian", bpm=72.0, melody_instrument="rhodes",
                     chords_instrument="piano", bass_instrument="upright", include_chords=False, beat="none",
                     ambience=[("rain", -20.0), ("vinyl_crackle", -30.0)], temperature=0.9, seed=1234,
                     formats=("flac", "wav"), overwrite=True, swing=0.6, lofi_preset="dusty", picture=False,
                     artist="me", album="late", colour=0.2, energy=0.8).validate()


def test_every_field_has_a_json_type():
    assert set(FIELD_TYPES) == set(TrackSpec().to_json())
    assert set(REPLAY_REQUIRED) <= set(FIELD_TYPES)


def test_to_json_from_json_round_trip():
    spec = full_spec()
    data = spec.to_json()
    assert data["formats"] == ["flac", "wav"] and data["ambience"] == [["rain", -20.0], ["vinyl_crackle", -30.0]]
    assert TrackSpec.from_json(data) == spec
    import json

    assert TrackSpec.from_json(json.loads(json.dumps(data))) == spec  # through real JSON text


def test_from_json_fills_optional_fields_with_defaults():
    data = {name: full_spec().to_json()[name] for name in REPLAY_REQUIRED}
    spec = TrackSpec.from_json(data)
    default = TrackSpec()
    for name in set(FIELD_TYPES) - set(REPLAY_REQUIRED):
        assert getattr(spec, name) == getattr(default, name), name
    assert spec.seed == 1234 and spec.key == "F#"


@pytest.mark.parametrize("field", REPLAY_REQUIRED)
def test_a_missing_required_field_is_named(field):
    data = full_spec().to_json()
    del data[field]
    with pytest.raises(BadValueError, match=re.escape(f"side.json: missing field 'spec.{field}'")):
        TrackSpec.from_json(data, where="side.json")


def test_unknown_fields_and_non_objects():
    data = {**full_spec().to_json(), "zzz": 1, "aaa": 2}
    with pytest.raises(BadValueError, match=r"^replay file: unknown field 'spec\.aaa'$"):
        TrackSpec.from_json(data)
    with pytest.raises(BadValueError, match=r"field 'spec' must be an object, got a list"):
        TrackSpec.from_json([1, 2])


WRONG_TYPES = {
    "a number": ("1.5", True, [1]), "a string": (3, False, ["x"]), "true or false": (1, "yes", 0.0),
    "a whole number": (1.5, "7", True), "a list of format names": ("wav", [1], {"wav": 1}),
    "a list of [name, level_db]": ("rain", [["rain"]], [[1, -20]], [["rain", "-20"]], [["rain", True]]),
    "an object of part: take number": ([["melody", 1]], {"melody": "1"}, {"melody": True}, {"melody": 1.5}),
}


@pytest.mark.parametrize("field", sorted(FIELD_TYPES))
def test_wrong_json_types_name_the_field_and_the_type(field):
    kinds = FIELD_TYPES[field]
    allowed = " or ".join("null" if k is None else k for k in kinds)
    for wrong in WRONG_TYPES[kinds[0]]:
        data = {**full_spec().to_json(), field: wrong}
        with pytest.raises(BadValueError) as info:
            TrackSpec.from_json(data, where="s.json")
        assert str(info.value).startswith(f"s.json: field 'spec.{field}' must be {allowed}, got "), str(info.value)
    data = {**full_spec().to_json(), field: None}
    if None in kinds:
        assert getattr(TrackSpec.from_json(data), field) is None
    else:
        with pytest.raises(BadValueError, match=re.escape(f"'spec.{field}' must be {allowed}, got null")):
            TrackSpec.from_json(data)


def test_json_numbers_that_are_not_finite_or_too_big():
    data = full_spec().to_json()
    with pytest.raises(BadValueError, match=r"'spec\.bpm' must be a finite number, got inf"):
        TrackSpec.from_json({**data, "bpm": math.inf})
    with pytest.raises(BadValueError, match=r"'spec\.minutes' must be between 0\.1 and 20, got a 400-digit number"):
        TrackSpec.from_json({**data, "minutes": 10**399})
    assert TrackSpec.from_json({**data, "seed": 42.0}).seed == 42  # a whole float is a whole number
    with pytest.raises(BadValueError, match=r"'spec\.ambience' must be"):
        TrackSpec.from_json({**data, "ambience": [["rain", math.nan]]})


# --- small parsers ---------------------------------------------------------------------------

def test_parse_ambience():
    assert parse_ambience("rain:-20") == ("rain", -20.0)
    assert parse_ambience("rain:-7.5") == ("rain", -7.5)
    assert parse_ambience("rain") == ("rain", DEFAULT_AMBIENCE_LEVEL_DB)
    assert parse_ambience("rain:") == ("rain", DEFAULT_AMBIENCE_LEVEL_DB)
    with pytest.raises(BadValueError, match=r"^ambience ':-20': give NAME or NAME:LEVEL_DB$"):
        parse_ambience(":-20")
    with pytest.raises(BadValueError, match=r"^ambience level in 'rain:loud' must be a number of dB, e\.g\. rain:-20$"):
        parse_ambience("rain:loud")


def test_check_range():
    check_range("x", None, 0, 1)  # not given: passes
    check_range("x", 0, 0, 1)
    check_range("x", 1.0, 0, 1)
    check_range("x", 10**30, 5)  # no upper bound
    for value, shown in ((-1, "-1"), (1.5, "1.5"), (True, "True"), ("1", "'1'"), (math.nan, "nan")):
        with pytest.raises(BadValueError, match=rf"^x must be between 0 and 1, got {re.escape(shown)}$"):
            check_range("x", value, 0, 1)
    with pytest.raises(BadValueError, match=r"^n must be at least 5, got 4$"):
        check_range("n", 4, 5)
    with pytest.raises(BadValueError, match=r"got 'aaaaaaaaaaaaaaaaaaa\.\.\. \(102 characters\)$"):
        check_range("x", "a" * 100, 0, 1)


def test_number_arg():
    parse = number_arg(0.1, 20)
    assert parse("2.5") == 2.5
    assert parse("500") == 500.0  # the range is validate()'s job, so every route gives one error
    with pytest.raises(argparse.ArgumentTypeError, match=r"^expected a number from 0\.1 to 20, got 'abc'$"):
        parse("abc")
    with pytest.raises(argparse.ArgumentTypeError, match=r"got 'xxxxxxxxxxxxxxxxxxx\.\.\. \(202 characters\)$"):
        parse("x" * 200)


def test_whole_arg():
    seed = whole_arg(0, SEED_MAX)
    assert seed("42") == 42 and seed("-3") == -3  # short out-of-range values reach check_range
    with pytest.raises(argparse.ArgumentTypeError, match=rf"^expected a whole number from 0 to {SEED_MAX}, got '4\.5'$"):
        seed("4.5")
    with pytest.raises(argparse.ArgumentTypeError, match=r"^expected a whole number from 0 to \d+, got a 30-digit number$"):
        seed("1" * 30)
    with pytest.raises(argparse.ArgumentTypeError, match=r"got '9999999999999999999\.\.\. \(5002 characters\)$"):
        seed("9" * 5000)  # more digits than int() takes
    with pytest.raises(argparse.ArgumentTypeError, match=r"^expected a whole number of at least 1, got 'x'$"):
        whole_arg(1)("x")


def test_config_defaults_lie_inside_their_ranges():
    from app import config

    for field, default in (("bpm", config.DEFAULT_BPM), ("colour", config.DEFAULT_COLOUR),
                           ("energy", config.DEFAULT_ENERGY), ("swing", config.DEFAULT_SWING),
                           ("level_db", config.DEFAULT_AMBIENCE_LEVEL_DB)):
        lo, hi = RANGES[field]
        assert lo < hi and lo <= default <= hi, field
    assert config.RANDOM_SEED_LIMIT - 1 <= SEED_MAX
    assert config.NO_BEAT == "none" and TrackSpec(beat=config.NO_BEAT).validate().beat == "none"


def test_takes_name_only_parts_that_can_be_rerolled():
    from app.spec import reroll

    assert reroll(TrackSpec(takes={"drums": 2}), ["melody", "drums"]).takes == {"drums": 3, "melody": 1}
    with pytest.raises(BadValueError, match="unknown part 'flute' to re-roll; allowed: melody, chords, bass, drums"):
        TrackSpec(takes={"flute": 1}).validate()
    with pytest.raises(BadValueError, match="take of the bass must be between 0 and"):
        TrackSpec(takes={"bass": -1}).validate()
    with pytest.raises(BadValueError, match="no generated drums to re-roll"):
        reroll(TrackSpec(beat="none"), ["drums"])
    with pytest.raises(BadValueError, match="no chords part to re-roll"):
        reroll(TrackSpec(include_chords=False), ["melody", "chords"])
