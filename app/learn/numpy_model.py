"""The two LSTMs' forward pass in numpy, for sampling.

Generation steps one event at a time through small LSTMs, and importing torch alone takes longer
than writing a whole song, so `generate_music` runs this port of app.learn.model's networks on weights
exported from the torch checkpoints (checkpoint.export_sampling_weights). Training, validation and
checkpoints stay in PyTorch; tests check that both give the same logits.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


class NumpyLSTMStack:
    """A multi-layer unidirectional LSTM (PyTorch's gate order i, f, g, o), one step at a time."""

    def __init__(self, weights: dict, layers: int):
        self.layers = [(weights[f"lstm.weight_ih_l{k}"], weights[f"lstm.weight_hh_l{k}"],
                        weights[f"lstm.bias_ih_l{k}"] + weights[f"lstm.bias_hh_l{k}"]) for k in range(layers)]
        self.hidden = self.layers[0][1].shape[1]

    def initial_state(self) -> list[tuple[np.ndarray, np.ndarray]]:
        zero = np.zeros(self.hidden, dtype=np.float32)
        return [(zero, zero) for _ in self.layers]

    def step(self, x: np.ndarray, state) -> tuple[np.ndarray, list]:
        """x (input,) -> top hidden (hidden,), new state."""
        new_state = []
        for (w_ih, w_hh, bias), (h, c) in zip(self.layers, state):
            gates = w_ih @ x + w_hh @ h + bias
            size = self.hidden
            i, f, g, o = gates[:size], gates[size:2 * size], gates[2 * size:3 * size], gates[3 * size:]
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
            new_state.append((h, c))
            x = h
        return x, new_state


class NumpyMelodyLSTM:
    """MelodyLSTM.forward for one event: token ints in, (note, duration, velocity) logits out."""

    def __init__(self, cfg, weights: dict):
        self.cfg = cfg
        self.w = weights
        self.lstm = NumpyLSTMStack(weights, cfg.layers)

    def step(self, prev_note, prev_duration, prev_velocity, chord, position, mode, state=None):
        w = self.w
        c, p, m = w["chord_emb.weight"][chord], w["position_emb.weight"][position], w["mode_emb.weight"][mode]
        x = np.concatenate([w["note_emb.weight"][prev_note], w["duration_emb.weight"][prev_duration],
                            w["velocity_emb.weight"][prev_velocity], c, p, m])
        h, state = self.lstm.step(x, state or self.lstm.initial_state())
        note = w["note_head.weight"] @ np.concatenate([h, c, p, m]) + w["note_head.bias"]
        hp = np.concatenate([h, p])
        duration = w["duration_head.weight"] @ hp + w["duration_head.bias"]
        velocity = w["velocity_head.weight"] @ hp + w["velocity_head.bias"]
        return (note, duration, velocity), state


class NumpyChordLSTM:
    """ChordLSTM.forward for one chord: token ints in, (symbol, duration) logits out."""

    def __init__(self, cfg, weights: dict):
        self.cfg = cfg
        self.w = weights
        self.lstm = NumpyLSTMStack(weights, cfg.layers)

    def step(self, prev_symbol, prev_duration, position, mode, state=None):
        w = self.w
        x = np.concatenate([w["symbol_emb.weight"][prev_symbol], w["duration_emb.weight"][prev_duration],
                            w["position_emb.weight"][position], w["mode_emb.weight"][mode]])
        h, state = self.lstm.step(x, state or self.lstm.initial_state())
        return (w["symbol_head.weight"] @ h + w["symbol_head.bias"],
                w["duration_head.weight"] @ h + w["duration_head.bias"]), state


class NumpyDrumLSTM:
    """DrumLSTM.forward for one 16th step: tokens in, (pattern, velocity (voices, V), offset
    (voices, O)) logits out."""

    def __init__(self, cfg, weights: dict):
        self.cfg = cfg
        self.w = weights
        self.lstm = NumpyLSTMStack(weights, cfg.layers)

    def step(self, prev_pattern, prev_velocity, prev_offset, position, kind, fill, state=None):
        """prev_velocity, prev_offset: int sequences of one token per voice."""
        w = self.w
        cond = np.concatenate([w["position_emb.weight"][position], w["kind_emb.weight"][kind],
                               w["fill_emb.weight"][fill]])
        x = np.concatenate([w["pattern_emb.weight"][prev_pattern], w["velocity_emb.weight"][list(prev_velocity)].ravel(),
                            w["offset_emb.weight"][list(prev_offset)].ravel(), cond])
        h, state = self.lstm.step(x, state or self.lstm.initial_state())
        hc = np.concatenate([h, cond])
        pattern = w["pattern_head.weight"] @ hc + w["pattern_head.bias"]
        velocity = (w["velocity_head.weight"] @ hc + w["velocity_head.bias"]).reshape(self.cfg.voices, -1)
        offset = (w["offset_head.weight"] @ hc + w["offset_head.bias"]).reshape(self.cfg.voices, -1)
        return (pattern, velocity, offset), state
