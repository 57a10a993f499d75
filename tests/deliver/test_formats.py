"""Delivery formats (issue 15, items 1-3): the chunks of the WAVs (parsed from the RIFF itself), 16 or
24 bits at 44.1 or 48 kHz, the noise-shaped dither of 16-bit files, the loudness and true-peak targets
at both rates, ASCII file names with the real title in the tags, and the sidecar and replay keeping
the format."""

from __future__ import annotations

import json
import re
import struct

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audio import master as M
from app.config import CEILING_DBTP, TARGET_LUFS
from app.deliver import export
from app.deliver.names import OutputDirs, ascii_name, reserve_name
from app.deliver.tags import strip_wav_metadata, wav_chunks
from app.errors import BadValueError, OutputError
from app.spec import TrackSpec

TAGS = {"title": "Café ☕ Night", "artist": "lofi bot", "album": "Tests", "bpm": 82, "key": "Am",
        "genre": "Lo-fi", "comment": "seed 7", "tracknumber": "3/10"}


def music(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """A few seconds of chords with a pulse and some noise: enough to master (stereo float32)."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    tone = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate((110.0, 220.0, 277.2, 329.6, 440.0)))
    pulse = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * 2.0 * t))
    left = 0.1 * tone * (0.6 + 0.4 * pulse) + 0.01 * rng.standard_normal(t.size)
    return np.stack([left, np.roll(left, 50)]).astype(np.float32)


def chunk_ids(path) -> list[str]:
    return [cid for cid, _ in wav_chunks(path)]


# --- item 1: the chunks --------------------------------------------------------------------------


def test_a_tagged_wav_has_its_info_chunk_before_the_data_and_nothing_after(tmp_path):
    audio = music(1.0, 44100)
    (path,) = export.export_track(audio, 44100, tmp_path / "song", tags=TAGS)
    assert chunk_ids(path) == ["fmt ", "LIST", "data"]
    # the data chunk runs to the very end of the file: nothing follows the audio
    (*_, (_, data_size)) = wav_chunks(path)
    assert path.stat().st_size == 12 + sum(8 + size + size % 2 for _, size in wav_chunks(path))
    assert data_size == audio.shape[1] * 2 * 2
    raw = path.read_bytes()
    assert raw[raw.index(b"LIST") + 8:raw.index(b"LIST") + 12] == b"INFO"
    with sf.SoundFile(path) as f:  # libsndfile reads the INFO strings back
        assert (f.title, f.artist, f.album, f.comment, f.tracknumber) == (
            "Café ☕ Night", "lofi bot", "Tests", "seed 7", "3/10")


def test_an_untagged_wav_holds_only_fmt_and_data(tmp_path):
    (path,) = export.export_track(music(0.5, 48000), 48000, tmp_path / "plain", bit_depth=24)
    assert chunk_ids(path) == ["fmt ", "data"]


def test_strip_wav_metadata_leaves_fmt_and_data_with_the_same_audio(tmp_path):
    (path,) = export.export_track(music(1.0, 44100), 44100, tmp_path / "song", tags=TAGS)
    before, rate = sf.read(path, dtype="int16")
    # a WAV as other tools write them: an id3 chunk after the data, an odd-sized chunk before it
    raw = bytearray(path.read_bytes())
    data_at = raw.index(b"data")
    odd = b"junk" + struct.pack("<I", 3) + b"abc\0"
    id3 = b"id3 " + struct.pack("<I", 10) + b"ID3\x03\0\0\0\0\0\0"
    raw = raw[:data_at] + odd + raw[data_at:] + id3
    raw[4:8] = struct.pack("<I", len(raw) - 8)
    path.write_bytes(bytes(raw))
    assert chunk_ids(path) == ["fmt ", "LIST", "junk", "data", "id3 "]

    strip_wav_metadata(path)
    assert chunk_ids(path) == ["fmt ", "data"]
    after, rate_after = sf.read(path, dtype="int16")
    assert rate_after == rate and np.array_equal(after, before)
    assert not list(tmp_path.glob(".*partial*"))


def test_chunks_of_a_file_that_is_not_a_wav_are_a_clear_error(tmp_path):
    (tmp_path / "x.wav").write_bytes(b"ID3 not a riff file at all")
    with pytest.raises(OutputError, match="not a RIFF WAVE"):
        wav_chunks(tmp_path / "x.wav")


# --- item 2: bit depth and rate --------------------------------------------------------------------


@pytest.mark.parametrize("rate", [44100, 48000])
@pytest.mark.parametrize("bits", [16, 24])
def test_every_format_is_written_at_the_rate_and_depth_asked_with_the_targets_held(tmp_path, rate, bits):
    from mutagen.mp3 import MP3

    mastered = M.master(music(4.0, rate), rate).audio
    paths = export.export_track(mastered, rate, tmp_path / "t", ("wav", "flac", "mp3"), TAGS, bit_depth=bits)
    for path in paths[:2]:
        info = sf.info(path)
        assert (info.samplerate, info.subtype, info.frames) == (rate, f"PCM_{bits}", mastered.shape[1])
        audio, _ = sf.read(path, dtype="float32", always_2d=True)
        assert abs(M.loudness_lufs(audio.T, rate) - TARGET_LUFS) < 0.1
        assert M.true_peak_dbtp_full(audio.T, rate) <= CEILING_DBTP + 0.05
    assert MP3(paths[2]).info.sample_rate == rate


def test_16_bit_noise_is_shaped_away_from_the_midrange(tmp_path):
    """The requantisation error of a 16-bit file, against plain TPDF dither: well below it where
    hearing is keenest (1-5 kHz), above it only in the top octave."""
    rate, n = 44100, 1 << 17
    quiet = (0.02 * np.sin(2 * np.pi * 440.0 * np.arange(n) / rate)).astype(np.float32)
    (path,) = export.export_track(np.stack([quiet, quiet]), rate, tmp_path / "quiet")
    pcm, _ = sf.read(path, dtype="int16")
    error = pcm[:, 0] - quiet.astype(np.float64) * 32767
    rng = np.random.default_rng(1)
    flat = np.rint(quiet * 32767.0 + rng.random(n) - rng.random(n)) - quiet.astype(np.float64) * 32767
    freqs = np.fft.rfftfreq(n, 1 / rate)

    def band_db(e, lo, hi):
        power = np.abs(np.fft.rfft(e * np.hanning(n))) ** 2
        return 10 * np.log10(power[(freqs >= lo) & (freqs < hi)].mean())

    assert band_db(error, 1000, 5000) < band_db(flat, 1000, 5000) - 8
    assert band_db(error, 17000, 22000) > band_db(flat, 17000, 22000) + 8
    assert np.abs(error).max() < 16  # a few LSB, never a burst
    # dithered (not truncated), and the same every time
    assert np.unique(np.rint(error)).size > 5
    (again,) = export.export_track(np.stack([quiet, quiet]), rate, tmp_path / "again")
    assert again.read_bytes() == path.read_bytes()


def test_24_bit_keeps_the_samples_to_within_a_24_bit_step(tmp_path):
    audio = music(0.5, 48000)
    (path,) = export.export_track(audio, 48000, tmp_path / "deep", bit_depth=24)
    back, _ = sf.read(path, dtype="float64", always_2d=True)
    assert np.abs(back.T - audio).max() < 2.5 / 2**23


@pytest.mark.parametrize("rate, bits", [(22050, 16), (96000, 24), (44100, 20), (48000, 32), (44100, True)])
def test_other_rates_and_depths_are_refused(tmp_path, rate, bits):
    with pytest.raises(BadValueError, match="44100 or 48000|16 or 24"):
        export.export_track(np.zeros((2, 1000), np.float32), rate, tmp_path / "x", bit_depth=bits)
    with pytest.raises(BadValueError, match="44100 or 48000|16 or 24"):
        TrackSpec(sample_rate=rate, bit_depth=bits).validate()
    assert list(tmp_path.iterdir()) == []


def test_flags_reach_the_spec_and_replay_may_change_only_the_delivery(tmp_path, capsys):
    from app.main import _replay_spec, _spec_from_args, build_parser, main

    parser = build_parser()

    args = parser.parse_args(["generate_music", "--sample-rate", "48000", "--bit-depth", "24", "--ascii-names"])
    spec = _spec_from_args(args)
    assert (spec.sample_rate, spec.bit_depth, spec.ascii_names) == (48000, 24, True)
    default = _spec_from_args(parser.parse_args(["generate_music"]))
    assert (default.sample_rate, default.bit_depth, default.ascii_names) == (44100, 16, False)
    # a replay takes the recorded format, and the flags may change it
    recorded = TrackSpec(seed=3, sample_rate=48000, bit_depth=24)
    same = _replay_spec(parser.parse_args(["generate_music", "--replay", "x.json"]), TrackSpec(**vars(recorded)))
    assert (same.sample_rate, same.bit_depth) == (48000, 24)
    other = _replay_spec(parser.parse_args(["generate_music", "--replay", "x.json", "--bit-depth", "16"]),
                         TrackSpec(**vars(recorded)))
    assert (other.sample_rate, other.bit_depth) == (48000, 16)
    with pytest.raises(SystemExit) as exit_info:
        main(["generate_music", "--sample-rate", "96000"])
    assert exit_info.value.code == 2
    assert "invalid choice: 96000 (choose from 44100, 48000)" in capsys.readouterr().err


@pytest.mark.parametrize("field, value, message", [
    ("sample_rate", "48000", "spec.sample_rate' must be a whole number"),
    ("bit_depth", 20, "bit depth must be 16 or 24"),
    ("ascii_names", "yes", "spec.ascii_names' must be true or false"),
])
def test_a_replay_file_with_a_bad_format_names_the_field(field, value, message):
    data = {**TrackSpec(seed=1).to_json(), field: value}
    with pytest.raises(BadValueError, match=re.escape(message)):
        TrackSpec.from_json(data)


def test_a_sidecar_from_before_the_formats_replays_at_44k1_16_bit():
    data = TrackSpec(seed=1).to_json()
    for name in ("sample_rate", "bit_depth", "ascii_names"):
        data.pop(name)
    spec = TrackSpec.from_json(data)
    assert (spec.sample_rate, spec.bit_depth, spec.ascii_names) == (44100, 16, False)


# --- item 3: ASCII names ------------------------------------------------------------------------------


@pytest.mark.parametrize("title, name", [
    ("01 Title Words", "01_Title_Words"), ("03 Café au Lait", "03_Cafe_au_Lait"), ("Rain - Night", "Rain-Night"),
    ("Straße Øre", "Strasse_Ore"), ("  tea / dusk…  ", "tea_dusk"), ("☕☕", "track"), ("日本", "track"),
])
def test_ascii_names(title, name):
    assert ascii_name(title) == name


@settings(max_examples=80, deadline=None, database=None)
@given(st.text(max_size=200))
def test_ascii_name_properties(text):
    name = ascii_name(text)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name) and len(name) <= 80
    assert ascii_name(name) == name


def test_reserve_name_gives_ascii_names_and_numbers_them(tmp_path):
    dirs = OutputDirs.under(tmp_path)
    with reserve_name(dirs, "Café ☕ Night", False, ascii_names=True) as first:
        (dirs.results / f"{first}.wav").parent.mkdir(parents=True, exist_ok=True)
        (dirs.results / f"{first}.wav").write_bytes(b"")
    with reserve_name(dirs, "Café ☕ Night", False, ascii_names=True) as second:
        pass
    assert (first, second) == ("Cafe_Night", "Cafe_Night-2")


def test_a_48k_24_bit_track_with_ascii_names(tmp_path, models):
    """The whole pipeline at 48 kHz: files at that rate and depth, loudness and true peak on target,
    an ASCII file name with the real title in the tags, the sidecar recording the format, and its
    replay spec asking for the same."""
    from mutagen.flac import FLAC

    from app.deliver.replay import load_replay
    from app.pipeline import run_track

    spec = TrackSpec(name="Café ☕ Night", minutes=0.1, seed=5, key="F", mode="minor", beat="none", ambience=[],
                     picture=False, formats=("wav", "flac"), sample_rate=48000, bit_depth=24, ascii_names=True)
    result = run_track(spec, models=models, dirs=OutputDirs.under(tmp_path))
    assert result.name == "Cafe_Night"
    wav, flac = result.files["wav"], result.files["flac"]
    assert wav.name == "Cafe_Night.wav"
    for path in (wav, flac):
        info = sf.info(path)
        assert (info.samplerate, info.subtype) == (48000, "PCM_24")
    for kind, path in result.files.items():
        if kind.startswith("stem_"):
            assert sf.info(path).samplerate == 48000
    assert chunk_ids(wav) == ["fmt ", "LIST", "data"]
    with sf.SoundFile(wav) as f:
        assert f.title == "Café ☕ Night"
    assert FLAC(flac)["title"] == ["Café ☕ Night"]
    audio, rate = sf.read(wav, dtype="float32", always_2d=True)
    assert abs(M.loudness_lufs(audio.T, rate) - TARGET_LUFS) < 0.5
    assert M.true_peak_dbtp_full(audio.T, rate) <= CEILING_DBTP + 0.05
    side = json.loads(result.files["sidecar"].read_text(encoding="utf-8"))
    assert (side["sample_rate"], side["bit_depth"]) == (48000, 24)
    assert side["duration_s"] == pytest.approx(audio.shape[0] / 48000, abs=1e-3)
    replayed = load_replay(result.files["sidecar"])
    assert (replayed.sample_rate, replayed.bit_depth, replayed.ascii_names) == (48000, 24, True)
