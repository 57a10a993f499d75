"""Command line: `python -m app.main COMMAND`. Imports nothing heavy at the top so --help is instant.

    python -m app.main generate_music            # the wizard
    python -m app.main generate_music --yes      # a track with every default, no questions
    python -m app.main train                     # retrain both models on the Bach chorales
    python -m app.main evaluate --count 20       # musical figures of generated songs vs the corpus
    python -m app.main instruments               # SoundFont presets you can choose
    python -m app.main effects                   # beat loops and ambience you can choose
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _train(args) -> int:
    from app import paths
    from app.corpus import load_corpus
    from app.train import TrainConfig, train_model

    out_dir = Path(args.out_dir) if args.out_dir else paths.MODELS_DIR
    print(f"importing {'the Bach chorales (music21 corpus)' if not args.midi_dir else args.midi_dir} ...", flush=True)

    def progress(done, total):
        if done == total or done % 50 == 0:
            print(f"  {done}/{total} files", flush=True)

    corpus = load_corpus(Path(args.midi_dir) if args.midi_dir else None, limit=args.limit, jobs=args.jobs,
                         progress=progress)
    print(corpus.summary(), flush=True)
    if not corpus.pieces:
        from app.errors import LofiError

        raise LofiError("nothing to train on: every file was skipped (see the reasons above)")
    cfg = TrainConfig(epochs=args.epochs, seed=args.seed, out_dir=out_dir, max_steps=args.max_steps,
                      patience=args.patience)
    results = [train_model(kind, corpus, cfg, resume=args.resume) for kind in ("chord", "melody")]
    for r in results:
        print(f"{r['kind']}: best val loss {r['best_val_loss']:.3f} at epoch {r['best_epoch'] + 1} "
              f"-> {r['checkpoint']}")
    try:
        from app.pictures import plot_loss_curves

        for r in results:
            print(f"loss curves: {plot_loss_curves(r['history'], Path(r['checkpoint']).with_suffix('.png'), r['kind'])}")
    except ImportError:
        pass
    return 0


def _evaluate(args) -> int:
    import json

    from app.evaluate import evaluate, format_report

    report = evaluate(count=args.count, minutes=args.minutes, seed=args.seed, temperature=args.temperature)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def _instruments(args) -> int:
    from app.instruments import discover_soundfonts, format_listing

    files, skipped = discover_soundfonts()
    print(format_listing(files, skipped))
    return 0


def _effects(args) -> int:
    from app.effect_files import discover_effects, format_listing

    effects, skipped = discover_effects()
    print(format_listing(effects, skipped))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.main", description="Lo-fi hip hop tracks from nothing to mastered.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train the chord and melody LSTMs (Bach chorales or --midi-dir)")
    p.add_argument("--midi-dir", help="train on every .mid/.midi file under this folder")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patience", type=int, default=5, help="stop after this many epochs without improvement")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the last epoch's checkpoint")
    p.add_argument("--out-dir", help="where checkpoints go (default: models/)")
    p.add_argument("--limit", type=int, help="import at most this many files")
    p.add_argument("--max-steps", type=int, help="stop each model after this many optimiser steps")
    p.add_argument("--jobs", type=int, default=2, help="processes for the import")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="generate songs and compare their musical figures with the corpus")
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--minutes", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_evaluate)

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
    from app.errors import LofiError

    try:
        return args.func(args)
    except LofiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
