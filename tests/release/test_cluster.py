"""`batch --cluster`: releases made on a real Dask scheduler and real `dask worker` processes on
127.0.0.1 (random free ports, one thread each, no dashboard). A worker killed mid-track has its task
run elsewhere and the release equals a local run of the same seed; a scheduler that goes away ends
the run with a clear error and the same command finishes the release; a worker whose models differ
from the client's refuses the track. Tracks are 0.2 minutes; the training windows a tiny set."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.errors import BadValueError, LofiError
from app.release.batch import produce_release
from app.release.cluster import fingerprint_differences, parse_cluster
from app.release.manifest import verify_done
from app.release.originality import windows_of_melodies
from app.release.request import BatchRequest, validate_request

REPO = Path(__file__).resolve().parents[2]
TINY_WINDOWS = windows_of_melodies([[60, 62, 64, 65, 67, 65, 64, 62, 64, 67, 72, 71, 69, 67, 65, 64, 62, 60, 59, 60]])
START_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaskProcesses:
    """A scheduler and workers as subprocesses (`python -m dask ...`), their logs in tmp_path; each
    worker's temporary folder (where it stages tracks) is tmp_path/<name>-tmp."""

    def __init__(self, tmp_path: Path):
        self.tmp, self.procs = tmp_path, []

    def _start(self, args: list[str], name: str, bare: bool = False, **env) -> subprocess.Popen:
        """`python -m dask ARGS` (bare: ARGS as the whole command line)."""
        full_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                        TMPDIR=str(self.tmp / f"{name}-tmp"), **env)
        (self.tmp / f"{name}-tmp").mkdir(exist_ok=True)
        log = open(self.tmp / f"{name}.log", "wb")
        proc = subprocess.Popen(args if bare else [sys.executable, "-m", "dask", *args], cwd=REPO, env=full_env,
                                stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(proc)
        return proc

    def scheduler(self, port: int | None = None) -> tuple[str, subprocess.Popen]:
        port = port or _free_port()
        proc = self._start(["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], "scheduler")
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"tcp://127.0.0.1:{port}", proc
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"the scheduler did not start: {(self.tmp / 'scheduler.log').read_text()}")
                time.sleep(0.2)

    def worker(self, address: str, name: str, small_tmp: bool = False, **env) -> subprocess.Popen:
        """A `dask worker`; small_tmp: in its own mount namespace with a real 4 MB tmpfs as its
        temporary folder (where it stages tracks): the cover fits, a track does not."""
        args = ["worker", address, "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
        if not small_tmp:
            return self._start(args, name, **env)
        tmp = self.tmp / f"{name}-tmp"
        command = [sys.executable, "-m", "dask", *args]
        script = f"mount -t tmpfs -o size=4m tmpfs {tmp} || exit 99; exec {' '.join(command)}"
        return self._start(["unshare", "-rm", "sh", "-c", script], name, bare=True, **env)

    def wait_for_workers(self, address: str, count: int) -> None:
        from distributed import Client

        with Client(address, timeout=START_TIMEOUT_S) as client:
            client.wait_for_workers(count, timeout=START_TIMEOUT_S)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def dask_processes(tmp_path):
    procs = DaskProcesses(tmp_path)
    yield procs
    procs.close()


def _kill_mid_track(proc: subprocess.Popen, stage_root: Path, killed: dict, timeout_s: float = 120) -> threading.Thread:
    """A thread that SIGKILLs `proc` once it is making a track (its staging folder exists in its
    temporary folder) and records what it killed."""

    def watch():
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and proc.poll() is None:
            staging = list(stage_root.glob("lofi-track-*"))
            if staging:
                time.sleep(0.3)  # well inside make_track: a 0.2-minute track takes seconds
                proc.kill()
                killed["staging"] = staging[0].name
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _request(out: Path, count: int, **options) -> BatchRequest:
    return validate_request(BatchRequest(count=count, minutes=0.2, out=out, album="Cluster Tapes", seed=11,
                                         **options))


def test_a_killed_worker_is_replaced_and_the_release_equals_a_local_run(tmp_path, dask_processes, models):
    address, _ = dask_processes.scheduler()
    victim = dask_processes.worker(address, "victim")
    dask_processes.worker(address, "keeper")
    dask_processes.wait_for_workers(address, 2)
    killed = {}
    watcher = _kill_mid_track(victim, tmp_path / "victim-tmp", killed)

    code, folder, manifest = produce_release(_request(tmp_path / "cluster", 3, cluster=address), windows=TINY_WINDOWS)
    watcher.join(timeout=5)
    assert killed and victim.poll() is not None, "the victim worker was never seen making a track"
    assert code == 0 and [r.status for r in manifest.tracks] == ["done"] * 3
    assert all(verify_done(folder, r) for r in manifest.tracks)

    local_code, local_folder, _ = produce_release(_request(tmp_path / "local", 3, jobs=1), windows=TINY_WINDOWS,
                                                  models=models)
    assert local_code == 0
    # The same release, byte for byte: the manifest (files, sizes, SHA-256, figures, seeds) and the cover.
    on_cluster = json.loads((folder / "manifest.json").read_text())
    assert on_cluster == json.loads((local_folder / "manifest.json").read_text())
    assert (folder / "cover.jpg").read_bytes() == (local_folder / "cover.jpg").read_bytes()
    for row in on_cluster["tracks"]:
        sidecar = json.loads((folder / "work" / "tracks" / f"{Path(row['files']['wav']).stem}.json").read_text())
        assert sidecar["files"]["wav"] == str(folder / row["files"]["wav"])  # paths of this machine, not the worker's
        assert all(str(folder) in p for p in sidecar["files"].values())
        midis = [p for k, p in sidecar["files"].items() if k.startswith("midi")]
        assert midis and all(Path(p).is_file() for p in midis)
        assert not [k for k in sidecar["files"] if k.startswith("stem_")]  # stems only with --stems


def test_a_lost_scheduler_ends_the_run_and_the_same_command_finishes_it(tmp_path, dask_processes):
    port = _free_port()
    address, scheduler = dask_processes.scheduler(port)
    dask_processes.worker(address, "first")
    dask_processes.wait_for_workers(address, 1)
    killed = {}
    watcher = _kill_mid_track(scheduler, tmp_path / "first-tmp", killed)
    req = _request(tmp_path / "out", 2, cluster=address)
    with pytest.raises(LofiError, match="lost the Dask scheduler .*run the same command again"):
        produce_release(req, windows=TINY_WINDOWS)
    watcher.join(timeout=5)
    assert killed
    dask_processes.close()  # the old worker too: a fresh cluster at the same address

    address_again, _ = dask_processes.scheduler(port)
    assert address_again == address
    dask_processes.worker(address, "second")
    dask_processes.wait_for_workers(address, 1)
    code, folder, manifest = produce_release(req, windows=TINY_WINDOWS)
    assert code == 0 and all(verify_done(folder, r) for r in manifest.tracks)
    assert not list(folder.rglob(".*.partial*"))


def test_ctrl_c_cancels_the_tasks_still_pending(tmp_path, dask_processes, monkeypatch):
    from distributed import Client

    from app.release import batch

    address, _ = dask_processes.scheduler()
    dask_processes.worker(address, "only")
    dask_processes.wait_for_workers(address, 1)
    finish = batch._Ledger.finish

    def finish_then_ctrl_c(self, *args, **kwargs):
        finish(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(batch._Ledger, "finish", finish_then_ctrl_c)
    req = _request(tmp_path / "out", 4, cluster=address)
    with pytest.raises(KeyboardInterrupt):
        produce_release(req, windows=TINY_WINDOWS)
    with Client(address, timeout=START_TIMEOUT_S) as client:
        deadline = time.monotonic() + 10
        while True:  # the scheduler forgets the cancelled tasks: none of the release's is left
            left = client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks
                                                                   if "lofi-track" in str(k)])
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert left == []
    manifest = json.loads((tmp_path / "out" / "Cluster Tapes" / "manifest.json").read_text())
    assert manifest["summary"]["done"] == 1 and manifest["summary"]["pending"] == 3


def test_a_worker_whose_disk_fills_up_is_left_out_and_its_track_made_elsewhere(tmp_path, dask_processes, capsys):
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    address, _ = dask_processes.scheduler()
    cramped = dask_processes.worker(address, "cramped", small_tmp=True)
    dask_processes.worker(address, "roomy")
    try:
        dask_processes.wait_for_workers(address, 2)
    except Exception:  # noqa: BLE001 - the small file system could not be mounted here
        if cramped.poll() == 99:
            pytest.skip(f"cannot mount a small file system here: {(tmp_path / 'cramped.log').read_text()[:200]}")
        raise
    code, folder, manifest = produce_release(_request(tmp_path / "out", 3, cluster=address), windows=TINY_WINDOWS)
    err = capsys.readouterr().err
    assert re.search(r"worker tcp://\S+: disk full while writing .*; its tracks go to the other workers", err), err
    errors = [r.error for r in manifest.tracks]
    assert code == 0 and all(verify_done(folder, r) for r in manifest.tracks), (errors, err)
    assert errors == ["", "", ""]


def test_a_worker_with_other_models_refuses_the_track(tmp_path, dask_processes):
    other_models = tmp_path / "other-models"
    other_models.mkdir()
    for f in (REPO / "models").iterdir():
        (other_models / f.name).symlink_to(f)
    (other_models / "chord_lstm.pt").unlink()
    shutil.copyfile(REPO / "models" / "chord_lstm.pt", other_models / "chord_lstm.pt")
    with open(other_models / "chord_lstm.pt", "ab") as f:
        f.write(b"retrained elsewhere")  # a real difference in a checkpoint's content
    address, _ = dask_processes.scheduler()
    dask_processes.worker(address, "stranger", LOFI_MODELS_DIR=str(other_models))
    dask_processes.wait_for_workers(address, 1)

    code, folder, manifest = produce_release(_request(tmp_path / "out", 1, cluster=address), windows=TINY_WINDOWS)
    row = manifest.tracks[0]
    assert code == 1 and row.status == "failed"
    assert "refused track 1" in row.error and "model chord_lstm.pt differs" in row.error
    assert "no worker of the cluster matches" in row.error
    assert not list(folder.glob("*.wav"))


def test_a_local_cluster_stages_in_the_shared_folder_or_the_release_folder(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    code, folder, manifest = produce_release(_request(tmp_path / "out", 1, cluster="local:1", shared_dir=shared),
                                             windows=TINY_WINDOWS)
    assert code == 0 and verify_done(folder, manifest.tracks[0])
    assert any((folder / "work" / "midi").iterdir()) and not list((folder / "work").rglob("*_melody.wav"))
    assert list((shared / ".lofi-cluster").iterdir()) == []  # the track's staging folder was emptied and removed
    # Without --shared-dir a local cluster stages in the release folder (same disk): nothing is left there.
    code, folder, manifest = produce_release(_request(tmp_path / "out2", 1, cluster="local:1"), windows=TINY_WINDOWS)
    assert code == 0 and verify_done(folder, manifest.tracks[0]) and not (folder / ".lofi-cluster").exists()


def test_cluster_options_are_checked():
    assert parse_cluster("local:3") == ("local", 3)
    assert parse_cluster("tcp://10.0.0.5:8786") == ("address", "tcp://10.0.0.5:8786")
    assert parse_cluster("scheduler.lan:8786") == ("address", "tcp://scheduler.lan:8786")
    for bad in ("local:0", "local:x", "http://h", "tcp://host", ""):
        with pytest.raises(BadValueError):
            parse_cluster(bad)
    with pytest.raises(BadValueError, match="--jobs and --cluster"):
        validate_request(BatchRequest(count=1, cluster="local:2", jobs=2))
    with pytest.raises(BadValueError, match="--shared-dir goes with --cluster"):
        validate_request(BatchRequest(count=1, shared_dir=Path("/tmp")))
    # Where the tracks run is not part of the release: a local release resumes on a cluster.
    assert BatchRequest(cluster="local:2").identity() == BatchRequest(jobs=2).identity()


def test_fingerprint_differences_name_each_file():
    client = {"model chord_lstm.pt": "a" * 64, "soundfont GM.sf2": "b" * 64, "model drum_lstm.npz": "c" * 64}
    assert fingerprint_differences(client, dict(client)) == []
    worker = {"model chord_lstm.pt": "d" * 64, "soundfont Extra.sf2": "e" * 64, "model drum_lstm.npz": "missing"}
    assert fingerprint_differences(client, worker) == [
        "model chord_lstm.pt differs (client aaaaaaaaaaaa, worker dddddddddddd)",
        "model drum_lstm.npz is missing on the worker",
        "soundfont Extra.sf2 is on the worker only",
        "soundfont GM.sf2 is missing on the worker",
    ]


def test_an_unreachable_scheduler_is_one_clear_error(tmp_path, monkeypatch):
    from app.errors import ClusterError
    from app.release import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2.0)
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    with pytest.raises(ClusterError, match=f"cannot reach the Dask scheduler at {address}.*dask scheduler"):
        produce_release(_request(tmp_path / "out", 1, cluster=address), windows=TINY_WINDOWS)


def test_dead_workers_staging_folders_are_removed(tmp_path):
    from app.release.cluster import _remove_dead_stagings

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"lofi-track-002-p{int(finished.stdout)}-x1"
    alive = tmp_path / f"lofi-track-003-p{os.getpid()}-x2"
    recent = tmp_path / f"lofi-track-004-p{int(finished.stdout)}-x3"
    for folder in (dead, alive, recent):
        (folder / "work").mkdir(parents=True)
    hour_ago = time.time() - 3600
    for folder in (dead, alive):
        os.utime(folder, (hour_ago, hour_ago))
    _remove_dead_stagings(tmp_path)
    assert not dead.exists() and alive.exists() and recent.exists()


@pytest.mark.parametrize("flags, needle", [
    (["--cluster", "http://host"], "--cluster takes a Dask scheduler address like tcp://HOST:8786, or local:N"),
    (["--cluster", "local:0"], "--cluster local:N takes N = 1-64"),
    (["--cluster", "local:2", "--jobs", "2"], "--jobs and --cluster both say where the tracks run"),
    (["--shared-dir", "/tmp"], "--shared-dir goes with --cluster"),
    (["--cluster", "local:2", "--shared-dir", "/no/such/folder"], "--shared-dir /no/such/folder is not a folder"),
])
def test_bad_cluster_flags_exit_2_with_one_line(tmp_path, capsys, flags, needle):
    from app.main import main

    assert main(["batch", "--count", "1", "--out", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and not list(tmp_path.iterdir())


def test_the_release_bar_counts_done_failed_and_running(monkeypatch, capsys):
    from app.release.progress import ReleaseProgress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    progress = ReleaseProgress(total=4, done=1, workers=2, album="Counting")
    progress.stage(0, "02 Two", "render on tcp://10.0.0.7:40211")
    progress.stage(1, "03 Three", "compose on tcp://10.0.0.8:40212")
    assert progress.bar.postfix == "1 done, 0 failed, 2 running"
    assert "worker 1: 02 Two - render on tcp://10.0.0.7:40211" in progress.lines[0].desc
    progress.stage(1, "02 Two", "compose on tcp://10.0.0.8:40212")  # run again elsewhere: its old worker lets go
    assert progress.running == {1: "02 Two"} and progress.lines[0].desc.endswith("idle")
    progress.idle(1)
    progress.finished("02 Two", "FAILED: render error", failed=True)
    progress.finished("03 Three", "C minor ... (on tcp://10.0.0.8:40212)")
    assert progress.bar.postfix == "2 done, 1 failed, 0 running" and progress.bar.n == 3
    progress.close()
