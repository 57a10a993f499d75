"""TrackSpec: every choice that makes a track, with its default and allowed range. The wizard and
the flags both fill one; the sidecar JSON stores it so `--replay` can make the same track again."""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, field, fields, replace

from app.music import theory
from app.errors import BadValueError
# The shared constants live in app.config; DEFAULT_BPM, FORMATS, NO_BEAT, RANGES and SEED_MAX are
# also imported from here by the CLI, the wizard and the release code.
from app.config import (DEFAULT_AMBIENCE, DEFAULT_AMBIENCE_LEVEL_DB, DEFAULT_BIT_DEPTH, DEFAULT_BPM,  # noqa: F401
                        DEFAULT_COLOUR, DEFAULT_ENERGY, DEFAULT_SWING, FORMATS, GENERATED_BEAT, NO_BEAT, RANGES,
                        BIT_DEPTHS, SAMPLE_RATE, SAMPLE_RATES, SEED_MAX, VIDEO_SHAPES)

# The JSON type of every field of a sidecar's 'spec' (replay files), and the fields a replay needs
# to make the same music again; the others take their defaults when missing.
_NUMBER, _TEXT, _BOOL = "a number", "a string", "true or false"
FIELD_TYPES = {
    "name": (_TEXT,), "minutes": (_NUMBER,), "key": (_TEXT, None), "mode": (_TEXT, None), "bpm": (_NUMBER, None),
    "melody_instrument": (_TEXT, None), "chords_instrument": (_TEXT, None), "bass_instrument": (_TEXT, None),
    "include_chords": (_BOOL,), "beat": (_TEXT, None), "ambience": ("a list of [name, level_db]",),
    "temperature": (_NUMBER,), "seed": ("a whole number",), "formats": ("a list of format names",),
    "overwrite": (_BOOL,), "swing": (_NUMBER,), "lofi_preset": (_TEXT,), "picture": (_BOOL,), "stems": (_BOOL,),
    "artist": (_TEXT,),
    "album": (_TEXT, None), "colour": (_NUMBER,), "energy": (_NUMBER,), "drum_kit": (_TEXT, None),
    "sample_rate": ("a whole number",), "bit_depth": ("a whole number",), "ascii_names": (_BOOL,),
    "takes": ("an object of part: take number",), "video": (_TEXT, None), "loop_bars": ("a whole number", None),
}  # fmt: skip
REPLAY_REQUIRED = ("seed", "minutes", "key", "mode", "bpm", "melody_instrument", "chords_instrument",
                   "bass_instrument", "include_chords", "beat", "ambience", "temperature", "swing", "lofi_preset",
                   "colour", "energy")


