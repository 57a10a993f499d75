"""Safe output files: write to a temporary name beside the target, rename when complete.

    with atomic_path(path) as tmp:          # one file
        write(tmp)
    with staged_files() as stage:           # several files that must appear together (a track)
        write(stage.temp(final_a)); write(stage.temp(final_b))
    # both renamed into place here, with Ctrl-C / SIGTERM held back for those few renames

Temporary names start with a dot and carry the writer's process id (".NAME.1234.partial.wav"), so
drop-folder scans skip them and clean_stale_temps() can remove those of processes that died.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import threading
from pathlib import Path

from app.errors import DiskFullError, OutputError

# Signals that stop a run; hold_signals() defers them.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
# ".<name>.<pid>.partial..." (atomic_path) and ".<name>.<pid>.staged..." (staged_files).
_TEMP_NAME = re.compile(r"^\..+\.(\d+)\.(partial|staged)")


def printable(text) -> str:
    """`text` with undecodable file-name bytes (surrogate escapes) shown as U+FFFD, so it can be
    printed, written to JSON or a tag, and compared with what a person types."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _display(path: Path) -> Path:
    """The final name a temporary name stands for (for error messages)."""
    match = re.match(r"^\.(.+)\.\d+\.staged(\.[^.]*)?$", path.name)
    return path.with_name(match.group(1) + (match.group(2) or "")) if match else path


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path next to `path`; on success rename it to `path`, on any error remove it.

    An interrupted run therefore never leaves a half-written file under the final name. OSErrors
    (disk full, folder unwritable) become OutputError naming the file and the reason.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {path.parent}: {exc.strerror or exc}") from exc
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        full = isinstance(exc, DiskFullError) or is_disk_full(exc, path.parent)  # while the partial file is there
        _remove(tmp)
        if full:  # named by its final name
            raise DiskFullError(_display(path), free_mb(path.parent)) from exc
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {_display(path)}: {exc.strerror or exc}") from exc
        raise


# errno values that mean "no room": ENOSPC, and EDQUOT (a user's quota is used up).
_NO_ROOM = {getattr(errno, name) for name in ("ENOSPC", "EDQUOT") if hasattr(errno, name)}
# Below this many bytes free, a writer's vague failure (libsndfile says only "System error.") is
# taken to be a full disk.
NEARLY_FULL_BYTES = 1 << 20


def is_disk_full(exc: BaseException, folder: str | Path) -> bool:
    """True when `exc`, or an exception it was raised from (mutagen and the exporters wrap the
    OSError), is ENOSPC/EDQUOT or says "[Errno 28]"; or when one of them is a writer's error (an
    OSError, libsndfile's RuntimeError "System error.", a mutagen error) and `folder`'s file system
    has under NEARLY_FULL_BYTES left."""
    writer_error = False
    seen, depth = exc, 0
    while seen is not None and depth < 10:
        if getattr(seen, "errno", None) in _NO_ROOM or "[Errno 28]" in str(seen):
            return True
        writer_error = writer_error or isinstance(seen, (OSError, RuntimeError)) \
            or type(seen).__module__.startswith(("mutagen", "soundfile"))
        seen, depth = seen.__cause__ or seen.__context__, depth + 1
    if not writer_error:
        return False
    try:
        return shutil.disk_usage(folder).free < NEARLY_FULL_BYTES
    except OSError:
        return False


@contextlib.contextmanager
def sndfile_errors_named():
    """Around a soundfile write: libsndfile reports a failed write or close as "System error." without
    its errno, so a full disk would be told from the free space left, which another writer's cleanup
    can change meanwhile. cffi keeps the C errno of this thread's last call: the error is raised again
    as the OSError it is (ENOSPC: a full disk), from the original."""
    try:
        yield
    except RuntimeError as exc:
        import soundfile

        code = getattr(getattr(soundfile, "_ffi", None), "errno", 0)
        if type(exc).__module__.startswith("soundfile") and code:
            raise OSError(code, f"{os.strerror(code)} ({exc})") from exc
        raise


def free_mb(folder: str | Path) -> int:
    """Whole megabytes free for this user on `folder`'s file system (0 when it cannot be told)."""
    try:
        return shutil.disk_usage(folder).free // 1_000_000
    except OSError:
        return 0


