"""The interactive wizard behind `python -m app.main generate_music`: questions -> TrackSpec -> run_track.

    python -m app.main generate_music                          # Enter all the way makes a good track
    python -m app.main generate_music --bpm 72 --no-chords     # flags become the wizard's defaults
    python -m app.main generate_music --yes                    # no questions (not this module)

Every question shows the spec's value as its default. Files are listed when a question is asked,
so SoundFonts and WAVs dropped into app/sf2/ or app/effects/ mid-session show up. Ctrl-C (or
Ctrl-D) at any point prints "cancelled" and returns 130; run_track writes atomically, so nothing
half-written is left. No business logic here: gather choices, call run_track, show the result.
"""

from __future__ import annotations

import math
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import questionary
from questionary import Choice, Separator

from app.music import theory
from app.config import DEFAULT_AMBIENCE_LEVEL_DB, RANDOM_SEED_LIMIT, SEED_MAX
from app.errors import LofiError
from app.files import printable
from app.spec import GENERATED_BEAT, NO_BEAT, RANGES, TrackSpec, reroll

SURPRISE = "surprise me"
FOLLOW_BEAT = "follow the beat"
AUDITION_SECONDS = 5.0
# Players tried in order for previews; the first that plays the file wins.
PLAYERS = (["aplay", "-q"], ["paplay"], ["afplay"], ["ffplay", "-nodisp", "-autoexit", "-loglevel", "quiet"])
# Good lo-fi General MIDI presets per part, (bank, program), offered after the default.
CURATED = {
    "melody": [(0, 11), (0, 4), (0, 5), (0, 8), (0, 10), (0, 108), (0, 24), (0, 26), (0, 12), (0, 73)],
    "chords": [(0, 4), (0, 5), (0, 0), (0, 24), (0, 26), (0, 11), (0, 89), (0, 88), (0, 94)],
    "bass": [(0, 33), (0, 32), (0, 35), (0, 34), (0, 38)],
    "drums": [(128, 32), (128, 40), (128, 0), (128, 8), (128, 25)],  # Jazz, Brush, Standard, Room, TR-808
}
PICK_TITLES = {"drums": "Drum kit"}  # the question for a part's preset; default "<Part> instrument"
SAVE_PREVIEW = "write the preview to a WAV"  # offered when there is no audio device
SOUND_DEVICE_DIR = Path("/dev/snd")  # Linux sound cards: pcmC0D0p is card 0's first playback device
SOUND_SERVER_SOCKETS = ("pulse/native", "pipewire-0")  # under XDG_RUNTIME_DIR
MORE = "more..."
BACK = "<- back"


class Cancelled(Exception):
    """Ctrl-C / Ctrl-D at a prompt (questionary answers None)."""


# --- the orchestrator ---------------------------------------------------------------------

def run_wizard(spec: TrackSpec) -> int:
    """Ask every choice (defaults from `spec`), confirm, make the track, offer variations.

    Returns the exit code: 0 when done, 130 when cancelled. LofiErrors from run_track pass up to the CLI.
    """
    preview_dir = Path(tempfile.mkdtemp(prefix="lofi-preview-"))
    try:
        while True:
            spec = ask_spec(spec, preview_dir)
            print_summary(spec)
            if _ask(questionary.confirm("Make this track?", default=True)):
                break
            print("Again, then: your answers are the new defaults.")
        while True:
            result = make_track(spec)
            choice = _ask(questionary.select("What next?", variation_choices(spec), default="done"))
            if choice == "done":
                return 0
            spec = next_variation(spec, result.sidecar["seed"], choice)
    except (Cancelled, KeyboardInterrupt, EOFError) as exc:
        print("\ncancelled", file=sys.stderr, flush=True)
        return 128 + getattr(exc, "signum", 2)  # 130 for Ctrl-C, 143 for SIGTERM (app.errors.Interrupted)
    finally:
        shutil.rmtree(preview_dir, ignore_errors=True)


# "What next?" after a track: a new take of one part (the rest note for note), or all new (a new seed).
NEW_EVERYTHING, NEW_MELODY, NEW_DRUMS = ("another variation: new everything", "another variation: new melody",
                                         "another variation: new drums")


def variation_choices(spec: TrackSpec) -> list[str]:
    """The answers to "What next?": done, new everything, new melody, and new drums when the drum
    model plays them (a beat loop has no part to draw again)."""
    drums = [NEW_DRUMS] if spec.beat in (None, GENERATED_BEAT) else []
    return ["done", NEW_EVERYTHING, NEW_MELODY, *drums]


