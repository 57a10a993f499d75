"""The drum model's training data: the Groove MIDI Dataset selection in data/groove -> token rows.

The dataset has no song sections, so each bar's section kind is derived from what the drummer
plays (see label_bars), and the separate fill files become the fill bars of short sequences that
open with three bars of the same drummer's groove from the same session at the same tempo.

    from app.learn.drum_corpus import load_drum_corpus
    corpus = load_drum_corpus()          # data/groove/info.csv and its MIDI files
    train, validation = corpus.split()   # the dataset's own split
"""

from __future__ import annotations

import csv
import hashlib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app import paths
from app.errors import LofiError
from app.learn import drum_encoding as de

GROOVE_DIR = paths.DATA_DIR / "groove"
# Bump when the labelling or the encoding changes (it is part of the data fingerprint).
DRUM_PREPROCESS_VERSION = 1
GROOVE_BARS = 4  # a performance's first bars state the groove before the drummer varies it
OUTRO_BARS = 2  # its last bars wind down to the final stroke
FILL_TOM_STROKES = 3  # a bar of a beat with this many tom strokes is the drummer's own fill
CONTEXT_BARS = 3  # groove bars put before each fill file
MIN_FILL_BAR_STROKES = 4  # leading/trailing bars of a fill file with fewer strokes are pickups or landings


@dataclass
class DrumPiece:
    """One training sequence: rows (steps, de.COLUMNS) of tokens, see app.learn.drum_encoding."""

    name: str
    drums: np.ndarray
    bpm: float
    split: str  # 'train' or 'validation'
    beat_type: str  # 'beat' or 'fill'


@dataclass
class DrumCorpus:
    pieces: list[DrumPiece]
    fingerprint: str
    source: str = "groove"
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def split(self) -> tuple[list[DrumPiece], list[DrumPiece]]:
        """(train, validation) as the dataset's authors split the files."""
        return ([p for p in self.pieces if p.split != "validation"],
                [p for p in self.pieces if p.split == "validation"])

    def summary(self) -> str:
        steps = sum(len(p.drums) for p in self.pieces)
        fills = sum(p.beat_type == "fill" for p in self.pieces)
        lines = [f"{len(self.pieces)} drum sequences ({len(self.pieces) - fills} beats, {fills} fills, "
                 f"{steps // de.STEPS_PER_BAR} bars), {len(self.skipped)} skipped"]
        return "\n".join(lines + [f"  skipped {n}: {r}" for n, r in self.skipped])


def read_hits(path: Path) -> tuple[list[de.Hit], float]:
    """A drum MIDI file -> (hits on the 9 voices, in beats from the file's start; tempo in BPM).

    Notes outside the Roland mapping are left out. Raises LofiError when the file cannot be read.
    """
    import mido

    try:
        midi = mido.MidiFile(path)
    except Exception as exc:
        raise LofiError(f"{path}: not a readable MIDI file ({type(exc).__name__})") from exc
    tpb, tick, tempo = midi.ticks_per_beat, 0, 500000
    hits = []
    for msg in mido.merge_tracks(midi.tracks):
        tick += msg.time
        if msg.type == "set_tempo":
            tempo = msg.tempo
        elif msg.type == "note_on" and msg.velocity > 0 and msg.note in de.ROLAND_TO_VOICE:
            hits.append(de.Hit(de.ROLAND_TO_VOICE[msg.note], tick / tpb, msg.velocity))
    return hits, 60e6 / tempo


def label_bars(grid: np.ndarray) -> tuple[list[str], list[bool]]:
    """Section kind and fill flag of each bar of a beat performance, derived from the playing:

    outro: the last OUTRO_BARS bars; breakdown: a bar without kick; groove: the first GROOVE_BARS
    bars; B: time kept on the ride or an open hat (ride strokes outnumber closed-hat strokes, or
    4+ open hats); A: every other bar (closed-hat time). Fill: FILL_TOM_STROKES or more tom strokes.
    """
    counts = de.bar_voice_counts(grid)
    kinds, fills = [], []
    for i, c in enumerate(counts):
        if i >= len(counts) - OUTRO_BARS:
            kind = "outro"
        elif c[de.KICK] == 0:
            kind = "breakdown"
        elif i < GROOVE_BARS:
            kind = "groove"
        elif c[de.RIDE] > c[de.CLOSED_HAT] or c[de.OPEN_HAT] >= 4:
            kind = "B"
        else:
            kind = "A"
        kinds.append(kind)
        fills.append(int(sum(c[t] for t in de.TOMS)) >= FILL_TOM_STROKES)
    return kinds, fills


