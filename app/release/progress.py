"""What a batch run shows while it works: a bar for the release and a line per worker on a terminal,
one plain line per finished track elsewhere."""

from __future__ import annotations

import sys


class ReleaseProgress:
    """One bar for the release and one line per worker with its current track and stage (on a
    terminal); elsewhere one plain line per finished track."""

    def __init__(self, total: int, done: int, workers: int, album: str):
        self.tty = sys.stderr.isatty()
        self.total, self.count = total, done
        self.bar = self.lines = None
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, desc=album[:30], unit="track", position=0, leave=True)
            self.lines = [tqdm(total=0, bar_format="{desc}", position=i + 1, leave=False) for i in range(workers)]

    def stage(self, worker: int, label: str, stage: str) -> None:
        if self.lines and worker < len(self.lines):
            self.lines[worker].set_description_str(f"  worker {worker + 1}: {label} - {stage}")

    def idle(self, worker: int) -> None:
        if self.lines and worker < len(self.lines):
            self.lines[worker].set_description_str(f"  worker {worker + 1}: idle")

    def finished(self, label: str, text: str) -> None:
        self.count += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.write(f"{label}: {text}")
        else:
            print(f"[{self.count}/{self.total}] {label}: {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        for line in self.lines or ():
            line.close()
        if self.bar is not None:
            self.bar.close()
