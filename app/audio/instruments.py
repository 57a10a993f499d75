"""SoundFont discovery and presets: an instrument is a SoundFont file plus a (bank, program) preset.

Presets are listed by reading the SoundFont's RIFF 'phdr' chunk directly (a few KB read, the sample
data is skipped with seeks), so `python -m app.main instruments` needs no FluidSynth and is instant
even for the 140 MB FluidR3_GM. Bad files never raise: they come back in a skipped list with a reason.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path

from app import paths
from app.errors import BadValueError, SoundFontError
from app.files import printable

SOUNDFONT_SUFFIXES = (".sf2", ".sf3")
PERCUSSION_BANK = 128  # SF2 convention: bank 128 holds drum kits

# Record sizes of the nine 'pdta' sub-chunks (SoundFont 2.04 spec, section 7). FluidSynth refuses a
# file that lacks any of them, so discovery checks them too rather than listing presets that cannot load.
_PDTA_RECORD_SIZES = {
    b"phdr": 38, b"pbag": 4, b"pmod": 10, b"pgen": 4,
    b"inst": 22, b"ibag": 4, b"imod": 10, b"igen": 4, b"shdr": 46,
}
_PHDR_RECORD = struct.Struct("<20sHHHIII")  # name, program, bank, bag index, library, genre, morphology
_BAG_RECORD = struct.Struct("<HH")  # generator index, modulator index
_GEN_RECORD = struct.Struct("<HH")  # operator, amount (unsigned here: instrument and sample ids)
_INST_RECORD = struct.Struct("<20sH")  # name, bag index
_SHDR_RECORD = struct.Struct("<20sIIIIIBbHH")  # name, start, end, loops, rate, key, correction, link, type
_GEN_INSTRUMENT, _GEN_SAMPLE_ID = 41, 53
_ROM_SAMPLE, _COMPRESSED_SAMPLE = 0x8000, 0x10  # sfSampleType bits (0x10: SF3 Ogg Vorbis)

GM_INSTALL_HINT = (
    "install a General MIDI SoundFont: `sudo apt install fluid-soundfont-gm` (Debian/Ubuntu), "
    "`sudo dnf install fluid-soundfont-gm` (Fedora); on macOS `brew install fluid-synth` gives only "
    f"the synthesizer, so download FluidR3_GM.sf2 (or GeneralUser GS) into {paths.SF2_DIR}"
)

# part -> (bank, program) in a General MIDI SoundFont (programs are 0-based as stored in SF2).
# Chosen for the lo-fi sound: soft attacks, warm mids, nothing bright enough to poke out of a
# low-passed, tape-saturated mix.
DEFAULT_INSTRUMENTS: dict[str, tuple[int, int]] = {
    # Electric Piano 1 (Rhodes): the signature lo-fi keys; its bell-like tine and slow decay make
    # stacked 7th/9th voicings sound warm rather than muddy.
    "chords": (0, 4),
    # Vibraphone: a mallet tone that sits above the Rhodes without fighting it (different attack
    # and timbre, so the line reads clearly), and it decays by itself so short generated notes
    # don't smear. Nylon guitar (0, 24) is the other good choice.
    "melody": (0, 11),
    # Electric Bass (finger): round and dark, a clear pitch in the low register with little click;
    # Acoustic Bass (0, 32) is jazzier but boomier once the lo-fi chain adds low end.
    "bass": (0, 33),
    # Jazz kit: plays the generated drums. Measured against Brush, Standard, Room and TR-808 (one
    # stroke each): the same deep, round kick as Brush (83 % of its energy under 120 Hz, spectral
    # centroid 1.0 kHz; Standard's clicks at 1.4 kHz), and a snare 8 dB under the kick where Brush's
    # swish sits 14 dB under and is lost behind the keys. TR-808's long boom (92 % under 120 Hz,
    # 213 ms) fights the bass line.
    "drums": (PERCUSSION_BANK, 32),
}
# The General MIDI 1 program names (index = program). SoundFonts name their presets freely
# (FluidR3_GM calls program 4 'Rhodes EP'), so queries may use these standard names too.
GM_PROGRAM_NAMES: tuple[str, ...] = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano",
    "Honky-tonk Piano", "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavi",
    "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba", "Xylophone",
    "Tubular Bells", "Dulcimer", "Drawbar Organ", "Percussive Organ", "Rock Organ",
    "Church Organ", "Reed Organ", "Accordion", "Harmonica", "Tango Accordion",
    "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)",
    "Electric Guitar (clean)", "Electric Guitar (muted)", "Overdriven Guitar",
    "Distortion Guitar", "Guitar Harmonics", "Acoustic Bass", "Electric Bass (finger)",
    "Electric Bass (pick)", "Fretless Bass", "Slap Bass 1", "Slap Bass 2", "Synth Bass 1",
    "Synth Bass 2", "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings",
    "Pizzicato Strings", "Orchestral Harp", "Timpani", "String Ensemble 1",
    "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs", "Voice Oohs",
    "Synth Voice", "Orchestra Hit", "Trumpet", "Trombone", "Tuba", "Muted Trumpet",
    "French Horn", "Brass Section", "Synth Brass 1", "Synth Brass 2", "Soprano Sax",
    "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn", "Bassoon", "Clarinet",
    "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle",
    "Ocarina", "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)",
    "Lead 5 (charang)", "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)",
    "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)", "FX 1 (rain)", "FX 2 (soundtrack)",
    "FX 3 (crystal)", "FX 4 (atmosphere)", "FX 5 (brightness)", "FX 6 (goblins)",
    "FX 7 (echoes)", "FX 8 (sci-fi)", "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba",
    "Bag pipe", "Fiddle", "Shanai", "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock",
    'Taiko Drum', 'Melodic Tom', 'Synth Drum', 'Reverse Cymbal', 'Guitar Fret Noise',
    'Breath Noise', 'Seashore', 'Bird Tweet', 'Telephone Ring', 'Helicopter', 'Applause',
    'Gunshot',
)
# Preferred General MIDI SoundFonts, best first (by file stem, lower case).
_PREFERRED_GM_STEMS = ("fluidr3_gm", "fluidr3_gs", "generaluser gs", "musescore_general", "timgm6mb")
_GM_MIN_BANK0_PRESETS = 100  # a file with this many melodic presets in bank 0 is treated as a GM set


@dataclass(frozen=True)
class Instrument:
    sf2_path: Path
    bank: int
    program: int
    name: str
    # Why FluidSynth cannot sound this preset (ROM samples, sample data missing), or None.
    unplayable: str | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        """Stable handle for the CLI and saved specs, e.g. 'FluidR3_GM:0:4' (file-name bytes that
        are not UTF-8 show as U+FFFD, and lookups compare that form)."""
        return f"{printable(self.sf2_path.stem)}:{self.bank}:{self.program}"

    @property
    def label(self) -> str:
        """For people, e.g. 'Electric Piano 1 (FluidR3_GM)'."""
        return f"{self.name} ({printable(self.sf2_path.stem)})"

    @property
    def is_percussion(self) -> bool:
        return self.bank == PERCUSSION_BANK


@dataclass
class SoundFontFile:
    path: Path
    presets: list[Instrument]


class _Unusable(Exception):
    """Internal: why a file is skipped (the message is the reason shown to the user)."""


def read_presets(path: Path) -> list[Instrument]:
    """Presets of one SoundFont file (sorted by bank, program), read from its 'phdr' chunk.

    Raises _Unusable with a short reason when the file is not a usable SoundFont; OSError passes up.
    """
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the scan, a device never end
        raise _Unusable("not a regular file")
    file_size = st.st_size
    if file_size == 0:
        raise _Unusable("empty file")
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"sfbk":
            raise _Unusable("not a SoundFont (no RIFF 'sfbk' header)")
        riff_end = 8 + struct.unpack("<I", header[4:8])[0]
        if riff_end > file_size:
            raise _Unusable(f"truncated ({file_size} of {riff_end} bytes)")
        pdta = _find_list(f, 12, riff_end, b"pdta")
        if pdta is None:
            raise _Unusable("broken SoundFont (no 'pdta' preset data)")
        chunks = _read_subchunks(f, *pdta)
        sample_frames = _sample_frames(f, riff_end)
    for tag, size in _PDTA_RECORD_SIZES.items():
        if tag not in chunks:
            raise _Unusable(f"broken SoundFont (no '{tag.decode()}' chunk)")
        if len(chunks[tag]) % size or len(chunks[tag]) < size:  # at least the terminal record
            raise _Unusable(f"broken SoundFont (bad '{tag.decode()}' chunk size)")
    phdr = chunks[b"phdr"]
    presets: dict[tuple[int, int], Instrument] = {}
    # The last record is the terminal 'EOP' sentinel, not a preset.
    for index, offset in enumerate(range(0, len(phdr) - _PHDR_RECORD.size, _PHDR_RECORD.size)):
        raw_name, program, bank, *_ = _PHDR_RECORD.unpack_from(phdr, offset)
        name = raw_name.split(b"\0", 1)[0].decode("latin-1").strip() or f"Preset {bank}:{program}"
        if program > 127 or bank > PERCUSSION_BANK or (bank, program) in presets:
            continue  # not addressable through MIDI; or a duplicate (FluidSynth selects the first too)
        presets[bank, program] = Instrument(path, bank, program, name, _unplayable_reason(chunks, index, sample_frames))
    if not presets:
        raise _Unusable("no presets")
    return [presets[key] for key in sorted(presets)]


def _sample_frames(f, riff_end: int) -> int | None:
    """16-bit frames in the 'smpl' chunk (only its header is read), or None when there is none."""
    sdta = _find_list(f, 12, riff_end, b"sdta")
    pos = sdta[0] if sdta else riff_end
    while sdta and pos + 8 <= sdta[1]:
        f.seek(pos)
        head = f.read(8)
        size = struct.unpack("<I", head[4:8])[0] if len(head) == 8 else 0
        if head[:4] == b"smpl":
            return size // 2
        pos += 8 + size + (size & 1)
    return None


def _zone_amounts(bags: bytes, gens: bytes, first_bag: int, end_bag: int, oper: int) -> list[int]:
    """The amounts of generator `oper` in zones first_bag..end_bag-1 (a preset's or instrument's)."""
    found = []
    for bag in range(first_bag, end_bag):
        gen_start = _BAG_RECORD.unpack_from(bags, bag * 4)[0]
        gen_end = _BAG_RECORD.unpack_from(bags, bag * 4 + 4)[0]
        for g in range(gen_start, gen_end):
            op, amount = _GEN_RECORD.unpack_from(gens, g * 4)
            if op == oper:
                found.append(amount)
    return found


def _unplayable_reason(chunks: dict, preset_index: int, sample_frames: int | None) -> str | None:
    """Why FluidSynth would sound nothing for this preset (every sample it reaches is a ROM sample or
    lies outside the file's sample data), read from the preset, instrument and sample headers; None
    when at least one sample is usable."""
    try:
        phdr, inst, shdr = chunks[b"phdr"], chunks[b"inst"], chunks[b"shdr"]
        first = _PHDR_RECORD.unpack_from(phdr, preset_index * 38)[3]
        end = _PHDR_RECORD.unpack_from(phdr, preset_index * 38 + 38)[3]
        problems = set()
        for inst_id in _zone_amounts(chunks[b"pbag"], chunks[b"pgen"], first, end, _GEN_INSTRUMENT):
            ibag_first = _INST_RECORD.unpack_from(inst, inst_id * 22)[1]
            ibag_end = _INST_RECORD.unpack_from(inst, inst_id * 22 + 22)[1]
            for sample_id in _zone_amounts(chunks[b"ibag"], chunks[b"igen"], ibag_first, ibag_end,
                                           _GEN_SAMPLE_ID):
                _, start, stop, *_, kind = _SHDR_RECORD.unpack_from(shdr, sample_id * 46)
                if kind & _ROM_SAMPLE:
                    problems.add("it uses ROM samples, which are not in the file")
                elif not (kind & _COMPRESSED_SAMPLE) and not (
                        start < stop and (sample_frames is None or stop <= sample_frames)):
                    problems.add("its sample data is missing from the file")
                else:
                    return None
    except (struct.error, IndexError):
        return "its preset data is broken"
    return "; ".join(sorted(problems)) or "it has no samples"


def _find_list(f, start: int, end: int, list_type: bytes) -> tuple[int, int] | None:
    """(data start, data end) of the top-level LIST chunk of this type between start and end."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        head = f.read(12)
        if len(head) < 8:
            break
        tag, size = head[:4], struct.unpack("<I", head[4:8])[0]
        if tag == b"LIST" and head[8:12] == list_type:
            if pos + 8 + size > end:
                raise _Unusable(f"truncated ('{list_type.decode()}' runs past the end)")
            return pos + 12, pos + 8 + size
        pos += 8 + size + (size & 1)  # RIFF chunks are padded to even sizes
    return None


def _read_subchunks(f, start: int, end: int) -> dict[bytes, bytes]:
    """Every sub-chunk of a LIST (tag -> bytes); the 'pdta' list is small, so this reads it whole."""
    f.seek(start)
    data = f.read(end - start)
    if len(data) < end - start:
        raise _Unusable("truncated")
    chunks, pos = {}, 0
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if pos + 8 + size > len(data):
            raise _Unusable(f"truncated ('{tag.decode('latin-1')}' chunk runs past the end)")
        chunks.setdefault(tag, data[pos + 8:pos + 8 + size])
        pos += 8 + size + (size & 1)
    return chunks


def default_dirs() -> list[Path]:
    """Folders searched for SoundFonts: the drop folder app/sf2/ first, then the system folders."""
    return [paths.SF2_DIR, *paths.SYSTEM_SF2_DIRS]


def discover_soundfonts(
    dirs: list[Path] | None = None,
) -> tuple[list[SoundFontFile], list[tuple[Path, str]]]:
    """Scan folders (recursively; default: app/sf2/ then the system SoundFont folders) for .sf2/.sf3.

    Returns (usable files with their presets, [(path, reason)] for files skipped). Each file is
    listed once even when reached through several symlinks; its path is the resolved one, so ids
    name the real file (default-GM.sf2 -> FluidR3_GM.sf2 gives 'FluidR3_GM:0:4'). Never raises for
    a bad file or a missing folder.
    """
    found: list[SoundFontFile] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for candidate in _candidate_files(default_dirs() if dirs is None else dirs):
        if candidate.is_symlink() and not candidate.exists():
            skipped.append((candidate, "broken symlink"))
            continue
        try:
            real = candidate.resolve()
        except (OSError, RuntimeError):  # symlink loop
            skipped.append((candidate, "broken symlink"))
            continue
        if real in seen:
            continue
        seen.add(real)
        try:
            found.append(SoundFontFile(real, read_presets(real)))
        except _Unusable as exc:
            skipped.append((candidate, str(exc)))
        except PermissionError:
            skipped.append((candidate, "unreadable (permission denied)"))
        except OSError as exc:
            skipped.append((candidate, f"unreadable ({exc.strerror or exc})"))
    return found, skipped


def _candidate_files(dirs: list[Path]) -> list[Path]:
    """SoundFont-named files under each folder, in folder order then sorted by path."""
    out = []
    for folder in dirs:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        hits = []
        # os.walk does not follow symlinked folders, so a link loop cannot trap the scan.
        for root, subdirs, names in os.walk(folder):
            subdirs.sort()
            hits += [Path(root) / n for n in names if n.lower().endswith(SOUNDFONT_SUFFIXES)]
        out += sorted(hits)
    return out


def find_gm_soundfont(files: list[SoundFontFile] | None = None) -> SoundFontFile:
    """The General MIDI SoundFont to take default instruments from (FluidR3_GM preferred).

    Raises SoundFontError with the install command when none is found.
    """
    files = discover_soundfonts()[0] if files is None else files
    gm = [f for f in files if sum(p.bank == 0 for p in f.presets) >= _GM_MIN_BANK0_PRESETS]
    if not gm:
        raise SoundFontError(f"no General MIDI SoundFont found; {GM_INSTALL_HINT}")

    def rank(f: SoundFontFile) -> tuple[int, int]:
        stem = f.path.stem.lower()
        preferred = _PREFERRED_GM_STEMS.index(stem) if stem in _PREFERRED_GM_STEMS else len(_PREFERRED_GM_STEMS)
        return preferred, -len(f.presets)

    return min(gm, key=rank)


def default_instrument(part: str, files: list[SoundFontFile] | None = None) -> Instrument:
    """The curated instrument for a part ('melody', 'chords', 'bass', 'drums') from the GM SoundFont.

    Raises BadValueError for an unknown part, SoundFontError when no GM SoundFont is installed.
    """
    if part not in DEFAULT_INSTRUMENTS:
        raise BadValueError(f"no default instrument for part {part!r}; parts: {', '.join(DEFAULT_INSTRUMENTS)}")
    gm = find_gm_soundfont(files)
    bank, program = DEFAULT_INSTRUMENTS[part]
    for preset in gm.presets:
        if (preset.bank, preset.program) == (bank, program):
            return preset
    if bank == PERCUSSION_BANK:  # a GM set without this kit: any kit beats none
        kits = [p for p in gm.presets if p.bank == PERCUSSION_BANK]
        if kits:
            return kits[0]
    raise SoundFontError(f"{gm.path.name} has no preset {bank}:{program} for the {part}; {GM_INSTALL_HINT}")


def _normalise(name: str) -> str:
    """'Electric-Piano_1' -> 'electric piano 1': case and separators don't matter in queries."""
    return " ".join(re.split(r"[^0-9a-z#+]+", name.lower())).strip()


_ID_PATTERN = re.compile(r"^(?P<stem>.+):(?P<bank>\d+):(?P<program>\d+)$")


def find_instrument(query: str, files: list[SoundFontFile] | None = None) -> Instrument:
    """An instrument from a query: an id 'FluidR3_GM:0:4', a preset name ('Electric Piano 1',
    'electric-piano-1', any case) or 'name@file' ('Vibraphone@FluidR3_GM', file stem or name).

    A bare name is looked up in the General MIDI SoundFont first (its preset names, then the standard
    GM program names), then in the other files in order: a SoundFont dropped into app/sf2/ never
    changes what a GM name or a default means; its presets are chosen by id, 'name@file', or a name
    only it has. A preset FluidSynth cannot sound is never chosen (BadValueError says why).
    Raises BadValueError naming a few close matches when nothing fits.
    """
    files = discover_soundfonts()[0] if files is None else files
    if not files:
        raise SoundFontError(f"no SoundFonts found; {GM_INSTALL_HINT}")
    query = printable(query).strip()
    match = _ID_PATTERN.match(query)
    if match:
        bank, program = _preset_numbers(match["bank"], match["program"], query)
        for f in _files_named(files, match["stem"]):
            for preset in f.presets:
                if (preset.bank, preset.program) == (bank, program):
                    return _playable(preset)
        # fall through: maybe a preset name containing colons; then suggestions
    name, at, file_query = query.rpartition("@")
    if at:
        scope = _files_named(files, file_query)
        if not scope:
            known = ", ".join(printable(f.path.stem) for f in files)
            raise BadValueError(f"no SoundFont named {file_query!r}; found: {known}")
    else:
        name, scope = query, files
    wanted = _normalise(name)
    candidates = _named_presets(scope, wanted)
    for preset in candidates:  # a playable preset of that name wins over one that cannot sound
        if not preset.unplayable:
            return preset
    if candidates:
        return _playable(candidates[0])
    raise BadValueError(_unknown_message(query, wanted, scope))


def _named_presets(files: list[SoundFontFile], wanted: str) -> list[Instrument]:
    """Presets answering to the normalised name `wanted`, best first: the GM SoundFont's own preset
    of that name, its preset for the GM program of that name, then the other files' in order."""
    try:
        gm = find_gm_soundfont(files)
    except SoundFontError:
        gm = None
    others = [p for f in files if f is not gm for p in f.presets if _normalise(p.name) == wanted]
    if gm is None:
        return others
    found = [p for p in gm.presets if _normalise(p.name) == wanted]
    program = _GM_PROGRAM_BY_NAME.get(wanted)
    if program is not None:
        found += [p for p in gm.presets if (p.bank, p.program) == (0, program) and p not in found]
    return found + others


def _playable(preset: Instrument) -> Instrument:
    """`preset`, or BadValueError saying why FluidSynth cannot sound it."""
    if preset.unplayable:
        raise BadValueError(f"instrument {preset.id} ({preset.name}) cannot be played: {preset.unplayable}; "
                            "choose another (`python -m app.main instruments` marks the unplayable ones)")
    return preset


def _preset_numbers(bank_text: str, program_text: str, query: str) -> tuple[int, int]:
    """(bank, program) of an id, or BadValueError with the allowed ranges (int() of a 5000-digit
    text is refused by Python itself, so the digits are counted first)."""
    from app.spec import shorten

    if len(bank_text) > 3 or len(program_text) > 3 or int(bank_text) > PERCUSSION_BANK or int(program_text) > 127:
        raise BadValueError(f"instrument {shorten(query)}: preset numbers are bank 0-{PERCUSSION_BANK} "
                            "and program 0-127 (`python -m app.main instruments` lists them)")
    return int(bank_text), int(program_text)


_GM_PROGRAM_BY_NAME = {_normalise(n): program for program, n in enumerate(GM_PROGRAM_NAMES)}


def _gm_preset(files: list[SoundFontFile], program: int) -> Instrument | None:
    """Bank 0 preset `program` of the preferred GM SoundFont among files (None if there is none)."""
    try:
        gm = find_gm_soundfont(files)
    except SoundFontError:
        return None
    return next((p for p in gm.presets if (p.bank, p.program) == (0, program)), None)


def _files_named(files: list[SoundFontFile], name: str) -> list[SoundFontFile]:
    name = printable(name).strip().lower()
    return [f for f in files if name in (printable(f.path.stem).lower(), printable(f.path.name).lower())]


def _unknown_message(query: str, wanted: str, files: list[SoundFontFile]) -> str:
    """'unknown instrument ...; did you mean ...?' with up to four close names (preset or GM names)."""
    by_name: dict[str, tuple[str, Instrument]] = {}
    for f in files:
        for preset in f.presets:
            by_name.setdefault(_normalise(preset.name), (preset.name, preset))
    for program, gm_name in enumerate(GM_PROGRAM_NAMES):
        preset = _gm_preset(files, program)
        if preset is not None:
            by_name.setdefault(_normalise(gm_name), (gm_name, preset))
    suggestions, ids = [], set()
    for close in difflib.get_close_matches(wanted, list(by_name), n=8, cutoff=0.5):
        shown, preset = by_name[close]
        if preset.id not in ids and len(suggestions) < 4:
            ids.add(preset.id)
            suggestions.append(f"{shown!r} ({preset.id})")
    hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
    from app.spec import shorten

    return f"unknown instrument {shorten(repr(query))}{hint} (`python -m app.main instruments` lists them all)"


def format_listing(files: list[SoundFontFile], skipped: list[tuple[Path, str]]) -> str:
    """The text of `python -m app.main instruments`: presets grouped by file, then skipped files."""
    lines = []
    if not files:
        lines.append(f"No SoundFonts found; {GM_INSTALL_HINT}.")
    for f in files:
        melodic = [p for p in f.presets if p.bank != PERCUSSION_BANK]  # kits: app.audio.kits lists them apart
        count, kits = len(melodic), len(f.presets) - len(melodic)
        also = f", {kits} drum kit{'s' if kits != 1 else ''} listed under 'Drum kits'" if kits else ""
        lines.append(f"{printable(f.path.stem)}  ({printable(f.path)}, {count} preset{'s' if count != 1 else ''}{also})")
        for p in melodic:
            mark = f"  UNPLAYABLE: {p.unplayable}" if p.unplayable else ""
            owner = next((c for c in _named_presets(files, _normalise(p.name)) if not c.unplayable), p)
            if owner != p and not p.unplayable:  # the bare name means another file's preset
                mark = f"  (the name alone gives {owner.id}; use the id)"
            lines.append(f"  {p.bank:>3}:{p.program:<3}  {p.name:<20}  ({p.id}){mark}")
        lines.append("")
    if skipped:
        lines.append("Skipped:")
        lines += [f"  {printable(path)}: {reason}" for path, reason in skipped]
    else:
        while lines and not lines[-1]:
            lines.pop()
    return "\n".join(lines)
