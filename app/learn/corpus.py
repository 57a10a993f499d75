"""Training data: music21's bundled Bach chorales or a folder of MIDI files -> encoded pieces.

Each source file becomes a Song (melody, key, mode, and chords named per beat for a chorale, per half
bar for an imported MIDI file, per beat in odd metres), then key-relative tokens (app.learn.encoding).
Preprocessing is cached under paths.CACHE_DIR by a fingerprint of the sources and the encoding
parameters, so a second run starts training at once.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app import paths
from app.learn import encoding
from app.music import theory
from app.errors import LofiError, MidiImportError
from app.music.song import Chord, Note, Song

# Bump when the import or encoding changes, so old caches are not reused.
PREPROCESS_VERSION = 3
# Bump when only the MIDI-folder import changes (keeps the Bach corpus cache valid).
MIDI_IMPORT_VERSION = 2

# Krumhansl-Kessler key profiles, for estimating the key of MIDI files.
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass
class Piece:
    """One training piece: melody (T, 6) and chord (C, 4) token arrays, see app.learn.encoding."""

    name: str
    key: int
    mode: str
    melody: np.ndarray
    chords: np.ndarray


@dataclass
class Corpus:
    pieces: list[Piece]
    fingerprint: str
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    source: str = "bach"

    @property
    def melody_tokens(self) -> int:
        return int(sum(len(p.melody) for p in self.pieces))

    @property
    def chord_tokens(self) -> int:
        return int(sum(len(p.chords) for p in self.pieces))

    def summary(self) -> str:
        """'N pieces imported (...), M skipped', then one line per skipped file with its reason."""
        lines = [f"{len(self.pieces)} pieces imported ({self.melody_tokens} melody events, "
                 f"{self.chord_tokens} chords), {len(self.skipped)} skipped"]
        lines += [f"  skipped {name}: {reason}" for name, reason in self.skipped]
        return "\n".join(lines)


# --- key estimation and harmony -----------------------------------------------------------

def estimate_key(notes: list[Note]) -> tuple[int, str]:
    """Duration-weighted pitch-class histogram correlated with the Krumhansl-Kessler profiles."""
    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += n.duration
    if hist.sum() == 0:
        return 0, "major"
    best = (-2.0, 0, "major")
    for tonic in range(12):
        for mode, profile in (("major", _MAJOR_PROFILE), ("minor", _MINOR_PROFILE)):
            r = np.corrcoef(hist, np.roll(profile, tonic))[0, 1]
            if r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2]


def harmony_per_step(notes: list[Note], end: float, step: float = 1.0, offset: float = 0.0) -> list[Chord]:
    """Name the harmony sounding at each step (beats) and merge repeats into longer chords.

    A step with no nameable chord continues the previous chord. One sweep over the notes sorted by
    start (notes sounding are kept in a list as the step moves), so thousands of notes in huge
    chords cost linear time, not steps x notes.
    """
    ordered = sorted(notes, key=lambda n: n.start)
    chords: list[Chord] = []
    active: list[Note] = []
    i = 0
    t = offset
    while t < end - 1e-9:
        edge = t + 1e-6
        while i < len(ordered) and ordered[i].start <= edge:
            active.append(ordered[i])
            i += 1
        active = [n for n in active if n.end > edge]
        sounding = active
        # Notes struck inside the step count too, so a chord on an off-beat is not missed.
        if not sounding:
            j, sounding = i, []
            while j < len(ordered) and ordered[j].start < t + step:
                sounding.append(ordered[j])
                j += 1
        named = theory.name_chord({n.pitch for n in sounding}, min((n.pitch for n in sounding), default=None)) \
            if sounding else None
        if named is None and chords:
            named = (chords[-1].root, chords[-1].quality)
        if named is not None:
            if chords and (chords[-1].root, chords[-1].quality) == named and chords[-1].end >= t - 1e-9:
                last = chords.pop()
                chords.append(Chord(last.root, last.quality, last.start, t + step - last.start))
            else:
                chords.append(Chord(named[0], named[1], t, step))
        t += step
    return chords


def _split_long_chords(chords: list[Chord]) -> list[Chord]:
    """Chords longer than the longest duration class are split, so tokens never lie about length."""
    longest = encoding.CHORD_DURATION_BEATS[-1]
    out = []
    for c in chords:
        start, left = c.start, c.duration
        while left > longest:
            out.append(Chord(c.root, c.quality, start, longest))
            start, left = start + longest, left - longest
        out.append(Chord(c.root, c.quality, start, left))
    return out


def song_to_piece(song: Song, name: str) -> Piece:
    """Encode a song's melody and chords; raises MidiImportError when either is too short to learn from."""
    melody = song.melody()
    if len(melody) < 8:
        raise MidiImportError(f"melody has {len(melody)} notes (need at least 8)")
    if len(song.chords) < 2:
        raise MidiImportError("no harmony found (need at least 2 chords)")
    bar16 = int(round(song.beats_per_bar * 4))
    mel = encoding.encode_melody(melody, song.chords, song.key, song.mode, bar_16ths=bar16)
    chords = encoding.encode_progression(_split_long_chords(song.chords), song.key, song.mode, song.beats_per_bar)
    return Piece(name, song.key, song.mode, mel, chords)


