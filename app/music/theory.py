"""Keys, scales, chord qualities and voicings: pure functions on pitch classes and MIDI numbers."""

from __future__ import annotations

NOTE_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
_PITCH_CLASS = {
    "C": 0, "B#": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "Fb": 4, "E#": 5,
    "F": 5, "F#": 6, "Gb": 6, "G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11, "Cb": 11,
}
KEY_NAMES = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
MODES = ("major", "minor")  # the models' own modes, and the pool a "surprise me" mode is drawn from
# Church modes are played from the parent mode's models, their chords and melody mapped to the mode's scale.
PARENT_MODE = {"major": "major", "minor": "minor", "dorian": "minor", "phrygian": "minor",
               "mixolydian": "major", "lydian": "major"}
ALL_MODES = tuple(PARENT_MODE)

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
NATURAL_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
# Minor melodies may use the raised 7th (harmonic minor's leading tone).
MINOR_SCALE_WITH_LEADING_TONE = (0, 2, 3, 5, 7, 8, 10, 11)

MODE_SCALES = {"dorian": (0, 2, 3, 5, 7, 9, 10), "phrygian": (0, 1, 3, 5, 7, 8, 10),
               "mixolydian": (0, 2, 4, 5, 7, 9, 10), "lydian": (0, 2, 4, 6, 7, 9, 11)}

# Chord qualities the models know, as intervals above the root. The order is the token order: never
# reorder (QUALITY_NAMES is the token list; the colour qualities below are not tokens).
TOKEN_QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dom7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "hdim7": (0, 3, 6, 10),
    "dim": (0, 3, 6),
    "sus4": (0, 5, 7),
    "sus2": (0, 2, 7),
    "aug": (0, 4, 8),
    "dim7": (0, 3, 6, 9),
    "min9": (0, 3, 7, 10, 14),
    "maj9": (0, 4, 7, 11, 14),
}
QUALITY_NAMES = list(TOKEN_QUALITIES)
# Colour qualities the arrangement plays (harmony.py), each with the token quality the melody model
# is conditioned on: its nearest relative among the qualities it learned.
COLOUR_QUALITIES: dict[str, tuple[tuple[int, ...], str]] = {
    "maj6": ((0, 4, 7, 9), "maj"), "min6": ((0, 3, 7, 9), "min"), "maj69": ((0, 4, 7, 9, 14), "maj"),
    "add9": ((0, 4, 7, 14), "maj"), "madd9": ((0, 3, 7, 14), "min"), "min11": ((0, 3, 7, 10, 14, 17), "min9"),
    "maj9s11": ((0, 4, 7, 11, 14, 18), "maj9"), "maj13": ((0, 4, 7, 11, 14, 21), "maj9"),
    "dom9": ((0, 4, 7, 10, 14), "dom7"), "dom13": ((0, 4, 10, 14, 21), "dom7"),
    "dom7b9": ((0, 4, 7, 10, 13), "dom7"), "dom7s9": ((0, 4, 7, 10, 15), "dom7"),
    "dom7b13": ((0, 4, 10, 14, 20), "dom7"), "dom9s11": ((0, 4, 7, 10, 14, 18), "dom7"),
    "dom7sus4": ((0, 5, 7, 10), "sus4"), "dom9sus4": ((0, 5, 7, 10, 14), "sus4"), "min7b5_9": ((0, 3, 6, 10, 14), "hdim7"),
}
CHORD_QUALITIES: dict[str, tuple[int, ...]] = {**TOKEN_QUALITIES, **{q: v[0] for q, v in COLOUR_QUALITIES.items()}}
# Families for the figures: plain triads, four-note sevenths and sixths, 9th or extended, sus.
QUALITY_FAMILY = {
    **{q: "triad" for q in ("maj", "min", "dim", "aug")}, **{q: "sus" for q in ("sus2", "sus4", "dom7sus4", "dom9sus4")},
    **{q: "seventh" for q in ("dom7", "maj7", "min7", "hdim7", "dim7", "maj6", "min6")},
    **{q: "extended" for q in ("min9", "maj9", "maj69", "add9", "madd9", "min11", "maj9s11", "maj13", "dom9", "dom13",
                               "dom7b9", "dom7s9", "dom7b13", "dom9s11", "min7b5_9")},
}
_QUALITY_SUFFIX = {
    "maj": "", "min": "m", "dom7": "7", "maj7": "maj7", "min7": "m7", "hdim7": "m7b5", "dim": "dim",
    "sus4": "sus4", "sus2": "sus2", "aug": "aug", "dim7": "dim7", "min9": "m9", "maj9": "maj9",
    "maj6": "6", "min6": "m6", "maj69": "6/9", "add9": "add9", "madd9": "madd9", "min11": "m11",
    "maj9s11": "maj9#11", "maj13": "maj13", "dom9": "9", "dom13": "13", "dom7b9": "7b9", "dom7s9": "7#9",
    "dom7b13": "7b13", "dom9s11": "9#11", "dom7sus4": "7sus4", "dom9sus4": "9sus4", "min7b5_9": "m9b5",
}
_SUFFIX_QUALITY = {v: k for k, v in _QUALITY_SUFFIX.items()}


def pitch_class(name: str) -> int:
    """'F#' -> 6, 'bb' -> 10. Raises ValueError for anything else."""
    key = name.strip()
    key = key[:1].upper() + key[1:].lower().replace("s", "#") if key else key
    if key not in _PITCH_CLASS:
        raise ValueError(f"unknown note name {name!r}; use one of {', '.join(KEY_NAMES)}")
    return _PITCH_CLASS[key]


