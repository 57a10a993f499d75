"""Drum kits: the bank-128 presets of every SoundFont (the GM SoundFont's Standard, Room, Jazz, Brush,
TR-808 ... and any kit in a dropped .sf2), which play the generated drum part.

    kit = find_kit("Jazz")                 # a name, an id 'FluidR3_GM:128:32' or 'name@file'
    kit = default_kit()                    # DEFAULT_INSTRUMENTS['drums'] of the GM SoundFont
    print(format_kit_listing(files))       # the 'Drum kits' block of `python -m app.main instruments`

A kit is an Instrument whose bank is 128 (the SF2 convention); render.py plays it on MIDI channel 10.
"""

from __future__ import annotations

from app.audio.instruments import (PERCUSSION_BANK, Instrument, SoundFontFile, default_instrument,
                                   discover_soundfonts, find_gm_soundfont, find_instrument)
from app.errors import BadValueError, SoundFontError
from app.files import printable

NO_KITS_HINT = ("no drum kits found (SoundFont presets in bank 128); install the General MIDI SoundFont "
                "(`sudo apt install fluid-soundfont-gm`) or drop a drum-kit .sf2 into app/sf2/")


def kit_files(files: list[SoundFontFile]) -> list[SoundFontFile]:
    """The files that hold kits, each with its kits only; the General MIDI SoundFont first, so a bare
    kit name ('Jazz') always means its kit, as bare instrument names do."""
    try:
        gm = find_gm_soundfont(files)
    except SoundFontError:
        gm = None
    ordered = ([gm] if gm is not None else []) + [f for f in files if f is not gm]
    kits = [SoundFontFile(f.path, [p for p in f.presets if p.bank == PERCUSSION_BANK]) for f in ordered]
    return [f for f in kits if f.presets]


def list_kits(files: list[SoundFontFile] | None = None) -> list[Instrument]:
    """Every playable kit, the GM SoundFont's first (by program), then the other files'."""
    files = discover_soundfonts()[0] if files is None else files
    return [p for f in kit_files(files) for p in f.presets if not p.unplayable]


def find_kit(query: str, files: list[SoundFontFile] | None = None) -> Instrument:
    """A kit from a query, as find_instrument reads one ('Brush', 'FluidR3_GM:128:40', 'Kit@mykit'),
    among the bank-128 presets only. Raises BadValueError for an unknown name (with close kit names),
    a melodic preset or a kit FluidSynth cannot sound; SoundFontError when there are no kits at all."""
    files = discover_soundfonts()[0] if files is None else files
    kits = kit_files(files)
    if not kits:
        raise SoundFontError(NO_KITS_HINT)
    try:
        return find_instrument(query, kits)
    except BadValueError as exc:
        try:
            melodic = find_instrument(query, files)
        except (BadValueError, SoundFontError):
            melodic = None
        if melodic is not None and melodic.bank != PERCUSSION_BANK:
            raise BadValueError(f"{melodic.id} ({melodic.name}) is not a drum kit (kits are bank {PERCUSSION_BANK}); "
                                "`python -m app.main instruments` lists the kits") from None
        raise BadValueError(str(exc).replace("unknown instrument", "unknown drum kit", 1)) from None


def default_kit(files: list[SoundFontFile] | None = None) -> Instrument:
    """The default kit (DEFAULT_INSTRUMENTS['drums'] of the GM SoundFont, else its first kit); without
    a GM SoundFont the first kit of any file. SoundFontError when there is none."""
    files = discover_soundfonts()[0] if files is None else files
    try:
        return default_instrument("drums", files)
    except SoundFontError:
        kits = list_kits(files)
        if not kits:
            raise SoundFontError(NO_KITS_HINT) from None
        return kits[0]


def format_kit_listing(files: list[SoundFontFile]) -> str:
    """The 'Drum kits' block of `python -m app.main instruments`: every kit by file, the default marked."""
    kits = kit_files(files)
    if not kits:
        return f"Drum kits (--drum-kit): none; {NO_KITS_HINT}"
    try:
        default = default_kit(files)
    except SoundFontError:
        default = None
    lines = ["Drum kits (--drum-kit; they play the generated drums):"]
    for f in kits:
        lines.append(f"  {printable(f.path.stem)}")
        for p in f.presets:
            mark = f"  UNPLAYABLE: {p.unplayable}" if p.unplayable else "  (default)" if p == default else ""
            lines.append(f"    {p.bank:>3}:{p.program:<3}  {p.name:<20}  ({p.id}){mark}")
    return "\n".join(lines)
