"""Training data: music21's bundled Bach chorales or a folder of MIDI files -> encoded pieces.

Each source file becomes a Song (melody, key, mode, and chords named per beat for a chorale, per half
bar for an imported MIDI file, per beat in odd metres), then key-relative tokens (app.learn.encoding).
Preprocessing is cached under paths.CACHE_DIR by a fingerprint of the sources and the encoding
parameters, so a second run starts training at once.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field, fields
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
MIDI_IMPORT_VERSION = 3

@dataclass
class Piece:
    """One training piece: melody (T, 6) and chord (C, 4) token arrays, see app.learn.encoding.
    Either may be empty (0 rows): a chord loop gives no melody, a melody loop no chords."""

    name: str
    key: int
    mode: str
    melody: np.ndarray
    chords: np.ndarray
    group: str = ""  # the file it came from: a validation split never separates a file's pieces
    augmented: bool = False  # a transposed, timing-varied copy (training only, never validation)


@dataclass
class Corpus:
    pieces: list[Piece]
    fingerprint: str
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    source: str = "bach"
    drums: list = field(default_factory=list)  # drum_corpus.DrumPiece from a MIDI folder's drum parts
    fed: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file -> the models it feeds
    notes: list[tuple[str, str]] = field(default_factory=list)  # (file, what it did not give a model)

    @property
    def melody_tokens(self) -> int:
        return int(sum(len(p.melody) for p in self.pieces))

    @property
    def chord_tokens(self) -> int:
        return int(sum(len(p.chords) for p in self.pieces))

    def pieces_for(self, kind: str) -> list[Piece]:
        """The pieces with data for the 'chord' or 'melody' model."""
        return [p for p in self.pieces if len(p.chords if kind == "chord" else p.melody)]

    def drum_corpus(self):
        """The folder's drum parts as a DrumCorpus (validation: the files split_pieces would hold out)."""
        from app.learn.drum_corpus import DrumCorpus

        return DrumCorpus(self.drums, self.fingerprint, self.source)

    def summary(self) -> str:
        """'N pieces imported (...), M skipped', for a MIDI folder the files and events per model,
        then one line per skipped file with its reason."""
        originals = [p for p in self.pieces if not p.augmented]
        lines = [f"{len(self.pieces)} pieces imported ({self.melody_tokens} melody events, "
                 f"{self.chord_tokens} chords), {len(self.skipped)} skipped"]
        if self.fed:
            copies = len(self.pieces) - len(originals)
            lines[0] = (f"{len(self.fed)} files imported, {len(self.skipped)} skipped; {len(originals)} pieces"
                        + (f" (+{copies} transposed copies)" if copies else ""))
            for kind, what in (("chord", "chords"), ("melody", "melody events")):
                files = sum(kind in f for f in self.fed.values())
                events = sum(len(p.chords if kind == "chord" else p.melody) for p in self.pieces)
                extra = sum(len(p.chords if kind == "chord" else p.melody) for p in self.pieces if p.augmented)
                lines.append(f"  {kind} model: {_files(files)}, {events} {what}"
                             + (f" ({extra} from augmentation)" if extra else ""))
            bars = sum(len(p.drums) for p in self.drums) // 16
            lines.append(f"  drum model: {_files(sum('drum' in f for f in self.fed.values()))}, {bars} bars")
        lines += [f"  skipped {name}: {reason}" for name, reason in self.skipped]
        return "\n".join(lines)


def _files(count: int) -> str:
    return f"{count} file" + ("" if count == 1 else "s")


# --- key estimation and harmony -----------------------------------------------------------

def estimate_key(notes: list[Note]) -> tuple[int, str]:
    """Duration-weighted pitch-class histogram correlated with the Krumhansl-Kessler profiles."""
    from app.learn.parts import key_fit, pc_histogram

    tonic, mode, _ = key_fit(pc_histogram(notes))
    return tonic, mode


