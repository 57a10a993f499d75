"""`python -m app.main bench`: where the time goes for one track.

    python -m app.main bench --minutes 3 --runs 3 --json
    python -m app.main bench --minutes 3 --runs 3 --long      # also a 20-minute track's time and memory

Measures start-up (`--help` as a process), model load, every stage of a track (compose, render,
mix, master, export), the whole `generate_music --yes` process (wall time, realtime factor, peak
memory) and training throughput (tokens/s over a fixed number of steps). Medians of the runs. With
--long, one `generate_music --yes --minutes 20` process too: its wall time, its peak memory and its
time over the --minutes process's.

It also compares render-to-file with the seeds' path on one song, runs interleaved (ours, seeds, ours,
...) so a drift in the machine's load hits both alike: ours is what generate_music runs, render_song
-> mix_song (loudness staging, pump, room) -> master_song (lo-fi chain, tilt EQ, limiter) ->
export_track; the seeds' is one `fluidsynth -ni -F part.wav` command per
part, then pydub overlays the WAVs with the beat and ambience and exports the WAV (less work: no lo-fi
chain, no mastering). Skipped, with the reason, where the `fluidsynth` command is not installed.
scripts/bench_render_vs_seeds.py runs only this comparison.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

LONG_MINUTES = 20.0  # the longest track generate_music makes: memory must not grow with length


def add_bench_parser(sub) -> None:
    from app.spec import RANGES, number_arg, whole_arg

    p = sub.add_parser("bench", help="time every stage of a track, the whole process, and training throughput")
    p.add_argument("--minutes", type=number_arg(*RANGES["minutes"]), default=3.0)
    p.add_argument("--runs", type=whole_arg(1, 50), default=3)
    p.add_argument("--train-steps", type=whole_arg(1, 10000), default=20,
                   help="optimiser steps for the throughput figure")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--long", action="store_true",
                   help=f"also make one {LONG_MINUTES:g}-minute track: its time, peak memory and time ratio")

    def run(args):
        from app.files import json_text
        from app.spec import check_range

        check_range("minutes", args.minutes, *RANGES["minutes"])
        check_range("runs", args.runs, 1, 50)
        check_range("train steps", args.train_steps, 1, 10000)
        report = run_bench(args.minutes, args.runs, args.train_steps, long=args.long)
        print(json_text(report, "bench report").rstrip("\n") if args.json else format_bench(report))
        return 0

    p.set_defaults(func=run)


def machine_is_busy(max_load: float) -> bool:
    """Print the 1-minute load average; True when it is at or above max_load (wall times taken now
    would be too long: the benchmark scripts refuse or warn)."""
    load = os.getloadavg()[0]
    print(f"load average (1 min): {load:.2f}, {os.cpu_count()} CPUs")
    return load >= max_load


def cpu_model() -> str:
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# Linux counts in a child's ru_maxrss the high-water mark of the memory it was spawned from (exec
# records the old map's peak, and subprocess spawns with vfork, sharing the parent's map), so a
# child of this process, which holds about a gigabyte after its in-process tracks, would report that
# gigabyte as its own peak. Each timed process is therefore started by this small launcher, which
# times it and reads its rusage; the launcher's own few megabytes are all the child inherits.
_LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(json.dumps({"wall_s": time.perf_counter() - start, "exit": os.waitstatus_to_exitcode(status),
                  "maxrss_kib": usage.ru_maxrss}))
"""