def fill_bars(grid: np.ndarray) -> np.ndarray:
    """A fill file's grid without leading pickups and trailing landings (bars under MIN_FILL_BAR_STROKES)."""
    strokes = de.bar_voice_counts(grid).sum(axis=1)
    full = np.flatnonzero(strokes >= MIN_FILL_BAR_STROKES)
    if len(full) == 0:
        full = np.array([int(np.argmax(strokes))])
    return grid[full[0] * de.STEPS_PER_BAR:(full[-1] + 1) * de.STEPS_PER_BAR]


def _rows(grid: np.ndarray, kinds: list[str], fills: list[bool]) -> np.ndarray:
    return np.hstack([grid, de.conditioning(len(kinds), kinds, fills)])


def _paired_beat(row: dict, beats: list[dict]) -> dict | None:
    """The beat a fill goes with: same split, drummer and tempo, the same session first, then the
    nearest file id before the fill."""
    same = [b for b in beats if b["split"] == row["split"] and b["drummer"] == row["drummer"] and b["bpm"] == row["bpm"]]
    if not same:
        return None
    fill_id = int(row["id"].rsplit("/", 1)[-1])

    def distance(b):
        bid = int(b["id"].rsplit("/", 1)[-1])
        return (b["session"] != row["session"], bid > fill_id, abs(bid - fill_id))

    return min(same, key=distance)


def _fill_piece(row: dict, grid: np.ndarray, beat: tuple[np.ndarray, list, list] | None) -> np.ndarray:
    """Context bars from the paired beat (a stretch chosen by the fill's name), then the fill bars."""
    fill = fill_bars(grid)
    n_fill = len(fill) // de.STEPS_PER_BAR
    if beat is None:
        return _rows(fill, ["A"] * n_fill, [True] * n_fill)
    bgrid, kinds, fills = beat
    usable = len(kinds) - OUTRO_BARS - CONTEXT_BARS
    start = zlib.crc32(row["midi_filename"].encode()) % max(1, usable) if usable > 0 else 0
    stop = min(len(kinds), start + CONTEXT_BARS)
    kind = kinds[stop - 1] if kinds[stop - 1] in ("groove", "A", "B") else "A"
    context = _rows(bgrid[start * de.STEPS_PER_BAR:stop * de.STEPS_PER_BAR], kinds[start:stop], [False] * (stop - start))
    return np.vstack([context, _rows(fill, [kind] * n_fill, [True] * n_fill)])


def groove_files(folder: Path = GROOVE_DIR) -> list[dict]:
    """info.csv's rows (4/4 only), each with its MIDI path under 'path'."""
    info = Path(folder) / "info.csv"
    if not info.exists():
        raise LofiError(f"drum data {info} not found (data/groove ships with the project)")
    with open(info, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get("time_signature") == "4-4"]
    for r in rows:
        r["path"] = Path(folder) / r["midi_filename"]
    return rows


def load_drum_corpus(folder: Path = GROOVE_DIR, limit: int | None = None) -> DrumCorpus:
    """Read and label the groove files (limit: at most this many beats, with their fills)."""
    rows = groove_files(folder)
    beats = [r for r in rows if r["beat_type"] == "beat"][:limit]
    fills = [r for r in rows if r["beat_type"] == "fill" and (limit is None or _paired_beat(r, beats))]
    h = hashlib.sha256(f"drums-v{DRUM_PREPROCESS_VERSION}|{de.DRUM_VOCAB}".encode())
    pieces, skipped, labelled = [], [], {}
    for r in beats + fills:
        try:
            hits, bpm = read_hits(r["path"])
        except LofiError as exc:
            skipped.append((r["midi_filename"], str(exc)))
            continue
        h.update(f"{r['midi_filename']}|{r['split']}|{len(hits)}|{sum(x.velocity for x in hits)}".encode())
        if not hits:
            skipped.append((r["midi_filename"], "no drum strokes"))
            continue
        grid = de.hits_to_grid(hits)
        if r["beat_type"] == "beat":
            kinds, bar_fills = label_bars(grid)
            labelled[r["id"]] = (grid, kinds, bar_fills)
            rows_ = _rows(grid, kinds, bar_fills)
        else:
            paired = _paired_beat(r, beats)
            rows_ = _fill_piece(r, grid, labelled.get(paired["id"]) if paired else None)
        pieces.append(DrumPiece(r["midi_filename"], rows_, bpm, r["split"], r["beat_type"]))
    return DrumCorpus(pieces, h.hexdigest()[:16], "groove", skipped)
