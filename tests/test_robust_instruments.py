"""Silent instruments (issue 10, item 3): presets FluidSynth cannot play (ROM samples, sample data
missing) are marked unplayable with the reason, cannot be chosen by id, name or batch pool, a stem
that renders silent although its part has notes is a RenderError, and FluidSynth's warnings are
summarised in one line per file."""

from __future__ import annotations

import numpy as np
import pytest

from app import paths
from app.audio import render
from app.audio.instruments import Instrument, discover_soundfonts, find_instrument, format_listing
from app.errors import BadValueError, RenderError
from app.music.song import Note, Part
from tests.sf2_broken_fixture import MIXED, NO_SAMPLE_DATA, PLAYABLE, ROM_ONLY, write_broken_sf2

NOTES = Part("melody", [Note(60, 0.0, 1.0, 100), Note(72, 1.0, 1.0, 100)])


@pytest.fixture
def broken(tmp_path):
    path = write_broken_sf2(tmp_path / "sf2" / "chip.sf2")
    files, skipped = discover_soundfonts([path.parent])
    assert skipped == []
    return files


def preset(files, bank_program_name) -> Instrument:
    bank, program, _ = bank_program_name
    return next(p for p in files[0].presets if (p.bank, p.program) == (bank, program))


def test_unplayable_presets_are_marked_with_the_reason(broken):
    assert preset(broken, PLAYABLE).unplayable is None and preset(broken, MIXED).unplayable is None
    assert "ROM samples" in preset(broken, ROM_ONLY).unplayable
    assert "sample data is missing" in preset(broken, NO_SAMPLE_DATA).unplayable
    listing = format_listing(broken, [])
    line = next(x for x in listing.splitlines() if "Rom Lead" in x)
    assert "UNPLAYABLE" in line and "ROM samples" in line
    assert "UNPLAYABLE" not in next(x for x in listing.splitlines() if "Good Sine" in x)


def test_the_marks_agree_with_what_fluidsynth_plays(broken):
    for p in broken[0].presets:
        audio = render.render_part(NOTES, p, 120.0, tail_s=0.2, humanize=0) if not p.unplayable else None
        if audio is not None:
            assert np.abs(audio).max() > 0.01, p.name


@pytest.mark.parametrize("query", ["chip:0:1", "Rom Lead", "rom-lead@chip", "chip:0:2", "Lost Bass"])
def test_unplayable_presets_cannot_be_chosen(broken, query):
    with pytest.raises(BadValueError, match=r"cannot be played: (it uses ROM|its sample data)") as exc:
        find_instrument(query, broken)
    assert "\n" not in str(exc.value)
    assert find_instrument("Good Sine", broken).program == 0 and find_instrument("chip:0:3", broken).program == 3


def test_a_batch_pool_with_an_unplayable_preset_is_refused(tmp_path, monkeypatch):
    from app.release.request import BatchRequest, validate_request

    write_broken_sf2(tmp_path / "sf2" / "chip.sf2")
    monkeypatch.setattr(paths, "SF2_DIR", tmp_path / "sf2")
    with pytest.raises(BadValueError, match="cannot be played"):
        validate_request(BatchRequest(count=1, melody_instruments=["Rom Lead"]))


def test_the_instruments_command_shows_the_reason(tmp_path, monkeypatch, capsys):
    from app.main import main

    write_broken_sf2(tmp_path / "sf2" / "chip.sf2")
    monkeypatch.setattr(paths, "SF2_DIR", tmp_path / "sf2")
    assert main(["instruments"]) == 0
    out = capsys.readouterr().out
    assert "Lost Bass" in out and "UNPLAYABLE: its sample data is missing" in out


