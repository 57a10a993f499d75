"""Track names and the files they own: a safe file name from any text (or, with --ascii-names, one
of letters, digits, '-' and '_' only, as some distributors require), the output folders, and a
reservation that gives each process a free name (NAME, NAME-2, ...) so two never write one track.

Files of a track named NAME: <midi>/NAME.mid (+ NAME_<part>.mid), <wav>/NAME_<stem>.wav,
<results>/NAME.wav (+ .mp3/.flac), NAME.json (the sidecar) and NAME.png.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from app import paths
from app.errors import OutputError

MAX_NAME = 80


@dataclass
class OutputDirs:
    midi: Path = paths.MIDI_DIR
    wav: Path = paths.WAV_DIR
    results: Path = paths.RESULTS_DIR

    @classmethod
    def under(cls, root: Path) -> "OutputDirs":
        """midi/, wav/ and final_results/ inside one folder (batch releases, tests)."""
        return cls(root / "midi", root / "wav", root / "final_results")




# Parts and layers whose files carry a track's name (NAME_<part>.mid / .wav): a name is free only
# when none of its files exist, so a new track never replaces a part file of another one.
TRACK_PARTS = ("melody", "chords", "bass", "drums", "beat", "ambience")
RESULT_SUFFIXES = (".json", ".wav", ".mp3", ".flac", ".png")
# File names are limited to 255 bytes; a track's longest file name adds '_ambience.wav' and a
# temporary name adds '.<pid>.staged.<pid>.partial' and dots: keep the name well below.
MAX_NAME_BYTES = 150
STALE_RESERVATION_S = 10.0


def safe_name(name: str) -> str:
    """A track name -> a safe file name: no path separators, no leading dots, no control
    characters or undecodable bytes, at most MAX_NAME characters and MAX_NAME_BYTES bytes of UTF-8;
    'track' when nothing usable is left. safe_name(safe_name(x)) == safe_name(x)."""
    text = unicodedata.normalize("NFKC", str(name))
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = re.sub(r"[^\w\- .()]+", "_", text, flags=re.UNICODE)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\.{2,}", "_", text)
    text = _trim(text)
    return text or "track"


# Letters NFKD does not take apart into an ASCII letter and marks.
_ASCII_LETTERS = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
                                "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th",
                                "Þ": "Th", "ı": "i"})


def ascii_name(name: str) -> str:
    """A track name -> a file name of ASCII letters, digits, '-' and '_' only: accents dropped
    ('Café' -> 'Cafe'), other characters and spaces become '_' ('01 Tea at Dusk' -> '01_Tea_at_Dusk'),
    a dash keeps no spaces round it ('Rain - Night' -> 'Rain-Night'); 'track' when nothing is left.
    At most MAX_NAME characters; ascii_name(ascii_name(x)) == ascii_name(x)."""
    text = unicodedata.normalize("NFKD", str(name).translate(_ASCII_LETTERS))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[^A-Za-z0-9\-]+", " ", text.translate(_ASCII_LETTERS))
    text = re.sub(r" *-[ -]*", "-", text.strip())
    text = re.sub(r" +", "_", text)
    text = text[:MAX_NAME].strip("_-")
    return text or "track"


def file_name(name: str, ascii_names: bool = False) -> str:
    """The file name of a track called `name`: ascii_name with ascii_names, else safe_name."""
    return ascii_name(name) if ascii_names else safe_name(name)


def _trim(text: str) -> str:
    """Strip separators at both ends and cut to MAX_NAME characters / MAX_NAME_BYTES bytes, until
    stable (cutting can expose a separator at the end)."""
    while True:
        cut = text.strip(" ._-")[:MAX_NAME]
        while len(cut.encode("utf-8")) > MAX_NAME_BYTES:
            cut = cut[:-1]
        if cut == text:
            return text
        text = cut


def track_files(dirs: OutputDirs, name: str) -> list[Path]:
    """Every path a track named `name` may write."""
    return ([dirs.results / f"{name}{ext}" for ext in RESULT_SUFFIXES] + [dirs.midi / f"{name}.mid"]
            + [dirs.midi / f"{name}_{part}.mid" for part in TRACK_PARTS]
            + [dirs.wav / f"{name}_{part}.wav" for part in TRACK_PARTS])


def _taken(dirs: OutputDirs, name: str) -> bool:
    return any(os.path.lexists(p) for p in track_files(dirs, name))


def prepare_output_dirs(dirs: OutputDirs) -> None:
    """Create the output folders and check that files can be written there (before any work is
    done); remove temporary files that runs killed outright left behind. Raises OutputError."""
    from app.files import clean_stale_temps

    for folder in dict.fromkeys((dirs.midi, dirs.wav, dirs.results)):
        check_writable(folder)
        clean_stale_temps(folder)


def check_writable(folder: Path) -> None:
    """Create `folder` (and its parents) and open a probe file in it. Raises OutputError "cannot
    write to FOLDER: reason" (not a directory, permission denied, ...). The probe is an unnamed
    temporary file (O_TMPFILE where the file system has it), so a process killed at that moment
    leaves nothing in the folder."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write to {folder}: {exc.strerror or exc}") from exc


