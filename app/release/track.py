"""One planned track of a release, made in a worker: the pipeline, the originality guard (new seeds
until the song passes), the release's tags on the finals, the delivery checks.

    made = make_track(TrackTask(plan, release), models, windows)    # a MadeTrack, its files in work/
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from app.errors import DiskFullError, LofiError, RenderError
from app.config import TAIL_S
from app.release.compliance import intro_outro_s, measure_compliance, measured_file
from app.release.finals import tag_finals
from app.release.manifest import pending_row
from app.release.plan import TrackPlan, track_seed
from app.release.records import ManifestRow, Regeneration, Release, TrackEffects

MAX_ATTEMPTS = 6  # seeds tried per track before the originality guard gives up
# Fault injection for tests and drills: track numbers listed here (e.g. "2" or "1,3") fail at their
# render stage with a RenderError, through the same path as any real failure.
FAIL_HOOK_ENV = "LOFI_BATCH_FAIL_TRACKS"


class OriginalityError(LofiError):
    """No seed within MAX_ATTEMPTS gave a track that passes the originality guard."""


@dataclass
class TrackTask:
    """What a worker gets: the plan, the release (folder and cover as full paths), the attempt to
    start at, the seeds rejected so far, and the passage hashes of the release's finished tracks."""

    plan: TrackPlan
    release: Release
    attempt: int = 0
    regenerated: list[Regeneration] = field(default_factory=list)
    taken_passages: list[str] = field(default_factory=list)


@dataclass
class MadeTrack:
    """What a worker gives back: the finals in work/, the sidecar, the row's figures (status still
    pending until the parent moves the finals), the song's passage hashes and the attempt that passed."""

    number: int
    work_files: dict[str, str]  # format -> path in work/
    sidecar: str
    row: ManifestRow
    passages: list[str]
    attempt: int


def _spec_for(plan: TrackPlan, seed: int, release: Release):
    from app.spec import TrackSpec

    return TrackSpec(
        name=plan.base_name(release.ascii_names), minutes=plan.minutes, key=plan.key, mode=plan.mode, bpm=plan.bpm,
        melody_instrument=plan.melody_instrument, chords_instrument=plan.chords_instrument,
        bass_instrument=plan.bass_instrument, beat=plan.beat, ambience=[tuple(a) for a in plan.ambience],
        temperature=plan.temperature, seed=seed, formats=tuple(release.formats), overwrite=True, swing=plan.swing,
        lofi_preset=plan.lofi_preset, picture=False, stems=release.stems, artist=release.artist, album=release.album,
        colour=plan.colour, energy=plan.energy, drum_kit=plan.drum_kit, sample_rate=release.sample_rate, bit_depth=release.bit_depth,
        ascii_names=release.ascii_names,
    ).validate()  # fmt: skip


def _forced_failures() -> set[int]:
    text = os.environ.get(FAIL_HOOK_ENV, "")
    return {int(x) for x in text.replace(" ", "").split(",") if x.isdigit()}


def work_dirs(folder: Path):
    """The pipeline's folders inside a release: work/midi, work/stems, work/tracks."""
    from app.deliver.names import OutputDirs

    work = Path(folder) / "work"
    return OutputDirs(midi=work / "midi", wav=work / "stems", results=work / "tracks")