def test_a_silent_stem_is_a_render_error(broken):
    rom_only = preset(broken, ROM_ONLY)  # bypassing the lookup, as a stale spec or a mistake would
    with pytest.raises(RenderError, match=r"melody part \(2 notes\) rendered silent with Rom Lead") as exc:
        render.render_part(NOTES, rom_only, 120.0, tail_s=0.2)
    assert "\n" not in str(exc.value)
    # No notes: silence is right, not an error.
    assert not np.any(render.render_part(Part("melody", []), rom_only, 120.0, length_beats=2, tail_s=0.2))


def test_fluidsynth_warnings_are_summarised_once_per_file(broken, capfd):
    render._summarised.clear()
    for _ in range(3):
        render.render_part(NOTES, preset(broken, PLAYABLE), 120.0, tail_s=0.2)
        render.render_part(NOTES, preset(broken, MIXED), 120.0, tail_s=0.2)
    err = capfd.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert "chip.sf2" in lines[0] and "ROM sample ignored" in lines[0] and "invalid start/end" in lines[0]


# --- Drop-ins do not change what defaults and GM names mean (item 4) ------------------------------

GM = paths.SYSTEM_SF2_DIRS[0] / "FluidR3_GM.sf2"
needs_gm = pytest.mark.skipif(not GM.exists(), reason="the system GM SoundFont (fluid-soundfont-gm) is not installed")
# A toy SoundFont dropped into app/sf2/ naming its presets like FluidR3_GM's and like GM programs.
TOY_PRESETS = [(0, 0, "Vibraphone", 0), (0, 1, "Rhodes EP", 0), (0, 2, "Fingered Bass", 0), (0, 3, "Electric Piano 1", 0),
               (0, 4, "Toy Vibes", 0)]


@pytest.fixture
def with_toy(tmp_path, monkeypatch):
    from tests.sf2_fixture import write_tiny_sf2

    write_tiny_sf2(tmp_path / "sf2" / "aaa toy.sf2", TOY_PRESETS)  # sorts before anything
    monkeypatch.setattr(paths, "SF2_DIR", tmp_path / "sf2")
    return discover_soundfonts()[0]


@needs_gm
@pytest.mark.parametrize("name, gm_id", [("Vibraphone", "FluidR3_GM:0:11"), ("Rhodes EP", "FluidR3_GM:0:4"),
                                         ("Electric Piano 1", "FluidR3_GM:0:4"), ("fingered bass", "FluidR3_GM:0:33")])
def test_bare_gm_names_resolve_to_the_gm_soundfont(with_toy, name, gm_id):
    assert with_toy[0].path.stem == "aaa toy"  # the drop folder is scanned first
    assert find_instrument(name, with_toy).id == gm_id


@needs_gm
def test_a_dropped_preset_is_chosen_by_id_file_or_a_name_only_it_has(with_toy):
    assert find_instrument("aaa toy:0:0", with_toy).name == "Vibraphone"
    assert find_instrument("Vibraphone@aaa toy", with_toy).id == "aaa toy:0:0"
    assert find_instrument("toy vibes", with_toy).id == "aaa toy:0:4"


@needs_gm
def test_defaults_and_the_batch_pool_names_stay_on_the_gm_soundfont(with_toy):
    from app.audio.instruments import default_instrument
    from app.release.batch import BatchRequest

    for part in ("melody", "chords", "bass"):
        assert default_instrument(part, with_toy).sf2_path.stem == "FluidR3_GM"
    request = BatchRequest(count=1)
    names = [*request.melody_instruments, *request.chords_instruments, *request.bass_instruments]
    assert names and {find_instrument(n, with_toy).sf2_path.stem for n in names} == {"FluidR3_GM"}


@needs_gm
def test_the_listing_says_where_a_bare_name_goes(with_toy):
    listing = format_listing(with_toy, [])
    line = next(x for x in listing.splitlines() if "(aaa toy:0:0)" in x)
    assert "the name alone gives FluidR3_GM:0:11" in line
    assert "the name alone" not in next(x for x in listing.splitlines() if "(aaa toy:0:4)" in x)