def _process(args: list[str], env: dict) -> tuple[float, float]:
    """Run `python -m app.main ARGS` -> (wall seconds, peak RSS MiB of that process alone), through
    _LAUNCHER (whose start-up is not in the wall time). RuntimeError with its stderr if it fails."""
    import json
    import subprocess

    from app import paths

    launched = subprocess.run([sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "app.main", *args],
                              cwd=paths.ROOT, env=env, capture_output=True, stdin=subprocess.DEVNULL)
    try:
        result = json.loads(launched.stdout.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        result = {"exit": launched.returncode}
    if launched.returncode != 0 or result["exit"] != 0:
        raise RuntimeError(f"`{' '.join(args)}` failed: {launched.stderr.decode(errors='replace')[-400:]}")
    return result["wall_s"], result["maxrss_kib"] / 1024


def run_bench(minutes: float = 3.0, runs: int = 3, train_steps: int = 20, long: bool = False) -> dict:
    """Measure everything; returns a dict of medians (seconds unless named otherwise). long: also
    one LONG_MINUTES track process ('long': its seconds, peak MiB and ratio to the --minutes one)."""
    import platform
    import statistics
    import tempfile

    from app.music.compose import load_models
    from app.deliver.names import OutputDirs
    from app.pipeline import run_track
    from app.spec import TrackSpec

    stages: dict[str, list[float]] = {}
    loads, tracks, rss, startups = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="lofi-bench-") as tmp:
        env = {**os.environ, "LOFI_OUTPUT_DIR": tmp}
        for _ in range(runs):
            startups.append(_process(["--help"], env)[0])
        for i in range(runs):
            t0 = time.perf_counter()
            models = load_models()
            loads.append(time.perf_counter() - t0)
            spec = TrackSpec(name=f"bench{i}", minutes=minutes, seed=1000 + i, picture=False)
            result = run_track(spec, models=models, dirs=OutputDirs.under(Path(tmp) / "inproc"))
            for stage, seconds in result.sidecar["timings_s"].items():
                stages.setdefault(stage, []).append(seconds)
            audio_s = result.sidecar["duration_s"]
        for i in range(runs):
            wall, peak = _process(["generate_music", "--yes", "--minutes", f"{minutes:g}", "--seed", str(2000 + i),
                                   "--name", f"proc{i}"], env)
            tracks.append(wall)
            rss.append(peak)
        if long:
            long_s, long_peak = _process(["generate_music", "--yes", "--minutes", f"{LONG_MINUTES:g}", "--seed", "3000",
                                          "--name", "long"], env)
    seeds_path = compare_with_seeds(minutes, runs)
    median = lambda xs: round(statistics.median(xs), 3)  # noqa: E731
    whole = median(tracks)
    return {
        "machine": {"cores": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version()},
        "minutes": minutes, "runs": runs,
        "startup_s": median(startups),
        "model_load_s": median(loads),
        "stages_s": {k: median(v) for k, v in stages.items()},
        "render_to_file_s": round(sum(median(stages[k]) for k in ("render", "mix", "master", "export") if k in stages), 3),
        "track_process_s": whole,
        "realtime_factor": round(audio_s / whole, 1),
        "peak_memory_mib": round(max(rss)),
        **({"long": {"minutes": LONG_MINUTES, "track_process_s": round(long_s, 3), "peak_memory_mib": round(long_peak),
                     "ratio_to_short": round(long_s / whole, 2)}} if long else {}),
        "vs_seeds": seeds_path,
        "training_tokens_per_s": training_throughput(train_steps),
    }


# The comparison's fixed song and effects (the script's since the first BENCHMARKS table).
SEEDS_SONG = {"key": 9, "mode": "minor", "bpm": 80, "seed": 3}
SEEDS_BEAT, SEEDS_AMBIENCE = "boombap_80bpm", "vinyl_crackle"


def compare_with_seeds(minutes: float, runs: int) -> dict:
    """Render-to-file of one song, ours against the seeds' path, interleaved after one warm-up each.
    Returns {"ours_s", "seeds_s" (medians), "speedup", "ours_runs", "seeds_runs"}, or {"skipped": why}."""
    import shutil
    import statistics
    import tempfile

    if not shutil.which("fluidsynth"):
        return {"skipped": "the seeds' path needs the fluidsynth command (sudo apt-get install fluidsynth)"}
    from app.audio.instruments import default_instrument
    from app.audio.loops import discover_effects, find_effect
    from app.music.compose import compose_song, load_models

    song = compose_song(load_models(), minutes=minutes, **SEEDS_SONG)
    instruments = {p: default_instrument(p) for p in ("melody", "chords", "bass")}
    effects, _ = discover_effects()
    beat, ambience = find_effect(SEEDS_BEAT, "beat", effects), find_effect(SEEDS_AMBIENCE, "ambience", effects)
    ours, seeds = [], []
    with tempfile.TemporaryDirectory(prefix="lofi-seeds-") as tmp:
        out = Path(tmp)
        render_to_file_ours(song, instruments, beat, ambience, out)  # warm-up: imports, file caches
        render_to_file_seeds(song, instruments, beat, ambience, out)
        for _ in range(runs):
            ours.append(render_to_file_ours(song, instruments, beat, ambience, out))
            seeds.append(render_to_file_seeds(song, instruments, beat, ambience, out))
    ours_s, seeds_s = statistics.median(ours), statistics.median(seeds)
    return {"song_s": round(song.length_seconds, 1), "ours_s": round(ours_s, 3), "seeds_s": round(seeds_s, 3),
            "speedup": round(seeds_s / ours_s, 2), "ours_runs": [round(x, 3) for x in ours],
            "seeds_runs": [round(x, 3) for x in seeds]}


def render_to_file_ours(song, instruments, beat_effect, ambience_effect, out: Path) -> float:
    """Seconds for our path, as generate_music runs it: render_song (parts spilled to disk as the
    pipeline does) -> mix_song (loudness staging, pump, room) -> master_song (the preset's chain, the
    tilt EQ, the limiter) -> the 16-bit WAV."""
    from app.audio.master import master_song
    from app.audio.mix import mix_song
    from app.audio.render import render_song
    from app.config import SAMPLE_RATE, TAIL_S
    from app.deliver.export import export_track

    t0 = time.perf_counter()
    stems = render_song(song, instruments, seed=1, sample_rate=SAMPLE_RATE, tail_s=TAIL_S, spill=True)
    mixed = mix_song(song, stems, beat=beat_effect, ambience=[(ambience_effect, -24.0)], preset="default",
                     sample_rate=SAMPLE_RATE, release=True)  # each stem freed once mixed, as the pipeline does
    mastered, _ = master_song(mixed.audio, SAMPLE_RATE, "default")
    export_track(mastered.audio, SAMPLE_RATE, out / "ours", ("wav",), {"title": "bench"})
    _ = mixed.levels  # waits for the section's figures, measured while the master ran: their time counts too
    return time.perf_counter() - t0


