"""The drum model: encoding round trips, training lowers the loss, the numpy port matches torch,
sampling is deterministic and plays the arrangement (fills at section ends, no kick in the
breakdown, a thinning outro), and the figures command works."""

import csv
from pathlib import Path

import numpy as np
import pytest

from app.learn import drum_encoding as de
from app.music.song import Section

BPM = 90


def write_drum_midi(path: Path, strokes, bpm: int = BPM) -> None:
    """(Roland note, beat, velocity) strokes -> a one-track MIDI file on channel 10."""
    import mido

    tpb = 480
    events = sorted((max(0, int(round(b * tpb))), n, v) for n, b, v in strokes)
    track, now = mido.MidiTrack(), 0
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    for tick, note, vel in events:
        track.append(mido.Message("note_on", note=note, velocity=vel, channel=9, time=tick - now))
        track.append(mido.Message("note_off", note=note, velocity=0, channel=9, time=0))
        now = tick
    midi = mido.MidiFile(ticks_per_beat=tpb)
    midi.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(path)


def groove_strokes(bars: int, rng) -> list:
    """A played boom-bap groove: kick 1 and the and of 3, snare 2 and 4, 8th hats, human timing."""
    out = []
    for bar in range(bars):
        t0 = bar * 4
        for step, note in ((0, 36), (10, 36), (4, 38), (12, 38)):
            out.append((note, t0 + step / 4 + rng.normal(0, 0.01), int(rng.integers(80, 120))))
        for step in range(0, 16, 2):
            out.append((42, t0 + step / 4 + abs(rng.normal(0, 0.01)), int(rng.integers(30, 90))))
        if bar % 2:
            out.append((38, t0 + 15 / 4, 25))  # a ghost note every other bar
    return out


