"""Render-to-file speed: this project's in-process path against the seeds' path, on the same song.

    .venv/bin/python scripts/bench_render_vs_seeds.py --minutes 3 --runs 3

Ours: render_song (FluidSynth in process, into numpy) -> mix_track (lo-fi chain, pydub layers) ->
master (-14 LUFS, -1 dBTP) -> export_track (16-bit WAV with tags).
Seeds': one `fluidsynth -ni -F part.wav` command per part (written MIDI files in, WAV files out),
then pydub reads the WAVs, overlays them with the beat and ambience, and exports the WAV. The
seeds' path does less work (no lo-fi chain, no mastering), so the comparison favours it.
Needs the `fluidsynth` command for the seeds' side: `sudo apt-get install fluidsynth`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SAMPLE_RATE = 44100


def make_song(minutes: float, seed: int):
    from app.music.compose import compose_song, load_models

    return compose_song(load_models(), key=9, mode="minor", bpm=80, minutes=minutes, seed=seed)


def ours(song, instruments, beat_effect, ambience_effect, out: Path) -> float:
    from app.audio.loops import ambience_track, beat_track
    from app.audio.fx import lofi_chain
    from app.audio.master import master
    from app.deliver.export import export_track
    from app.audio.mix import mix_track
    from app.audio.render import render_song

    t0 = time.perf_counter()
    stems = render_song(song, instruments, seed=1)
    n = next(iter(stems.values())).shape[1]
    beat = beat_track(beat_effect, song.tempo_bpm, n, SAMPLE_RATE)
    amb = ambience_track(ambience_effect, n, SAMPLE_RATE)
    mixed = mix_track(stems, beat=beat, ambience=[(amb, -24.0)], chain=lofi_chain("default"), bpm=song.tempo_bpm)
    export_track(master(mixed, SAMPLE_RATE).audio, SAMPLE_RATE, out / "ours", ("wav",), {"title": "bench"})
    return time.perf_counter() - t0


def seeds(song, instruments, beat_effect, ambience_effect, out: Path) -> float:
    from pydub import AudioSegment

    from app.music.midi_io import write_part_midis

    t0 = time.perf_counter()
    wavs = []
    for midi in write_part_midis(song, lambda part: out / f"seed_{part}.mid"):
        part = midi.stem.split("_", 1)[1]
        inst = instruments[part]
        # The seeds chose the instrument by editing the MIDI program; here the CLI plays bank:program
        # through a one-line command file, the closest faithful equivalent.
        cmds = out / f"seed_{part}.txt"
        cmds.write_text(f"select 0 1 {inst.bank} {inst.program}\n")
        wav = out / f"seed_{part}.wav"
        subprocess.run(["fluidsynth", "-ni", "-q", "-f", str(cmds), "-F", str(wav), "-r", str(SAMPLE_RATE),
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("fluidsynth"):
        print("the seeds' path needs the fluidsynth command: sudo apt-get install fluidsynth", file=sys.stderr)
        return 1
    from app.audio.loops import discover_effects, find_effect
    from app.audio.instruments import default_instrument

    song = make_song(args.minutes, seed=3)
    instruments = {p: default_instrument(p) for p in ("melody", "chords", "bass")}
    effects, _ = discover_effects()
    beat, amb = find_effect("boombap_80bpm", "beat", effects), find_effect("vinyl_crackle", "ambience", effects)
    with tempfile.TemporaryDirectory() as tmp:
        ours(song, instruments, beat, amb, Path(tmp))  # warm-up: imports, file caches
        seeds(song, instruments, beat, amb, Path(tmp))
        a, b = [], []
        for _ in range(args.runs):  # interleaved, so a drift in the machine's load hits both alike
            a.append(ours(song, instruments, beat, amb, Path(tmp)))
            b.append(seeds(song, instruments, beat, amb, Path(tmp)))
    mo, ms = statistics.median(a), statistics.median(b)
    print(f"song: {song.length_seconds:.1f} s at {song.tempo_bpm:g} BPM, {sum(len(p.notes) for p in song.parts.values())} notes")
    print(f"ours  (in-process render, lo-fi chain, master, WAV): median {mo:.2f} s  runs {', '.join(f'{x:.2f}' for x in a)}")
    print(f"seeds (fluidsynth CLI per part, pydub overlay, WAV):  median {ms:.2f} s  runs {', '.join(f'{x:.2f}' for x in b)}")
    print(f"speed-up: {ms / mo:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