def harmony_per_step(notes: list[Note], end: float, step: float = 1.0, offset: float = 0.0,
                     namer=theory.name_chord) -> list[Chord]:
    """Name the harmony sounding at each step (beats) and merge repeats into longer chords.
    namer(pitch classes, lowest pitch) -> (root, quality) or None names a step's notes.

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
        named = namer({n.pitch for n in sounding}, min((n.pitch for n in sounding), default=None)) \
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

MIN_CHORDS = 2  # a progression needs a change
MIN_MELODY_NOTES = 4  # a one-bar melody loop has a handful of notes
LONGEST_BEATS = 4 * 60 * 30  # 30 minutes at 240 BPM: not a song
# Augmentation of small sets: every transposition from a fourth down to a tritone up, each with
# its notes' onsets moved by a little timing noise (beats, standard deviation).
TRANSPOSITIONS = tuple(k for k in range(-5, 7) if k != 0)
TIMING_JITTER_BEATS = 0.04


@dataclass
class FileImport:
    """What one MIDI file gave: key segments encoded for the chord and melody models, drum pieces,
    the models it feeds, and why it gave nothing to a model (empty when it fed every one it could)."""

    name: str
    pieces: list[Piece] = field(default_factory=list)
    drums: list = field(default_factory=list)  # drum_corpus.DrumPiece
    fed: tuple[str, ...] = ()  # 'chord', 'melody', 'drum'
    reason: str = ""  # why the file was skipped (it fed no model); else notes on what it did not give


def _read_lines(path: Path):
    """Read a MIDI file's lines (midi_io.read_midi_lines), turning every failure into MidiImportError:
    not a regular file, empty, truncated, not MIDI, no tracks, no notes (only control events)."""
    import os
    import stat

    from app.music.midi_io import read_midi_lines

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
    if not found.lines:
        raise MidiImportError("no notes (only control or meta events)")
    return found


def _file_parts(path: Path):
    """(MidiLines, FileParts, beats per bar, end in beats) of a MIDI file; MidiImportError when it
    cannot be read, holds no notes or is implausibly long."""
    from app.learn.parts import Line, detect_parts

    found = _read_lines(Path(path))
    beats_per_bar = found.time_signature[0] * 4 / found.time_signature[1]
    lines = [Line(name, ch, prog, notes) for (name, ch, notes), prog in
             zip(found.lines, found.programs or [None] * len(found.lines))]
    parts = detect_parts(lines, beats_per_bar)
    end = max(n.end for _, _, notes in found.lines for n in notes)
    if end > LONGEST_BEATS:
        raise MidiImportError(f"implausibly long ({end:.0f} beats)")
    return found, parts, beats_per_bar, end


def _harmony_step(beats_per_bar: float) -> float:
    return 2.0 if beats_per_bar % 2 == 0 else 1.0  # per half bar in even metres, per beat otherwise


def midi_file_to_song(path: Path) -> Song:
    """Any MIDI file -> one Song of the whole file: its melody, chords (named per half bar, per beat
    in odd metres, from the chord part with the bass as the lowest note), chords and bass parts, the
    key of its first key segment and the longest-lasting time signature.

    Raises MidiImportError with the reason when the file cannot be read or yields no melody and no
    harmony (see import_midi_file for the per-model import).
    """
    from app.learn.parts import best_key, harmony_with_bass, key_segments, pc_histogram
    from app.music.song import Part

    found, parts, bpb, end = _file_parts(Path(path))
    pitched = parts.chords + parts.broken + parts.bass + parts.melody
    if not pitched:
        raise MidiImportError(f"drums only ({len(parts.drums)} drum notes, no pitched part)")
    segment = key_segments(pitched, bpb, end, found.key_signatures)[0]
    chords = harmony_with_bass(parts.chords, parts.bass, end, _harmony_step(bpb), parts.broken, bpb) \
        if parts.chords or parts.broken else []
    segment.key, segment.mode = best_key(pc_histogram(pitched, segment.start, segment.end),
                                         [c for c in chords if c.start < segment.end - 1e-6])
    song_parts = {name: Part(name, sorted(notes, key=lambda n: (n.start, n.pitch)))
                  for name, notes in (("melody", parts.melody), ("chords", parts.chords + parts.broken),
                                         ("bass", parts.bass)) if notes}
    return Song(found.bpm, segment.key, segment.mode, found.time_signature, chords=chords, parts=song_parts)


def _window(notes: list[Note], start: float, end: float, shift: float = 0.0) -> list[Note]:
    """The notes starting inside start..end, moved by -start (+shift semitones applied elsewhere)."""
    return [Note(n.pitch, n.start - start + shift, min(n.end, end) - n.start, n.velocity)
            for n in notes if start - 1e-6 <= n.start < end - 1e-6 and min(n.end, end) - n.start > 1e-6]


def _varied(notes: list[Note], semitones: int, rng) -> list[Note]:
    """A copy moved by `semitones`, each onset nudged by timing noise (never before 0)."""
    jitter = rng.normal(0.0, TIMING_JITTER_BEATS, len(notes))
    return [Note(min(127, max(0, n.pitch + semitones)), max(0.0, n.start + float(j)), n.duration, n.velocity)
            for n, j in zip(notes, jitter)]


def _encode_segment(melody, chord_notes, bass, broken, key, mode, beats_per_bar, end, name, group, augmented):
    """One key segment (notes from 0) -> (Piece or None, chords named, melody notes)."""
    from app.learn.parts import harmony_with_bass, skyline

    chords = harmony_with_bass(chord_notes, bass, end, _harmony_step(beats_per_bar), broken, beats_per_bar) \
        if chord_notes or broken else []
    melody = skyline(melody) if augmented else melody
    bar16 = int(round(beats_per_bar * 4))
    mel = encoding.encode_melody(melody, chords, key, mode, bar_16ths=bar16) if len(melody) >= MIN_MELODY_NOTES \
        else np.zeros((0, 6), dtype=np.int64)
    prog = encoding.encode_progression(_split_long_chords(chords), key, mode, beats_per_bar) \
        if len(chords) >= MIN_CHORDS else np.zeros((0, 4), dtype=np.int64)
    piece = Piece(name, key, mode, mel, prog, group, augmented) if len(mel) or len(prog) else None
    return piece, chords, melody


def import_midi_file(path: Path, augment: bool = False) -> FileImport:
    """One MIDI file -> everything it gives each model (see app.learn.parts for the part detection).

    Harmony: any file with a chord part (block, rolled or broken voicings, the bass as slash
    chords), MIN_CHORDS or more. Melody: the highest monophonic line that is not a voicing, with
    MIN_MELODY_NOTES or more. Drums: channel 10 or drum tracks, in 4/4. A key change splits the
    file into segments, each encoded in its own key ('name' for one segment, 'name [bars a-b]' for
    several). augment: also every transposition in TRANSPOSITIONS with timing noise, kept only where
    the tokens differ from what is already kept (the tokens are key-relative). Raises MidiImportError
    when the file cannot be read; a file that reads but feeds no model gives a FileImport with the reason.
    """
    from app.files import printable
    from app.learn.parts import best_key, harmony_with_bass, key_segments, pc_histogram

    path = Path(path)
    name = printable(path.name)
    found, parts, bpb, end = _file_parts(path)
    result = FileImport(name)
    notes_why: list[str] = []
    pitched = parts.chords + parts.broken + parts.bass + parts.melody
    named_chords = 0
    if pitched:
        segments = key_segments(pitched, bpb, end, found.key_signatures)
        chords_all = harmony_with_bass(parts.chords, parts.bass, end, _harmony_step(bpb), parts.broken, bpb) \
            if parts.chords or parts.broken else []
        keyed = []
        for seg in segments:  # each segment's key from its notes and chords; neighbours that agree join
            inside = [c for c in chords_all if seg.start - 1e-6 <= c.start < seg.end - 1e-6]
            seg.key, seg.mode = best_key(pc_histogram(pitched, seg.start, seg.end), inside)
            if keyed and (keyed[-1].key, keyed[-1].mode) == (seg.key, seg.mode):
                keyed[-1].end = seg.end
            else:
                keyed.append(seg)
        segments = keyed
        for seg in segments:
            label = name if len(segments) == 1 else f"{name} [bars {int(seg.start // bpb) + 1}-{int(np.ceil(seg.end / bpb - 1e-9))}]"
            window = lambda notes, s=seg: _window(notes, s.start, s.end)  # noqa: E731
            piece, chords, _ = _encode_segment(window(parts.melody), window(parts.chords), window(parts.bass),
                                               window(parts.broken), seg.key, seg.mode, bpb, seg.end - seg.start,
                                               label, name, False)
            named_chords = max(named_chords, len(chords))
            if piece is None:
                continue
            result.pieces.append(piece)
            if augment:
                result.pieces += _augmented(piece, parts, seg, bpb, label, name)
    if parts.drums:
        drum_piece, why = _drum_piece(parts.drums, found, name)
        if drum_piece is not None:
            result.drums.append(drum_piece)
        else:
            notes_why.append(why)
    originals = [p for p in result.pieces if not p.augmented]
    fed = []
    if any(len(p.chords) for p in originals):
        fed.append("chord")
    elif parts.chords or parts.broken:
        notes_why.insert(0, f"no harmony found (need at least {MIN_CHORDS} chords; the chord part names {named_chords})")
    else:
        notes_why.insert(0, "no chord part")
    if any(len(p.melody) for p in originals):
        fed.append("melody")
    else:
        notes_why.insert(1, f"no melodic line (no monophonic line of {MIN_MELODY_NOTES}+ notes besides the "
                            "chord voicings and the bass)")
    if result.drums:
        fed.append("drum")
    result.fed = tuple(fed)
    result.reason = "; ".join(notes_why)
    if not fed and not pitched and not parts.drums:
        result.reason = "no notes (only control or meta events)"
    return result


def _augmented(piece: Piece, parts, seg, bpb, label, group) -> list[Piece]:
    """The transposed, timing-varied copies of one segment that add tokens the models have not seen:
    a copy's melody (or chords) is kept only when it differs from every one kept before."""
    import zlib

    rng = np.random.default_rng(zlib.crc32(label.encode()))
    seen_m, seen_c = {piece.melody.tobytes()}, {piece.chords.tobytes()}
    out = []
    for k in TRANSPOSITIONS:
        moved = [_varied(_window(notes, seg.start, seg.end), k, rng)
                 for notes in (parts.melody, parts.chords, parts.bass, parts.broken)]
        copy, _, _ = _encode_segment(*moved, (seg.key + k) % 12, seg.mode, bpb, seg.end - seg.start,
                                     f"{label} ({k:+d})", group, True)
        if copy is None:
            continue
        new_m = len(copy.melody) and copy.melody.tobytes() not in seen_m
        new_c = len(copy.chords) and copy.chords.tobytes() not in seen_c
        if not (new_m or new_c):
            continue
        seen_m.add(copy.melody.tobytes())
        seen_c.add(copy.chords.tobytes())
        out.append(Piece(copy.name, copy.key, copy.mode, copy.melody if new_m else copy.melody[:0],
                         copy.chords if new_c else copy.chords[:0], group, True))
    return out


