"""The lo-fi figures of generated songs beside the training corpus's own (issue 12): how the melody
moves and breathes, what the chords are and how they are voiced and pushed, how roots and bass move,
and how often the melody clashes a semitone with the chord sounding under it.

    python -m app.main evaluate --count 20 --minutes 2 --json   # the 'music' block

Figures the corpus cannot have (it holds chord symbols, not voicings or a bass part) are None there.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from app.learn import encoding
from app.music import theory
from app.music.song import Song, chord_finder

DURATION_CLASSES = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)  # 16th .. dotted half; longer notes count as "4+"
ROLL_WINDOW = 0.2  # beats: notes of a chord struck within this of each other are one attack
TARGETS = {
    "quarter_share": "<= 0.45", "eighth_sixteenth_share": ">= 0.30", "melody_offbeat_share": ">= 0.20",
    "melody_rest_share": ">= 0.10", "melody_notes_per_bar": "2-6", "extended_share": ">= 0.25", "triad_share": ">= 0.10",
    "chord_attack_offbeat_share": ">= 0.30", "changes_per_bar": "0.9-1.4", "voicing_octave_share": ">= 0.25",
    "rootless_share": ">= 0.20", "root_motion_semitone_share": ">= 0.15", "bass_on_root_share": "<= 0.80",
}


def _duration_class(beats: float) -> str:
    for d in DURATION_CLASSES:
        if beats <= d + 1e-6:
            return f"{d:g}"
    return "4+"


def _off_beat(beat: float) -> bool:
    return abs(beat - round(beat)) > 1e-6


def _interval_class(a: int, b: int) -> int:
    """Root motion folded to 0..6 semitones (a fourth up is a fifth down: both 5)."""
    step = (b - a) % 12
    return min(step, 12 - step)


class Tally:
    """Raw counts over many songs (or corpus pieces); figures() turns them into shares."""

    def __init__(self):
        self.durations: Counter = Counter()
        self.c: Counter = Counter()
        self.qualities: Counter = Counter()
        self.motion: Counter = Counter()
        self.spans: list[int] = []
        self.pcs_per_chord: list[int] = []

    def melody(self, notes: list[tuple[float, float, int]], rests: float, bars: float) -> None:
        """notes: (start, duration, pitch) in beats, sorted; rests: silent beats inside the span."""
        for start, duration, _ in notes:
            self.durations[_duration_class(duration)] += 1
            self.c["melody_offbeat"] += _off_beat(start)
        self.c["melody_notes"] += len(notes)
        self.c["repeated"] += sum(1 for a, b in zip(notes, notes[1:]) if a[2] == b[2])
        self.c["melody_rest_beats"] += rests
        self.c["melody_span_beats"] += rests + sum(d for _, d, _ in notes)
        self.c["melody_bars"] += bars

    def chords(self, chords: list[tuple[int, str, float]], bars: float) -> None:
        """chords: (root, quality, start) in order."""
        for root, quality, start in chords:
            self.qualities[theory.QUALITY_FAMILY.get(quality, "other")] += 1
            self.pcs_per_chord.append(len(theory.chord_pitch_classes(root, quality)))
            self.c["changes_offbeat"] += _off_beat(start)
        for a, b in zip(chords, chords[1:]):
            self.motion[_interval_class(a[0], b[0])] += 1
        self.c["changes"] += max(0, len(chords) - 1)
        self.c["chord_bars"] += bars

    def figures(self) -> dict:
        c, d = self.c, sum(self.durations.values())
        share = lambda a, b: None if not b else round(a / b, 4)  # noqa: E731
        q, m = sum(self.qualities.values()), sum(self.motion.values())
        return {
            "melody_duration_histogram": {k: share(v, d) for k, v in sorted(self.durations.items())},
            "quarter_share": share(self.durations["1"], d),
            "eighth_sixteenth_share": share(self.durations["0.25"] + self.durations["0.5"], d),
            "melody_offbeat_share": share(c["melody_offbeat"], c["melody_notes"]),
            "melody_rest_share": share(c["melody_rest_beats"], c["melody_span_beats"]),
            "melody_notes_per_bar": share(c["melody_notes"], c["melody_bars"]),
            "repeated_note_share": share(c["repeated"], c["melody_notes"]),
            "quality_shares": {k: share(v, q) for k, v in sorted(self.qualities.items())},
            "triad_share": share(self.qualities["triad"], q),
            "seventh_share": share(self.qualities["seventh"], q),
            "extended_share": share(self.qualities["extended"], q),
            "sus_share": share(self.qualities["sus"], q),
            "pitch_classes_per_chord": round(float(np.mean(self.pcs_per_chord)), 3) if self.pcs_per_chord else None,
            "chord_change_offbeat_share": share(c["changes_offbeat"], q),
            "chord_attack_offbeat_share": share(c["attacks_offbeat"], c["attacks"]),
            "changes_per_bar": share(c["changes"], c["chord_bars"]),
            "voicing_span_mean": round(float(np.mean(self.spans)), 2) if self.spans else None,
            "voicing_octave_share": share(sum(1 for s in self.spans if s >= 12), len(self.spans)),
            "rootless_share": share(c["rootless"], c["attacks"]),
            "root_motion_histogram": {str(k): share(v, m) for k, v in sorted(self.motion.items())},
            "root_motion_semitone_share": share(self.motion[1], m),
            "root_motion_fourth_fifth_share": share(self.motion[5], m),
            "bass_on_root_share": share(c["bass_root"], c["bass_notes"]),
            "melody_clash_share": share(c["clashes"], c["clash_checked"]),
        }


def add_song(tally: Tally, song: Song) -> None:
    """Count one generated song: melody, chords, the chords part's attacks and voicings, bass, clashes."""
    bar = song.beats_per_bar
    melody = sorted(song.melody(), key=lambda n: n.start)
    if melody:
        span = max(n.end for n in melody) - melody[0].start
        sounding = sum(n.duration for n in melody)
        tally.melody([(n.start, n.duration, n.pitch) for n in melody], max(0.0, span - sounding), span / bar)
    chords = sorted(song.chords, key=lambda c: c.start)
    tally.chords([(c.root, c.quality, c.start) for c in chords], song.length_beats / bar)
    chord_at = chord_finder(chords)
    part = song.parts.get("chords")
    if part is not None:
        notes = sorted(part.notes, key=lambda n: n.start)
        group: list = []
        for n in notes + [None]:
            if n is not None and group and n.start - group[0].start <= ROLL_WINDOW:
                group.append(n)
                continue
            if group:
                chord = chord_at(group[0].start + ROLL_WINDOW)
                pitches = [g.pitch for g in group]
                tally.c["attacks"] += 1
                tally.c["attacks_offbeat"] += _off_beat(group[0].start)
                tally.spans.append(max(pitches) - min(pitches))
                tally.c["rootless"] += chord is not None and all(p % 12 != chord.root for p in pitches)
            group = [n] if n is not None else []
    for n in song.parts["bass"].notes if "bass" in song.parts else []:
        chord = chord_at(n.start)
        if chord is not None:
            tally.c["bass_notes"] += 1
            tally.c["bass_root"] += n.pitch % 12 == chord.root
    for n in melody:
        chord = chord_at(n.start)
        if chord is not None:
            tally.c["clash_checked"] += 1
            tally.c["clashes"] += theory.rubs(n.pitch, chord.pitch_classes())


