"""A YouTube video of a track or a mix: the cover art over a blurred copy of itself, with the track's
waveform moving along the bottom (audio-reactive, drawn by ffmpeg's showwaves), H.264 + AAC.

    make_video(Path("out/Rain.wav"), Path("out/Rain.mp4"), cover, shape="landscape",
               chapters=[Chapter(0.0, "Rain")], show_progress=True)
    write_youtube_text(Path("out/Rain.youtube.txt"), "Rain", ["A lo-fi track ..."], chapters, tags)

`landscape` is 1920x1080, `shorts` 1080x1920 (config.VIDEO_SHAPES). The audio is AAC at 48 kHz and
320 kbps. A mix's tracks become MP4 chapters, and each title is shown on screen while it plays.

Why ffmpeg's command line: it is already a dependency (pydub's MP3 export) and does every step
itself. For speed the still backdrop is converted to YUV once and repeated (ffmpeg's loop filter), the
video runs at a modest frame rate with x264's fastest preset (most of the picture never changes), and
the audio is encoded by a second ffmpeg at the same time (AAC's fast coder: a third of the default's
time, transparent at 320 kbps); the two are then joined without re-encoding.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import VIDEO_SHAPES
from app.errors import BadValueError, OutputError

if TYPE_CHECKING:
    from PIL import Image

    from app.deliver.track import Delivery

COVER_PX = 1024  # the cover drawn for a single track's video (it is shown at most 900 px high)
VIDEO_FPS = 15  # the waveform moves smoothly enough; x264's time grows with the frame count
VIDEO_AUDIO_RATE = 48000  # Hz: YouTube's own rate (the track is resampled by ffmpeg)
VIDEO_AUDIO_BITRATE = "320k"
X264_PRESET = "ultrafast"  # the picture is still but for the waveform: the fast preset loses little
X264_CRF = 20
WAVE_COLOUR = "white@0.8"
# Layout per shape, in pixels: the cover's side and top, where a mix's track title sits, the waveform
# strip's height and its bottom margin.
LAYOUT = {"landscape": {"cover": 640, "cover_top": 60, "title_top": 725, "wave": 200, "wave_margin": 70},
          "shorts": {"cover": 900, "cover_top": 260, "title_top": 1200, "wave": 280, "wave_margin": 340}}
TITLE_FONT_PX = {"landscape": 40, "shorts": 44}
YOUTUBE_TITLE_CHARS = 100  # YouTube cuts titles longer than this


@dataclass(frozen=True)
class Chapter:
    """One entry of a video's tracklist: where it starts (seconds) and its title."""

    start_s: float
    title: str


