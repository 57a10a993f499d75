"""Block-by-block processing gives the same samples as processing whole arrays: the lo-fi chain in
place, the master in place, spilled layers, stems written from them, and blockwise rendering."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from app.audio import master as M
from app.audio.fx import PRESETS, lofi_chain
from app.audio.instruments import default_instrument
from app.audio.render import _part_blocks, render_part
from app.audio import spill as spill_module
from app.audio.spill import SpilledAudio, spill, use_memory
from app.config import SPILL_MEMORY_BYTES
from app.deliver.export import write_stem
from app.music.song import Note, Part
from tests.fixtures.checks import needs_gm

SR = 44100


def _music(seconds: float, seed: int = 0) -> np.ndarray:
    """A loud-ish tone with noise and one hot second: limiter and glue both have work to do."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.3 * t)) + 0.05 * rng.standard_normal(t.size)
    audio = np.stack([x, np.roll(x, 7)]).astype(np.float32)
    audio[:, 3 * SR:4 * SR] *= 4
    return audio


@pytest.mark.parametrize("preset", list(PRESETS))
def test_chain_in_place_matches_the_chain(preset):
    audio = _music(3.1)
    expected = lofi_chain(preset)(audio, SR)
    lofi_chain(preset).process_in_place(audio, SR)
    assert np.array_equal(audio, expected)


def test_master_in_place_matches_master():
    audio = _music(12.0)
    expected = M.master(audio, SR)
    done = M.master(audio, SR, in_place=True)
    assert done.audio is audio
    assert np.array_equal(done.audio, expected.audio)
    assert done.lufs == expected.lufs
    assert done.true_peak_dbtp == expected.true_peak_dbtp
    assert done.true_peak_dbtp <= -1.0


def test_spilled_audio_reads_back_what_was_written():
    audio = _music(2.0)
    layer = spill(audio, frames=10_000)
    assert layer.shape == audio.shape
    assert np.array_equal(np.asarray(layer), audio)
    assert np.array_equal(layer.read(12_345, 33_333), audio[:, 12_345:33_333])
    assert layer.peak == float(np.abs(audio).max())
    assert layer.sum_squares == pytest.approx(float(np.sum(audio.astype(np.float64) ** 2)), rel=1e-12)
    assert [start for start, _ in layer.blocks(40_000)] == list(range(0, audio.shape[1], 40_000))
    with pytest.raises(ValueError):
        layer.append(np.zeros((1, 10), np.float32))


def test_spilled_audio_keeps_blocks_in_memory_only_within_the_budget():
    """Blocks stay in memory up to the budget (all live layers together), the rest go to the file;
    reads across both are exact, and a dropped layer gives its bytes back."""
    import gc

    audio = _music(2.0)
    block_bytes = 2 * 10_000 * 4
    held_before = spill_module._memory["held"]
    use_memory(held_before + 3 * block_bytes)  # room for three blocks of 10,000 frames
    try:
        layer = spill(audio, frames=10_000)
        assert spill_module._memory["held"] == held_before + 3 * block_bytes
        assert layer._file is not None  # the other blocks went to disk
        assert sum(isinstance(at, np.ndarray) for _, at in layer._segments) == 3
        assert np.array_equal(np.asarray(layer), audio)
        assert np.array_equal(layer.read(25_000, 47_000), audio[:, 25_000:47_000])  # memory, then disk
        audio[:] = 0  # the kept blocks are copies
        assert layer.peak > 0 and np.asarray(layer).any()
        del layer
        gc.collect()
        assert spill_module._memory["held"] == held_before
    finally:
        use_memory(SPILL_MEMORY_BYTES)


def test_a_handed_over_array_is_kept_whole_when_it_fits_and_written_when_it_does_not():
    import gc

    audio = _music(2.0)
    held_before = spill_module._memory["held"]
    try:
        use_memory(held_before + audio.nbytes)
        kept = spill(audio.copy(), owned=True)
        assert kept._file is None and len(kept._segments) == 1
        assert spill_module._memory["held"] == held_before + audio.nbytes
        assert np.array_equal(np.asarray(kept), audio)
        view = kept.view(1_000, 50_000)
        assert view.base is not None and not view.flags.writeable  # a view of the handed-over array
        use_memory(held_before + audio.nbytes + 10)  # the second layer no longer fits
        written = spill(audio.copy(), owned=True)
        assert written._file is not None
        assert np.array_equal(written.read(25_000, 47_000), audio[:, 25_000:47_000])
        del kept, written, view
        gc.collect()
        assert spill_module._memory["held"] == held_before
    finally:
        use_memory(SPILL_MEMORY_BYTES)


