"""A seamless loop of a track: exactly N bars cut from its fullest section, that repeat without a click
or a gap (`--loop-bars N` -> NAME_loop.wav).

    loop = loop_audio(mastered_audio, song, bars=8, sample_rate=SAMPLE_RATE)   # (2, exactly 8 bars)

How the join is made seamless: what sounds just after the loop's last bar (the notes it leaves
ringing, the next downbeat) is folded into the loop's first beat with a crossfade that starts at
full level. So the sample after the loop's last one is the track's own next sample, as in the
track, and the fold fades out into the loop's own start within a beat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.errors import BadValueError

if TYPE_CHECKING:
    import numpy as np

    from app.music.song import Song

FOLD_BEATS = 1.0  # how long the next bar's start is crossfaded into the loop's start


def bar_frames(song: Song, sample_rate: int) -> float:
    """The length of one bar of `song` in samples (not rounded)."""
    return song.beats_per_bar * 60.0 / song.tempo_bpm * sample_rate


def loop_length(song: Song, bars: int, sample_rate: int) -> int:
    """The loop's length in samples: exactly `bars` bars, rounded once to the nearest sample."""
    return int(round(bars * bar_frames(song, sample_rate)))


def loop_start_beat(song: Song, bars: int) -> float:
    """Where the loop starts, in beats: the start of the first section playing the most layers (the
    full band), moved back to the latest bar line that leaves room for the loop and the fold."""
    need = bars * song.beats_per_bar + FOLD_BEATS
    end = song.sections[-1].end if song.sections else song.length_beats
    if need > end + 1e-9:
        raise BadValueError(f"a loop of {bars} bars needs a track of at least {bars} bars and a beat "
                            f"({need:g} beats); this one has {end:g} beats: ask for fewer bars or more minutes")
    fullest = max(song.sections, key=lambda s: (len(s.layers), -s.start)).start if song.sections else 0.0
    latest = (end - need + 1e-9) // song.beats_per_bar * song.beats_per_bar
    return min(fullest, latest)


def loop_audio(audio: np.ndarray, song: Song, bars: int, sample_rate: int) -> np.ndarray:
    """The seamless loop (float32, (channels, exactly `bars` bars)) cut from `audio` (the track,
    beat 0 at sample 0): its first FOLD_BEATS hold the track's own continuation after the loop's
    end, fading out linearly, over the loop's start, fading in."""
    import numpy as np

    if not isinstance(bars, int) or bars < 1:
        raise BadValueError(f"loop bars must be a whole number of at least 1, got {bars!r}")
    length = loop_length(song, bars, sample_rate)
    start = int(round(loop_start_beat(song, bars) * 60.0 / song.tempo_bpm * sample_rate))
    fold = int(round(FOLD_BEATS * 60.0 / song.tempo_bpm * sample_rate))
    if start + length + fold > audio.shape[1]:
        raise BadValueError(f"a loop of {bars} bars does not fit in this track's audio; ask for fewer bars")
    loop = np.array(audio[:, start:start + length], dtype=np.float32)
    after = np.asarray(audio[:, start + length:start + length + fold], dtype=np.float32)
    fade_in = np.linspace(0.0, 1.0, fold, endpoint=False, dtype=np.float32)
    loop[:, :fold] = loop[:, :fold] * fade_in + after * (1.0 - fade_in)
    return loop
