"""What a batch run shows while it works: a bar for the release (tracks done, failed and running)
and a line per worker on a terminal, one plain line per finished track elsewhere."""

from __future__ import annotations

import sys


class ReleaseProgress:
    """One bar for the release, with the tracks done, failed and running, and one line per worker
    with its current track and stage (on a terminal); elsewhere one plain line per finished track."""

    def __init__(self, total: int, done: int, workers: int, album: str):
        self.tty = sys.stderr.isatty()
        self.total, self.count, self.failed = total, done, 0
        self.running: dict[int, str] = {}  # worker -> the label of its track
        self.bar = self.lines = None
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, desc=album[:30], unit="track", position=0, leave=True)
            self.lines = [tqdm(total=0, bar_format="{desc}", position=i + 1, leave=False) for i in range(workers)]

    def stage(self, worker: int, label: str, stage: str) -> None:
        for other in [w for w, held in self.running.items() if held == label and w != worker]:
            self.idle(other)  # the track moved (a cluster runs it again elsewhere when its worker dies)
        self.running[worker] = label
        self._counts()
        if self.lines and worker < len(self.lines):
            self.lines[worker].set_description_str(f"  worker {worker + 1}: {label} - {stage}")

    def idle(self, worker: int) -> None:
        self.running.pop(worker, None)
        self._counts()
        if self.lines and worker < len(self.lines):
            self.lines[worker].set_description_str(f"  worker {worker + 1}: idle")

    def finished(self, label: str, text: str, failed: bool = False) -> None:
        self.count += 1
        self.failed += failed
        for other in [w for w, held in self.running.items() if held == label]:
            self.idle(other)
        if self.bar is not None:
            self.bar.update(1)
            self._counts()
            self.bar.write(f"{label}: {text}")
        else:
            print(f"[{self.count}/{self.total}] {label}: {text}", file=sys.stderr, flush=True)

    def _counts(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.count - self.failed} done, {self.failed} failed, "
                                     f"{len(self.running)} running", refresh=True)

    def close(self) -> None:
        for line in self.lines or ():
            line.close()
        if self.bar is not None:
            self.bar.close()
