"""Key names, chord symbols and chord tones (app/music/theory.py)."""



from app.music import theory


def test_theory_names_and_chords():
    assert theory.pitch_class("F#") == 6 and theory.pitch_class("bb") == 10
    assert theory.parse_chord_symbol("Am7") == (9, "min7")
    for q in ("maj", "min", "dom7", "maj7", "min7", "hdim7", "dim", "sus4", "sus2"):
        assert theory.parse_chord_symbol(theory.chord_symbol(4, q)) == (4, q)
    assert theory.name_chord({0, 4, 7, 11}) == (0, "maj7")
    assert theory.name_chord({2, 5, 9}, bass_pc=2) == (2, "min")
    assert theory.name_chord({7, 11, 2, 5}) == (7, "dom7")
