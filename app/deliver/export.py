"""Export: a mastered track -> WAV, MP3 and FLAC files (44.1 kHz, 16-bit, TPDF-dithered once), tagged;
and the stems as float WAVs that sum to the pre-master mix.

    from app.deliver.export import export_track
    export_track(final, SAMPLE_RATE, Path("out/track"), formats=("wav", "mp3"), tags={"title": "Rain"})
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from app.audio.master import check_audio
from app.config import FORMATS, SAMPLE_RATE
from app.deliver.tags import normalise_tags, tag_file
from app.errors import BadValueError, OutputError
from app.files import atomic_path

MP3_BITRATE = "320k"
# Stems are for remixing: 32-bit float keeps each at the mix's gain staging, unrounded and unclipped.
STEM_SUBTYPE = "FLOAT"


def _dither_to_int16(audio: np.ndarray, seed: int = 0) -> np.ndarray:
    """float (2, n) -> interleaved int16 (n, 2) with TPDF dither of +-1 LSB (seeded: exports repeat)."""
    out = np.empty((audio.shape[1], audio.shape[0]), np.int16)
    for start, block in _dithered_blocks(audio, seed):
        out[start:start + block.shape[0]] = block
    return out


def _dithered_blocks(audio: np.ndarray, seed: int = 0):
    """(start, int16 (m, channels)) blocks of _dither_to_int16(audio, seed), made one at a time.

    The triangular noise is the difference of two uniform bytes (256 steps per LSB is plenty), drawn
    as raw bytes because that is ~10x faster than drawing floats.
    """
    rng = np.random.default_rng(seed)
    n = audio.shape[1]
    chunk = 1 << 16
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        block = audio[:, start:stop].T * np.float32(32767.0)
        noise = np.frombuffer(rng.bytes(2 * block.size), np.uint8).reshape(2, *block.shape)
        block += (noise[0].astype(np.float32) - noise[1]) * np.float32(1 / 256)
        np.rint(block, out=block)
        np.clip(block, -32768, 32767, out=block)
        yield start, block.astype(np.int16)


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


def _write_wav(tmp: Path, audio: np.ndarray, tags: dict[str, str]) -> None:
    _write_pcm16(tmp, audio, "WAV")
    if tags:
        tag_file(tmp, "wav", tags)


def _write_flac(tmp: Path, audio: np.ndarray, tags: dict[str, str]) -> None:
    _write_pcm16(tmp, audio, "FLAC")
    if tags:
        tag_file(tmp, "flac", tags)


def _write_pcm16(tmp: Path, audio: np.ndarray, file_format: str) -> None:
    """audio (2, n) float, dithered to 16 bits block by block as it is written (streaming: memory
    does not grow with the length; the dither is the same as _dither_to_int16's)."""
    import soundfile

    with soundfile.SoundFile(tmp, "w", SAMPLE_RATE, audio.shape[0], subtype="PCM_16", format=file_format) as out:
        for _, block in _dithered_blocks(audio):
            out.write(block)


def _write_mp3(tmp: Path, audio: np.ndarray, tags: dict[str, str]) -> None:
    from pydub import AudioSegment

    pcm = _dither_to_int16(audio)  # ffmpeg reads the whole track from pydub
    segment = AudioSegment(pcm.tobytes(), sample_width=2, frame_rate=SAMPLE_RATE, channels=pcm.shape[1])
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
) -> list[Path]:
    """Write audio (2, n) as base_path.<format> for each format; returns the paths in that order.

    All formats are 44.1 kHz 16-bit stereo (TPDF-dithered once and shared): WAV (with an ID3 chunk),
    MP3 at 320 kbps (ID3v2.3) and FLAC (Vorbis comments). tags: any of TAG_NAMES. A known extension on
    base_path is dropped. Each file is written under a temporary name and renamed when complete.
    """
    names = _normalise_formats(formats)
    clean_tags = normalise_tags(tags)
    audio = check_audio(audio)
    if audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    if int(sample_rate) != SAMPLE_RATE:
        from scipy import signal

        divisor = math.gcd(int(sample_rate), SAMPLE_RATE)
        audio = signal.resample_poly(
            audio, SAMPLE_RATE // divisor, int(sample_rate) // divisor, axis=-1
        ).astype(np.float32)
    base_path = Path(base_path)
    if base_path.suffix.lower().lstrip(".") in FORMATS:
        base_path = base_path.with_suffix("")
    written = []
    for name in names:
        path = base_path.with_name(f"{base_path.name}.{name}")
        with atomic_path(path) as tmp:
            try:
                _WRITERS[name](Path(tmp), audio, clean_tags)
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

    with atomic_path(path) as tmp, sf.SoundFile(str(tmp), "w", int(sample_rate), audio.shape[0], subtype=STEM_SUBTYPE,
                                                format="WAV") as out:
        _no_peak_chunk(out)
        for start in range(0, audio.shape[1], SPILL_BLOCK_FRAMES):
            out.write(read_block(audio, start, start + SPILL_BLOCK_FRAMES).T)
    return path