def add_piece(tally: Tally, piece) -> None:
    """Count one training piece from its tokens (melody rows: note, duration, velocity, chord,
    position, mode; chord rows: symbol, duration, beat, mode)."""
    notes, t16, rests = [], 0, 0
    for row in piece.melody:
        length = encoding.decode_duration(int(row[1]))
        if row[0] == encoding.REST:
            rests += length
        else:
            pitch = encoding.decode_pitch(int(row[0]), piece.key)
            notes.append((t16 / 4, length / 4, pitch))
            if row[3] != 0:
                degree, q = divmod(int(row[3]) - 1, len(encoding.QUALITIES))
                tally.c["clash_checked"] += 1
                tones = theory.chord_pitch_classes((piece.key + degree) % 12, encoding.QUALITIES[q])
                tally.c["clashes"] += theory.rubs(pitch, tones)
        t16 += length
    tally.melody(notes, rests / 4, t16 / 16)
    chords, beat = [], 0.0
    for sym, dur, *_ in piece.chords:
        root, quality = encoding.decode_chord_symbol(int(sym), piece.key)
        chords.append((root, quality, beat))
        beat += encoding.decode_chord_duration(int(dur))
    tally.chords(chords, beat / 4)


NOT_IN_CORPUS = ("chord_attack_offbeat_share", "voicing_span_mean", "voicing_octave_share", "rootless_share",
                 "bass_on_root_share")


