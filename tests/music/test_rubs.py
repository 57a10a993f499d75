"""theory.rubs: the one semitone-clash test that phrasing, harmony and evaluate share."""

from app.music import theory


def test_rubs_is_a_semitone_from_a_chord_tone_without_being_one():
    c_major = theory.chord_pitch_classes(0, "maj")  # C E G
    assert [pc for pc in range(12) if theory.rubs(pc, c_major)] == [1, 3, 5, 6, 8, 11]  # C# Eb F F# Ab B
    assert theory.rubs(61, c_major) and not theory.rubs(62, c_major) and not theory.rubs(76, c_major)
    c_maj7 = theory.chord_pitch_classes(0, "maj7")  # B is a chord tone now, so C and B no longer rub
    assert not theory.rubs(71, c_maj7) and theory.rubs(70, c_maj7)
