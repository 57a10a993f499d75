"""Train the chord, melody and drum LSTMs.

    python -m app.main train                      # music21's Bach chorales, and data/groove for the drums
    python -m app.main train --midi-dir my_midis  # your own MIDI folder (chords and melody)
    python -m app.main train --models drums       # only the drum model
    python -m app.main train --midi-dir pack --init-from models --out-dir models/mine   # fine-tune

Each epoch writes `<name>.last.pt` (for --resume); the best validation loss so far is kept in the
final checkpoint. Training stops early when validation loss has not improved for `patience` epochs.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from app import paths
from app.learn import encoding
from app.learn.corpus import Corpus, Piece


@dataclass
class TrainConfig:
    epochs: int = 40
    batch_size: int = 32
    window: int = 64
    drum_window: int = 128  # drum rows are 16th steps: 8 bars of context
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 5
    val_fraction: float = 0.1
    seed: int = 0
    max_steps: int | None = None  # stop after this many optimiser steps per model (tests, bench)
    out_dir: Path = field(default_factory=lambda: paths.MODELS_DIR)
    init_from: Path | None = None  # a models folder whose weights training starts from (fine-tuning)


# Fine-tuning moves shipped weights gently, so a small pack changes the style without the model
# forgetting how a song goes (the from-scratch rate would overwrite it in a few steps).
FINE_TUNE_LEARNING_RATE = 5e-4
# Below this many events for a model, training it from scratch learns little: suggest --init-from.
SMALL_DATA_EVENTS = 5000


# --- batches ------------------------------------------------------------------------------

def teacher_forcing_windows(pieces: list[Piece], field: str, targets: int, window: int) -> np.ndarray:
    """Pieces' token arrays -> int array (N, window, C + targets) for teacher forcing.

    field: 'melody' (rows note, dur, vel | chord, position, mode) or 'chords' (symbol, dur | position,
    mode); the first `targets` columns are what the model predicts. Each output row holds the
    previous event's target tokens (BOS at a piece's start), this event's conditioning, then this
    event's targets. Windows overlap by half and are PAD-filled.
    """
    rows = []
    for p in pieces:
        m = getattr(p, field)
        prev = np.vstack([[encoding.BOS] * targets, m[:-1, :targets]])
        rows.extend(_windows(np.hstack([prev, m[:, targets:], m[:, :targets]]), window))
    width = 2 * targets + (getattr(pieces[0], field).shape[1] - targets if pieces else 0)
    return np.stack(rows) if rows else np.zeros((0, window, width), dtype=np.int64)


def melody_windows(pieces: list[Piece], window: int) -> np.ndarray:
    """(N, window, 9): prev note/dur/vel, chord, position, mode, target note/dur/vel."""
    return teacher_forcing_windows(pieces, "melody", 3, window)


def chord_windows(pieces: list[Piece], window: int) -> np.ndarray:
    """(N, window, 6): prev symbol/dur, position, mode, target symbol/dur."""
    return teacher_forcing_windows(pieces, "chords", 2, window)


def drum_windows(pieces, window: int) -> np.ndarray:
    """(N, window, 41): prev pattern, 9 velocities, 9 offsets | position, kind, fill | the targets."""
    from app.learn.drum_encoding import TARGETS

    return teacher_forcing_windows(pieces, "drums", TARGETS, window)


def _windows(seq: np.ndarray, window: int) -> list[np.ndarray]:
    out = []
    step = max(1, window // 2)
    for start in range(0, max(1, len(seq) - window // 2), step):
        chunk = seq[start:start + window]
        if len(chunk) < window:
            chunk = np.vstack([chunk, np.zeros((window - len(chunk), seq.shape[1]), dtype=seq.dtype)])
        out.append(chunk)
    return out


# --- one model ----------------------------------------------------------------------------

def new_model(kind: str):
    """A freshly initialised 'melody', 'chord' or 'drum' LSTM sized for this code's vocabulary."""
    if kind == "drum":
        from app.learn.drum_encoding import DRUM_VOCAB as d
        from app.learn.drum_model import DrumConfig, DrumLSTM

        return DrumLSTM(DrumConfig(d.pattern, d.velocity, d.offset, d.voices, d.position, d.kind, d.fill))
    from app.learn.model import ChordConfig, ChordLSTM, MelodyConfig, MelodyLSTM

    v = encoding.VOCAB
    if kind == "melody":
        return MelodyLSTM(MelodyConfig(v.note, v.duration, v.velocity, v.chord, v.position, v.mode))
    return ChordLSTM(ChordConfig(v.chord_symbol, v.chord_duration, v.position, v.mode))