def video_frame(cover: Image.Image, shape: str = "landscape") -> Image.Image:
    """The still picture of a video of `shape`: the cover centred over a blurred, darkened copy of
    itself that fills the frame (the waveform goes over its lower part). Returns an RGB image."""
    from PIL import Image, ImageEnhance, ImageFilter

    width, height = _size(shape)
    layout = LAYOUT[shape]
    cover = cover.convert("RGB")
    side = max(width, height)
    # Blurred at a tenth of the size, then scaled up: soft, and cheap at 1080p.
    small = cover.resize((side // 10, side // 10), Image.BILINEAR).filter(ImageFilter.GaussianBlur(3))
    back = small.resize((side, side), Image.BICUBIC).crop(((side - width) // 2, (side - height) // 2,
                                                            (side + width) // 2, (side + height) // 2))
    frame = ImageEnhance.Brightness(back).enhance(0.5)
    front = cover.resize((layout["cover"], layout["cover"]), Image.LANCZOS)
    frame.paste(front, ((width - layout["cover"]) // 2, layout["cover_top"]))
    return frame


def make_video(audio: Path, out: Path, picture: Image.Image, shape: str = "landscape",
               chapters: list[Chapter] | None = None, titles_on_screen: bool = False,
               duration_s: float | None = None, show_progress: bool = False, label: str = "video") -> Path:
    """Write `out` (an MP4, written whole or not at all by the caller's staging or here under a
    temporary name): `picture` (the cover art, any size) as the frame of `shape`, the audio of
    `audio` (any file ffmpeg reads) as AAC, the waveform moving with it. chapters become MP4
    chapters; titles_on_screen also shows each chapter's title while it plays. show_progress draws a
    progress bar on stderr, named `label`. Raises OutputError when ffmpeg is missing or fails."""
    from app.files import atomic_path

    if shape not in VIDEO_SHAPES:
        raise BadValueError(f"unknown video shape {shape!r}; allowed: {', '.join(VIDEO_SHAPES)}")
    duration_s = duration_s if duration_s is not None else probe_duration(audio)
    out = Path(out)
    # The picture and the sound are encoded apart beside the output (the same disk: an hour's mix
    # makes a gigabyte of video, too much for a small /tmp), then joined into it.
    with tempfile.TemporaryDirectory(prefix=".lofi-video-", dir=out.parent) as tmp_dir, atomic_path(out) as tmp_out:
        work = Path(tmp_dir)
        still = work / "frame.png"
        video_frame(picture, shape).save(still, compress_level=1)
        silent, sound = work / "picture.mp4", work / "sound.m4a"
        audio_job = _start(["-i", str(audio), "-vn", "-c:a", "aac", "-aac_coder", "fast", "-b:a", VIDEO_AUDIO_BITRATE,
                            "-ar", str(VIDEO_AUDIO_RATE), "-ac", "2", str(sound)])
        video_job = None
        try:
            graph = _filter_graph(shape, chapters if titles_on_screen else [], work)
            video_job = _start(["-framerate", str(VIDEO_FPS), "-i", str(still), "-i", str(audio),
                                "-filter_complex", graph, "-map", "[v]", "-an", "-c:v", "libx264",
                                "-preset", X264_PRESET, "-tune", "stillimage", "-crf", str(X264_CRF),
                                "-pix_fmt", "yuv420p", "-r", str(VIDEO_FPS), "-progress", "pipe:1", "-nostats",
                                str(silent)], progress=True)
            _check(video_job, _follow(video_job, duration_s, label if show_progress else None), "the video")
            _check(audio_job, audio_job.communicate()[1], "the video's audio")
        finally:
            _stop(audio_job, video_job)
        metadata = work / "chapters.txt"
        metadata.write_text(ffmetadata(chapters or [], duration_s), encoding="utf-8")
        mux = _start(["-i", str(silent), "-i", str(sound), "-i", str(metadata), "-map", "0:v", "-map", "1:a",
                      "-map_metadata", "2", "-map_chapters", "2", "-c", "copy", "-movflags", "+faststart",
                      "-f", "mp4", str(tmp_out)])
        _check(mux, mux.communicate()[1], "the video")
    return out


def _size(shape: str) -> tuple[int, int]:
    return tuple(VIDEO_SHAPES[shape])


def _filter_graph(shape: str, chapters: list[Chapter], work: Path) -> str:
    """The ffmpeg filter graph: the still converted to YUV once and repeated, the waveform of input 1
    laid over its lower part, and each chapter's title (from a text file: no escaping of the
    title) shown while it plays."""
    width, height = _size(shape)
    layout = LAYOUT[shape]
    wave_y = height - layout["wave"] - layout["wave_margin"]
    graph = [f"[0:v]format=yuv420p,loop=loop=-1:size=1:start=0,fps={VIDEO_FPS}[still]",
             f"[1:a]showwaves=s={width}x{layout['wave']}:mode=cline:rate={VIDEO_FPS}:colors={WAVE_COLOUR},"
             f"format=yuva420p[wave]",
             f"[still][wave]overlay=0:{wave_y}:shortest=1[v0]"]
    last = "v0"
    if chapters:
        font = _font_file()
        ends = [c.start_s for c in chapters[1:]] + [float("inf")]
        for i, (chapter, end) in enumerate(zip(chapters, ends)):
            text = work / f"title{i}.txt"
            text.write_text(chapter.title, encoding="utf-8")
            until = "" if end == float("inf") else f"*lt(t,{end:.3f})"
            graph.append(f"[{last}]drawtext=fontfile='{font}':textfile='{text}':expansion=none:"
                         f"fontsize={TITLE_FONT_PX[shape]}:fontcolor=white:borderw=2:bordercolor=black@0.6:"
                         f"x=(w-text_w)/2:y={layout['title_top']}:"
                         f"enable='gte(t,{chapter.start_s:.3f}){until}'[v{i + 1}]")
            last = f"v{i + 1}"
    graph[-1] = graph[-1][: graph[-1].rindex("[")] + "[v]"
    return ";".join(graph)


def _font_file() -> str:
    """The bundled DejaVu Sans (matplotlib's), as the cover uses: no system font is needed."""
    import matplotlib

    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf")


def ffmetadata(chapters: list[Chapter], duration_s: float) -> str:
    """ffmpeg's metadata file with one chapter per entry that starts within duration_s (each ends
    where the next starts, the last with the video: a chapter past the end would lengthen the file)."""
    lines = [";FFMETADATA1"]
    chapters = [c for c in chapters if c.start_s < duration_s]
    ends = [c.start_s for c in chapters[1:]] + [duration_s]
    for chapter, end in zip(chapters, ends):
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={int(chapter.start_s * 1000)}",
                  f"END={int(min(end, duration_s) * 1000)}", f"title={_escape(chapter.title)}"]
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    for char in "\\=;#\n":
        text = text.replace(char, "\\" + char)
    return text


def probe_duration(path: Path) -> float:
    """A media file's duration in seconds (ffprobe). Raises OutputError when it cannot be read."""
    try:
        done = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                               str(path)], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise OutputError("cannot make a video: ffprobe (ffmpeg) is not installed (apt install ffmpeg)") from None
    try:
        return float(done.stdout.strip())
    except ValueError:
        raise OutputError(f"cannot read the length of {path.name}: {_last_line(done.stderr)}") from None


def _start(args: list[str], progress: bool = False) -> subprocess.Popen:
    try:
        return subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if progress else subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise OutputError("cannot make a video: ffmpeg is not installed (apt install ffmpeg)") from None


def _follow(job: subprocess.Popen, duration_s: float, label: str | None) -> str:
    """Read ffmpeg's -progress lines until it ends, moving a bar named `label` (stderr; none when
    None); returns its error text. stderr is read on a thread meanwhile, so ffmpeg never blocks on
    a full pipe."""
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(job.stderr), daemon=True)
    reader.start()
    bar = None
    if label is not None:
        from tqdm import tqdm

        bar = tqdm(total=round(duration_s, 1), desc=label, unit="s", file=sys.stderr, leave=False,
                   bar_format="{desc} {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]")
    try:
        for line in job.stdout:
            key, _, value = line.strip().partition("=")
            if bar is not None and key == "out_time_us" and value.isdigit():
                bar.update(min(duration_s, int(value) / 1e6) - bar.n)
    except BaseException:  # Ctrl-C, SIGTERM (app.errors.Interrupted): stop ffmpeg, do not wait for it to finish
        job.kill()
        raise
    finally:
        if bar is not None:
            bar.close()
        job.wait()
        reader.join(timeout=5)
    return "".join(errors)


def _check(job: subprocess.Popen, errors: str, what: str) -> None:
    """OutputError with ffmpeg's last message line when the finished `job` failed."""
    if job.wait() != 0:
        raise OutputError(f"ffmpeg could not make {what}: {_last_line(errors)}")


def _stop(*jobs) -> None:
    """End the ffmpegs still running (an error or Ctrl-C left the block): no orphan keeps writing."""
    for job in jobs:
        if job is not None and job.poll() is None:
            job.kill()
            job.wait()


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def youtube_text(title: str, about: list[str], chapters: list[Chapter], tags: list[str]) -> str:
    """youtube.txt: a title line, a description (the `about` lines, then the tracklist as YouTube
    chapter timestamps when there are two or more entries) and a comma list of tags."""
    from app.release.longmix import format_timestamp

    hours = bool(chapters) and chapters[-1].start_s >= 3600
    lines = ["Title:", title[:YOUTUBE_TITLE_CHARS], "", "Description:", *about]
    if len(chapters) > 1:
        lines += ["", "Tracklist:", *(f"{format_timestamp(c.start_s, hours)} {c.title}" for c in chapters)]
    lines += ["", "Tags:", ", ".join(dict.fromkeys(tags))]
    return "\n".join(lines) + "\n"


def write_youtube_text(path: Path, title: str, about: list[str], chapters: list[Chapter], tags: list[str]) -> Path:
    """Write youtube_text(...) to path atomically; returns path."""
    from app.files import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text(youtube_text(title, about, chapters, tags), encoding="utf-8")
    return Path(path)


def youtube_tags(key: str, mode: str, bpm: float) -> list[str]:
    """The tags of a track's video: the genre's usual words, its key and its tempo."""
    return ["lofi", "lo-fi hip hop", "chill beats", "study music", "relaxing music", "instrumental",
            f"{key} {mode}", f"{round(bpm)} bpm"]


def make_track_video(track: Delivery, audio: Path, video_path: Path, text_path: Path) -> float:
    """A generate_music track's video (shape spec.video) of its exported `audio`, over the cover
    drawn from its name, artist and seed (release/cover.py), and its youtube.txt. The progress bar
    shows on a terminal. Returns the seconds it took."""
    import time

    from app.music import theory
    from app.release.cover import draw_cover

    began = time.perf_counter()
    spec, song, seed = track.spec, track.song, track.choices.seed
    cover = draw_cover(spec.name, spec.artist, seed, COVER_PX)
    make_video(audio, video_path, cover, spec.video, duration_s=track.mastered.audio.shape[1] / spec.sample_rate,
               show_progress=sys.stderr.isatty())
    key = theory.key_name(song.key)
    about = [f"{spec.name} by {spec.artist}: lo-fi hip hop in {key} {song.mode} at {round(song.tempo_bpm)} BPM.",
             f"Made with lofi generator (seed {seed})."]
    write_youtube_text(text_path, f"{spec.name} - {spec.artist} (lofi hip hop)", about,
                       [Chapter(0.0, spec.name)], youtube_tags(key, song.mode, song.tempo_bpm))
    return round(time.perf_counter() - began, 3)