def next_variation(spec: TrackSpec, seed: int, choice: str) -> TrackSpec:
    """The spec of the variation chosen after a track made with `seed`: a new seed (and first takes),
    or the same seed with the next take of the melody or the drums (app.spec.reroll)."""
    if choice == NEW_EVERYTHING:
        spec = replace(spec, seed=new_seed(), takes={})
        print(f"Same settings, new seed {spec.seed}.")
        return spec
    part = "melody" if choice == NEW_MELODY else "drums"
    spec = reroll(replace(spec, seed=seed), [part])
    print(f"Same track (seed {seed}), take {spec.takes[part] + 1} of the {part}.")
    return spec


def ask_spec(spec: TrackSpec, preview_dir: Path) -> TrackSpec:
    """Every question in order; returns a new, validated spec (the input is not changed)."""
    spec = replace(spec, ambience=list(spec.ambience))
    spec.name = ask_name(spec.name)
    spec.minutes = ask_number("Length in minutes", "minutes", spec.minutes)
    spec.key = ask_key(spec.key)
    spec.mode = ask_mode(spec.mode)
    spec.beat, beat_bpm = ask_beat(spec.beat)
    generated = spec.beat in (None, GENERATED_BEAT)
    spec.drum_kit = ask_instrument("drums", spec.drum_kit, preview_dir) if generated else None
    spec.bpm = ask_tempo(spec.bpm, beat_bpm)
    spec.include_chords = _ask(questionary.confirm("Include chords?", default=spec.include_chords))
    spec.melody_instrument = ask_instrument("melody", spec.melody_instrument, preview_dir)
    if spec.include_chords:
        spec.chords_instrument = ask_instrument("chords", spec.chords_instrument, preview_dir)
    spec.bass_instrument = ask_instrument("bass", spec.bass_instrument, preview_dir)
    spec.ambience = ask_ambience(spec.ambience)
    spec.lofi_preset = ask_sound(spec.lofi_preset)
    spec.temperature = ask_number("Creativity (temperature; low = safe, high = adventurous)", "temperature",
                                  spec.temperature)
    spec.colour = ask_number("Harmony colour (low = triads and sevenths, high = 9ths, 11ths, 13ths)", "colour",
                             spec.colour)
    spec.energy = ask_number("Energy (low = sparse and laid back, high = busy)", "energy", spec.energy)
    spec.bit_depth, spec.sample_rate = ask_file_format(spec.bit_depth, spec.sample_rate)
    spec.seed = ask_seed(spec.seed)
    return spec.validate()


# --- small prompts --------------------------------------------------------------------------

def _ask(question):
    """A questionary question's answer; None (Ctrl-C/Ctrl-D inside questionary) raises Cancelled."""
    answer = question.unsafe_ask()
    if answer is None:
        raise Cancelled
    return answer


def range_check(name: str, text: str, allowed_words: tuple[str, ...] = ()) -> bool | str:
    """questionary validate= callback: True when `text` is a number inside RANGES[name] (or one of
    `allowed_words`), else a message for a person."""
    lo, hi = RANGES[name]
    text = text.strip()
    if text.lower() in allowed_words:
        return True
    words = next((f" or '{w}'" for w in allowed_words if w), "")
    try:
        value = float(text)
    except ValueError:
        return f"type a number from {lo:g} to {hi:g}{words}"
    if not math.isfinite(value) or not lo <= value <= hi:
        return f"{value:g} is out of range: type a number from {lo:g} to {hi:g}{words}"
    return True


def ask_name(default: str) -> str:
    return _ask(questionary.text("Song name", default=default,
                                 validate=lambda t: bool(t.strip()) or "give the song a name")).strip()


def ask_number(message: str, name: str, default: float) -> float:
    lo, hi = RANGES[name]
    text = _ask(questionary.text(f"{message} ({lo:g} to {hi:g})", default=f"{default:g}",
                                 validate=lambda t: range_check(name, t)))
    return float(text)


def ask_key(default: str | None) -> str | None:
    current = theory.key_name(theory.pitch_class(default)) if default else SURPRISE
    answer = _ask(questionary.select("Key", [SURPRISE, *theory.KEY_NAMES], default=current))
    return None if answer == SURPRISE else answer


def ask_mode(default: str | None) -> str | None:
    answer = _ask(questionary.select("Mode", [SURPRISE, *theory.ALL_MODES], default=default or SURPRISE))
    return None if answer == SURPRISE else answer


