"""TrackSpec: every choice that makes a track, with its default and allowed range. The wizard and
the flags both fill one; the sidecar JSON stores it so `--replay` can make the same track again."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from app import theory
from app.errors import BadValueError

SPEC_VERSION = 1
RANGES = {
    "minutes": (0.1, 20.0),
    "bpm": (50.0, 140.0),
    "temperature": (0.1, 2.0),
    "swing": (0.5, 0.75),
    "level_db": (-60.0, 0.0),
}
FORMATS = ("wav", "mp3", "flac")
DEFAULT_BPM = 80.0
DEFAULT_AMBIENCE = (("vinyl_crackle", -24.0),)
NO_BEAT = "none"


@dataclass
class TrackSpec:
    name: str = "lofi"
    minutes: float = 2.0
    key: str | None = None  # 'C', 'F#', 'Bb'...; None = surprise me (drawn from the seed)
    mode: str | None = None  # 'major' | 'minor'; None = drawn from the seed
    bpm: float | None = None  # None = follow the beat (or DEFAULT_BPM without one)
    melody_instrument: str | None = None  # instrument id or preset name; None = the default
    chords_instrument: str | None = None
    bass_instrument: str | None = None
    include_chords: bool = True
    beat: str | None = None  # effect name, 'none', or None = the first default beat
    ambience: list[tuple[str, float]] = field(default_factory=lambda: [tuple(a) for a in DEFAULT_AMBIENCE])
    temperature: float = 1.0
    seed: int | None = None  # None = random (shown, and stored in the sidecar)
    formats: tuple[str, ...] = ("wav",)
    overwrite: bool = False
    swing: float = 0.57
    lofi_preset: str = "default"
    picture: bool = True
    artist: str = "lofi generator"
    album: str | None = None

    def validate(self) -> "TrackSpec":
        """Check every value; raise BadValueError naming the allowed values. Returns self."""
        _in_range("minutes", self.minutes)
        _in_range("temperature", self.temperature)
        _in_range("swing", self.swing)
        if self.bpm is not None:
            _in_range("bpm", self.bpm)
        if self.key is not None:
            try:
                theory.pitch_class(self.key)
            except ValueError:
                raise BadValueError(f"unknown key {self.key!r}; allowed: {', '.join(theory.KEY_NAMES)} "
                                    "(sharps and flats both work)") from None
        if self.mode is not None and self.mode not in theory.MODES:
            raise BadValueError(f"unknown mode {self.mode!r}; allowed: major, minor")
        bad = [f for f in self.formats if f not in FORMATS]
        if bad or not self.formats:
            raise BadValueError(f"unknown format {','.join(bad) or '(none)'}; allowed: {', '.join(FORMATS)}")
        for name, level in self.ambience:
            lo, hi = RANGES["level_db"]
            if not lo <= level <= hi:
                raise BadValueError(f"ambience level for {name} must be between {lo:g} and {hi:g} dB, got {level:g}")
        if self.seed is not None and not 0 <= self.seed < 2**32:
            raise BadValueError(f"seed must be between 0 and {2**32 - 1}, got {self.seed}")
        return self

    def to_json(self) -> dict:
        data = asdict(self)
        data["formats"] = list(self.formats)
        data["ambience"] = [[n, lv] for n, lv in self.ambience]
        return data

    @classmethod
    def from_json(cls, data: dict) -> "TrackSpec":
        """Build a spec from a sidecar's 'spec' object; unknown or wrongly typed fields raise BadValueError."""
        if not isinstance(data, dict):
            raise BadValueError("replay file: 'spec' must be an object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BadValueError(f"replay file: unknown field {unknown[0]!r} in 'spec'")
        values = dict(data)
        try:
            if "formats" in values:
                values["formats"] = tuple(values["formats"])
            if "ambience" in values:
                values["ambience"] = [(str(n), float(lv)) for n, lv in values["ambience"]]
        except (TypeError, ValueError):
            raise BadValueError("replay file: field 'ambience' must be a list of [name, level_db]") from None
        for name, kind in (("minutes", (int, float)), ("temperature", (int, float)), ("swing", (int, float)),
                           ("seed", (int, type(None))), ("bpm", (int, float, type(None))),
                           ("name", str), ("include_chords", bool)):
            if name in values and not isinstance(values[name], kind):
                raise BadValueError(f"replay file: field {name!r} has the wrong type ({type(values[name]).__name__})")
        return cls(**values).validate()


def _in_range(name: str, value: float) -> None:
    lo, hi = RANGES[name]
    if not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise BadValueError(f"{name} must be between {lo:g} and {hi:g}, got {value}")


def parse_ambience(text: str) -> tuple[str, float]:
    """'rain:-20' -> ('rain', -20.0); 'rain' -> ('rain', -24.0)."""
    name, _, level = text.partition(":")
    if not name:
        raise BadValueError(f"ambience {text!r}: give NAME or NAME:LEVEL_DB")
    try:
        return name, float(level) if level else DEFAULT_AMBIENCE[0][1]
    except ValueError:
        raise BadValueError(f"ambience level in {text!r} must be a number of dB, e.g. rain:-20") from None
