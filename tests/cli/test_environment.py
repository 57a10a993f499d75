"""Smaller robustness items (issue 10, item 11): an empty LOFI_OUTPUT_DIR is unset; the wizard's
audition says when there is no audio device and can write the preview to a WAV; interrupting
`train` never loses the epoch it last printed (its checkpoint is on disk before the line)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app import paths
from tests.fixtures.music import write_folk_midi
from tests.fixtures.sf2 import write_tiny_sf2


@pytest.mark.parametrize("variable, attribute", [("LOFI_OUTPUT_DIR", "OUTPUT_ROOT"), ("LOFI_MODELS_DIR", "MODELS_DIR"),
                                                 ("LOFI_CACHE_DIR", "CACHE_DIR")])
def test_an_empty_folder_variable_counts_as_unset(tmp_path, variable, attribute):
    code = f"from app import paths; print(paths.{attribute})"
    env = {**os.environ, variable: ""}
    unset = {k: v for k, v in os.environ.items() if k != variable}
    run = lambda e: subprocess.run([sys.executable, "-c", code], env=e, cwd=tmp_path, capture_output=True,  # noqa: E731
                                   text=True, check=True).stdout.strip()
    empty, default = run({**env, "PYTHONPATH": str(paths.ROOT)}), run({**unset, "PYTHONPATH": str(paths.ROOT)})
    assert empty == default and Path(empty).is_absolute() and Path(empty) != tmp_path


@pytest.fixture
def no_sound(tmp_path, monkeypatch):
    """A Linux machine without a sound card or sound server (as in a container or over ssh)."""
    from app import wizard

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("PULSE_SERVER", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setattr(wizard, "SOUND_DEVICE_DIR", tmp_path / "snd")
    return tmp_path


def test_no_audio_device_is_detected_and_a_device_is(no_sound):
    from app import wizard

    assert not wizard.audio_device_available()
    (no_sound / "snd").mkdir()
    (no_sound / "snd" / "pcmC0D0c").touch()  # a capture device only
    assert not wizard.audio_device_available()
    (no_sound / "snd" / "pcmC0D0p").touch()
    assert wizard.audio_device_available()
    (no_sound / "snd" / "pcmC0D0p").unlink()
    (no_sound / "runtime" / "pulse").mkdir(parents=True)
    (no_sound / "runtime" / "pulse" / "native").touch()
    assert wizard.audio_device_available()


def test_the_audition_says_there_is_no_device_and_writes_the_wav(no_sound, capsys):
    import soundfile as sf

    from app import wizard
    from app.audio.instruments import discover_soundfonts

    font = write_tiny_sf2(no_sound / "fonts" / "tiny.sf2")
    inst = discover_soundfonts([font.parent])[0][0].presets[0]
    wizard.play_preview(inst, no_sound / "preview.wav")
    out = capsys.readouterr().out
    assert "no audio device" in out and "played with" not in out and wizard.SAVE_PREVIEW in out
    wizard.save_preview(inst, no_sound / "keep" / "melody-preview.wav")
    assert "preview written" in capsys.readouterr().out
    audio, rate = sf.read(no_sound / "keep" / "melody-preview.wav")
    assert rate == 44100 and audio.shape[0] == int(wizard.AUDITION_SECONDS * rate) and np.abs(audio).max() > 0.1


def test_each_epoch_is_on_disk_before_its_line_is_printed(tmp_path):
    from app.learn.checkpoint import load_checkpoint
    from app.learn.corpus import load_corpus
    from app.learn.train import TrainConfig, train_model

    (tmp_path / "midis").mkdir()
    for i, offset in enumerate([0, 2, -3, 5]):
        write_folk_midi(tmp_path / "midis" / f"tune{i}.mid", key_offset=offset, bars=8)
    corpus = load_corpus(tmp_path / "midis", jobs=1, use_cache=False)
    cfg = TrainConfig(epochs=3, batch_size=8, window=32, out_dir=tmp_path / "models", patience=10, val_fraction=0.25)
    checked = []

    def log(line: str) -> None:  # what an interrupt right after the print would leave behind
        match = re.match(r"chord epoch (\d+):.*?(\*)?$", line)
        if match:
            epoch = int(match.group(1)) - 1
            _, last = load_checkpoint(tmp_path / "models" / "chord_lstm.last.pt", "chord")
            assert last["epoch"] == epoch
            if match.group(2):  # improved: the best model and its sampling weights too
                _, best = load_checkpoint(tmp_path / "models" / "chord_lstm.pt", "chord")
                assert best["epoch"] == epoch and (tmp_path / "models" / "chord_lstm.npz").exists()
            checked.append(epoch)

    train_model("chord", corpus, cfg, log=log)
    assert checked == [0, 1, 2]