@dataclass
class TrackSpec:
    name: str = "lofi"
    minutes: float = 2.0
    key: str | None = None  # 'C', 'F#', 'Bb'...; None = surprise me (drawn from the seed)
    mode: str | None = None  # 'major' | 'minor' | a church mode (theory.ALL_MODES); None = major or minor, drawn from the seed
    bpm: float | None = None  # None = follow the beat (or DEFAULT_BPM without one)
    melody_instrument: str | None = None  # instrument id or preset name; None = the default
    chords_instrument: str | None = None
    bass_instrument: str | None = None
    include_chords: bool = True
    beat: str | None = None  # 'generated' (the drum model), a beat loop's name, 'none'; None = 'generated'
    ambience: list[tuple[str, float]] = field(default_factory=lambda: [tuple(a) for a in DEFAULT_AMBIENCE])
    temperature: float = 1.0
    seed: int | None = None  # None = random (shown, and stored in the sidecar)
    formats: tuple[str, ...] = ("wav",)
    overwrite: bool = False
    swing: float = DEFAULT_SWING
    lofi_preset: str = "default"
    picture: bool = True
    stems: bool = True  # the layers' stem WAVs in the wav folder (a batch writes them only with --stems)
    artist: str = "lofi generator"
    album: str | None = None
    colour: float = DEFAULT_COLOUR  # harmony richness: 0 triads and sevenths .. 1 9ths, 11ths, 13ths everywhere
    energy: float = DEFAULT_ENERGY  # density and activity of every part: 0 sparse .. 1 busy
    drum_kit: str | None = None  # the generated drums' kit (a bank-128 preset id or name); None = the default kit
    sample_rate: int = SAMPLE_RATE  # Hz, config.SAMPLE_RATES: the track is rendered, mixed and mastered at it
    bit_depth: int = DEFAULT_BIT_DEPTH  # config.BIT_DEPTHS: of the WAV and FLAC files
    ascii_names: bool = False  # file names of letters, digits, '-' and '_' only (names.ascii_name)
    takes: dict[str, int] = field(default_factory=dict)  # part -> take (--reroll); a part not named is take 0
    video: str | None = None  # None, or the shape of an MP4 to make too (config.VIDEO_SHAPES: landscape, shorts)
    loop_bars: int | None = None  # None, or the bars of a seamless NAME_loop.wav to make too

    def validate(self) -> "TrackSpec":
        """Check every value; raise BadValueError naming the allowed values. Returns self.

        Text fields are made printable on the way (file-name bytes that are not UTF-8, as a shell
        passes them, become U+FFFD), so names can always go into tags, JSON and messages.
        """
        from app.files import printable

        for name in ("name", "artist", "album", "key", "mode", "melody_instrument", "chords_instrument",
                     "bass_instrument", "beat", "lofi_preset", "drum_kit"):
            value = getattr(self, name)
            if isinstance(value, str):
                setattr(self, name, printable(value))
        self.ambience = [(printable(n), lv) for n, lv in self.ambience]
        if not self.name.strip():
            raise BadValueError("name must not be empty")
        _in_range("minutes", self.minutes)
        _in_range("temperature", self.temperature)
        _in_range("swing", self.swing)
        _in_range("colour", self.colour)
        _in_range("energy", self.energy)
        if self.bpm is not None:
            _in_range("bpm", self.bpm)
        if self.key is not None:
            try:
                theory.pitch_class(self.key)
            except ValueError:
                raise BadValueError(f"unknown key {self.key!r}; allowed: {', '.join(theory.KEY_NAMES)} "
                                    "(sharps and flats both work)") from None
        if self.mode is not None and self.mode not in theory.ALL_MODES:
            raise BadValueError(f"unknown mode {self.mode!r}; allowed: {', '.join(theory.ALL_MODES)}")
        self.formats = tuple(dict.fromkeys(self.formats))  # each format once
        bad = [f for f in self.formats if f not in FORMATS]
        if bad or not self.formats:
            # repr: a name from a replay file may hold a newline, and the error is one line
            shown = ", ".join(shorten(repr(f)) for f in bad) or "(none)"
            raise BadValueError(f"unknown format {shown}; allowed: {', '.join(FORMATS)}")
        for name, level in self.ambience:
            lo, hi = RANGES["level_db"]
            if not lo <= level <= hi:
                raise BadValueError(f"ambience level for {shorten(repr(name))} must be between {lo:g} and {hi:g} dB, "
                                    f"got {level:g}")
        check_range("seed", self.seed, 0, SEED_MAX)
        check_format(self.sample_rate, self.bit_depth)
        _check_takes(self.takes)
        if self.video is not None and self.video not in VIDEO_SHAPES:
            raise BadValueError(f"unknown video shape {shorten(repr(self.video))}; allowed: {', '.join(VIDEO_SHAPES)}")
        check_range("loop bars", self.loop_bars, *RANGES["loop_bars"])
        if self.drum_kit is not None and self.beat not in (None, GENERATED_BEAT):
            raise BadValueError(f"a drum kit plays the generated drums, and beat {self.beat!r} has none; "
                                f"use beat {GENERATED_BEAT!r} with the kit, or leave the kit out")
        from app.audio.fx import PRESETS

        if self.lofi_preset not in PRESETS:
            raise BadValueError(f"unknown lo-fi preset {self.lofi_preset!r}; allowed: {', '.join(PRESETS)}")
        return self

    def to_json(self) -> dict:
        data = asdict(self)
        data["formats"] = list(self.formats)
        data["ambience"] = [[n, lv] for n, lv in self.ambience]
        return data

    @classmethod
    def from_json(cls, data: dict, where: str = "replay file") -> "TrackSpec":
        """Build a spec from a sidecar's 'spec' object. A missing required field (REPLAY_REQUIRED), an
        unknown field or a value of the wrong JSON type raises BadValueError naming the field as
        'spec.FIELD'; values out of range raise it from validate()."""
        if not isinstance(data, dict):
            raise BadValueError(f"{where}: field 'spec' must be an object, got {_json_type(data)}")
        unknown = sorted(set(data) - set(FIELD_TYPES))
        if unknown:
            raise BadValueError(f"{where}: unknown field 'spec.{unknown[0]}'")
        missing = [name for name in REPLAY_REQUIRED if name not in data]
        if missing:
            raise BadValueError(f"{where}: missing field 'spec.{missing[0]}' (needed to make the same track)")
        values = {}
        for name, value in data.items():
            values[name] = _field_value(name, value, where)
        return cls(**values).validate()


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__)


