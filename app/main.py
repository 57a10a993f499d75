"""Command line: `python -m app.main COMMAND`. Imports nothing heavy at the top so --help is instant.

    python -m app.main generate_music            # the wizard
    python -m app.main generate_music --yes      # a track with every default, no questions
    python -m app.main train                     # retrain the models (Bach chorales; data/groove for drums)
    python -m app.main train --midi-dir pack --init-from models --out-dir models/mine   # fine-tune on your loops
    python -m app.main evaluate --count 20       # musical figures of generated songs vs the corpus
    python -m app.main evaluate --mix --count 5  # the mix's loudness and tone figures over generated tracks
    python -m app.main instruments               # SoundFont presets you can choose
    python -m app.main effects                   # beat loops and ambience you can choose
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.config import DEFAULT_COLOUR, DEFAULT_ENERGY, DEFAULT_SWING, VIDEO_SHAPES
from app.music import theory
from app.spec import RANGES, SEED_MAX, check_range, reroll
from app.spec import number_arg as _number
from app.spec import whole_arg as _whole
from app.spec import add_format_flags as _add_format_flags

# Ranges of the values checked here (generate_music's are in app/config.py RANGES, batch's in app/batch.py).
COUNT_RANGE = (1, 1000)
JOBS_RANGE = (1, 64)
EPOCHS_RANGE = (1, 10000)
LR_RANGE = (1e-6, 1.0)
AUGMENT_BELOW = 500  # a MIDI folder of fewer files is augmented unless --no-augment
FINE_TUNE_SONGS = 10  # songs generated before and after a fine-tune to show what changed ...
FINE_TUNE_MINUTES = 1.0  # ... and their length
# `train --models` names -> the checkpoint kinds they train.
TRAINABLE_MODELS = {"chords": "chord", "melody": "melody", "drums": "drum"}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: 'error: argument --minutes: expected a number from 0.1 to 20,
    got 'abc'' and exit code 2, instead of the usage block."""

    def error(self, message):
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def _spec_from_args(args):
    """Flags -> TrackSpec (flags not given keep the spec's defaults)."""
    from app.spec import GENERATED_BEAT, NO_BEAT, TrackSpec, parse_ambience

    spec = TrackSpec()
    for flag, attr in (("name", "name"), ("minutes", "minutes"), ("mode", "mode"), ("bpm", "bpm"),
                       ("melody_instrument", "melody_instrument"), ("chords_instrument", "chords_instrument"),
                       ("bass_instrument", "bass_instrument"), ("temperature", "temperature"), ("seed", "seed"),
                       ("swing", "swing"), ("lofi_preset", "lofi_preset"), ("artist", "artist"),
                       ("colour", "colour"), ("energy", "energy"), ("drum_kit", "drum_kit")):
        value = getattr(args, flag)
        if value is not None:
            setattr(spec, attr, value)
    if args.key is not None:
        spec.key = None if args.key.lower() in ("surprise", "random") else args.key
    if args.beat is not None:
        beat = args.beat.lower()
        spec.beat = NO_BEAT if beat in ("none", "no", "off") else GENERATED_BEAT if beat == GENERATED_BEAT else args.beat
    if args.no_ambience:
        spec.ambience = []
    elif args.ambience:
        spec.ambience = [parse_ambience(a) for a in args.ambience]
    if args.formats:
        spec.formats = tuple(f.strip().lower() for f in args.formats.split(",") if f.strip())
    _set_format(spec, args)
    spec.include_chords = not args.no_chords
    spec.overwrite = args.overwrite
    spec.picture = not args.no_picture
    spec.stems = not args.no_stems
    spec.video, spec.loop_bars = args.video, args.loop_bars
    return spec.validate()


def _set_format(spec, args) -> None:
    """--sample-rate, --bit-depth and --ascii-names onto the spec (those not given keep its values)."""
    if args.sample_rate is not None:
        spec.sample_rate = args.sample_rate
    if args.bit_depth is not None:
        spec.bit_depth = args.bit_depth
    spec.ascii_names = spec.ascii_names or args.ascii_names


