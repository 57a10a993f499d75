"""Hostile files in the drop folders (app/effects/, app/sf2/): skipped with a reason, never a stop; long WAVs never read whole."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from app import paths
from app.audio import loops as ef
from app.audio.instruments import discover_soundfonts, find_instrument, format_listing
from tests.fixtures.sf2 import write_tiny_sf2
from tests.fixtures.wav import SR, noise_bed, write_wav

ROOT = Path(__file__).resolve().parents[2]
GM = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


def odd_name(folder: Path, raw: bytes) -> Path:
    """A path whose file name is `raw` bytes (not valid UTF-8), as Python represents it."""
    return Path(os.fsdecode(os.fsencode(str(folder)) + b"/" + raw))


def write_long_wav(path: Path, seconds: int, head: np.ndarray, rate: int = SR) -> Path:
    """A 16-bit stereo WAV `seconds` long whose first samples are `head` ((2, n) float) and the rest
    silence, written sparse: an hour-long file costs a few KB of disk."""
    data_bytes = seconds * rate * 4
    pcm = (np.clip(head, -1, 1).T * 32767).astype("<i2")
    fmt = struct.pack("<IHHIIHH", 16, 1, 2, rate, rate * 4, 4, 16)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt " + fmt)
        f.write(b"data" + struct.pack("<I", data_bytes) + pcm.tobytes())
        f.truncate(44 + data_bytes)
    return path


# --- effect WAVs ---------------------------------------------------------------------------------


def test_fifo_truncated_and_odd_files_never_block_or_stop_the_scan(tmp_path):
    amb = tmp_path / "ambience"
    write_wav(amb / "good.wav", noise_bed(1.0))
    os.mkfifo(amb / "pipe.wav")  # opening a FIFO for reading would block for ever
    full = write_wav(amb / "cut.wav", noise_bed(3.0))
    data = full.read_bytes()
    full.write_bytes(data[: 44 + SR * 4])  # header says 3 s, 1 s of data left
    write_wav(amb / "hot_float.wav", np.full((2, SR), 1e30, np.float32), subtype="FLOAT")
    write_wav(amb / "nan_float.wav", np.full((2, SR), np.nan, np.float32), subtype="FLOAT")
    write_wav(amb / "one_hertz.wav", np.zeros((1, 10)), sample_rate=1)  # '10 s' at 1 Hz

    effects, skipped = ef.discover_effects(tmp_path)

    reasons = {p.name: r for p, r in skipped}
    assert reasons == {"pipe.wav": "not a regular file",
                       "one_hertz.wav": "sample rate 1 Hz is not supported (4-384 kHz)"}
    by_name = {e.name: e for e in effects}
    assert {"good", "cut", "hot_float", "nan_float"} <= set(by_name)
    cut = ef.load_wav(by_name["cut"].path)  # what is there is used
    assert cut.shape[0] == 2 and abs(cut.shape[1] - SR) <= 2 and np.abs(cut).max() > 0.1
    for name in ("hot_float", "nan_float"):  # absurd samples are made sane, never inf/NaN in a mix
        assert np.abs(ef.load_wav(by_name[name].path)).max() <= 1.0
        audio = ef.ambience_track(by_name[name], 3 * SR)  # equal-power seams: at most sqrt(2) on DC
        assert np.isfinite(audio).all() and np.abs(audio).max() <= np.sqrt(2) + 1e-6
    ef.clear_cache()


def test_one_hour_wav_is_listed_from_its_header_and_never_loaded_whole(tmp_path):
    head = noise_bed(3.0)
    write_long_wav(tmp_path / "ambience" / "night_rain.wav", 3600, head)
    write_long_wav(tmp_path / "beats" / "hour_loop_80bpm.wav", 3600, head)
    hour_bytes = 3600 * SR * 2 * 4  # what float32 stereo of the whole file would take
    ef.clear_cache()
    tracemalloc.start()
    try:
        effects, skipped = ef.discover_effects(tmp_path)
        listed_peak = tracemalloc.get_traced_memory()[1]
        assert skipped == []
        by_name = {e.name: e for e in effects}
        rain, loop = by_name["night_rain"], by_name["hour_loop_80bpm"]
        assert rain.duration_s == pytest.approx(3600) and loop.bpm == 80
        listing = ef.format_listing(effects, skipped)
        assert "3600.0 s" in listing and "(first 60 s used)" in listing and "(first 300 s used)" in listing
        ambience = ef.ambience_track(rain, 10 * SR)
        beat = ef.beat_track(loop, 80.0, 10 * SR)
        used_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        ef.clear_cache()
    assert listed_peak < 5 * 2**20  # the header only
    assert used_peak < 150 * 2**20 < hour_bytes / 8  # at most MAX_BEAT_SECONDS of it, not an hour
    expected = np.round(head * 32767) / 32768
    for audio in (ambience, beat):
        assert audio.shape == (2, 10 * SR)
        np.testing.assert_allclose(audio[:, : 3 * SR], expected, atol=2e-4)  # the file's own start
        assert np.abs(audio[:, 3 * SR + 100:]).max() == 0  # then its silence


_WITHOUT_READ_OVERRIDE = textwrap.dedent('''
    import ctypes, json, os, sys
    if os.geteuid() == 0:  # root reads anything: drop the two capabilities that allow it
        libc = ctypes.CDLL(None, use_errno=True)
        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
        class Data(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                        ("inheritable", ctypes.c_uint32)]
        header, data = Header(0x20080522, 0), (Data * 2)()
        keep = ~((1 << 1) | (1 << 2)) & 0xFFFFFFFF  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.capget(ctypes.byref(header), data) == 0:
            data[0].effective &= keep; data[0].permitted &= keep; data[0].inheritable &= keep
            libc.capset(ctypes.byref(header), data)
    try:
        open(sys.argv[1], "rb").close()
        print(json.dumps({"skip": "this process can still read a file with mode 000"})); sys.exit(0)
    except PermissionError:
        pass
''')


def run_without_read_permission(locked: Path, code: str) -> dict:
    """Run `code` in a child that cannot read `locked` (mode 000): as root, with the capabilities
    that let root ignore file permissions dropped. The child prints one JSON object."""
    locked.chmod(0)
    try:
        out = subprocess.run([sys.executable, "-c", _WITHOUT_READ_OVERRIDE + textwrap.dedent(code), str(locked)],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    finally:
        locked.chmod(0o644)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if "skip" in result:
        pytest.skip(result["skip"])
    return result


def test_unreadable_wav_and_soundfont_are_skipped_with_a_reason(tmp_path):
    """chmod 000 as the issue says; root ignores it, so the scan runs without root's override."""
    write_wav(tmp_path / "ambience" / "locked.wav", noise_bed(1.0))
    write_wav(tmp_path / "ambience" / "open.wav", noise_bed(1.0))
    write_tiny_sf2(tmp_path / "fonts" / "Locked.sf2")
    write_tiny_sf2(tmp_path / "fonts" / "Open.sf2")
    (tmp_path / "fonts" / "Locked.sf2").chmod(0)
    result = run_without_read_permission(tmp_path / "ambience" / "locked.wav", f'''
        import json
        from pathlib import Path
        from app.audio import loops as effect_files
        from app.audio import instruments
        folder = Path({str(tmp_path)!r})
        effects, skipped = effect_files.discover_effects(folder)
        files, sf_skipped = instruments.discover_soundfonts([folder / "fonts"])
        print(json.dumps({{"effects": [e.name for e in effects],
                          "skipped": {{p.name: r for p, r in skipped + sf_skipped}},
                          "fonts": [f.path.name for f in files],
                          "listing": instruments.format_listing(files, sf_skipped)}}))
    ''')
    (tmp_path / "fonts" / "Locked.sf2").chmod(0o644)
    assert result["effects"] == ["open"] and result["fonts"] == ["Open.sf2"]
    assert "permission" in result["skipped"]["locked.wav"]
    assert result["skipped"]["Locked.sf2"] == "unreadable (permission denied)"
    assert "Locked.sf2: unreadable (permission denied)" in result["listing"]