def fill_strokes(rng) -> list:
    return [((48, 45, 43)[step // 6 % 3], step / 4 + abs(rng.normal(0, 0.01)), int(rng.integers(70, 120)))
            for step in range(16)]


@pytest.fixture(scope="module")
def groove_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("groove")
    rng = np.random.default_rng(0)
    rows = []
    files = [("d1/s1/1_hiphop_90_beat_4-4.mid", "beat", "train", 12), ("d1/s1/2_hiphop_90_fill_4-4.mid", "fill", "train", 1),
             ("d1/s1/3_hiphop_90_beat_4-4.mid", "beat", "train", 10), ("d1/s1/4_hiphop_90_fill_4-4.mid", "fill", "train", 1),
             ("d1/s2/5_hiphop_90_beat_4-4.mid", "beat", "validation", 8), ("d1/s2/6_hiphop_90_fill_4-4.mid", "fill", "validation", 1)]
    for name, kind, split, bars in files:
        write_drum_midi(folder / name, groove_strokes(bars, rng) if kind == "beat" else fill_strokes(rng))
        session = name.rsplit("/", 1)[0]
        rows.append({"drummer": "d1", "session": session, "id": f"{session}/{name.rsplit('/', 1)[1].split('_')[0]}",
                     "style": "hiphop", "bpm": BPM, "beat_type": kind, "time_signature": "4-4", "midi_filename": name,
                     "duration": bars * 4 * 60 / BPM, "split": split})
    with open(folder / "info.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


@pytest.fixture(scope="module")
def trained(groove_folder, tmp_path_factory):
    from app.learn.drum_corpus import load_drum_corpus
    from app.learn.train import TrainConfig, train_model

    out = tmp_path_factory.mktemp("drum_models")
    corpus = load_drum_corpus(groove_folder)
    cfg = TrainConfig(epochs=4, batch_size=8, drum_window=32, out_dir=out, patience=10)
    return out, corpus, train_model("drum", corpus, cfg, log=lambda *_: None)


def shipped_model():
    from app import paths
    from app.learn.checkpoint import load_sampling_model

    return load_sampling_model(paths.DRUM_CHECKPOINT, "drum")


def song_sections() -> list[Section]:
    plan = [("intro", 4), ("groove", 4), ("A", 8), ("B", 8), ("breakdown", 4), ("A", 4), ("outro", 4)]
    sections, start = [], 0.0
    for name, bars in plan:
        sections.append(Section(name, start, bars * 4.0))
        start += bars * 4.0
    return sections


# --- encoding -----------------------------------------------------------------------------

def test_token_pairs_and_round_trips():
    assert de.encode_pattern([]) == 2 and de.decode_pattern(2) == []
    assert de.encode_pattern({de.KICK, de.SNARE}) == 2 + 0b11 == 5
    assert de.decode_pattern(5) == [de.KICK, de.SNARE]
    assert de.decode_pattern(de.encode_pattern([de.CLOSED_HAT, de.RIDE])) == [de.CLOSED_HAT, de.RIDE]
    assert de.encode_velocity(100) == 2 + 12 and de.decode_velocity(14) == 100
    assert de.encode_velocity(127) == 2 + 15 and de.encode_velocity(1) == 2
    assert de.encode_offset(0.0) == 2 + 8 and de.decode_offset(10) == pytest.approx(1 / 32)
    assert de.encode_offset(-0.5) == 2 and de.encode_offset(0.49) == 2 + 15
    assert de.ROLAND_TO_VOICE[44] == de.CLOSED_HAT and de.ROLAND_TO_VOICE[26] == de.OPEN_HAT
    assert de.ROLAND_TO_VOICE[37] == de.SNARE and de.VOICE_TO_GM[de.LOW_TOM] == 41
    assert de.GM_TO_VOICE[37] == de.SNARE and de.GM_TO_VOICE[51] == de.RIDE


def test_grid_round_trip_keeps_steps_velocities_and_timing():
    hits = [de.Hit(de.KICK, 0.0, 100), de.Hit(de.SNARE, 1.02, 90), de.Hit(de.CLOSED_HAT, 0.49, 40),
            de.Hit(de.CLOSED_HAT, 0.5, 70),  # the louder of two strokes on one step stays
            de.Hit(de.CRASH, 4.0, 120)]
    grid = de.hits_to_grid(hits)
    assert grid.shape == (32, de.TARGETS)
    assert de.decode_pattern(int(grid[0, 0])) == [de.KICK]
    assert de.decode_pattern(int(grid[2, 0])) == [de.CLOSED_HAT] and de.decode_velocity(int(grid[2, 1 + de.CLOSED_HAT])) == 68
    assert grid[1, 0] == 2 and grid[1, 1] == de.PAD  # a silent step: no velocity, no offset
    back = de.grid_to_hits(grid)
    assert [(h.voice, round(h.beat * 4)) for h in back] == [(0, 0), (2, 2), (1, 4), (7, 16)]
    for original, decoded in zip([hits[0], hits[3], hits[1], hits[4]], back):
        assert abs(decoded.velocity - original.velocity) <= de.VELOCITY_WIDTH // 2
        assert abs(decoded.beat - original.beat) <= 1 / (4 * 2 * de.OFFSET_BINS) + 1e-9  # half a timing bin
    assert (de.hits_to_grid(back) == grid).all()


def test_bars_get_section_kinds_and_fills_from_the_playing():
    from app.learn.drum_corpus import label_bars

    hits = []
    for bar in range(10):
        hits += [de.Hit(de.KICK, bar * 4, 100)] if bar != 6 else []
        hits += [de.Hit(de.RIDE if bar == 5 else de.CLOSED_HAT, bar * 4 + b / 2, 60) for b in range(8)]
        hits += [de.Hit(de.LOW_TOM, bar * 4 + 3 + b / 4, 90) for b in range(4)] if bar == 7 else []
    kinds, fills = label_bars(de.hits_to_grid(hits))
    assert kinds == ["groove"] * 4 + ["A", "B", "breakdown", "A", "outro", "outro"]
    assert fills == [False] * 7 + [True, False, False]


def test_corpus_splices_fills_after_the_same_drummers_groove(groove_folder):
    from app.learn.drum_corpus import CONTEXT_BARS, load_drum_corpus

    corpus = load_drum_corpus(groove_folder)
    train, validation = corpus.split()
    assert len(train) == 4 and len(validation) == 2
    fill = next(p for p in train if p.beat_type == "fill")
    assert len(fill.drums) == (CONTEXT_BARS + 1) * 16 and fill.drums.shape[1] == de.COLUMNS
    assert list(fill.drums[::16, -1]) == [0] * CONTEXT_BARS + [1]  # fill flag on the fill bar only
    assert de.bar_voice_counts(fill.drums[-16:, :de.TARGETS])[0, list(de.TOMS)].sum() == 16


# --- training and the port ----------------------------------------------------------------

def test_short_training_lowers_the_drum_loss(trained):
    from app.learn.checkpoint import load_checkpoint

    out, corpus, result = trained
    history = result["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert result["best_val_loss"] < history[0]["val_loss"]
    assert set(result["val_loss_per_head"]) == {"hits", "velocity", "timing"}
    _, payload = load_checkpoint(out / "drum_lstm.pt", "drum")
    assert payload["data_fingerprint"] == corpus.fingerprint and payload["vocab"]["pattern"] == 514
    assert (out / "drum_lstm.npz").exists()


def test_numpy_port_matches_torch_logits(trained):
    import torch

    from app.learn.checkpoint import load_checkpoint, load_sampling_model

    out, _, _ = trained
    torch_model, _ = load_checkpoint(out / "drum_lstm.pt", "drum")
    port = load_sampling_model(out / "drum_lstm.pt", "drum")
    cfg, rng = torch_model.cfg, np.random.default_rng(1)
    t = 10
    pattern = rng.integers(0, cfg.pattern_vocab, t)
    velocity, offset = rng.integers(0, cfg.velocity_vocab, (t, 9)), rng.integers(0, cfg.offset_vocab, (t, 9))
    cond = [rng.integers(0, h, t) for h in (cfg.position_vocab, cfg.kind_vocab, cfg.fill_vocab)]
    with torch.no_grad():
        expected, _ = torch_model(torch.tensor(pattern[None]), torch.tensor(velocity[None]), torch.tensor(offset[None]),
                                  *[torch.tensor(c[None]) for c in cond])
    state = None
    for i in range(t):
        got, state = port.step(int(pattern[i]), velocity[i], offset[i], *[int(c[i]) for c in cond], state)
        for head_np, head_torch in zip(got, expected):
            np.testing.assert_allclose(head_np, head_torch[0, i].numpy(), rtol=1e-4, atol=1e-4)


def test_train_command_rejects_unknown_models():
    from app.main import main

    assert main(["train", "--models", "chords,bongos"]) == 2


# --- sampling with the shipped weights ----------------------------------------------------

def test_same_seed_same_drums_other_seed_other_drums():
    from app.learn.drum_sample import sample_drums

    model, sections = shipped_model(), song_sections()
    a = sample_drums(model, sections, BPM, seed=5)
    assert a == sample_drums(model, sections, BPM, seed=5)
    assert a != sample_drums(model, sections, BPM, seed=6)
    assert all(n.pitch in de.GM_TO_VOICE for n in a) and all(1 <= n.velocity <= 127 for n in a)
    assert max(n.start for n in a) < sections[-1].end


def test_the_drummer_plays_the_arrangement():
    from app.learn.drum_sample import sample_drums
    from app.report.drum_figures import has_backbeat, is_fill, strokes_to_bars

    sections = song_sections()
    notes = sample_drums(shipped_model(), sections, BPM, seed=11)
    bars = strokes_to_bars([(de.GM_TO_VOICE[n.pitch], n.start, n.velocity) for n in notes], BPM, 36)
    by_section = []
    for s in sections:
        first = int(s.start // 4)
        by_section.append((s.name, bars[first:first + int(s.duration // 4)]))
    ends = [is_fill(own[-1], own[:-1]) for _, own in by_section[:-1]]
    assert sum(ends) / len(ends) >= 0.8
    for name, own in by_section:
        voices = [{s[0] for s in bar} for bar in own]
        if name == "intro":
            assert all(v <= {de.SNARE, de.CLOSED_HAT} for v in voices[:-1])
        if name == "breakdown":
            assert not any(de.KICK in v for v in voices)
        if name == "outro":
            assert voices[-1] <= {de.CLOSED_HAT, de.RIDE}
        if name in ("groove", "A", "B"):
            assert all(has_backbeat(bar) for bar in own[:-1])
    pitches = {n.pitch for n in notes}
    assert de.GM_SIDE_STICK in pitches and de.GM_KICK in pitches and de.GM_CLOSED_HAT in pitches


def test_evaluate_drums_reports_both_sides():
    from app.report.drum_figures import evaluate_drums, format_drum_report

    report = evaluate_drums(count=1, minutes=1.0, seed=3, reference=False)
    assert report["bars"]["generated"] > 0 and report["bars"]["validation"] > 100
    assert 0 <= report["max_js"] <= 1 and report["velocity_std"]["validation"] > 10
    assert set(report["voices"]) == set(de.VOICES)
    assert "backbeat" in format_drum_report(report)
