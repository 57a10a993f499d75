"""Figures of generated drum parts beside the held-out validation grooves.

    python -m app.main evaluate --drums [--count 20 --minutes 2 --seed 0 --json]

Generated: `count` songs' section plans (app.music.compose.plan_sections, 70-90 BPM) drummed by
the shipped drum model. Validation: the Groove MIDI Dataset's validation beats and fills in
data/groove (never trained on). Per figure both values, and for histograms the Jensen-Shannon
distance (base 2: 0 same, 1 disjoint), and beside it the distance of the training grooves' own
histogram to the validation one (how far other real drummers already are):
- per voice: onset positions on the 16th grid, strokes per bar;
- velocity histogram (8-wide bins) and standard deviation;
- micro-timing: deviation from the 16th grid in ms (5 ms bins, clipped at +-60 ms);
- bars that differ from the bar before (as sets of (voice, 16th));
- fills: a section's last bar denser than the section's median bar or with a Jaccard distance of at
  least FILL_DISTANCE from its most common bar (validation: each fill file's bar against the beat
  it goes with);
- backbeat: groove bars with a kick on 1 and the snare on 2 and 4.
Generated histograms count the bars of the groove, A and B sections; the validation ones every bar
of the validation beats.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from app.learn import drum_encoding as de

VELOCITY_EDGES = np.arange(0, 129, 8)
TIMING_EDGES_MS = np.arange(-60, 61, 5)
MAX_STROKES_PER_BAR = 16
FILL_DISTANCE = 0.4
FULL_SECTIONS = ("groove", "A", "B")
TARGETS = {"js_distance": "<= 0.2", "bars_differing": ">= 0.5", "fills": ">= 0.8", "backbeat": ">= 0.9",
           "velocity_std": ">= 10"}


# --- bars ---------------------------------------------------------------------------------

def strokes_to_bars(strokes, bpm: float, bars: int | None = None) -> list[list[tuple]]:
    """(voice, onset in beats, velocity) -> bars of (voice, 16th in bar, velocity, deviation ms),
    each stroke on its nearest 16th; a bar starts every 4 beats from 0."""
    ms_per_16th = 60000.0 / bpm / de.STEPS_PER_BEAT
    out: dict[int, list] = {}
    for voice, beat, velocity in strokes:
        step = int(round(beat * de.STEPS_PER_BEAT))
        bar, position = divmod(step, de.STEPS_PER_BAR)
        out.setdefault(bar, []).append((voice, position, velocity, (beat * de.STEPS_PER_BEAT - step) * ms_per_16th))
    count = bars if bars is not None else (max(out) + 1 if out else 0)
    return [out.get(i, []) for i in range(count)]


def pattern(bar: list[tuple]) -> frozenset:
    return frozenset((s[0], s[1]) for s in bar)


def jaccard_distance(a: frozenset, b: frozenset) -> float:
    return 1.0 - len(a & b) / len(a | b) if a | b else 0.0


def is_fill(last: list[tuple], usual_bars: list[list[tuple]]) -> bool:
    """The last bar is denser than the median usual bar, or far from the most common one."""
    if not usual_bars:
        return False
    common = Counter(pattern(b) for b in usual_bars).most_common(1)[0][0]
    denser = len(last) > np.median([len(b) for b in usual_bars])
    return bool(denser or jaccard_distance(pattern(last), common) >= FILL_DISTANCE)


def has_backbeat(bar: list[tuple]) -> bool:
    hits = pattern(bar)
    return {(de.KICK, 0), (de.SNARE, 4), (de.SNARE, 12)} <= hits


# --- the two sides ------------------------------------------------------------------------

def generated_side(count: int, minutes: float, seed: int, temperature: float, model=None) -> dict:
    """Drum parts of `count` section plans -> the bars each figure counts."""
    from app import paths
    from app.learn.checkpoint import load_sampling_model
    from app.learn.drum_sample import sample_drums
    from app.music.compose import plan_sections
    from app.music.song import Section

    model = model or load_sampling_model(paths.DRUM_CHECKPOINT, "drum")
    rng = np.random.default_rng(seed)
    side = {"full_bars": [], "runs": [], "fills": [], "groove_bars": []}
    for i in range(count):
        bpm = int(rng.integers(70, 91))
        total_bars = max(1, int(round(minutes * bpm / 4)))
        sections, start = [], 0.0
        for name, bars in plan_sections(total_bars):
            sections.append(Section(name, start, bars * 4.0))
            start += bars * 4.0
        notes = sample_drums(model, sections, bpm, seed=seed + i, temperature=temperature)
        bars = strokes_to_bars([(de.GM_TO_VOICE[n.pitch], n.start, n.velocity) for n in notes], bpm,
                               int(start // 4))
        for index, section in enumerate(sections):
            first = int(section.start // 4)
            own = bars[first:first + int(section.duration // 4)]
            if section.name in FULL_SECTIONS:
                side["full_bars"] += own
                side["runs"].append(own)
                side["groove_bars"] += own[:-1] if index < len(sections) - 1 else own
            if index < len(sections) - 1 and len(own) > 1:
                side["fills"].append(is_fill(own[-1], own[:-1]))
        side.setdefault("bpm", []).append(bpm)
    return side


def validation_side(folder=None, split: str = "validation") -> dict:
    """The validation (or training) beats and fills of data/groove -> the bars each figure counts."""
    from app.learn import drum_corpus as dc

    every = dc.groove_files(folder or dc.GROOVE_DIR)
    side = {"full_bars": [], "runs": [], "fills": [], "groove_bars": []}
    for r in every:
        if r["split"] == split and r["beat_type"] == "beat":
            bars, grooves = _beat_bars(r)
            side["full_bars"] += bars
            side["runs"].append(bars)
            side["groove_bars"] += grooves
    for r in every:
        if r["split"] != split or r["beat_type"] != "fill":
            continue
        # The fill's reference groove: the same drummer's beat at the nearest tempo, the same
        # session first (the validation beats alone rarely share a fill's tempo).
        same = [b for b in every if b["beat_type"] == "beat" and b["drummer"] == r["drummer"]]
        if not same:
            continue
        paired = min(same, key=lambda b: (abs(float(b["bpm"]) - float(r["bpm"])), b["session"] != r["session"]))
        usual = _beat_bars(paired)[1]
        if not usual:
            continue
        hits, bpm = dc.read_hits(r["path"])
        grid = dc.fill_bars(de.hits_to_grid(hits))
        fill = de.grid_to_hits(grid[-de.STEPS_PER_BAR:])
        last = strokes_to_bars([(h.voice, h.beat, h.velocity) for h in fill], bpm, 1)[0]
        side["fills"].append(is_fill(last, usual))
    return side


def _beat_bars(row: dict) -> tuple[list, list]:
    """A beat file's bars and its groove bars (groove/A/B kinds, not the drummer's own fills)."""
    from app.learn import drum_corpus as dc

    hits, bpm = dc.read_hits(row["path"])
    bars = strokes_to_bars([(h.voice, h.beat, h.velocity) for h in hits], bpm)
    kinds, fills = dc.label_bars(de.hits_to_grid(hits, len(bars)))
    return bars, [b for b, k, f in zip(bars, kinds, fills) if k in FULL_SECTIONS and not f]


# --- figures ------------------------------------------------------------------------------

def js_distance(p, q) -> float:
    """Jensen-Shannon distance (base 2) of two histograms (counts or shares); 0 when both are empty."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if p.sum() == 0 and q.sum() == 0:
        return 0.0
    if p.sum() == 0 or q.sum() == 0:
        return 1.0
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a):
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return float(np.sqrt(max(0.0, (kl(p) + kl(q)) / 2)))