def ask_beat(default: str | None) -> tuple[str, float | None]:
    """The generated drums, a beat loop from app/effects/ (listed now) or 'none'. Returns (GENERATED_BEAT,
    a loop's name or NO_BEAT; the loop's BPM or None)."""
    from app.audio.loops import discover_effects

    effects, skipped = discover_effects()
    print_skipped(skipped, "effects")
    beats = sorted((e for e in effects if e.kind == "beat"), key=lambda e: e.name)
    if default is None:  # the pipeline's default beat
        default = GENERATED_BEAT
    choices = [Choice("generated drummer (the drum model on a sampled kit)", value=GENERATED_BEAT)]
    choices += [Choice(f"{e.name}  ({e.bpm:g} BPM)" if e.bpm else e.name, value=e.name) for e in beats]
    choices.append(Choice("none (no drums)", value=NO_BEAT))
    names = [c.value for c in choices]
    answer = _ask(questionary.select("Beat", choices, default=default if default in names else names[0]))
    chosen = next((e for e in beats if e.name == answer), None)
    if chosen is not None and chosen.tempo_note:  # half/double time, or clamped into the tempo range
        print(f"  {chosen.name}: {chosen.tempo_note}")
    return answer, chosen.bpm if chosen is not None else None


def ask_tempo(default: float | None, beat_bpm: float | None) -> float | None:
    """A BPM, or None to follow the beat."""
    from app.spec import DEFAULT_BPM

    follow = f"{beat_bpm or DEFAULT_BPM:g} BPM"
    text = _ask(questionary.text(
        f"Tempo in BPM ({RANGES['bpm'][0]:g}-{RANGES['bpm'][1]:g}) or '{FOLLOW_BEAT}' ({follow})",
        default=FOLLOW_BEAT if default is None else f"{default:g}",
        validate=lambda t: range_check("bpm", t, ("", FOLLOW_BEAT, "follow", "beat"))))
    text = text.strip()
    return None if text.lower() in ("", FOLLOW_BEAT, "follow", "beat") else float(text)


def ask_instrument(part: str, current: str | None, preview_dir: Path) -> str:
    """An instrument id for a part, with an optional 5-second audition before keeping it."""
    while True:
        inst = pick_instrument(part, current)
        while True:
            actions = ["no, use it", f"listen ({AUDITION_SECONDS:g} s)", "choose another"]
            if not audio_device_available():
                actions.append(SAVE_PREVIEW)
            action = _ask(questionary.select(f"{inst.name} for the {part}: listen first?", actions))
            if action == "no, use it":
                return inst.id
            if action == "choose another":
                current = inst.id
                break
            if action == SAVE_PREVIEW:
                default = Path.cwd() / f"{part}-preview.wav"
                where = _ask(questionary.text("Write the preview to", default=str(default)))
                save_preview(inst, Path(where).expanduser())
                continue
            play_preview(inst, preview_dir / f"{part}.wav")


def pick_instrument(part: str, current: str | None):
    """Default (or current) first, then CURATED presets of the GM SoundFont, then 'more...' (every
    preset of every file, grouped by file: the drum kits for 'drums', the other presets for the other
    parts). SoundFonts are scanned now, not cached."""
    from app.errors import BadValueError
    from app.audio.instruments import (PERCUSSION_BANK, default_instrument, discover_soundfonts, find_gm_soundfont,
                                       find_instrument)

    files, skipped = discover_soundfonts()
    title = PICK_TITLES.get(part, f"{part.capitalize()} instrument")
    is_kit = part == "drums"
    if part == "melody":  # once per round of questions is enough
        print_skipped(skipped, "instruments")
    default = default_instrument(part, files)
    chosen = default
    if current:
        try:
            chosen = find_instrument(current, files)
        except BadValueError:
            print(f"  ({current!r} is not installed; offering the default)")
    gm = find_gm_soundfont(files)
    by_preset = {(p.bank, p.program): p for p in gm.presets}
    top = [chosen] + ([default] if default != chosen else [])
    top += [by_preset[k] for k in CURATED[part] if k in by_preset and by_preset[k] not in top]
    choices = [Choice(p.label + ("  (default)" if p == default else ""), value=p) for p in top]
    choices.append(Choice(MORE, value=MORE))
    while True:
        answer = _ask(questionary.select(title, choices, default=chosen))
        if answer != MORE:
            return answer
        more = [Choice(BACK, value=BACK)]
        for f in files:
            shown = [p for p in f.presets if not p.unplayable and (p.bank == PERCUSSION_BANK) == is_kit]
            if shown:
                more.append(Separator(f"-- {printable(f.path.stem)} ({len(shown)} presets) --"))
                more += [Choice(f"{p.bank:>3}:{p.program:<3} {p.name}", value=p) for p in shown]
        answer = _ask(questionary.select(f"{title} (type to filter)", more,
                                         use_search_filter=True, use_jk_keys=False))
        if answer != BACK:
            return answer


