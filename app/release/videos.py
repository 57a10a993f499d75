"""`batch --video`: an MP4 per track of the release and one for the long mix, each with its youtube.txt.

    made = make_release_videos(folder, manifest, shape="landscape")

    video/01_Amber_Window.mp4 (+ .youtube.txt)   per track: the release's cover, the track's waveform
    mix.mp4, youtube.txt                         the mix: its tracklist as chapters and on screen

A video made from the same audio is kept (a resumed release does not encode it again): a hidden
`.NAME.mp4.source` beside each video records the hash of the track (the manifest's SHA-256) or the
mix's fingerprint it was made from, so a track or mix made again gets a new video.
"""

from __future__ import annotations

import re
from pathlib import Path

from app.deliver.video import Chapter, make_video, write_youtube_text, youtube_tags
from app.release.records import DONE, Manifest

VIDEO_DIR = "video"
MIX_VIDEO, MIX_TEXT = "mix.mp4", "youtube.txt"
_TIMESTAMP = re.compile(r"^(?:(\d+):)?(\d+):(\d\d) (.*)$")


def make_release_videos(folder: Path, manifest: Manifest, shape: str, show_progress: bool = False) -> list[Path]:
    """The videos of a release's done tracks (and of its mix, when the manifest records one) that
    are not made yet, or were made from audio that has changed since. Returns the paths written."""
    from PIL import Image

    release = manifest.release
    cover = Image.open(folder / Path(release.cover).name)
    cover.load()
    made = []
    (folder / VIDEO_DIR).mkdir(exist_ok=True)
    for row in manifest.tracks:
        if row.status != DONE:
            continue
        audio = folder / row.files.get("wav", next(iter(row.files.values())))
        video = folder / VIDEO_DIR / f"{audio.stem}.mp4"
        check = row.file_checks.get(audio.name)
        source = check.sha256 if check else f"{audio.name}:{audio.stat().st_size}"
        if _is_current(video, source):
            continue
        make_video(audio, video, cover, shape, duration_s=row.duration_s, show_progress=show_progress,
                   label=f"video {row.track_number:02d}")
        about = [f"{row.title} by {row.artist}, from the album {row.album}: lo-fi hip hop in {row.key} {row.mode} "
                 f"at {round(row.bpm)} BPM."]
        write_youtube_text(video.with_suffix(".youtube.txt"), f"{row.title} - {row.artist} (lofi hip hop)", about,
                           [Chapter(0.0, row.title)], youtube_tags(row.key, row.mode, row.bpm))
        _stamp(video, source)
        made.append(video)
    mix = manifest.mix
    if mix is not None and not _is_current(folder / MIX_VIDEO, mix.fingerprint):
        video = folder / MIX_VIDEO
        chapters = read_tracklist(folder / mix.tracklist)
        make_video(folder / mix.file, video, cover, shape, chapters, titles_on_screen=True,
                   duration_s=mix.duration_s, show_progress=show_progress, label="video mix")
        length = f"{mix.duration_s / 60:.0f}-minute" if mix.duration_s >= 60 else f"{mix.duration_s:.0f}-second"
        about = [f"{release.album} by {release.artist}: a {length} lo-fi hip hop mix.",
                 "Made with lofi generator."]
        tags = ["lofi", "lo-fi hip hop", "lofi mix", "chill beats", "study music", "relaxing music", release.artist]
        write_youtube_text(folder / MIX_TEXT, f"{release.album} - {release.artist} (lofi hip hop mix)", about,
                           chapters, tags)
        _stamp(video, mix.fingerprint)
        made.append(video)
    return made


def _stamp_path(video: Path) -> Path:
    return video.with_name(f".{video.name}.source")


def _is_current(video: Path, source: str) -> bool:
    """True when `video` exists and was made from `source` (a hash of the audio it shows)."""
    stamp = _stamp_path(video)
    return video.exists() and stamp.exists() and stamp.read_text(encoding="utf-8").strip() == source


def _stamp(video: Path, source: str) -> None:
    """Record which audio `video` was made from (a hidden file beside it)."""
    from app.files import atomic_path

    with atomic_path(_stamp_path(video)) as tmp:
        Path(tmp).write_text(source + "\n", encoding="utf-8")


def read_tracklist(path: Path) -> list[Chapter]:
    """tracklist.txt ('04:05 Title' or '1:04:05 Title' lines, longmix.py) -> chapters."""
    chapters = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _TIMESTAMP.match(line.strip())
        if match:
            hours, minutes, seconds, title = match.groups()
            chapters.append(Chapter(int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds), title))
    return chapters
