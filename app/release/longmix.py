"""The --mix-minutes mix: one continuous crossfaded WAV of the release's tracks and its tracklist.

    entry = make_mix(folder, manifest.tracks, minutes=60, crossfade_s=4, previous=manifest.mix)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from app.config import DEFAULT_BIT_DEPTH, SAMPLE_RATE
from app.errors import OutputError
from app.files import atomic_path, sndfile_errors_named
from app.release.compliance import read_audio
from app.release.records import ManifestRow, MixEntry


def format_timestamp(seconds: float, hours: bool) -> str:
    """'04:05' or, for mixes of an hour or more, '1:04:05' (YouTube chapter style)."""
    s = int(seconds)
    if hours and s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60:02d}:{s % 60:02d}"


def make_mix(folder: Path, rows: list[ManifestRow], minutes: float, crossfade_s: float,
             previous: MixEntry | None = None, sample_rate: int = SAMPLE_RATE,
             bit_depth: int = DEFAULT_BIT_DEPTH) -> MixEntry:
    """One continuous mix of `minutes` from the release's tracks in order (repeated if the release is
    shorter), linear crossfades of crossfade_s (a linear fade never raises the true peak above the
    louder track's), the last track faded out at the end. Writes mix.wav and tracklist.txt
    ("00:00 Title" lines, ready for a video description). Skipped when `previous` describes the same
    mix of the same tracks and its files are still there. The mix has the release's sample rate and
    bit depth (16-bit dithered with noise shaping, as the finals) and only `fmt ` and `data` chunks.
    Returns the manifest's mix entry.
    """
    import numpy as np
    import soundfile as sf

    from app.deliver.export import pcm_blocks

    sources = [(r.title, folder / r.files.get("wav", r.files.get("flac", next(iter(r.files.values())))),
                r.file_checks) for r in rows]
    fingerprint = hashlib.sha256(json.dumps([[t, str(p.name), c[p.name].sha256 if p.name in c else None]
                                             for t, p, c in sources] + [minutes, crossfade_s]).encode()).hexdigest()[:16]
    if (sample_rate, bit_depth) != (SAMPLE_RATE, DEFAULT_BIT_DEPTH):  # a mix made before these options keeps its print
        fingerprint = hashlib.sha256(f"{fingerprint}:{sample_rate}:{bit_depth}".encode()).hexdigest()[:16]
    mix_path, list_path = folder / "mix.wav", folder / "tracklist.txt"
    if previous and previous.fingerprint == fingerprint and mix_path.exists() and list_path.exists() \
            and mix_path.stat().st_size == previous.bytes:
        return previous
    rate = sample_rate
    target = int(round(minutes * 60 * rate))
    xf = int(crossfade_s * rate)
    fade_out = min(int(4.0 * rate), target // 4)
    entries: list[tuple[float, str]] = []
    written = 0

    with atomic_path(mix_path) as tmp:
        with sndfile_errors_named(), sf.SoundFile(str(tmp), "w", samplerate=rate, channels=2, subtype=f"PCM_{bit_depth}", format="WAV") as out:

            def emit(chunk):
                nonlocal written
                chunk = chunk[: max(0, target - written)]
                if len(chunk):
                    pos = written + np.arange(len(chunk))
                    gain = np.clip((target - pos) / fade_out, 0.0, 1.0).astype(np.float32)[:, None]
                    for _, block in pcm_blocks((chunk * gain).T, bit_depth, seed=written):  # seeded: repeatable
                        out.write(block)
                    written += len(chunk)

            carry = None
            i = 0
            while written < target:
                title, path, _ = sources[i % len(sources)]
                audio, sr = read_audio(path)
                if sr != rate:
                    raise OutputError(f"{path.name} is {sr} Hz; the mix needs {rate} Hz files")
                audio = audio.T
                x = min(xf, len(audio) // 3, len(carry) if carry is not None else xf)
                if carry is None:
                    entries.append((0.0, title))
                    body = audio
                else:
                    entries.append((written / rate, title))
                    ramp = np.linspace(0.0, 1.0, x, dtype=np.float32)[:, None]
                    emit(carry[: len(carry) - x])
                    emit(carry[len(carry) - x:] * (1 - ramp) + audio[:x] * ramp)
                    body = audio[x:]
                carry = body[len(body) - xf:] if len(body) > xf else body
                emit(body[: len(body) - len(carry)])
                i += 1
                if i > 100000:
                    break
            if carry is not None:
                emit(carry)
    hours = written >= 3600 * rate
    text = "\n".join(f"{format_timestamp(t, hours)} {title}" for t, title in entries if t < written / rate - 1) + "\n"
    with atomic_path(list_path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return MixEntry(file=mix_path.name, tracklist=list_path.name, minutes=minutes, crossfade_s=crossfade_s,
                    duration_s=round(written / rate, 2), entries=len(entries), bytes=mix_path.stat().st_size,
                    fingerprint=fingerprint)
