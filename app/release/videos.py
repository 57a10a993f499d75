"""`batch --video`: an MP4 per track of the release and one for the long mix, each with its youtube.txt.

    made = make_release_videos(folder, manifest, shape="landscape")

    video/01_Amber_Window.mp4 (+ .youtube.txt)   per track: the release's cover, the track's waveform
    mix.mp4, youtube.txt                         the mix: its tracklist as chapters and on screen

A video whose file is already there is kept (a resumed release does not encode it again), except the
mix's, which is made again when the mix was (its fingerprint differs from the one recorded beside it).
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
    are not made yet. Returns the paths written."""
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
        if video.exists():
            continue
        make_video(audio, video, cover, shape, duration_s=row.duration_s, show_progress=show_progress)
        about = [f"{row.title} by {row.artist}, from the album {row.album}: lo-fi hip hop in {row.key} {row.mode} "
                 f"at {round(row.bpm)} BPM."]
        write_youtube_text(video.with_suffix(".youtube.txt"), f"{row.title} - {row.artist} (lofi hip hop)", about,
                           [Chapter(0.0, row.title)], youtube_tags(row.key, row.mode, row.bpm))
        made.append(video)
    mix = manifest.mix
    if mix is not None:
        video, stamp = folder / MIX_VIDEO, folder / f".{MIX_VIDEO}.fingerprint"
        if not (video.exists() and stamp.exists() and stamp.read_text().strip() == mix.fingerprint):
            chapters = read_tracklist(folder / mix.tracklist)
            make_video(folder / mix.file, video, cover, shape, chapters, titles_on_screen=True,
                       duration_s=mix.duration_s, show_progress=show_progress)
            about = [f"{release.album} by {release.artist}: a {mix.duration_s / 60:.0f}-minute lo-fi hip hop mix.",
                     "Made with lofi generator."]
            tags = ["lofi", "lo-fi hip hop", "lofi mix", "chill beats", "study music", "relaxing music", release.artist]
            write_youtube_text(folder / MIX_TEXT, f"{release.album} - {release.artist} (lofi hip hop mix)", about,
                               chapters, tags)
            stamp.write_text(mix.fingerprint + "\n", encoding="utf-8")
            made.append(video)
    return made


def read_tracklist(path: Path) -> list[Chapter]:
    """tracklist.txt ('04:05 Title' or '1:04:05 Title' lines, longmix.py) -> chapters."""
    chapters = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _TIMESTAMP.match(line.strip())
        if match:
            hours, minutes, seconds, title = match.groups()
            chapters.append(Chapter(int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds), title))
    return chapters
