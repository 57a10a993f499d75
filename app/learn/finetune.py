"""Fine-tuning's bookkeeping: a complete model folder, and what the new weights changed.

    python -m app.main train --midi-dir pack --init-from models --out-dir models/mine

After training, complete_model_dir copies every model the MIDI folder gave no data for from the
folder training started from, so the output folder always holds a usable set (LOFI_MODELS_DIR or
generate_music --models-dir can point at it). style_change measures the musicianship figures
(app/report/music_figures.py: chord qualities, chord rhythm, voicing) of the chord model's own
progressions and of generated songs, before and after, beside the pack's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from app.learn.checkpoint import KINDS, sampling_weights_path

# The figures a fine-tune reports: chord qualities, chord rhythm, voicing.
CHORD_FIGURES = ("triad_share", "seventh_share", "extended_share", "sus_share", "changes_per_bar",
                 "chord_change_offbeat_share", "root_motion_fourth_fifth_share")
SONG_FIGURES = CHORD_FIGURES + ("chord_attack_offbeat_share", "voicing_span_mean", "voicing_octave_share",
                                "rootless_share")
PROGRESSION_BARS = 8  # each sampled progression: two 4-bar loops' worth


def model_files(folder: Path, kind: str) -> list[Path]:
    """A model's files in a folder: the checkpoint and its numpy sampling weights."""
    checkpoint = Path(folder) / f"{kind}_lstm.pt"
    return [checkpoint, sampling_weights_path(checkpoint)]


def complete_model_dir(out_dir: Path, source_dir: Path) -> list[str]:
    """Copy every model out_dir lacks (checkpoint or sampling weights missing) from source_dir;
    returns the kinds copied. Raises LofiError when source_dir lacks one too."""
    from app.errors import LofiError
    from app.files import atomic_path

    copied = []
    out_dir, source_dir = Path(out_dir), Path(source_dir)
    if out_dir.resolve() == source_dir.resolve():
        return copied
    for kind in KINDS:
        if all(f.exists() for f in model_files(out_dir, kind)):
            continue
        sources = model_files(source_dir, kind)
        missing = [str(f) for f in sources if not f.exists()]
        if missing:
            raise LofiError(f"cannot complete {out_dir}: the {kind} model is missing there and in {source_dir} "
                            f"({missing[0]})")
        for src, dst in zip(sources, model_files(out_dir, kind)):
            with atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)
        copied.append(kind)
    return copied


def progression_figures(chord_model, count: int = 10, seed: int = 0, modes=("major", "minor")) -> dict:
    """Figures of `count` progressions of PROGRESSION_BARS bars sampled from a chord model (numpy
    port) as it writes them, before the arrangement colours or slows them, free to open on any
    chord: keys and modes (from `modes`, e.g. the pack's pieces' modes) drawn from the seed,
    sampling seeds seed..seed+count-1."""
    import numpy as np

    from app.learn.sample import SamplingOptions, sample_progression
    from app.report.music_figures import Tally

    rng = np.random.default_rng(seed)
    tally = Tally()
    for i in range(count):
        key, mode = int(rng.integers(12)), str(modes[int(rng.integers(len(modes)))])
        chords = sample_progression(chord_model, key, mode, PROGRESSION_BARS, 4, SamplingOptions(seed=seed + i),
                                    start_on_tonic=False)
        tally.chords([(c.root, c.quality, c.start) for c in chords], PROGRESSION_BARS)
    return tally.figures()


def song_figures(models, count: int = 10, minutes: float = 1.0, seed: int = 0) -> dict:
    """Figures of `count` songs composed with `models` (keys, modes and tempi drawn from the seed)."""
    import numpy as np

    from app.music import theory
    from app.music.compose import compose_song
    from app.report.music_figures import Tally, add_song

    rng = np.random.default_rng(seed)
    tally = Tally()
    for i in range(count):
        key, mode, bpm = int(rng.integers(12)), str(rng.choice(theory.MODES)), int(rng.integers(70, 91))
        add_song(tally, compose_song(models, key=key, mode=mode, bpm=bpm, minutes=minutes, seed=seed + i))
    return tally.figures()


def pack_figures(pieces) -> dict:
    """The same figures on the training pieces' chords (voicings are not in the tokens)."""
    from app.report.music_figures import Tally, add_piece

    tally = Tally()
    for piece in pieces:
        if len(piece.chords) and not piece.augmented:
            add_piece(tally, piece)
    return tally.figures()


def style_change(before_dir: Path, after_dir: Path, pieces, count: int = 10, minutes: float = 1.0,
                 seed: int = 0) -> dict:
    """{'progressions': {figure: {'before', 'after', 'pack'}}, 'songs': {...}}: the chord model's own
    progressions and `count` generated songs, with the weights in before_dir and after_dir."""
    from app.learn.checkpoint import load_sampling_model
    from app.music.compose import load_models

    def load(folder):
        folder = Path(folder)
        return load_models(folder / "chord_lstm.pt", folder / "melody_lstm.pt", folder / "drum_lstm.pt")

    pack = pack_figures(pieces)
    modes = [p.mode for p in pieces if len(p.chords) and not p.augmented] or ["major", "minor"]
    report = {}
    prog = {when: progression_figures(load_sampling_model(Path(folder) / "chord_lstm.pt", "chord"), count, seed, modes)
            for when, folder in (("before", before_dir), ("after", after_dir))}
    report["progressions"] = {k: {"before": prog["before"][k], "after": prog["after"][k], "pack": pack[k]}
                              for k in CHORD_FIGURES}
    songs = {"before": song_figures(load(before_dir), count, minutes, seed),
             "after": song_figures(load(after_dir), count, minutes, seed)}
    report["songs"] = {k: {"before": songs["before"][k], "after": songs["after"][k],
                           "pack": pack[k] if k in CHORD_FIGURES else None} for k in SONG_FIGURES}
    report["count"], report["minutes"], report["seed"] = count, minutes, seed
    return report


def distance_to_pack(figures: dict, which: str) -> float:
    """Sum over the figures of |value - pack| for 'before' or 'after' (figures without a pack value
    or a value are left out): smaller is closer to the pack's style."""
    return float(sum(abs(v[which] - v["pack"]) for v in figures.values()
                     if v.get("pack") is not None and v.get(which) is not None))


def format_style_change(report: dict) -> str:
    """Two tables: the chord model's progressions and the generated songs, before / after / pack."""
    show = lambda x: "-" if x is None else f"{x:.3f}"  # noqa: E731
    lines = []
    for block, title in (("progressions", f"chord model, {report['count']} progressions of {PROGRESSION_BARS} bars"),
                         ("songs", f"{report['count']} generated songs of {report['minutes']:g} min")):
        lines.append(f"{title} (seed {report['seed']}):")
        lines.append(f"  {'figure':<32}{'before':>9}{'after':>9}{'pack':>9}")
        for name, v in report[block].items():
            lines.append(f"  {name:<32}{show(v['before']):>9}{show(v['after']):>9}{show(v['pack']):>9}")
        lines.append(f"  distance to the pack: {distance_to_pack(report[block], 'before'):.3f} before, "
                     f"{distance_to_pack(report[block], 'after'):.3f} after")
    return "\n".join(lines)