# --- music21 corpus -----------------------------------------------------------------------

CHORALE_SUFFIXES = (".mxl", ".xml", ".musicxml")


def chorale_paths(limit: int | None = None) -> list[str]:
    """Paths of the Bach chorales bundled with music21: the same list as music21's
    corpus.getComposer("bach") (its core corpus folder, links resolved), found without importing
    music21 (a second of start-up the batch's originality check would pay just to read its cache)."""
    import importlib.util

    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.submodule_search_locations:
        raise LofiError("music21 is not installed; it carries the Bach chorales (pip install -r requirements.txt)")
    folder = (Path(list(spec.submodule_search_locations)[0]) / "corpus" / "bach").resolve()
    found = sorted(str(p) for p in folder.rglob("*") if p.suffix in CHORALE_SUFFIXES)
    return found[:limit] if limit else found


def score_to_song(score) -> Song:
    """A music21 chorale score -> Song: soprano as melody, harmony of all voices per beat."""
    parts = [p for p in score.parts if p.recurse().notes]
    if len(parts) < 2:
        raise MidiImportError("fewer than two voices")
    named = [p for p in parts if "soprano" in (p.partName or "").lower()]
    soprano = named[0] if named else max(parts[:4], key=lambda p: np.mean([n.pitch.midi for n in p.recurse().notes
                                                                         if n.isNote] or [0]))
    ts = score.recurse().getElementsByClass("TimeSignature")
    time_sig = (ts[0].numerator, ts[0].denominator) if ts else (4, 4)
    first_measure = soprano.getElementsByClass("Measure")
    pickup = 0.0
    if first_measure:
        pickup = float(first_measure[0].paddingLeft or 0.0)
    key_obj = score.analyze("key")
    tonic, mode = key_obj.tonic.pitchClass, key_obj.mode
    if mode not in theory.MODES:
        mode = "major"

    def part_notes(part) -> list[Note]:
        out = []
        for n in part.stripTies().recurse().notes:
            start = float(n.getOffsetInHierarchy(part)) + pickup
            dur = float(n.quarterLength)
            if dur <= 0:
                continue
            for p in (n.pitches if n.isChord else [n.pitch]):
                out.append(Note(int(p.midi), start, dur, 64))
        return out

    melody = part_notes(soprano)
    # Keep the melody monophonic: the top note at each onset.
    top: dict[float, Note] = {}
    for n in melody:
        if n.start not in top or n.pitch > top[n.start].pitch:
            top[n.start] = n
    melody = sorted(top.values(), key=lambda n: n.start)
    everything = [n for p in parts[:5] for n in part_notes(p)]
    end = max(n.end for n in everything)
    chords = harmony_per_step(everything, end, step=1.0, offset=0.0)
    from app.music.song import Part

    return Song(120.0, tonic, mode, time_sig, chords=chords, parts={"melody": Part("melody", melody)})


