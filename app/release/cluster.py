"""A release made on Dask distributed: each track a task on a cluster's workers, the release
assembled on the client exactly as with local workers.

    python -m app.main batch --count 200 --minutes 3 --cluster tcp://10.0.0.5:8786
    python -m app.main batch --count 20 --cluster local:4                  # a LocalCluster here
    python -m app.main batch --count 200 --cluster tcp://10.0.0.5:8786 --shared-dir /mnt/lofi

    pool = ClusterWorkers("tcp://HOST:8786", windows, folder)     # connects (ClusterError if it cannot)
    dispatch(pool, pending, before_send, on_event)                        # the loop of app.release.workers

ClusterWorkers answers the same calls as the local pools (idle, send, next_event, stop), so batch.py
keeps one loop, one ledger and one manifest for all three. What runs where:

- on a worker, make_track_on_worker: the worker compares its models, SoundFonts and effect files
  with the client's (input_fingerprint; a difference refuses the task with a message naming the
  files), makes the track with app.release.track.make_track (the local workers' own function) in a
  staging folder, and sends back the files as bytes (or leaves them in --shared-dir, or for
  local:N in the release folder itself: those workers share this machine's disk);
- on the client: the files are written into the release's work/ folder and the track goes to the
  same ledger as a local one: the originality check between tracks, the move of the finals, the
  manifest, compliance, the cover, the long mix.

Dask runs a task again on another worker when its worker dies (up to the scheduler's
allowed-failures); a scheduler that goes away ends the run with one clear error, and the same
command resumes the release from its manifest. Dask is imported only inside what needs it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.errors import BadValueError, ClusterError, DiskFullError, OutputError
from app.release.track import MadeTrack, TrackTask
from app.release.workers import WorkerEvent, attempt_track

LOCAL_PREFIX = "local:"  # --cluster local:N
LOCAL_WORKERS_RANGE = (1, 64)
# A scheduler address: tcp://HOST:PORT (also tls:// and the other Dask schemes), or HOST:PORT.
_ADDRESS = re.compile(r"^(?:(tcp|tls|ucx|inproc|ws|wss)://)?[^\s:/]+(?::\d{1,5})$")
CONNECT_TIMEOUT_S = 20.0  # to reach the scheduler at the start, and to reconnect before giving up
SLOTS_PER_WORKER = 2  # tasks handed to the scheduler per worker: each worker's next track is waiting
SLOTS_REFRESH_S = 2.0  # how often the client asks the scheduler how many workers it has
STAGING_FOLDER = ".lofi-cluster"  # inside --shared-dir: the tracks' staging folders
MAX_PROGRESS_LINES = 8  # worker lines shown under the release's bar (the bar counts every worker)
NO_WORKER = 1 << 20  # the worker number of an event no worker is known for (beyond every progress line)


def parse_cluster(text: str) -> tuple[str, Any]:
    """--cluster -> ('local', N) for local:N, or ('address', 'tcp://HOST:PORT'); BadValueError else."""
    text = str(text).strip()
    if text.lower().startswith(LOCAL_PREFIX):
        count = text[len(LOCAL_PREFIX):]
        lo, hi = LOCAL_WORKERS_RANGE
        if not count.isdigit() or not lo <= int(count) <= hi:
            raise BadValueError(f"--cluster local:N takes N = {lo}-{hi} worker processes, got {text!r}")
        return "local", int(count)
    if not _ADDRESS.match(text):
        raise BadValueError(f"--cluster takes a Dask scheduler address like tcp://HOST:8786, or local:N; got {text!r}")
    return "address", text if "://" in text else f"tcp://{text}"


# --- what every machine must share -------------------------------------------------------------

def input_fingerprint() -> dict[str, str]:
    """The files that decide the sound, as 'kind name' -> SHA-256 ('missing' when absent): the three
    models' checkpoints and sampling weights (LOFI_MODELS_DIR), every SoundFont found (app/sf2 and
    the system folders, by file name) and the effect files (app/effects, by relative path). Names,
    not full paths, so a project installed in another folder still matches. Hashed once per process."""
    from app import paths
    from app.audio.instruments import discover_soundfonts
    from app.audio.loops import discover_effects
    from app.files import cached_sha256
    from app.learn.checkpoint import sampling_weights_path

    prints = {}
    for checkpoint in (paths.CHORD_CHECKPOINT, paths.MELODY_CHECKPOINT, paths.DRUM_CHECKPOINT):
        for file in (checkpoint, sampling_weights_path(checkpoint)):
            try:
                prints[f"model {file.name}"] = cached_sha256(file)
            except OSError:
                prints[f"model {file.name}"] = "missing"
    soundfonts, _ = discover_soundfonts()
    for sf in soundfonts:
        prints[f"soundfont {sf.path.name}"] = cached_sha256(sf.path)
    effects, _ = discover_effects()
    for effect in effects:
        prints[f"effect {effect.path.relative_to(paths.EFFECTS_DIR).as_posix()}"] = cached_sha256(effect.path)
    return prints


def fingerprint_differences(client: dict[str, str], worker: dict[str, str]) -> list[str]:
    """What differs between the client's and a worker's input_fingerprint, one phrase each."""
    out = []
    for name in sorted(set(client) | set(worker)):
        mine, theirs = client.get(name, "missing"), worker.get(name, "missing")
        if mine == theirs:
            continue
        if theirs == "missing":
            out.append(f"{name} is missing on the worker")
        elif mine == "missing":
            out.append(f"{name} is on the worker only")
        else:
            out.append(f"{name} differs (client {mine[:12]}, worker {theirs[:12]})")
    return out


# --- the worker's side -------------------------------------------------------------------------

@dataclass
class ReleaseInputs:
    """What every task of a release needs: the originality guard's training windows, the cover
    (embedded in the finals) and the client's input_fingerprint. Sent with each task, pickled once
    on the client (about 3 MB; Dask would walk the windows' set on every submit otherwise) and
    unpickled once per worker process. Not scattered: scattered data dies with the workers holding
    it, and a track must survive any worker's death."""

    windows: set
    cover_jpeg: bytes
    fingerprint: dict[str, str]


@dataclass
class WorkerOutcome:
    """A task's answer. kind: 'done', 'failed', 'full' (as attempt_track) or 'refused' (the worker's
    inputs differ); payload: a MadeTrack (paths inside `stage`) or the message; files: relative path
    -> bytes (empty with --shared-dir, where they stay in `stage`); worker: its address."""

    kind: str
    payload: Any
    worker: str
    stage: str = ""
    files: dict[str, bytes] = field(default_factory=dict)


_worker_models = None
_worker_inputs: tuple[str, ReleaseInputs] | None = None  # (digest of the pickled inputs, the inputs)
# One track at a time per worker process: the pipeline keeps per-process state (the spill folder,
# FluidSynth), so a worker started with --nthreads above 1 queues its tracks instead of mixing them.
_TRACK_LOCK = threading.Lock()


def make_track_on_worker(task: TrackTask, pickled_inputs: bytes, shared_dir: str | None, topic: str) -> WorkerOutcome:
    """The task run on a Dask worker: refuse when this machine's inputs differ from the client's,
    else make the track with make_track in a staging folder (a temporary folder, or a new folder in
    shared_dir/.lofi-cluster) and return its files. pickled_inputs: the release's ReleaseInputs.
    Each stage is sent to the client as a Dask event on `topic`: {'number', 'stage', 'worker'}."""
    from distributed import get_worker

    global _worker_models
    worker = get_worker()
    number = task.plan.number
    with _TRACK_LOCK:
        inputs = _unpickled_inputs(pickled_inputs)
        differ = fingerprint_differences(inputs.fingerprint, input_fingerprint())
        if differ:
            more = f" (and {len(differ) - 3} more)" if len(differ) > 3 else ""
            return WorkerOutcome("refused", f"worker {worker.address} refused track {number}: its models, SoundFonts "
                                 f"or effect files differ from the client's: {'; '.join(differ[:3])}{more}",
                                 worker.address)
        if _worker_models is None:
            from app.music.compose import load_models

            _worker_models = load_models()
        root = Path(shared_dir) / STAGING_FOLDER if shared_dir else Path(tempfile.gettempdir())
        stage, keep = None, False
        try:
            root.mkdir(parents=True, exist_ok=True)
            if not shared_dir:  # another machine's process ids mean nothing here
                _remove_dead_stagings(root)
            stage = Path(tempfile.mkdtemp(prefix=f"lofi-track-{number:03d}-p{os.getpid()}-", dir=root))
            cover = stage / "cover.jpg"
            cover.write_bytes(inputs.cover_jpeg)
            staged = replace(task, release=replace(task.release, folder=str(stage), cover=str(cover)))

            def progress(name):
                worker.log_event(topic, {"number": number, "stage": name, "worker": worker.address})

            kind, payload = attempt_track(staged, _worker_models, inputs.windows, progress)
            cover.unlink()
            files = {}
            if kind == "done" and not shared_dir:
                files = {p.relative_to(stage).as_posix(): p.read_bytes() for p in sorted(stage.rglob("*"))
                         if p.is_file() and not p.name.startswith(".")}
            keep = kind == "done" and bool(shared_dir)  # the client moves the files and removes the folder
            return WorkerOutcome(kind, payload, worker.address, str(stage), files)
        except OSError as exc:  # the staging folder itself (the pipeline's own errors are attempt_track's)
            from app.files import free_mb, is_disk_full

            if is_disk_full(exc, root):
                return WorkerOutcome("full", f"disk full while staging track {number} in {root} "
                                             f"({free_mb(root)} MB free)", worker.address)
            return WorkerOutcome("failed", f"cannot stage track {number} in {root} on worker {worker.address}: "
                                           f"{exc.strerror or exc}", worker.address)
        finally:
            if stage is not None and not keep:
                shutil.rmtree(stage, ignore_errors=True)


def _unpickled_inputs(pickled: bytes) -> ReleaseInputs:
    """The release's inputs, unpickled once per worker process (a new release's replace them)."""
    import hashlib
    import pickle

    global _worker_inputs
    digest = hashlib.sha256(pickled).hexdigest()
    if _worker_inputs is None or _worker_inputs[0] != digest:
        _worker_inputs = digest, pickle.loads(pickled)
    return _worker_inputs[1]


def _remove_dead_stagings(root: Path, min_age_s: float = 600.0) -> None:
    """Remove the staging folders in `root` of worker processes that died making a track (killed:
    no chance to clean up), once untouched for min_age_s (files.clean_stale_temps' rule)."""
    import time

    from app.files import _pid_alive

    for path in root.glob("lofi-track-*-p*-*"):
        match = re.match(r"lofi-track-\d+-p(\d+)-", path.name)
        with contextlib.suppress(OSError):
            if match and not _pid_alive(int(match.group(1))) and time.time() - path.stat().st_mtime >= min_age_s:
                shutil.rmtree(path, ignore_errors=True)


# --- the client's side -------------------------------------------------------------------------

class ClusterWorkers:
    """The pool of batch.py's dispatch loop, on a Dask cluster. `send` submits a task; `next_event`
    turns what comes back into WorkerEvents (the files written into the release first), sends a
    track that a worker refused (other inputs) or could not write (its own disk full) to the other
    workers and leaves that worker out, and raises nothing: a lost scheduler is a 'fatal' event.
    Workers are numbered in the order they are first heard from (the progress lines); every event
    names the worker's address in `where`."""

    def __init__(self, cluster: str, windows: set, folder: Path, shared_dir: Path | None = None):
        import logging

        from distributed import Client, LocalCluster

        kind, value = parse_cluster(cluster)
        self.windows, self.folder = windows, Path(folder)
        self.shared_dir = str(shared_dir) if shared_dir else None
        self.local = None
        self.own_staging = None  # local:N: the release folder's staging folder, this run's alone (the lock)
        if kind == "local" and shared_dir is None:
            # The workers share this machine's disk: they stage the tracks in the release folder and
            # the files are renamed into place instead of travelling as bytes.
            self.shared_dir = str(self.folder)
            self.own_staging = self.folder / STAGING_FOLDER
            shutil.rmtree(self.own_staging, ignore_errors=True)  # an interrupted run's
        # The client's own log lines (reconnect attempts, a worker's traceback) would interleave with
        # the progress bar; what matters reaches the person as an event or a ClusterError.
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        try:
            if kind == "local":
                from app.release.workers import _sigint_ignored

                # As with --jobs: the worker processes ignore Ctrl-C (it reaches the whole process
                # group); this process cancels the tasks and closes the cluster.
                with _sigint_ignored():
                    self.local = LocalCluster(n_workers=value, threads_per_worker=1, processes=True,
                                              dashboard_address=None, silence_logs=logging.CRITICAL)
                self.client = Client(self.local, timeout=CONNECT_TIMEOUT_S)
            else:
                self.client = Client(value, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            self._close()
            raise ClusterError(f"cannot reach the Dask scheduler at {value}: {exc}; is `dask scheduler` "
                               f"running there?") from None
        self.address = self.local.scheduler_address if self.local is not None else value
        self.events: queue.Queue = queue.Queue()  # ('stage', msg) or ('end', slot, future), from Dask's threads
        self.topic = f"lofi-batch-{uuid.uuid4().hex[:12]}"
        self.client.subscribe_topic(self.topic, lambda event: self.events.put(("stage", event[1])))
        self.busy: dict[int, TrackTask] = {}
        self.futures: dict[int, Any] = {}
        self.inputs: bytes | None = None  # the pickled ReleaseInputs, at the first send (the cover exists by then)
        self.fingerprint = input_fingerprint()
        self.excluded: set[str] = set()  # workers that refused a track or whose disk is full: sent nothing more
        self.worker_numbers: dict[str, int] = {}
        self.running_on: dict[int, str] = {}  # track number -> the worker its last stage came from
        self.workers = self._workers()
        self._workers_checked = 0.0
        self.display_lines = max(1, min(len(self.workers), MAX_PROGRESS_LINES))
        print(f"batch: cluster {self.address}: {len(self.workers)} worker(s)"
              + ("" if self.workers else "; the tracks wait until one joins"), file=sys.stderr)

    def _workers(self) -> list[str]:
        """The scheduler's workers now (addresses); [] when it cannot say."""
        try:
            return sorted(self.client.nthreads())
        except Exception:  # noqa: BLE001 - a lost scheduler shows up as the tasks' cancellation
            return []

    def idle(self) -> list[int]:
        """Free slots: SLOTS_PER_WORKER per worker (at least one, so a task waits for a worker to join)."""
        import time

        if time.monotonic() - self._workers_checked > SLOTS_REFRESH_S:
            self.workers, self._workers_checked = self._workers(), time.monotonic()
        slots = max(1, SLOTS_PER_WORKER * len([w for w in self.workers if w not in self.excluded]))
        return [s for s in range(slots) if s not in self.busy]

    def send(self, slot: int, task: TrackTask) -> None:
        import pickle

        if self.inputs is None:
            self.inputs = pickle.dumps(ReleaseInputs(self.windows, Path(task.release.cover).read_bytes(),
                                                     self.fingerprint))
        try:
            self._submit(slot, task)
        except (OSError, TimeoutError, RuntimeError) as exc:  # the client lost its scheduler
            raise ClusterError(f"lost the Dask scheduler at {self.address} ({type(exc).__name__}: {exc}); "
                               f"run the same command again to finish the release") from None
        self.busy[slot] = task

    def _submit(self, slot: int, task: TrackTask) -> None:
        allowed = [w for w in self.workers if w not in self.excluded] if self.excluded else None
        future = self.client.submit(make_track_on_worker, task, self.inputs, self.shared_dir, self.topic,
                                    key=f"lofi-track-{task.plan.number:03d}-{uuid.uuid4().hex[:8]}", pure=False,
                                    workers=allowed or None, allow_other_workers=False)
        self.futures[slot] = future
        future.add_done_callback(lambda f, s=slot: self.events.put(("end", s, f)))

    def _number(self, address: str | None) -> int:
        """The worker's display number (first heard from, first numbered); NO_WORKER when unknown."""
        if address is None:
            return NO_WORKER
        return self.worker_numbers.setdefault(address, len(self.worker_numbers))

    def next_event(self, timeout: float = 0.5) -> WorkerEvent | None:
        """The next event, or None after `timeout` s (or for an event that needs no answer)."""
        try:
            item = self.events.get(timeout=timeout)
        except queue.Empty:
            return None
        if item[0] == "stage":
            msg = item[1]
            if not any(t.plan.number == msg.get("number") for t in self.busy.values()):
                return None  # from a task already ended or cancelled
            where = self.running_on[msg["number"]] = msg["worker"]
            return WorkerEvent("stage", self._number(where), msg["number"], f"{msg['stage']} on {where}", None, where)
        _, slot, future = item
        if self.futures.get(slot) is not future:
            return None  # a cancelled task's late answer
        task = self.busy[slot]
        number = task.plan.number
        outcome, message, lost = self._outcome(future)
        del self.futures[slot]
        last_seen = self.running_on.pop(number, None)
        if outcome is None:
            if lost:
                return WorkerEvent("fatal", NO_WORKER, None, message, None)
            del self.busy[slot]
            return WorkerEvent("failed", self._number(last_seen), number, message, task, last_seen or "")
        if outcome.kind == "refused":
            return self._elsewhere(slot, task, outcome, "failed", "no worker of the cluster matches this machine")
        if outcome.kind == "full" and not self.shared_dir:  # that worker's own disk: the others may have room
            return self._elsewhere(slot, task, outcome, "full", "every worker's disk is full",
                                   f"worker {outcome.worker}: {outcome.payload}; its tracks go to the other workers")
        del self.busy[slot]
        w = self._number(outcome.worker)
        payload = outcome.payload
        if outcome.kind == "done":
            try:
                payload = self._bring_in(outcome)
            except OutputError as exc:  # this machine's disk is full (the run stops) or the folder unwritable
                kind = "full" if isinstance(exc, DiskFullError) else "failed"
                return WorkerEvent(kind, w, number, str(exc), task, outcome.worker)
        return WorkerEvent(outcome.kind, w, number, payload, task, outcome.worker)

    def _outcome(self, future) -> tuple[WorkerOutcome | None, str, bool]:
        """(the task's WorkerOutcome, '', False), or (None, why it has none, whether the scheduler is
        gone: then the run cannot go on)."""
        from concurrent.futures import CancelledError

        from distributed import KilledWorker

        try:
            return future.result(), "", False
        except Exception as exc:  # noqa: BLE001 - every way a task can end without an answer is named below
            if getattr(exc, "reason", "") == "scheduler-connection-lost" or self.client.status != "running":
                return None, (f"lost the Dask scheduler at {self.address}; the tracks done so far are kept: "
                              f"run the same command again to finish the release"), True
            if isinstance(exc, KilledWorker):
                return None, "the workers making it kept dying (Dask's allowed-failures reached)", False
            if isinstance(exc, CancelledError):
                return None, "cancelled on the cluster", False
            return None, f"a worker could not run it: {type(exc).__name__}: {exc}", False  # e.g. no project there
        finally:
            with contextlib.suppress(Exception):
                future.release()

    def _elsewhere(self, slot: int, task: TrackTask, outcome: WorkerOutcome, kind: str, none_left: str,
                   notice: str | None = None) -> WorkerEvent | None:
        """A worker cannot make tracks (it refused one, or its disk is full): say so (once per worker),
        leave it out from now on and send the track to the others. When no other worker is left, the
        track ends with a `kind` event: the worker's message and `none_left`."""
        if outcome.worker not in self.excluded:
            self.excluded.add(outcome.worker)
            print(f"batch: {notice or outcome.payload}", file=sys.stderr)
        self.workers = self._workers()
        if any(w not in self.excluded for w in self.workers):
            self._submit(slot, task)
            return None
        del self.busy[slot]
        return WorkerEvent(kind, self._number(outcome.worker), task.plan.number, f"{outcome.payload}; {none_left}",
                           task, outcome.worker)

    def _bring_in(self, outcome: WorkerOutcome) -> MadeTrack:
        """Put a made track's files into the release's folder (written from bytes, or moved from the
        shared staging folder) and return its MadeTrack with the paths of this machine."""
        from app.files import atomic_path
        from app.release.track import remove_files

        stage = Path(outcome.stage)
        written = []
        try:
            if self.shared_dir is None:
                for rel, data in outcome.files.items():
                    written.append(self.folder / rel)
                    with atomic_path(self.folder / rel) as tmp:
                        tmp.write_bytes(data)
            else:
                for path in sorted(stage.rglob("*")):
                    if path.is_file() and not path.name.startswith("."):
                        written.append(self.folder / path.relative_to(stage))
                        _move_in(path, written[-1])
        except BaseException:
            remove_files(written)  # no file of a track that did not arrive whole stays in work/
            raise
        finally:
            if self.shared_dir is not None:
                shutil.rmtree(stage, ignore_errors=True)
        made: MadeTrack = outcome.payload
        here = lambda p: str(self.folder / Path(p).relative_to(stage))  # noqa: E731
        made = replace(made, work_files={fmt: here(p) for fmt, p in made.work_files.items()},
                       sidecar=here(made.sidecar))
        _relocate_sidecar(Path(made.sidecar), str(stage), str(self.folder))
        return made

    def stop(self, graceful: bool) -> None:
        """Cancel the tasks not finished (Ctrl-C, an error; a task already running finishes on its
        worker and its answer is dropped), close the client and a local cluster."""
        if self.futures:
            with contextlib.suppress(Exception):
                self.client.cancel(list(self.futures.values()), force=True)
        self.futures.clear()
        self.busy.clear()
        self._close()

    def _close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=5)
        if self.local is not None:
            with contextlib.suppress(Exception):
                self.local.close(timeout=10)
        if getattr(self, "own_staging", None) is not None:
            shutil.rmtree(self.own_staging, ignore_errors=True)


def _move_in(source: Path, target: Path) -> None:
    """Move a file from the shared folder into the release: a rename on the same file system, else
    a copy under a temporary name, renamed when complete."""
    from app.files import atomic_path

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except OSError:
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
        source.unlink()


def _relocate_sidecar(path: Path, old: str, new: str) -> None:
    """Point the paths a worker wrote into a track's sidecar (its staging folder) at the release."""
    import json

    from app.deliver.replay import write_sidecar

    def moved(value):
        if isinstance(value, str) and (value == old or value.startswith(old + "/")):
            return new + value[len(old):]
        if isinstance(value, dict):
            return {k: moved(v) for k, v in value.items()}
        if isinstance(value, list):
            return [moved(v) for v in value]
        return value

    with contextlib.suppress(OSError, ValueError):
        write_sidecar(moved(json.loads(path.read_text(encoding="utf-8"))), path)
