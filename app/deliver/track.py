"""The deliver stage: a mastered track -> its files, under a reserved name, all or none.

    with open_delivery(spec, choices, song, OutputDirs()) as files:
        files.write_layers(mixed.layers)   # stems, MIDI and the picture's lanes, on worker threads
        mastered = master_song(...)        # meanwhile
        result = files.finish(mastered, mixed.levels, timings)

Files of a track named NAME (names.py): <midi>/NAME.mid (+ NAME_<part>.mid), <wav>/NAME_<layer>.wav,
<results>/NAME.wav (+ .mp3/.flac), NAME.json (the sidecar, replay.py) and NAME.png (the picture);
with spec.loop_bars NAME_loop.wav (loop.py), with spec.video NAME.mp4 and NAME.youtube.txt (video.py).
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from app.deliver.names import OutputDirs, reserve_name
from app.deliver.replay import Sidecar, track_sidecar, write_sidecar
from app.errors import DiskFullError
from app.files import staged_files
from app.music import theory
from app.spec import TrackSpec

if TYPE_CHECKING:
    import numpy as np

    from app.audio.master import Mastered
    from app.choices import Choices
    from app.music.song import Song

GENRE = "Lo-fi Hip Hop"
DEFAULT_ALBUM = "lofi generator"


@dataclass
class Delivery:
    """Everything a track's files are made from: the choices, the song, the mixed layers (written
    as stem WAVs) and the master."""

    spec: TrackSpec
    choices: Choices
    song: Song
    layers: dict[str, np.ndarray]
    mastered: Mastered
    levels: dict[str, float | None] = field(default_factory=dict)  # per-part loudness, section A (mix.MixedSong)


@dataclass
class TrackResult:
    """A finished track: its name, the files written (kind -> path), its sidecar and its song."""

    name: str
    files: dict[str, Path] = field(default_factory=dict)
    sidecar: Sidecar | None = None
    song: Song | None = None


@contextlib.contextmanager
def open_delivery(spec: TrackSpec, choices: Choices, song: Song, dirs: OutputDirs):
    """Reserve a track's name and stage its files; yields the TrackFiles that writes them (the
    module docstring shows the calls).

    Every file goes under a hidden temporary name first and all are renamed together when the block
    ends (staged_files), so an error or an interruption anywhere in it (the master's included)
    leaves no file of the track at all, and with --overwrite the old track stays whole until the
    new one is complete. A DiskFullError leaving the block names the track that was lost.
    """
    lost = [spec.name]  # the name the track had when a full disk stopped it
    with _name_the_lost_track(lost), reserve_name(dirs, spec.name, spec.overwrite, spec.ascii_names) as name, \
            staged_files() as stage, _threads(3) as pool:
        lost[0] = name
        yield TrackFiles(name, spec, choices, song, dirs, stage, pool)


class TrackFiles:
    """The files of one track under its reserved name (open_delivery): write_layers once the mix is
    made, finish once it is mastered. Files are independent: stems, MIDI, the picture and the
    master's export run side by side (numpy, libsndfile and ffmpeg release the GIL)."""

    def __init__(self, name: str, spec: TrackSpec, choices: Choices, song: Song, dirs: OutputDirs, stage, pool):
        self.name, self.spec, self.choices, self.song, self.dirs = name, spec, choices, song, dirs
        self.stage, self.pool = stage, pool
        self.layers: dict[str, np.ndarray] = {}
        self._stems: dict[str, tuple[Future, Path]] = {}  # layer -> (the job writing its stem, the stem's path)
        self._midis: Future | None = None  # the job writing the MIDI files: kind -> path
        self._lanes: Future | None = None  # the job measuring the picture's lanes

    def write_layers(self, layers: dict[str, np.ndarray]) -> None:
        """Start writing the stem WAVs (with spec.stems) and the MIDI files, and measuring the picture's
        loudness lanes, on worker threads (the layers must not change from now on)."""
        from app.deliver.export import write_stem

        spec, name = self.spec, self.name
        self.layers = layers
        if spec.picture:
            self._lanes = self.pool.submit(_lanes, layers, spec.sample_rate)
        for part, audio in layers.items() if spec.stems else ():
            path = self.dirs.wav / f"{name}_{part}.wav"
            self._stems[part] = (self.pool.submit(write_stem, audio, self.stage.temp(path), spec.sample_rate), path)
        self._midis = self.pool.submit(_write_midis, self.song, self.choices, self.dirs, name, self.stage)

    def finish(self, mastered: Mastered, levels: dict[str, float | None], timings: dict[str, float]) -> TrackResult:
        """Write the master in each of spec.formats (tagged), the picture, the loop and video when
        asked, wait for the layers' files, then the sidecar. Returns the TrackResult. The loudness
        and true peak are the master's own final measurement (the exact true peak is finished on a
        worker thread)."""
        from app.deliver.export import export_track

        spec, name, dirs, stage = self.spec, self.name, self.dirs, self.stage
        track = Delivery(spec, self.choices, self.song, self.layers, mastered, levels)
        peak_job = self.pool.submit(lambda: mastered.true_peak_dbtp)

        def sidecar(files: dict[str, Path]) -> Sidecar:
            return track_sidecar(name, spec, track.choices, track.song, mastered.audio.shape[1], mastered.lufs,
                                 peak_job.result(), files, timings, track.levels)

        files: dict[str, Path] = {}
        picture_job = None
        if spec.picture:
            files["picture"] = dirs.results / f"{name}.png"
            picture_job = self.pool.submit(_draw_picture, track, sidecar, stage.temp(files["picture"]), self._lanes)
        files.update(self._midis.result())  # written while the master was made
        finals = [dirs.results / f"{name}.{fmt}" for fmt in spec.formats]
        temps = [stage.temp(path) for path in finals]  # export_track appends .<format> to the base
        export_track(mastered.audio, spec.sample_rate, temps[0].with_suffix(""), spec.formats, track_tags(track),
                     spec.bit_depth)
        files.update({path.suffix.lstrip("."): path for path in finals})
        if spec.loop_bars:
            files["loop"] = dirs.results / f"{name}_loop.wav"
            _write_loop(track, stage.temp(files["loop"]))
        if spec.video:
            from app.deliver.video import make_track_video

            files["video"], files["youtube"] = dirs.results / f"{name}.mp4", dirs.results / f"{name}.youtube.txt"
            timings["video"] = make_track_video(track, temps[0], stage.temp(files["video"]),
                                                stage.temp(files["youtube"]))
        for part, (job, path) in self._stems.items():
            job.result()
            files[f"stem_{part}"] = path
        if picture_job is not None:
            picture_job.result()
        record = sidecar(files)
        files["sidecar"] = dirs.results / f"{name}.json"
        write_sidecar(record, stage.temp(files["sidecar"]))
        return TrackResult(name, files, record, track.song)


def track_tags(track: Delivery) -> dict[str, str | int]:
    """The tags of a new track's exported files (deliver.tags.TAG_NAMES); the title is the track's
    name as given, whatever its file name (--ascii-names)."""
    spec, song = track.spec, track.song
    return {"title": spec.name, "artist": spec.artist, "album": spec.album or DEFAULT_ALBUM,
            "genre": GENRE, "bpm": round(song.tempo_bpm),
            "key": f"{theory.key_name(song.key)} {song.mode}", "comment": f"seed {track.choices.seed}"}


def _write_loop(track: Delivery, path: Path) -> Path:
    """NAME_loop.wav: spec.loop_bars bars of the master that repeat seamlessly (loop.py), tagged like
    the track with '(loop)' after its title."""
    from app.deliver.export import export_track
    from app.deliver.loop import loop_audio

    rate = track.spec.sample_rate
    loop = loop_audio(track.mastered.audio, track.song, track.spec.loop_bars, rate)
    tags = {**track_tags(track), "title": f"{track.spec.name} (loop)"}
    export_track(loop, rate, path.with_suffix(""), ("wav",), tags, bit_depth=track.spec.bit_depth)
    return path


def _write_midis(song: Song, choices: Choices, dirs: OutputDirs, name: str, stage) -> dict[str, Path]:
    """NAME.mid (every part, with GM programs) and NAME_<part>.mid, staged; returns kind -> path."""
    from app.music.midi_io import write_midi, write_part_midis

    files = {"midi": dirs.midi / f"{name}.mid"}
    write_midi(song, stage.temp(files["midi"]), _programs(choices))
    part_paths: dict[str, Path] = {}

    def part_path(part: str) -> Path:
        part_paths[part] = dirs.midi / f"{name}_{part}.mid"
        return stage.temp(part_paths[part])

    write_part_midis(song, part_path)
    files.update({f"midi_{part}": path for part, path in part_paths.items()})
    return files


def _lanes(layers: dict, sample_rate: int) -> dict:
    """The picture's per-layer loudness lanes: layer name -> (times_s, LUFS) short-term curves.
    Also imports the picture's module (matplotlib), so the drawing after the master need not."""
    from app.audio.master import short_term_curve

    lanes = {name: short_term_curve(layer, sample_rate) for name, layer in layers.items()}
    # The picture is drawn once the master is made; matplotlib (about 0.35 s to import) loads here, on
    # this worker, while the master is still being made.
    import app.report.pictures  # noqa: F401
    return lanes


def _draw_picture(track: Delivery, sidecar, path: Path, lanes: Future) -> Path:
    """The track's picture (piano roll, loudness, per-part loudness lanes, key facts, levels) at `path`;
    sidecar(files) gives the facts; lanes: the job measuring the lanes (_lanes)."""
    from app.report.pictures import track_picture

    facts = sidecar({}).to_json()
    return track_picture(track.song, track.mastered.audio, track.spec.sample_rate, facts, path,
                         loudness=track.mastered.short_term_lufs(), lanes=lanes.result())


def _programs(choices: Choices) -> dict[str, int]:
    """GM programs in the MIDI file, so it sounds right in any player (bank 0 presets only)."""
    return {part: inst.program for part, inst in choices.instruments.items() if inst.bank == 0}


@contextlib.contextmanager
def _name_the_lost_track(name: list[str]):
    """A DiskFullError leaving the block says that nothing of track name[0] was kept (the staged
    files are discarded by then)."""
    try:
        yield
    except DiskFullError as exc:
        raise exc.for_track(name[0]) from exc


@contextlib.contextmanager
def _threads(workers: int):
    """A thread pool that, when the block is left by an error or an interruption, drops the jobs not
    started and waits only for the running ones (they write temporary files the stage removes)."""
    pool = ThreadPoolExecutor(workers)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
