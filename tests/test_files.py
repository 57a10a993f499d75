"""app.files: atomic_path and staged_files never leave a half-written file under a final name nor a
temporary one behind; clean_stale_temps removes only dead writers' old temporaries; printable,
file_sha256 and the parts of json_ready/write_json that tests/deliver/test_json.py does not cover
(Paths, tuples, dict keys, text that is not valid Unicode)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.errors import OutputError
from app.files import (atomic_path, clean_stale_temps, file_sha256, hold_signals, json_ready, json_text, printable,
                       staged_files, write_json)
from tests.fixtures.checks import files_under


# --- atomic_path ---------------------------------------------------------------------------

def test_atomic_path_writes_a_hidden_temp_then_renames_it(tmp_path):
    final = tmp_path / "deep" / "er" / "song.wav"  # missing folders are made
    with atomic_path(final) as tmp:
        assert tmp.parent == final.parent
        assert tmp.name == f".song.{os.getpid()}.partial.wav"
        tmp.write_bytes(b"RIFF")
        assert not final.exists()  # nothing under the final name until the block completes
    assert final.read_bytes() == b"RIFF"
    assert files_under(tmp_path) == {final}


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_atomic_path_on_an_exception_leaves_nothing_and_keeps_the_old_file(tmp_path, error):
    fresh, existing = tmp_path / "new.json", tmp_path / "old.json"
    existing.write_text("old")
    for final in (fresh, existing):
        with pytest.raises(type(error)):
            with atomic_path(final) as tmp:
                tmp.write_text("half")
                raise error
    assert not fresh.exists()
    assert existing.read_text() == "old"
    assert files_under(tmp_path) == {existing}  # the temporaries are gone


def test_atomic_path_turns_os_errors_into_output_errors(tmp_path):
    final = tmp_path / "out.flac"
    with pytest.raises(OutputError, match=rf"^disk full while writing {final} \(\d+ MB free\)"):
        with atomic_path(final) as tmp:
            tmp.write_bytes(b"x")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert files_under(tmp_path) == set()
    with pytest.raises(OutputError, match=r"^cannot write .*never\.wav: No such file or directory$"):
        with atomic_path(tmp_path / "never.wav"):
            pass  # the writer wrote nothing: the rename fails
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match=rf"^cannot create folder {blocker / 'sub'}: "):
        with atomic_path(blocker / "sub" / "a.wav"):
            pass


# --- staged_files --------------------------------------------------------------------------

def test_staged_files_appear_together(tmp_path):
    finals = [tmp_path / "a.wav", tmp_path / "midi" / "a.mid", tmp_path / "a.json"]
    finals[1].parent.mkdir()
    with staged_files() as stage:
        for final in finals:
            tmp = stage.temp(final)
            assert tmp.parent == final.parent
            assert tmp.name == f".{final.stem}.{os.getpid()}.staged{final.suffix}"
            tmp.write_text(final.name)
        assert not any(f.exists() for f in finals)
    assert [f.read_text() for f in finals] == ["a.wav", "a.mid", "a.json"]
    assert files_under(tmp_path) == set(finals)


def test_a_writer_that_appends_the_suffix_lands_on_the_temp(tmp_path):
    """export_track gets the temp without its suffix and appends '.wav' itself."""
    with staged_files() as stage:
        tmp = stage.temp(tmp_path / "song.wav")
        Path(f"{tmp.with_suffix('')}.wav").write_bytes(b"x")
    assert (tmp_path / "song.wav").read_bytes() == b"x"


def test_staged_files_on_an_exception_renames_none_and_removes_the_temps(tmp_path):
    old = tmp_path / "b.wav"
    old.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with staged_files() as stage:
            stage.temp(tmp_path / "a.wav").write_text("new")
            stage.temp(old).write_text("new")
            raise KeyboardInterrupt
    assert files_under(tmp_path) == {old} and old.read_text() == "old"


def test_a_file_never_written_stops_the_whole_stage(tmp_path):
    """All or none: when one temp is missing at commit, no file of the stage is renamed."""
    old = tmp_path / "a.wav"
    old.write_text("old")
    with pytest.raises(OutputError, match=r"^cannot write .*b\.json: No such file or directory$"):
        with staged_files() as stage:
            stage.temp(old).write_text("new")
            stage.temp(tmp_path / "b.json")  # asked for, never written
            stage.temp(tmp_path / "c.mid").write_text("new")
    assert files_under(tmp_path) == {old} and old.read_text() == "old"


def test_hold_signals_defers_a_stop_signal_to_the_end_of_the_block():
    got: list[int] = []

    def handler(signum, frame):
        got.append(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with hold_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            sum(range(1000))  # Python runs signal handlers between bytecodes: give it some
            assert got == []
        assert got == [signal.SIGTERM]  # the old handler ran once the block ended
        assert signal.getsignal(signal.SIGTERM) is handler  # and it is back in place
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_hold_signals_raises_keyboard_interrupt_after_the_block():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with hold_signals():
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(1000))
            done.append("renames")
    assert done == ["renames"]  # the block finished before the interrupt


# --- clean_stale_temps ---------------------------------------------------------------------

def dead_pid() -> int:
    """The id of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_clean_stale_temps_removes_only_old_temps_of_dead_processes(tmp_path):
    dead, me = dead_pid(), os.getpid()
    old = time.time() - 3600
    stale = [tmp_path / f".song.{dead}.partial.wav", tmp_path / f".song.{dead}.staged.json",
             tmp_path / f".x.y.{dead}.staged"]
    kept = [tmp_path / f".song.{me}.partial.wav",  # this process: alive
            tmp_path / f"song.{dead}.partial.wav",  # not hidden: not one of ours
            tmp_path / f".song.{dead}.wav",  # neither partial nor staged
            tmp_path / "sub" / f".song.{dead}.partial.wav"]  # not recursive
    recent = tmp_path / f".new.{dead}.partial.wav"  # dead, but written a moment ago
    (tmp_path / "sub").mkdir()
    for path in [*stale, *kept, recent]:
        path.write_bytes(b"x")
    for path in [*stale, *kept]:
        os.utime(path, (old, old))
    assert clean_stale_temps(tmp_path) == 3
    assert files_under(tmp_path) == {*kept, recent}
    assert clean_stale_temps(tmp_path, min_age_s=0) == 1  # now the recent one too
    assert files_under(tmp_path) == set(kept)


