"""The sidecar: NAME.json next to each track, saying what it is (key, tempo, loudness, instruments,
sections, which weights made it) and holding the TrackSpec that makes it again (`--replay`).

One typed record, Sidecar, with its own version (SIDECAR_VERSION, in the JSON's "version"): this is
the one place that builds it, writes it and reads it back.

    sidecar = track_sidecar(name, spec, choices, song, ...); write_sidecar(sidecar, path)
    spec = load_replay(path)        # the TrackSpec, same seed
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import paths
from app.errors import BadValueError, LofiError
from app.music import theory
from app.spec import TrackSpec

if TYPE_CHECKING:
    from app.choices import Choices
    from app.music.song import Song

# The JSON layout below; a reader refuses any other. 2: the lo-fi arrangement (colour, energy, church
# modes): a version-1 sidecar's seed made other music, so it is refused with that reason. 3: the
# generated drums (spec.drum_kit; a spec beat of null now means 'generated'): a version-2 sidecar is
# read with its null beat as the loop that was the default then, so it makes the same track.
SIDECAR_VERSION = 3
READABLE_VERSIONS = (2, SIDECAR_VERSION)
V2_DEFAULT_BEAT = "boombap_80bpm"


class ReplayChangedError(LofiError):
    """An input file the sidecar recorded (SoundFont, beat, ambience, model) differs now."""


@dataclass
class Sidecar:
    """A track's sidecar. Its JSON form (to_json) has these fields, "version" first; record["field"]
    reads a field of that JSON form (the release code reads it so)."""

    version: int
    name: str
    seed: int
    takes: dict[str, int]  # part -> its take when re-rolled (--reroll; spec.takes), {} for the seed's first song
    key: str  # the key's name ('C', 'F#'): people read this file
    mode: str
    bpm: float
    duration_s: float  # the music plus its release tail
    sample_rate: int  # Hz, of the render, the master and every file
    bit_depth: int  # of the WAV and FLAC files
    music_s: float
    lufs: float
    true_peak_dbtp: float
    instruments: dict[str, dict[str, Any]]  # part -> {"id": "bank:program@file", "name": preset name}
    beat: dict[str, Any] | None  # a loop's {"name", "bpm", "source_bpm", "tempo_note", "bpm_clamped"}, the generated drums' {"name": "generated", "kit"}, or None
    ambience: list[dict[str, Any]]  # [{"name", "level_db"}]
    temperature: float
    include_chords: bool
    sections: list[dict[str, Any]]  # [{"name", "start_beat", "bars"}]
    chords: list[str]  # the first 16 chord symbols
    checkpoints: dict[str, dict]  # model kind -> {"checkpoint"/"sampling_weights": {"file", "sha256"}}
    inputs: dict[str, dict[str, str]]  # role ('instrument.melody', 'beat', ...) -> {"file", "sha256"}: --replay checks
    timings_s: dict[str, float]  # stage -> seconds
    files: dict[str, str]  # kind -> path
    spec: dict[str, Any]  # TrackSpec.to_json() with the seed actually used: what --replay reads
    levels: dict[str, Any] = field(default_factory=dict)  # per-part loudness in section A (LUFS, LU): app/audio/levels.py

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __getitem__(self, field: str) -> Any:
        return self.to_json()[field]


def track_sidecar(name: str, spec: TrackSpec, choices: Choices, song: Song, samples: int, lufs: float,
                  peak_dbtp: float, files: dict[str, Path], timings: dict[str, float],
                  levels: dict[str, Any] | None = None) -> Sidecar:
    """The sidecar of a track named `name`: its spec and resolved choices, the song, the master's
    length in samples (at spec.sample_rate), loudness and true peak, its files and stage timings."""
    return Sidecar(
        version=SIDECAR_VERSION,
        name=name,
        seed=choices.seed,
        takes=dict(spec.takes),
        key=theory.key_name(choices.key),
        mode=choices.mode,
        bpm=song.tempo_bpm,
        duration_s=round(samples / spec.sample_rate, 3),
        sample_rate=spec.sample_rate,
        bit_depth=spec.bit_depth,
        music_s=round(song.length_seconds, 3),
        lufs=round(lufs, 2),
        true_peak_dbtp=round(peak_dbtp, 2),
        instruments={part: {"id": inst.id, "name": inst.name}
                     for part, inst in _used_instruments(spec, choices).items()},
        beat=_beat_facts(choices),
        ambience=[{"name": e.name, "level_db": lv} for e, lv in choices.ambience],
        temperature=spec.temperature,
        include_chords=spec.include_chords,
        sections=[{"name": s.name, "start_beat": s.start, "bars": s.duration / song.beats_per_bar}
                  for s in song.sections],
        chords=[c.symbol for c in song.chords[:16]],
        checkpoints=_checkpoint_facts(),
        inputs=input_hashes(spec, choices),
        timings_s=timings,
        files={kind: str(path) for kind, path in files.items()},
        spec={**spec.to_json(), "seed": choices.seed, "name": spec.name, **_resolved_drums(choices)},
        levels=dict(levels or {}),
    )


def _beat_facts(choices: Choices) -> dict[str, Any] | None:
    """The sidecar's 'beat': the loop, or the generated drums and their kit, or None."""
    from app.config import GENERATED_BEAT

    kit = choices.instruments.get("drums")
    if kit is not None:
        return {"name": GENERATED_BEAT, "kit": {"id": kit.id, "name": kit.name}}
    return None if choices.beat is None else _beat_entry(choices.beat)