@contextlib.contextmanager
def reserve_name(dirs: OutputDirs, wanted: str, overwrite: bool, ascii_names: bool = False):
    """Yield a free track name (NAME, NAME-2, NAME-3...; NAME = file_name(wanted, ascii_names)) reserved
    for this process, so two processes never write the same track. The reservation is a marker file created exclusively and locked
    (flock) while held; a marker left by a process that died (SIGKILL) is taken over."""
    try:
        dirs.results.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {dirs.results}: {exc.strerror or exc}") from exc
    base = file_name(wanted, ascii_names)
    for n in range(1, 10000):
        name = base if n == 1 else f"{base}-{n}"
        if not overwrite and _taken(dirs, name):
            continue
        marker = dirs.results / f".{name}.reserved"
        fd = _claim(marker)
        if fd is None:
            continue
        try:
            if not overwrite and _taken(dirs, name):  # finished by another process meanwhile
                continue
            yield name
            return
        finally:
            with contextlib.suppress(OSError):
                marker.unlink()  # while still locked, so nobody can lock this marker any more
            os.close(fd)
    raise OutputError(f"no free name for {base!r} in {dirs.results}")


def _claim(marker: Path) -> int | None:
    """An open, locked descriptor of `marker` when this process now holds it, else None."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return _take_over_stale(marker)
    except OSError as exc:
        raise OutputError(f"cannot write to {marker.parent}: {exc.strerror or exc}") from exc
    _lock(fd, blocking=False)  # new and ours; the lock only tells others that we are alive
    with contextlib.suppress(OSError):
        os.write(fd, str(os.getpid()).encode())
    return fd


def _take_over_stale(marker: Path) -> int | None:
    """A marker nobody holds a lock on whose process is gone (the pid it holds no longer runs), or
    that is older than STALE_RESERVATION_S: ours."""
    try:
        if time.time() - marker.stat().st_mtime < STALE_RESERVATION_S and not _holder_gone(marker):
            return None
        fd = os.open(marker, os.O_WRONLY)
    except OSError:
        return None
    if _lock(fd, blocking=False) is not True:
        os.close(fd)
        return None
    try:  # the holder may have removed it and a newcomer made a new one: only the same file counts
        same = os.path.samestat(os.fstat(fd), os.stat(marker))
    except OSError:
        same = False
    if not same:
        os.close(fd)
        return None
    os.utime(fd)
    with contextlib.suppress(OSError):  # now our pid, so a rerun after we die takes over at once too
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _holder_gone(marker: Path) -> bool:
    """True when the marker names a process id that no longer runs (a marker still being written,
    with no id yet, is not gone)."""
    from app.files import _pid_alive

    try:
        text = marker.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return False
    return text.isdigit() and not _pid_alive(int(text))


def _lock(fd: int, blocking: bool) -> bool | None:
    """flock the file: True when locked, False when another process holds it, None when this
    platform or file system has no locks."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True