def make_track(task: TrackTask, models, windows: set, progress=None) -> MadeTrack:
    """Make one planned track into the release's work/ folder: run the pipeline, check the song
    against the originality guard (new seeds until it passes), tag the finals (title, track number,
    cover) and measure them for the compliance report. progress(stage name) is called per stage.

    Raises LofiError subclasses (OriginalityError when no seed passes).
    """
    plan, release = task.plan, task.release
    result, verdict, attempt, regenerated = _make_original(task, models, windows, progress)
    finals = {fmt: result.files[fmt] for fmt in release.formats if fmt in result.files}
    try:
        if progress:
            progress("tag")
        tag_finals(finals, plan, release)  # in place: a full disk can stop it half-way
        if progress:
            progress("measure")
        row = _made_row(task, result, finals, regenerated)
    except BaseException as exc:
        remove_files(result.files.values())  # no file of a failed track stays in work/
        if isinstance(exc, DiskFullError):
            raise exc.for_track(result.name) from exc
        raise
    stems = {kind: path for kind, path in result.files.items() if kind.startswith("stem_")} if release.stems else {}
    return MadeTrack(number=plan.number, work_files={f: str(p) for f, p in {**finals, **stems}.items()},
                     sidecar=str(result.files["sidecar"]), row=row, passages=sorted(verdict.passages),
                     attempt=attempt)


def _make_original(task: TrackTask, models, windows: set, progress):
    """Run the pipeline from task.attempt on, a new seed per try, until the song passes the guard.
    Returns (the pipeline's TrackResult, the guard's Verdict, the attempt, the rejected seeds)."""
    from app.pipeline import run_track
    from app.release.originality import check_song

    plan, release = task.plan, task.release
    taken = set(task.taken_passages)
    regenerated = list(task.regenerated)
    dirs = work_dirs(Path(release.folder))
    forced = plan.number in _forced_failures()

    def stage(name):
        if forced and name == "render":
            raise RenderError(f"forced failure of track {plan.number} ({FAIL_HOOK_ENV})")
        if progress:
            progress(name)

    for attempt in range(task.attempt, MAX_ATTEMPTS):
        seed = plan.seed if attempt == 0 else track_seed(release.seed, plan.number, attempt)
        spec = _spec_for(plan, seed, release)
        # The guard judges the song run_track really made. A rejection costs one render, but it is
        # rare (none in 30 two-minute songs with the shipped weights), while composing every song
        # twice to judge it first would cost every track.
        result = run_track(spec, models=models, dirs=dirs, progress=stage)
        verdict = check_song(result.song, windows, taken)
        if verdict.ok:
            return result, verdict, attempt, regenerated
        remove_files(result.files.values())
        regenerated.append(Regeneration(seed=seed, reason=verdict.reason))
    raise OriginalityError(f"no seed in {MAX_ATTEMPTS} tries passed the originality guard "
                           f"(last: {regenerated[-1].reason})")


def _made_row(task: TrackTask, result, finals: dict[str, Path], regenerated: list[Regeneration]) -> ManifestRow:
    """The manifest row of a made track: the measured finals and what the pipeline chose."""
    plan, s = task.plan, result.sidecar
    bar_s = 4 * 60.0 / result.song.tempo_bpm
    intro_end, outro_start = intro_outro_s(result.song)
    compliance = measure_compliance(measured_file(finals), plan.minutes * 60.0 + TAIL_S, bar_s, intro_end, outro_start,
                                    task.release.sample_rate)
    return replace(
        pending_row(plan, task.release), duration_s=compliance.duration_s, bpm=round(float(s["bpm"]), 2),
        key=s["key"], mode=s["mode"], colour=s["spec"]["colour"], energy=s["spec"]["energy"], lufs=compliance.lufs,
        true_peak_dbtp=compliance.true_peak_dbtp, seed=s["seed"],
        instruments={part: v["name"] for part, v in s["instruments"].items()},
        instrument_ids={part: v["id"] for part, v in s["instruments"].items()},
        effects=TrackEffects(beat=(s["beat"] or {}).get("name", "none"),
                             ambience=[f"{a['name']}:{a['level_db']:g}" for a in s["ambience"]],
                             lofi_preset=plan.lofi_preset, swing=plan.swing),
        regenerated=regenerated, compliance=compliance, levels=dict(s["levels"]),
    )  # fmt: skip


def remove_files(files) -> None:
    """Delete the given paths; ones already gone are fine."""
    for p in files:
        with contextlib.suppress(OSError):
            Path(p).unlink()
