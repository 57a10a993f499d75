"""The mix's figures over N generated tracks: per-part loudness in section A against its window, the
master's spectral balance, loudness and true peak.

    python -m app.main evaluate --mix --count 5 --minutes 1 --lofi-preset default [--json]

Each track is made as generate_music makes it (compose, render, mix, master_song), in memory; nothing
is written.
"""

from __future__ import annotations

import math

import numpy as np

from app.config import CEILING_DBTP, SAMPLE_RATE, TARGET_LUFS

# figure -> (low, high) window the mix aims for (issue 14); None: reported only.
MIX_TARGETS: dict[str, tuple[float, float] | None] = {
    "melody_vs_chords": (-4.0, 1.0),
    "bass_vs_chords": (-8.0, -2.0),
    "bass_sub_vs_chords": (-math.inf, -2.0),
    "drums_vs_music": (-3.0, 1.0),
    "backbeat_vs_music": (-3.0, 1.0),
    "ambience_vs_mix": None,
    "room_vs_mix": None,
    "rolloff_hz": (1200.0, 6000.0),
    "share_above_1k": (0.04, 0.25),
    "lufs": (TARGET_LUFS - 0.5, TARGET_LUFS + 0.5),
    "true_peak_dbtp": (-math.inf, CEILING_DBTP),
    "tilt_db": None,
}


def premaster_mix(seed: int, minutes: float, preset: str = "default", models=None):
    """The pre-master mix (a MixedSong) of one track made from seed with defaults for everything
    else, as generate_music makes it (compose, render, mix), in memory."""
    from app import pipeline
    from app.choices import resolve_choices
    from app.spec import TrackSpec

    spec = TrackSpec(name=f"mix{seed}", minutes=minutes, seed=seed, lofi_preset=preset, picture=False).validate()
    choices = resolve_choices(spec)
    song = pipeline.compose(spec, choices, models)
    return pipeline.mix(song, pipeline.render(song, spec, choices), spec, choices)


def track_mix_figures(seed: int, minutes: float, preset: str = "default", models=None) -> dict:
    """The mix figures of one track made from seed (defaults for everything else)."""
    from app.audio.master import master_song, spectral_balance

    mixed = premaster_mix(seed, minutes, preset, models)
    levels = dict(mixed.levels)
    done, tilt = master_song(mixed.audio, SAMPLE_RATE, preset)
    figures = {key: levels.get(key) for key in ("melody_vs_chords", "bass_vs_chords", "bass_sub_vs_chords",
                                               "drums_vs_music", "backbeat_vs_music")}
    for layer in ("ambience", "room"):
        if levels.get(layer) is not None and levels.get("mix") is not None:
            figures[f"{layer}_vs_mix"] = round(levels[layer] - levels["mix"], 1)
    balance = spectral_balance(done.audio, SAMPLE_RATE)
    figures.update(rolloff_hz=round(balance["rolloff_hz"]), share_above_1k=round(balance["share_above_1k"], 4),
                   lufs=round(done.lufs, 2), true_peak_dbtp=round(done.true_peak_dbtp, 2), tilt_db=tilt)
    return {"seed": seed, "figures": figures, "levels": levels}


def evaluate_mix(count: int = 5, minutes: float = 1.0, seed: int = 0, preset: str = "default", models=None) -> dict:
    """track_mix_figures for seeds seed..seed+count-1, and per figure its mean, range and how many
    tracks sit in its window: {'tracks': [...], 'summary': {figure: {...}}, 'count', 'minutes', 'preset'}."""
    from app.music.compose import load_models

    models = models or load_models()
    tracks = [track_mix_figures(seed + i, minutes, preset, models) for i in range(count)]
    summary = {}
    for figure, window in MIX_TARGETS.items():
        values = [t["figures"][figure] for t in tracks if t["figures"].get(figure) is not None]
        if not values:
            continue
        entry = {"mean": round(float(np.mean(values)), 3), "min": min(values), "max": max(values), "n": len(values)}
        if window is not None:
            entry["window"] = [None if math.isinf(v) else v for v in window]
            entry["in_window"] = sum(window[0] <= v <= window[1] for v in values)
        summary[figure] = entry
    return {"count": count, "minutes": minutes, "preset": preset, "seed": seed, "summary": summary, "tracks": tracks}


def format_mix_report(report: dict) -> str:
    """The summary as a table: figure, mean, range, window, tracks in it."""
    lines = [f"{report['count']} tracks of {report['minutes']:g} min, preset {report['preset']}, "
             f"seeds {report['seed']}..{report['seed'] + report['count'] - 1} (section A; master)",
             f"{'figure':<20}{'mean':>9}{'min':>9}{'max':>9}   window        in window"]
    for figure, entry in report["summary"].items():
        window = entry.get("window")
        if window is None:
            shown = "-"
        else:
            shown = f"<= {window[1]:g}" if window[0] is None else f"{window[0]:g}..{window[1]:g}"
        inside = f"{entry['in_window']}/{entry['n']}" if "in_window" in entry else ""
        numbers = "".join(f"{_shown(entry[k]):>9}" for k in ("mean", "min", "max"))
        lines.append(f"{figure:<20}{numbers}   {shown:<13} {inside}")
    return "\n".join(lines)


def _shown(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
