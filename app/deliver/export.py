"""Export: a mastered track -> WAV, MP3 and FLAC files at its own sample rate (44.1 or 48 kHz), 16-bit
(dithered once, with noise shaping) or 24-bit, tagged; and the stems as float WAVs that sum to the
pre-master mix.

    from app.deliver.export import export_track
    export_track(final, 48000, Path("out/track"), formats=("wav", "mp3"), tags={"title": "Rain"}, bit_depth=24)

A WAV holds the `fmt ` chunk, then a LIST/INFO chunk with the text tags (when there are any), then
the `data` chunk: nothing follows the audio (distributors refuse files with chunks after it; a
release strips the WAV to `fmt ` + `data`, app/deliver/tags.py strip_wav_metadata).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.audio.master import check_audio
from app.config import DEFAULT_BIT_DEPTH, FORMATS, SAMPLE_RATE
from app.deliver.tags import normalise_tags, tag_file
from app.errors import BadValueError, OutputError
from app.files import atomic_path, sndfile_errors_named
from app.spec import check_format

MP3_BITRATE = "320k"
# Stems are for remixing: 32-bit float keeps each at the mix's gain staging, unrounded and unclipped.
STEM_SUBTYPE = "FLOAT"
# Noise shaping of 16-bit files: Lipshitz, Vanderkooy and Wannamaker's "minimally audible" 5-tap error
# filter (E-weighted, as in Audacity and Ardour). The requantisation noise leaves 1-6 kHz, where
# hearing is keenest, for the top octave; its noise transfer function is 1 - z^-1 * FIR(z).
NOISE_SHAPING_FIR = (2.033, -2.165, 1.959, -1.590, 0.6149)
# The error feedback is a recursion, one sample after another. Numpy runs it on many stretches of
# SHAPING_SEGMENT frames side by side; each stretch first runs SHAPING_WARMUP frames of the one
# before it (output dropped) so it starts with a real error history rather than silence.
SHAPING_SEGMENT, SHAPING_WARMUP = 256, 16
DITHER_BLOCK_FRAMES = 1 << 20  # frames dithered at a time: memory does not grow with the track
# Full scale of each bit depth, and the numpy type soundfile is given (24-bit samples travel as
# int32 with the low byte zero: libsndfile keeps the top 24 bits).
_PCM = {16: (32767.0, -32768, np.int16, "PCM_16"), 24: (8388607.0, -8388608, np.int32, "PCM_24")}
# Tags a LIST/INFO chunk carries (libsndfile's names); bpm and key live in the sidecar and the other formats.
INFO_TAGS = ("title", "artist", "album", "genre", "comment", "tracknumber")


def _tpdf(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Triangular dither of +-1 LSB, float32 of `shape`: the difference of two uniform bytes (256 steps
    per LSB is plenty), drawn as raw bytes because that is ~10x faster than drawing floats."""
    size = int(np.prod(shape))
    noise = np.frombuffer(rng.bytes(2 * size), np.uint8).reshape(2, *shape)
    return (noise[0].astype(np.float32) - noise[1]) * np.float32(1 / 256)


