"""The originality guard of a release: no copied training melody, no two tracks alike.

Two checks on a composed Song:

- training copy: every 16-note window of the melody, as its 15 intervals (so a transposed copy still
  counts), is looked up in the set of the training melodies' windows (app.report.evaluate.interval_windows,
  the same windows `evaluate` reports as copied_16gram). One hit rejects the song.
- release twin: every 8-bar passage starting on a bar line (melody notes and chords, relative to
  the song's key and the passage start, so a transposed twin still counts) is hashed; a song sharing
  any passage hash with an earlier track of the release is rejected. Passages with fewer than
  MIN_PASSAGE_NOTES melody notes (an intro of chords alone) are not compared.

    windows = load_training_windows()                  # the Bach chorales (cached corpus)
    verdict = check_song(song, windows, taken_passages)
    if not verdict.ok: print(verdict.reason)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from app.report.evaluate import WINDOW, interval_windows
from app.music.song import Song

PASSAGE_BARS = 8
MIN_PASSAGE_NOTES = 4
_GRID = 48  # time quantum per beat when hashing passages (covers 16ths and triplets)


@dataclass
class Verdict:
    ok: bool
    copied_windows: int = 0  # 16-note windows found in the training melodies
    shared_passages: int = 0  # 8-bar passages identical to another track's
    passages: set[str] = field(default_factory=set)  # this song's passage hashes
    reason: str = ""


def _as_ints(window) -> tuple[int, ...]:
    return tuple(int(x) for x in window)


def training_windows(pieces) -> set[tuple[int, ...]]:
    """The 16-note interval windows of corpus pieces' melodies (app.learn.corpus.Piece)."""
    from app.report.evaluate import piece_pitches

    return windows_of_melodies([piece_pitches(piece) for piece in pieces])


def windows_of_melodies(melodies: list[list[int]]) -> set[tuple[int, ...]]:
    """The 16-note interval windows of plain pitch lists (MIDI numbers)."""
    return {_as_ints(w) for pitches in melodies for w in interval_windows(pitches)}


def load_training_windows(progress=None) -> set[tuple[int, ...]]:
    """The training melodies' windows from app.learn.corpus.load_corpus() (cached after the first import)."""
    from app.learn.corpus import load_corpus

    return training_windows(load_corpus(progress=progress).pieces)


def melody_pitches(song: Song) -> list[int]:
    """The melody's pitches in time order (ties: higher first, the line a listener follows)."""
    return [n.pitch for n in sorted(song.melody(), key=lambda n: (n.start, -n.pitch))]


def copied_window_count(song: Song, windows: set) -> int:
    """How many of the song's 16-note interval windows occur in `windows`."""
    return sum(1 for w in interval_windows(melody_pitches(song), WINDOW) if _as_ints(w) in windows)


def passage_hashes(song: Song, bars: int = PASSAGE_BARS) -> set[str]:
    """Hashes of every `bars`-bar passage (melody + chords) starting on a bar line, key-relative."""
    bar = song.beats_per_bar
    span = bars * bar
    melody = sorted(song.melody(), key=lambda n: (n.start, n.pitch))
    out = set()
    start = 0.0
    q = lambda beats: int(round(beats * _GRID))  # noqa: E731
    while start + span <= song.length_beats + 1e-9:
        end = start + span
        notes = [((n.pitch - song.key), q(n.start - start), q(min(n.end, end) - n.start))
                 for n in melody if start - 1e-9 <= n.start < end - 1e-9]
        if len(notes) >= MIN_PASSAGE_NOTES:
            chords = [((c.root - song.key) % 12, c.quality, q(max(c.start, start) - start), q(min(c.end, end) - max(c.start, start)))
                      for c in song.chords if c.start < end - 1e-9 and c.end > start + 1e-9]
            text = repr((notes, chords)).encode()
            out.add(hashlib.blake2b(text, digest_size=8).hexdigest())
        start += bar
    return out


def check_song(song: Song, windows: set, taken_passages: set[str] | frozenset = frozenset()) -> Verdict:
    """Judge one song: ok when no 16-note window is a training copy and no 8-bar passage is taken."""
    copied = copied_window_count(song, windows)
    passages = passage_hashes(song)
    shared = len(passages & set(taken_passages))
    reasons = []
    if copied:
        reasons.append(f"{copied} melody window(s) of {WINDOW} notes copy the training melodies")
    if shared:
        reasons.append(f"{shared} {PASSAGE_BARS}-bar passage(s) identical to another track of the release")
    return Verdict(not reasons, copied, shared, passages, "; ".join(reasons))