def _field_value(name: str, value, where: str):
    """One 'spec' field checked against FIELD_TYPES and converted to the TrackSpec value."""
    kinds = FIELD_TYPES[name]

    def wrong():
        allowed = " or ".join("null" if k is None else k for k in kinds)
        return BadValueError(f"{where}: field 'spec.{name}' must be {allowed}, got {_json_type(value)}")

    if value is None:
        if None in kinds:
            return None
        raise wrong()
    kind = kinds[0]
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == _NUMBER:
        if not is_number:
            raise wrong()
        if isinstance(value, int) and abs(value) > MAX_EXACT_INT:  # float() of a 400-digit int overflows
            lo, hi = RANGES.get(name, (0, MAX_EXACT_INT))
            check_range(f"{where}: field 'spec.{name}'", value, lo, hi)
        if not math.isfinite(value):
            raise BadValueError(f"{where}: field 'spec.{name}' must be a finite number, got {value}")
        return value
    if kind == "a whole number":
        if not (isinstance(value, int) and is_number or isinstance(value, float) and value.is_integer()):
            raise wrong()
        return int(value)
    if kind == _TEXT:
        if not isinstance(value, str):
            raise wrong()
        return value
    if kind == _BOOL:
        if not isinstance(value, bool):
            raise wrong()
        return value
    if name == "formats":
        if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
            raise wrong()
        return tuple(value)
    if name == "ambience":
        ok = isinstance(value, list) and all(
            isinstance(a, list) and len(a) == 2 and isinstance(a[0], str) and isinstance(a[1], (int, float))
            and not isinstance(a[1], bool) and math.isfinite(a[1]) for a in value)
        if not ok:
            raise wrong()
        return [(n, float(lv)) for n, lv in value]
    if name == "takes":
        if not isinstance(value, dict) or not all(isinstance(t, int) and not isinstance(t, bool) for t in value.values()):
            raise wrong()
        return dict(value)
    raise wrong()  # pragma: no cover - every field has a kind above


def reroll(spec: TrackSpec, parts) -> TrackSpec:
    """A copy of spec with the next take of each named part (config.REROLL_PARTS), the rest as they
    were: the same seed, so only those parts change. A part the track does not have is a BadValueError."""
    takes = dict(spec.takes)
    for part in parts:
        if part == "drums" and spec.beat not in (None, GENERATED_BEAT):
            raise BadValueError(f"this track has no generated drums to re-roll (its beat is {shorten(repr(spec.beat))})")
        if part == "chords" and not spec.include_chords:
            raise BadValueError("this track has no chords part to re-roll (it was made with --no-chords)")
        takes[part] = takes.get(part, 0) + 1
    return replace(spec, takes=takes).validate()


def _check_takes(takes: dict[str, int]) -> None:
    """BadValueError unless every key is a part that can be re-rolled and every take a whole number >= 0."""
    from app.config import REROLL_PARTS

    for part, take in takes.items():
        if part not in REROLL_PARTS:
            raise BadValueError(f"unknown part {shorten(repr(part))} to re-roll; allowed: {', '.join(REROLL_PARTS)}")
        check_range(f"take of the {part}", take, 0, SEED_MAX)