def _shaped_block(scaled: np.ndarray, history: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """scaled: float32 (channels, m) in LSBs -> float32 (channels, m) whole numbers, TPDF-dithered with
    the NOISE_SHAPING_FIR error feedback (not yet clipped). history: the SHAPING_WARMUP frames before
    the block (channels, W), the first stretch's warm-up."""
    channels, m = scaled.shape
    seg, warm = SHAPING_SEGMENT, SHAPING_WARMUP
    count = -(-m // seg)
    padded = np.zeros((channels, warm + count * seg), np.float32)
    padded[:, :warm] = history
    padded[:, warm:warm + m] = scaled
    # windows[c, k, t] = padded[c, k * seg + t]: stretch k and the warm-up frames before it
    step = padded.strides[1]
    windows = np.lib.stride_tricks.as_strided(padded, (channels, count, warm + seg),
                                              (padded.strides[0], seg * step, step), writeable=False)
    lanes = channels * count
    x = np.ascontiguousarray(windows.reshape(lanes, warm + seg).T)  # (time, lane): each step one row
    dither = _tpdf(rng, x.shape)
    taps = len(NOISE_SHAPING_FIR)
    errors = np.zeros((taps, lanes), np.float32)  # a ring: errors[(t - 1 - j) % taps] is e[t - 1 - j]
    weights = np.zeros((taps, taps), np.float32)  # weights[t % taps] @ errors = sum_j FIR[j] * e[t - 1 - j]
    for phase in range(taps):
        for j, coefficient in enumerate(NOISE_SHAPING_FIR):
            weights[phase, (phase - 1 - j) % taps] = coefficient
    out = np.empty((seg, lanes), np.float32)
    wanted = np.empty(lanes, np.float32)
    for t in range(warm + seg):
        np.add(x[t], weights[t % taps] @ errors, out=wanted)
        row = out[t - warm] if t >= warm else np.empty(lanes, np.float32)
        np.add(wanted, dither[t], out=row)
        np.rint(row, out=row)
        np.subtract(wanted, row, out=errors[t % taps])
    return out.T.reshape(channels, count * seg)[:, :m]


def pcm_blocks(audio: np.ndarray, bit_depth: int = DEFAULT_BIT_DEPTH, seed: int = 0):
    """(start, integer (m, channels)) blocks of audio (channels, n) float as bit_depth PCM for soundfile:
    16-bit dithered with noise shaping, 24-bit with plain TPDF dither (its noise is far below hearing).
    Seeded: an export repeats exactly. One block of DITHER_BLOCK_FRAMES at a time."""
    scale, low, kind, _ = _PCM[bit_depth]
    rng = np.random.default_rng(seed)
    channels, n = audio.shape
    history = np.zeros((channels, SHAPING_WARMUP), np.float32)
    for start in range(0, n, DITHER_BLOCK_FRAMES):
        block = np.asarray(audio[:, start:start + DITHER_BLOCK_FRAMES], np.float32) * np.float32(scale)
        if bit_depth == 16:
            whole = _shaped_block(block, history, rng)
            history = block[:, -SHAPING_WARMUP:] if block.shape[1] >= SHAPING_WARMUP else np.concatenate(
                [history, block], axis=1)[:, -SHAPING_WARMUP:]
        else:
            whole = np.rint(block + _tpdf(rng, block.shape))
        np.clip(whole, low, scale, out=whole)
        pcm = whole.T.astype(kind, order="C")
        if bit_depth == 24:
            pcm <<= 8  # libsndfile takes the top 24 bits of an int32
        yield start, pcm


def to_pcm16(audio: np.ndarray, seed: int = 0) -> np.ndarray:
    """float (channels, n) -> interleaved int16 (n, channels), dithered with noise shaping (as the files)."""
    out = np.empty((audio.shape[1], audio.shape[0]), np.int16)
    for start, block in pcm_blocks(audio, 16, seed):
        out[start:start + block.shape[0]] = block
    return out


def _normalise_formats(formats) -> list[str]:
    if isinstance(formats, str):
        formats = (formats,)
    result = []
    for fmt in formats:
        name = str(fmt).lower().lstrip(".")
        if name not in FORMATS:
            raise BadValueError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
        if name not in result:
            result.append(name)
    if not result:
        raise BadValueError(f"no export format given; choose from {', '.join(FORMATS)}")
    return result


def _write_wav(tmp: Path, audio: np.ndarray, tags: dict[str, str], sample_rate: int, bit_depth: int) -> None:
    _write_pcm(tmp, audio, "WAV", sample_rate, bit_depth, {k: v for k, v in tags.items() if k in INFO_TAGS})


def _write_flac(tmp: Path, audio: np.ndarray, tags: dict[str, str], sample_rate: int, bit_depth: int) -> None:
    _write_pcm(tmp, audio, "FLAC", sample_rate, bit_depth)
    if tags:
        tag_file(tmp, "flac", tags)


def _write_pcm(tmp: Path, audio: np.ndarray, file_format: str, sample_rate: int, bit_depth: int,
               info: dict[str, str] | None = None) -> None:
    """audio (channels, n) float as bit_depth PCM, dithered block by block as it is written (memory does
    not grow with the length). info: text tags set before any audio, so libsndfile writes its LIST/INFO
    chunk ahead of the data chunk."""
    import soundfile

    subtype = _PCM[bit_depth][3]
    with sndfile_errors_named(), soundfile.SoundFile(tmp, "w", sample_rate, audio.shape[0], subtype=subtype,
                                                     format=file_format) as out:
        for name, value in (info or {}).items():
            setattr(out, name, value)
        for _, block in pcm_blocks(audio, bit_depth):
            out.write(block)


def _write_mp3(tmp: Path, audio: np.ndarray, tags: dict[str, str], sample_rate: int, bit_depth: int) -> None:
    """MP3 at 320 kbps from the 16-bit dithered samples (an MP3 has no bit depth of its own)."""
    from pydub import AudioSegment

    pcm = to_pcm16(audio)  # ffmpeg reads the whole track from pydub
    segment = AudioSegment(pcm.tobytes(), sample_width=2, frame_rate=sample_rate, channels=pcm.shape[1])
    try:
        segment.export(tmp, format="mp3", bitrate=MP3_BITRATE).close()
    except FileNotFoundError as exc:
        raise OutputError("cannot write MP3: ffmpeg is not installed (apt install ffmpeg)") from exc
    except Exception as exc:  # pydub's CouldntEncodeError carries ffmpeg's own message
        if exc.__class__.__name__ == "CouldntEncodeError":
            raise OutputError(f"ffmpeg could not encode {tmp.name}: {str(exc).splitlines()[0]}") from exc
        raise
    if tags:
        tag_file(tmp, "mp3", tags)


_WRITERS = {"wav": _write_wav, "mp3": _write_mp3, "flac": _write_flac}


def export_track(
    audio: np.ndarray,
    sample_rate: int,
    base_path: Path,
    formats=("wav",),
    tags: dict | None = None,
    bit_depth: int = DEFAULT_BIT_DEPTH,
) -> list[Path]:
    """Write audio (2, n) at sample_rate (one of SAMPLE_RATES; no resampling: the track was made at
    it) as base_path.<format> for each format; returns the paths in that order.

    WAV and FLAC are bit_depth PCM (16: dithered with noise shaping; 24: TPDF-dithered); MP3 is 320 kbps
    from the 16-bit samples. Tags (any of TAG_NAMES): WAV a LIST/INFO chunk before the audio (title,
    artist, album, genre, comment, track number), MP3 ID3v2.3, FLAC Vorbis comments. A known extension
    on base_path is dropped. Each file is written under a temporary name and renamed when complete.
    """
    check_format(sample_rate, bit_depth)
    names = _normalise_formats(formats)
    clean_tags = normalise_tags(tags)
    audio = check_audio(audio)
    if audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    base_path = Path(base_path)
    if base_path.suffix.lower().lstrip(".") in FORMATS:
        base_path = base_path.with_suffix("")
    written = []
    for name in names:
        path = base_path.with_name(f"{base_path.name}.{name}")
        with atomic_path(path) as tmp:
            try:
                _WRITERS[name](Path(tmp), audio, clean_tags, sample_rate, bit_depth)
            except (RuntimeError, ValueError) as exc:  # soundfile / mutagen failures
                raise OutputError(f"cannot write {path}: {exc}") from exc
        written.append(path)
    return written


# libsndfile's SFC_SET_ADD_PEAK_CHUNK: a float WAV's PEAK chunk holds the time it was written, so the
# same stem would never be the same bytes twice (the golden test hashes them).
_SFC_SET_ADD_PEAK_CHUNK = 0x1050


def _no_peak_chunk(sound_file) -> None:
    """Ask libsndfile (through soundfile's own handle) not to write a PEAK chunk; before any frame."""
    import soundfile

    snd, ffi = getattr(soundfile, "_snd", None), getattr(soundfile, "_ffi", None)
    if snd is not None and ffi is not None:
        snd.sf_command(sound_file._file, _SFC_SET_ADD_PEAK_CHUNK, ffi.NULL, 0)


def write_stem(audio: np.ndarray, path: Path, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write a stem (2, n) as a 32-bit float WAV, exactly as it sits in the mix (the mix's own gain
    staging, no rescaling, nothing clipped): the stems of a track summed give its pre-master mix.
    Returns the path. audio may be a SpilledAudio (app/audio/spill.py); either is written block by
    block."""
    import soundfile as sf

    from app.audio.spill import SPILL_BLOCK_FRAMES, read_block

    with atomic_path(path) as tmp, sndfile_errors_named(), sf.SoundFile(str(tmp), "w", int(sample_rate),
                                                                       audio.shape[0], subtype=STEM_SUBTYPE,
                                                                       format="WAV") as out:
        _no_peak_chunk(out)
        for start in range(0, audio.shape[1], SPILL_BLOCK_FRAMES):
            out.write(read_block(audio, start, start + SPILL_BLOCK_FRAMES).T)
    return path