# With --replay the music comes from the file; only where and how it is delivered may change (the
# sample rate too: the same music, rendered at the other rate), and --reroll names parts to redraw.
REPLAY_OUTPUT_FLAGS = ("name", "formats", "artist", "no_picture", "no_stems", "overwrite", "sample_rate", "bit_depth",
                       "ascii_names", "video", "loop_bars")
REPLAY_MUSIC_FLAGS = ("minutes", "key", "mode", "bpm", "melody_instrument", "chords_instrument", "bass_instrument",
                      "no_chords", "beat", "ambience", "no_ambience", "temperature", "seed", "swing", "lofi_preset",
                      "colour", "energy", "drum_kit")


def _replay_spec(args, spec):
    """The replayed spec with the output flags given on the command line; a music flag is an error."""
    from app.errors import BadValueError

    given = [f for f in REPLAY_MUSIC_FLAGS if getattr(args, f) not in (None, False, [])]
    if given:
        raise BadValueError(f"--replay remakes the track from its file; --{given[0].replace('_', '-')} cannot "
                            f"change it (allowed with --replay: "
                            f"{', '.join('--' + f.replace('_', '-') for f in REPLAY_OUTPUT_FLAGS + ('reroll',))})")
    if args.name is not None:
        spec.name = args.name
    if args.formats:
        spec.formats = tuple(f.strip().lower() for f in args.formats.split(",") if f.strip())
    if args.artist is not None:
        spec.artist = args.artist
    spec.picture = spec.picture and not args.no_picture
    spec.stems = spec.stems and not args.no_stems
    spec.overwrite = args.overwrite
    _set_format(spec, args)
    spec.video, spec.loop_bars = args.video, args.loop_bars  # extra files of this run, not of the music
    return spec.validate()


def _generate(args) -> int:
    from app.deliver.replay import load_replay
    from app.pipeline import STAGES, run_track

    if args.models_dir:
        from app import paths

        paths.use_models_dir(Path(args.models_dir))

    if args.replay:
        from app.deliver.replay import check_replay_inputs

        parts = _reroll_arg(args.reroll) if args.reroll else []  # a bad name fails before the file is read
        spec = reroll(_replay_spec(args, load_replay(args.replay)), parts)
        for change in check_replay_inputs(args.replay, spec, anyway=args.replay_anyway):
            print(f"warning: {change} since the track was made; replaying anyway (--replay-anyway)", file=sys.stderr)
        return _print_result(run_track(spec, progress=_stage_printer(STAGES)))
    if args.reroll:
        from app.errors import BadValueError

        raise BadValueError("--reroll makes a new take of parts of a track: give the track's sidecar with "
                            "--replay NAME.json")
    spec = _spec_from_args(args)
    interactive = not args.yes and sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        from app.wizard import run_wizard

        return run_wizard(spec)
    return _print_result(run_track(spec, progress=_stage_printer(STAGES)))


def _reroll_arg(text: str) -> list[str]:
    """'melody,drums' -> the parts to re-roll; an unknown name is a BadValueError."""
    from app.config import REROLL_PARTS
    from app.errors import BadValueError

    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in REROLL_PARTS]
    if unknown or not names:
        raise BadValueError(f"--reroll takes a comma list of {', '.join(REROLL_PARTS)}, got {text!r}")
    return names


def _stage_printer(stages):
    def show(stage):
        print(f"[{stages.index(stage) + 1}/{len(stages)}] {stage}...", flush=True)

    return show


def _print_result(result) -> int:
    from app.pipeline import describe_result

    print(describe_result(result))
    return 0


