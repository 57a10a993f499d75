"""Export: a mastered track -> WAV, MP3 and FLAC files (44.1 kHz, 16-bit, TPDF-dithered once), tagged;
and the stems as plain WAVs.

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
# Stems are for remixing: one louder than this peak is scaled down to it rather than clipped.
STEM_PEAK = 0.89


def _dither_to_int16(audio: np.ndarray, seed: int = 0) -> np.ndarray:
    """float (2, n) -> interleaved int16 (n, 2) with TPDF dither of +-1 LSB (seeded: exports repeat).

    The triangular noise is the difference of two uniform bytes (256 steps per LSB is plenty), drawn
    as raw bytes because that is ~10x faster than drawing floats.
    """
    rng = np.random.default_rng(seed)
    channels, n = audio.shape
    out = np.empty((n, channels), np.int16)
    chunk = 1 << 16
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        block = audio[:, start:stop].T * np.float32(32767.0)
        noise = np.frombuffer(rng.bytes(2 * block.size), np.uint8).reshape(2, *block.shape)
        block += (noise[0].astype(np.float32) - noise[1]) * np.float32(1 / 256)
        np.rint(block, out=block)
        np.clip(block, -32768, 32767, out=block)
        out[start:stop] = block
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


def _write_wav(tmp: Path, pcm: np.ndarray, tags: dict[str, str]) -> None:
    import soundfile

    soundfile.write(tmp, pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    if tags:
        tag_file(tmp, "wav", tags)


def _write_flac(tmp: Path, pcm: np.ndarray, tags: dict[str, str]) -> None:
    import soundfile

    soundfile.write(tmp, pcm, SAMPLE_RATE, subtype="PCM_16", format="FLAC")
    if tags:
        tag_file(tmp, "flac", tags)


def _write_mp3(tmp: Path, pcm: np.ndarray, tags: dict[str, str]) -> None:
    from pydub import AudioSegment

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
    pcm = _dither_to_int16(audio)
    base_path = Path(base_path)
    if base_path.suffix.lower().lstrip(".") in FORMATS:
        base_path = base_path.with_suffix("")
    written = []
    for name in names:
        path = base_path.with_name(f"{base_path.name}.{name}")
        with atomic_path(path) as tmp:
            try:
                _WRITERS[name](Path(tmp), pcm, clean_tags)
            except (RuntimeError, ValueError) as exc:  # soundfile / mutagen failures
                raise OutputError(f"cannot write {path}: {exc}") from exc
        written.append(path)
    return written


def write_stem(audio: np.ndarray, path: Path) -> Path:
    """Write a stem (2, n) at SAMPLE_RATE as a 16-bit WAV, undithered, scaled down to STEM_PEAK when
    louder (stems are for remixing: keep them unclipped). Returns the path."""
    import soundfile as sf

    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    data = audio / peak * STEM_PEAK if peak > STEM_PEAK else audio
    with atomic_path(path) as tmp:
        sf.write(str(tmp), data.T, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return path
