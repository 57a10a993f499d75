"""Pictures with matplotlib: a track's piano roll and loudness, and training loss curves.

This module imports matplotlib (Figure and the Agg canvas, never pyplot) at the top: import it
inside the functions that draw, as app.pipeline and app.main do, so the CLI starts instantly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PART_COLOURS = {"melody": "#e4572e", "chords": "#4c72b0", "bass": "#55a868"}
SECTION_COLOURS = {"intro": "#eeeeee", "groove": "#e8f0fb", "A": "#fdf1e6", "B": "#f3e8fb",
                   "breakdown": "#e9f6ec", "outro": "#eeeeee"}


def _figure(figsize):
    """A bare matplotlib Figure drawn by Agg: no pyplot, so no GUI backend is looked for or imported."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> Path:
    from app.files import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path


def _label(ax, title: str, xlabel: str, ylabel: str, ylim=None, grid: bool = True) -> None:
    """Title, axis labels, legend (and optional limits and grid) for one chart."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=8)
    if grid:
        ax.grid(alpha=0.3)


def short_term_loudness(audio: np.ndarray, sample_rate: int, window_s: float = 3.0, hop_s: float = 1.0):
    """(times_s, LUFS) every hop_s over windows of window_s (EBU short-term loudness, K-weighted)."""
    from app.audio.master import k_weighted

    win, hop = int(window_s * sample_rate), int(hop_s * sample_rate)
    weighted = k_weighted(audio, sample_rate)
    power = np.einsum("cn,cn->n", weighted, weighted, dtype=np.float64)  # summed over channels
    csum = np.concatenate([[0.0], np.cumsum(power)])
    starts = np.arange(0, max(1, len(power) - win + 1), hop)
    ends = np.minimum(starts + win, len(power))
    mean_square = (csum[ends] - csum[starts]) / np.maximum(1, ends - starts)
    times = (starts + (ends - starts) / 2) / sample_rate
    return times, -0.691 + 10 * np.log10(np.maximum(mean_square, 1e-12))


# The track picture is drawn at 11.6 x 8.4 inches and 110 dpi: 1276 px wide, readable at 1280.
TRACK_FIGSIZE = (11.6, 8.4)
LANE_RANGE_LUFS = (-50.0, -10.0)  # the loudness lanes' colour scale
LABEL_CHAR_PX = 6.5  # about one character of the 8-point section labels


def _section_label_rows(song, axes_px: float) -> list[int]:
    """A row (0 or 1) for each section's label: a label that would run into the one before it (its
    section narrower than the label) goes on the other row, so 'breakdown' and the next 'A' never
    print as 'breakdowAn'."""
    total_beats = max(song.sections[-1].end if song.sections else 1.0, 1e-3)
    rows: list[int] = []
    for i, section in enumerate(song.sections):
        if i == 0:
            rows.append(0)
            continue
        previous = song.sections[i - 1]
        width_px = (previous.end - previous.start) / total_beats * axes_px
        label_px = (len(previous.name) + 1.5) * LABEL_CHAR_PX
        rows.append(1 - rows[-1] if width_px < label_px else 0)
    return rows


def track_picture(song, audio: np.ndarray, sample_rate: int, facts: dict, path: Path, loudness=None,
                  lanes: dict | None = None) -> Path:
    """Piano roll of melody, chords and bass with sections marked, loudness over time, per-part
    loudness lanes, key facts and the mix's levels in section A.

    loudness: (times_s, LUFS) short-term curve when already known (master's Mastered.short_term_lufs);
    otherwise it is measured from audio. lanes: layer name -> (times_s, LUFS) short-term curves of
    the mix's layers (none: no lanes). facts may hold 'levels' (the sidecar's per-part loudness).
    """
    fig = _figure(TRACK_FIGSIZE)
    grid = fig.add_gridspec(3, 4, height_ratios=[3, 1.1, 1.3], hspace=0.55, wspace=0.35,
                            left=0.06, right=0.98, top=0.93, bottom=0.07)
    roll = fig.add_subplot(grid[0, :3])
    spb = 60.0 / song.tempo_bpm
    axes_px = TRACK_FIGSIZE[0] * 110 * 0.68  # the roll's width in pixels, about
    for s, row in zip(song.sections, _section_label_rows(song, axes_px)):
        roll.axvspan(s.start * spb, s.end * spb, color=SECTION_COLOURS.get(s.name, "#f4f4f4"), zorder=0)
        roll.text((s.start + 0.3) * spb, 1.0 + 0.055 * row, s.name, transform=roll.get_xaxis_transform(),
                  va="bottom", fontsize=8, color="#555555", clip_on=False)
    for name in ("chords", "bass", "melody"):
        part = song.parts.get(name)
        if not part or not part.notes:
            continue
        # One bar collection per pitch row: thousands of separate rectangles would be slow to draw.
        rows: dict[int, list[tuple[float, float]]] = {}
        for n in part.notes:
            rows.setdefault(n.pitch, []).append((n.start * spb, n.duration * spb))
        for pitch, spans in rows.items():
            roll.broken_barh(spans, (pitch - 0.4, 0.8), facecolors=PART_COLOURS[name],
                             alpha=0.9 if name == "melody" else 0.6)
        roll.plot([], [], color=PART_COLOURS[name], linewidth=6, label=name)  # legend entry
    roll.set_title(f"{facts.get('name', 'track')}: piano roll", pad=24)
    roll.set_xlabel("time (s)")
    roll.set_ylabel("MIDI pitch")
    roll.legend(loc="upper right", fontsize=8)
    end_s = audio.shape[1] / sample_rate
    roll.set_xlim(0, max(end_s, song.length_seconds, 1e-3))  # the same time axis as the lanes below

    info = fig.add_subplot(grid[0, 3])
    info.axis("off")
    lines = [("key", f"{facts.get('key')} {facts.get('mode')}"), ("BPM", f"{facts.get('bpm', 0):g}"),
             ("length", f"{facts.get('duration_s', 0):.1f} s"), ("loudness", f"{facts.get('lufs', 0):.1f} LUFS"),
             ("true peak", f"{facts.get('true_peak_dbtp', 0):.1f} dBTP"), ("seed", str(facts.get("seed")))]
    for part, inst in (facts.get("instruments") or {}).items():
        lines.append((part, inst.get("name", "")))
    beat = facts.get("beat")
    lines.append(("beat", beat["name"] if beat else "none"))
    for amb in facts.get("ambience") or []:
        lines.append(("ambience", f"{amb['name']} {amb['level_db']:g} dB"))
    preset = (facts.get("spec") or {}).get("lofi_preset")
    if preset:
        lines.append(("sound", preset))
    info.set_title("key facts")
    for i, (k, v) in enumerate(lines):
        info.text(0.0, 1 - i * 0.075, f"{k}:", fontsize=9, weight="bold", transform=info.transAxes, va="top")
        info.text(0.38, 1 - i * 0.075, str(v)[:28], fontsize=9, transform=info.transAxes, va="top")

    loud = fig.add_subplot(grid[1, :3])
    t, lufs = loudness if loudness is not None else short_term_loudness(audio, sample_rate)
    loud.plot(t, lufs, color="#333333", label="short-term (3 s)")
    if "lufs" in facts:
        loud.axhline(facts["lufs"], color="#e4572e", linestyle="--", label=f"integrated {facts['lufs']:.1f} LUFS")
    loud.set_xlim(0, end_s)
    loud.set_ylim(max(-60, float(np.min(lufs)) - 3 if len(lufs) else -60), 0)
    _label(loud, "master loudness over time", "", "LUFS", grid=False)
    loud.legend(fontsize=8, loc="lower center", ncol=2)
    if lanes:
        _loudness_lanes(fig.add_subplot(grid[2, :3]), lanes, end_s)
    _levels_table(fig.add_subplot(grid[1:, 3]), facts.get("levels") or {})
    return _save(fig, Path(path))


def _loudness_lanes(ax, lanes: dict, end_s: float) -> None:
    """One lane per layer, coloured by its short-term loudness (LUFS) over time."""
    names = list(lanes)
    times = max((lanes[name][0] for name in names), key=len)
    grid = np.full((len(names), len(times)), np.nan)
    for row, name in enumerate(names):
        values = np.asarray(lanes[name][1], dtype=float)
        values = np.where(values < LANE_RANGE_LUFS[0] - 20, np.nan, values)  # silence: blank
        grid[row, : min(len(times), values.size)] = values[: len(times)]
    edges = np.concatenate([[0.0], (times[1:] + times[:-1]) / 2, [end_s]]) if len(times) > 1 else np.array([0.0, end_s])
    image = ax.pcolormesh(edges, np.arange(len(names) + 1), grid, cmap="magma", vmin=LANE_RANGE_LUFS[0],
                          vmax=LANE_RANGE_LUFS[1], shading="flat")
    ax.set_yticks(np.arange(len(names)) + 0.5, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, end_s)
    ax.set_xlabel("time (s)")
    ax.set_title("per-part loudness (short-term, before mastering)", fontsize=10)
    bar = ax.figure.colorbar(image, cax=ax.inset_axes([1.01, 0.0, 0.012, 1.0]))  # the lanes keep the roll's width
    bar.set_label("LUFS", fontsize=8)
    bar.ax.tick_params(labelsize=7)


def _levels_table(ax, levels: dict) -> None:
    """The mix's per-part loudness in section A (the sidecar's 'levels') as a small table."""
    ax.axis("off")
    ax.set_title("mix levels, section A")
    names = {"melody_vs_chords": "melody - chords", "bass_vs_chords": "bass - chords (100 Hz+)",
             "drums_vs_music": "drums - music", "backbeat_vs_music": "snare/hats - music"}
    rows = [(name, f"{value:.1f} LUFS") for name, value in levels.items()
            if value is not None and not name.endswith(("_vs_chords", "_vs_music", "_up"))]
    rows += [(label, f"{levels[key]:+.1f} LU") for key, label in names.items() if levels.get(key) is not None]
    if not rows:
        ax.text(0.0, 1.0, "not measured", fontsize=9, transform=ax.transAxes, va="top")
    step = min(0.075, 1.0 / max(len(rows), 1))
    for i, (k, v) in enumerate(rows):
        ax.text(0.0, 1 - i * step, k, fontsize=8.5, transform=ax.transAxes, va="top")
        ax.text(0.98, 1 - i * step, v, fontsize=8.5, transform=ax.transAxes, va="top", ha="right")


def plot_loss_curves(history: list[dict], path: Path, kind: str) -> Path:
    """Training and validation loss per epoch, with every head's validation loss."""
    fig = _figure((8, 4.5))
    ax = fig.subplots()
    epochs = [h["epoch"] + 1 for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], label="train (all heads)", color="#333333")
    ax.plot(epochs, [h["val_loss"] for h in history], label="validation (all heads)", color="#e4572e")
    for key in sorted(k for k in history[0] if k.startswith("val_") and k != "val_loss"):
        ax.plot(epochs, [h[key] for h in history], linestyle="--", label=f"validation {key[4:]}")
    _label(ax, f"{kind} LSTM: loss per epoch", "epoch", "cross-entropy (nats)")
    return _save(fig, Path(path))