def render_to_file_seeds(song, instruments, beat_effect, ambience_effect, out: Path) -> float:
    """Seconds for the seeds' path: the fluidsynth command per part (MIDI files in, WAVs out), then
    pydub overlays them with the beat and the ambience (looped) and exports the WAV."""
    import subprocess

    from pydub import AudioSegment

    from app.config import SAMPLE_RATE
    from app.music.midi_io import write_part_midis

    t0 = time.perf_counter()
    wavs = []
    for midi in write_part_midis(song, lambda part: out / f"seed_{part}.mid"):
        part = midi.stem.split("_", 1)[1]
        inst = instruments[part]
        # The seeds chose the instrument by editing the MIDI program; here the CLI plays bank:program
        # through a one-line command file, the closest faithful equivalent.
        commands = out / f"seed_{part}.txt"
        commands.write_text(f"select 0 1 {inst.bank} {inst.program}\n")
        wav = out / f"seed_{part}.wav"
        subprocess.run(["fluidsynth", "-ni", "-q", "-f", str(commands), "-F", str(wav), "-r", str(SAMPLE_RATE),
                        "-g", "0.8", str(inst.sf2_path), str(midi)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        wavs.append(wav)
    track = AudioSegment.from_wav(wavs[0])
    for wav in wavs[1:]:
        track = track.overlay(AudioSegment.from_wav(wav))
    beat = AudioSegment.from_wav(beat_effect.path) - 4
    amb = AudioSegment.from_wav(ambience_effect.path) - 24
    track = track.overlay(beat, loop=True).overlay(amb, loop=True)
    track.export(out / "seeds.wav", format="wav")
    return time.perf_counter() - t0


def format_seeds(r: dict) -> str:
    """One line for the comparison (or why it was skipped)."""
    if "skipped" in r:
        return f"{'vs the seeds path':<28}skipped: {r['skipped']}"
    return (f"{'vs the seeds path':<28}ours {r['ours_s']:.3f} s, seeds {r['seeds_s']:.3f} s: {r['speedup']}x "
            f"(render to file, {r['song_s']:g} s song, interleaved medians)")


def training_throughput(steps: int = 20, batch_size: int = 32, window: int = 64) -> dict:
    """Tokens per second of both models' training steps on batches shaped like the real ones."""
    import torch

    from app.learn import encoding
    from app.learn.train import batch_losses, new_model

    v = encoding.VOCAB
    g = torch.Generator().manual_seed(0)
    out = {}
    for kind in ("chord", "melody"):
        model = new_model(kind)
        if kind == "melody":
            highs = [v.note, v.duration, v.velocity, v.chord, v.position, v.mode, v.note, v.duration, v.velocity]
        else:
            highs = [v.chord_symbol, v.chord_duration, v.position, v.mode, v.chord_symbol, v.chord_duration]
        batch = torch.stack([torch.randint(1 if i in (0, 1, 2) else 0, h, (batch_size, window), generator=g)
                             for i, h in enumerate(highs)], dim=-1)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        model.train()
        for step in range(steps + 2):  # two warm-up steps
            if step == 2:
                t0 = time.perf_counter()
            loss = sum(batch_losses(model, batch, kind).values())
            opt.zero_grad()
            loss.backward()
            opt.step()
        out[kind] = round(steps * batch_size * window / (time.perf_counter() - t0))
    return out


def format_bench(r: dict) -> str:
    m = r["machine"]
    lines = [f"{m['cpu']} ({m['cores']} cores), Python {m['python']}; {r['minutes']:g}-minute track, median of {r['runs']}",
             f"{'start-up (--help)':<28}{r['startup_s']:>8.3f} s",
             f"{'model load':<28}{r['model_load_s']:>8.3f} s"]
    for stage, s in r["stages_s"].items():
        lines.append(f"{stage:<28}{s:>8.3f} s")
    lines += [f"{'render+mix+master+export':<28}{r['render_to_file_s']:>8.3f} s",
              f"{'whole generate_music --yes':<28}{r['track_process_s']:>8.3f} s  ({r['realtime_factor']}x realtime)",
              f"{'peak memory (process)':<28}{r['peak_memory_mib']:>8d} MiB",
              *([f"{'%g-minute track (process)' % r['long']['minutes']:<28}{r['long']['track_process_s']:>8.3f} s  "
                 f"({r['long']['ratio_to_short']}x the {r['minutes']:g}-minute one), peak memory "
                 f"{r['long']['peak_memory_mib']} MiB"] if "long" in r else []),
              format_seeds(r["vs_seeds"]),
              f"{'training tokens/s':<28}" + ", ".join(f"{k} {v}" for k, v in r["training_tokens_per_s"].items())]
    return "\n".join(lines)