def key_name(tonic_pc: int) -> str:
    """Pitch class -> the conventional key spelling ('Eb', not 'D#')."""
    return KEY_NAMES[tonic_pc % 12]


def token_quality(quality: str) -> str:
    """The quality the models know for any quality: itself, or a colour quality's nearest token quality."""
    return COLOUR_QUALITIES[quality][1] if quality in COLOUR_QUALITIES else quality


def scale_pitch_classes(tonic_pc: int, mode: str, leading_tone: bool = True) -> set[int]:
    """Pitch classes allowed in a melody of this key (minor includes the raised 7th by default;
    the church modes are their own seven notes)."""
    if mode in MODE_SCALES:
        steps = MODE_SCALES[mode]
    elif mode == "major":
        steps = MAJOR_SCALE
    elif mode == "minor":
        steps = MINOR_SCALE_WITH_LEADING_TONE if leading_tone else NATURAL_MINOR_SCALE
    else:
        raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(ALL_MODES)}")
    return {(tonic_pc + s) % 12 for s in steps}


def chord_pitch_classes(root_pc: int, quality: str) -> set[int]:
    """Pitch classes of a chord."""
    return {(root_pc + i) % 12 for i in CHORD_QUALITIES[quality]}


def chord_symbol(root_pc: int, quality: str, bass_pc: int | None = None) -> str:
    """(9, 'min7') -> 'Am7'; with a bass other than the root, a slash chord: (0, 'maj', 4) -> 'C/E'."""
    slash = "" if bass_pc is None or bass_pc % 12 == root_pc % 12 else "/" + NOTE_NAMES[bass_pc % 12]
    return NOTE_NAMES[root_pc % 12] + _QUALITY_SUFFIX[quality] + slash


def slash_bass(symbol: str) -> int | None:
    """The bass pitch class of a slash chord symbol ('C/E' -> 4), None without a slash."""
    head, sep, bass = symbol.rpartition("/")
    if not (sep and head and bass[:1].isalpha()):  # '6/9' is a quality, not a slash
        return None
    return pitch_class(bass)


def parse_chord_symbol(symbol: str) -> tuple[int, str]:
    """'Am7' -> (9, 'min7'); the inverse of chord_symbol (a slash bass is left out: see slash_bass)."""
    if slash_bass(symbol) is not None:
        symbol = symbol.rpartition("/")[0]
    root = symbol[:2] if len(symbol) > 1 and symbol[1] in "#b" else symbol[:1]
    suffix = symbol[len(root):]
    if suffix not in _SUFFIX_QUALITY:
        raise ValueError(f"unknown chord symbol {symbol!r}")
    return pitch_class(root), _SUFFIX_QUALITY[suffix]


def name_chord(pitch_classes: set[int], bass_pc: int | None = None) -> tuple[int, str] | None:
    """Best (root, quality) for a set of sounding pitch classes, or None when nothing fits.

    Exact matches win (preferring the bass as root); otherwise the quality whose tones cover most of
    the set, so passing tones do not hide the harmony.
    """
    pcs = {p % 12 for p in pitch_classes}
    if not pcs:
        return None
    best, best_score = None, -1.0
    for root in range(12):
        for quality in ("maj", "min", "dom7", "maj7", "min7", "hdim7", "dim", "dim7", "sus4", "aug"):
            tones = chord_pitch_classes(root, quality)
            if root not in pcs:
                continue
            covered = len(pcs & tones)
            extra = len(pcs - tones)
            missing = len(tones - pcs)
            score = covered * 2 - extra * 2.5 - missing * 1.0
            if bass_pc is not None and root == bass_pc % 12:
                score += 0.75
            if quality in ("maj", "min"):
                score += 0.3  # plain triads when in doubt
            if score > best_score:
                best, best_score = (root, quality), score
    if best is None or best_score < 2:
        return None
    return best


def tonic_midi(tonic_pc: int, octave_base: int = 60) -> int:
    """The tonic's MIDI number nearest middle C (within -6..+5 semitones), the anchor for tokens."""
    pc = tonic_pc % 12
    return octave_base + (pc if pc <= 5 else pc - 12)


def voice_chord(root_pc: int, quality: str, low: int = 50, high: int = 68) -> list[int]:
    """A close, smooth voicing of the chord between low and high (MIDI), root not necessarily lowest:
    the lo-fi keys sound of stacked 7ths in the middle register."""
    intervals = CHORD_QUALITIES[quality]
    root = low + ((root_pc - low) % 12)
    notes = [root + i for i in intervals]
    # Fold anything above the ceiling down an octave, keeping the notes distinct.
    voiced = sorted({n - 12 if n > high else n for n in notes})
    return voiced


def rubs(pitch: int, tones: set[int]) -> bool:
    """True when the pitch (MIDI number or pitch class) is a semitone from one of the chord's pitch
    classes `tones` without being one of them: the clash the arrangement avoids and evaluate counts."""
    pc = pitch % 12
    return pc not in tones and ((pc + 1) % 12 in tones or (pc - 1) % 12 in tones)


def in_register(pc: int, low: int) -> int:
    """The MIDI number of pitch class pc at or above low (within the octave above it)."""
    return low + ((pc - low) % 12)


def bass_note(root_pc: int, low: int = 33) -> int:
    """The chord root in the bass register (A1=33 .. G#2=44)."""
    return low + ((root_pc - low) % 12)
