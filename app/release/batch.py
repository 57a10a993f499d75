"""`python -m app.main batch`: a release of N distinct, mastered, tagged tracks, ready to upload.

    python -m app.main batch --count 10 --minutes 2 --jobs 2 --out /tmp/release
    python -m app.main batch --count 12 --minutes-range 2-3 --formats wav,mp3 --mix-minutes 60
    python -m app.main batch --preset release.toml        # any of the options in TOML (underscores)
    python -m app.main batch --count 200 --cluster tcp://HOST:8786   # the tracks made on a Dask cluster

A release folder, OUT/<album>/:

    01_Amber_Window.wav (.mp3 .flac)     the finals: 44.1 or 48 kHz (--sample-rate), 16 or 24-bit
    02_Tea_at_Dusk.wav                   (--bit-depth), -14 LUFS, <= -1 dBTP. The WAVs hold only fmt and
    ...                                  data chunks; MP3 and FLAC are tagged (title, artist, album,
                                         track number, genre, BPM, key) with the cover (APIC, picture
                                         block). ASCII names unless --unicode-names ('01 - Amber Window.wav')
    cover.jpg                            3000x3000, drawn from the release seed (cover.py)
    manifest.json, manifest.csv          one row per track: files, tags, figures, seed, status, error
    compliance.md                        loudness, true peak, clipping, silence, duration: pass/fail
    mix.wav, tracklist.txt               with --mix-minutes: one crossfaded mix, "00:00 Title" lines
    video/NN_Title.mp4 (+ .youtube.txt)  with --video: a video per track (videos.py)
    mix.mp4, youtube.txt                 with --video and --mix-minutes: the mix's video, its tracklist as chapters
    work/                                what the pipeline also makes: midi/, stems/ (per part),
                                         tracks/ (the replayable sidecar JSON of each track)
    .batch.lock                          held (flock) by the run working on the release

How it runs. The plan (titles, keys, tempi, instruments, effects, seeds) is drawn from the release
seed and written to manifest.json before any track is made. J worker processes ('spawn', models
loaded once per worker) each make one track at a time with app.pipeline.run_track into work/; the
parent checks the originality guard across tracks, moves the finished files to the release root (a
rename), and rewrites the manifest atomically after every track. Each finished song is checked
against the training melodies and the release's other tracks (originality.py); a track that fails
the guard is made again with a new seed and its row and the compliance report say so. A track that
fails is recorded with its error, the others go on, and the exit code is 1. With --cluster the
tracks are Dask tasks instead (cluster.py: the same make_track on the workers, the files sent back
to this process), and everything else here is the same.

Running the same command again resumes the release: it is found by its options (or by --album), done
tracks whose files still match the manifest (size and SHA-256) are skipped, the rest are made. To make
a second release with the same options, give another --seed or --album. Ctrl-C stops the workers;
every file is written under a temporary name and renamed when complete, so nothing half-written sits
under a final name, and the manifest only lists finished tracks as done.

The modules of app/release/, in the order a run meets them:

    request.py      the options -> a validated BatchRequest (flags, --preset TOML)
    manifest.py     the release on disk: find it again or draw a new one, manifest.json/.csv, resume checks
    plan.py         every track's choices, drawn from the release seed and the pools
    records.py      the typed records: Manifest, ManifestRow, Compliance, MixEntry, and their JSON
    workers.py      who makes tracks (spawned processes or this one) and the one loop handing them out
    cluster.py      --cluster: the tracks as tasks on Dask distributed workers, their files back here
    track.py        one track in a worker: pipeline, originality guard, tags, delivery checks
    originality.py  the guard: no copied training melody, no two tracks alike
    finals.py       the finals tagged for the album and moved into the release root
    compliance.py   the delivery checks and compliance.md
    longmix.py      the --mix-minutes mix and its tracklist
    videos.py       the --video videos of the tracks and the mix, and their youtube.txt
    cover.py, titles.py, progress.py, cli.py (the flags, kept light for --help)
"""

from __future__ import annotations

import sys
from collections import deque
from dataclasses import replace
from pathlib import Path

from app.errors import LofiError, OutputError
from app.files import file_sha256, hold_signals
from app.release.compliance import compliance_report
from app.release.finals import move_finals
from app.release.manifest import (clean_leftovers, find_release, new_release, pending_row, release_lock, verify_done,
                                  write_if_changed, write_manifest)
