"""Loudness-based gain staging: each part's level is set by its loudness (ITU-R BS.1770 K-weighting) in
the sections where it plays, not by RMS or a fixed offset; and the per-part loudness figures the
sidecar, the batch manifest and `evaluate --mix` report.

    from app.audio.levels import stage_levels, section_loudness
    staging = stage_levels(song, {"melody": m, "chords": c, "bass": b}, drums=d, beds=[(rain, -24.0)])
    staging.gains_db["melody"], staging.kick_shelf_db

The targets (all relative to the chords, or to the music bus of melody + chords + bass):
- the melody MELODY_LU from the chords where both play (the lead is heard over the Rhodes);
- the bass BASS_LU under the chords, measured on its BASS_SPLIT_HZ-and-up copy (what small speakers
  play: K-weighting counts the sub almost fully, so a sub-heavy bass reads loud yet sounds thin on a
  phone), with a sub-bass check: the whole bass, sub included, at least -BASS_SUB_MAX_LU under the
  chords (never boomy);
- the drums DRUMS_LU from the music bus with the kick, and their snare/hats band (above
  DRUM_SPLIT_HZ) BACKBEAT_LU from it: a shelf under DRUM_SPLIT_HZ (the kick) is solved so both hold;
- each ambience bed its level_db from the loudness of the music bus and drums together.
Loudness is gated BS.1770 (master.integrated_lufs) on excerpts of the sections, both for staging
and for the report on the finished layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from app.audio.spill import read_block
from app.config import SAMPLE_RATE

if TYPE_CHECKING:
    from app.music.song import Song

CHORDS_LUFS = -24.0  # the chords' loudness in the pre-master mix: headroom for the rest, in float
MELODY_LU = -1.0  # target window -4..+1 LU from the chords
BASS_LU = -5.0  # target window 2-8 LU under the chords
BASS_SPLIT_HZ = 100.0
BASS_SUB_MAX_LU = -2.0  # the whole bass, sub included, at least 2 LU under the chords: never boomy
DRUMS_LU = -0.5  # the whole kit; target window -3..+1 LU from the music bus
BACKBEAT_LU = -1.5  # the snare/hats band; the same window
KICK_SPREAD_LU = 1.5  # the whole kit at most this over its snare/hats band: the kick never swamps it
DRUM_SPLIT_HZ = 150.0
KICK_SHELF_RANGE_DB = (-12.0, 6.0)
MEASURE_MAX_S = 30.0  # staging measures at most this much of each part's sections
MUSIC_PARTS = ("melody", "chords", "bass")
REPORT_SECTION = "A"  # the sidecar's per-part loudness is measured in the first section of this name


@dataclass
class Staging:
    """The gains staging chose (dB per layer name), the drums' kick shelf (dB under DRUM_SPLIT_HZ)
    and the measured figures it aimed with (LUFS, ungated)."""

    gains_db: dict[str, float] = field(default_factory=dict)
    kick_shelf_db: float = 0.0
    aimed: dict[str, float] = field(default_factory=dict)


def section_frames(song: Song, needs: set[str], n: int, sample_rate: int,
                   max_s: float | None = MEASURE_MAX_S) -> list[tuple[int, int]]:
    """(start, stop) sample ranges of the sections whose layers hold all of `needs`, in order, at most
    max_s seconds in all (None: no limit); [] when no section does."""
    per_beat = 60.0 / song.tempo_bpm * sample_rate
    left = n if max_s is None else int(max_s * sample_rate)
    frames = []
    for section in song.sections:
        if not needs <= section.layers or left <= 0:
            continue
        start = int(section.start * per_beat)
        stop = min(n, int(section.end * per_beat), start + int(left))
        if stop > start:
            frames.append((start, stop))
            left -= stop - start
    return frames


def excerpt(audio, frames: list[tuple[int, int]]) -> np.ndarray:
    """The samples of `frames` joined end to end: float32 (channels, m) from an array or a SpilledAudio."""
    blocks = [read_block(audio, start, stop) for start, stop in frames]
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((audio.shape[0], 0), np.float32)


def _k_weighting_power(freqs: np.ndarray, sample_rate: int) -> np.ndarray:
    """|K(f)|^2 of BS.1770's K-weighting (pyloudnorm's coefficients) at `freqs`."""
    from app.audio.master import _k_weighting_sos

    # |b0 + b1 z + b2 z^2|^2 on the unit circle, z = exp(-jw), in real arithmetic (a complex exponential
    # and two complex divisions per bin cost ten times as much), written in s = sin^2(w/2) so that the
    # high-pass's double zero at DC does not cancel terms near 1:
    # (b0 + b1 + b2)^2 - 4 (b0 b1 + b1 b2 + 4 b0 b2) s + 16 b0 b2 s^2.
    s = np.sin(np.pi * np.asarray(freqs, np.float64) / sample_rate) ** 2

    def squared_magnitude(c: np.ndarray) -> np.ndarray:
        return (c[0] + c[1] + c[2]) ** 2 - 4 * (c[0] * c[1] + c[1] * c[2] + 4 * c[0] * c[2]) * s + 16 * c[0] * c[2] * s * s

    power = np.ones(s.size)
    for row in _k_weighting_sos(sample_rate).astype(np.float64):
        power *= squared_magnitude(row[:3]) / squared_magnitude(row[3:])
    return power


class Spectra:
    """The spectra of excerpts of equal length (the same frames of every layer), K-weighted, so the
    loudness of any weighted sum, in any band, is a sum over bins (Parseval): no filtering per trial."""

    def __init__(self, length: int, sample_rate: int):
        self.length, self.sample_rate = length, sample_rate
        self.n_fft = fast_fft_length(length)  # zero-padded: any length is fast
        self.freqs = np.fft.rfftfreq(self.n_fft, 1 / sample_rate)
        self.weight = _k_weighting_power(self.freqs, sample_rate)
        self._weights: dict[float, np.ndarray] = {}

    def of(self, audio: np.ndarray) -> np.ndarray:
        """The complex spectrum (channels, bins) of an excerpt of this length (channels in parallel:
        numpy's FFT releases the GIL)."""
        from app.audio.blocks import map_channels

        return map_channels(lambda channel: np.fft.rfft(channel, n=self.n_fft), np.asarray(audio, np.float32))

    def _bin_weight(self, low_hz: float) -> np.ndarray:
        """K-weighting per rfft bin, 0 under low_hz; bins other than DC and Nyquist stand for two
        (the negative frequencies). Made once per low_hz."""
        if low_hz not in self._weights:
            weight = self.weight * 2.0
            weight[0] = self.weight[0]
            weight[-1] = self.weight[-1]
            weight[self.freqs < low_hz] = 0.0
            self._weights[low_hz] = weight
        return self._weights[low_hz]

    def _weighted(self, a: np.ndarray, b: np.ndarray, low_hz: float) -> float:
        """Re(a b*) K-weighted and summed over channels and the bins at or above low_hz, from the
        real and imaginary parts (no complex product or magnitude is made)."""
        product = a.real * b.real
        product += a.imag * b.imag
        return float((product @ self._bin_weight(low_hz)).sum())

    def _lufs_of_energy(self, energy: float) -> float:
        mean_square = energy / (self.n_fft * self.length)
        return -0.691 + 10 * math.log10(mean_square) if mean_square > 0 else -math.inf

    def lufs(self, spectrum: np.ndarray, low_hz: float = 0.0) -> float:
        """Ungated BS.1770 loudness of the excerpt with this spectrum, only bins at or above low_hz."""
        return self._lufs_of_energy(self._weighted(spectrum, spectrum, low_hz))

    def sum_energies(self, a: np.ndarray, b: np.ndarray, low_hz: float = 0.0) -> tuple[float, float, float]:
        """(|a|^2, Re(a b*), |b|^2) K-weighted and summed over bins at or above low_hz: the energy of
        a + c b is |a|^2 + 2c Re(a b*) + c^2 |b|^2, so lufs_of_sum tries any c without a pass over bins."""
        return self._weighted(a, a, low_hz), self._weighted(a, b, low_hz), self._weighted(b, b, low_hz)

    def lufs_of_sum(self, energies: tuple[float, float, float], c: float) -> float:
        """Ungated loudness of a + c b from sum_energies(a, b)."""
        aa, ab, bb = energies
        return self._lufs_of_energy(max(0.0, aa + 2 * c * ab + c * c * bb))


def fast_fft_length(m: int) -> int:
    """The smallest 2^a 3^b 5^c >= m: numpy's FFT is fast on those lengths (a large prime factor can
    make it hundreds of times slower)."""
    best = 1 << max(m - 1, 1).bit_length()
    fives = 1
    while fives < best:
        threes = fives
        while threes < best:
            length = threes
            while length < m:
                length *= 2
            best = min(best, length)
            threes *= 3
        fives *= 5
    return best


def highpass_fft(audio: np.ndarray, cutoff_hz: float, sample_rate: int) -> np.ndarray:
    """A brick-wall high-pass of an excerpt (float32 (channels, m)) by FFT: the band a measurement
    needs exactly (the kick or the sub-bass left out), not a filter to listen to."""
    from app.audio.blocks import map_channels

    m = audio.shape[1]
    n_fft = fast_fft_length(m)  # zero-padded: any length is fast
    below = np.fft.rfftfreq(n_fft, 1 / sample_rate) < cutoff_hz

    def one_channel(channel: np.ndarray) -> np.ndarray:  # channels in parallel: the FFT releases the GIL
        spectrum = np.fft.rfft(channel, n=n_fft)
        spectrum[below] = 0
        return np.fft.irfft(spectrum, n=n_fft)[:m].astype(np.float32)

    return map_channels(one_channel, audio)


def kick_splitter():
    """The filter kick_shelf_part runs (keep one per layer to carry its state from block to block)."""
    import pedalboard

    return pedalboard.LowpassFilter(cutoff_frequency_hz=DRUM_SPLIT_HZ)


def kick_shelf_part(audio: np.ndarray, sample_rate: int, splitter=None) -> np.ndarray:
    """The part of `audio` the kick shelf scales: a first-order low-pass at DRUM_SPLIT_HZ (pedalboard);
    audio minus it is the snare/hats side, so the two always sum back to the drums. splitter: a
    kick_splitter() carried over consecutive blocks (None: a fresh one)."""
    return (splitter or kick_splitter())(np.asarray(audio, np.float32), sample_rate, reset=False)


def _lufs(audio: np.ndarray, sample_rate: int) -> float:
    """Gated BS.1770 loudness of an excerpt (-inf when silent or under 0.4 s)."""
    from app.audio.master import integrated_lufs

    if audio.shape[1] < 0.4 * sample_rate:
        return -math.inf
    return integrated_lufs(audio, sample_rate)


def _gain(target: float, measured: float) -> float:
    """The gain (dB) taking `measured` to `target`; 0 when either is not finite (a silent part)."""
    return target - measured if math.isfinite(target) and math.isfinite(measured) else 0.0


def _scaled(audio: np.ndarray, gain_db: float) -> np.ndarray:
    return audio * np.float32(10 ** (gain_db / 20))


def stage_levels(song: Song, stems: dict, drums=None, beds: list = (), sample_rate: int = SAMPLE_RATE, *,
                 duck=None, duck_db: float = 0.0) -> Staging:
    """Gains (dB) for the music stems, the drum layer ('drums' key, with kick_shelf_db) and each
    ambience bed ('ambience0', 'ambience1', ...) that meet the targets in the module docstring.
    stems: part -> (2, n) array or SpilledAudio; drums: the drum or beat layer or None; beds:
    (audio, level_db) pairs; duck(start, stop), duck_db: the kick envelope the music will pump under.
    Loudness is gated BS.1770 over the sections where the parts compared both play (at most
    MEASURE_MAX_S). Parts with no section to measure, or silent, keep 0 dB."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="kit") as pool:
        # The kit's shelf and loudness do not depend on the music: worked out meanwhile.
        n = max(audio.shape[1] for audio in stems.values())
        kit_job = None if drums is None else pool.submit(_kit_shelf, song, drums, n, sample_rate)
        return _stage_music(song, stems, drums, beds, n, sample_rate, kit_job, duck, duck_db)


def _stage_music(song: Song, stems: dict, drums, beds: list, n: int, sample_rate: int, kit_job,
                 duck, duck_db: float) -> Staging:
    """stage_levels, given the Future of the drum layer's _kit_shelf (None without drums)."""
    staging = Staging()
    gains, aimed = staging.gains_db, staging.aimed

    def frames_for(*parts: str) -> list[tuple[int, int]]:
        """Where the parts play together in the body of the song (the melody over the beat: A and B,
        where the report measures), else together, else the first alone, else the start."""
        return (section_frames(song, {*parts, "melody", "beat"}, n, sample_rate)
                or section_frames(song, set(parts), n, sample_rate)
                or section_frames(song, {parts[0]}, n, sample_rate) or _whole_frames(n, sample_rate))

    chords_lufs: dict[tuple, float] = {}  # the chords over the same frames are measured once

    def chords_over(frames: list[tuple[int, int]]) -> float:
        key = tuple(frames)
        if key not in chords_lufs:
            chords_lufs[key] = _lufs(excerpt(stems["chords"], frames), sample_rate)
        return chords_lufs[key]

    if "chords" in stems:
        gains["chords"] = _gain(CHORDS_LUFS, chords_over(frames_for("chords")))

    def under_chords(part: str) -> tuple[np.ndarray, float]:
        """The part's excerpt where it and the chords play, and the staged chords' loudness there."""
        if "chords" not in stems:
            return excerpt(stems[part], frames_for(part)), CHORDS_LUFS
        frames = frames_for(part, "chords")
        chords = chords_over(frames) + gains["chords"]
        return excerpt(stems[part], frames), chords if math.isfinite(chords) else CHORDS_LUFS

    if "melody" in stems:
        melody, chords = under_chords("melody")
        gains["melody"] = _gain(chords + MELODY_LU, _lufs(melody, sample_rate))
    if "bass" in stems:
        bass, chords = under_chords("bass")
        upper, whole = _lufs(highpass_fft(bass, BASS_SPLIT_HZ, sample_rate), sample_rate), _lufs(bass, sample_rate)
        # the sub-bass check: the whole bass, sub included, BASS_SUB_MAX_LU from the chords at most
        gains["bass"] = min(_gain(chords + BASS_LU, upper), _gain(chords + BASS_SUB_MAX_LU, whole))
        aimed["bass_sub_over_chords_lu"] = whole + gains["bass"] - chords if math.isfinite(whole) else -math.inf
    for part in stems:
        gains.setdefault(part, 0.0)
    if drums is not None:
        _stage_drums(song, stems, n, sample_rate, staging, kit_job, duck, duck_db)
    if beds:
        _stage_beds(song, stems, drums, beds, n, sample_rate, staging)
    return staging


def _whole_frames(n: int, sample_rate: int) -> list[tuple[int, int]]:
    return [(0, min(n, int(MEASURE_MAX_S * sample_rate)))]


def _bus(stems: dict, frames, gains_db: dict) -> np.ndarray:
    """The music stems summed at their gains over `frames` (an excerpt)."""
    return sum(_scaled(excerpt(audio, frames), gains_db[part]) for part, audio in stems.items())


def _shaped_kit(kit: np.ndarray, shelf_db: float, sample_rate: int) -> np.ndarray:
    """The drums with the kick shelf: kit + (shelf - 1) x its low band (as the mix applies it)."""
    if not shelf_db:
        return kit
    return kit + kick_shelf_part(kit, sample_rate) * np.float32(10 ** (shelf_db / 20) - 1)


def _drum_frames(song: Song, n: int, sample_rate: int) -> list[tuple[int, int]]:
    """Where the full kit plays under the melody (A, B: where it is heard against it), else any beat."""
    return (section_frames(song, {"beat", "melody"}, n, sample_rate) or section_frames(song, {"beat"}, n, sample_rate)
            or section_frames(song, {"drums"}, n, sample_rate) or _whole_frames(n, sample_rate))


def _stage_drums(song: Song, stems: dict, n: int, sample_rate: int, staging: Staging, kit_job,
                 duck=None, duck_db: float = 0.0) -> None:
    """The drum layer's gain and kick shelf against the music bus (pumping by duck_db under the kick
    envelope duck(start, stop), when given) where the full kit plays. kit_job: a Future of the drum
    layer's _kit_shelf (its shelf in dB, the loudness of the shaped kit)."""
    frames = _drum_frames(song, n, sample_rate)
    bus = _bus(stems, frames, staging.gains_db)
    if duck is not None and duck_db:
        bus *= np.exp(np.concatenate([duck(start, stop) for start, stop in frames])
                      * np.float32(-duck_db * math.log(10) / 20))
    bus_lufs = _lufs(bus, sample_rate)
    shelf, kit_lufs = kit_job.result()
    staging.kick_shelf_db = shelf
    staging.gains_db["drums"] = _gain(bus_lufs + 0.5 * (DRUMS_LU + BACKBEAT_LU), kit_lufs)
    staging.aimed["music_bus_lufs"] = bus_lufs


def _kit_shelf(song: Song, drums, n: int, sample_rate: int) -> tuple[float, float]:
    """(the kick shelf in dB, the loudness of the kit with it: the mean of the whole kit's and of its
    snare/hats band's) of the drum layer where the full kit plays; the music plays no part in it."""
    kit = excerpt(drums, _drum_frames(song, n, sample_rate))
    # The kick may read at most KICK_SPREAD_LU over the snare/hats band: a shelf under DRUM_SPLIT_HZ
    # cuts it (never boosts it) until it does (ungated spectra: exact for the sum, no filtering per try).
    spectra = Spectra(kit.shape[1], sample_rate)
    whole, low = spectra.of(kit), spectra.of(kick_shelf_part(kit, sample_rate))

    full, band = spectra.sum_energies(whole, low), spectra.sum_energies(whole, low, DRUM_SPLIT_HZ)

    def spread(shelf_db: float) -> float:
        c = 10 ** (shelf_db / 20) - 1
        return spectra.lufs_of_sum(full, c) - spectra.lufs_of_sum(band, c)

    shelf = 0.0
    if spread(0.0) > KICK_SPREAD_LU:
        low_db, high_db = KICK_SHELF_RANGE_DB[0], 0.0
        for _ in range(16):  # the spread grows with the shelf: bisection
            middle = 0.5 * (low_db + high_db)
            low_db, high_db = (middle, high_db) if spread(middle) < KICK_SPREAD_LU else (low_db, middle)
        shelf = round(0.5 * (low_db + high_db), 2)
    shaped = _shaped_kit(kit, shelf, sample_rate)
    # one gain centres the kit and its band on the targets
    return shelf, 0.5 * (_lufs(shaped, sample_rate) + _lufs(highpass_fft(shaped, DRUM_SPLIT_HZ, sample_rate), sample_rate))


def _stage_beds(song: Song, stems: dict, drums, beds: list, n: int, sample_rate: int, staging: Staging) -> None:
    """Each ambience bed level_db from the loudness of the music bus and the drums together."""
    frames = (section_frames(song, {"beat", "melody"}, n, sample_rate)
              or section_frames(song, {"chords"}, n, sample_rate) or _whole_frames(n, sample_rate))
    total = _bus(stems, frames, staging.gains_db)
    if drums is not None:
        kit = _shaped_kit(excerpt(drums, frames), staging.kick_shelf_db, sample_rate)
        total = total + _scaled(kit, staging.gains_db["drums"])
    mix_lufs = _lufs(total, sample_rate)
    for index, (audio, level_db) in enumerate(beds):
        bed_lufs = _lufs(excerpt(audio, frames), sample_rate)
        ok = math.isfinite(bed_lufs) and math.isfinite(mix_lufs)
        staging.gains_db[f"ambience{index}"] = mix_lufs + float(level_db) - bed_lufs if ok else -math.inf


# --- the report: gated loudness of the finished layers in section A --------------------------------


def section_loudness(song: Song, layers: dict, mix, sample_rate: int) -> dict[str, float]:
    """Gated BS.1770 loudness (LUFS, rounded to 0.1) of each finished layer, of the music bus (the
    music stems summed) and of the mix, in the first REPORT_SECTION section (else the first section
    with a melody, else the whole); a silent layer reads None. Also the differences the targets are
    about: 'melody_vs_chords', 'bass_vs_chords', 'drums_vs_music', 'backbeat_vs_music' (LU)."""
    frames = report_frames(song, mix.shape[1], sample_rate)
    return section_figures(layers, excerpt(mix, frames), frames, sample_rate)


def report_frames(song: Song, n: int, sample_rate: int) -> list[tuple[int, int]]:
    """Where section_loudness measures: the first REPORT_SECTION section, else the first section
    with a melody, else the whole track (n samples)."""
    section = next((s for s in song.sections if s.name == REPORT_SECTION), None) or \
        next((s for s in song.sections if "melody" in s.layers), None)
    per_beat = 60.0 / song.tempo_bpm * sample_rate
    return [(int(section.start * per_beat), min(n, int(section.end * per_beat)))] if section else [(0, n)]


def section_figures(layers: dict, mix_part: np.ndarray, frames: list[tuple[int, int]],
                     sample_rate: int) -> dict[str, float | None]:
    """section_loudness's figures, given the mix's own excerpt over `frames`."""

    def lufs(audio) -> float | None:
        value = _lufs(audio, sample_rate)
        return round(value, 1) if math.isfinite(value) else None

    parts = {name: excerpt(audio, frames) for name, audio in layers.items()}
    figures: dict[str, float | None] = {name: lufs(audio) for name, audio in parts.items()}
    music = [parts[p] for p in MUSIC_PARTS if p in parts]
    figures["music_bus"] = lufs(sum(music)) if music else None
    figures["mix"] = lufs(mix_part)
    drum_name = "drums" if "drums" in parts else "beat" if "beat" in parts else None
    if drum_name:
        figures["backbeat"] = lufs(highpass_fft(parts[drum_name], DRUM_SPLIT_HZ, sample_rate))
    if "bass" in parts:
        figures["bass_100hz_up"] = lufs(highpass_fft(parts["bass"], BASS_SPLIT_HZ, sample_rate))

    def diff(a: str, b: str) -> float | None:
        return round(figures[a] - figures[b], 1) if figures.get(a) is not None and figures.get(b) is not None else None

    figures["melody_vs_chords"] = diff("melody", "chords")
    figures["bass_vs_chords"] = diff("bass_100hz_up", "chords")
    figures["bass_sub_vs_chords"] = diff("bass", "chords")
    if drum_name:
        figures["drums_vs_music"] = diff(drum_name, "music_bus")
        figures["backbeat_vs_music"] = diff("backbeat", "music_bus")
    return figures
