"""Hostile inputs (issue 7): drop-folder files nobody should have to clean up first, and MIDI files for
training that are broken, odd or extreme. Each is used correctly or skipped with a reason; none stops
a run. (Basic bad files are in test_effect_files.py / test_instruments.py; these fill the gaps.)"""

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

from app.audio import loops as ef
from app import paths
from app.audio.instruments import discover_soundfonts, find_instrument, format_listing
from tests.sf2_fixture import write_tiny_sf2
from tests.wav_fixture import SR, noise_bed, write_wav

ROOT = Path(__file__).resolve().parent.parent
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
    from app.music.compose import load_models
    from app.choices import resolve_choices
    from app.deliver.names import OutputDirs
    from app.deliver.replay import load_replay
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


# --- MIDI files for training -----------------------------------------------------------------------

TPB = 480
PROGRESSION = [(48, 52, 55), (45, 48, 52), (41, 45, 48), (43, 47, 50)]  # C Am F G
SCALE = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62]


def write_piece(path: Path, bars: int = 8, signature=(4, 4), tempos=((0, 90.0),), signatures=None,
                voicing=None, melody_channel=0, chord_channel=1, note_offs=True, controls_only=False) -> Path:
    """A melody in 8ths over one chord per bar, written with mido. tempos / signatures: (beat, value)."""
    import mido

    beats_per_bar = signature[0] * 4 / signature[1]
    mid = mido.MidiFile(type=1, ticks_per_beat=TPB)
    meta = mido.MidiTrack()
    events = [(int(beat * TPB), mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))) for beat, bpm in tempos]
    for beat, (num, den) in signatures or [(0, signature)]:
        events.append((int(beat * TPB), mido.MetaMessage("time_signature", numerator=num, denominator=den)))
    now = 0
    for tick, msg in sorted(events, key=lambda e: e[0]):
        meta.append(msg.copy(time=tick - now))
        now = tick
    mid.tracks.append(meta)
    if controls_only:
        track = mido.MidiTrack()
        for i in range(64):
            track.append(mido.Message("control_change", control=[1, 7, 64, 11][i % 4], value=i, time=120))
        track.append(mido.Message("program_change", program=4, time=0))
        track.append(mido.Message("pitchwheel", pitch=100, time=10))
        mid.tracks.append(track)
        mid.save(path)
        return path

    def line(notes, channel):  # notes: (start beat, length beats, pitch, velocity)
        msgs = []
        for start, length, pitch, vel in notes:
            msgs.append((int(start * TPB), 1, mido.Message("note_on", channel=channel, note=pitch, velocity=vel)))
            if note_offs:
                msgs.append((int((start + length) * TPB), 0, mido.Message("note_off", channel=channel, note=pitch)))
        track, now = mido.MidiTrack(), 0
        for tick, _, msg in sorted(msgs, key=lambda m: (m[0], m[1])):
            track.append(msg.copy(time=tick - now))
            now = tick
        return track

    eighths = int(bars * beats_per_bar * 2)
    melody = [(i * 0.5, 0.5, SCALE[i % len(SCALE)], 80) for i in range(eighths)]
    chords = []
    for b in range(bars):
        tones = PROGRESSION[b % 4]
        pitches = voicing(tones) if voicing else tones
        chords += [(b * beats_per_bar, beats_per_bar, p, 60) for p in pitches]
    mid.tracks.append(line(melody, melody_channel))
    mid.tracks.append(line(chords, chord_channel))
    mid.save(path)
    return path


def every_octave(tones):
    """A chord voiced in every octave of the piano: 20-odd notes at once."""
    pcs = {t % 12 for t in tones}
    return [p for p in range(21, 109) if p % 12 in pcs]


