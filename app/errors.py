"""The exception family. Every error a user can cause is a LofiError with a message for a person;
the CLI catches them once and prints the message (exit code 2 for bad input, 1 otherwise)."""


class LofiError(Exception):
    """Base class: something the user can fix; the message says what."""

    exit_code = 1


class BadValueError(LofiError):
    """A command-line or wizard value is out of range or unknown (exit code 2)."""

    exit_code = 2


class CheckpointError(LofiError):
    """A model checkpoint is missing, unreadable, or does not match the code's vocabulary or shape."""


class MidiImportError(LofiError):
    """A MIDI file cannot be read or yields no usable melody/harmony (the import skips it)."""


class SoundFontError(LofiError):
    """A SoundFont cannot be loaded or has no such preset."""


class EffectFileError(LofiError):
    """An effect WAV cannot be read or used."""


class RenderError(LofiError):
    """FluidSynth is missing or failed to render a part."""


class OutputError(LofiError):
    """An output file cannot be written (folder unwritable, disk full)."""


class ClusterError(LofiError):
    """batch --cluster: the Dask scheduler cannot be reached or went away mid-run (rerunning the
    same command resumes the release)."""


class DiskFullError(OutputError):
    """The disk filled up while writing `file`; free_mb is what was left afterwards. A track's
    delivery adds which track was lost (for_track)."""

    def __init__(self, file, free_mb: int, track: str | None = None):
        self.file, self.free_mb, self.track = file, free_mb, track
        text = f"disk full while writing {file} ({free_mb} MB free)"
        super().__init__(text if track is None else f"{text}; nothing of track {track} was kept")

    def for_track(self, track: str) -> "DiskFullError":
        """The same error, saying that nothing of track `track` was kept."""
        return DiskFullError(self.file, self.free_mb, track)


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived (the CLI turns them into this, so they unwind like Ctrl-C: temporary
    files removed, batch workers stopped). `signum` says which; the exit code is 128 + signum."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
