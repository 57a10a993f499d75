"""The delivery checks of a release: each final measured against the spec, and compliance.md.

    figures = measure_compliance(path, expected_s, bar_s, intro_end_s, outro_start_s)   # a Compliance
    text = compliance_report(manifest)                                                 # compliance.md
"""

from __future__ import annotations

from pathlib import Path

from app.config import CEILING_DBTP
from app.config import TAIL_S, TARGET_LUFS
from app.errors import OutputError
from app.release.records import FAILED, Compliance, Manifest

# Delivery spec checked by the compliance report (the loudness and peak targets and the release
# tail every stem gets after the music are app.config's).
LUFS_TOLERANCE = 0.5
MAX_SILENCE_S = 2.0
SILENCE_DBFS = -60.0
SILENCE_HOP_S = 0.05  # silence is judged on the RMS of 50 ms stretches (channels together)
CLIPPED = 32767 / 32768  # a 16-bit full-scale sample, read as float


def intro_outro_s(song) -> tuple[float, float]:
    """Seconds where the intro ends and the outro starts (silence is allowed outside them)."""
    spb = 60.0 / song.tempo_bpm
    intro = next((s for s in song.sections if s.name == "intro"), None)
    outro = next((s for s in reversed(song.sections) if s.name == "outro"), None)
    return (intro.end * spb if intro else 0.0), (outro.start * spb if outro else song.length_seconds)


def measured_file(finals: dict[str, Path]) -> Path:
    """The final the checks measure: the WAV, else the FLAC, else the MP3."""
    for fmt in ("wav", "flac", "mp3"):
        if fmt in finals:
            return Path(finals[fmt])
    raise OutputError("no final file to measure")


def read_audio(path: Path):
    """A final file -> (float32 (2, n), sample rate)."""
    import numpy as np
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as file:  # opened once: its subtype says how to read it
            rate = file.samplerate
            if file.subtype == "PCM_16":
                # As integers, scaled straight into the (channels, n) layout: the same floats
                # libsndfile gives, without its interleaved float copy (a fifth of the time).
                ints = file.read(dtype="int16", always_2d=True)
                data = np.empty((ints.shape[1], ints.shape[0]), np.float32)
                np.multiply(ints.T, np.float32(1 / 32768), out=data)
            else:
                data = np.ascontiguousarray(file.read(dtype="float32", always_2d=True).T)
    except RuntimeError:  # an MP3 this libsndfile cannot decode: go through ffmpeg
        from pydub import AudioSegment

        seg = AudioSegment.from_file(str(path))
        data = np.asarray(seg.get_array_of_samples(), np.float32).reshape(-1, seg.channels).T / 32768.0
        rate = seg.frame_rate
    if data.shape[0] == 1:
        data = np.repeat(data, 2, axis=0)
    return np.ascontiguousarray(data, dtype=np.float32), rate


def measure_compliance(path: Path, expected_s: float, bar_s: float, intro_end_s: float,
                       outro_start_s: float, sample_rate: int | None = None) -> Compliance:
    """The delivery checks on one final file: integrated loudness (within 0.5 LU of -14 LUFS), true
    peak (<= -1 dBTP), clipped samples (full-scale 16-bit values: none), the longest silence (< -60
    dBFS) between intro and outro (<= 2 s), duration (the requested length plus the tail, within a bar);
    the sample rate when one is expected, and for a WAV that it holds only `fmt ` and `data` chunks."""
    from app.audio.master import integrated_lufs, true_peak_dbtp

    audio, rate = read_audio(path)
    # The blockwise BS.1770 measure the master reports (float32 K-weighting, within 0.01 LU of
    # pyloudnorm; a tenth of the float64 reference's time on a 16-bit file).
    lufs = integrated_lufs(audio, rate)
    peak = true_peak_dbtp(audio, rate)
    clipped = clipped_samples(audio)
    longest = longest_silence_s(audio, rate, intro_end_s, outro_start_s)
    duration = audio.shape[1] / rate
    checks = {
        "loudness": bool(abs(lufs - TARGET_LUFS) <= LUFS_TOLERANCE),
        "true_peak": bool(peak <= CEILING_DBTP),
        "clipping": clipped == 0,
        "silence": longest <= MAX_SILENCE_S,
        "duration": bool(abs(duration - expected_s) <= bar_s + 0.5),
    }
    if sample_rate is not None:
        checks["sample_rate"] = rate == sample_rate
    if Path(path).suffix.lower() == ".wav":
        from app.deliver.tags import WAV_DELIVERY_CHUNKS, wav_chunks

        checks["wav_chunks"] = [cid.encode() for cid, _ in wav_chunks(path)] == list(WAV_DELIVERY_CHUNKS)
    return Compliance(lufs=round(float(lufs), 2), true_peak_dbtp=round(float(peak), 2), clipped_samples=clipped,
                      longest_silence_s=round(longest, 2), duration_s=round(duration, 2),
                      expected_duration_s=round(expected_s, 2), checks=checks, passed=all(checks.values()))