def _import_chorale(path: str) -> tuple[str, Piece | None, str]:
    from music21 import corpus

    name = Path(path).stem
    try:
        score = corpus.parse(path)
        return name, song_to_piece(score_to_song(score), name), ""
    except LofiError as exc:
        return name, None, str(exc)
    except Exception as exc:  # music21 raises many kinds; a bad file is skipped, never fatal
        return name, None, f"{type(exc).__name__}: {exc}"


# --- a folder of MIDI files ---------------------------------------------------------------

def _melodic_score(notes: list[Note]) -> float:
    """How much a line looks like a melody: many notes, monophonic, high, moving by steps."""
    if len(notes) < 8:
        return -1.0
    onsets = {}
    for n in notes:
        onsets.setdefault(round(n.start, 3), []).append(n)
    mono = sum(1 for v in onsets.values() if len(v) == 1) / len(onsets)
    tops = [max(v, key=lambda n: n.pitch).pitch for _, v in sorted(onsets.items())]
    steps = np.abs(np.diff(tops)) if len(tops) > 1 else np.array([0])
    stepwise = float(np.mean(steps <= 4))
    height = np.clip((np.mean(tops) - 48) / 36, 0, 1)
    return mono * 2 + stepwise + height + min(len(onsets), 200) / 200


def skyline(notes: list[Note]) -> list[Note]:
    """The top note at each onset, each cut at the next onset: a monophonic line."""
    top: dict[float, Note] = {}
    for n in notes:
        key = round(n.start, 3)
        if key not in top or n.pitch > top[key].pitch:
            top[key] = n
    line = sorted(top.values(), key=lambda n: n.start)
    out = []
    for i, n in enumerate(line):
        end = n.end if i + 1 == len(line) else min(n.end, line[i + 1].start)
        if end - n.start > 1e-6:
            out.append(Note(n.pitch, n.start, end - n.start, n.velocity))
    return out


def midi_file_to_song(path: Path) -> Song:
    """Any MIDI file -> Song: the most melodic line as melody, harmony per half bar (per beat in odd
    metres), key estimated, the longest-lasting time signature.

    Raises MidiImportError with the reason when the file cannot be read or yields nothing: not a
    regular file, empty, truncated, not MIDI, no tracks, no notes (only control events), drums only,
    no melodic line, no harmony, implausibly long.
    """
    import os
    import stat

    from app.music.midi_io import read_midi_lines
    from app.music.song import Part

    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise MidiImportError("broken symlink" if path.is_symlink() else "file not found") from None
    except OSError as exc:
        raise MidiImportError(f"unreadable ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the import
        raise MidiImportError("not a regular file")
    if st.st_size == 0:
        raise MidiImportError("empty file")
    try:
        found = read_midi_lines(path)
    except EOFError:
        raise MidiImportError("truncated MIDI file (it ends inside a track)") from None
    except PermissionError:
        raise MidiImportError("unreadable (permission denied)") from None
    except Exception as exc:  # mido raises OSError ('MThd not found'), ValueError, KeySignatureError...
        raise MidiImportError(f"not a readable MIDI file ({type(exc).__name__}: {exc})") from exc
    if found.tracks == 0:
        raise MidiImportError("no tracks")
    lines, time_sig, bpm = found.lines, found.time_signature, found.bpm
    if not lines:
        raise MidiImportError("no notes (only control or meta events)")
    pitched = [(name, ch, notes) for name, ch, notes in lines if ch != 9 and notes]
    if not pitched:
        raise MidiImportError(f"drums only ({found.drum_notes} notes on channel 10, no pitched part)")
    every = [n for _, _, notes in pitched for n in notes]
    end = max(n.end for n in every)
    if end > 4 * 60 * 30:  # 30 minutes at 240 BPM: not a song
        raise MidiImportError(f"implausibly long ({end:.0f} beats)")
    best = max(pitched, key=lambda line: _melodic_score(line[2]))
    melody = skyline(best[2])
    if len(melody) < 8:
        raise MidiImportError(f"no melodic line (best line has {len(melody)} notes)")
    tonic, mode = estimate_key(every)
    beats_per_bar = time_sig[0] * 4 / time_sig[1]
    accompaniment = [n for _, _, notes in pitched if notes is not best[2] for n in notes] or every
    step = 2.0 if beats_per_bar % 2 == 0 else 1.0  # per half bar in even metres, per beat otherwise
    chords = harmony_per_step(accompaniment, end, step=step)
    return Song(bpm, tonic, mode, time_sig, chords=chords, parts={"melody": Part("melody", melody)})


def _import_midi(path: str) -> tuple[str, Piece | None, str]:
    from app.files import printable

    name = printable(Path(path).name)
    try:
        return name, song_to_piece(midi_file_to_song(Path(path)), name), ""
    except LofiError as exc:
        return name, None, str(exc)
    except Exception as exc:  # never abort the whole import on one odd file
        return name, None, f"{type(exc).__name__}: {exc}"


def midi_paths(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise LofiError(f"MIDI folder {folder} does not exist")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".mid", ".midi") and not p.is_dir())


