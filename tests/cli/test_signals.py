"""Interruptions and concurrent runs (issue 7), with the real CLI in subprocesses: SIGINT and SIGTERM
in every stage of generate_music, in the wizard and in batch (one and two workers); two processes
making the same name at once; reservations left by processes that died."""

from __future__ import annotations

import json
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app import paths
from app.deliver.names import OutputDirs, reserve_name
from tests.fixtures.checks import files_under

ROOT = Path(__file__).resolve().parents[2]
needs_models = pytest.mark.skipif(not (paths.CHORD_CHECKPOINT.exists() and paths.MELODY_CHECKPOINT.exists()),
                                  reason="trained models missing (python -m app.main train)")
pytestmark = needs_models


class Cli:
    """The real CLI in a subprocess whose stdout and stderr lines are read as they come. With
    signal_at=(text, signal) the reader sends the signal the moment a line containing text appears."""

    def __init__(self, args: list[str], out: Path, signal_at=None, **env):
        self.proc = subprocess.Popen([sys.executable, "-m", "app.main", *args], cwd=ROOT, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                                     env={**os.environ, "LOFI_OUTPUT_DIR": str(out), **env})
        self.signal_at, self.signalled = signal_at, threading.Event()
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        self.ended = 0
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            if self.signal_at and self.signal_at[0] in line and not self.signalled.is_set():
                self.signalled.set()
                self.proc.send_signal(self.signal_at[1])
            self.lines.put(line)
        self.lines.put(None)

    def _next(self, timeout: float):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return ""
        if line is None:
            self.ended += 1
        else:
            self.seen.append(line)
        return line

    def wait_for(self, text: str, timeout: float = 120) -> bool:
        """True once a line containing `text` was printed; False if the process ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.ended < 2:
            line = self._next(0.5)
            if line and text in line:
                return True
        return False

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        code = self.proc.wait(timeout=timeout)
        while self.ended < 2 and self._next(5) != "":
            pass
        return code, "".join(self.seen)


EXPECTED_CODE = {signal.SIGINT: 130, signal.SIGTERM: 143}
STAGES = {"compose": "[1/5] compose", "render": "[2/5] render", "mix": "[3/5] mix", "export": "[5/5] export"}


def generate_args(name: str, seed: int = 7) -> list[str]:
    return ["generate_music", "--yes", "--name", name, "--seed", str(seed), "--minutes", "0.3",
            "--formats", "wav,mp3,flac"]


def test_sigint_and_sigterm_in_every_stage_leave_nothing_half_made(tmp_path):
    runs = {(stage, sig): Cli(generate_args("sig"), tmp_path / f"{stage}-{sig.name}", signal_at=(line, sig))
            for stage, line in STAGES.items() for sig in EXPECTED_CODE}
    for (stage, sig), cli in runs.items():
        code, output = cli.finish(timeout=180)
        out = tmp_path / f"{stage}-{sig.name}"
        left = files_under(out)
        assert cli.signalled.is_set(), (stage, sig, output)
        assert "Traceback" not in output, (stage, sig, output)
        assert not [p for p in left if p.name.startswith(".")], (stage, sig, left)  # no temp, no reservation
        if code == 0:  # the track was complete before the signal landed: then it is whole
            assert stage == "export", output
            side = json.loads((out / "final_results" / "sig.json").read_text())
            assert all(Path(p).exists() for p in side["files"].values())
            continue
        assert code == EXPECTED_CODE[sig] and "cancelled" in output, (stage, sig, code, output)
        assert left == set(), (stage, sig, left)  # a track is all or nothing


def test_a_rerun_after_an_interruption_makes_the_track_under_its_name(tmp_path):
    cli = Cli(generate_args("again", seed=3), tmp_path, signal_at=(STAGES["mix"], signal.SIGTERM))
    assert cli.finish(timeout=60)[0] == 143
    cli = Cli(generate_args("again", seed=3), tmp_path)
    code, output = cli.finish()
    assert code == 0, output
    assert {p.name for p in (tmp_path / "final_results").iterdir()} == {"again.wav", "again.mp3", "again.flac",
                                                                       "again.json", "again.png"}


# The wizard's questions in order, one list for both test files.
from tests.cli.test_wizard import ALL_PROMPTS as WIZARD_PROMPTS  # noqa: E402


def test_sigterm_in_the_wizard(tmp_path):
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "TERM": "xterm", "LOFI_OUTPUT_DIR": str(tmp_path), "PROMPT_TOOLKIT_NO_CPR": "1"}
    child = pexpect.spawn(f"{sys.executable} -m app.main generate_music --minutes 0.3 --name wiz --no-picture",
                          cwd=str(ROOT), env=env, dimensions=(40, 120), encoding="utf-8", timeout=60)
    for prompt in WIZARD_PROMPTS:  # Enter at every question: the defaults
        child.expect(prompt)
        child.send("\r")
    child.expect(r"\[2/5\] render")  # the track is being rendered
    child.kill(signal.SIGTERM)
    child.expect("cancelled", timeout=30)
    child.expect(pexpect.EOF, timeout=30)
    child.close()
    assert child.exitstatus == 143
    assert files_under(tmp_path) == set()


# --- batch ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_corpus_cache(tmp_path_factory) -> Path:
    """A cache folder holding a one-piece 'Bach corpus', so the batch CLI's originality guard starts
    at once instead of importing 400 chorales."""
    from app.learn.corpus import Corpus, chorale_paths, fingerprint, song_to_piece
    from tests.fixtures.music import little_song

    folder = tmp_path_factory.mktemp("cache")
    fp = fingerprint(chorale_paths(None), extra="bach")
    corpus = Corpus([song_to_piece(little_song(), "little")], fp)
    (folder / f"corpus-{fp}.pkl").write_bytes(pickle.dumps(corpus))
    return folder


def batch_args(out: Path, count: int, jobs: int) -> list[str]:
    return ["batch", "--count", str(count), "--minutes", "0.15", "--jobs", str(jobs), "--seed", "11",
            "--album", "Signal Tapes", "--out", str(out), "--formats", "wav"]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def check_release(folder: Path) -> dict:
    """The manifest agrees with the files: done rows have their files with the recorded sizes and
    hashes, the others none; nothing temporary is left."""
    import hashlib

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["summary"]["done"] == sum(r["status"] == "done" for r in manifest["tracks"])
    csv_rows = (folder / "manifest.csv").read_text().splitlines()[1:]
    assert [line.split(",")[1] for line in csv_rows] == [r["status"] for r in manifest["tracks"]]
    finals = {p.name for p in folder.glob("*.wav")}
    listed = set()
    for row in manifest["tracks"]:
        if row["status"] == "done":
            for name in row["files"].values():
                data = (folder / name).read_bytes()
                assert len(data) == row["file_checks"][name]["bytes"]
                assert hashlib.sha256(data).hexdigest() == row["file_checks"][name]["sha256"]
                listed.add(name)
        else:
            assert row["status"] == "pending" and row["files"] == {}
    assert finals == listed  # no final without its row, no row without its final
    assert not [p for p in folder.rglob(".*") if p.name != ".batch.lock"]
    return manifest


def test_batch_sigterm_between_tracks_then_the_rerun_completes_the_rest(tmp_path, tiny_corpus_cache):
    env = {"LOFI_CACHE_DIR": str(tiny_corpus_cache)}
    # Track 1 is done when its line appears; track 2 is being made.
    cli = Cli(batch_args(tmp_path, 2, 1), tmp_path, signal_at=("[1/2]", signal.SIGTERM), **env)
    code, output = cli.finish(timeout=120)
    assert cli.signalled.is_set(), output
    assert code == 143 and "cancelled" in output and "Traceback" not in output, output
    folder = tmp_path / "Signal Tapes"
    manifest = check_release(folder)
    assert [r["status"] for r in manifest["tracks"]] == ["done", "pending"]
    first = folder / manifest["tracks"][0]["files"]["wav"]
    stamp = first.stat().st_mtime_ns
    assert "1 done, 0 failed, 1 not made yet" in (folder / "compliance.md").read_text()

    code, output = Cli(batch_args(tmp_path, 2, 1), tmp_path, **env).finish()
    assert code == 0, output
    manifest = check_release(folder)
    assert [r["status"] for r in manifest["tracks"]] == ["done", "done"]
    assert first.stat().st_mtime_ns == stamp  # the finished track was not made again


def test_batch_sigint_stops_the_workers_and_the_rerun_completes(tmp_path, tiny_corpus_cache):
    env = {"LOFI_CACHE_DIR": str(tiny_corpus_cache)}
    cli = Cli(batch_args(tmp_path, 3, 2), tmp_path, **env)
    assert cli.wait_for("[1/3]"), cli.seen
    workers = children_of(cli.proc.pid)
    assert len(workers) >= 2
    cli.proc.send_signal(signal.SIGINT)  # to the parent only, as `kill -INT` would
    code, output = cli.finish(timeout=30)
    assert code == 130 and "Traceback" not in output, output
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if alive(pid)]  # no orphaned worker goes on working
    folder = tmp_path / "Signal Tapes"
    manifest = check_release(folder)
    assert manifest["tracks"][0]["status"] == "done" or manifest["summary"]["done"] >= 1

    code, output = Cli(batch_args(tmp_path, 3, 2), tmp_path, **env).finish()
    assert code == 0, output
    assert [r["status"] for r in check_release(folder)["tracks"]] == ["done"] * 3


def test_batch_workers_end_when_the_parent_is_killed_outright(tmp_path, tiny_corpus_cache):
    """SIGKILL (or the OOM killer) gives the parent no chance to stop its workers: they notice its
    death themselves and end within a few seconds; the rerun starts clean and finishes the release."""
    env = {"LOFI_CACHE_DIR": str(tiny_corpus_cache)}
    cli = Cli(batch_args(tmp_path, 3, 2), tmp_path, **env)
    assert cli.wait_for("[1/3]"), cli.seen  # one track done, the others being made
    workers = children_of(cli.proc.pid)
    assert len(workers) >= 2
    cli.proc.kill()
    cli.proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if alive(pid)]  # no orphan goes on working

    rerun = Cli(batch_args(tmp_path, 3, 2), tmp_path, **env)
    code, output = rerun.finish()
    assert code == 0, output
    assert [r["status"] for r in check_release(tmp_path / "Signal Tapes")["tracks"]] == ["done"] * 3


# --- two processes, one name ------------------------------------------------------------------------


def test_two_processes_making_the_same_name_at_once_both_finish(tmp_path):
    from app.music.midi_io import read_midi
    from app.music.theory import pitch_class

    common = ["generate_music", "--yes", "--name", "twin", "--minutes", "0.15", "--no-picture"]
    first = Cli([*common, "--seed", "1", "--key", "C"], tmp_path)
    second = Cli([*common, "--seed", "2", "--key", "F#"], tmp_path)
    assert first.finish()[0] == 0 and second.finish()[0] == 0
    sides = [json.loads(p.read_text()) for p in sorted((tmp_path / "final_results").glob("*.json"))]
    assert sorted(s["name"] for s in sides) == ["twin", "twin-2"]
    assert sorted(s["key"] for s in sides) == ["C", "F#"]
    for s in sides:  # every file of each sidecar is its own track's
        for path in s["files"].values():
            name = Path(path).name
            assert Path(path).exists() and (name.startswith(s["name"] + ".") or name.startswith(s["name"] + "_"))
        assert read_midi(s["files"]["midi"]).key == pitch_class(s["key"])
    assert len(files_under(tmp_path)) == 2 * (1 + 1 + 1 + 4 + 6)  # json, wav, mid, part mids (drums too), stems (room too)


RESERVE = """
import sys, time
from pathlib import Path
from app.deliver.names import OutputDirs, reserve_name
dirs = OutputDirs.under(Path(sys.argv[1]))
with reserve_name(dirs, "same", overwrite=False) as name:
    (dirs.results / f"{name}.json").write_text(sys.argv[2])
    time.sleep(float(sys.argv[3]))