def _resolved_drums(choices: Choices) -> dict[str, Any]:
    """The spec's beat and drum kit as resolved, so a replay makes the same drums even when a default
    changes later."""
    from app.config import GENERATED_BEAT, NO_BEAT

    kit = choices.instruments.get("drums")
    if kit is not None:
        return {"beat": GENERATED_BEAT, "drum_kit": kit.id}
    return {"beat": choices.beat.name if choices.beat is not None else NO_BEAT, "drum_kit": None}


def _used_instruments(spec: TrackSpec, choices: Choices) -> dict:
    """part -> the preset that plays it, for the parts the track has (no chords with --no-chords)."""
    return {part: inst for part, inst in choices.instruments.items() if part != "chords" or spec.include_chords}


def _beat_entry(beat) -> dict[str, Any]:
    """The sidecar's beat: its name, the tempo the track plays it at, its own tempo, and the note
    saying why they differ (half/double time, clamped into range), None when they do not."""
    return {"name": beat.name, "bpm": beat.bpm, "source_bpm": beat.source_bpm, "tempo_note": beat.tempo_note,
            "bpm_clamped": beat.bpm_clamped}


def _shown(file: Path) -> str:
    """A path as the sidecar shows it: relative to the project when inside it."""
    file = Path(file)
    return str(file.relative_to(paths.ROOT) if file.is_relative_to(paths.ROOT) else file)


def input_files(spec: TrackSpec, choices: Choices) -> dict[str, Path]:
    """Every file the track is made from, by role: 'instrument.<part>' (its SoundFont), 'beat',
    'ambience.<name>', '<kind>.checkpoint' and '<kind>.sampling_weights' (the models)."""
    from app.learn.checkpoint import sampling_weights_path

    files = {f"instrument.{part}": inst.sf2_path for part, inst in _used_instruments(spec, choices).items()}
    if choices.beat is not None:
        files["beat"] = choices.beat.path
    files.update({f"ambience.{effect.name}": effect.path for effect, _ in choices.ambience})
    models = [("chord", paths.CHORD_CHECKPOINT), ("melody", paths.MELODY_CHECKPOINT)]
    if "drums" in choices.instruments:  # the generated drums come from the drum model
        models.append(("drum", paths.DRUM_CHECKPOINT))
    for kind, path in models:
        files[f"{kind}.checkpoint"], files[f"{kind}.sampling_weights"] = path, sampling_weights_path(path)
    return files


def input_hashes(spec: TrackSpec, choices: Choices) -> dict[str, dict[str, str]]:
    """role -> {"file", "sha256"} of input_files (a file that cannot be read is left out). Each file
    is hashed once per process (files.cached_sha256: a big SoundFont is not read per track)."""
    from app.files import cached_sha256

    hashes = {}
    for role, file in input_files(spec, choices).items():
        with contextlib.suppress(OSError):
            hashes[role] = {"file": _shown(file), "sha256": cached_sha256(file)}
    return hashes


def hash_inputs_meanwhile(spec: TrackSpec, choices: Choices) -> None:
    """Start hashing the track's input files on a background thread (the SoundFont alone is ~150 MB),
    so that the sidecar, written at the end, finds their hashes already cached. Errors are left for
    input_hashes to meet again."""
    import threading

    def hash_all() -> None:
        with contextlib.suppress(Exception):
            input_hashes(spec, choices)

    threading.Thread(target=hash_all, name="input-hashes", daemon=True).start()


