"""`batch` pools for the lo-fi controls: --colours/--colour-range, --energies/--energy-range and
--modes with the church modes. The plan draws every track's values from the pools (deterministic for
the release seed), the manifest rows and CSV record them, the pipeline gets them, and a bad value
exits 2 with one line."""

from __future__ import annotations

import csv
import io

import pytest

from app.config import DEFAULT_COLOUR, DEFAULT_ENERGY
from app.main import build_parser, main
from app.music import theory
from app.release.manifest import manifest_csv, new_release
from app.release.plan import plan_release
from app.release.request import BatchRequest, request_from_args, validate_request
from app.release.track import _spec_for

TITLES = [f"Track {i}" for i in range(1, 13)]


def _request(tmp_path, *flags: str) -> BatchRequest:
    return request_from_args(build_parser().parse_args(["batch", "--out", str(tmp_path), *flags]))


def test_pools_are_dealt_and_every_value_is_used(tmp_path):
    req = _request(tmp_path, "--count", "9", "--colours", "0.4,0.6,0.8", "--energies", "0.2,0.7",
                   "--modes", "dorian,mixolydian,lydian,phrygian")
    assert req.colours == (0.4, 0.6, 0.8) and req.energies == (0.2, 0.7) and req.colour_range is None
    plans = plan_release(req, 11, TITLES)
    colours, energies, modes = ([getattr(p, name) for p in plans] for name in ("colour", "energy", "mode"))
    assert sorted(set(colours)) == [0.4, 0.6, 0.8] and all(colours.count(c) == 3 for c in set(colours))
    assert sorted(set(energies)) == [0.2, 0.7]
    assert set(modes) == {"dorian", "mixolydian", "lydian", "phrygian"}
    assert all(a != b for a, b in zip(colours, colours[1:]))  # dealt in turn: neighbours differ


def test_ranges_spread_over_the_tracks_inside_the_range(tmp_path):
    req = _request(tmp_path, "--count", "10", "--colour-range", "0.4-0.8", "--energy-range", "0.25-0.35")
    assert req.colours is None and req.colour_range == (0.4, 0.8) and req.energy_range == (0.25, 0.35)
    plans = plan_release(req, 3, TITLES)
    colours = sorted(p.colour for p in plans)
    assert all(0.4 <= c <= 0.8 and round(c, 2) == c for c in colours)
    # One value in each tenth of the range (give or take the rounding to 0.01): spread, not bunched.
    assert all(0.4 + 0.04 * i - 0.006 <= c <= 0.4 + 0.04 * (i + 1) + 0.006 for i, c in enumerate(colours))
    assert all(0.25 <= p.energy <= 0.35 for p in plans) and len({p.energy for p in plans}) >= 5


def test_the_plan_is_the_release_seeds_and_the_other_choices_keep_theirs(tmp_path):
    base = _request(tmp_path, "--count", "8")
    pooled = _request(tmp_path, "--count", "8", "--colour-range", "0.3-0.9", "--energies", "0.2,0.4,0.6")
    first, again, other = (plan_release(pooled, s, TITLES) for s in (5, 5, 6))
    assert first == again
    assert [p.colour for p in first] != [p.colour for p in other]
    # The controls draw from a generator of their own: the seed's keys, tempi, instruments ... stay.
    plain = plan_release(base, 5, TITLES)
    strip = ("colour", "energy")
    assert [{k: v for k, v in vars(p).items() if k not in strip} for p in first] == \
           [{k: v for k, v in vars(p).items() if k not in strip} for p in plain]


def test_defaults_sound_like_lo_fi(tmp_path):
    req = validate_request(BatchRequest(count=6, out=tmp_path))
    plans = plan_release(req, 1, TITLES)
    assert {p.colour for p in plans} == {DEFAULT_COLOUR} and {p.energy for p in plans} == {DEFAULT_ENERGY}
    assert {p.mode for p in plans} <= set(theory.MODES)
    assert _request(tmp_path, "--modes", "all").modes == theory.ALL_MODES


def test_preset_keys_and_flags_over_them(tmp_path):
    preset = tmp_path / "release.toml"
    preset.write_text('colours = [0.5, 0.9]\nenergy_range = "0.2-0.6"\nmodes = ["dorian", "minor"]\n')
    req = _request(tmp_path, "--preset", str(preset))
    assert req.colours == (0.5, 0.9) and req.energies is None and req.energy_range == (0.2, 0.6)
    assert req.modes == ("dorian", "minor")
    # A flag beats the preset's value, and the pool flag beats the preset's range.
    req = _request(tmp_path, "--preset", str(preset), "--colour-range", "0.1-0.3", "--energies", "0.8")
    assert req.colours is None and req.colour_range == (0.1, 0.3)
    assert req.energies == (0.8,) and req.energy_range is None


def test_manifest_rows_and_csv_record_colour_energy_and_mode_and_the_track_gets_them(tmp_path):
    req = _request(tmp_path, "--count", "4", "--seed", "9", "--colours", "0.3,0.9", "--energies", "0.2",
                   "--modes", "dorian,lydian")
    folder, manifest = new_release(req)
    assert manifest.request["colours"] == [0.3, 0.9] and manifest.request["energies"] == [0.2]
    table = list(csv.DictReader(io.StringIO(manifest_csv(manifest))))
    for row, line in zip(manifest.tracks, table):
        assert (row.colour, row.energy, row.mode) == (row.plan.colour, row.plan.energy, row.plan.mode)
        assert float(line["colour"]) == row.colour and float(line["energy"]) == 0.2
        assert line["mode"] == row.mode and row.mode in ("dorian", "lydian")
        spec = _spec_for(row.plan, row.seed, manifest.release)
        assert (spec.colour, spec.energy, spec.mode) == (row.colour, row.energy, row.mode)
    assert {r.colour for r in manifest.tracks} == {0.3, 0.9}


@pytest.mark.parametrize("flags, needle", [
    (["--colours", "0.4,abc"], "colours must be numbers from 0 to 1"),
    (["--colours", "0.4,1.5"], "colour in colours must be between 0 and 1, got 1.5"),
    (["--colours", ","], "colours is empty"),
    (["--energies", "-0.1"], "energy in energies must be between 0 and 1"),
    (["--colour-range", "0.8-0.4"], "colour range 0.8-0.4 runs backwards"),
    (["--energy-range", "low-high"], "energy range must look like A-B"),
    (["--energy-range", "0.5-2"], "energy range must be between 0 and 1"),
    (["--modes", "dorian,locrian"], "unknown mode 'locrian' in modes; allowed: major, minor, dorian"),
])
def test_bad_values_exit_2_with_one_line(tmp_path, capsys, flags, needle):
    code = main(["batch", "--out", str(tmp_path / "out"), *flags])
    err = capsys.readouterr().err
    assert code == 2 and needle in err, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert not (tmp_path / "out").exists()


def test_a_bad_preset_value_exits_2(tmp_path, capsys):
    preset = tmp_path / "bad.toml"
    preset.write_text("colours = ['blue']\n")
    assert main(["batch", "--out", str(tmp_path / "out"), "--preset", str(preset)]) == 2
    assert "colours must be numbers from 0 to 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse: a pool and a range of the same control
        build_parser().parse_args(["batch", "--colours", "0.5", "--colour-range", "0.2-0.4"])
    assert exc.value.code == 2
