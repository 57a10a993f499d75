"""`batch`: a small real release (3 tracks of 20 s, 48 kHz 24-bit), its files, manifest, tags, cover, mix, rerun,
a forced failure, regeneration, and the originality guard. Training windows are given explicitly
(a tiny set), so no test imports the Bach corpus."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import soundfile as sf

from app.deliver.names import ascii_name
from app.deliver.tags import wav_chunks
from app.music import theory
from app.release.batch import produce_release
from app.release.manifest import new_release
from app.release.request import BatchRequest, request_from_args, validate_request
from app.release.track import FAIL_HOOK_ENV
from app.errors import BadValueError
from app.release.originality import check_song, passage_hashes, training_windows, windows_of_melodies
from app.music.song import Chord, Note, Part, Song, chords_to_part

# A made-up "training melody": 40 notes, wandering in C major.
TRAINING_PITCHES = [60, 62, 64, 65, 67, 65, 64, 62, 64, 67, 72, 71, 69, 67, 65, 64, 62, 60, 59, 60, 64, 67, 69, 67,
                    65, 69, 72, 74, 72, 71, 67, 65, 64, 65, 62, 64, 60, 62, 59, 60]
TINY_WINDOWS = windows_of_melodies([TRAINING_PITCHES])


def _song(pitches: list[int], key: int = 0, mode: str = "major") -> Song:
    notes = [Note(p, i * 1.0, 0.9) for i, p in enumerate(pitches)]
    bars = len(pitches) // 4 + 1
    chords = [Chord((key + [0, 5, 7, 0][b % 4]) % 12, "maj7", b * 4.0, 4.0) for b in range(bars)]
    song = Song(80.0, key, mode, (4, 4), chords=chords, parts={"melody": Part("melody", notes)})
    return song.with_part(chords_to_part(chords))


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("releases")
    req = validate_request(BatchRequest(count=3, minutes=20 / 60, jobs=2, out=out, formats=("wav", "mp3", "flac"),
                                        artist="Night Owl", album="Test Tapes", seed=1, mix_minutes=1.0, crossfade=3.0,
                                        sample_rate=48000, bit_depth=24))
    code, folder, manifest = produce_release(req, windows=TINY_WINDOWS)
    return req, code, folder, manifest.to_json()  # what manifest.json holds


def test_release_has_every_file_and_a_consistent_manifest(release):
    req, code, folder, manifest = release
    assert code == 0 and folder.parent == req.out
    rows = manifest["tracks"]
    assert [r["status"] for r in rows] == ["done"] * 3
    for name in ("cover.jpg", "manifest.json", "manifest.csv", "compliance.md", "mix.wav", "tracklist.txt"):
        assert (folder / name).is_file(), name
    assert (manifest["release"]["sample_rate"], manifest["release"]["bit_depth"]) == (48000, 24)
    assert manifest["release"]["ascii_names"] is True  # batch's default
    for r in rows:
        assert set(r["files"]) == {"wav", "mp3", "flac"}
        for fmt, fname in r["files"].items():
            # '01_Title_Words.wav': letters, digits, '-' and '_' only, the title's words joined by '_'
            assert (folder / fname).is_file() and re.fullmatch(rf"[A-Za-z0-9_-]+\.{fmt}", fname), fname
            assert fname == f"{ascii_name(str(r['track_number']).zfill(2) + ' ' + r['title'])}.{fmt}"
    assert not list(folder.rglob("*.partial*")) and not list(folder.rglob(".*.reserved"))
    assert (folder / "work" / "midi").is_dir()  # the pipeline's own files stay in work/...
    assert not list((folder / "work").rglob("*_melody.wav"))  # ...but without --stems no stem is written at all
    # The json on disk is the manifest returned, and the csv says the same.
    assert json.loads((folder / "manifest.json").read_text()) == manifest
    with open(folder / "manifest.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 3
    for r, c in zip(rows, table):
        assert int(c["track_number"]) == r["track_number"] and c["status"] == r["status"] == "done"
        assert c["title"] == r["title"] and c["artist"] == "Night Owl" and c["album"] == "Test Tapes"
        assert c["file_wav"] == r["files"]["wav"] and c["file_flac"] == r["files"]["flac"]
        assert float(c["lufs"]) == r["lufs"] and float(c["true_peak_dbtp"]) == r["true_peak_dbtp"]
        assert float(c["bpm"]) == r["bpm"] and c["key"] == r["key"] and c["mode"] == r["mode"]
        assert float(c["colour"]) == r["colour"] == r["plan"]["colour"] and float(c["energy"]) == r["energy"]
        assert int(c["seed"]) == r["seed"] and float(c["duration_s"]) == r["duration_s"]
        assert c["isrc"] == "" and c["compliance"] == "pass" and c["error"] == ""
    assert manifest["summary"] == {"tracks": 3, "done": 3, "failed": 0, "pending": 0, "compliance_pass": 3}
    report = (folder / "compliance.md").read_text()
    assert report.count("| PASS |") == 3


def test_titles_and_choices_are_distinct(release):
    _, _, _, manifest = release
    rows = manifest["tracks"]
    titles = [r["title"] for r in rows]
    assert len({t.casefold() for t in titles}) == 3
    assert len({(r["key"], r["mode"], r["bpm"]) for r in rows}) == 3
    assert len({r["seed"] for r in rows}) == 3


def test_finals_meet_the_delivery_spec(release):
    import pyloudnorm

    _, _, folder, manifest = release
    for r in manifest["tracks"]:
        path = folder / r["files"]["wav"]
        info = sf.info(str(path))
        assert info.samplerate == 48000 and info.subtype == "PCM_24" and info.channels == 2
        assert [cid for cid, _ in wav_chunks(path)] == ["fmt ", "data"]  # distributor-safe: no metadata chunk
        assert sf.info(str(folder / r["files"]["flac"])).subtype == "PCM_24"
        audio, rate = sf.read(str(path))
        assert abs(pyloudnorm.Meter(rate).integrated_loudness(audio) + 14.0) <= 0.5
        assert np.max(np.abs(audio)) < 10 ** (-1.0 / 20)  # sample peak under the -1 dBTP ceiling
        assert abs(len(audio) / rate - (20 + 2)) <= 4 * 60 / r["bpm"] + 0.5  # 20 s + tail, within a bar
        assert r["compliance"]["pass"] and r["true_peak_dbtp"] <= -1.0
        assert r["compliance"]["checks"]["wav_chunks"] and r["compliance"]["checks"]["sample_rate"]


def test_tags_and_embedded_cover(release):
    from mutagen.flac import FLAC
    from mutagen.id3 import ID3
    from mutagen.mp3 import MP3
    from PIL import Image

    _, _, folder, manifest = release
    cover = (folder / "cover.jpg").read_bytes()
    with Image.open(folder / "cover.jpg") as im:
        assert im.format == "JPEG" and im.size == (3000, 3000) and im.mode == "RGB"
        pixels = np.asarray(im.convert("L").resize((100, 100)), dtype=np.float32)
    assert pixels.std() > 10  # a picture, not a flat fill
    for r in manifest["tracks"]:
        id3 = ID3(folder / r["files"]["mp3"])
        assert str(id3["TIT2"]) == r["title"] and str(id3["TPE1"]) == "Night Owl" and str(id3["TALB"]) == "Test Tapes"
        assert str(id3["TRCK"]) == f"{r['track_number']}/3"
        assert int(str(id3["TBPM"])) == round(r["bpm"]) and str(id3["TKEY"]).startswith(r["key"])
        assert str(id3["TCON"]) == "Lo-fi Hip Hop"
        apic = id3.getall("APIC")
        assert len(apic) == 1 and apic[0].mime == "image/jpeg" and apic[0].data == cover
        flac = FLAC(folder / r["files"]["flac"])
        assert flac["title"] == [r["title"]] and flac["tracknumber"] == [str(r["track_number"])]
        assert flac["album"] == ["Test Tapes"] and flac["artist"] == ["Night Owl"]
        assert flac["bpm"] == [str(round(r["bpm"]))] and flac["key"][0].startswith(r["key"])
        assert flac.pictures[0].type == 3 and flac.pictures[0].width == 3000 and flac.pictures[0].data == cover
        assert MP3(folder / r["files"]["mp3"]).info.sample_rate == 48000


def test_mix_and_tracklist(release):
    _, _, folder, manifest = release
    info = sf.info(str(folder / "mix.wav"))
    assert info.samplerate == 48000 and info.subtype == "PCM_24" and abs(info.frames / 48000 - 60.0) < 0.01
    assert [cid for cid, _ in wav_chunks(folder / "mix.wav")] == ["fmt ", "data"]
    audio, _ = sf.read(str(folder / "mix.wav"))
    assert np.max(np.abs(audio)) < 10 ** (-1.0 / 20)
    lines = (folder / "tracklist.txt").read_text().splitlines()
    titles = [r["title"] for r in manifest["tracks"]]
    assert lines[0] == f"00:00 {titles[0]}"
    assert all(re.fullmatch(r"\d\d:\d\d .+", line) for line in lines)
    assert [line[6:] for line in lines[:3]] == titles  # in release order, then again from the top
    stamps = [int(line[:2]) * 60 + int(line[3:5]) for line in lines]
    assert stamps == sorted(stamps) and stamps[-1] < 60
    # Each next track starts about one track length (minus the crossfade) later.
    assert 15 <= stamps[1] - stamps[0] <= 23


def test_rerun_is_a_no_op(release):
    req, _, folder, manifest = release
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    code, folder2, manifest2 = produce_release(req, windows=TINY_WINDOWS)
    assert code == 0 and folder2 == folder and manifest2.to_json() == manifest
    after = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    assert after == before


def test_failed_track_is_recorded_and_the_rest_complete_then_resume(tmp_path, models, monkeypatch):
    from app.music.compose import compose_song

    req = validate_request(BatchRequest(count=3, minutes=0.4, jobs=1, out=tmp_path, seed=7, formats=("wav",)))
    # Make track 3's first seed a "copy" of the training data, so the guard must regenerate it.
    _, plan_manifest = new_release(req)
    plan = plan_manifest.to_json()["tracks"][2]["plan"]
    first = compose_song(models, key=theory.pitch_class(plan["key"]), mode=plan["mode"], bpm=plan["bpm"],
                         minutes=plan["minutes"], seed=plan["seed"], temperature=plan["temperature"])
    from app.release.originality import melody_pitches

    copied = windows_of_melodies([melody_pitches(first)])
    assert copied  # at least 16 melody notes
    windows = TINY_WINDOWS | copied

    monkeypatch.setenv(FAIL_HOOK_ENV, "2")
    code, folder, manifest = produce_release(req, windows=windows, models=models)
    rows = manifest.to_json()["tracks"]
    assert code == 1
    assert [r["status"] for r in rows] == ["done", "failed", "done"]
    assert "forced failure" in rows[1]["error"] and rows[1]["files"] == {}
    assert not list(folder.glob("02 - *"))
    for r in (rows[0], rows[2]):
        assert (folder / r["files"]["wav"]).is_file()
    # Track 3 was made again with a new seed, and the manifest and report say so.
    assert rows[2]["regenerated"][0]["seed"] == plan["seed"] and rows[2]["seed"] != plan["seed"]
    assert "training melodies" in rows[2]["regenerated"][0]["reason"]
    report = (folder / "compliance.md").read_text()
    assert "Track 2 failed" in report and "originality guard" in report and f"seed {plan['seed']}" in report
    with open(folder / "manifest.csv", newline="") as f:
        assert [c["status"] for c in csv.DictReader(f)] == ["done", "failed", "done"]

    # The same command again finishes track 2 and leaves the others alone.
    monkeypatch.delenv(FAIL_HOOK_ENV)
    kept = {p: p.stat().st_mtime_ns for r in (rows[0], rows[2]) for p in [folder / r["files"]["wav"]]}
    code, _, manifest = produce_release(req, windows=windows, models=models)
    manifest = manifest.to_json()
    assert code == 0 and [r["status"] for r in manifest["tracks"]] == ["done"] * 3
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    # A final that changed on disk is noticed and remade.
    victim = folder / manifest["tracks"][0]["files"]["wav"]
    victim.write_bytes(victim.read_bytes()[:-1000])
    code, _, manifest = produce_release(req, windows=windows, models=models)
    assert code == 0 and sf.info(str(victim)).frames > 0
    assert manifest.tracks[0].file_checks[victim.name].bytes == victim.stat().st_size


def test_originality_guard_rejects_a_copied_training_melody():
    from app.learn.corpus import song_to_piece

    training = _song(TRAINING_PITCHES)
    windows = training_windows([song_to_piece(training, "training")])  # through the corpus encoding
    assert windows == TINY_WINDOWS  # the corpus encoding keeps the melody's intervals

    copied = _song([p + 5 for p in TRAINING_PITCHES[:20]] + [70, 72, 74, 75, 77], key=5)  # transposed copy
    verdict = check_song(copied, windows)
    assert not verdict.ok and verdict.copied_windows >= 1 and "training melodies" in verdict.reason

    rng = np.random.default_rng(3)
    own = _song([int(x) for x in 60 + np.cumsum(rng.choice([-3, -2, 2, 3, 4], size=40)) % 24])
    assert check_song(own, windows).ok


def test_originality_guard_rejects_a_twin_passage():
    a = _song(TRAINING_PITCHES)
    passages = passage_hashes(a)
    assert passages
    twin = _song([p + 2 for p in TRAINING_PITCHES], key=2)  # the same passage in another key
    verdict = check_song(twin, set(), passages)
    assert not verdict.ok and verdict.shared_passages >= 1 and "8-bar" in verdict.reason
    other = _song(list(reversed(TRAINING_PITCHES)))
    assert check_song(other, set(), passages).ok


def test_titles_are_unique_across_releases_in_a_folder(tmp_path):
    from app.release.titles import make_titles, title_key, titles_in_folder

    first = make_titles(40, seed=1)
    assert len({title_key(t) for t in first}) == 40 and make_titles(40, seed=1) == first
    (tmp_path / "Old").mkdir()
    (tmp_path / "Old" / "manifest.json").write_text(json.dumps(
        {"release": {"album": "Old"}, "tracks": [{"title": t} for t in first]}))
    taken, albums = titles_in_folder(tmp_path)
    assert taken == set(first) and albums == {"Old"}
    second = make_titles(40, seed=1, taken=taken)
    assert not {title_key(t) for t in second} & {title_key(t) for t in first}


def test_cover_varies_with_the_seed(tmp_path):
    from PIL import Image

    from app.release.cover import make_cover

    a = np.asarray(Image.open(make_cover(tmp_path / "a.jpg", "Amber Windows", "Night Owl", seed=1, size=600)), np.float32)
    b = np.asarray(Image.open(make_cover(tmp_path / "b.jpg", "Amber Windows", "Night Owl", seed=2, size=600)), np.float32)
    assert a.shape == b.shape == (600, 600, 3)
    assert np.abs(a - b).mean() > 10


def test_flags_and_preset(tmp_path):
    from app.main import build_parser

    preset = tmp_path / "release.toml"
    preset.write_text('count = 5\nminutes_range = [1.5, 2.5]\nkeys = ["C", "Eb"]\nbpm_range = "72-80"\n'
                      'melody_instruments = ["Vibraphone", "Celesta"]\nformats = ["wav", "flac"]\n')
    args = build_parser().parse_args(["batch", "--preset", str(preset), "--count", "4", "--out", str(tmp_path),
                                      "--modes", "minor", "--seed", "3"])
    req = request_from_args(args)
    assert req.count == 4 and req.minutes is None and req.minutes_range == (1.5, 2.5)
    assert req.keys == ("C", "Eb") and req.modes == ("minor",) and req.bpm_range == (72.0, 80.0)
    assert req.formats == ("wav", "flac") and req.melody_instruments == ("Vibraphone", "Celesta")
    _, manifest = new_release(req)
    plans = [r.plan for r in manifest.tracks]
    assert {p.key for p in plans} == {"C", "Eb"} and {p.mode for p in plans} == {"minor"}
    assert all(72 <= p.bpm <= 80 and 1.5 <= p.minutes <= 2.5 for p in plans)
    for bad in (["--melody-instruments", "Kazoo Orchestra"], ["--bpm-range", "90-70"], ["--formats", "ogg"],
                ["--keys", "H"], ["--beats", "no_such_loop"]):
        with pytest.raises(BadValueError):
            request_from_args(build_parser().parse_args(["batch", "--out", str(tmp_path), *bad]))
    (tmp_path / "bad.toml").write_text("colour = 'blue'\n")
    with pytest.raises(BadValueError, match="colour"):
        request_from_args(build_parser().parse_args(["batch", "--preset", str(tmp_path / "bad.toml")]))


def test_release_videos_per_track_and_for_the_mix(release, tmp_path):
    """batch --video (app/release/videos.py) on a copy of the release, cut short to keep it quick: one
    track's video and the mix's with its tracklist as chapters, checked with ffprobe; a rerun keeps them."""
    import shutil
    from dataclasses import replace

    from app.release.manifest import read_manifest
    from app.release.videos import make_release_videos
    from tests.fixtures.checks import probe

    _, _, folder, _ = release
    copy = tmp_path / "release"
    shutil.copytree(folder, copy)
    manifest = read_manifest(copy / "manifest.json")
    manifest.tracks = manifest.tracks[:1]
    mix, rate = sf.read(str(copy / "mix.wav"), dtype="int16")
    seconds = 22.0  # the second track starts 15-23 s in: two chapters
    sf.write(str(copy / "mix.wav"), mix[: int(seconds * rate)], rate, subtype="PCM_16")
    manifest.mix = replace(manifest.mix, duration_s=seconds)
    made = make_release_videos(copy, manifest, "landscape")
    track_video = copy / "video" / f"{manifest.tracks[0].files['wav'][:-4]}.mp4"
    assert made == [track_video, copy / "mix.mp4"]
    info = probe(copy / "mix.mp4")
    streams = {s["codec_type"]: s for s in info["streams"]}
    assert (streams["video"]["codec_name"], streams["video"]["width"], streams["audio"]["codec_name"],
            streams["audio"]["sample_rate"]) == ("h264", 1920, "aac", "48000")
    assert abs(float(info["format"]["duration"]) - seconds) < 0.15
    titles = [line[6:] for line in (copy / "tracklist.txt").read_text().splitlines()]
    assert [c["tags"]["title"] for c in info["chapters"]] == titles[:2]
    text = (copy / "youtube.txt").read_text()
    assert f"Tracklist:\n00:00 {titles[0]}\n" in text and "Test Tapes - Night Owl" in text
    assert abs(float(probe(track_video)["format"]["duration"]) - manifest.tracks[0].duration_s) < 0.15
    assert track_video.with_suffix(".youtube.txt").exists()
    assert make_release_videos(copy, manifest, "landscape") == []  # made already: kept
    manifest.mix = replace(manifest.mix, duration_s=3.0, fingerprint="another mix")
    sf.write(str(copy / "mix.wav"), mix[: 3 * rate], rate, subtype="PCM_16")
    assert make_release_videos(copy, manifest, "landscape") == [copy / "mix.mp4"]  # the mix changed: made again
    assert abs(float(probe(copy / "mix.mp4")["format"]["duration"]) - 3.0) < 0.15
def test_stems_flag_delivers_each_tracks_stems_that_sum_to_its_pre_master_mix(tmp_path):
    """batch --stems (issue 15 item 4): stems/<track>/<layer>.wav per track, float, in the manifest
    with their checks, and the per-part loudness of section A in each row."""
    from app.main import build_parser

    args = build_parser().parse_args(["batch", "--count", "1", "--minutes", "0.2", "--jobs", "1", "--seed", "3",
                                      "--out", str(tmp_path), "--stems"])
    req = request_from_args(args)
    assert req.stems and "stems" not in req.identity()  # how it is delivered, not which release
    code, folder, manifest = produce_release(req, windows=TINY_WINDOWS)
    row = manifest.to_json()["tracks"][0]
    assert code == 0 and row["status"] == "done"
    stems = {kind: name for kind, name in row["files"].items() if kind.startswith("stem_")}
    assert {"stem_melody", "stem_chords", "stem_bass", "stem_drums"} <= set(stems)
    base = row["files"]["wav"].rsplit(".", 1)[0]
    total = 0
    for kind, name in stems.items():
        assert name == f"stems/{base}/{kind[5:]}.wav" and name in row["file_checks"]
        info = sf.info(str(folder / name))
        assert info.subtype == "FLOAT" and info.samplerate == 44100
        total = total + sf.read(str(folder / name), dtype="float32")[0]
    assert np.abs(total).max() > 0.01  # the stems are the mix's layers, at the mix's level
    assert -4.0 <= row["levels"]["melody_vs_chords"] <= 1.0
