"""Song <-> MIDI files (app/music/midi_io.py): round trip and byte-identical writes."""



from app.music.midi_io import read_midi, write_midi
from tests.fixtures.music import little_song


def test_song_to_midi_to_song(tmp_path):
    song = little_song()
    path = write_midi(song, tmp_path / "song.mid")
    back = read_midi(path)
    assert back == song
    import mido

    names = [t.name for t in mido.MidiFile(str(path)).tracks]
    assert names == ["melody", "chords", "bass"]


def test_midi_write_is_byte_identical(tmp_path):
    song = little_song()
    a = write_midi(song, tmp_path / "a.mid").read_bytes()
    b = write_midi(song, tmp_path / "b.mid").read_bytes()
    assert a == b
    assert not list(tmp_path.glob(".*partial*"))
