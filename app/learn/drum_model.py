"""The drum LSTM. Only the nn.Module and its config: no file I/O, no training loop."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class DrumConfig:
    pattern_vocab: int
    velocity_vocab: int
    offset_vocab: int
    voices: int
    position_vocab: int
    kind_vocab: int
    fill_vocab: int
    pattern_dim: int = 48
    velocity_dim: int = 3
    offset_dim: int = 3
    position_dim: int = 8
    kind_dim: int = 4
    fill_dim: int = 2
    hidden: int = 160
    layers: int = 2
    dropout: float = 0.3


class DrumLSTM(nn.Module):
    """A drummer on a 16th grid.

    Step t sees the previous step's hit pattern, per-voice velocity and micro-timing tokens, and
    step t's conditioning (position in the bar, section kind, fill bar); it predicts step t's hit
    pattern (one of 2**voices combinations) and, per voice, a velocity and a timing token. The
    heads also see the conditioning directly, so the fill flag and the section steer every step.
    """

    def __init__(self, cfg: DrumConfig):
        super().__init__()
        self.cfg = cfg
        self.pattern_emb = nn.Embedding(cfg.pattern_vocab, cfg.pattern_dim, padding_idx=0)
        self.velocity_emb = nn.Embedding(cfg.velocity_vocab, cfg.velocity_dim, padding_idx=0)
        self.offset_emb = nn.Embedding(cfg.offset_vocab, cfg.offset_dim, padding_idx=0)
        self.position_emb = nn.Embedding(cfg.position_vocab, cfg.position_dim)
        self.kind_emb = nn.Embedding(cfg.kind_vocab, cfg.kind_dim)
        self.fill_emb = nn.Embedding(cfg.fill_vocab, cfg.fill_dim)
        cond = cfg.position_dim + cfg.kind_dim + cfg.fill_dim
        width = cfg.pattern_dim + cfg.voices * (cfg.velocity_dim + cfg.offset_dim) + cond
        self.lstm = nn.LSTM(width, cfg.hidden, cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.pattern_head = nn.Linear(cfg.hidden + cond, cfg.pattern_vocab)
        self.velocity_head = nn.Linear(cfg.hidden + cond, cfg.voices * cfg.velocity_vocab)
        self.offset_head = nn.Linear(cfg.hidden + cond, cfg.voices * cfg.offset_vocab)

    def forward(self, prev_pattern, prev_velocity, prev_offset, position, kind, fill, state=None):
        """prev_pattern, position, kind, fill: int (batch, time); prev_velocity, prev_offset: int
        (batch, time, voices). Returns logits (pattern (B, T, P), velocity (B, T, voices, V),
        offset (B, T, voices, O)) and the LSTM state."""
        b, t = prev_pattern.shape
        cond = torch.cat([self.position_emb(position), self.kind_emb(kind), self.fill_emb(fill)], dim=-1)
        x = torch.cat([self.pattern_emb(prev_pattern), self.velocity_emb(prev_velocity).reshape(b, t, -1),
                       self.offset_emb(prev_offset).reshape(b, t, -1), cond], dim=-1)
        h, state = self.lstm(x, state)
        hc = torch.cat([self.drop(h), cond], dim=-1)
        velocity = self.velocity_head(hc).reshape(b, t, self.cfg.voices, self.cfg.velocity_vocab)
        offset = self.offset_head(hc).reshape(b, t, self.cfg.voices, self.cfg.offset_vocab)
        return (self.pattern_head(hc), velocity, offset), state
