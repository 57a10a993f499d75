"""Who makes the tracks, and the one loop that hands them out.

    pool = SpawnWorkers(jobs, windows)                  # J 'spawn' processes, models loaded once each
    pool = InlineWorker(models, windows, on_stage)      # or this process, for --jobs 1
    dispatch(pool, pending, before_send, on_event)      # the same loop for both

Both pools answer idle(), send(worker, task), next_event() and stop(graceful); an event is a
WorkerEvent: ('ready' | 'stage' | 'done' | 'failed' | 'fatal', worker, track number, payload, task).
"""

from __future__ import annotations

import contextlib
import queue
import signal
from collections import deque
from typing import Any, Callable, NamedTuple

from app.errors import DiskFullError, LofiError
from app.release.track import TrackTask, make_track


class WorkerEvent(NamedTuple):
    kind: str  # 'ready', 'stage', 'done', 'failed', 'full' (failed: the disk is full) or 'fatal'
    worker: int
    number: int | None  # the track's number (None for 'ready' and 'fatal')
    payload: Any  # 'stage': the stage name; 'done': a MadeTrack; 'failed', 'full' and 'fatal': the message
    task: TrackTask | None  # the task a 'done' or 'failed' event ends
    where: str = ""  # the machine that ran it, where the pool knows (a cluster worker's address)


# A worker makes track after track, each allocating and freeing about a gigabyte in 2 MB blocks.
# glibc hands freed memory back to the system (whatever passes 4 MB at the top of its heap), so every
# track faults it in again, which costs system time (here ~3 ms per MB when the host has reclaimed
# it). Before a track of at most KEEP_FREED_MAX_MINUTES a worker keeps up to KEEP_FREED_BYTES freed
# for the next one (`batch --count 10 --minutes 2 --jobs 2`: 29.3 s -> 27.7 s, system time 5.8 s ->
# 2.7 s, about 75 MB more per worker); before a longer track it hands freed memory straight back, as
# a long track's peak memory has a limit (1.5 GB for 20 minutes).
KEEP_FREED_BYTES = 256 << 20
KEEP_FREED_MAX_MINUTES = 6.0
# glibc's largest dynamic mmap threshold: 2 MB blocks come from the heap, whole layers are still
# mapped and unmapped on their own.
_KEEP_MMAP_THRESHOLD = 32 << 20
_GLIBC_TRIM_THRESHOLD, _GLIBC_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)
_GLIBC_DEFAULT_THRESHOLD = 128 << 10