def _drum_piece(drum_notes: list[Note], found, name: str):
    """(DrumPiece or None, reason): a file's drum notes on the drum model's 9 voices, each bar an
    'A' bar (a 'breakdown' bar without kick), a fill where the toms play FILL_TOM_STROKES or more."""
    from app.learn import drum_encoding as de
    from app.learn.drum_corpus import FILL_TOM_STROKES, DrumPiece

    if tuple(found.time_signature) != (4, 4):
        return None, f"drums not used (the drum model plays 4/4, the file is in {found.time_signature[0]}/{found.time_signature[1]})"
    hits = [de.Hit(de.ROLAND_TO_VOICE[n.pitch], n.start, n.velocity) for n in drum_notes if n.pitch in de.ROLAND_TO_VOICE]
    if not hits:
        return None, f"drums not used (none of its {len(drum_notes)} drum notes is on the kit's 9 voices)"
    grid = de.hits_to_grid(hits)
    counts = de.bar_voice_counts(grid)
    kinds = ["breakdown" if c[de.KICK] == 0 else "A" for c in counts]
    fills = [int(sum(c[t] for t in de.TOMS)) >= FILL_TOM_STROKES for c in counts]
    rows = np.hstack([grid, de.conditioning(len(kinds), kinds, fills)])
    return DrumPiece(name, rows, found.bpm, "train", "beat"), ""