def _train(args) -> int:
    from app import paths

    check_range("epochs", args.epochs, *EPOCHS_RANGE)
    check_range("patience", args.patience, 1)
    check_range("jobs", args.jobs, *JOBS_RANGE)
    check_range("limit", args.limit, 1)
    check_range("max steps", args.max_steps, 1)
    check_range("seed", args.seed, 0, SEED_MAX)
    check_range("lr", args.lr, *LR_RANGE)
    from app.errors import BadValueError, LofiError
    from app.learn.train import FINE_TUNE_LEARNING_RATE, SMALL_DATA_EVENTS, TrainConfig, train_model

    kinds = _models_arg(args.models)
    out_dir = Path(args.out_dir) if args.out_dir else paths.MODELS_DIR
    init_from = Path(args.init_from) if args.init_from else None
    if init_from is not None:
        if not init_from.is_dir():
            raise BadValueError(f"--init-from {init_from} is not a folder of models")
        if init_from.resolve() == out_dir.resolve():
            raise BadValueError(f"--out-dir is {out_dir}, the folder --init-from starts from: give another "
                                "--out-dir so the starting weights are kept")
    lr = args.lr or (FINE_TUNE_LEARNING_RATE if init_from else TrainConfig.learning_rate)
    cfg = TrainConfig(epochs=args.epochs, seed=args.seed, out_dir=out_dir, max_steps=args.max_steps,
                      patience=args.patience, learning_rate=lr, init_from=init_from)
    results, no_data = [], []
    corpus = None
    if args.midi_dir or "chord" in kinds or "melody" in kinds:
        corpus = _music_corpus(args, kinds)
    for kind in ("chord", "melody"):
        if kind not in kinds:
            continue
        events = len(corpus.pieces_for(kind)) and sum(len(p.chords if kind == "chord" else p.melody)
                                                      for p in corpus.pieces_for(kind))
        if not events:
            no_data.append(kind)
            continue
        if init_from is None and events < SMALL_DATA_EVENTS:
            print(f"warning: {events} {kind} events are too few to train the {kind} model from scratch; "
                  "give --init-from models to fine-tune the shipped weights instead", flush=True)
        results.append(train_model(kind, corpus, cfg, resume=args.resume))
    if "drum" in kinds:
        if args.midi_dir:
            drums = corpus.drum_corpus()
        else:
            from app.learn.drum_corpus import GROOVE_DIR, load_drum_corpus

            print(f"importing the drum grooves ({GROOVE_DIR}) ...", flush=True)
            drums = load_drum_corpus()
            print(drums.summary(), flush=True)
        if drums.pieces:
            results.append(train_model("drum", drums, cfg, resume=args.resume))
        else:
            no_data.append("drum")
    if not results:
        raise LofiError("nothing to train on: no file gave data to the models asked for (see the reasons above)")
    for r in results:
        at = "the starting weights (no epoch improved on them)" if r["best_epoch"] < 0 else f"epoch {r['best_epoch'] + 1}"
        print(f"{r['kind']}: best val loss {r['best_val_loss']:.3f} at {at} -> {r['checkpoint']}")
    _complete_out_dir(out_dir, init_from, no_data)
    try:
        from app.report.pictures import plot_loss_curves

        for r in results:
            if r["history"]:
                print(f"loss curves: {plot_loss_curves(r['history'], Path(r['checkpoint']).with_suffix('.png'), r['kind'])}")
    except ImportError:
        pass
    if init_from is not None and corpus is not None and any(r["kind"] == "chord" for r in results):
        from app.learn.finetune import format_style_change, style_change

        print("what changed (the musicianship figures, before and after):", flush=True)
        print(format_style_change(style_change(init_from, out_dir, corpus.pieces, count=FINE_TUNE_SONGS,
                                               minutes=FINE_TUNE_MINUTES)))
    return 0


def _complete_out_dir(out_dir: Path, init_from: Path | None, no_data: list[str]) -> None:
    """Make out_dir a complete, usable set: copy each model it lacks from --init-from (else from the
    models generation uses now), saying which and why."""
    from app import paths
    from app.learn.finetune import complete_model_dir

    source = init_from or paths.MODELS_DIR
    for kind in complete_model_dir(out_dir, source):
        why = "the MIDI folder gave no data for it" if kind in no_data else "it was not trained"
        print(f"{kind}: copied from {source} ({why})")