def test_soundfont_drop_folder_odd_files(tmp_path):
    fonts = tmp_path / "fonts"
    write_tiny_sf2(fonts / "Tiny.sf2")
    os.mkfifo(fonts / "pipe.sf2")
    (fonts / "loop.sf2").symlink_to(fonts / "loop.sf2")  # a link to itself
    weird = write_tiny_sf2(odd_name(fonts, b"Caf\xe9 Keys.sf2"))

    files, skipped = discover_soundfonts([fonts])

    reasons = {p.name: r for p, r in skipped}
    assert reasons["pipe.sf2"] == "not a regular file"
    assert reasons["loop.sf2"] == "broken symlink"
    assert sorted(f.path.name for f in files) == sorted(["Tiny.sf2", weird.name])
    listing = format_listing(files, skipped)
    listing.encode("utf-8")  # printable as UTF-8: the undecodable byte shows as U+FFFD
    assert "Caf\ufffd Keys:0:0" in listing
    # The printable id (what the listing shows, what a sidecar stores) finds the file.
    preset = find_instrument("Caf\ufffd Keys:0:5", files)
    assert preset.sf2_path == weird.resolve() and preset.program == 5
    assert find_instrument("tiny soft sine@caf\ufffd keys", files) == preset


def test_soundfont_with_non_utf8_name_renders(tmp_path):
    from app.audio.render import render_part
    from app.music.song import Note, Part

    path = write_tiny_sf2(odd_name(tmp_path, b"\xff\xfeodd.sf2"))
    files, skipped = discover_soundfonts([tmp_path])
    assert skipped == [] and files[0].path == path.resolve()
    preset = find_instrument(files[0].presets[0].id, files)
    audio = render_part(Part("melody", [Note(69, 0.0, 1.0, 100)]), preset, 120.0, tail_s=0.2, humanize=0)
    assert np.sqrt(np.mean(audio**2)) > 1e-3  # it sounds