@pytest.mark.parametrize("level", [0.3, 1.5])  # under full scale, and over it (kept: float stems)
def test_stem_written_from_a_spill_is_the_stem_written_from_the_array(tmp_path, level):
    audio = _music(7.0) * np.float32(level)  # longer than one spill block
    write_stem(audio, tmp_path / "array.wav")
    write_stem(spill(audio), tmp_path / "spill.wav")
    assert (tmp_path / "array.wav").read_bytes() == (tmp_path / "spill.wav").read_bytes()
    data, rate = soundfile.read(tmp_path / "spill.wav", dtype="float32")
    assert rate == SR and data.shape == (audio.shape[1], 2)
    assert soundfile.info(tmp_path / "spill.wav").subtype == "FLOAT"
    assert np.array_equal(data.T, audio)  # at the mix's level, not rescaled


@pytest.mark.parametrize("frames", [SR * 3, SR * 3 + 17, 32768 * 2 + 1])  # whole ms or not, chunk edges
def test_mix_keeps_every_frame_whatever_the_length(frames):
    from app.audio.mix import PYDUB_CHUNK_FRAMES, mix_track

    rng = np.random.default_rng(frames)
    stems = {"melody": (rng.standard_normal((2, frames)) * 0.05).astype(np.float32)}
    beat = spill((rng.standard_normal((2, frames)) * 0.1).astype(np.float32))
    out = mix_track(stems, beat=beat, ambience=[(np.full((2, 1000), 0.01, np.float32), -20.0)], chain="clean")
    assert out.shape == (2, frames) and np.isfinite(out).all()
    # The ends of every pydub chunk carry the layers (no frame dropped or left unmixed).
    edges = [stop - 1 for stop in range(PYDUB_CHUNK_FRAMES, frames, PYDUB_CHUNK_FRAMES)] + [frames - 1]
    assert all(np.abs(out[:, edge]).max() > 0 for edge in edges)


@needs_gm
def test_blockwise_render_matches_one_render():
    notes = [Note(60 + (i % 5) * 2, i * 0.5, 0.75, 90) for i in range(12)]
    part = Part("melody", notes)
    instrument = default_instrument("melody")
    whole = render_part(part, instrument, 90.0, seed=3, length_beats=6.0, tail_s=0.5)
    blocks = list(_part_blocks(part, instrument, 90.0, 6.0, swing=0.57, humanize=1.0, seed=3, sample_rate=SR,
                               tail_s=0.5, block_frames=5000, cancel=None))
    assert len(blocks) > 10
    assert all(b.shape[1] == blocks[0].shape[1] for b in blocks[:-1]) and blocks[0].shape[1] % 64 == 0
    assert np.array_equal(np.concatenate(blocks, axis=1), whole)
    assert isinstance(spill(whole), SpilledAudio)


def test_the_drum_bus_in_place_equals_the_drum_bus():
    """The generated drums go through the bus in place (no full-length copy per effect): same samples."""
    from app.audio.drum_bus import Room, drum_bus

    noise = (np.random.default_rng(3).standard_normal((2, 200_003)) * 0.3).astype(np.float32)
    for effect in (Room(), drum_bus()):
        expected = effect(noise, 44100)
        audio = noise.copy()
        effect.process_in_place(audio, 44100)
        assert np.array_equal(audio, expected)


def test_a_stem_written_twice_is_the_same_bytes(tmp_path):
    """Float WAVs carry no PEAK chunk (its timestamp would change the bytes of every run)."""
    audio = _music(1.0)
    write_stem(audio, tmp_path / "one.wav")
    write_stem(audio, tmp_path / "two.wav")
    data = (tmp_path / "one.wav").read_bytes()
    assert data == (tmp_path / "two.wav").read_bytes() and b"PEAK" not in data
