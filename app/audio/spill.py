"""Long audio kept on disk instead of in memory: a track's layers (the rendered stems, the beat, the
ambience) between the stage that makes them and the stage that writes their WAVs.

    layer = SpilledAudio()
    for block in blocks:          # float32 (2, m) each, in order
        layer.append(block)
    layer.read(start, stop)       # float32 (2, stop - start), exactly what was appended
    read_block(layer, start, stop)  # the same samples, a read-only view where no copy is needed
    for start, block in layer.blocks(): ...
    layer.close()                 # done with it: its memory goes back to the budget

Why: a 20-minute stereo float32 layer is 420 MB, and a track has five of them; held together they
made a 20-minute track peak at 4.7 GB. A spilled layer costs only a block of memory; its samples sit
in an anonymous temporary file (deleted by the system when closed or when the process ends, even if
it is killed), which the page cache keeps fast. Samples are stored as float32, so nothing is rounded.
The files go in the folder given to use_folder (the pipeline gives the stems' own folder, on the
disk the track is written to, since /tmp is a RAM disk on some systems), else the system's
temporary folder.

Blocks stay in memory while all live layers together hold at most SPILL_MEMORY_BYTES there (a
3-minute layer is 64 MB); past that, blocks go to the file, so a long track's memory still does not
grow with its length. use_memory sets it. A block handed over with append(..., owned=True) is kept
as it is, not copied: on the project's virtual machines the first touch of fresh memory or of a new
file's page cache costs about 3 ms per MB, far more than the copy itself (BENCHMARKS.md).
"""

from __future__ import annotations

import bisect
import errno
import os
import tempfile
import threading
import weakref

import numpy as np

from app.config import SPILL_MEMORY_BYTES

# Frames per block read or written (6 s at 44.1 kHz: 2 MiB of stereo float32).
SPILL_BLOCK_FRAMES = 1 << 18
_folder: str | None = None  # where new spills go (None: the system's temporary folder)
_memory = {"budget": SPILL_MEMORY_BYTES, "held": 0}  # bytes live layers may keep in memory, and do
_memory_lock = threading.Lock()  # layers are appended from several threads (render, mix)


def use_memory(budget_bytes: int) -> None:
    """Let live SpilledAudio keep up to budget_bytes of blocks in memory in all (0: every block on disk)."""
    _memory["budget"] = max(0, int(budget_bytes))


def _release(held: list) -> None:
    """Give a dropped or closed layer's in-memory bytes back to the budget (once)."""
    with _memory_lock:
        _memory["held"] -= held[0]
        held[0] = 0


def use_folder(folder) -> None:
    """Put the temporary files of new SpilledAudio in `folder` (None: the system's temporary folder)."""
    global _folder
    _folder = None if folder is None else str(folder)


def _temporary_file():
    if _folder is not None:
        try:
            return tempfile.TemporaryFile(prefix=".lofi-layer-", dir=_folder)
        except OSError:  # the folder went away or is read-only: the system's temporary folder will do
            pass
    return tempfile.TemporaryFile(prefix="lofi-layer-")