def test_commands_print_skipped_files_with_reasons(tmp_path, monkeypatch, capsys):
    from app.main import main

    effects, fonts = tmp_path / "effects", tmp_path / "sf2"
    write_wav(effects / "beats" / "ok_90bpm.wav", noise_bed(2.0))
    (effects / "beats" / "junk_90bpm.wav").write_bytes(os.urandom(3000))
    odd = odd_name(effects / "ambience", b"r\xe4in.wav")
    write_wav(odd, noise_bed(1.0))
    (effects / "ambience" / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    fonts.mkdir()
    (fonts / "random.sf2").write_bytes(os.urandom(4000))
    (fonts / "empty.sf2").write_bytes(b"")
    monkeypatch.setattr(paths, "EFFECTS_DIR", effects)
    monkeypatch.setattr(paths, "SF2_DIR", fonts)

    assert main(["effects"]) == 0
    out = capsys.readouterr().out
    out.encode("utf-8")
    assert "ok_90bpm" in out and "r\ufffdin" in out
    assert "junk_90bpm.wav: not a WAV file" in out and "gone.wav: broken symlink" in out
    assert main(["instruments"]) == 0
    out = capsys.readouterr().out
    assert "random.sf2: not a SoundFont" in out and "empty.sf2: empty file" in out


def test_wizard_says_which_files_were_skipped(tmp_path, monkeypatch, capsys):
    pytest.importorskip("questionary")
    from app import wizard

    effects = tmp_path / "effects"
    write_wav(effects / "beats" / "ok_90bpm.wav", noise_bed(2.0))
    (effects / "beats" / "broken_88bpm.wav").write_bytes(b"RIFF....WAVEjunk")
    (effects / "beats" / "empty_70bpm.wav").write_bytes(b"")
    monkeypatch.setattr(paths, "EFFECTS_DIR", effects)

    class Answer:  # questionary's question object: answers with the default
        def __init__(self, message, choices, default=None, **_):
            self.default = default

        def unsafe_ask(self):
            return self.default

    monkeypatch.setattr(wizard.questionary, "select", Answer)
    beat, bpm = wizard.ask_beat(None)
    assert (beat, bpm) == ("generated", None)  # the default: the drum model, whatever loops there are
    out = capsys.readouterr().out
    assert "2 files skipped" in out and "broken_88bpm.wav (not a readable WAV file)" in out
    assert "empty_70bpm.wav (empty file)" in out and "python -m app.main effects" in out


@pytest.mark.skipif(not GM.exists(), reason="the system GM SoundFont (fluid-soundfont-gm) is not installed")
def test_a_run_goes_through_drop_folders_full_of_bad_files(tmp_path, monkeypatch):
    """Everything above at once, through run_track: the track is made with the odd-named files and the
    sidecar (which stores their printable names) replays."""
    from app.choices import resolve_choices
    from app.deliver.names import OutputDirs
    from app.deliver.replay import load_replay
    from app.music.compose import load_models
    from app.pipeline import run_track
    from app.spec import TrackSpec

    effects, fonts = tmp_path / "effects", tmp_path / "sf2"
    (effects / "beats").mkdir(parents=True)
    for beat in (paths.EFFECTS_DIR / "beats").glob("*.wav"):
        (effects / "beats" / beat.name).symlink_to(beat)
    write_wav(odd_name(effects / "ambience", b"caf\xe9 murmur.wav"), noise_bed(4.0, seed=5))
    (effects / "ambience" / "noise.wav").write_bytes(os.urandom(2048))
    (effects / "ambience" / "empty.wav").write_bytes(b"")
    (effects / "ambience" / "gone.wav").symlink_to(tmp_path / "nowhere")
    os.mkfifo(effects / "ambience" / "pipe.wav")
    write_wav(effects / "beats" / "u8_72bpm.wav", noise_bed(2.0), subtype="PCM_U8")
    write_tiny_sf2(odd_name(fonts, b"m\xfcsic box.sf2"))
    (fonts / "random.sf2").write_bytes(os.urandom(4096))
    os.mkfifo(fonts / "pipe.sf2")
    monkeypatch.setattr(paths, "EFFECTS_DIR", effects)
    monkeypatch.setattr(paths, "SF2_DIR", fonts)

    spec = TrackSpec(name="drop test", minutes=0.15, seed=4, key="D", mode="minor", picture=False,
                     melody_instrument="m\ufffdsic box:0:0", ambience=[("caf\ufffd murmur", -18.0)])
    result = run_track(spec, models=load_models(), dirs=OutputDirs.under(tmp_path / "out"))
    side = json.loads(result.files["sidecar"].read_text(encoding="utf-8"))
    assert side["instruments"]["melody"]["id"] == "m\ufffdsic box:0:0"
    assert side["ambience"] == [{"name": "caf\ufffd murmur", "level_db": -18.0}]
    assert side["beat"]["name"] == "generated"  # the default: the drum model on the GM kit
    again = resolve_choices(load_replay(result.files["sidecar"]))
    assert again.instruments["melody"].sf2_path.name == "m\udcfcsic box.sf2"
    assert again.ambience[0][0].path.name == "caf\udce9 murmur.wav"
    ef.clear_cache()
