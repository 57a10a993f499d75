"""Checkpoint I/O. A checkpoint describes itself: weights, config, vocabulary, training config,
data fingerprint and metrics, so generation needs nothing but the file."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from app.errors import CheckpointError

if TYPE_CHECKING:
    from app.learn.numpy_model import NumpyChordLSTM, NumpyMelodyLSTM

KINDS = ("melody", "chord", "drum")


def vocab_of(kind: str) -> dict:
    """The vocabulary sizes this code uses for a kind of model, as stored in its checkpoint."""
    if kind == "drum":
        from app.learn.drum_encoding import DRUM_VOCAB

        return asdict(DRUM_VOCAB)
    from app.learn.encoding import VOCAB

    return asdict(VOCAB)


def _model_classes(kind: str):
    """(config class, nn.Module class) of a kind of model."""
    if kind == "drum":
        from app.learn.drum_model import DrumConfig, DrumLSTM

        return DrumConfig, DrumLSTM
    from app.learn.model import ChordConfig, ChordLSTM, MelodyConfig, MelodyLSTM

    return (MelodyConfig, MelodyLSTM) if kind == "melody" else (ChordConfig, ChordLSTM)


def save_checkpoint(path: Path, kind: str, model, extra: dict) -> Path:
    """Write {'kind', 'model', 'model_config', 'vocab', ...extra} atomically."""
    import torch

    from app.files import atomic_path

    payload = {"kind": kind, "model": model.state_dict(), "model_config": asdict(model.cfg),
               "vocab": vocab_of(kind), **extra}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: Path, kind: str):
    """Load a checkpoint of the given kind -> (model in eval mode, payload dict).

    Raises CheckpointError naming the file when it is missing, unreadable, of another kind, or
    its vocabulary or tensor shapes do not match this code.
    """
    import torch

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} not found; run `python -m app.main train` to make it")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        raise CheckpointError(f"checkpoint {path} is not a {kind} model (kind={payload.get('kind') if isinstance(payload, dict) else '?'})")
    if payload.get("vocab") != vocab_of(kind):
        raise CheckpointError(f"checkpoint {path} was trained with another vocabulary "
                              f"({payload.get('vocab')}); retrain with `python -m app.main train`")
    config_cls, model_cls = _model_classes(kind)
    try:
        model = model_cls(config_cls(**payload["model_config"]))
        model.load_state_dict(payload["model"])
    except (TypeError, RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise CheckpointError(f"checkpoint {path} does not match the {kind} model's shape: {first}") from exc
    model.eval()
    return model, payload


def file_sha256(path: Path) -> str:
    """Short content hash of a checkpoint, recorded in each track's sidecar. Hashed once per process
    (files.cached_sha256): batch workers make many tracks from the same weights."""
    from app.files import cached_sha256

    return cached_sha256(path)[:16]


def sampling_weights_path(path: Path) -> Path:
    """The numpy weights file that goes with a checkpoint: models/x.pt -> models/x.npz."""
    return Path(path).with_suffix(".npz")


def export_sampling_weights(path: Path, kind: str) -> Path:
    """Write <checkpoint>.npz: the model's float32 weights plus a JSON header (kind, model config,
    vocabulary, data fingerprint, best validation loss), read by load_sampling_model without torch."""
    import json

    import numpy as np

    from app.files import atomic_path

    path = Path(path)
    _, payload = load_checkpoint(path, kind)
    header = {"kind": kind, "model_config": payload["model_config"], "vocab": payload["vocab"],
              "data_fingerprint": payload.get("data_fingerprint"), "best_val_loss": payload.get("best_val_loss"),
              "source": path.name}
    arrays = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in payload["model"].items()}
    out = sampling_weights_path(path)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, __header__=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    return out


def load_sampling_model(path: Path, kind: str) -> NumpyChordLSTM | NumpyMelodyLSTM:
    """Load the numpy port of a model for sampling from <checkpoint>.npz (given the .pt or .npz path).

    Raises CheckpointError naming the file when it is missing, unreadable, of another kind, or its
    vocabulary or weight shapes do not match this code.
    """
    import json
    from types import SimpleNamespace

    import numpy as np

    from app.learn.numpy_model import NumpyChordLSTM, NumpyDrumLSTM, NumpyMelodyLSTM

    path = sampling_weights_path(path)
    if not path.exists():
        raise CheckpointError(f"model weights {path} not found; run `python -m app.main train` to make them")
    try:
        with np.load(path) as data:
            header = json.loads(bytes(data["__header__"]).decode())
            weights = {k: data[k] for k in data.files if k != "__header__"}
    except Exception as exc:
        raise CheckpointError(f"model weights {path} are unreadable ({type(exc).__name__})") from exc
    if header.get("kind") != kind:
        raise CheckpointError(f"model weights {path} are not a {kind} model (kind={header.get('kind')})")
    if header.get("vocab") != vocab_of(kind):
        raise CheckpointError(f"model weights {path} were trained with another vocabulary; "
                              "retrain with `python -m app.main train`")
    cfg = SimpleNamespace(**header["model_config"])
    expected = _expected_shapes(kind, cfg)
    for name, shape in expected.items():
        if name not in weights or tuple(weights[name].shape) != shape:
            got = tuple(weights[name].shape) if name in weights else "missing"
            raise CheckpointError(f"model weights {path} do not match the {kind} model's shape: {name} is {got}, "
                                  f"expected {shape}")
    port = {"melody": NumpyMelodyLSTM, "chord": NumpyChordLSTM, "drum": NumpyDrumLSTM}[kind]
    return port(cfg, weights)


def _expected_shapes(kind: str, cfg) -> dict[str, tuple]:
    """Weight shapes the numpy port reads, derived from the config (as app.learn.model builds them)."""
    if kind == "melody":
        emb = {"note_emb": (cfg.note_vocab, cfg.note_dim), "duration_emb": (cfg.duration_vocab, cfg.duration_dim),
               "velocity_emb": (cfg.velocity_vocab, cfg.velocity_dim), "chord_emb": (cfg.chord_vocab, cfg.chord_dim),
               "position_emb": (cfg.position_vocab, cfg.position_dim), "mode_emb": (cfg.mode_vocab, cfg.mode_dim)}
        cond = cfg.chord_dim + cfg.position_dim + cfg.mode_dim
        heads = {"note_head": (cfg.note_vocab, cfg.hidden + cond),
                 "duration_head": (cfg.duration_vocab, cfg.hidden + cfg.position_dim),
                 "velocity_head": (cfg.velocity_vocab, cfg.hidden + cfg.position_dim)}
    elif kind == "drum":
        emb = {"pattern_emb": (cfg.pattern_vocab, cfg.pattern_dim),
               "velocity_emb": (cfg.velocity_vocab, cfg.velocity_dim), "offset_emb": (cfg.offset_vocab, cfg.offset_dim),
               "position_emb": (cfg.position_vocab, cfg.position_dim), "kind_emb": (cfg.kind_vocab, cfg.kind_dim),
               "fill_emb": (cfg.fill_vocab, cfg.fill_dim)}
        cond = cfg.position_dim + cfg.kind_dim + cfg.fill_dim
        heads = {"pattern_head": (cfg.pattern_vocab, cfg.hidden + cond),
                 "velocity_head": (cfg.voices * cfg.velocity_vocab, cfg.hidden + cond),
                 "offset_head": (cfg.voices * cfg.offset_vocab, cfg.hidden + cond)}
    else:
        emb = {"symbol_emb": (cfg.symbol_vocab, cfg.symbol_dim), "duration_emb": (cfg.duration_vocab, cfg.duration_dim),
               "position_emb": (cfg.position_vocab, cfg.position_dim), "mode_emb": (cfg.mode_vocab, cfg.mode_dim)}
        heads = {"symbol_head": (cfg.symbol_vocab, cfg.hidden), "duration_head": (cfg.duration_vocab, cfg.hidden)}
    width = sum(shape[1] for shape in emb.values())
    if kind == "drum":  # every voice has its own velocity and offset slot in the input
        width += (cfg.voices - 1) * (cfg.velocity_dim + cfg.offset_dim)
    shapes = {f"{k}.weight": v for k, v in emb.items()}
    for k, (out, inp) in heads.items():
        shapes[f"{k}.weight"], shapes[f"{k}.bias"] = (out, inp), (out,)
    for layer in range(cfg.layers):
        inp = width if layer == 0 else cfg.hidden
        shapes[f"lstm.weight_ih_l{layer}"] = (4 * cfg.hidden, inp)
        shapes[f"lstm.weight_hh_l{layer}"] = (4 * cfg.hidden, cfg.hidden)
        shapes[f"lstm.bias_ih_l{layer}"] = shapes[f"lstm.bias_hh_l{layer}"] = (4 * cfg.hidden,)
    return shapes