def check_range(name: str, value, lo: float, hi: float | None = None) -> None:
    """BadValueError (exit code 2) naming the allowed range when value is not a number in [lo, hi]
    (hi None: no upper bound). None passes: the value was not given."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            lo <= value and (hi is None or value <= hi)):
        allowed = f"between {_shown(lo)} and {_shown(hi)}" if hi is not None else f"at least {_shown(lo)}"
        raise BadValueError(f"{name} must be {allowed}, got {_shown(value)}")


MAX_EXACT_INT = 2**53  # larger ints lose digits as floats; a 400-digit one does not fit one at all
_MAX_SHOWN_CHARS = 24


def _shown(value) -> str:
    """A value for an error message, short however big: 4294967295, 0.1, 'abc', 'a 400-digit number'."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return shorten(repr(value))
    if isinstance(value, int):
        if abs(value) >= 10**_MAX_SHOWN_CHARS:  # str() of a 5000-digit int is refused by Python itself
            return f"a {int(abs(value).bit_length() * 0.30103) + 1}-digit number"
        return str(value)
    return f"{value:g}"


def shorten(text: str, limit: int = 40) -> str:
    """`text`, or its start and its length when longer than `limit` characters (for one-line errors)."""
    return text if len(text) <= limit else f"{text[:limit // 2]}... ({len(text)} characters)"


def check_format(sample_rate: int, bit_depth: int) -> None:
    """BadValueError naming the allowed values unless sample_rate is in SAMPLE_RATES and bit_depth in BIT_DEPTHS."""
    if sample_rate not in SAMPLE_RATES or isinstance(sample_rate, bool):
        raise BadValueError(f"sample rate must be {' or '.join(map(str, SAMPLE_RATES))} Hz, got {sample_rate!r}")
    if bit_depth not in BIT_DEPTHS or isinstance(bit_depth, bool):
        raise BadValueError(f"bit depth must be {' or '.join(map(str, BIT_DEPTHS))}, got {bit_depth!r}")


def _in_range(name: str, value: float) -> None:
    check_range(name, value, *RANGES[name])


def parse_ambience(text: str) -> tuple[str, float]:
    """'rain:-20' -> ('rain', -20.0); 'rain' -> ('rain', DEFAULT_AMBIENCE_LEVEL_DB)."""
    name, _, level = text.partition(":")
    if not name:
        raise BadValueError(f"ambience {text!r}: give NAME or NAME:LEVEL_DB")
    try:
        return name, float(level) if level else DEFAULT_AMBIENCE_LEVEL_DB
    except ValueError:
        raise BadValueError(f"ambience level in {text!r} must be a number of dB, e.g. rain:-20") from None


# --- command-line value types ---------------------------------------------------------------

def number_arg(lo: float, hi: float):
    """An argparse type: a float, with the allowed range in the message when the text is not a
    number. The range itself is checked by validate() (or the command), so every route to a value
    (flag, wizard, replay, preset) gives the same error."""

    def parse(text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number from {lo:g} to {hi:g}, got {shorten(repr(text))}") from None

    return parse


def whole_arg(lo: int, hi: int | None = None):
    """An argparse type: an int (see number_arg)."""

    def parse(text: str) -> int:
        allowed = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
        try:
            value = int(text)  # more than 4300 digits: ValueError too
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number {allowed}, got {shorten(repr(text))}") from None
        if len(text) > _MAX_SHOWN_CHARS and not (lo <= value and (hi is None or value <= hi)):
            raise argparse.ArgumentTypeError(f"expected a whole number {allowed}, got {_shown(value)}")
        return value

    return parse


def add_format_flags(parser) -> None:
    """--sample-rate and --bit-depth (generate_music and batch)."""
    from app.config import BIT_DEPTHS, DEFAULT_BIT_DEPTH, SAMPLE_RATE, SAMPLE_RATES

    parser.add_argument("--sample-rate", type=int, choices=SAMPLE_RATES, metavar="|".join(map(str, SAMPLE_RATES)),
                        help=f"Hz: the track is made at this rate (default {SAMPLE_RATE})")
    parser.add_argument("--bit-depth", type=int, choices=BIT_DEPTHS, metavar="|".join(map(str, BIT_DEPTHS)),
                        help=f"of the WAV and FLAC files; 16-bit is dithered with noise shaping (default {DEFAULT_BIT_DEPTH})")