def evaluation_plots(generated: list[list[int]], corpus: list[list[int]], report: dict, out_dir: Path,
                     keys: tuple[list[int], list[int]] | None = None) -> list[Path]:
    """PNGs comparing generated melodies with the training melodies (pitch lists).

    repetitiveness.png: the repetitiveness curve over note index (mean over melodies);
    copied_ngrams.png: share of n-note windows (as intervals) found in the corpus, n = 4..20;
    pitch_classes.png: pitch-class histograms relative to the tonic (keys: tonic per melody);
    figures.png: the four musical figures, generated beside corpus.
    """
    from app.report.metrics import interval_windows, repetitiveness

    out_dir = Path(out_dir)
    written = []

    fig = _figure((8, 4.5))
    ax = fig.subplots()
    for label, melodies, colour in (("generated", generated, "#e4572e"), ("training melodies", corpus, "#4c72b0")):
        curves = [repetitiveness(m) for m in melodies if len(m) >= 20]
        if curves:
            length = min(200, max(len(c) for c in curves))
            mean = [np.mean([c[i] for c in curves if len(c) > i]) for i in range(length)]
            ax.plot(np.arange(20, 20 + length), mean, label=label, color=colour)
    _label(ax, "Repetitiveness over time (share of notes t-10..t found in t-20..t-10)", "note index t",
           "repetitiveness", (0, 1))
    written.append(_save(fig, out_dir / "repetitiveness.png"))

    fig = _figure((8, 4.5))
    ax = fig.subplots()
    ns = list(range(4, 21))
    shares = []
    for n in ns:
        train = set()
        for m in corpus:
            train.update(interval_windows(m, n))
        windows = [w for m in generated for w in interval_windows(m, n)]
        shares.append(sum(1 for w in windows if w in train) / max(1, len(windows)))
    ax.plot(ns, shares, marker="o", color="#e4572e", label="generated melodies")
    ax.axhline(0.02, color="#999999", linestyle="--", label="2% target at n = 16")
    _label(ax, "Copied n-note windows (intervals) found in the training melodies", "window length n (notes)",
           "share copied", (0, 1))
    written.append(_save(fig, out_dir / "copied_ngrams.png"))

    fig = _figure((8, 4.5))
    ax = fig.subplots()
    names = ["1", "b2", "2", "b3", "3", "4", "#4", "5", "b6", "6", "b7", "7"]
    width = 0.4
    for offset, (label, melodies, tonics, colour) in enumerate(
            (("generated", generated, keys[0] if keys else None, "#e4572e"),
             ("training melodies", corpus, keys[1] if keys else None, "#4c72b0"))):
        hist = np.zeros(12)
        for i, m in enumerate(melodies):
            tonic = tonics[i] if tonics else 0
            for p in m:
                hist[(p - tonic) % 12] += 1
        hist /= max(1, hist.sum())
        ax.bar(np.arange(12) + (offset - 0.5) * width, hist, width, label=label, color=colour)
    ax.set_xticks(range(12), names)
    _label(ax, "Pitch classes relative to the tonic", "scale degree", "share of notes", grid=False)
    written.append(_save(fig, out_dir / "pitch_classes.png"))

    fig = _figure((8, 4.5))
    ax = fig.subplots()
    figures = ["in_scale", "chord_tone_on_beats", "copied_16gram", "repetitiveness"]
    gen = [report[f]["generated"] for f in figures]
    cor = [report[f]["corpus"] or 0.0 for f in figures]
    x = np.arange(len(figures))
    ax.bar(x - 0.2, gen, 0.4, label="generated", color="#e4572e")
    ax.bar(x + 0.2, cor, 0.4, label="training melodies", color="#4c72b0")
    ax.set_xticks(x, figures)
    _label(ax, f"Musical figures ({report['songs']} songs of {report['minutes']:g} min)", "figure", "share",
           (0, 1.05), grid=False)
    written.append(_save(fig, out_dir / "figures.png"))
    return written
