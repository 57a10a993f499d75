"""Sampling from the two LSTMs: temperature, top-p, an optional in-key constraint, and masks that
make a progression fill whole bars. Deterministic for a seed (a torch.Generator drives every draw)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from app import encoding, theory
from app.song import Chord, Note


@dataclass
class SamplingOptions:
    temperature: float = 1.0
    top_p: float = 0.92
    in_key: bool = True
    seed: int = 0


def _draw(logits, temperature: float, top_p: float, generator, mask=None) -> int:
    """Sample one index from 1-D logits with temperature and nucleus (top-p) filtering."""
    import torch

    logits = logits.clone().float()
    if mask is not None:
        logits[~mask] = float("-inf")
    if temperature <= 1e-6:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, idx = torch.sort(probs, descending=True)
        cum = torch.cumsum(sorted_p, dim=-1)
        keep = cum - sorted_p < top_p  # always keeps the most likely token
        filtered = torch.zeros_like(probs)
        filtered[idx[keep]] = sorted_p[keep]
        probs = filtered
    probs = probs / probs.sum()
    return int(torch.multinomial(probs, 1, generator=generator))


@contextlib.contextmanager
def _inference():
    """One thread and no autograd: a single-step LSTM is far too small to share across threads,
    and on a busy 2-core machine the thread hand-offs cost more than the arithmetic."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(threads)


def _generator(seed: int):
    import torch

    g = torch.Generator()
    g.manual_seed(int(seed) % (2**63))
    return g


def sample_progression(model, key: int, mode: str, bars: int, beats_per_bar: int = 4,
                       options: SamplingOptions = SamplingOptions(), min_beats: int = 2,
                       start_on_tonic: bool = True) -> list[Chord]:
    """Sample a chord progression filling exactly `bars` bars (chords change on beats, last at least
    min_beats long where it fits)."""
    import torch

    v = encoding.VOCAB
    g = _generator(options.seed)
    total = bars * beats_per_bar
    durations = [encoding.decode_chord_duration(t) for t in range(2, v.chord_duration)]
    mode_idx = encoding.MODE_INDEX[mode]
    tokens: list[tuple[int, int]] = []
    prev = (encoding.BOS, encoding.BOS)
    state = None
    t = 0
    with _inference():
        while t < total:
            pos = t % beats_per_bar
            x = [torch.tensor([[a]]) for a in (prev[0], prev[1], pos, mode_idx)]
            (sym_logits, dur_logits), state = model(*x, state)
            sym_mask = torch.zeros(v.chord_symbol, dtype=torch.bool)
            sym_mask[2:] = True
            if start_on_tonic and not tokens:
                sym_mask[:] = False
                quality = "maj" if mode == "major" else "min"
                sym_mask[encoding.encode_chord_symbol(key, quality, key)] = True
            if tokens:
                sym_mask[tokens[-1][0]] = False  # a new token should change the chord
            sym = _draw(sym_logits[0, -1], options.temperature, options.top_p, g, sym_mask)
            left = total - t
            dur_mask = torch.zeros(v.chord_duration, dtype=torch.bool)
            for i, d in enumerate(durations):
                fits = d <= left and (d >= min_beats or d == left)
                # Chords land on bar lines or half bars, as lo-fi progressions do.
                lands = (t + d) % beats_per_bar in (0, beats_per_bar // 2) or d == left
                dur_mask[2 + i] = fits and lands
            if not dur_mask.any():
                dur_mask[2 + durations.index(min(durations, key=lambda d: abs(d - left)))] = True
            dur = _draw(dur_logits[0, -1], options.temperature, options.top_p, g, dur_mask)
            beats = min(encoding.decode_chord_duration(dur), left)
            tokens.append((sym, dur))
            root, quality = encoding.decode_chord_symbol(sym, key)
            prev = (sym, dur)
            t += beats
    chords, t = [], 0.0
    for sym, dur in tokens:
        root, quality = encoding.decode_chord_symbol(sym, key)
        beats = min(encoding.decode_chord_duration(dur), total - t)
        chords.append(Chord(root, quality, t, float(beats)))
        t += beats
    return chords


def sample_melody(model, chords: list[Chord], key: int, mode: str, length_beats: float,
                  options: SamplingOptions = SamplingOptions(), beats_per_bar: int = 4,
                  start_beat: float = 0.0, prime: list[Note] | None = None) -> list[Note]:
    """Sample a melody over `chords` from start_beat for length_beats; notes never cross the end.

    prime: notes already played (their tokens warm up the LSTM state, e.g. the previous phrase).
    """
    import torch

    v = encoding.VOCAB
    g = _generator(options.seed)
    mode_idx = encoding.MODE_INDEX[mode]
    bar16 = beats_per_bar * 4
    scale = theory.scale_pitch_classes(key, mode)
    note_mask = torch.ones(v.note, dtype=torch.bool)
    note_mask[:encoding.REST] = False
    if options.in_key:
        for tok in range(3, v.note):
            if encoding.decode_pitch(tok, key) % 12 not in scale:
                note_mask[tok] = False
    dur_classes = [encoding.decode_duration(t) for t in range(2, v.duration)]
    chord_by_16th = _chord_lookup(chords)

    def cond(t16: int):
        beat = t16 / 4
        return encoding.encode_chord(chord_by_16th(beat), key), encoding.position_token(t16, bar16)

    state = None
    prev = (encoding.BOS, encoding.BOS, encoding.BOS)
    with _inference():
        if prime:
            rows = encoding.encode_melody(prime, chords, key, mode, bar16)
            for row in rows:
                x = [torch.tensor([[a]]) for a in (*prev, row[3], row[4], mode_idx)]
                _, state = model(*x, state)
                prev = (int(row[0]), int(row[1]), int(row[2]))
        start16 = encoding.onset_16ths(start_beat)
        end16 = encoding.onset_16ths(start_beat + length_beats)
        t16 = start16
        notes: list[Note] = []
        while t16 < end16:
            chord_tok, pos = cond(t16)
            x = [torch.tensor([[a]]) for a in (*prev, chord_tok, pos, mode_idx)]
            (n_log, d_log, v_log), state = model(*x, state)
            note = _draw(n_log[0, -1], options.temperature, options.top_p, g, note_mask)
            left = end16 - t16
            dur_mask = torch.zeros(v.duration, dtype=torch.bool)
            for i, d in enumerate(dur_classes):
                dur_mask[2 + i] = d <= left
            if not dur_mask.any():
                dur_mask[2] = True
            dur = _draw(d_log[0, -1], options.temperature, options.top_p, g, dur_mask)
            vel_mask = torch.zeros(v.velocity, dtype=torch.bool)
            vel_mask[2:] = True
            vel = _draw(v_log[0, -1], options.temperature, options.top_p, g, vel_mask)
            length = min(encoding.decode_duration(dur), left)
            pitch = encoding.decode_pitch(note, key)
            if pitch is not None:
                notes.append(Note(pitch, t16 / 4, length / 4, encoding.decode_velocity(vel)))
            prev = (note, dur, vel)
            t16 += length
    return notes


def _chord_lookup(chords: list[Chord]):
    starts = np.array([c.start for c in chords]) if chords else np.zeros(0)

    def at(beat: float) -> Chord | None:
        i = int(np.searchsorted(starts, beat + 1e-9, side="right")) - 1
        if i >= 0 and beat < chords[i].end - 1e-9:
            return chords[i]
        return None

    return at