def clipped_samples(audio) -> int:
    """How many samples of audio (channels, n) float sit at 16-bit full scale (|x| >= 32767/32768)."""
    import numpy as np

    if max(float(audio.max(initial=0.0)), -float(audio.min(initial=0.0))) < CLIPPED:
        return 0  # the usual case, without counting
    return int(np.count_nonzero(audio >= CLIPPED) + np.count_nonzero(audio <= -CLIPPED))


def longest_silence_s(audio, rate: int, intro_end_s: float, outro_start_s: float) -> float:
    """The longest run (s) of SILENCE_HOP_S stretches of audio (channels, n) quieter than SILENCE_DBFS
    RMS between intro_end_s and outro_start_s."""
    from app.audio.master import block_sums

    hop = int(SILENCE_HOP_S * rate)
    whole = audio.shape[1] // hop
    mean_square = block_sums(audio[:, : whole * hop], hop) / (audio.shape[0] * hop)
    silent = mean_square < 10 ** (2 * SILENCE_DBFS / 20)
    longest = run = 0
    for quiet in silent[int(intro_end_s / SILENCE_HOP_S): int(outro_start_s / SILENCE_HOP_S)]:
        run = run + 1 if quiet else 0
        longest = max(longest, run)
    return longest * SILENCE_HOP_S


def compliance_report(manifest: Manifest) -> str:
    """compliance.md: a table per track of the delivery checks, pass or fail, and regenerations."""
    rel = manifest.release
    lines = [f"# Compliance report: {rel.album} ({rel.artist})", "",
             f"Delivery spec: WAV {rel.sample_rate / 1000:g} kHz {rel.bit_depth}-bit holding only its fmt and "
             f"data chunks, {TARGET_LUFS:g} LUFS integrated (within {LUFS_TOLERANCE} LU), "
             f"true peak <= {CEILING_DBTP:g} dBTP, no clipped samples, no silence (< {SILENCE_DBFS:g} dBFS) "
             f"longer than {MAX_SILENCE_S:g} s outside intro and outro, duration = requested length + "
             f"{TAIL_S:g} s tail (within a bar).", "",
             "| # | title | status | LUFS | true peak dBTP | clipped | longest silence s | duration s | result |",
             "|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for r in manifest.tracks:
        c = r.compliance
        if c:
            failed = [k for k, ok in c.checks.items() if not ok]
            result = "PASS" if c.passed else f"FAIL ({', '.join(failed)})"
            lines.append(f"| {r.track_number} | {r.title} | {r.status} | {c.lufs:.2f} | "
                         f"{c.true_peak_dbtp:.2f} | {c.clipped_samples} | {c.longest_silence_s:.2f} | "
                         f"{c.duration_s:.2f} | {result} |")
        else:
            lines.append(f"| {r.track_number} | {r.title} | {r.status} | - | - | - | - | - | "
                         f"{'FAIL (not made)' if r.status == FAILED else 'not made yet'} |")
        if r.error:
            notes.append(f"- Track {r.track_number} failed: {r.error}")
        for g in r.regenerated:
            notes.append(f"- Track {r.track_number}: seed {g.seed} rejected by the originality guard "
                         f"({g.reason}); made again with a new seed (now {r.seed}).")
    s = manifest.summary
    lines += ["", f"{s.compliance_pass} of {s.tracks} tracks pass; {s.done} done, {s.failed} failed, "
              f"{s.pending} not made yet.", "",
              "Originality guard: no 16-note melody window (as intervals) of any track occurs in the training "
              "melodies, and no two tracks share an identical 8-bar melody and chord passage."]
    if notes:
        lines += ["", "## Notes", ""] + notes
    return "\n".join(lines) + "\n"