def _models_arg(text: str) -> list[str]:
    """'chords,melody,drums' -> checkpoint kinds; an unknown name is a BadValueError."""
    from app.errors import BadValueError

    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in TRAINABLE_MODELS]
    if unknown or not names:
        raise BadValueError(f"--models takes a comma list of {', '.join(TRAINABLE_MODELS)}, got {text!r}")
    return [TRAINABLE_MODELS[n] for n in names]


def _music_corpus(args, kinds):
    """The chorales or --midi-dir, imported (and cached) for the chord and melody models (and, from a
    MIDI folder, the drum model). Augmentation: --augment, or by default a folder of fewer than
    AUGMENT_BELOW files."""
    from app.learn.corpus import load_corpus

    print(f"importing {'the Bach chorales (music21 corpus)' if not args.midi_dir else args.midi_dir} ...", flush=True)

    def progress(done, total):
        if done == total or done % 50 == 0:
            print(f"  {done}/{total} files", flush=True)

    augment = False
    if args.midi_dir:
        from app.learn.corpus import midi_paths

        augment = args.augment if args.augment is not None else len(midi_paths(Path(args.midi_dir))) < AUGMENT_BELOW
    corpus = load_corpus(Path(args.midi_dir) if args.midi_dir else None, limit=args.limit, jobs=args.jobs,
                         progress=progress, augment=augment)
    print(corpus.summary(), flush=True)
    if not corpus.pieces and not corpus.drums:
        from app.errors import LofiError

        raise LofiError("nothing to train on: every file was skipped (see the reasons above)")
    return corpus


def _evaluate(args) -> int:
    from app.files import json_text

    check_range("count", args.count, *COUNT_RANGE)
    check_range("minutes", args.minutes, *RANGES["minutes"])
    check_range("temperature", args.temperature, *RANGES["temperature"])
    check_range("seed", args.seed, 0, SEED_MAX)
    if args.mix:
        from app.report.mix_figures import evaluate_mix, format_mix_report

        report = evaluate_mix(count=args.count, minutes=args.minutes, seed=args.seed, preset=args.lofi_preset)
        print(json_text(report, "mix report").rstrip("\n") if args.json else format_mix_report(report))
        return 0
    if args.drums:
        from app.report.drum_figures import evaluate_drums, format_drum_report

        report = evaluate_drums(count=args.count, minutes=args.minutes, seed=args.seed, temperature=args.temperature)
        print(json_text(report, "drum report").rstrip("\n") if args.json else format_drum_report(report))
        return 0
    from app.report.evaluate import evaluate, format_report

    report = evaluate(count=args.count, minutes=args.minutes, seed=args.seed, temperature=args.temperature,
                      plots_dir=Path(args.plots) if args.plots else None)
    print(json_text(report, "evaluate report").rstrip("\n") if args.json else format_report(report))
    return 0


def _instruments(args) -> int:
    from app.audio.instruments import discover_soundfonts, format_listing
    from app.audio.kits import format_kit_listing

    files, skipped = discover_soundfonts()
    print(format_listing(files, skipped))
    print(f"\n{format_kit_listing(files)}")
    return 0


