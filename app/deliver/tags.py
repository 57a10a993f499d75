"""Tags in exported files: ID3v2.3 in MP3, Vorbis comments in FLAC, and an optional front cover. Used
by export (a new track's tags) and by a release (its titles, track numbers and cover art on files
already written). A WAV's text tags are a LIST/INFO chunk written with the audio (app/deliver/export.py);
a release's WAVs carry none: strip_wav_metadata leaves only the `fmt ` and `data` chunks, as
distributors ask (nothing after the audio data, no embedded metadata).

    from app.deliver.tags import tag_file
    tag_file(Path("out/rain.mp3"), "mp3", {"title": "Rain", "tracknumber": "3/10"}, cover_jpeg=jpeg)
    strip_wav_metadata(Path("release/01_Rain.wav")); wav_chunks(path)   # [('fmt ', 16), ('data', n)]
"""

from __future__ import annotations

from pathlib import Path

from app.errors import BadValueError, DiskFullError, OutputError

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
    """Set tags on an exported MP3 or FLAC file, replacing those of the same name and keeping the rest:
    ID3v2.3 in MP3, Vorbis comments in FLAC. cover_jpeg, when given, is embedded as the front cover
    (MP3: APIC frame; FLAC: picture block). A WAV is not tagged after the fact (see the module).
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
    if fmt == "mp3":
        from mutagen import id3

        frames = _id3_frames(tags)
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
        raise BadValueError(f"cannot tag format {fmt!r}; allowed: mp3, flac (a WAV's tags are written with its audio)")


# --- WAV chunks ----------------------------------------------------------------------------------

WAV_DELIVERY_CHUNKS = (b"fmt ", b"data")  # all a distributor-safe WAV holds


def wav_chunks(path: Path) -> list[tuple[str, int]]:
    """The chunks of a RIFF/WAVE file in file order: [(id, size in bytes), ...]. OutputError when the
    file is not a RIFF WAVE or a chunk runs past its end."""
    return [(cid.decode("latin-1"), size) for cid, size, _ in _riff_chunks(Path(path))]


def _riff_chunks(path: Path) -> list[tuple[bytes, int, int]]:
    """(id, size, offset of the chunk's body) for each chunk of a RIFF/WAVE file."""
    import struct

    chunks = []
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            raise OutputError(f"{path} is not a RIFF WAVE file")
        end = min(8 + struct.unpack("<I", head[4:8])[0], path.stat().st_size)
        at = 12
        while at + 8 <= end:
            f.seek(at)
            cid, size = struct.unpack("<4sI", f.read(8))
            if at + 8 + size > end:
                raise OutputError(f"{path}: chunk {cid!r} runs past the end of the file")
            chunks.append((cid, size, at + 8))
            at += 8 + size + (size & 1)  # chunks are padded to an even length
    return chunks


def strip_wav_metadata(path: Path) -> Path:
    """Rewrite a WAV in place (atomically) so that it holds only its `fmt ` chunk and then its `data`
    chunk: no LIST/INFO, id3, bext or other chunk anywhere. The audio bytes are copied unchanged.
    Returns the path. A full disk raises DiskFullError naming the file (files.atomic_path)."""
    import shutil
    import struct

    from app.files import atomic_path

    path = Path(path)
    chunks = {cid: (size, body) for cid, size, body in _riff_chunks(path) if cid in WAV_DELIVERY_CHUNKS}
    missing = [cid.decode() for cid in WAV_DELIVERY_CHUNKS if cid not in chunks]
    if missing:
        raise OutputError(f"{path} has no {missing[0]!r} chunk")
    total = 4 + sum(8 + size + (size & 1) for size, _ in chunks.values())
    with atomic_path(path) as tmp, open(path, "rb") as src, open(tmp, "wb") as out:
        out.write(b"RIFF" + struct.pack("<I", total) + b"WAVE")
        for cid in WAV_DELIVERY_CHUNKS:
            size, body = chunks[cid]
            out.write(cid + struct.pack("<I", size))
            src.seek(body)
            _copy_bytes(src, out, size, shutil.COPY_BUFSIZE)
            if size & 1:
                out.write(b"\0")
    return path


def _copy_bytes(src, out, count: int, bufsize: int) -> None:
    """Copy exactly `count` bytes from src to out; OutputError when src ends first."""
    while count:
        chunk = src.read(min(count, bufsize))
        if not chunk:
            raise OutputError(f"{src.name} ended inside its data chunk")
        out.write(chunk)
        count -= len(chunk)
