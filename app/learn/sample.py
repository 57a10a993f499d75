"""Sampling from the two LSTMs: temperature, top-p, an optional in-key constraint, and masks that
make a progression fill whole bars. Deterministic for a seed (one numpy Generator drives every draw).

The models here are the numpy ports (app.learn.numpy_model) loaded by checkpoint.load_sampling_model,
so generating a song never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.learn import encoding
from app.music import theory
from app.music.song import Chord, Note, chord_finder


@dataclass
class SamplingOptions:
    temperature: float = 1.0
    top_p: float = 0.92
    in_key: bool = True
    seed: int | tuple[int, ...] = 0  # a tuple names an independent stream, e.g. (song seed, section, take)


def draw(logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator,
         mask: np.ndarray | None = None) -> int:
    """Sample one index from 1-D logits with a mask, temperature and nucleus (top-p) filtering."""
    # Array methods rather than np.* functions: a draw is a handful of tiny arrays, thousands of
    # times per song, and the functions' dispatch cost more than the arithmetic.
    logits = np.array(logits, dtype=np.float64)
    if mask is not None:
        logits[~mask] = -np.inf
    if temperature <= 1e-6:
        return int(logits.argmax())
    z = logits / temperature
    probs = np.exp(z - z.max())
    probs /= probs.sum()
    if top_p < 1.0:
        order = (-probs).argsort(kind="stable")
        ranked = probs[order]
        keep = order[(ranked.cumsum() - ranked) < top_p]  # always keeps the most likely token
        kept = np.zeros(probs.size)
        kept[keep] = probs[keep]
        probs = kept / kept.sum()
    return int(min(probs.cumsum().searchsorted(rng.random(), side="right"), probs.size - 1))


def _rng(seed: int | tuple[int, ...]) -> np.random.Generator:
    """numpy's SeedSequence keeps streams of different seed tuples independent (no overlaps)."""
    parts = seed if isinstance(seed, tuple) else (seed,)
    return np.random.default_rng([int(p) % (2**63) for p in parts])


def sample_progression(model, key: int, mode: str, bars: int, beats_per_bar: int = 4,
                       options: SamplingOptions = SamplingOptions(), min_beats: int = 2,
                       start_on_tonic: bool = True) -> list[Chord]:
    """Sample a chord progression filling exactly `bars` bars: chords change on beats, land on bar
    lines or half bars, last at least min_beats where that fits, and (optionally) open on the tonic."""
    v = encoding.VOCAB
    rng = _rng(options.seed)
    total = bars * beats_per_bar
    durations = [encoding.decode_chord_duration(t) for t in range(2, v.chord_duration)]
    mode_idx = encoding.MODE_INDEX[mode]
    prev, state, t = (encoding.BOS, encoding.BOS), None, 0
    chords: list[Chord] = []
    while t < total:
        (sym_logits, dur_logits), state = model.step(prev[0], prev[1], t % beats_per_bar, mode_idx, state)
        sym_mask = np.zeros(v.chord_symbol, dtype=bool)
        sym_mask[2:] = True
        if start_on_tonic and not chords:
            sym_mask[:] = False
            tonic_quality = "maj" if theory.PARENT_MODE[mode] == "major" else "min"
            sym_mask[encoding.encode_chord_symbol(key, tonic_quality, key)] = True
        if chords:
            sym_mask[prev[0]] = False  # a new chord token should change the chord
        sym = draw(sym_logits, options.temperature, options.top_p, rng, sym_mask)
        left = total - t
        dur_mask = np.zeros(v.chord_duration, dtype=bool)
        for i, d in enumerate(durations):
            fits = d <= left and (d >= min_beats or d == left)
            # Chords land on bar lines or half bars, as lo-fi progressions do.
            lands = (t + d) % beats_per_bar in (0, beats_per_bar // 2) or d == left
            dur_mask[2 + i] = fits and lands
        if not dur_mask.any():
            dur_mask[2 + durations.index(min(durations, key=lambda d: abs(d - left)))] = True
        dur = draw(dur_logits, options.temperature, options.top_p, rng, dur_mask)
        beats = min(encoding.decode_chord_duration(dur), left)
        root, quality = encoding.decode_chord_symbol(sym, key)
        chords.append(Chord(root, quality, float(t), float(beats)))
        prev = (sym, dur)
        t += beats
    return chords


def sample_melody(model, chords: list[Chord], key: int, mode: str, length_beats: float,
                  options: SamplingOptions = SamplingOptions(), beats_per_bar: int = 4,
                  start_beat: float = 0.0, prime: list[Note] | None = None) -> list[Note]:
    """Sample a melody over `chords` from start_beat for length_beats; notes never cross the end.

    prime: notes already played (their tokens warm up the LSTM state, e.g. the previous phrase).
    """
    v = encoding.VOCAB
    rng = _rng(options.seed)
    mode_idx = encoding.MODE_INDEX[mode]
    bar16 = beats_per_bar * 4
    note_mask = np.ones(v.note, dtype=bool)
    note_mask[:encoding.REST] = False
    if options.in_key:
        scale = theory.scale_pitch_classes(key, mode)
        for tok in range(3, v.note):
            note_mask[tok] = encoding.decode_pitch(tok, key) % 12 in scale
    vel_mask = np.ones(v.velocity, dtype=bool)
    vel_mask[:2] = False
    dur_classes = [encoding.decode_duration(t) for t in range(2, v.duration)]
    chord_at = chord_finder(chords)

    state = None
    prev = (encoding.BOS, encoding.BOS, encoding.BOS)
    if prime:
        for row in encoding.encode_melody(prime, chords, key, mode, bar16):
            _, state = model.step(*prev, int(row[3]), int(row[4]), mode_idx, state)
            prev = (int(row[0]), int(row[1]), int(row[2]))
    t16 = encoding.onset_16ths(start_beat)
    end16 = encoding.onset_16ths(start_beat + length_beats)
    notes: list[Note] = []
    while t16 < end16:
        chord_tok = encoding.encode_chord(chord_at(t16 / 4), key)
        (n_log, d_log, v_log), state = model.step(*prev, chord_tok, encoding.position_token(t16, bar16), mode_idx, state)
        note = draw(n_log, options.temperature, options.top_p, rng, note_mask)
        left = end16 - t16
        dur_mask = np.zeros(v.duration, dtype=bool)
        dur_mask[2:] = [d <= left for d in dur_classes]
        if not dur_mask.any():
            dur_mask[2] = True
        dur = draw(d_log, options.temperature, options.top_p, rng, dur_mask)
        vel = draw(v_log, options.temperature, options.top_p, rng, vel_mask)
        length = min(encoding.decode_duration(dur), left)
        pitch = encoding.decode_pitch(note, key)
        if pitch is not None:
            notes.append(Note(pitch, t16 / 4, length / 4, encoding.decode_velocity(vel)))
        prev = (note, dur, vel)
        t16 += length
    return notes