def side_figures(side: dict) -> dict:
    """Histograms and shares of one side."""
    bars = side["full_bars"]
    strokes = [s for b in bars for s in b]
    voices = {}
    for v, name in enumerate(de.VOICES):
        positions = np.bincount([s[1] for s in strokes if s[0] == v], minlength=de.STEPS_PER_BAR)
        per_bar = [min(MAX_STROKES_PER_BAR, sum(1 for s in b if s[0] == v)) for b in bars]
        voices[name] = {"onset_position": positions.tolist(),
                        "strokes_per_bar": np.bincount(per_bar, minlength=MAX_STROKES_PER_BAR + 1).tolist(),
                        "mean_strokes_per_bar": float(np.mean(per_bar)) if per_bar else 0.0}
    velocities = np.array([s[2] for s in strokes], dtype=float)
    deviations = np.clip([s[3] for s in strokes], TIMING_EDGES_MS[0], TIMING_EDGES_MS[-1] - 1e-9)
    pairs = [(a, b) for run in side["runs"] for a, b in zip(run, run[1:])]
    return {"bars": len(bars), "voices": voices,
            "velocity_histogram": np.histogram(velocities, VELOCITY_EDGES)[0].tolist(),
            "velocity_std": float(velocities.std()) if len(velocities) else 0.0,
            "timing_histogram_ms": np.histogram(deviations, TIMING_EDGES_MS)[0].tolist(),
            "timing_mean_abs_ms": float(np.mean(np.abs(deviations))) if len(deviations) else 0.0,
            "bars_differing": float(np.mean([pattern(a) != pattern(b) for a, b in pairs])) if pairs else 0.0,
            "fills": float(np.mean(side["fills"])) if side["fills"] else 0.0, "fill_count": len(side["fills"]),
            "backbeat": float(np.mean([has_backbeat(b) for b in side["groove_bars"]])) if side["groove_bars"] else 0.0}