class StagedFiles:
    """Files that appear together or not at all. temp(final) gives the hidden name to write; commit()
    renames every one to its final name with stop signals held back; discard() removes them."""

    def __init__(self):
        self.pending: list[tuple[Path, Path]] = []  # (temporary, final)
        self.lock = threading.Lock()  # temp() may be called from writer threads

    def temp(self, final: str | Path) -> Path:
        """The temporary path for `final`, '.<stem>.<pid>.staged<suffix>' beside it: the suffix is
        kept, so a writer that appends '.wav' to a base name ('.<stem>.<pid>.staged') lands on it."""
        final = Path(final)
        tmp = final.with_name(f".{final.stem}.{os.getpid()}.staged{final.suffix}")
        with self.lock:
            self.pending.append((tmp, final))
        return tmp

    def commit(self) -> None:
        """Rename every temporary to its final name. A temporary that was never written stops the
        commit before any rename (all or none); only a rename failing midway (each is within one
        folder, so it is rare) can leave the ones before it in place."""
        with hold_signals(), self.lock:
            for tmp, final in self.pending:
                if not os.path.lexists(tmp):
                    raise OutputError(f"cannot write {final}: {os.strerror(errno.ENOENT)}")
            for tmp, final in self.pending:
                try:
                    os.replace(tmp, final)
                except OSError as exc:
                    if is_disk_full(exc, final.parent):
                        raise DiskFullError(final, free_mb(final.parent)) from exc
                    raise OutputError(f"cannot write {final}: {exc.strerror or exc}") from exc
            self.pending.clear()

    def discard(self) -> None:
        with hold_signals(), self.lock:  # a second Ctrl-C must not leave half the clean-up undone
            for tmp, _ in self.pending:
                _remove(tmp)
            self.pending.clear()


@contextlib.contextmanager
def staged_files():
    """Yield a StagedFiles; commit when the block completes, discard everything on any error or
    interruption (a failed commit discards what was not yet renamed)."""
    stage = StagedFiles()
    try:
        yield stage
        stage.commit()
    finally:
        stage.discard()


@contextlib.contextmanager
def hold_signals():
    """Defer SIGINT/SIGTERM/SIGHUP until the block ends, then act on them as before (the old handler
    runs, or the default action happens). Outside the main thread signals cannot be caught, and the
    block just runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for sig in STOP_SIGNALS:
        try:
            previous[sig] = signal.signal(sig, lambda signum, frame: caught.append(signum))
        except (ValueError, OSError):  # not allowed here
            pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if caught:
            _deliver(caught[0], previous.get(caught[0]))


def _deliver(signum: int, handler) -> None:
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_IGN:
        return
    elif signum == signal.SIGINT:
        raise KeyboardInterrupt
    else:
        os.kill(os.getpid(), signum)  # the default action, now that the handler is back


def clean_stale_temps(folder: str | Path, min_age_s: float = 600.0) -> int:
    """Remove temporary files in `folder` (not recursive) left by processes that no longer run
    (a run killed with SIGKILL or by a power cut) and untouched for min_age_s seconds (a process
    in another PID namespace sharing the folder may look dead here). Returns how many were removed."""
    import time

    removed = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    now = time.time()
    for name in names:
        match = _TEMP_NAME.match(name)
        if not match or _pid_alive(int(match.group(1))):
            continue
        path = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            if now - os.lstat(path).st_mtime >= min_age_s:
                os.unlink(path)
                removed += 1
    return removed


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process (or an odd number): leave its files alone
    return True


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


_HASHES: dict[tuple, str] = {}
_HASHES_LOCK = threading.Lock()


def cached_sha256(path: str | Path) -> str:
    """file_sha256, computed once per process for a file of the same path, size and mtime (a big
    SoundFont is hashed once, not once per track). OSError when it cannot be read."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ino)
    with _HASHES_LOCK:
        known = _HASHES.get(key)
    if known is None:
        known = file_sha256(path)
        with _HASHES_LOCK:
            _HASHES[key] = known
    return known


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's content, read in 1 MiB blocks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def json_ready(value, where: str = "value"):
    """`value` made of plain JSON types only: numpy scalars become int/float/bool, numpy arrays and
    tuples become lists, Paths become strings, dict keys become strings. Everything else that is not
    str/int/float/bool/None raises TypeError, and a NaN or infinite float raises ValueError (JSON has
    no such numbers, and a sidecar or manifest holding one is a bug upstream); both name the field
    (`where`, e.g. "sidecar.beat.bpm"). Returns a new structure; `value` is left alone."""
    import math

    import numpy as np

    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return int(value)  # an IntEnum or other int subclass as a plain int
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value}, which JSON cannot hold")
        return float(value)
    if isinstance(value, Path):
        return printable(value)
    if isinstance(value, dict):
        return {_json_key(k, where): json_ready(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{where} is a {type(value).__name__}, which JSON cannot hold")


def _json_key(key, where: str) -> str:
    import numpy as np

    if isinstance(key, np.generic):
        key = key.item()
    if isinstance(key, (str, int, float, bool)) or key is None:
        return key if isinstance(key, str) else json.dumps(key)
    raise TypeError(f"{where} has a key of type {type(key).__name__}, which JSON cannot hold")


def json_text(data, where: str = "value") -> str:
    """The JSON text (indented, UTF-8 friendly, ending in a newline) of json_ready(data)."""
    return json.dumps(json_ready(data, where), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: str | Path, data, where: str | None = None) -> Path:
    """Write json_text(data) to `path` atomically (temporary name, then rename). Text that is not
    valid Unicode (undecodable file-name bytes) is written as escapes rather than failing.
    Returns the path; OutputError when it cannot be written."""
    path = Path(path)
    text = json_text(data, where or path.name)
    with atomic_path(path) as tmp:
        tmp.write_bytes(text.encode("utf-8", "backslashreplace"))
    return path