# --- cache --------------------------------------------------------------------------------

def fingerprint(files: list[str | Path], extra: str = "") -> str:
    """Hash of the source files (path, size, mtime) and the preprocessing parameters."""
    h = hashlib.sha256()
    h.update(f"v{PREPROCESS_VERSION}|{encoding.VOCAB}|{extra}".encode())
    for f in files:
        try:
            st = Path(f).stat()
            h.update(f"{f}|{st.st_size}|{int(st.st_mtime)}".encode())
        except OSError:
            h.update(f"{f}|missing".encode())
    return h.hexdigest()[:16]


def load_corpus(midi_dir: Path | None = None, limit: int | None = None, jobs: int = 2,
                use_cache: bool = True, progress=None) -> Corpus:
    """Import the Bach chorales (default) or every MIDI file under midi_dir, cached by fingerprint.

    progress, if given, is called with (done, total) as files are imported.
    """
    if midi_dir is None:
        files, importer, source = chorale_paths(limit), _import_chorale, "bach"
    else:
        files, importer, source = [str(p) for p in midi_paths(midi_dir)][:limit], _import_midi, str(midi_dir)
        if not files:
            raise LofiError(f"no .mid or .midi files under {midi_dir}")
    fp = fingerprint(files, extra=source if midi_dir is None else f"{source}|midi-import-{MIDI_IMPORT_VERSION}")
    cache_file = paths.CACHE_DIR / f"corpus-{fp}.pkl"
    if use_cache and cache_file.exists():
        try:
            with open(cache_file, "rb") as f:
                return pickle.load(f)
        except Exception:
            pass  # a broken cache is rebuilt
    results = _run_imports(importer, files, jobs, progress)
    pieces = [p for _, p, _ in results if p is not None]
    skipped = [(name, reason) for name, p, reason in results if p is None]
    corpus = Corpus(pieces, fp, skipped, source)
    if use_cache and pieces:
        from app.files import atomic_path

        with atomic_path(cache_file) as tmp:
            with open(tmp, "wb") as f:
                pickle.dump(corpus, f)
    return corpus


def _run_imports(importer, files: list[str], jobs: int, progress) -> list:
    results = []
    if jobs > 1 and len(files) > 4:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(jobs) as pool:
            for i, r in enumerate(pool.imap(importer, files, chunksize=4)):
                results.append(r)
                if progress:
                    progress(i + 1, len(files))
    else:
        for i, f in enumerate(files):
            results.append(importer(f))
            if progress:
                progress(i + 1, len(files))
    return results


def split_pieces(pieces: list[Piece], val_fraction: float = 0.1, seed: int = 0) -> tuple[list[Piece], list[Piece]]:
    """Held-out split by piece (never inside a piece), deterministic for a seed."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pieces))
    n_val = max(1, int(round(len(pieces) * val_fraction))) if len(pieces) > 1 else 0
    val = [pieces[i] for i in order[:n_val]]
    train = [pieces[i] for i in order[n_val:]]
    return train, val
