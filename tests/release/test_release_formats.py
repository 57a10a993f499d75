"""A release's delivery format and file names (issue 15, items 2 and 3), without rendering: the flags
and the preset reach the request, the manifest's release record and every track's spec; ASCII names
are the default and --unicode-names turns them off; a release made before these options still
resumes. (tests/release/test_batch.py makes a real 48 kHz 24-bit release and checks its files.)"""

from __future__ import annotations

import re
from dataclasses import asdict

import pytest

from app.deliver.names import file_name
from app.errors import BadValueError
from app.main import build_parser
from app.release.manifest import new_release
from app.release.records import Release
from app.release.request import request_from_args
from app.release.track import _spec_for


def request(tmp_path, *flags):
    return request_from_args(build_parser().parse_args(["batch", "--out", str(tmp_path), "--seed", "4",
                                                        "--count", "2", *flags]))


def test_defaults_are_44k1_16_bit_with_ascii_names(tmp_path):
    req = request(tmp_path)
    assert (req.sample_rate, req.bit_depth, req.ascii_names) == (44100, 16, True)
    # a release made before these options has none of them in its identity: it still resumes
    assert not {"sample_rate", "bit_depth", "ascii_names"} & set(req.identity())
    _, manifest = new_release(req)
    plan, release = manifest.tracks[0].plan, manifest.release
    spec = _spec_for(plan, plan.seed, release)
    assert (spec.sample_rate, spec.bit_depth, spec.ascii_names) == (44100, 16, True)
    name = file_name(spec.name, spec.ascii_names)
    assert re.fullmatch(r"01_[A-Za-z0-9_-]+", name) and name.endswith(file_name(plan.title, True))


def test_flags_reach_the_release_and_every_track(tmp_path):
    req = request(tmp_path, "--sample-rate", "48000", "--bit-depth", "24", "--unicode-names")
    assert (req.sample_rate, req.bit_depth, req.ascii_names) == (48000, 24, False)
    assert {k: req.identity()[k] for k in ("sample_rate", "bit_depth", "ascii_names")} == {
        "sample_rate": 48000, "bit_depth": 24, "ascii_names": False}
    _, manifest = new_release(req)
    data = manifest.to_json()["release"]
    assert (data["sample_rate"], data["bit_depth"], data["ascii_names"]) == (48000, 24, False)
    plan = manifest.tracks[1].plan
    spec = _spec_for(plan, plan.seed, manifest.release)
    assert (spec.sample_rate, spec.bit_depth, spec.ascii_names) == (48000, 24, False)
    assert file_name(spec.name) == file_name(f"02 - {plan.title}")  # '02 - Title Words'
    assert request(tmp_path, "--ascii-names").ascii_names is True


def test_a_preset_sets_them_and_bad_values_are_refused(tmp_path):
    preset = tmp_path / "release.toml"
    preset.write_text("sample_rate = 48000\nbit_depth = 24\nascii_names = false\n")
    req = request(tmp_path, "--preset", str(preset))
    assert (req.sample_rate, req.bit_depth, req.ascii_names) == (48000, 24, False)
    assert request(tmp_path, "--preset", str(preset), "--ascii-names").ascii_names is True  # the flag wins
    for text, message in (("bit_depth = 20\n", "bit depth must be 16 or 24"),
                          ("sample_rate = 96000\n", "sample rate must be 44100 or 48000"),
                          ("ascii_names = 'yes'\n", "ascii_names must be true or false")):
        preset.write_text(text)
        with pytest.raises(BadValueError, match=message):
            request(tmp_path, "--preset", str(preset))
    for flags in (["--bit-depth", "20"], ["--sample-rate", "22050"], ["--ascii-names", "--unicode-names"]):
        with pytest.raises(SystemExit) as exit_info:
            request(tmp_path, *flags)
        assert exit_info.value.code == 2


def test_a_release_record_from_before_the_formats_reads_as_44k1_16_bit_unicode_names():
    old = {k: v for k, v in asdict(Release("A", "B", 1, 2, ["wav"], "A", "cover.jpg")).items()
           if k not in ("sample_rate", "bit_depth", "ascii_names")}
    release = Release(**old)
    assert (release.sample_rate, release.bit_depth, release.ascii_names) == (44100, 16, False)
