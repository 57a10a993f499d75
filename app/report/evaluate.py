"""Musical figures of generated songs beside the training melodies' own values.

    python -m app.main evaluate --count 20 --minutes 2 --json

Figures: in_scale (share of melody notes in the key's scale, minor may use the raised 7th),
chord_tone_on_beats (share of on-beat melody onsets that are tones of the sounding chord),
copied_16gram (share of 16-note windows, as interval sequences, found in the training melodies),
repetitiveness (share of pitches in notes t-10..t also in t-20..t-10, averaged over t).
"""

from __future__ import annotations

import numpy as np

from app.learn import encoding
from app.music import theory
from app.music.song import Song, chord_finder
from app.report.metrics import WINDOW, in_scale, interval_windows, repetitiveness  # noqa: F401 (originality, tests)

def song_figures(song: Song) -> dict:
    """Raw counts for one song: scale hits, on-beat chord-tone hits, pitches."""
    melody = sorted(song.melody(), key=lambda n: n.start)
    pitches = [n.pitch for n in melody]
    hits, total = in_scale(pitches, song.key, song.mode)
    on_beat = [n for n in melody if abs(n.start - round(n.start)) < 1e-6]
    chord_hits = 0
    counted = 0
    chord_at = chord_finder(song.chords)
    for n in on_beat:
        chord = chord_at(n.start)
        if chord is not None:
            counted += 1
            chord_hits += n.pitch % 12 in chord.pitch_classes()
    return {"scale_hits": hits, "notes": total, "chord_hits": chord_hits, "on_beat": counted, "pitches": pitches}


def piece_pitches(piece) -> list[int]:
    """A training piece's melody as MIDI pitches (rests left out), in its own key."""
    return [encoding.decode_pitch(int(t), piece.key) for t in piece.melody[:, 0] if t != encoding.REST]


def corpus_figures(pieces) -> tuple[dict, set]:
    """The four figures on the training melodies, and the set of their 16-note interval windows."""
    scale_hits = notes = chord_hits = on_beat = 0
    rep: list[float] = []
    windows: set = set()
    owners: dict = {}  # window -> first piece index holding it, or -1 once two pieces share it
    per_piece: list[list] = []
    for index, piece in enumerate(pieces):
        m = piece.melody
        pitched = m[m[:, 0] != encoding.REST]
        pitches = piece_pitches(piece)
        h, n = in_scale(pitches, piece.key, piece.mode)
        scale_hits, notes = scale_hits + h, notes + n
        for row, pitch in zip(pitched, pitches):
            if row[4] % 4 == 0 and row[3] != 0:  # on a beat, under a chord
                degree, q = divmod(int(row[3]) - 1, len(encoding.QUALITIES))
                pcs = theory.chord_pitch_classes((piece.key + degree) % 12, encoding.QUALITIES[q])
                on_beat += 1
                chord_hits += pitch % 12 in pcs
        rep += repetitiveness(pitches)
        own = interval_windows(pitches)
        per_piece.append(own)
        windows.update(own)
        for w in own:
            holder = owners.setdefault(w, index)
            if holder not in (index, -1):
                owners[w] = -1
    # The corpus's own copy figure is leave-one-out: windows of a melody found in another melody.
    total = sum(len(w) for w in per_piece)
    shared = sum(1 for ws in per_piece for w in ws if owners.get(w) == -1)
    figures = {"in_scale": scale_hits / max(1, notes), "chord_tone_on_beats": chord_hits / max(1, on_beat),
               "copied_16gram": shared / max(1, total), "repetitiveness": float(np.mean(rep)) if rep else 0.0}
    return figures, windows


def evaluate(count: int = 20, minutes: float = 2.0, seed: int = 0, temperature: float = 1.0,
             models=None, corpus=None, plots_dir=None) -> dict:
    """Generate `count` songs with the shipped weights and measure them against the corpus.

    Returns {figure: {'generated': x, 'corpus': y}, ..., 'songs': count}; with plots_dir, also
    writes the comparison PNGs there (report['plots'] lists them).
    """
    from app.music.compose import compose_song, load_models
    from app.learn.corpus import load_corpus

    models = models or load_models()
    corpus = corpus or load_corpus()
    corpus_values, train_windows = corpus_figures(corpus.pieces)
    rng = np.random.default_rng(seed)
    totals = {"scale_hits": 0, "notes": 0, "chord_hits": 0, "on_beat": 0}
    copied = windows = 0
    rep: list[float] = []
    melodies, tonics, songs = [], [], []
    for i in range(count):
        key, mode = int(rng.integers(12)), str(rng.choice(theory.MODES))
        bpm = int(rng.integers(70, 91))
        song = compose_song(models, key=key, mode=mode, bpm=bpm, minutes=minutes, seed=seed + i,
                            temperature=temperature)
        f = song_figures(song)
        songs.append(song)
        melodies.append(f["pitches"])
        tonics.append(key)
        for k in totals:
            totals[k] += f[k]
        w = interval_windows(f["pitches"])
        windows += len(w)
        copied += sum(1 for x in w if x in train_windows)
        rep += repetitiveness(f["pitches"])
    generated = {"in_scale": totals["scale_hits"] / max(1, totals["notes"]),
                 "chord_tone_on_beats": totals["chord_hits"] / max(1, totals["on_beat"]),
                 "copied_16gram": copied / max(1, windows),
                 "repetitiveness": float(np.mean(rep)) if rep else 0.0}
    report = {k: {"generated": round(generated[k], 4),
                  "corpus": None if corpus_values[k] is None else round(corpus_values[k], 4)} for k in generated}
    report["songs"] = count
    report["minutes"] = minutes
    report["notes"] = totals["notes"]
    from app.report.music_figures import compare

    report["music"] = compare(songs, corpus.pieces)
    if plots_dir is not None:
        from app.report.pictures import evaluation_plots

        written = evaluation_plots(melodies, [piece_pitches(p) for p in corpus.pieces], report, plots_dir,
                                   keys=(tonics, [p.key for p in corpus.pieces]))
        from app.report.music_figures import music_plots

        written += music_plots(report["music"], plots_dir)
        report["plots"] = [str(p) for p in written]
    return report


TARGETS = {"in_scale": ">= 0.92", "chord_tone_on_beats": ">= 0.75", "copied_16gram": "<= 0.02",
           "repetitiveness": "within 0.10 of corpus"}


def format_report(report: dict) -> str:
    lines = [f"{report['songs']} songs of {report['minutes']:g} min ({report['notes']} melody notes)",
             f"{'figure':<22}{'generated':>10}{'corpus':>10}   target"]
    for k, target in TARGETS.items():
        g, c = report[k]["generated"], report[k]["corpus"]
        lines.append(f"{k:<22}{g:>10.3f}{'-' if c is None else f'{c:.3f}':>10}   {target}")
    if "music" in report:
        from app.report.music_figures import format_figures

        lines.append(format_figures(report["music"]))
    return "\n".join(lines)
