"""Tags in exported files: ID3v2.3 in MP3 and WAV (an `id3 ` chunk), Vorbis comments in FLAC, and
an optional front cover. Used by export (a new track's tags) and by a release (its titles, track
numbers and cover art on files already written).

    from app.deliver.tags import tag_file
    tag_file(Path("out/rain.mp3"), "mp3", {"title": "Rain", "tracknumber": "3/10"}, cover_jpeg=jpeg)
"""

from __future__ import annotations

from pathlib import Path

from app.errors import BadValueError, DiskFullError

TAG_NAMES = ("title", "artist", "album", "bpm", "key", "genre", "comment", "tracknumber")


def normalise_tags(tags: dict | None) -> dict[str, str]:
    """Tags (TAG_NAMES -> value) as strings, empty values dropped, 'bpm' a whole number.
    Unknown tag names raise BadValueError."""
    tags = dict(tags or {})
    unknown = sorted(set(tags) - set(TAG_NAMES))
    if unknown:
        raise BadValueError(f"unknown tag(s) {', '.join(unknown)}; known: {', '.join(TAG_NAMES)}")
    clean = {}
    for name, value in tags.items():
        if value is None or value == "":
            continue
        if name == "bpm" and isinstance(value, (int, float)):
            value = int(round(value))  # ID3 TBPM is a whole number
        clean[name] = str(value)
    return clean


def _id3_frames(tags: dict[str, str]) -> list:
    from mutagen import id3

    frame_types = {
        "title": id3.TIT2, "artist": id3.TPE1, "album": id3.TALB, "bpm": id3.TBPM,
        "key": id3.TKEY, "genre": id3.TCON, "tracknumber": id3.TRCK,
    }  # fmt: skip
    frames = [frame_types[name](encoding=3, text=[value]) for name, value in tags.items() if name in frame_types]
    if "comment" in tags:
        frames.append(id3.COMM(encoding=3, lang="eng", desc="", text=[tags["comment"]]))
    return frames


def tag_file(path: Path, fmt: str, tags: dict, cover_jpeg: bytes | None = None) -> None:
    """Set tags on an exported file, replacing those of the same name and keeping the rest:
    ID3v2.3 in MP3 and in WAV (an `id3 ` chunk), Vorbis comments in FLAC. cover_jpeg, when given,
    is embedded as the front cover (MP3: APIC frame; FLAC: picture block; WAV keeps text tags only).
    tags uses TAG_NAMES; a 'tracknumber' like '3/10' also sets FLAC's tracktotal. A full disk
    (the file grows in place) raises DiskFullError naming the file."""
    tags = normalise_tags(tags)
    path = Path(path)
    try:
        _tag_file(path, fmt, tags, cover_jpeg)
    except Exception as exc:
        from app.files import free_mb, is_disk_full

        if is_disk_full(exc, path.parent):
            raise DiskFullError(path, free_mb(path.parent)) from exc
        raise


def _tag_file(path: Path, fmt: str, tags: dict[str, str], cover_jpeg: bytes | None) -> None:
    """tag_file's work, on normalised tags."""
    if fmt in ("mp3", "wav"):
        from mutagen import id3

        frames = _id3_frames(tags)
        if fmt == "mp3":
            try:
                holder = id3.ID3(path)
            except id3.ID3NoHeaderError:
                holder = id3.ID3()
            if cover_jpeg:
                holder.delall("APIC")
                frames.append(id3.APIC(encoding=3, mime="image/jpeg", type=3, desc="Cover", data=cover_jpeg))
            for frame in frames:
                holder.setall(frame.FrameID, [frame])
            holder.save(path, v2_version=3)
        else:
            from mutagen.wave import WAVE

            wav = WAVE(path)
            if wav.tags is None:
                wav.add_tags()
            for frame in frames:
                wav.tags.setall(frame.FrameID, [frame])
            wav.save(v2_version=3)
    elif fmt == "flac":
        from mutagen.flac import FLAC, Picture

        flac = FLAC(path)
        for name, value in tags.items():
            if name == "tracknumber" and "/" in value:
                value, total = value.split("/", 1)
                flac["tracktotal"] = [total]
            flac[name] = [value]
        if cover_jpeg:
            import io

            from PIL import Image

            with Image.open(io.BytesIO(cover_jpeg)) as im:
                width, height = im.size
            pic = Picture()
            pic.type, pic.mime, pic.desc = 3, "image/jpeg", "Cover"
            pic.width, pic.height, pic.depth, pic.data = width, height, 24, cover_jpeg
            flac.clear_pictures()
            flac.add_picture(pic)
        flac.save()
    else:
        raise BadValueError(f"cannot tag format {fmt!r}; allowed: wav, mp3, flac")