def audio_device_available() -> bool:
    """Whether sound can be heard here: a sound card's playback device in /dev/snd, or a PulseAudio
    or PipeWire server (PULSE_SERVER, or its socket under XDG_RUNTIME_DIR). Players such as ffplay
    'succeed' without one, so their exit code cannot tell. Always True on macOS and Windows."""
    import os

    if not sys.platform.startswith("linux"):
        return True
    if os.environ.get("PULSE_SERVER"):
        return True
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and any((Path(runtime) / socket).exists() for socket in SOUND_SERVER_SOCKETS):
        return True
    try:
        return any(p.name.startswith("pcm") and p.name.endswith("p") for p in SOUND_DEVICE_DIR.iterdir())
    except OSError:
        return False


def save_preview(instrument, path: Path) -> None:
    """Render the audition into `path` (a WAV) and say where it is; an unwritable path is a message."""
    from app.audio.render import audition

    try:
        print(f"  preview written: {audition(instrument, path, seconds=AUDITION_SECONDS)}")
    except LofiError as exc:
        print(f"  {exc}")


def play_preview(instrument, path: Path) -> None:
    """Render a short audition and play it with the first system player that works; else print its
    path. Without an audio device nothing is played: it says so (the menu then offers SAVE_PREVIEW)."""
    from app.audio.render import audition

    print(f"  rendering a {AUDITION_SECONDS:g}-second preview of {instrument.label}...", flush=True)
    audition(instrument, path, seconds=AUDITION_SECONDS)
    if not audio_device_available():
        print(f"  there is no audio device here (no sound card, no PulseAudio/PipeWire), so nothing was "
              f"played; choose '{SAVE_PREVIEW}' to keep it")
        return
    for command in PLAYERS:
        if shutil.which(command[0]):
            done = subprocess.run([*command, str(path)], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if done.returncode == 0:
                print(f"  played with {command[0]}: {path}")
                return
    print(f"  no audio player found (tried {', '.join(c[0] for c in PLAYERS)}); the preview is {path}")


def print_skipped(skipped: list, command: str) -> None:
    """One line when the drop folder holds files that cannot be used, e.g. '(2 files skipped:
    broken.wav (not a WAV file), ...; `python -m app.main effects` lists them)'. Silent otherwise."""
    if not skipped:
        return
    shown = ", ".join(f"{printable(Path(path).name)} ({reason})" for path, reason in skipped[:3])
    more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    count = f"{len(skipped)} file{'s' if len(skipped) != 1 else ''}"
    print(f"  ({count} skipped: {shown}{more}; `python -m app.main {command}` lists them)", flush=True)


def ask_ambience(current: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Ambience files (listed now) to layer, then a level in dB for each."""
    from app.audio.loops import discover_effects

    names = [e.name for e in discover_effects()[0] if e.kind == "ambience"]
    if not names:
        return []
    levels = dict(current)
    picked = _ask(questionary.checkbox("Ambience",
                                       [Choice(n, value=n, checked=n in levels) for n in names]))
    return [(n, ask_number(f"Level of {n} in dB", "level_db", levels.get(n, DEFAULT_AMBIENCE_LEVEL_DB))) for n in picked]


def ask_sound(default: str) -> str:
    from app.audio.fx import PRESET_DESCRIPTIONS

    choices = [Choice(f"{name:<8} {text}", value=name) for name, text in PRESET_DESCRIPTIONS.items()]
    return _ask(questionary.select("Lo-fi sound", choices,
                                   default=default if default in PRESET_DESCRIPTIONS else None))


# The delivery formats offered, (bit depth, sample rate) -> what each is for.
FILE_FORMATS = {
    (16, 44100): "16-bit 44.1 kHz  CD quality: streaming services and distributors",
    (24, 44100): "24-bit 44.1 kHz  high resolution: mastering, hi-res stores",
    (24, 48000): "24-bit 48 kHz    video: YouTube, films, games",
    (16, 48000): "16-bit 48 kHz",
}


def ask_file_format(bit_depth: int, sample_rate: int) -> tuple[int, int]:
    """The bit depth and sample rate of the files: (bit_depth, sample_rate)."""
    choices = [Choice(text, value=f"{depth}/{rate}") for (depth, rate), text in FILE_FORMATS.items()]
    current = f"{bit_depth}/{sample_rate}"
    answer = _ask(questionary.select("File format", choices,
                                     default=current if (bit_depth, sample_rate) in FILE_FORMATS else None))
    depth, rate = answer.split("/")
    return int(depth), int(rate)


def new_seed() -> int:
    return random.SystemRandom().randrange(RANDOM_SEED_LIMIT)


def ask_seed(default: int | None) -> int:
    """The random seed: a fresh random one is shown as the default unless the spec has one."""
    default = new_seed() if default is None else default
    text = _ask(questionary.text("Seed (same seed + same settings = same track)", default=str(default),
                                 validate=_seed_check))
    return int(text)


def _seed_check(text: str) -> bool | str:
    text = text.strip()
    if not text.isdigit() or int(text) > SEED_MAX:
        return f"type a whole number from 0 to {SEED_MAX}"
    return True


# --- summary, progress, result --------------------------------------------------------------

def _instrument_label(query: str | None, part: str) -> str:
    """An instrument choice as a person reads it ('Rhodes EP (FluidR3_GM)'), or the raw value."""
    from app.audio.instruments import default_instrument, find_instrument

    try:
        return (find_instrument(query) if query else default_instrument(part)).label
    except LofiError:
        return query or "default"


def print_summary(spec: TrackSpec) -> None:
    tempo = f"{spec.bpm:g} BPM" if spec.bpm is not None else FOLLOW_BEAT
    ambience = ", ".join(f"{n} {lv:g} dB" for n, lv in spec.ambience) or "none"
    rows = [("name", spec.name), ("length", f"{spec.minutes:g} min"),
            ("key", f"{spec.key or SURPRISE} / {spec.mode or SURPRISE}"), ("beat", spec.beat or GENERATED_BEAT),
            *([("drum kit", _instrument_label(spec.drum_kit, "drums"))] if spec.beat in (None, GENERATED_BEAT) else []),
            ("tempo", tempo), ("melody", _instrument_label(spec.melody_instrument, "melody")),
            ("chords", _instrument_label(spec.chords_instrument, "chords") if spec.include_chords else "no chords"),
            ("bass", _instrument_label(spec.bass_instrument, "bass")), ("ambience", ambience), ("sound", spec.lofi_preset),
            ("creativity", f"{spec.temperature:g}"), ("colour", f"{spec.colour:g}"), ("energy", f"{spec.energy:g}"),
            ("seed", spec.seed), ("formats", ", ".join(spec.formats)),
            ("files", f"{spec.bit_depth}-bit {spec.sample_rate / 1000:g} kHz")]
    print("\nYour track:")
    for label, value in rows:
        print(f"  {label:<11} {value}")
    print(flush=True)


class StageProgress:
    """run_track's progress(stage) callback: one line per stage, its elapsed time ticking on a terminal."""

    def __init__(self, stages):
        self.stages, self.stage, self.started = list(stages), None, 0.0
        self.lock, self.stopped = threading.Lock(), threading.Event()
        self.ticker = threading.Thread(target=self._tick, daemon=True)
        self.ticker.start()

    def __call__(self, stage: str) -> None:
        with self.lock:
            self._finish()
            self.stage, self.started = stage, time.perf_counter()
            self._draw()

    def close(self) -> None:
        self.stopped.set()
        with self.lock:
            self._finish()

    def _line(self) -> str:
        number = self.stages.index(self.stage) + 1 if self.stage in self.stages else 0
        return f"\r  [{number}/{len(self.stages)}] {self.stage:<8} {time.perf_counter() - self.started:6.1f} s"

    def _draw(self) -> None:
        sys.stdout.write(self._line())
        sys.stdout.flush()

    def _finish(self) -> None:
        if self.stage:
            sys.stdout.write(self._line() + "\n")
            sys.stdout.flush()
            self.stage = None

    def _tick(self) -> None:
        while not self.stopped.wait(0.5):
            with self.lock:
                if self.stage:
                    self._draw()


def make_track(spec: TrackSpec):
    """run_track with a per-stage progress display; prints what was made and where. Returns the TrackResult."""
    from app.pipeline import STAGES, describe_result, run_track

    print(f"Making {spec.name!r} (seed {spec.seed})...", flush=True)
    progress = StageProgress(STAGES)
    try:
        result = run_track(spec, progress=progress)
    finally:
        progress.close()
    print("\n" + describe_result(result) + "\n", flush=True)
    return result
