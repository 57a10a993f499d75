"""Writes a tiny, valid SoundFont 2 file for tests: one looped sine sample, one instrument, presets
that play it (FluidSynth loads it and sounds it). About 9 KB, built byte by byte from the SF2.04 spec.

    from tests.sf2_fixture import write_tiny_sf2, TINY_PRESETS
    path = write_tiny_sf2(tmp_path / "tiny.sf2")
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

SAMPLE_RATE = 44100
# A 441 Hz sine: exactly 100 samples per cycle, so a loop of whole cycles is seamless.
SINE_HZ = 441.0
SAMPLE_FRAMES = 4410  # 0.1 s
LOOP_START, LOOP_END = 1000, 4000  # 30 whole cycles
ROOT_KEY = 69  # A4 = 440 Hz; 441 Hz is 3.9 cents sharp, corrected below

# (bank, program, name, attenuation in centibels) of the presets written by default.
TINY_PRESETS: list[tuple[int, int, str, int]] = [
    (0, 0, "Tiny Sine", 0),
    (0, 5, "Tiny Soft Sine", 60),
]

# Generator operators (SF2.04 section 8.1.2).
_GEN_PAN = 17
_GEN_ATTACK_VOL_ENV = 34
_GEN_RELEASE_VOL_ENV = 38
_GEN_INSTRUMENT = 41
_GEN_KEY_RANGE = 43
_GEN_INITIAL_ATTENUATION = 48
_GEN_SAMPLE_ID = 53
_GEN_SAMPLE_MODES = 54
_LOOP_CONTINUOUSLY = 1
_MONO_SAMPLE = 1


def _chunk(tag: bytes, data: bytes) -> bytes:
    pad = b"\0" if len(data) % 2 else b""
    return tag + struct.pack("<I", len(data)) + data + pad


def _list(list_type: bytes, *chunks: bytes) -> bytes:
    return _chunk(b"LIST", list_type + b"".join(chunks))


def _name(text: str) -> bytes:
    return text.encode("ascii")[:19].ljust(20, b"\0")


def _gen(oper: int, amount: int) -> bytes:
    return struct.pack("<Hh", oper, amount)


def _gen_range(oper: int, low: int, high: int) -> bytes:
    return struct.pack("<HBB", oper, low, high)


def _timecents(seconds: float) -> int:
    return round(1200 * math.log2(seconds))


def tiny_sf2_bytes(presets: list[tuple[int, int, str, int]] | None = None) -> bytes:
    """The bytes of a valid SoundFont with the given (bank, program, name, attenuation_cb) presets."""
    presets = TINY_PRESETS if presets is None else presets
    info = _list(
        b"INFO",
        _chunk(b"ifil", struct.pack("<HH", 2, 1)),
        _chunk(b"isng", b"EMU8000\0"),
        _chunk(b"INAM", b"Tiny Test Font\0\0"),
    )
    sine = [round(12000 * math.sin(2 * math.pi * SINE_HZ * i / SAMPLE_RATE)) for i in range(SAMPLE_FRAMES)]
    # The spec wants at least 46 zero samples after each sample's end.
    smpl = struct.pack(f"<{SAMPLE_FRAMES + 46}h", *sine, *([0] * 46))
    sdta = _list(b"sdta", _chunk(b"smpl", smpl))

    phdr, pbag, pgen = b"", b"", b""
    for index, (bank, program, name, attenuation_cb) in enumerate(presets):
        phdr += struct.pack("<20sHHHIII", _name(name), program, bank, index, 0, 0, 0)
        pbag += struct.pack("<HH", len(pgen) // 4, 0)
        zone = _gen(_GEN_INITIAL_ATTENUATION, attenuation_cb) if attenuation_cb else b""
        pgen += zone + _gen(_GEN_INSTRUMENT, 0)  # 'instrument' must be the zone's last generator
    phdr += struct.pack("<20sHHHIII", _name("EOP"), 0, 0, len(presets), 0, 0, 0)
    pbag += struct.pack("<HH", len(pgen) // 4, 0)
    pgen += _gen(0, 0)
    pmod = b"\0" * 10  # terminal record only

    igen = (
        _gen_range(_GEN_KEY_RANGE, 0, 127)  # keyRange must come first
        + _gen(_GEN_PAN, 0)
        + _gen(_GEN_ATTACK_VOL_ENV, _timecents(0.001))  # instant attack: clean onsets for tests
        + _gen(_GEN_RELEASE_VOL_ENV, _timecents(0.2))
        + _gen(_GEN_SAMPLE_MODES, _LOOP_CONTINUOUSLY)
        + _gen(_GEN_SAMPLE_ID, 0)  # sampleID must come last
    )
    inst = struct.pack("<20sH", _name("Tiny Sine Inst"), 0) + struct.pack("<20sH", _name("EOI"), 1)
    ibag = struct.pack("<HH", 0, 0) + struct.pack("<HH", len(igen) // 4, 0)
    igen += _gen(0, 0)
    imod = b"\0" * 10
    correction_cents = -round(1200 * math.log2(SINE_HZ / 440.0))
    shdr = struct.pack(
        "<20sIIIIIBbHH", _name("Tiny Sine 441"), 0, SAMPLE_FRAMES, LOOP_START, LOOP_END,
        SAMPLE_RATE, ROOT_KEY, correction_cents, 0, _MONO_SAMPLE,
    ) + struct.pack("<20sIIIIIBbHH", _name("EOS"), 0, 0, 0, 0, 0, 0, 0, 0, 0)

    pdta = _list(
        b"pdta",
        _chunk(b"phdr", phdr), _chunk(b"pbag", pbag), _chunk(b"pmod", pmod), _chunk(b"pgen", pgen),
        _chunk(b"inst", inst), _chunk(b"ibag", ibag), _chunk(b"imod", imod), _chunk(b"igen", igen),
        _chunk(b"shdr", shdr),
    )
    return _chunk(b"RIFF", b"sfbk" + info + sdta + pdta)


def write_tiny_sf2(path: Path, presets: list[tuple[int, int, str, int]] | None = None) -> Path:
    """Write the tiny SoundFont to `path` (parent folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tiny_sf2_bytes(presets))
    return path