def _effects(args) -> int:
    from app.audio.loops import discover_effects, format_listing

    from app.audio.fx import format_presets

    effects, skipped = discover_effects()
    print(format_listing(effects, skipped))
    print(f"\n{format_presets()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    minutes, bpm, temperature, swing = (_number(*RANGES[k]) for k in ("minutes", "bpm", "temperature", "swing"))
    parser = _Parser(prog="python -m app.main", description="Lo-fi hip hop tracks from nothing to mastered.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("generate_music", help="make a mastered lo-fi track (a wizard; every choice is also a flag)")
    p.add_argument("--name", help="track name (default: lofi)")
    p.add_argument("--minutes", type=minutes, help="length in minutes (0.1-20, default 2)")
    p.add_argument("--key", help="C, F#, Bb ... or 'surprise' (default: surprise)")
    p.add_argument("--mode", choices=list(theory.ALL_MODES), help="default: major or minor, drawn from the seed")
    p.add_argument("--bpm", type=bpm, help="tempo 50-140 (default: the beat's tempo)")
    p.add_argument("--melody-instrument", help="preset name or id (see `instruments`)")
    p.add_argument("--chords-instrument")
    p.add_argument("--bass-instrument")
    p.add_argument("--no-chords", action="store_true", help="leave the chords part out")
    p.add_argument("--beat", help="'generated' (the drum model on a sampled kit; the default), a beat loop name "
                                  "(see `effects`) or 'none'")
    p.add_argument("--drum-kit", help="the generated drums' kit: a name or id from `instruments` (default Jazz)")
    p.add_argument("--ambience", action="append", metavar="NAME[:LEVEL_DB]", help="repeatable, e.g. rain:-20")
    p.add_argument("--no-ambience", action="store_true")
    p.add_argument("--temperature", type=temperature, help="creativity 0.1-2.0 (default 1.0)")
    p.add_argument("--seed", type=_whole(0, SEED_MAX), help="random by default (shown, stored in the sidecar)")
    p.add_argument("--swing", type=swing, help=f"0.5 straight .. 0.75 (default {DEFAULT_SWING:g})")
    p.add_argument("--colour", type=_number(*RANGES["colour"]),
                   help=f"harmony richness 0-1: triads and sevenths .. 9ths, 11ths, 13ths (default {DEFAULT_COLOUR:g})")
    p.add_argument("--energy", type=_number(*RANGES["energy"]),
                   help=f"density and activity of every part 0-1 (default {DEFAULT_ENERGY:g})")
    p.add_argument("--lofi-preset", help="clean, default, dusty, tape, cassette or radio (see `effects`)")
    p.add_argument("--artist")
    p.add_argument("--formats", help="comma list of wav, mp3, flac (default wav)")
    _add_format_flags(p)
    p.add_argument("--ascii-names", action="store_true",
                   help="file names of letters, digits, - and _ only (the title tag keeps the real name)")
    p.add_argument("--overwrite", action="store_true", help="replace a track of the same name")
    p.add_argument("--no-picture", action="store_true", help="skip the PNG picture")
    p.add_argument("--no-stems", action="store_true", help="skip the stem WAVs (one per layer) in the wav folder")
    p.add_argument("--video", nargs="?", const="landscape", choices=list(VIDEO_SHAPES),
                   help="also make NAME.mp4 (1920x1080; 'shorts': 1080x1920) and NAME.youtube.txt")
    p.add_argument("--loop-bars", type=_whole(*RANGES["loop_bars"]), metavar="N",
                   help="also write NAME_loop.wav: N bars (1-64) that repeat seamlessly")
    p.add_argument("--yes", action="store_true", help="take defaults for everything not given; never prompt")
    p.add_argument("--models-dir", metavar="DIR", help="generate with the models in DIR (as LOFI_MODELS_DIR does; "
                   "e.g. a fine-tuned set from `train --out-dir`)")
    p.add_argument("--replay", metavar="JSON", help="regenerate a track from its sidecar")
    p.add_argument("--reroll", metavar="PARTS",
                   help="with --replay: a new take of these parts (comma list of melody, chords, bass, drums), "
                        "the others note for note as they were")
    p.add_argument("--replay-anyway", action="store_true",
                   help="replay even when an input file (SoundFont, beat, ambience, model) changed since")
    p.set_defaults(func=_generate)

    p = sub.add_parser("train", help="train the chord, melody and drum LSTMs (Bach chorales or --midi-dir; data/groove)")
    p.add_argument("--models", default="chords,melody,drums", help="comma list of chords, melody, drums (default all)")
    p.add_argument("--midi-dir", help="train on every .mid/.midi file under this folder (each file feeds the chord, "
                   "melody and drum models it has parts for)")
    p.add_argument("--init-from", metavar="DIR", help="fine-tune: start from the models in DIR (e.g. models)")
    p.add_argument("--lr", type=_number(*LR_RANGE), help="learning rate (default 2e-3; 5e-4 with --init-from)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help=f"transpose to all keys and vary the timing (default: on below {AUGMENT_BELOW} files)")
    p.add_argument("--epochs", type=_whole(*EPOCHS_RANGE), default=40)
    p.add_argument("--patience", type=_whole(1), default=5, help="stop after this many epochs without improvement")
    p.add_argument("--seed", type=_whole(0, SEED_MAX), default=0)
    p.add_argument("--resume", action="store_true", help="continue from the last epoch's checkpoint")
    p.add_argument("--out-dir", help="where checkpoints go (default: models/); it always ends up with all three "
                   "models (those not trained are copied from --init-from or the current models)")
    p.add_argument("--limit", type=_whole(1), help="import at most this many files")
    p.add_argument("--max-steps", type=_whole(1), help="stop each model after this many optimiser steps")
    p.add_argument("--jobs", type=_whole(*JOBS_RANGE), default=2, help="processes for the import (1-64)")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="generate songs and compare their musical figures with the corpus")
    p.add_argument("--count", type=_whole(*COUNT_RANGE), default=20, help="songs to generate (1-1000)")
    p.add_argument("--minutes", type=minutes, default=2.0)
    p.add_argument("--seed", type=_whole(0, SEED_MAX), default=0)
    p.add_argument("--temperature", type=temperature, default=1.0)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--plots", metavar="DIR", help="also write comparison PNGs into DIR")
    p.add_argument("--drums", action="store_true", help="the drum model's figures beside the validation grooves instead")
    p.add_argument("--mix", action="store_true",
                   help="the mix's figures instead: per-part loudness, spectral balance, loudness, true peak")
    p.add_argument("--lofi-preset", default="default", help="with --mix: the preset the tracks are made with")
    p.set_defaults(func=_evaluate)

    from app.release.cli import add_batch_parser
    from app.report.bench import add_bench_parser

    add_batch_parser(sub)
    add_bench_parser(sub)

    p = sub.add_parser("instruments", help="list SoundFont presets (app/sf2/ and the system GM SoundFont)")
    p.set_defaults(func=_instruments)

    p = sub.add_parser("effects", help="list beat loops and ambience in app/effects/")
    p.set_defaults(func=_effects)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from app.errors import Interrupted, LofiError

    try:
        with stop_signals_interrupt():
            return args.func(args)
    except LofiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Interrupted as exc:  # SIGTERM / SIGHUP: unwound like Ctrl-C
        print("cancelled", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stderr.close()
        return 0
    except Exception:  # an internal error: the person gets one line and the log's path
        import traceback

        from app import paths

        log = paths.DATA_DIR / "lofi-error.log"
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(traceback.format_exc(), encoding="utf-8")
            where = f"details in {log}"
        except OSError:
            where = "traceback follows"
            traceback.print_exc()
        print(f"internal error: {traceback.format_exc().strip().splitlines()[-1]}; {where}", file=sys.stderr)
        return 1


class stop_signals_interrupt:
    """While active (main thread only), SIGTERM and SIGHUP raise app.errors.Interrupted, so a run
    stopped by `kill`, a service manager or a closed terminal unwinds exactly like Ctrl-C: temporary
    files are removed, batch workers are stopped, the manifest stays consistent. The previous
    handlers come back afterwards (main() may be called in-process, e.g. by tests)."""

    def __enter__(self):
        import signal
        import threading

        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for name in ("SIGTERM", "SIGHUP"):
                if hasattr(signal, name):
                    sig = getattr(signal, name)
                    self.previous[sig] = signal.signal(sig, _raise_interrupted)
        return self

    def __exit__(self, *exc):
        import signal

        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


def _raise_interrupted(signum, frame):
    from app.errors import Interrupted

    raise Interrupted(signum)


if __name__ == "__main__":
    sys.exit(main())
