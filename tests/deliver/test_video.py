"""Videos (app/deliver/video.py) checked with ffprobe: H.264 at 1920x1080 or 1080x1920, AAC at 48 kHz
and 320 kbps, as long as the audio, chapters for a mix; youtube.txt; and a generate_music track with
--video and --loop-bars end to end (its loop exactly N bars, joining seamlessly)."""

import numpy as np
import pytest
import soundfile as sf

from app.deliver.names import OutputDirs
from app.deliver.video import Chapter, make_video, youtube_text
from app.errors import OutputError
from app.pipeline import run_track
from app.spec import TrackSpec
from tests.fixtures.checks import loop_flux, loop_jumps, probe

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _streams(info: dict) -> dict:
    return {s["codec_type"]: s for s in info["streams"] if s["codec_type"] in ("video", "audio")}


def _check_codecs(info: dict, size: tuple[int, int], seconds: float) -> None:
    streams = _streams(info)
    video, audio = streams["video"], streams["audio"]
    assert (video["codec_name"], video["width"], video["height"], video["pix_fmt"]) == ("h264", *size, "yuv420p")
    assert (audio["codec_name"], int(audio["sample_rate"]), audio["channels"]) == ("aac", 48000, 2)
    assert abs(float(info["format"]["duration"]) - seconds) < 0.15
    assert abs(float(video["duration"]) - seconds) < 0.15  # the picture lasts as long as the sound


@pytest.fixture(scope="module")
def track(models, tmp_path_factory):
    out = tmp_path_factory.mktemp("video")
    spec = TrackSpec(name="clip", minutes=0.2, key="F", mode="major", seed=3, picture=False, video="landscape",
                     loop_bars=2)
    return run_track(spec, models=models, dirs=OutputDirs.under(out))


def test_track_video_codecs_size_and_duration(track):
    wav = sf.info(track.files["wav"])
    info = probe(track.files["video"])
    _check_codecs(info, (1920, 1080), wav.frames / wav.samplerate)
    # 320 kbps asked of the AAC encoder: a real track's stream comes close to it (it is not a tone).
    assert int(_streams(info)["audio"]["bit_rate"]) > 250_000
    assert track.sidecar["files"]["video"].endswith("clip.mp4") and track.sidecar["timings_s"]["video"] > 0


def test_track_video_moves(track, tmp_path):
    """Not a still: two frames a second apart differ (the waveform), mostly in its strip at the bottom."""
    import subprocess

    frames = []
    for at in (2.0, 3.0):
        png = tmp_path / f"{at}.png"
        subprocess.run(["ffmpeg", "-v", "error", "-ss", str(at), "-i", str(track.files["video"]), "-frames:v", "1",
                        str(png)], check=True, timeout=60)
        from PIL import Image

        frames.append(np.asarray(Image.open(png).convert("L"), dtype=np.float32))
    change = np.abs(frames[0] - frames[1])
    assert change[780:1020].mean() > 1.0 and change[780:1020].mean() > 5 * change[:700].mean()


def test_youtube_text(track):
    text = track.files["youtube"].read_text(encoding="utf-8")
    assert text.startswith("Title:\nclip - lofi generator") and "F major at" in text and "Tags:\nlofi," in text


def test_track_loop_is_exact_and_seamless(track):
    loop, rate = sf.read(track.files["loop"], dtype="float32")
    bars = 2 * 4 * 60 / track.song.tempo_bpm
    assert len(loop) == round(bars * rate)
    jump, inside = loop_jumps(loop.T)
    assert jump <= inside
    join_flux, inside_flux = loop_flux(loop.T)
    assert join_flux <= inside_flux


def test_shorts_video_with_chapters_and_titles(tmp_path):
    from PIL import Image

    rate, seconds = 44100, 3.0
    t = np.arange(int(rate * seconds)) / rate
    sf.write(tmp_path / "mix.wav", np.stack([np.sin(2 * np.pi * 220 * t)] * 2).T * 0.3, rate)
    cover = Image.new("RGB", (300, 300), (200, 120, 90))
    chapters = [Chapter(0.0, "First = one; #1"), Chapter(1.5, "Second's")]
    out = make_video(tmp_path / "mix.wav", tmp_path / "mix.mp4", cover, "shorts", chapters, titles_on_screen=True)
    info = probe(out)
    _check_codecs(info, (1080, 1920), seconds)
    assert [(round(float(c["start_time"]), 2), c["tags"]["title"]) for c in info["chapters"]] == [
        (0.0, "First = one; #1"), (1.5, "Second's")]


def test_youtube_text_lists_a_mix_with_timestamps():
    text = youtube_text("Album - mix", ["A mix."], [Chapter(0, "One"), Chapter(185.5, "Two")], ["lofi", "lofi", "x"])
    assert "Tracklist:\n00:00 One\n03:05 Two\n" in text and text.endswith("Tags:\nlofi, x\n")


def test_unreadable_audio_is_one_clear_error(tmp_path):
    from PIL import Image

    (tmp_path / "bad.wav").write_bytes(b"not audio")
    with pytest.raises(OutputError, match="cannot read the length of bad.wav|ffmpeg could not make"):
        make_video(tmp_path / "bad.wav", tmp_path / "bad.mp4", Image.new("RGB", (10, 10)))
    assert not list(tmp_path.glob("*.mp4*"))


def test_sigterm_stops_the_encoding_at_once_and_leaves_no_file(tmp_path):
    import os
    import signal
    import subprocess
    import threading
    import time

    from PIL import Image

    from app.errors import Interrupted
    from app.main import stop_signals_interrupt

    rate = 44100
    sf.write(tmp_path / "long.wav", np.zeros((rate * 120, 2), np.float32), rate)  # 2 minutes: seconds to encode
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGTERM))
    began = time.monotonic()
    timer.start()
    with pytest.raises(Interrupted), stop_signals_interrupt():
        make_video(tmp_path / "long.wav", tmp_path / "long.mp4", Image.new("RGB", (64, 64)), duration_s=120.0)
    assert time.monotonic() - began < 5.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.wav"]
    running = subprocess.run(["pgrep", "-f", str(tmp_path / "long.wav")], capture_output=True, text=True).stdout
    assert not running.strip()
