"""Per-part loudness of the generated drums against the music, in section A (issue 17: the drums
must be heard but not swamp the music). For each seed and kit, composes and renders a track, levels
the music bus and the drum layer as mix_track does (bus at -18 dBFS RMS, drums DRUM_GAIN_DB re it)
and prints both LUFS over the first A section.

    .venv/bin/python scripts/drum_loudness.py --kits Jazz,Brush,Standard --seeds 7,11,23 --minutes 1.5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    from app.audio.drum_bus import DRUM_GAIN_DB
    from app.audio.fx import lofi_chain
    from app.audio.master import loudness_lufs
    from app.audio.mix import MUSIC_BUS_RMS_DBFS, _layer_gain, _rms, split_drums, sum_stems
    from app.audio.render import render_song
    from app.choices import resolve_choices
    from app.config import SAMPLE_RATE, TAIL_S
    from app.music.compose import load_models
    from app.pipeline import compose
    from app.spec import TrackSpec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kits", default="Jazz")
    parser.add_argument("--seeds", default="7,11,23")
    parser.add_argument("--minutes", type=float, default=1.5)
    args = parser.parse_args()
    models = load_models()
    for seed in (int(s) for s in args.seeds.split(",")):
        for kit in args.kits.split(","):
            spec = TrackSpec(minutes=args.minutes, seed=seed, drum_kit=kit, ambience=[]).validate()
            choices = resolve_choices(spec)
            song = compose(spec, choices, models)
            stems = render_song(song, choices.instruments, swing=spec.swing, seed=seed, sample_rate=SAMPLE_RATE,
                                tail_s=TAIL_S)
            music, drums = split_drums(stems)
            bus = lofi_chain(spec.lofi_preset)(sum_stems(music), SAMPLE_RATE)
            target = 10 ** (MUSIC_BUS_RMS_DBFS / 20)
            bus *= target / _rms(bus)
            drums = drums * _layer_gain(drums, target, DRUM_GAIN_DB)
            samples_per_beat = 60 / song.tempo_bpm * SAMPLE_RATE
            a = next(s for s in song.sections if s.name == "A")
            lo, hi = int(a.start * samples_per_beat), int(a.end * samples_per_beat)
            d, m = loudness_lufs(drums[:, lo:hi], SAMPLE_RATE), loudness_lufs(bus[:, lo:hi], SAMPLE_RATE)
            print(f"seed {seed} {kit:<9} section A: drums {d:6.1f} LUFS, music {m:6.1f} LUFS, drums {d - m:+5.1f} LU",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