def test_clean_stale_temps_of_a_missing_folder_is_zero(tmp_path):
    assert clean_stale_temps(tmp_path / "nowhere") == 0


# --- small helpers -------------------------------------------------------------------------

def test_printable():
    assert printable("lofi café") == "lofi café"
    assert printable(os.fsdecode(b"caf\xe9 noise")) == "caf\ufffd noise"
    assert printable(Path("a") / os.fsdecode(b"\xff.wav")) == str(Path("a") / "\ufffd.wav")
    assert printable(12) == "12"
    printable(os.fsdecode(b"\x80\xfe")).encode("utf-8")  # encodable, no surrogates left


def test_file_sha256(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_sha256(empty) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    big = tmp_path / "big"
    data = os.urandom(2_500_000)  # three 1 MiB blocks, the last one partial
    big.write_bytes(data)
    assert file_sha256(big) == hashlib.sha256(data).hexdigest()
    assert file_sha256(str(big)) == file_sha256(big)


def test_json_ready_paths_tuples_and_keys():
    record = {"files": (Path("out") / "a.wav",), 3: "three", None: 1, True: [1.5, (2,)]}
    ready = json_ready(record)
    assert ready == {"files": [str(Path("out") / "a.wav")], "3": "three", "null": 1, "true": [1.5, [2]]}
    assert record["files"] == (Path("out") / "a.wav",)  # the input is left alone
    with pytest.raises(TypeError, match=r"^sidecar has a key of type tuple"):
        json_ready({(1, 2): 0}, "sidecar")
    with pytest.raises(TypeError, match=r"^sidecar\.files\[1\] is a bytes"):
        json_ready({"files": ["a", b"b"]}, "sidecar")


def test_json_text_and_write_json_keep_unicode_and_escape_undecodable_text(tmp_path):
    assert json_text({"name": "café"}) == '{\n  "name": "café"\n}\n'
    path = write_json(tmp_path / "side.json", {"name": "café", "file": os.fsdecode(b"caf\xe9.wav")})
    raw = path.read_bytes()
    assert "café".encode() in raw and b"caf\\udce9.wav" in raw  # written, as an escape
    assert json.loads(raw)["name"] == "café"
    assert files_under(tmp_path) == {path}


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_soundfile_write_on_a_full_disk_is_named_as_one():
    """libsndfile says only "System error."; sndfile_errors_named raises the thread's C errno instead,
    so a full disk is told as one however much room another writer's cleanup has freed since."""
    import numpy as np
    import soundfile as sf

    from app.files import sndfile_errors_named

    with pytest.raises(OSError) as caught:
        with sndfile_errors_named(), sf.SoundFile("/dev/full", "w", 44100, 2, subtype="FLOAT", format="WAV") as out:
            out.write(np.zeros((44100, 2), np.float32))
    assert caught.value.errno == errno.ENOSPC
    with pytest.raises(ValueError):  # other errors pass through untouched
        with sndfile_errors_named():
            raise ValueError("not a write")