def _import_midi(job: tuple[str, bool]) -> FileImport:
    """import_midi_file for a worker: any failure becomes a skipped FileImport with its reason."""
    from app.files import printable

    path, augment = job
    try:
        return import_midi_file(Path(path), augment)
    except LofiError as exc:
        return FileImport(printable(Path(path).name), reason=str(exc))
    except Exception as exc:  # never abort the whole import on one odd file
        return FileImport(printable(Path(path).name), reason=f"{type(exc).__name__}: {exc}")


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
                use_cache: bool = True, progress=None, augment: bool = False) -> Corpus:
    """Import the Bach chorales (default) or every MIDI file under midi_dir, cached by fingerprint.

    A MIDI file feeds every model it can (import_midi_file); augment adds transposed, timing-varied
    copies (MIDI folders only). progress, if given, is called with (done, total) as files are imported.
    """
    if midi_dir is None:
        files, importer, source = chorale_paths(limit), _import_chorale, "bach"
        jobs_in = files
    else:
        files, importer, source = [str(p) for p in midi_paths(midi_dir)][:limit], _import_midi, str(midi_dir)
        if not files:
            raise LofiError(f"no .mid or .midi files under {midi_dir}")
        jobs_in = [(f, augment) for f in files]
    extra = source if midi_dir is None else f"{source}|midi-import-{MIDI_IMPORT_VERSION}|augment={augment}"
    fp = fingerprint(files, extra=extra)
    cache_file = paths.CACHE_DIR / f"corpus-{fp}.pkl"
    if use_cache and cache_file.exists():
        try:
            with open(cache_file, "rb") as f:
                cached = pickle.load(f)
            # A cache pickled before Corpus grew fields (drums, fed, notes) is rebuilt, not half-used.
            if all(hasattr(cached, f.name) for f in fields(Corpus)):
                return cached
        except Exception:
            pass  # a broken cache is rebuilt
    results = _run_imports(importer, jobs_in, jobs, progress)
    if midi_dir is None:
        pieces = [p for _, p, _ in results if p is not None]
        skipped = [(name, reason) for name, p, reason in results if p is None]
        corpus = Corpus(pieces, fp, skipped, source)
    else:
        corpus = _folder_corpus(results, fp, source)
    if use_cache and (corpus.pieces or corpus.drums):
        from app.files import atomic_path

        with atomic_path(cache_file) as tmp:
            with open(tmp, "wb") as f:
                pickle.dump(corpus, f)
    return corpus