print(name)
"""


def test_reservations_across_processes(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", RESERVE, str(tmp_path), str(i), "0.5"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for i in range(6)]
    names = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(names) == sorted(["same"] + [f"same-{n}" for n in range(2, 7)])
    written = {p.name: p.read_text() for p in (tmp_path / "final_results").glob("*.json")}
    assert sorted(written.values()) == [str(i) for i in range(6)]  # nobody's file was overwritten


def test_a_reservation_left_by_a_dead_process_is_taken_over(tmp_path):
    dirs = OutputDirs.under(tmp_path)
    dirs.results.mkdir(parents=True)
    stale = dirs.results / ".lost.reserved"
    stale.write_text("999999")
    os.utime(stale, (time.time() - 60, time.time() - 60))
    with reserve_name(dirs, "lost", overwrite=False) as name:
        assert name == "lost"
    # A fresh marker whose process is gone (killed a moment ago) is taken over at once.
    stale.write_text("999999")
    with reserve_name(dirs, "lost", overwrite=False) as name:
        assert name == "lost"
    # A live holder (another process, holding its lock) keeps its name even when the marker is old.
    holder = subprocess.Popen([sys.executable, "-c", RESERVE, str(tmp_path), "held", "30"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (dirs.results / "same.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.utime(dirs.results / ".same.reserved", (time.time() - 60, time.time() - 60))
        (dirs.results / "same.json").unlink()  # the name looks free but for the reservation
        with reserve_name(dirs, "same", overwrite=False) as name:
            assert name == "same-2"
    finally:
        holder.kill()
        holder.wait()


def test_a_rerun_right_after_a_killed_run_gets_the_same_name(tmp_path):
    """A run killed outright within 10 s of the rerun: its reservation names a dead process, so the
    rerun takes the name over at once instead of writing NAME-2."""
    dirs = OutputDirs.under(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", RESERVE, str(tmp_path), "killed", "60"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (dirs.results / "same.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    holder.kill()
    holder.wait()
    (dirs.results / "same.json").unlink()  # a killed track leaves no finished file, only its marker
    assert (dirs.results / ".same.reserved").read_text() == str(holder.pid)
    with reserve_name(dirs, "same", overwrite=False) as name:
        assert name == "same"