from app.release.records import DONE, FAILED, FileCheck, Manifest, Regeneration
from app.release.request import BatchRequest, request_from_args
from app.release.track import MAX_ATTEMPTS, MadeTrack, TrackTask, remove_files


def produce_release(req: BatchRequest, windows: set | None = None, models=None) -> tuple[int, Path, Manifest]:
    """Make (or resume) the release for a request. windows: the training melodies' 16-note interval
    windows (default: from the cached corpus); models: for jobs == 1 (default: the shipped ones).

    Returns (exit code: 0 all done / 1 some failed, release folder, manifest).
    """
    from app.deliver.names import check_writable
    from app.music.compose import load_models
    from app.release.cover import make_cover

    check_writable(req.out)  # an unwritable --out is one line, before any work
    folder, manifest = find_release(req)
    if manifest is None:
        folder, manifest = new_release(req)
    with release_lock(folder):
        clean_leftovers(folder)
        release = manifest.release
        for row in manifest.tracks:
            if row.status == DONE and not verify_done(folder, row):
                manifest.replace_row(replace(pending_row(row.plan, release), error="files missing or changed; remade"))
        write_manifest(folder, manifest)
        todo = [r.track_number for r in manifest.tracks if r.status != DONE]
        if todo:
            models = models if models is not None else load_models()  # fail fast on a broken checkpoint
            if windows is None:
                print("loading the training melodies for the originality guard ...", file=sys.stderr, flush=True)
                from app.release.originality import load_training_windows

                windows = load_training_windows()
            try:
                _make_tracks(req, folder, manifest, todo, windows, models)
            finally:  # also on Ctrl-C: the report matches the manifest
                write_if_changed(folder / "compliance.md", compliance_report(manifest))
        elif not (folder / release.cover).exists():
            make_cover(folder / release.cover, release.album, release.artist, release.seed)
        write_if_changed(folder / "compliance.md", compliance_report(manifest))
        if req.mix_minutes and all(r.status == DONE for r in manifest.tracks):
            from app.release.longmix import make_mix

            manifest.mix = make_mix(folder, manifest.tracks, req.mix_minutes, req.crossfade, manifest.mix,
                                    release.sample_rate, release.bit_depth)
            write_manifest(folder, manifest)
        if req.video:
            from app.release.videos import make_release_videos

            make_release_videos(folder, manifest, req.video, show_progress=sys.stderr.isatty())
    failed = [r for r in manifest.tracks if r.status != DONE]
    return (1 if failed else 0), folder, manifest


def _make_tracks(req: BatchRequest, folder: Path, manifest: Manifest, todo: list[int], windows: set, models) -> None:
    """Make the tracks numbered in `todo`: the cover first (while spawned workers load their models),
    then one dispatch of tasks to the workers, recording each track as it ends."""
    from app.release.cover import make_cover
    from app.release.progress import ReleaseProgress
    from app.release.workers import InlineWorker, SpawnWorkers, dispatch

    release = replace(manifest.release, folder=str(folder), cover=str(folder / manifest.release.cover),
                      stems=req.stems or manifest.release.stems)
    pending = deque(TrackTask(plan=manifest.row(n).plan, release=release) for n in todo)
    pool = None
    if req.cluster:  # the tracks run on Dask workers; the rest is as below (app/release/cluster.py)
        from app.release.cluster import ClusterWorkers

        pool = ClusterWorkers(req.cluster, windows, folder, req.shared_dir)
        jobs = pool.display_lines
    else:
        jobs = req.jobs
        if jobs is None:
            from app.release.request import default_jobs

            jobs, why = default_jobs(req)
            print(f"batch: {why}", file=sys.stderr)
        jobs = max(1, min(jobs, len(todo)))
    ledger = _Ledger(folder, manifest, pending, ReleaseProgress(len(manifest.tracks), len(manifest.tracks) - len(todo),
                                                                jobs, release.album))
    try:
        if pool is None:
            pool = InlineWorker(models, windows, ledger.stage) if jobs == 1 else SpawnWorkers(jobs, windows)
        graceful = False
        try:
            if not Path(release.cover).exists():
                make_cover(Path(release.cover), release.album, release.artist, release.seed)
            dispatch(pool, pending, ledger.before_send, ledger.on_event)
            graceful = True
        finally:
            pool.stop(graceful)
            clean_leftovers(folder)
    finally:
        ledger.progress.close()


