"""The records of a release and their JSON form: the manifest, one row per track, the compliance
figures of a final, the long mix. manifest.json holds exactly Manifest.to_json(); from_json reads it
back (a manifest this version cannot read raises KeyError, TypeError or ValueError).

Field order is the order of the keys in manifest.json.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from app.config import DEFAULT_BIT_DEPTH, SAMPLE_RATE
from app.release.plan import TrackPlan

# 2: rows and plans record colour and energy. The release's sample rate, bit depth and file naming
# were added within version 2, with defaults that are what a release made before them has.
MANIFEST_VERSION = 2
PENDING, DONE, FAILED = "pending", "done", "failed"


@dataclass
class FileCheck:
    """What a final file must still be for a rerun to skip its track."""

    bytes: int
    sha256: str


@dataclass
class Regeneration:
    """A seed the originality guard rejected, and why."""

    seed: int
    reason: str


@dataclass
class TrackEffects:
    beat: str  # an effect name or 'none'
    ambience: list[str]  # 'NAME:LEVEL_DB' each
    lofi_preset: str
    swing: float


@dataclass
class Compliance:
    """The delivery checks on one final file (app.release.compliance.measure_compliance)."""

    lufs: float
    true_peak_dbtp: float
    clipped_samples: int
    longest_silence_s: float
    duration_s: float
    expected_duration_s: float
    checks: dict[str, bool]  # check name -> passed
    passed: bool  # 'pass' in JSON

    def to_json(self) -> dict:
        data = asdict(self)
        data["pass"] = data.pop("passed")
        return data

    @classmethod
    def from_json(cls, data: dict) -> Compliance:
        data = dict(data)
        data["passed"] = data.pop("pass")
        return cls(**data)


@dataclass
class ManifestRow:
    """One track of the release: planned (pending), made (done) or failed, with its files and figures."""

    track_number: int
    status: str  # PENDING, DONE or FAILED
    title: str
    artist: str
    album: str
    files: dict[str, str]  # format -> file name in the release folder
    file_checks: dict[str, FileCheck]  # file name -> size and hash
    duration_s: float | None
    bpm: float
    key: str
    mode: str
    colour: float
    energy: float
    lufs: float | None
    true_peak_dbtp: float | None
    seed: int
    instruments: dict[str, str]  # part -> instrument name
    instrument_ids: dict[str, str]  # part -> instrument id
    effects: TrackEffects
    isrc: str
    error: str
    regenerated: list[Regeneration]
    compliance: Compliance | None
    passages: list[str]  # the 8-bar passage hashes of the originality guard
    plan: TrackPlan
    levels: dict = field(default_factory=dict)  # per-part loudness in section A (the sidecar's 'levels')

    def to_json(self) -> dict:
        data = asdict(self)
        data["compliance"] = self.compliance.to_json() if self.compliance else None
        return data

    @classmethod
    def from_json(cls, data: dict) -> ManifestRow:
        data = dict(data)
        data["file_checks"] = {name: FileCheck(**check) for name, check in data["file_checks"].items()}
        data["effects"] = TrackEffects(**data["effects"])
        data["regenerated"] = [Regeneration(**g) for g in data["regenerated"]]
        data["compliance"] = Compliance.from_json(data["compliance"]) if data["compliance"] else None
        data["plan"] = TrackPlan(**data["plan"])
        return cls(**data)


@dataclass
class Release:
    """What names a release and its files. folder and cover are names inside OUT (manifest) or, in
    the task a worker gets, full paths."""

    album: str
    artist: str
    seed: int
    count: int
    formats: list[str]
    folder: str
    cover: str
    sample_rate: int = SAMPLE_RATE  # Hz, of every final and the mix
    bit_depth: int = DEFAULT_BIT_DEPTH  # of the WAV and FLAC finals and the mix
    ascii_names: bool = False  # file names of letters, digits, '-' and '_' ('01_Title_Words.wav')
    stems: bool = False  # the tracks' stems are delivered in stems/<track>/ (batch --stems)


@dataclass
class MixEntry:
    """The manifest's record of the --mix-minutes mix (app.release.longmix)."""

    file: str
    tracklist: str
    minutes: float
    crossfade_s: float
    duration_s: float
    entries: int
    bytes: int
    fingerprint: str  # of the tracks and settings it was made from


@dataclass
class Summary:
    tracks: int
    done: int
    failed: int
    pending: int
    compliance_pass: int


@dataclass
class Manifest:
    """manifest.json: the request that names the release, the release, its tracks, the mix."""

    version: int
    request: dict  # BatchRequest.identity(): JSON values, compared as a whole to find the release again
    release: Release
    tracks: list[ManifestRow]
    mix: MixEntry | None = None

    @property
    def summary(self) -> Summary:
        rows = self.tracks
        return Summary(tracks=len(rows), done=sum(r.status == DONE for r in rows),
                       failed=sum(r.status == FAILED for r in rows), pending=sum(r.status == PENDING for r in rows),
                       compliance_pass=sum(bool(r.compliance and r.compliance.passed) for r in rows))

    def row(self, number: int) -> ManifestRow:
        """The row of track `number` (1-based)."""
        return next(r for r in self.tracks if r.track_number == number)

    def replace_row(self, row: ManifestRow) -> None:
        """Put `row` in the place of the row with its track number."""
        index = next(i for i, r in enumerate(self.tracks) if r.track_number == row.track_number)
        self.tracks[index] = row

    def to_json(self) -> dict:
        return {"version": self.version, "request": self.request, "release": asdict(self.release),
                "tracks": [r.to_json() for r in self.tracks], "mix": asdict(self.mix) if self.mix else None,
                "summary": asdict(self.summary)}

    @classmethod
    def from_json(cls, data: dict) -> Manifest:
        return cls(version=data["version"], request=data["request"], release=Release(**data["release"]),
                   tracks=[ManifestRow.from_json(r) for r in data["tracks"]],
                   mix=MixEntry(**data["mix"]) if data.get("mix") else None)