def compare(generated: dict, validation: dict, reference: dict | None = None) -> dict:
    """Both sides' figures with the JS distance of every histogram; with `reference` (the training
    grooves' figures), each histogram's 'js_train' says how far real grooves of other drummers
    already are from the validation ones (the floor the model can be expected to reach)."""
    out = {"bars": {"generated": generated["bars"], "validation": validation["bars"]}, "voices": {}}
    for name in de.VOICES:
        g, v = generated["voices"][name], validation["voices"][name]
        out["voices"][name] = {
            "onset_position": {"generated": g["onset_position"], "validation": v["onset_position"],
                               "js": js_distance(g["onset_position"], v["onset_position"])},
            "strokes_per_bar": {"generated": g["strokes_per_bar"], "validation": v["strokes_per_bar"],
                                "js": js_distance(g["strokes_per_bar"], v["strokes_per_bar"]),
                                "mean_generated": g["mean_strokes_per_bar"], "mean_validation": v["mean_strokes_per_bar"]}}
        if reference:
            for k, d in out["voices"][name].items():
                d["js_train"] = js_distance(reference["voices"][name][k], v[k])
    for key in ("velocity_histogram", "timing_histogram_ms"):
        out[key] = {"generated": generated[key], "validation": validation[key],
                    "js": js_distance(generated[key], validation[key])}
        if reference:
            out[key]["js_train"] = js_distance(reference[key], validation[key])
    for key in ("velocity_std", "timing_mean_abs_ms", "bars_differing", "fills", "fill_count", "backbeat"):
        out[key] = {"generated": generated[key], "validation": validation[key]}
    histograms = [d[k] for d in out["voices"].values() for k in d] + [out["velocity_histogram"], out["timing_histogram_ms"]]
    out["max_js"] = max(h["js"] for h in histograms)
    if reference:
        out["max_js_train"] = max(h["js_train"] for h in histograms)
    out["targets"] = TARGETS
    return out


def evaluate_drums(count: int = 20, minutes: float = 2.0, seed: int = 0, temperature: float = 1.0,
                   model=None, folder=None, reference: bool = True) -> dict:
    """The drum figures of `count` generated songs beside the validation grooves (see the module
    doc); reference: also the training grooves' JS distances to the validation ones."""
    train = side_figures(validation_side(folder, "train")) if reference else None
    report = compare(side_figures(generated_side(count, minutes, seed, temperature, model)),
                     side_figures(validation_side(folder)), train)
    report.update(songs=count, minutes=minutes, seed=seed, temperature=temperature)
    return report


def format_drum_report(report: dict) -> str:
    """A table: figure, generated, validation, JS distance, target."""
    lines = [f"{report['songs']} songs of {report['minutes']:g} min: {report['bars']['generated']} groove/A/B bars; "
             f"validation grooves: {report['bars']['validation']} bars",
             f"{'figure':<34}{'generated':>10}{'valid.':>10}{'JS':>7}{'JS train':>9}   target"]

    def js(d):
        return f"{d['js']:>7.3f}" + (f"{d['js_train']:>9.3f}" if "js_train" in d else f"{'':>9}")

    for name, d in report["voices"].items():
        pos, per_bar = d["onset_position"], d["strokes_per_bar"]
        lines.append(f"{name + ' onset position':<34}{'':>10}{'':>10}{js(pos)}   <= 0.2")
        lines.append(f"{name + ' strokes per bar':<34}{per_bar['mean_generated']:>10.2f}"
                     f"{per_bar['mean_validation']:>10.2f}{js(per_bar)}   <= 0.2")
    rows = [("velocity (std)", "velocity_std", "velocity_histogram", ">= 10"),
            ("timing (mean |dev| ms)", "timing_mean_abs_ms", "timing_histogram_ms", "<= 0.2"),
            ("bars differing from the one before", "bars_differing", None, ">= 0.5"),
            ("section ends with a fill", "fills", None, ">= 0.8"),
            ("groove bars with backbeat", "backbeat", None, ">= 0.9")]
    for label, key, hist, target in rows:
        dist = js(report[hist]) if hist else f"{'':>16}"
        lines.append(f"{label:<34}{report[key]['generated']:>10.3f}{report[key]['validation']:>10.3f}{dist}   {target}")
    lines.append(f"largest JS distance: {report['max_js']:.3f} (target <= 0.2); training grooves vs validation: "
                 f"{report.get('max_js_train', float('nan')):.3f}")
    return "\n".join(lines)