class _Ledger:
    """The parent's side of making tracks: what each worker event means for the manifest, the
    files and the progress display."""

    def __init__(self, folder: Path, manifest: Manifest, pending: deque, progress):
        self.folder, self.manifest, self.pending, self.progress = folder, manifest, pending, progress

    def label(self, n: int) -> str:
        return f"{n:02d} {self.manifest.row(n).title}"

    def taken(self, except_number: int) -> set[str]:
        """The passage hashes of the release's done tracks other than `except_number`."""
        return {h for r in self.manifest.tracks if r.status == DONE and r.track_number != except_number
                for h in r.passages}

    def before_send(self, task: TrackTask) -> None:
        task.taken_passages = sorted(self.taken(task.plan.number))

    def stage(self, worker: int, n: int, stage: str) -> None:
        self.progress.stage(worker, self.label(n), stage)

    def on_event(self, event) -> None:
        if event.kind == "stage":
            self.stage(event.worker, event.number, event.payload)
        elif event.kind == "done":
            self.progress.idle(event.worker)
            self.finish(event.payload, event.task, event.where)
        elif event.kind == "failed":
            self.progress.idle(event.worker)
            self.fail(event.number, event.payload, event.where)
        elif event.kind == "full":  # every later track would fail the same way: stop here
            self.progress.idle(event.worker)
            self.fail(event.number, event.payload, event.where)
            raise OutputError(event.payload)
        elif event.kind == "fatal":
            raise LofiError(event.payload)

    def finish(self, made: MadeTrack, task: TrackTask, where: str = "") -> None:
        """Record a made track, or send it round again if a track finished meanwhile shares a passage."""
        n = made.number
        clash = set(made.passages) & self.taken(n)
        if clash:
            remove_files(made.work_files.values())
            reason = f"{len(clash)} 8-bar passage(s) identical to another track of the release"
            again = replace(task, attempt=made.attempt + 1,
                            regenerated=made.row.regenerated + [Regeneration(seed=made.row.seed, reason=reason)])
            if again.attempt < MAX_ATTEMPTS:
                self.pending.append(again)
            else:
                self.fail(n, f"no seed in {MAX_ATTEMPTS} tries passed the originality guard")
            return
        folder = self.folder
        # Moving the finals and recording them is one step: Ctrl-C / SIGTERM wait for it, so the
        # manifest never lists a track whose files are not all in place (nor the other way round).
        with hold_signals():
            files = move_finals(made.work_files, folder, Path(made.sidecar))
            row = replace(made.row, status=DONE, error="", files=files, passages=made.passages,
                          file_checks={name: FileCheck(bytes=(folder / name).stat().st_size,
                                                       sha256=file_sha256(folder / name)) for name in files.values()})
            self.manifest.replace_row(row)
            write_manifest(folder, self.manifest)
        c, on = row.compliance, f" (on {where})" if where else ""
        self.progress.finished(self.label(n), f"{row.key} {row.mode}, {row.bpm:g} BPM, {c.lufs:.1f} LUFS, "
                                              f"{c.true_peak_dbtp:.1f} dBTP, compliance {'pass' if c.passed else 'FAIL'}"
                                              f"{on}")

    def fail(self, n: int, message: str, where: str = "") -> None:
        row = self.manifest.row(n)
        row.status, row.error = FAILED, message
        write_manifest(self.folder, self.manifest)
        self.progress.finished(self.label(n), f"FAILED: {message}" + (f" (on {where})" if where else ""), failed=True)


def run_batch(args) -> int:
    """The `batch` command: flags -> request -> release; prints a summary. Returns the exit code."""
    req = request_from_args(args)
    code, folder, manifest = produce_release(req)
    s, rel = manifest.summary, manifest.release
    print(f"release: {folder} ({rel.album} by {rel.artist}, seed {rel.seed})")
    print(f"  {s.done} of {s.tracks} tracks done, {s.failed} failed; compliance: {s.compliance_pass} pass")
    extras = ["cover.jpg", "manifest.json", "manifest.csv", "compliance.md"]
    if manifest.mix:
        extras += [manifest.mix.file, manifest.mix.tracklist]
    if req.video:
        extras += ["video/"] + (["mix.mp4", "youtube.txt"] if manifest.mix else [])
    elif req.mix_minutes:
        print("  mix: skipped until every track is done (run the same command again)")
    print("  " + ", ".join(extras))
    for r in manifest.tracks:
        if r.status != DONE:
            print(f"  track {r.track_number} ({r.title}): {r.status}: {r.error}", file=sys.stderr)
    return code
