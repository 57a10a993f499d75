"""The release on disk: manifest.json and manifest.csv, finding a release again, and what a rerun
trusts.

    folder, manifest = find_release(req)        # the release these options made before, or (None, None)
    folder, manifest = new_release(req)         # or a new one: seed, album, titles, plan; every track pending
    write_manifest(folder, manifest)            # both files, atomically, only when changed
    verify_done(folder, row)                    # a done track's files still have their sizes and SHA-256

Also the folder's housekeeping: the lock a run holds and the leftovers an interrupted run leaves.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import random
from dataclasses import asdict
from pathlib import Path

from app.errors import BadValueError, OutputError
from app.files import atomic_path, file_sha256, json_text
from app.release.plan import TrackPlan, plan_release
from app.release.records import DONE, MANIFEST_VERSION, PENDING, Manifest, ManifestRow, Release, TrackEffects
from app.release.request import BatchRequest

CSV_COLUMNS = ("track_number", "status", "title", "artist", "album", "file_wav", "file_mp3", "file_flac", "duration_s",
               "bpm", "key", "mode", "colour", "energy", "lufs", "true_peak_dbtp", "seed", "melody_instrument",
               "chords_instrument", "bass_instrument", "beat", "ambience", "lofi_preset", "isrc", "compliance", "error",
               "regenerated")


def write_if_changed(path: Path, text: str) -> bool:
    """Write text atomically unless the file already holds it (a no-op rerun leaves mtimes alone)."""
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == text:
            return False
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return True


def pending_row(plan: TrackPlan, release: Release) -> ManifestRow:
    """A manifest row for a planned track not made yet."""
    return ManifestRow(
        track_number=plan.number, status=PENDING, title=plan.title, artist=release.artist, album=release.album,
        files={}, file_checks={}, duration_s=None, bpm=plan.bpm, key=plan.key, mode=plan.mode,
        colour=plan.colour, energy=plan.energy, lufs=None,
        true_peak_dbtp=None, seed=plan.seed,
        instruments={"melody": plan.melody_instrument, "chords": plan.chords_instrument, "bass": plan.bass_instrument},
        instrument_ids={}, effects=TrackEffects(beat=plan.beat, ambience=[f"{n}:{lv:g}" for n, lv in plan.ambience],
                                                lofi_preset=plan.lofi_preset, swing=plan.swing),
        isrc="", error="", regenerated=[], compliance=None, passages=[], plan=TrackPlan(**asdict(plan)),
    )  # fmt: skip


def manifest_csv(manifest: Manifest) -> str:
    """The manifest's rows as CSV (CSV_COLUMNS), the same values as manifest.json."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in manifest.tracks:
        fx = r.effects
        writer.writerow([
            r.track_number, r.status, r.title, r.artist, r.album, r.files.get("wav", ""), r.files.get("mp3", ""),
            r.files.get("flac", ""), _blank(r.duration_s), _blank(r.bpm), r.key, r.mode, r.colour, r.energy,
            _blank(r.lufs),
            _blank(r.true_peak_dbtp), r.seed, r.instruments["melody"], r.instruments["chords"], r.instruments["bass"],
            fx.beat, ";".join(fx.ambience), fx.lofi_preset, r.isrc,
            "" if not r.compliance else ("pass" if r.compliance.passed else "fail"), r.error,
            ";".join(f"seed {g.seed}: {g.reason}" for g in r.regenerated),
        ])  # fmt: skip
    return buf.getvalue()


def _blank(value) -> str:
    return "" if value is None else str(value)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """manifest.json and manifest.csv, each atomically and only when changed."""
    write_if_changed(folder / "manifest.json", json_text(manifest.to_json(), "manifest"))
    write_if_changed(folder / "manifest.csv", manifest_csv(manifest))


def read_manifest(path: Path) -> Manifest | None:
    """The manifest at path, or None when there is none. OutputError when it cannot be resumed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise OutputError(f"{path} is unreadable ({exc}); move it away to start this release again") from None
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
        raise OutputError(f"{path} is not a batch manifest this version can resume")
    try:
        return Manifest.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise OutputError(f"{path} is not a batch manifest this version can resume") from None


def verify_done(folder: Path, row: ManifestRow) -> bool:
    """A done track counts only if every file it lists is there with its recorded size and SHA-256."""
    if row.status != DONE or not row.files:
        return False
    for name in row.files.values():
        path = folder / name
        check = row.file_checks.get(name)
        if check is None:
            return False
        try:
            if path.stat().st_size != check.bytes or file_sha256(path) != check.sha256:
                return False
        except OSError:
            return False
    return True


def find_release(req: BatchRequest) -> tuple[Path | None, Manifest | None]:
    """The release folder these options made before (and its manifest), or (None, None).

    With --album the folder is OUT/<album>, and options that differ from its manifest's are an error.
    """
    from app.deliver.names import safe_name

    identity = req.identity()
    if req.album:
        folder = req.out / safe_name(req.album)
        manifest = read_manifest(folder / "manifest.json")
        if manifest is not None and manifest.request != identity:
            differ = sorted(k for k in identity if manifest.request.get(k) != identity[k])
            raise BadValueError(f"{folder} holds a release made with other options ({', '.join(differ)}); "
                                "give another --album or --out, or the same options to resume it")
        return folder, manifest
    if req.out.is_dir():
        for path in sorted(req.out.glob("*/manifest.json")):
            with contextlib.suppress(OutputError):
                manifest = read_manifest(path)
                if manifest is not None and manifest.request == identity:
                    return path.parent, manifest
    return None, None


def new_release(req: BatchRequest) -> tuple[Path, Manifest]:
    """Draw a new release: seed, album title, track titles (none reused from OUT's other releases),
    the plan; returns its folder and a manifest with every track pending."""
    from app.deliver.names import safe_name
    from app.release.titles import album_title, make_titles, titles_in_folder

    seed = req.seed if req.seed is not None else random.SystemRandom().randrange(2**31)
    taken_titles, taken_albums = titles_in_folder(req.out)
    album = req.album
    if album is None:
        for extra in range(1000):
            album = album_title(seed + extra, taken_albums)
            if not (req.out / safe_name(album) / "manifest.json").exists():
                break
    folder = req.out / safe_name(album)
    titles = make_titles(req.count, seed, taken_titles | {album})
    release = Release(album=album, artist=req.artist, seed=seed, count=req.count, formats=list(req.formats),
                      folder=folder.name, cover="cover.jpg", sample_rate=req.sample_rate, bit_depth=req.bit_depth,
                      ascii_names=req.ascii_names, stems=req.stems)
    plans = plan_release(req, seed, titles)
    manifest = Manifest(version=MANIFEST_VERSION, request=req.identity(), release=release,
                        tracks=[pending_row(p, release) for p in plans], mix=None)
    return folder, manifest


def clean_leftovers(folder: Path) -> None:
    """Remove what an interrupted run may leave: temporary files and name reservations."""
    for pattern in (".*.partial*", ".*.staged*", ".*.reserved"):
        for p in folder.rglob(pattern):
            with contextlib.suppress(OSError):
                p.unlink()


@contextlib.contextmanager
def release_lock(folder: Path):
    """Hold an exclusive lock on the release for this process (released if it dies)."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / ".batch.lock", "a+")
    try:
        try:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # not POSIX: no cross-process lock
            pass
        except OSError:
            raise OutputError(f"another batch run is working on {folder}; wait for it or stop it") from None
        yield
    finally:
        handle.close()