def batch_losses(model, batch, kind: str):
    """Cross-entropy per head (PAD targets ignored) -> dict of scalar tensors."""
    import torch.nn.functional as F

    if kind == "drum":
        n = model.cfg.voices
        t = 1 + 2 * n  # target columns; the previous step's come first, then position, kind, fill
        logits, _ = model(batch[..., 0], batch[..., 1:1 + n], batch[..., 1 + n:t], batch[..., t], batch[..., t + 1],
                          batch[..., t + 2])
        targets = (batch[..., t + 3], batch[..., t + 4:t + 4 + n], batch[..., t + 4 + n:])
        names = ("hits", "velocity", "timing")
    elif kind == "melody":
        logits, _ = model(batch[..., 0], batch[..., 1], batch[..., 2], batch[..., 3], batch[..., 4], batch[..., 5])
        targets = (batch[..., 6], batch[..., 7], batch[..., 8])
        names = ("note", "duration", "velocity")
    else:
        logits, _ = model(batch[..., 0], batch[..., 1], batch[..., 2], batch[..., 3])
        targets = (batch[..., 4], batch[..., 5])
        names = ("symbol", "duration")
    return {n: F.cross_entropy(lg.reshape(-1, lg.shape[-1]), t.reshape(-1), ignore_index=encoding.PAD)
            for n, lg, t in zip(names, logits, targets)}


def train_model(kind: str, corpus: Corpus, cfg: TrainConfig, resume: bool = False, log=print) -> dict:
    """Train one model ('melody' or 'chord' on a Corpus, 'drum' on a DrumCorpus, which keeps the
    dataset's own validation split); returns the final metrics dict.

    Writes out_dir/<kind>_lstm.pt (best, with its numpy sampling weights <kind>_lstm.npz) and
    <kind>_lstm.last.pt (every epoch, for --resume). With cfg.init_from, training starts from that
    folder's <kind>_lstm.pt, whose validation loss on the new data is the one to beat: when no
    epoch improves on it, the start weights are kept (written as the best checkpoint first).
    """
    import torch

    from app.learn.checkpoint import load_checkpoint

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    train_pieces, val_pieces, train_data, val_data, count_col = _datasets(kind, corpus, cfg)
    model = new_model(kind)
    out = Path(cfg.out_dir) / f"{kind}_lstm.pt"
    last = Path(cfg.out_dir) / f"{kind}_lstm.last.pt"
    payload = None
    start_from = Path(cfg.init_from) / f"{kind}_lstm.pt" if cfg.init_from else None
    if resume and last.exists():
        resumed, payload = load_checkpoint(last, kind)
        model.load_state_dict(resumed.state_dict())
    elif start_from is not None:
        model.load_state_dict(load_checkpoint(start_from, kind)[0].state_dict())
    # On the device before the optimiser exists, so a resumed optimiser state lands beside its weights.
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    history, start_epoch, best_val, best_epoch, steps, heads_best = _resumed_state(payload, opt)
    if payload is not None:
        log(f"{kind}: resuming after epoch {start_epoch} (best val {best_val:.3f})")
    elif start_from is not None:
        heads_best = evaluate_loss(model, val_data if len(val_data) else train_data, kind, cfg.batch_size, device)
        best_val = sum(heads_best.values())
        extra = _epoch_extra(cfg, corpus, -1, [], best_val, -1, 0, heads_best, start_from)
        _save_epoch(kind, model, opt, device, extra, best_path=out, last_path=last)
        log(f"{kind}: starting from {start_from} (val {best_val:.3f} on the new data)")
    for epoch in range(start_epoch, cfg.epochs):
        order = rng.permutation(len(train_data))
        running, tokens_per_s, steps = _train_epoch(model, opt, train_data, order, kind, cfg, device, steps, count_col,
                                                    desc=f"{kind} epoch {epoch + 1}/{cfg.epochs}")
        val = evaluate_loss(model, val_data if len(val_data) else train_data, kind, cfg.batch_size, device)
        total = sum(val.values())
        history.append({"epoch": epoch, "train_loss": running, "val_loss": total, **{f"val_{k}": x for k, x in val.items()},
                        "tokens_per_s": tokens_per_s})
        improved = total < best_val - 1e-4
        if improved:
            best_val, best_epoch, heads_best = total, epoch, val
        extra = _epoch_extra(cfg, corpus, epoch, history, best_val, best_epoch, steps, heads_best, start_from)
        _save_epoch(kind, model, opt, device, extra, best_path=out if improved else None, last_path=last)
        # Printed only once the epoch is on disk: an interrupt after the line never loses that epoch.
        log(f"{kind} epoch {epoch + 1}: train {running:.3f}  val {total:.3f} "
            f"({', '.join(f'{k} {x:.3f}' for k, x in val.items())})  {tokens_per_s:.0f} tok/s" + ("  *" if improved else ""))
        if epoch - best_epoch >= cfg.patience or (cfg.max_steps and steps >= cfg.max_steps):
            break
    return {"kind": kind, "best_val_loss": best_val, "best_epoch": best_epoch, "epochs_run": len(history),
            "val_loss_per_head": heads_best, "history": history, "checkpoint": str(out),
            "train_pieces": len(train_pieces), "val_pieces": len(val_pieces)}


