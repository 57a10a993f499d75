"""The lo-fi drum bus: the generated drums' stem through tape saturation, a little room and a dusty
low-pass, before pydub lays it over the music (the music ducks under its kick, as under a loop).

    from app.audio.drum_bus import drum_bus
    drums = drum_bus()(stem, 44100)        # an effect callable: (2, n) float32 -> (2, n) float32

The effects are app.audio.fx's callables plus Room (early reflections). Order: saturation rounds the
kit's sharp transients first (a sampled kit is cleaner than a sampled record), the room adds the
reflections of a small space, and the tone filter darkens kit and room together and clears the
rumble and the saturation's DC, all in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.audio.fx import Chain, TapeSaturation, ToneFilter, as_stereo
from app.errors import BadValueError

# The drums' level for mix_track, dB relative to the music bus RMS (as its beat_gain_db, the same as a
# loop's): in section A the drum layer then sits 2-3.5 LU under the music bus (Jazz kit, seeds 7, 11,
# 23). A song's mix (mix_song) sets the drums by loudness instead (app/audio/levels.py).
DRUM_GAIN_DB = -4.0
DRIVE_DB = 6.0
HIGHPASS_HZ = 35.0
LOWPASS_HZ = 7000.0  # above the music's 5 kHz: the hats stay audible, their fizz goes
LOWPASS_ORDER = 2  # 12 dB/octave: dusty, not muffled
# Early reflections of a small room (ms, gain); the right channel's taps come a little later, so the
# room widens a centred kit.
ROOM_TAPS = ((7.0, 0.32), (13.0, 0.24), (19.0, 0.18), (29.0, 0.13), (41.0, 0.09), (53.0, 0.06))
ROOM_SPREAD_MS = 2.5
ROOM_WET = 0.6
ROOM_BLOCK_FRAMES = 1 << 16  # in-place work: frames per block


@dataclass
class Room:
    """A little room: early reflections (delayed, fading copies of the input) mixed under the dry signal.
    taps: (delay_ms, gain) pairs; the right channel's delays are spread_ms longer; wet scales them all."""

    taps: tuple[tuple[float, float], ...] = ROOM_TAPS
    spread_ms: float = ROOM_SPREAD_MS
    wet: float = ROOM_WET

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        out = np.array(as_stereo(audio, "drums"), dtype=np.float32)  # a copy: the input stays as it was
        self.process_in_place(out, sample_rate)
        return out

    def process_in_place(self, audio: np.ndarray, sample_rate: int) -> None:
        """As __call__, overwriting audio (float32 (channels, n)) without a full-length copy: blocks are
        done from the end backwards, so the input each block reads (up to the longest delay before it)
        has not been overwritten yet; only that short stretch is copied."""
        if not 0 <= self.wet <= 1:
            raise BadValueError(f"room wet must be 0..1, got {self.wet:g}")
        channels, n = audio.shape
        delays = [[round((ms + self.spread_ms * (ch % 2)) * 1e-3 * sample_rate) for ms, _ in self.taps]
                  for ch in range(channels)]
        gains = [np.float32(g * self.wet) for _, g in self.taps]
        longest = max((d for ch in delays for d in ch), default=0)
        block = ROOM_BLOCK_FRAMES
        for stop in range(n, 0, -block):
            start = max(0, stop - block)
            lo = max(0, start - longest)
            dry = audio[:, lo:stop].copy()  # the input of this block and the stretch before it
            for ch in range(channels):
                for delay, gain in zip(delays[ch], gains):
                    first = max(start, lo + delay)  # the first output sample with input in `dry`
                    if first < stop:
                        audio[ch, first:stop] += dry[ch, first - delay - lo:stop - delay - lo] * gain

    def reset(self) -> None:
        """Stateless."""


def drum_bus() -> Chain:
    """The drum bus as one effect: TapeSaturation -> Room -> ToneFilter (high-pass and low-pass)."""
    return Chain([TapeSaturation(drive_db=DRIVE_DB), Room(),
                  ToneFilter(highpass_hz=HIGHPASS_HZ, lowpass_hz=LOWPASS_HZ, lowpass_order=LOWPASS_ORDER)])