def keep_freed_memory(minutes: float) -> bool:
    """Set this process's allocator for a track of `minutes` (glibc only; elsewhere nothing
    happens): keep up to KEEP_FREED_BYTES of freed memory for the next track when it is at most
    KEEP_FREED_MAX_MINUTES long, else glibc's own thresholds. Returns whether glibc took it."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    keep = minutes <= KEEP_FREED_MAX_MINUTES
    # Blocks under the mmap threshold come from the heap, whose top is given back past the trim threshold.
    mmap = _KEEP_MMAP_THRESHOLD if keep else _GLIBC_DEFAULT_THRESHOLD
    trim = KEEP_FREED_BYTES if keep else _GLIBC_DEFAULT_THRESHOLD
    return bool(mallopt(_GLIBC_MMAP_THRESHOLD, mmap)) and bool(mallopt(_GLIBC_TRIM_THRESHOLD, trim))


def attempt_track(task: TrackTask, models, windows: set, progress) -> tuple[str, Any]:
    """make_track, with any failure turned into ('failed', message) (('full', message) when the disk
    is full); else ('done', MadeTrack). The allocator is set for the track's length first
    (keep_freed_memory)."""
    keep_freed_memory(task.plan.minutes)
    try:
        return "done", make_track(task, models, windows, progress=progress)
    except DiskFullError as exc:
        return "full", str(exc)
    except LofiError as exc:
        return "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - one broken track must not stop the release
        return "failed", f"internal error: {type(exc).__name__}: {exc}"


def dispatch(pool, pending: deque, before_send: Callable[[TrackTask], None],
             on_event: Callable[[WorkerEvent], None]) -> None:
    """Hand the pending tasks to the pool's idle workers and pass every event on, until nothing is
    pending or busy. before_send(task) runs just before a task goes out; on_event may append to
    `pending` (a track to make again)."""
    while pending or pool.busy:
        for w in pool.idle():
            if not pending:
                break
            task = pending.popleft()
            before_send(task)
            pool.send(w, task)
        event = pool.next_event()
        if event is not None:
            on_event(event)


class InlineWorker:
    """The --jobs 1 pool: one worker, this process, the models given; a track is made when its
    event is asked for, and its stages go straight to on_stage(worker, number, stage)."""

    def __init__(self, models, windows: set, on_stage: Callable[[int, int, str], None]):
        self.models, self.windows, self.on_stage = models, windows, on_stage
        self.busy: dict[int, TrackTask] = {}

    def idle(self) -> list[int]:
        return [] if self.busy else [0]

    def send(self, w: int, task: TrackTask) -> None:
        self.busy[w] = task

    def next_event(self, timeout: float = 0.5) -> WorkerEvent | None:
        task = self.busy.get(0)
        if task is None:
            return None
        n = task.plan.number
        kind, payload = attempt_track(task, self.models, self.windows, lambda st: self.on_stage(0, n, st))
        del self.busy[0]
        return WorkerEvent(kind, 0, n, payload, task)

    def stop(self, graceful: bool) -> None:
        """Nothing runs in the background."""


_exiting = False


def _exit_on_sigterm(signum, frame):
    global _exiting
    if _exiting:  # a second SIGTERM (the parent-death signal and the watchdog) must not cut the unwinding short
        return
    _exiting = True
    raise SystemExit(143)  # unwinds through atomic_path, which removes its temporary file


# How often a worker looks for its parent, and how long it gives itself to unwind (SIGTERM: its
# temporary files removed) before it exits outright once the parent is gone.
PARENT_CHECK_S = 0.5
ORPHAN_GRACE_S = 3.0


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker end when the batch parent dies, even by SIGKILL or the OOM killer (no chance
    to stop its workers): on Linux the kernel sends SIGTERM at the parent's death
    (prctl PR_SET_PDEATHSIG); everywhere a watchdog thread sees the parent gone (os.getppid()
    changes), sends SIGTERM to this process and, if the work does not unwind within
    ORPHAN_GRACE_S (stuck in C code), exits outright."""
    import ctypes
    import os
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(ORPHAN_GRACE_S)
        os._exit(143)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _worker_main(worker_id: int, tasks, events, parent_pid: int | None = None) -> None:
    """A worker process: load the models once, take the originality guard's training windows (the
    first item of its task queue), then make tracks from the queue until None. It ends by itself
    when the parent (parent_pid) dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    from app.music.compose import load_models  # the numpy sampling port: workers never import torch

    models = load_models()
    windows = tasks.get()
    events.put(("ready", worker_id, None, None))
    while True:
        task = tasks.get()
        if task is None:
            return
        number = task.plan.number
        kind, payload = attempt_track(task, models, windows,
                                      lambda st, n=number: events.put(("stage", worker_id, n, st)))
        events.put((kind, worker_id, number, payload))


class SpawnWorkers:
    """J spawned worker processes, each with its own task queue so the parent knows who has what."""

    def __init__(self, jobs: int, windows: set):
        import multiprocessing as mp

        self.ctx = mp.get_context("spawn")  # FluidSynth and BLAS thread pools do not survive fork reliably
        self.events = self.ctx.Queue()
        self.windows = windows
        self.procs: dict[int, tuple] = {}
        self.busy: dict[int, TrackTask] = {}
        self.ready: set[int] = set()
        self.starts_failed = 0
        for w in range(jobs):
            self._start(w)

    def _start(self, w: int) -> None:
        import os

        tasks = self.ctx.Queue()
        # The windows (~0.6 MB pickled) go through the queue, whose feeder thread writes them while
        # the worker starts: as a start() argument they would fill the pipe and block the parent until
        # that worker had booted, so the workers would start one after another.
        tasks.put(self.windows)
        proc = self.ctx.Process(target=_worker_main, args=(w, tasks, self.events, os.getpid()),
                                daemon=True, name=f"lofi-batch-{w + 1}")
        # The worker inherits an ignored SIGINT through exec, so a Ctrl-C to the whole process group
        # while it is still starting up does not kill it with a traceback; the parent decides.
        with _sigint_ignored():
            proc.start()
        self.procs[w] = (proc, tasks)

    def idle(self) -> list[int]:
        return [w for w in sorted(self.ready) if w not in self.busy]

    def send(self, w: int, task: TrackTask) -> None:
        self.busy[w] = task
        self.procs[w][1].put(task)

    def next_event(self, timeout: float = 0.5) -> WorkerEvent | None:
        """The next event, or None after `timeout` s. A worker that died holding a task gives a
        'failed' event and is replaced."""
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            for w, (proc, _) in list(self.procs.items()):
                if not proc.is_alive():
                    task = self.busy.pop(w, None)
                    self.ready.discard(w)
                    code = proc.exitcode
                    self._start(w)
                    if task is not None:
                        return WorkerEvent("failed", w, task.plan.number, f"worker process died (exit code {code})",
                                           task)
                    self.starts_failed += 1
                    if self.starts_failed > 2 * len(self.procs):
                        return WorkerEvent("fatal", w, None, f"worker processes keep dying at start (exit code {code})",
                                           None)
            return None
        kind, w, number, payload = event
        task = None
        if kind == "ready":
            self.ready.add(w)
        elif kind in ("done", "failed", "full"):
            task = self.busy.pop(w, None)
        return WorkerEvent(kind, w, number, payload, task)

    def stop(self, graceful: bool) -> None:
        """Ask workers to finish (graceful) or terminate them (SIGTERM: each unwinds, removing its
        temporary files; SIGKILL for any still alive 5 s later)."""
        import time

        for proc, tasks in self.procs.values():
            if graceful:
                with contextlib.suppress(Exception):
                    tasks.put(None)
            elif proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + (10 if graceful else 5)
        for proc, _ in self.procs.values():
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
        for proc, _ in self.procs.values():
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)


@contextlib.contextmanager
def _sigint_ignored():
    """SIGINT ignored for the block (main thread only; elsewhere a no-op)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
