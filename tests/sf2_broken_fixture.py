"""A tiny SoundFont whose presets FluidSynth cannot all play, for the silent-instrument tests.

    from tests.sf2_broken_fixture import write_broken_sf2, PLAYABLE, ROM_ONLY, NO_SAMPLE_DATA

Preset 0:0 plays the fixture's looped sine; 0:1 uses a ROM sample (FluidSynth ignores ROM samples,
so it is silent); 0:2 points at sample data past the end of the file's 'smpl' chunk (missing data);
0:3 mixes the sine with the ROM sample (playable: one zone sounds).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

from tests.sf2_fixture import (
    LOOP_END, LOOP_START, ROOT_KEY, SAMPLE_FRAMES, SAMPLE_RATE, SINE_HZ, _chunk, _gen, _gen_range, _list, _name,
    _timecents,
)

PLAYABLE, ROM_ONLY, NO_SAMPLE_DATA, MIXED = (0, 0, "Good Sine"), (0, 1, "Rom Lead"), (0, 2, "Lost Bass"), (0, 3, "Half Rom")
_ROM_MONO = 0x8001
_MONO = 1
_GEN_INSTRUMENT, _GEN_KEY_RANGE, _GEN_SAMPLE_ID, _GEN_SAMPLE_MODES = 41, 43, 53, 54
_GEN_ATTACK, _GEN_RELEASE = 34, 38


def broken_sf2_bytes() -> bytes:
    sine = [round(12000 * math.sin(2 * math.pi * SINE_HZ * i / SAMPLE_RATE)) for i in range(SAMPLE_FRAMES)]
    smpl = struct.pack(f"<{SAMPLE_FRAMES + 46}h", *sine, *([0] * 46))
    far = SAMPLE_FRAMES + 46 + 100000  # past the end of the sample data
    correction = -round(1200 * math.log2(SINE_HZ / 440.0))
    samples = [  # name, start, end, loop start, loop end, type
        ("Sine", 0, SAMPLE_FRAMES, LOOP_START, LOOP_END, _MONO),
        ("Rom Sine", 0, SAMPLE_FRAMES, LOOP_START, LOOP_END, _ROM_MONO),
        ("Lost", far, far + SAMPLE_FRAMES, far + LOOP_START, far + LOOP_END, _MONO),
    ]
    instruments = [("Sine Inst", [0]), ("Rom Inst", [1]), ("Lost Inst", [2]), ("Half Inst", [1, 0])]
    presets = [(PLAYABLE, 0), (ROM_ONLY, 1), (NO_SAMPLE_DATA, 2), (MIXED, 3)]

    shdr = b"".join(struct.pack("<20sIIIIIBbHH", _name(n), s, e, ls, le, SAMPLE_RATE, ROOT_KEY, correction, 0, t)
                    for n, s, e, ls, le, t in samples)
    shdr += struct.pack("<20sIIIIIBbHH", _name("EOS"), 0, 0, 0, 0, 0, 0, 0, 0, 0)
    inst, ibag, igen = b"", b"", b""
    for index, (name, sample_ids) in enumerate(instruments):
        inst += struct.pack("<20sH", _name(name), len(ibag) // 4)
        for low, sample_id in zip((0, 64), sample_ids):  # split the keyboard between the zones
            high = 127 if len(sample_ids) == 1 or low else 63
            ibag += struct.pack("<HH", len(igen) // 4, 0)
            igen += (_gen_range(_GEN_KEY_RANGE, low, high) + _gen(_GEN_ATTACK, _timecents(0.001))
                     + _gen(_GEN_RELEASE, _timecents(0.2)) + _gen(_GEN_SAMPLE_MODES, 1) + _gen(_GEN_SAMPLE_ID, sample_id))
    inst += struct.pack("<20sH", _name("EOI"), len(ibag) // 4)
    ibag += struct.pack("<HH", len(igen) // 4, 0)
    igen += _gen(0, 0)
    phdr, pbag, pgen = b"", b"", b""
    for index, ((bank, program, name), instrument) in enumerate(presets):
        phdr += struct.pack("<20sHHHIII", _name(name), program, bank, len(pbag) // 4, 0, 0, 0)
        pbag += struct.pack("<HH", len(pgen) // 4, 0)
        pgen += _gen(_GEN_INSTRUMENT, instrument)
    phdr += struct.pack("<20sHHHIII", _name("EOP"), 0, 0, len(pbag) // 4, 0, 0, 0)
    pbag += struct.pack("<HH", len(pgen) // 4, 0)
    pgen += _gen(0, 0)
    info = _list(b"INFO", _chunk(b"ifil", struct.pack("<HH", 2, 1)), _chunk(b"isng", b"EMU8000\0"),
                 _chunk(b"INAM", b"Broken Test Font\0\0"))
    pdta = _list(b"pdta", _chunk(b"phdr", phdr), _chunk(b"pbag", pbag), _chunk(b"pmod", b"\0" * 10),
                 _chunk(b"pgen", pgen), _chunk(b"inst", inst), _chunk(b"ibag", ibag), _chunk(b"imod", b"\0" * 10),
                 _chunk(b"igen", igen), _chunk(b"shdr", shdr))
    return _chunk(b"RIFF", b"sfbk" + info + _list(b"sdta", _chunk(b"smpl", smpl)) + pdta)


def write_broken_sf2(path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(broken_sf2_bytes())
    return path
