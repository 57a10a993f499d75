"""The two LSTMs. Only nn.Modules and their configs live here: no file I/O, no training loop."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class MelodyConfig:
    note_vocab: int
    duration_vocab: int
    velocity_vocab: int
    chord_vocab: int
    position_vocab: int
    mode_vocab: int
    note_dim: int = 64
    duration_dim: int = 24
    velocity_dim: int = 8
    chord_dim: int = 32
    position_dim: int = 16
    mode_dim: int = 4
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.3


class MelodyLSTM(nn.Module):
    """Melody model with separate embeddings for note, duration and velocity.

    Step t sees the previous event's three tokens and the conditioning of event t (the chord
    sounding at its onset, its position in the bar, the mode), and predicts event t's note,
    duration and velocity with three heads.
    """

    def __init__(self, cfg: MelodyConfig):
        super().__init__()
        self.cfg = cfg
        self.note_emb = nn.Embedding(cfg.note_vocab, cfg.note_dim, padding_idx=0)
        self.duration_emb = nn.Embedding(cfg.duration_vocab, cfg.duration_dim, padding_idx=0)
        self.velocity_emb = nn.Embedding(cfg.velocity_vocab, cfg.velocity_dim, padding_idx=0)
        self.chord_emb = nn.Embedding(cfg.chord_vocab, cfg.chord_dim)
        self.position_emb = nn.Embedding(cfg.position_vocab, cfg.position_dim)
        self.mode_emb = nn.Embedding(cfg.mode_vocab, cfg.mode_dim)
        width = cfg.note_dim + cfg.duration_dim + cfg.velocity_dim + cfg.chord_dim + cfg.position_dim + cfg.mode_dim
        self.lstm = nn.LSTM(width, cfg.hidden, cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        # The note head also sees the conditioning directly, so the chord steers the pitch choice.
        cond = cfg.chord_dim + cfg.position_dim + cfg.mode_dim
        self.note_head = nn.Linear(cfg.hidden + cond, cfg.note_vocab)
        self.duration_head = nn.Linear(cfg.hidden + cfg.position_dim, cfg.duration_vocab)
        self.velocity_head = nn.Linear(cfg.hidden + cfg.position_dim, cfg.velocity_vocab)

    def forward(self, prev_note, prev_duration, prev_velocity, chord, position, mode, state=None):
        """All inputs are int tensors (batch, time). Returns (note, duration, velocity) logits and state."""
        c, p, m = self.chord_emb(chord), self.position_emb(position), self.mode_emb(mode)
        x = torch.cat([self.note_emb(prev_note), self.duration_emb(prev_duration),
                       self.velocity_emb(prev_velocity), c, p, m], dim=-1)
        h, state = self.lstm(x, state)
        h = self.drop(h)
        note = self.note_head(torch.cat([h, c, p, m], dim=-1))
        duration = self.duration_head(torch.cat([h, p], dim=-1))
        velocity = self.velocity_head(torch.cat([h, p], dim=-1))
        return (note, duration, velocity), state


@dataclass
class ChordConfig:
    symbol_vocab: int
    duration_vocab: int
    position_vocab: int
    mode_vocab: int
    symbol_dim: int = 48
    duration_dim: int = 8
    position_dim: int = 8
    mode_dim: int = 4
    hidden: int = 192
    layers: int = 2
    dropout: float = 0.3


class ChordLSTM(nn.Module):
    """Chord model: previous (symbol, duration) plus the next chord's beat position and the mode
    -> next symbol and duration."""

    def __init__(self, cfg: ChordConfig):
        super().__init__()
        self.cfg = cfg
        self.symbol_emb = nn.Embedding(cfg.symbol_vocab, cfg.symbol_dim, padding_idx=0)
        self.duration_emb = nn.Embedding(cfg.duration_vocab, cfg.duration_dim, padding_idx=0)
        self.position_emb = nn.Embedding(cfg.position_vocab, cfg.position_dim)
        self.mode_emb = nn.Embedding(cfg.mode_vocab, cfg.mode_dim)
        width = cfg.symbol_dim + cfg.duration_dim + cfg.position_dim + cfg.mode_dim
        self.lstm = nn.LSTM(width, cfg.hidden, cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.symbol_head = nn.Linear(cfg.hidden, cfg.symbol_vocab)
        self.duration_head = nn.Linear(cfg.hidden, cfg.duration_vocab)

    def forward(self, prev_symbol, prev_duration, position, mode, state=None):
        """Int tensors (batch, time) -> (symbol, duration) logits and state."""
        x = torch.cat([self.symbol_emb(prev_symbol), self.duration_emb(prev_duration),
                       self.position_emb(position), self.mode_emb(mode)], dim=-1)
        h, state = self.lstm(x, state)
        h = self.drop(h)
        return (self.symbol_head(h), self.duration_head(h)), state