def test_midi_import_takes_what_it_can_and_says_why_it_skips_the_rest(tmp_path):
    from app.learn.corpus import load_corpus, midi_file_to_song

    folder = tmp_path / "midi"
    folder.mkdir()
    write_piece(folder / "plain.mid")
    write_piece(folder / "waltz.mid", signature=(3, 4))
    write_piece(folder / "seven.mid", signature=(7, 8))
    write_piece(folder / "tempo_changes.mid", tempos=[(0, 70.0), (8, 140.0), (16, 95.5), (20, 60.0)],
                signatures=[(0, (4, 4)), (24, (3, 4)), (27, (4, 4))])
    write_piece(folder / "huge_chords.mid", voicing=every_octave)
    write_piece(folder / "never_released.mid", note_offs=False)
    write_piece(folder / "cluster.mid", voicing=lambda tones: list(range(21, 109)), melody_channel=1)
    write_piece(folder / "drums.mid", melody_channel=9, chord_channel=9)
    write_piece(folder / "controls.mid", controls_only=True)
    whole = (folder / "plain.mid").read_bytes()
    (folder / "truncated.mid").write_bytes(whole[: len(whole) * 2 // 3])
    import mido

    mido.MidiFile(type=1).save(folder / "no_tracks.mid")
    (folder / "empty.mid").write_bytes(b"")
    (folder / "noise.midi").write_bytes(os.urandom(500))
    os.mkfifo(folder / "pipe.mid")
    (folder / "gone.mid").symlink_to(folder / "nowhere.mid")

    corpus = load_corpus(folder, jobs=1, use_cache=False)

    imported = {p.name for p in corpus.pieces}
    reasons = dict(corpus.skipped)
    assert imported == {"plain.mid", "waltz.mid", "seven.mid", "tempo_changes.mid", "huge_chords.mid",
                        "never_released.mid"}
    assert reasons["cluster.mid"].startswith("no harmony found")
    assert reasons["drums.mid"].startswith("drums only")
    assert reasons["controls.mid"].startswith("no notes")
    assert reasons["truncated.mid"].startswith("truncated")
    assert reasons["no_tracks.mid"] == "no tracks"
    assert reasons["empty.mid"] == "empty file"
    assert reasons["noise.midi"].startswith("not a readable MIDI file")
    assert reasons["pipe.mid"] == "not a regular file"
    assert reasons["gone.mid"] == "broken symlink"
    assert len(imported) + len(reasons) == 15
    first = corpus.summary().splitlines()[0]
    assert first.startswith("6 pieces imported") and first.endswith("9 skipped")
    assert all(f"skipped {name}: {why}" in corpus.summary() for name, why in reasons.items())

    # Imported correctly, not just imported: metre, positions, onsets in beats.
    pieces = {p.name: p for p in corpus.pieces}
    from app.learn import encoding

    waltz = midi_file_to_song(folder / "waltz.mid")
    seven = midi_file_to_song(folder / "seven.mid")
    assert waltz.time_signature == (3, 4) and seven.time_signature == (7, 8)
    assert pieces["waltz.mid"].melody[:, 4].max() < 12  # 12 16ths to a bar of 3/4
    assert set(pieces["seven.mid"].melody[:, 4]) == set(range(0, 14, 2))  # 8ths in a 14-16th bar
    changes = midi_file_to_song(folder / "tempo_changes.mid")
    assert changes.time_signature == (4, 4)  # the signature that lasts longest
    assert [n.start for n in changes.melody()[:6]] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]  # tempo moves no note
    assert changes.melody()[-1].start == 8 * 4 - 0.5
    huge = midi_file_to_song(folder / "huge_chords.mid")
    assert [c.symbol for c in huge.chords[:4]] == ["C", "Am", "F", "G"]
    held = midi_file_to_song(folder / "never_released.mid")
    # Each note lasts until the next one starts (the very last one, struck as the track ends, has no length).
    assert len(held.melody()) == 63 and {n.duration for n in held.melody()} == {0.5}
    assert pieces["plain.mid"].melody.shape[1] == 6 and len(pieces["plain.mid"].chords) >= 8
    assert encoding.VOCAB.note > pieces["huge_chords.mid"].melody[:, 0].max()