def compare(songs: list[Song], pieces) -> dict:
    """{figure: {'generated': x, 'corpus': y, 'target': t}} for every figure (histograms too)."""
    generated, corpus = Tally(), Tally()
    for song in songs:
        add_song(generated, song)
    for piece in pieces:
        add_piece(corpus, piece)
    g, c = generated.figures(), corpus.figures()
    return {k: {"generated": g[k], "corpus": None if k in NOT_IN_CORPUS else c[k],
                **({"target": TARGETS[k]} if k in TARGETS else {})} for k in g}


def format_figures(figures: dict) -> str:
    """The scalar figures as a table: figure, generated, corpus, target."""
    lines = [f"{'lo-fi figure':<32}{'generated':>10}{'corpus':>10}   target"]
    for k, v in figures.items():
        if isinstance(v["generated"], dict):
            continue
        show = lambda x: "-" if x is None else f"{x:.3f}"  # noqa: E731
        lines.append(f"{k:<32}{show(v['generated']):>10}{show(v['corpus']):>10}   {v.get('target', '')}")
    return "\n".join(lines)


def music_plots(figures: dict, out_dir) -> list:
    """lofi_histograms.png (melody durations, chord families, root motion: generated beside corpus)
    and lofi_figures.png (every share figure). Returns the paths written."""
    from pathlib import Path

    from app.report.pictures import _figure, _label, _save

    out_dir = Path(out_dir)
    fig = _figure((15, 4.5))
    axes = fig.subplots(1, 3)
    for ax, name, title, xlabel in zip(axes, ("melody_duration_histogram", "quality_shares", "root_motion_histogram"),
                                       ("Melody note lengths", "Chord qualities", "Root motion"),
                                       ("beats", "family", "semitones (folded: 5 = fourth or fifth)")):
        gen, cor = figures[name]["generated"] or {}, figures[name]["corpus"] or {}
        labels = sorted(set(gen) | set(cor), key=lambda k: (not k[0].isdigit(), float(k) if k[0].isdigit() and "+" not in k else 99, k))
        x = np.arange(len(labels))
        ax.bar(x - 0.2, [gen.get(k) or 0 for k in labels], 0.4, label="generated", color="#e4572e")
        ax.bar(x + 0.2, [cor.get(k) or 0 for k in labels], 0.4, label="training corpus", color="#4c72b0")
        ax.set_xticks(x, labels)
        _label(ax, title, xlabel, "share", grid=False)
    written = [_save(fig, out_dir / "lofi_histograms.png")]

    fig = _figure((12, 5))
    ax = fig.subplots()
    names = [k for k, v in figures.items() if isinstance(v["generated"], float) and v["generated"] <= 1.0 and "share" in k]
    x = np.arange(len(names))
    ax.bar(x - 0.2, [figures[k]["generated"] for k in names], 0.4, label="generated", color="#e4572e")
    ax.bar(x + 0.2, [figures[k]["corpus"] or 0 for k in names], 0.4, label="training corpus (0 where it has none)",
           color="#4c72b0")
    ax.set_xticks(x, [k.replace("_share", "") for k in names], rotation=35, ha="right", fontsize=8)
    _label(ax, "Lo-fi figures (shares)", "", "share", (0, 1.05), grid=False)
    fig.tight_layout()
    written.append(_save(fig, out_dir / "lofi_figures.png"))
    return written