def _folder_corpus(results: list[FileImport], fp: str, source: str) -> Corpus:
    """Imported files -> a Corpus: pieces, drum pieces (their validation files chosen as split_pieces
    chooses), the models each file feeds, the skipped files and what the others did not give."""
    fed = {r.name: r.fed for r in results if r.fed}
    skipped = [(r.name, r.reason) for r in results if not r.fed]
    notes = [(r.name, r.reason) for r in results if r.fed and r.reason]
    pieces = [p for r in results for p in r.pieces]
    drums = [d for r in results for d in r.drums]
    held_out = validation_groups(sorted({d.name for d in drums}))
    for d in drums:
        d.split = "validation" if d.name in held_out else "train"
    return Corpus(pieces, fp, skipped, source, drums, fed, notes)


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


def validation_groups(groups: list[str], val_fraction: float = 0.1, seed: int = 0) -> set[str]:
    """The groups (files) held out for validation: a deterministic share for a seed, none of one."""
    groups = sorted(set(groups))
    if len(groups) < 2:
        return set()
    order = np.random.default_rng(seed).permutation(len(groups))
    n_val = max(1, int(round(len(groups) * val_fraction)))
    return {groups[i] for i in order[:n_val]}


def split_pieces(pieces: list[Piece], val_fraction: float = 0.1, seed: int = 0) -> tuple[list[Piece], list[Piece]]:
    """Held-out split by source file (never inside a file: its key segments and augmented copies
    stay together), deterministic for a seed; augmented copies never validate."""
    held_out = validation_groups([p.group or p.name for p in pieces], val_fraction, seed)
    val = [p for p in pieces if (p.group or p.name) in held_out and not p.augmented]
    train = [p for p in pieces if (p.group or p.name) not in held_out]
    return train, val
