"""Huge integers (issue 10, item 10): a 400-digit seed in a sidecar, a 5000-digit preset number as a
flag or in a sidecar, a 5000-digit seed flag: exit 2 with the allowed range, one short line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.main import main
from app.spec import SEED_MAX

GM = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
HUGE = "9" * 5000


def sidecar(tmp_path, **spec_changes) -> Path:
    spec = {"seed": 7, "minutes": 0.2, "key": "C", "mode": "minor", "bpm": 80.0,
            "melody_instrument": None, "chords_instrument": None, "bass_instrument": None,
            "include_chords": True, "beat": "none", "ambience": [], "temperature": 1.0, "swing": 0.57,
            "lofi_preset": "default", "colour": 0.5, "energy": 0.5, **spec_changes}
    path = tmp_path / "huge.json"
    path.write_text(json.dumps({"version": 1, "spec": spec}), encoding="utf-8")
    return path


def run(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    return code, err


def one_short_line(err: str) -> bool:
    return "\n" not in err and len(err) < 300 and "internal error" not in err


def _replay_file(tmp_path, **changes) -> Path:
    from app.deliver.replay import SIDECAR_VERSION

    path = sidecar(tmp_path, **changes)
    data = json.loads(path.read_text())
    data["version"] = SIDECAR_VERSION
    path.write_text(json.dumps(data))
    return path


def test_a_400_digit_seed_in_a_sidecar_is_a_bad_value(tmp_path, capsys):
    code, err = run(capsys, "generate_music", "--replay", str(_replay_file(tmp_path, seed=int("4" * 400))))
    assert code == 2 and one_short_line(err), err
    assert "seed" in err and str(SEED_MAX) in err


@pytest.mark.parametrize("field", ["minutes", "bpm", "temperature"])
def test_a_400_digit_number_field_in_a_sidecar_is_a_bad_value(tmp_path, capsys, field):
    code, err = run(capsys, "generate_music", "--replay", str(_replay_file(tmp_path, **{field: int("4" * 400)})))
    assert code == 2 and one_short_line(err), err
    assert field in err and "between" in err


def test_a_5000_digit_seed_flag_is_a_bad_value(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate_music", "--yes", "--seed", HUGE])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and one_short_line(err), err
    assert str(SEED_MAX) in err


@pytest.mark.skipif(not GM.exists(), reason="the system GM SoundFont (fluid-soundfont-gm) is not installed")
@pytest.mark.parametrize("query", [f"FluidR3_GM:0:{HUGE}", f"FluidR3_GM:{HUGE}:0", f"FluidR3_GM:0:{'1' * 400}"])
def test_a_huge_preset_number_is_a_bad_value(tmp_path, capsys, query):
    from app.audio.instruments import find_instrument
    from app.errors import BadValueError

    with pytest.raises(BadValueError, match=r"program 0-127|bank 0-128") as exc:
        find_instrument(query)
    assert len(str(exc.value)) < 300
    code, err = run(capsys, "generate_music", "--yes", "--minutes", "0.1", "--melody-instrument", query)
    assert code == 2 and one_short_line(err), err
    code, err = run(capsys, "generate_music", "--replay", str(_replay_file(tmp_path, melody_instrument=query)))
    assert code == 2 and one_short_line(err), err