class SpilledAudio:
    """float32 audio (channels, n) appended block by block to a temporary file; read back by range.

    Looks enough like an array for the code that lays out layers: `.shape`, `.ndim`, `.dtype`,
    `.size`; `peak` (largest |sample|) is kept as blocks arrive, `sum_squares` (float64) read back.
    """

    ndim = 2
    dtype = np.dtype(np.float32)

    def __init__(self, channels: int = 2):
        self.channels = channels
        self.frames = 0
        self.peak = 0.0
        self._sum_squares: float | None = None
        self._file = None  # made at the first block that does not fit in memory
        self._file_bytes = 0
        self._starts: list[int] = []  # first frame of each appended block
        # (frames, byte offset in the file, or the block itself when kept in memory) of each appended block
        self._segments: list[tuple[int, int | np.ndarray]] = []
        self._closed = False
        self._held = [0]  # bytes this layer keeps in memory (a list, shared with its finalizer)
        self._finalizer = weakref.finalize(self, _release, self._held)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.channels, self.frames)

    @property
    def size(self) -> int:
        return self.channels * self.frames

    def append(self, block: np.ndarray, *, owned: bool = False) -> None:
        """Add block (channels, m) at the end (converted to float32). owned: the caller hands the
        block over and will not touch it again, so a block kept in memory is kept as it is, not copied."""
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"block must be shaped ({self.channels}, m), got {block.shape}")
        if block.shape[1] == 0:
            return
        self.peak = max(self.peak, float(block.max()), -float(block.min()))
        self._sum_squares = None
        with _memory_lock:
            fits = _memory["held"] + block.nbytes <= _memory["budget"]
            if fits:
                _memory["held"] += block.nbytes
                self._held[0] += block.nbytes
        if fits:
            kept = block if owned and block.flags.c_contiguous else np.array(block, dtype=np.float32, order="C")
            kept.flags.writeable = False  # read_block hands out views of it
            self._starts.append(self.frames)
            self._segments.append((block.shape[1], kept))
            self.frames += block.shape[1]
            return
        if self._file is None:
            self._file = _temporary_file()
        # Stored as appended: each block channel after channel (no transpose), found by _segments.
        # Row by row, so a slice of a longer array (rows contiguous, the block not) is never copied.
        offset = self._file_bytes
        try:
            for ch, row in enumerate(block):
                data = memoryview(np.ascontiguousarray(row)).cast("B")
                at, written = offset + ch * data.nbytes, 0
                while written < data.nbytes:  # pwrite may write less than asked
                    written += os.pwrite(self._file.fileno(), data[written:], at + written)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            from app.errors import DiskFullError
            from app.files import free_mb

            folder = _folder or tempfile.gettempdir()
            raise DiskFullError(f"a temporary layer in {folder}", free_mb(folder)) from exc
        self._starts.append(self.frames)
        self._segments.append((block.shape[1], offset))
        self._file_bytes += block.nbytes
        self.frames += block.shape[1]

    @property
    def sum_squares(self) -> float:
        """Sum of the squares of every sample, in float64 (a float32 dot loses ~1e-5 of a block's
        energy, 2.6e-3 of a 20-minute layer's); worked out when first asked (the stems never are)."""
        if self._sum_squares is None:
            total = 0.0
            for _, block in self.blocks():
                flat = block.ravel().astype(np.float64)
                total += float(np.dot(flat, flat))
            self._sum_squares = total
        return self._sum_squares

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames start..stop (clipped to the length) as a new float32 (channels, m) array."""
        self._check_open()
        start, stop = max(0, start), min(stop, self.frames)
        if stop <= start:
            return np.zeros((self.channels, 0), np.float32)
        out = np.empty((self.channels, stop - start), np.float32)
        first = bisect.bisect_right(self._starts, start) - 1
        for k in range(first, len(self._starts)):
            seg_start = self._starts[k]
            if seg_start >= stop:
                break
            frames, offset = self._segments[k]
            lo, hi = max(start, seg_start), min(stop, seg_start + frames)
            if isinstance(offset, np.ndarray):  # kept in memory
                out[:, lo - start:hi - start] = offset[:, lo - seg_start:hi - seg_start]
                continue
            for ch in range(self.channels):
                # preadv, not seek + read: blocks are read from several threads at once; straight into out.
                self._read_into(out[ch, lo - start:hi - start], offset + (ch * frames + lo - seg_start) * 4)
        return out

    def view(self, start: int, stop: int) -> np.ndarray:
        """Frames start..stop (clipped to the length), read-only: a view of the block that holds them
        when one block kept in memory does (no copy), else a new array as read() gives."""
        self._check_open()
        start, stop = max(0, start), min(stop, self.frames)
        k = bisect.bisect_right(self._starts, start) - 1
        if 0 <= k < len(self._starts) and stop > start:
            frames, kept = self._segments[k]
            seg_start = self._starts[k]
            if isinstance(kept, np.ndarray) and stop <= seg_start + frames:
                return kept[:, start - seg_start:stop - seg_start]
        return self.read(start, stop)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("this layer was freed (SpilledAudio.close) and cannot be read")

    def _read_into(self, target: np.ndarray, offset: int) -> None:
        """Fill the contiguous float32 row `target` with the bytes stored at `offset`."""
        view = memoryview(target).cast("B")
        done = 0
        while done < view.nbytes:  # preadv may read less than asked
            got = os.preadv(self._file.fileno(), [view[done:]], offset + done)
            if got == 0:
                raise OSError(errno.EIO, "a temporary layer file is shorter than what was written to it")
            done += got

    def blocks(self, frames: int = SPILL_BLOCK_FRAMES):
        """(start, float32 (channels, m)) for consecutive blocks covering the whole layer."""
        for start in range(0, self.frames, frames):
            yield start, self.read(start, start + frames)

    def __array__(self, dtype=None, copy=None):
        """The whole layer in memory (for small layers and tests; long tracks read blocks)."""
        whole = self.read(0, self.frames)
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def close(self) -> None:
        """Free the layer: its memory goes back to the budget, its file is deleted; reading it again
        raises ValueError."""
        self._closed = True
        self._finalizer()
        self._segments = [(frames, at) for frames, at in self._segments if not isinstance(at, np.ndarray)]
        if self._file is not None:
            self._file.close()


def spill(audio: np.ndarray, frames: int = SPILL_BLOCK_FRAMES, *, owned: bool = False) -> SpilledAudio:
    """An in-memory (channels, n) array as a SpilledAudio: copied block by block, or, owned, handed over.

    owned: the caller hands the array over and will not touch it again, so it is appended whole,
    as one block: kept as it is when it fits in the memory budget (no copy of a track-length
    layer), else written to the file row by row."""
    out = SpilledAudio(audio.shape[0])
    if owned:
        out.append(audio, owned=True)
        return out
    for start in range(0, audio.shape[1], frames):
        out.append(audio[:, start:start + frames])
    return out


def read_block(audio, start: int, stop: int) -> np.ndarray:
    """Frames start..stop of an in-memory array or a SpilledAudio, as float32 (channels, m): a view
    where one can be given (of an array, or read-only of a SpilledAudio's block held in memory), so
    copy it before changing it."""
    if isinstance(audio, SpilledAudio):
        return audio.view(start, stop)
    return np.asarray(audio[:, start:stop], dtype=np.float32)