def _epoch_extra(cfg: TrainConfig, corpus, epoch: int, history: list, best_val: float, best_epoch: int, steps: int,
                 heads_best: dict, start_from: Path | None) -> dict:
    """What a checkpoint records beside the weights: the training config, the data, the progress,
    and for a fine-tune the checkpoint it started from (path and content hash)."""
    from app.learn.checkpoint import file_sha256

    extra = {"train_config": {k: (str(x) if isinstance(x, Path) else x) for k, x in asdict(cfg).items()},
             "data_fingerprint": corpus.fingerprint, "data_source": corpus.source, "epoch": epoch,
             "history": history, "best_val_loss": best_val, "best_epoch": best_epoch, "steps": steps,
             "val_loss_per_head": heads_best}
    if start_from is not None:
        extra["init_from"] = {"file": str(start_from), "sha256": file_sha256(start_from)}
    return extra


def _resumed_state(payload: dict | None, opt) -> tuple[list, int, float, int, int, dict]:
    """(history, first epoch to run, best val loss, best epoch, steps, best per-head losses) from a
    last-epoch checkpoint's payload (None: a fresh start); loads its optimiser state into `opt`."""
    if payload is None:
        return [], 0, float("inf"), -1, 0, {}
    if "optimizer" in payload:
        opt.load_state_dict(payload["optimizer"])
    return (payload.get("history", []), payload.get("epoch", -1) + 1, payload.get("best_val_loss", float("inf")),
            payload.get("best_epoch", -1), payload.get("steps", 0), payload.get("val_loss_per_head", {}))


def _save_epoch(kind: str, model, opt, device: str, extra: dict, best_path: Path | None, last_path: Path) -> None:
    """Write the epoch's checkpoints: the best model (with its numpy sampling weights) when
    `best_path` is given, and always the resumable last one (with the optimiser state)."""
    from app.learn.checkpoint import export_sampling_weights, save_checkpoint

    if best_path is not None:
        save_checkpoint(best_path, kind, model.to("cpu"), extra)
        export_sampling_weights(best_path, kind)
    save_checkpoint(last_path, kind, model.to("cpu"), {**extra, "optimizer": opt.state_dict()})
    model.to(device)


def _train_epoch(model, opt, train_data, order, kind: str, cfg: TrainConfig, device: str, steps: int,
                 count_col: int, desc: str) -> tuple[float | None, float, int]:
    """One pass over the training windows in `order` (stopping at cfg.max_steps): returns the
    smoothed training loss, tokens per second (non-PAD entries of column count_col), and the
    optimiser steps taken so far."""
    import torch
    from tqdm import tqdm

    model.train()
    t0, seen = time.perf_counter(), 0
    bar = tqdm(range(0, len(order), cfg.batch_size), desc=desc, leave=False, disable=None, unit="batch")
    running = None
    for i in bar:
        batch = train_data[order[i:i + cfg.batch_size]].to(device)
        losses = batch_losses(model, batch, kind)
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps += 1
        seen += int((batch[..., count_col] != encoding.PAD).sum())
        running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
        bar.set_postfix(loss=f"{running:.3f}", tok_s=f"{seen / (time.perf_counter() - t0):.0f}")
        if cfg.max_steps and steps >= cfg.max_steps:
            break
    return running, seen / max(1e-9, time.perf_counter() - t0), steps


def _datasets(kind: str, corpus, cfg: TrainConfig):
    """(train pieces, validation pieces, train windows, validation windows, the column whose
    non-PAD entries count as tokens) for one kind of model."""
    import torch

    from app.learn.corpus import split_pieces

    if kind == "drum":
        train_pieces, val_pieces = corpus.split()
        make, window, count_col = drum_windows, cfg.drum_window, 0  # count steps by their pattern column
    else:
        pieces = corpus.pieces_for(kind) if hasattr(corpus, "pieces_for") else corpus.pieces
        train_pieces, val_pieces = split_pieces(pieces, cfg.val_fraction, cfg.seed)
        make, window, count_col = (melody_windows if kind == "melody" else chord_windows), cfg.window, -1
    train_data = torch.from_numpy(make(train_pieces, window))
    val_data = torch.from_numpy(make(val_pieces, window)) if val_pieces else train_data[:0]
    return train_pieces, val_pieces, train_data, val_data, count_col


def evaluate_loss(model, data, kind: str, batch_size: int, device: str = "cpu") -> dict:
    """Mean validation loss per head."""
    import torch

    model.eval()
    sums: dict = {}
    count = 0
    with torch.no_grad():
        for i in range(0, len(data), batch_size):
            batch = data[i:i + batch_size].to(device)
            for k, v in batch_losses(model, batch, kind).items():
                sums[k] = sums.get(k, 0.0) + v.item() * len(batch)
            count += len(batch)
    return {k: v / max(1, count) for k, v in sums.items()}
