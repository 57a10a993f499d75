"""Bad values and bad places (issue 7): replay files, out-of-range flags, hostile track names, output
folders that cannot be written, a full disk, and tracks that must never be touched."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.errors import BadValueError, OutputError
from app.main import main
from app.deliver.names import MAX_NAME, MAX_NAME_BYTES, OutputDirs, reserve_name, safe_name
from app.deliver.replay import SIDECAR_VERSION, load_replay
from app.pipeline import run_track
from app.spec import FIELD_TYPES, REPLAY_REQUIRED, TrackSpec
from tests.fixtures.checks import files_under

ROOT = Path(__file__).resolve().parents[2]


def quick_spec(name: str, **changes) -> TrackSpec:
    values = dict(name=name, minutes=0.1, seed=9, key="A", mode="minor", picture=False, formats=("wav", "flac"))
    values.update(changes)
    return TrackSpec(**values)


# --- --replay files ------------------------------------------------------------------------------


def sidecar_file(tmp_path: Path, data, name: str = "side.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def good_sidecar() -> dict:
    return {"version": SIDECAR_VERSION, "name": "x", "spec": TrackSpec(seed=5, key="F", mode="major").to_json()}


def test_a_good_sidecar_replays(tmp_path):
    spec = load_replay(sidecar_file(tmp_path, good_sidecar()))
    assert (spec.seed, spec.key, spec.mode) == (5, "F", "major")


@pytest.mark.parametrize("content, needle", [
    ("", "not valid JSON (line 1"),
    ("{\"version\": 1,", "not valid JSON"),
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ("[1, 2]", "expected a JSON object, got list"),
    ("null", "expected a JSON object"),
    ("{\"spec\": {}}", "missing field 'version'"),
    ("{\"version\": \"1\", \"spec\": {}}", "unknown version '1' in field 'version'"),
    ("{\"version\": 99, \"spec\": {}}", "unknown version 99"),
    ("{\"version\": 1, \"seed\": 5, \"spec\": {}}", "made by an older version of this tool (sidecar version 1"),
    ("{\"version\": true, \"spec\": {}}", "unknown version True"),
    ("{\"version\": 2}", "missing field 'spec'"),
    ("{\"version\": 2, \"spec\": [1]}", "field 'spec' must be an object, got a list"),
    ("{\"version\": 2, \"spec\": {\"bogus\": 1}}", "unknown field 'spec.bogus'"),
])
def test_malformed_replay_files_name_the_problem(tmp_path, content, needle):
    with pytest.raises(BadValueError) as info:
        load_replay(sidecar_file(tmp_path, content))
    assert needle in str(info.value) and str(tmp_path / "side.json") in str(info.value)


def test_unreadable_replay_files(tmp_path):
    (tmp_path / "bytes.json").write_bytes(b"\xff\xfe{\x00")
    for path, needle in ((tmp_path / "missing.json", "not found"), (tmp_path, "unreadable"),
                         (tmp_path / "bytes.json", "not UTF-8")):
        with pytest.raises(BadValueError, match=needle):
            load_replay(path)


@pytest.mark.parametrize("field", REPLAY_REQUIRED)
def test_replay_names_a_missing_field(tmp_path, field):
    data = good_sidecar()
    del data["spec"][field]
    with pytest.raises(BadValueError, match=f"missing field 'spec.{field}'"):
        load_replay(sidecar_file(tmp_path, data))


WRONG = {"a number": ["fast", True, [], {"a": 1}], "a string": [5, False, [], {"a": 1}],
         "true or false": ["yes", 1, []], "a whole number": [1.5, "7", True, []],
         "a list of [name, level_db]": [[["rain"]], [["rain", "loud"]], [[5, -20]], "rain", {"a": 1}],
         "a list of format names": ["wav", [1], {"a": 1}],
         "an object of part: take number": [1, ["melody"], {"melody": "2"}, {"drums": None}]}


@pytest.mark.parametrize("field", sorted(FIELD_TYPES))
def test_replay_names_a_field_of_the_wrong_type(tmp_path, field):
    kind = FIELD_TYPES[field][0]
    for wrong in WRONG[kind]:
        data = good_sidecar()
        data["spec"][field] = wrong
        with pytest.raises(BadValueError) as info:
            load_replay(sidecar_file(tmp_path, data))
        message = str(info.value)
        assert f"field 'spec.{field}' must be {kind}" in message, message
        if None in FIELD_TYPES[field]:
            assert "or null" in message
    if None not in FIELD_TYPES[field]:
        data = good_sidecar()
        data["spec"][field] = None
        with pytest.raises(BadValueError, match=re.escape(f"'spec.{field}' must be {kind}, got null")):
            load_replay(sidecar_file(tmp_path, data))


@pytest.mark.parametrize("field, value, needle", [
    ("minutes", 0, "minutes must be between 0.1 and 20"), ("bpm", 200, "bpm must be between 50 and 140"),
    ("temperature", 5, "temperature must be between 0.1 and 2"), ("swing", 0.1, "swing must be between 0.5 and 0.75"),
    ("key", "H", "unknown key 'H'"), ("mode", "locrian", "unknown mode"), ("seed", -3, "seed must be between 0"),
    ("formats", ["ogg"], "unknown format 'ogg'"), ("ambience", [["rain", 12]], "between -60 and 0 dB"),
    ("lofi_preset", "shiny", "unknown lo-fi preset 'shiny'"), ("name", "  ", "name must not be empty"),
    ("minutes", float("nan"), "'spec.minutes' must be a finite number"),
])
def test_replay_values_out_of_range(tmp_path, field, value, needle):
    data = good_sidecar()
    data["spec"][field] = value
    with pytest.raises(BadValueError, match=re.escape(needle)):
        load_replay(sidecar_file(tmp_path, data))


# --- command-line values ---------------------------------------------------------------------------


@pytest.mark.parametrize("argv, needle", [
    (["generate_music", "--yes", "--minutes", "0"], "minutes must be between 0.1 and 20, got 0"),
    (["generate_music", "--yes", "--minutes", "21"], "minutes must be between 0.1 and 20"),
    (["generate_music", "--yes", "--minutes", "nan"], "minutes must be between 0.1 and 20, got nan"),
    (["generate_music", "--minutes", "two"], "argument --minutes: expected a number from 0.1 to 20, got 'two'"),
    (["generate_music", "--yes", "--bpm", "49.9"], "bpm must be between 50 and 140"),
    (["generate_music", "--yes", "--bpm", "inf"], "bpm must be between 50 and 140, got inf"),
    (["generate_music", "--bpm", "fast"], "argument --bpm: expected a number from 50 to 140"),
    (["generate_music", "--yes", "--key", "H"], "unknown key 'H'; allowed: C, Db, D"),
    (["generate_music", "--yes", "--key", ""], "unknown key ''"),
    (["generate_music", "--mode", "locrian"], "argument --mode: invalid choice: 'locrian' (choose from 'major', 'minor', 'dorian', 'phrygian', 'mixolydian', 'lydian')"),
    (["generate_music", "--yes", "--temperature", "0"], "temperature must be between 0.1 and 2"),
    (["generate_music", "--temperature", "hot"], "expected a number from 0.1 to 2"),
    (["generate_music", "--yes", "--seed", "-1"], "seed must be between 0 and 4294967295"),
    (["generate_music", "--seed", "1e3"], "expected a whole number from 0 to 4294967295"),
    (["generate_music", "--yes", "--swing", "0.8"], "swing must be between 0.5 and 0.75"),
    (["generate_music", "--yes", "--ambience", "rain:3"], "between -60 and 0 dB"),
    (["generate_music", "--yes", "--lofi-preset", "shiny"], "unknown lo-fi preset 'shiny'; allowed: clean"),
    (["batch", "--count", "0"], "count must be between 1 and 999, got 0"),
    (["batch", "--count", "1000"], "count must be between 1 and 999"),
    (["batch", "--count", "ten"], "argument --count: expected a whole number from 1 to 999, got 'ten'"),
    (["batch", "--jobs", "0"], "jobs must be between 1 and 64, got 0"),
    (["batch", "--jobs", "65"], "jobs must be between 1 and 64"),
    (["batch", "--jobs", "2.5"], "argument --jobs: expected a whole number from 1 to 64"),
    (["batch", "--minutes", "30"], "minutes must be between 0.1 and 20"),
    (["batch", "--bpm-range", "20-200"], "bpm range must be between 50 and 140"),
    (["batch", "--bpm-range", "fast"], "bpm range must look like A-B"),
    (["batch", "--temperature", "3"], "temperature must be between 0.1 and 2"),
    (["batch", "--keys", "C,X"], "unknown key 'X' in keys"),
    (["evaluate", "--count", "0"], "count must be between 1 and 1000, got 0"),
    (["evaluate", "--minutes", "100"], "minutes must be between 0.1 and 20"),
    (["train", "--jobs", "0"], "jobs must be between 1 and 64, got 0"),
    (["train", "--jobs", "many"], "argument --jobs: expected a whole number from 1 to 64"),
    (["train", "--epochs", "0"], "epochs must be between 1 and 10000"),
    (["nonsense"], "argument COMMAND: invalid choice: 'nonsense'"),
])
def test_bad_values_give_one_line_with_the_allowed_range_and_exit_2(tmp_path, monkeypatch, capsys, argv, needle):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    assert not files_under(tmp_path)


def test_the_real_cli_exits_2_with_one_line(tmp_path):
    env = {**os.environ, "LOFI_OUTPUT_DIR": str(tmp_path / "out")}
    for argv, needle in ((["generate_music", "--minutes", "abc"], "expected a number from 0.1 to 20"),
                         (["generate_music", "--yes", "--bpm", "141"], "bpm must be between 50 and 140"),
                         (["batch", "--jobs", "0"], "jobs must be between 1 and 64")):
        done = subprocess.run([sys.executable, "-m", "app.main", *argv], cwd=ROOT, env=env, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=60)
        assert done.returncode == 2 and needle in done.stderr and done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out").exists()


# --- track names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    ("a/b\\c", "a_b_c"), ("../../../etc/passwd", "etc_passwd"), ("..", "track"), (".", "track"),
    ("...hidden", "hidden"), (".bashrc", "bashrc"), ("tab\there\nnew\x00line\x1b[31m", "tabherenewline_31m"),
    ("x" * 300, "x" * MAX_NAME), ("🎵🎶🎧", "track"), ("🎵 rainy day 🎧", "rainy day"),
    ("caf\udce9 noir", "caf noir"), ("v1.5 mix.wav", "v1.5 mix.wav"), ("-rf --no-preserve-root", "rf --no-preserve-root"),
    ("日本語の歌", "日本語の歌"),
])
def test_names_become_safe_file_names(raw, expected):
    assert safe_name(raw) == expected


def test_long_names_fit_a_file_system_in_bytes():
    wide = "𠀀" * 100  # 4 bytes each in UTF-8
    name = safe_name(wide)
    assert len(name.encode()) <= MAX_NAME_BYTES and name == "𠀀" * (MAX_NAME_BYTES // 4)


def test_hostile_names_write_only_inside_the_output_folders(tmp_path, models):
    out = tmp_path / "out"
    before = files_under(tmp_path)
    names = []
    for raw in ("../../../outside/.evil\x07name" + "z" * 300, "🎵🎶"):
        result = run_track(quick_spec(raw, formats=("wav",)), models=models, dirs=OutputDirs.under(out))
        names.append(result.name)
        for path in result.files.values():
            assert path.resolve().is_relative_to(out.resolve()) and path.exists()
            assert not path.name.startswith(".") and "/" not in path.name
            assert len(path.name.encode()) < 255
    assert names[0] == "outside_.evilname" + "z" * (MAX_NAME - len("outside_.evilname"))
    assert names[1] == "track"
    new = files_under(tmp_path) - before
    assert new and all(p.is_relative_to(out) for p in new)
    assert not any(p.name.startswith(".") for p in new)  # no temporary file or reservation left
    # The title tag keeps what was typed (printable), only the file name is made safe.
    side = json.loads((out / "final_results" / f"{names[0]}.json").read_text(encoding="utf-8"))
    assert side["spec"]["name"].startswith("../../../outside/.evil\x07name")


def test_batch_album_and_titles_stay_inside_the_release_folder(tmp_path):
    from app.release.manifest import new_release
    from app.release.plan import TrackPlan
    from app.release.request import BatchRequest

    req = BatchRequest(count=2, album="../../escape/.hidden", out=tmp_path / "releases", seed=1)
    folder, manifest = new_release(req)
    assert folder.parent == tmp_path / "releases" and folder.name == "escape_.hidden"
    plan = TrackPlan(**vars(manifest.tracks[0].plan))
    plan.title = "../../../x/\x00\x1b evil"
    from app.deliver.names import file_name

    assert file_name(plan.base_name(ascii_names=False)) == "01 - ______x_ evil"
    assert file_name(plan.base_name(ascii_names=True), ascii_names=True) == "01_x_evil"


# --- unwritable output, full disk ------------------------------------------------------------------


def test_output_folder_under_a_regular_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    env = {**os.environ, "LOFI_OUTPUT_DIR": str(blocker / "out")}
    done = subprocess.run([sys.executable, "-m", "app.main", "generate_music", "--yes", "--minutes", "0.1",
                           "--no-picture"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: cannot write to {blocker / 'out' / 'midi'}: Not a directory"
    assert "[1/5]" not in done.stdout  # refused before any work
    assert files_under(tmp_path) == {blocker}


def test_batch_out_that_cannot_be_written_is_the_same_one_line_error(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    done = subprocess.run([sys.executable, "-m", "app.main", "batch", "--count", "1", "--minutes", "0.1",
                           "--out", str(blocker / "releases")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == f"error: cannot write to {blocker / 'releases'}: Not a directory"
    assert files_under(tmp_path) == {blocker}


def test_read_only_output_folder_is_a_clear_error(tmp_path):
    """A folder without write permission. Root ignores permissions, so the CLI runs with root's
    override capabilities dropped (a real EACCES from the kernel, no mock)."""
    out = tmp_path / "out"
    (out / "final_results").mkdir(parents=True)
    out.chmod(0o555)
    (out / "final_results").chmod(0o555)
    code = textwrap.dedent(f'''
        import ctypes, os, runpy, sys
        if os.geteuid() == 0:
            libc = ctypes.CDLL(None)
            class H(ctypes.Structure):
                _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
            class D(ctypes.Structure):
                _fields_ = [("e", ctypes.c_uint32), ("p", ctypes.c_uint32), ("i", ctypes.c_uint32)]
            h, d = H(0x20080522, 0), (D * 2)()
            libc.capget(ctypes.byref(h), d)
            keep = ~((1 << 1) | (1 << 2)) & 0xFFFFFFFF
            d[0].e &= keep; d[0].p &= keep; d[0].i &= keep
            libc.capset(ctypes.byref(h), d)
        if os.access({str(out)!r}, os.W_OK):
            print("SKIP"); sys.exit(0)
        sys.argv = ["app.main", "generate_music", "--yes", "--minutes", "0.1", "--no-picture"]
        runpy.run_module("app.main", run_name="__main__")
    ''')
    env = {**os.environ, "LOFI_OUTPUT_DIR": str(out)}
    try:
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=60)
    finally:
        out.chmod(0o755)
        (out / "final_results").chmod(0o755)
    if done.stdout.strip() == "SKIP":
        pytest.skip("this process can write to a read-only folder")
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == f"error: cannot write to {out / 'midi'}: Permission denied"
    assert files_under(tmp_path) == set()


def enospc_writer(written: list):
    """A writer that puts half a file down and then finds the disk full."""

    def write(tmp, *args, **kwargs):
        Path(tmp).write_bytes(b"\0" * 4096)
        written.append(Path(tmp))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write


def test_disk_full_during_export_leaves_no_file_of_the_track(tmp_path, models, monkeypatch):
    from app.deliver import export

    written: list = []
    monkeypatch.setitem(export._WRITERS, "flac", enospc_writer(written))
    out = tmp_path / "out"
    with pytest.raises(OutputError) as info:
        run_track(quick_spec("full disk"), models=models, dirs=OutputDirs.under(out))
    assert re.fullmatch(rf"disk full while writing {re.escape(str(out / 'final_results' / 'full disk.flac'))} "
                        r"\(\d+ MB free\); nothing of track full disk was kept", str(info.value)), str(info.value)
    assert written and not written[0].exists()
    assert files_under(out) == set()  # nothing: no half file, no finished stem or MIDI of a lost track


def test_disk_full_writing_the_sidecar(tmp_path, models, monkeypatch):
    import app.deliver.track as deliver
    from app.files import atomic_path

    def full_sidecar(sidecar, path):
        with atomic_path(path) as tmp:
            enospc_writer([])(tmp)

    monkeypatch.setattr(deliver, "write_sidecar", full_sidecar)
    out = tmp_path / "out"
    with pytest.raises(OutputError, match=r"disk full while writing .*full disk\.json \(\d+ MB free\); nothing of "
                                          r"track full disk was kept"):
        run_track(quick_spec("full disk"), models=models, dirs=OutputDirs.under(out))
    assert files_under(out) == set()


FULL_DISK = re.compile(r"error: disk full while writing (\S.*) \((\d+) MB free\); nothing of track (.+) was kept")


def test_a_really_full_disk_is_one_line_and_keeps_nothing(tmp_path):
    """A real 2 MB file system (tmpfs in a user namespace): libsndfile says only "System error.";
    the CLI says which file, how much is free and that nothing of the track was kept, exit 1."""
    mount = tmp_path / "small"
    mount.mkdir()
    script = (f"mount -t tmpfs -o size=2m tmpfs {mount} || exit 99; "
              f"{sys.executable} -m app.main generate_music --yes --minutes 0.3 --formats wav,mp3 --no-picture "
              f"--name full; echo rc=$?; find {mount} -type f")
    try:
        done = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "LOFI_OUTPUT_DIR": str(mount)}, timeout=120)
    except FileNotFoundError:
        pytest.skip("unshare is not installed")
    if done.returncode == 99 or "rc=" not in done.stdout:
        pytest.skip(f"cannot mount a small file system here: {done.stderr.strip()[:200]}")
    assert "rc=1" in done.stdout, (done.stdout, done.stderr)
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and FULL_DISK.fullmatch(err[0]), err
    assert FULL_DISK.fullmatch(err[0]).group(3) == "full"
    assert done.stdout.strip().endswith("rc=1")  # find listed no file: nothing of the track was kept


def test_disk_full_while_tagging_an_mp3_in_place(tmp_path, monkeypatch):
    """mutagen grows the file in place and wraps the OSError in its own `error` ("[Errno 28]")."""
    import numpy as np
    from mutagen.id3 import _file as id3_file

    from app.deliver.export import export_track
    from app.deliver.tags import tag_file
    from app.errors import DiskFullError

    path, = export_track(np.zeros((2, 44100), np.float32), 44100, tmp_path / "song", ("mp3",), {"title": "x"})

    def insert_bytes(fobj, size, offset, *args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(id3_file, "insert_bytes", insert_bytes)
    with pytest.raises(DiskFullError) as info:
        tag_file(path, "mp3", {"title": "a longer title"}, cover_jpeg=b"\xff\xd8" + b"\0" * 100_000)
    assert re.fullmatch(rf"disk full while writing {re.escape(str(path))} \(\d+ MB free\)", str(info.value))


def test_batch_stops_at_the_first_full_disk_and_keeps_nothing_of_the_track(tmp_path, models, monkeypatch):
    """Track 2's in-place tagging finds the disk full: the batch stops there (track 3 is not tried),
    says so in one line, records the failure, and leaves no file of track 2 in work/."""
    from mutagen.id3 import _file as id3_file

    from app.release.batch import produce_release
    from app.release.request import BatchRequest, validate_request

    real_insert = id3_file.insert_bytes
    retagged: list[str] = []

    def insert_bytes(fobj, size, offset, *args):
        name = Path(fobj.name).name
        if ".staged" not in name:  # the release's tags on a finished final in work/tracks
            retagged.append(name)
            if name.startswith("02"):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_insert(fobj, size, offset, *args)

    monkeypatch.setattr(id3_file, "insert_bytes", insert_bytes)
    req = validate_request(BatchRequest(count=3, minutes=0.15, jobs=1, out=tmp_path, seed=5, formats=("mp3",),
                                        album="Full Tapes"))
    with pytest.raises(OutputError) as info:
        produce_release(req, windows=set(), models=models)
    assert re.fullmatch(r"disk full while writing .*/work/tracks/02[^/]*\.mp3 \(\d+ MB free\); nothing of track "
                        r"02[^/]* was kept", str(info.value)), str(info.value)
    assert not any(n.startswith("03") for n in retagged)  # track 3 was never made
    folder = tmp_path / "Full Tapes"
    rows = json.loads((folder / "manifest.json").read_text())["tracks"]
    assert [r["status"] for r in rows] == ["done", "failed", "pending"]
    assert rows[1]["error"] == str(info.value)
    assert [p.name for p in files_under(folder / "work") if "02" in p.name] == []


# --- existing tracks ---------------------------------------------------------------------------------


def test_existing_tracks_are_never_touched_without_overwrite(tmp_path, models, monkeypatch):
    from app.deliver import export

    dirs = OutputDirs.under(tmp_path)
    old = {dirs.results / "keep.wav": b"old master", dirs.results / "keep.json": b"{}",
           dirs.wav / "keep_melody.wav": b"old stem", dirs.midi / "keep.mid": b"old midi",
           dirs.midi / "a_chords.mid": b"part file of track 'a'"}
    for path, data in old.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    stamps = {path: path.stat().st_mtime_ns for path in old}

    result = run_track(quick_spec("keep"), models=models, dirs=dirs)
    assert result.name == "keep-2"
    with reserve_name(dirs, "a_chords", overwrite=False) as name:  # would write midi/a_chords.mid
        assert name == "a_chords-2"
    with reserve_name(dirs, "keep_melody", overwrite=False) as name:  # results free, but not its files
        assert name == "keep_melody"
    # --overwrite that fails (disk full) leaves the old track whole: the new files replace it only
    # when all of them are complete.
    monkeypatch.setitem(export._WRITERS, "flac", enospc_writer([]))
    with pytest.raises(OutputError):
        run_track(quick_spec("keep", overwrite=True), models=models, dirs=dirs)
    for path, data in old.items():
        assert path.read_bytes() == data and path.stat().st_mtime_ns == stamps[path], path
    monkeypatch.undo()
    replaced = run_track(quick_spec("keep", overwrite=True), models=models, dirs=dirs)
    assert replaced.name == "keep" and (dirs.results / "keep.wav").read_bytes()[:4] == b"RIFF"
    assert (dirs.midi / "a_chords.mid").read_bytes() == old[dirs.midi / "a_chords.mid"]
    assert not [p for p in files_under(tmp_path) if p.name.startswith(".")]


def test_temporary_files_of_dead_runs_are_cleaned_up(tmp_path, models):
    """A run killed outright (SIGKILL, power cut) cannot clean up; the next run in the folder does,
    leaving alone what a live process or a recent writer may still be using."""
    import time

    results = tmp_path / "final_results"
    results.mkdir(parents=True)
    old = time.time() - 3600
    dead = [results / ".song.999999.partial.wav", results / ".song.999999.staged.json",
            results / "..song.999999.staged.999999.partial.flac"]
    live = results / f".song.{os.getpid()}.staged.wav"  # this process: alive
    recent = results / ".other.999998.partial.wav"  # dead, but written a moment ago
    keep = results / "mine.999999.partial.wav"  # not hidden: not a temporary name of ours
    for path in [*dead, live, recent, keep]:
        path.write_bytes(b"x")
    for path in [*dead, live, keep]:
        os.utime(path, (old, old))
    run_track(quick_spec("clean"), models=models, dirs=OutputDirs.under(tmp_path))
    assert not any(p.exists() for p in dead)
    assert live.exists() and recent.exists() and keep.exists()