def changed_inputs(recorded: dict, spec: TrackSpec, choices: Choices) -> list[str]:
    """What differs between a sidecar's recorded inputs and the files a replay would use now, one
    phrase each ("the beat loop app/effects/beats/x.wav has changed"); [] when all match."""
    from app.files import cached_sha256

    now = input_files(spec, choices)
    changes = []
    for role, entry in recorded.items():
        if not isinstance(entry, dict):
            continue
        file = now.get(role)
        what = "the model file" if role.endswith(_MODEL_FILES) else _ROLE_WORDS.get(role.split(".")[0], "the file")
        if file is None:
            changes.append(f"{what} {entry.get('file', role)} is no longer used")
            continue
        try:
            digest = cached_sha256(file)
        except OSError:
            changes.append(f"{what} {_shown(file)} is missing")
            continue
        if digest != entry.get("sha256"):
            changes.append(f"{what} {_shown(file)} has changed")
    return changes


_ROLE_WORDS = {"instrument": "the SoundFont", "beat": "the beat loop", "ambience": "the ambience file"}
_MODEL_FILES = (".checkpoint", ".sampling_weights")


def check_replay_inputs(path: str | Path, spec: TrackSpec, anyway: bool = False) -> list[str]:
    """Before a replay: compare the input files the sidecar at `path` recorded (content hashes) with
    those the replayed spec resolves to now. A changed or missing file would make a different track:
    ReplayChangedError naming it, unless `anyway`, when the changes are returned (to warn about).
    A sidecar without recorded inputs is not checked."""
    from app.choices import resolve_choices

    try:
        recorded = json.loads(Path(path).read_text(encoding="utf-8")).get("inputs")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if not isinstance(recorded, dict) or not recorded:
        return []
    changes = changed_inputs(recorded, spec, resolve_choices(spec))
    if changes and not anyway:
        more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
        raise ReplayChangedError(f"replay file {path}: {changes[0]} since the track was made{more}, so the replay "
                                 f"would make a different track; give --replay-anyway to make it regardless")
    return changes


def _checkpoint_facts() -> dict:
    """Which weights made the music: file and content hash of each model's checkpoint and the numpy
    sampling weights exported from it."""
    from app.learn.checkpoint import file_sha256, sampling_weights_path

    facts = {}
    for kind, path in (("chord", paths.CHORD_CHECKPOINT), ("melody", paths.MELODY_CHECKPOINT)):
        entry = {}
        for label, file in (("checkpoint", path), ("sampling_weights", sampling_weights_path(path))):
            with contextlib.suppress(OSError):
                shown = file.relative_to(paths.ROOT) if file.is_relative_to(paths.ROOT) else file
                entry[label] = {"file": str(shown), "sha256": file_sha256(file)}
        facts[kind] = entry
    return facts


def write_sidecar(sidecar: Sidecar | dict, path: Path) -> Path:
    """Write a sidecar (the record, or its JSON form as read back and edited) atomically, as plain
    JSON (files.write_json: numpy scalars made plain; text that is not valid Unicode written as
    escapes). Returns the path."""
    from app.files import write_json

    data = sidecar.to_json() if isinstance(sidecar, Sidecar) else sidecar
    return write_json(path, data, "sidecar")


def load_replay(path: str | Path) -> TrackSpec:
    """A sidecar JSON -> the spec that made it (same seed). Raises BadValueError naming the file and
    the field at fault: malformed JSON, a missing or unknown field, a wrong type, an unknown version."""
    path = Path(path)
    where = f"replay file {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadValueError(f"{where} not found") from None
    except UnicodeDecodeError:
        raise BadValueError(f"{where} is not UTF-8 text (is it a sidecar .json?)") from None
    except OSError as exc:
        raise BadValueError(f"{where} is unreadable: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise BadValueError(f"{where} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise BadValueError(f"{where} is not a sidecar (nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts (not a JSONDecodeError)
        raise BadValueError(f"{where} holds a number too long to read ({exc})") from None
    if not isinstance(data, dict):
        raise BadValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
    if "version" not in data:
        raise BadValueError(f"{where}: missing field 'version'")
    version = data["version"]
    if isinstance(version, int) and not isinstance(version, bool) and 1 <= version < READABLE_VERSIONS[0]:
        raise BadValueError(f"{where} was made by an older version of this tool (sidecar version {version}, this one "
                            f"writes {SIDECAR_VERSION}): its seed now makes different music; generate again with "
                            f"--seed {data.get('seed', '?')} for the new arrangement")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise BadValueError(f"{where}: unknown version {version!r} in field 'version' (this tool reads {' and '.join(map(str, READABLE_VERSIONS))})")
    if "spec" not in data:
        raise BadValueError(f"{where}: missing field 'spec'")
    spec = data["spec"]
    if version == 2 and isinstance(spec, dict) and spec.get("beat", "") is None:
        spec = {**spec, "beat": V2_DEFAULT_BEAT}  # version 2's default beat was this loop
    return TrackSpec.from_json(spec, where=where)
