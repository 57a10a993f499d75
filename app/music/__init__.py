"""Composition: theory, the Song record, MIDI files and the arrangement."""
