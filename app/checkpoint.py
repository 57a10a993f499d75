"""Checkpoint I/O. A checkpoint describes itself: weights, config, vocabulary, training config,
data fingerprint and metrics, so generation needs nothing but the file."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path

from app.errors import CheckpointError

KINDS = ("melody", "chord")


def save_checkpoint(path: Path, kind: str, model, extra: dict) -> Path:
    """Write {'kind', 'model', 'model_config', 'vocab', ...extra} atomically."""
    import torch

    from app.encoding import VOCAB
    from app.files import atomic_path

    payload = {"kind": kind, "model": model.state_dict(), "model_config": asdict(model.cfg),
               "vocab": asdict(VOCAB), **extra}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: Path, kind: str):
    """Load a checkpoint of the given kind -> (model in eval mode, payload dict).

    Raises CheckpointError naming the file when it is missing, unreadable, of another kind, or
    its vocabulary or tensor shapes do not match this code.
    """
    import torch

    from app.encoding import VOCAB
    from app.model import ChordConfig, ChordLSTM, MelodyConfig, MelodyLSTM

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} not found; run `python -m app.main train` to make it")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        raise CheckpointError(f"checkpoint {path} is not a {kind} model (kind={payload.get('kind') if isinstance(payload, dict) else '?'})")
    if payload.get("vocab") != asdict(VOCAB):
        raise CheckpointError(f"checkpoint {path} was trained with another vocabulary "
                              f"({payload.get('vocab')}); retrain with `python -m app.main train`")
    config_cls, model_cls = (MelodyConfig, MelodyLSTM) if kind == "melody" else (ChordConfig, ChordLSTM)
    try:
        model = model_cls(config_cls(**payload["model_config"]))
        model.load_state_dict(payload["model"])
    except (TypeError, RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise CheckpointError(f"checkpoint {path} does not match the {kind} model's shape: {first}") from exc
    model.eval()
    return model, payload


def file_sha256(path: Path) -> str:
    """Short content hash of a checkpoint, recorded in each track's sidecar."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
