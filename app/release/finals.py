"""The finals of a release: tagged for the album in work/, then moved into the release root.

A release's WAVs are delivery files: they hold only the `fmt ` and `data` chunks (distributors refuse
chunks after the audio, and several ask for no embedded metadata); their titles, track numbers and
the rest are in the manifest, and in the MP3 and FLAC tags.

    tag_finals(finals, plan, release)                    # title, artist, album, track n/N, the cover; bare WAVs
    names = move_finals(work_files, folder, sidecar)     # work/ -> the release root (a rename each)
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from app.release.plan import TrackPlan
from app.release.records import Release

RELEASE_TAGS = ("title", "artist", "album", "tracknumber")


def retag(path: Path, fmt: str, tags: dict[str, str], cover_jpeg: bytes | None) -> None:
    """Set title/artist/album/track number on an MP3 or FLAC final and embed the cover; other tags
    run_track wrote stay (see app.deliver.tags.tag_file). A WAV is stripped to `fmt ` + `data`."""
    from app.deliver.tags import strip_wav_metadata, tag_file

    if fmt == "wav":
        strip_wav_metadata(path)
    else:
        tag_file(path, fmt, {k: tags[k] for k in RELEASE_TAGS}, cover_jpeg)


def tag_finals(finals: dict[str, Path], plan: TrackPlan, release: Release) -> None:
    """Tag each final (format -> path) as track plan.number of the release, with its cover
    (release.cover: a path; none when empty)."""
    cover = Path(release.cover).read_bytes() if release.cover else None
    tags = {"title": plan.title, "artist": release.artist, "album": release.album,
            "tracknumber": f"{plan.number}/{release.count}"}
    for fmt, path in finals.items():
        retag(path, fmt, tags, cover)


STEMS_FOLDER = "stems"


def move_finals(work_files: dict[str, str], folder: Path, sidecar: Path) -> dict[str, str]:
    """Move a track's finals (format -> path in work/) into the release root, and its stems
    ('stem_<layer>' -> path, with batch --stems) into stems/<the finals' name>/<layer>.wav, and point
    its sidecar at them. Returns kind -> file name relative to the release root."""
    files = {}
    finals = [path for kind, path in work_files.items() if not kind.startswith("stem_")]
    track = Path(finals[0]).stem if finals else "track"
    for kind, work_path in work_files.items():
        if kind.startswith("stem_"):
            final = folder / STEMS_FOLDER / track / f"{kind[len('stem_'):]}.wav"
            final.parent.mkdir(parents=True, exist_ok=True)
        else:
            final = folder / Path(work_path).name
        os.replace(work_path, final)  # same file system: the final name appears complete
        files[kind] = final.relative_to(folder).as_posix()
    _update_sidecar(sidecar, {fmt: folder / name for fmt, name in files.items()})
    return files


def _update_sidecar(path: Path, finals: dict[str, Path]) -> None:
    """Point the track's sidecar at the finals' places in the release root."""
    from app.deliver.replay import write_sidecar

    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text(encoding="utf-8"))
        data["files"].update({fmt: str(p) for fmt, p in finals.items()})
        write_sidecar(data, path)
