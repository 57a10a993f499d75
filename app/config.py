"""Every number the stages share, written once: the sample rate, the delivery targets, the value
ranges a person may choose from and the defaults they get. Stage-private tuning (a limiter's
release, a filter's cutoff) stays next to the code it tunes.

Keys: inside the code a key is a pitch class, an int 0..11 with C = 0 (Song.key, Chord.root,
Choices.key, compose_song(key=...)); a key *name* ('C', 'F#', 'Bb') appears only where a person
reads or types it: TrackSpec.key, the sidecar's "key", file tags. theory.pitch_class() and
theory.key_name() convert between the two.
"""

from __future__ import annotations

SAMPLE_RATE = 44100  # Hz: the default rate of rendering, mixing, mastering and the exported files
# Delivery formats a person may choose (--sample-rate, --bit-depth): a track is rendered, mixed and
# mastered at its chosen rate (no resampling at export); 16-bit files are dithered with noise shaping.
SAMPLE_RATES = (44100, 48000)  # Hz
BIT_DEPTHS = (16, 24)
DEFAULT_BIT_DEPTH = 16

# Delivery targets: what master() aims for and what a release's compliance report checks.
TARGET_LUFS = -14.0  # integrated loudness, ITU-R BS.1770
CEILING_DBTP = -1.0  # 4x-oversampled true peak

# Seconds of release after the last note: stems are rendered this much longer than the music, and
# the mix's fade-out runs into it.
TAIL_S = 2.0

FORMATS = ("wav", "mp3", "flac")  # export formats

# Seeds: any whole number 0..SEED_MAX is accepted; a random seed is drawn below RANDOM_SEED_LIMIT
# (short enough to read out and type back).
SEED_MAX = 2**32 - 1
RANDOM_SEED_LIMIT = 2**31

# Allowed values (inclusive) of the choices a person makes, by TrackSpec field.
RANGES = {
    "colour": (0.0, 1.0),
    "energy": (0.0, 1.0),
    "minutes": (0.1, 20.0),
    "bpm": (50.0, 140.0),
    "temperature": (0.1, 2.0),
    "swing": (0.5, 0.75),
    "level_db": (-60.0, 0.0),
    "loop_bars": (1, 64),
}

DEFAULT_BPM = 80.0  # without a beat to follow
DEFAULT_COLOUR = 0.6  # harmony richness: the share of chords given a 9th or more (the rest sevenths, sixths, triads)
DEFAULT_ENERGY = 0.5  # density and activity of every part (0-1): a lo-fi groove, laid back, not busy
DEFAULT_SWING = 0.57  # eighth-note swing ratio: 0.5 straight, 2/3 triplet feel
DEFAULT_AMBIENCE_LEVEL_DB = -24.0  # an ambience layer's level relative to the music bus
DEFAULT_AMBIENCE = (("vinyl_crackle", DEFAULT_AMBIENCE_LEVEL_DB),)
NO_BEAT = "none"  # the beat value that means "no beat"
GENERATED_BEAT = "generated"  # the beat value for the drum model's part played on a sampled kit (the default)

# The parts `generate_music --replay NAME.json --reroll PART` can draw again alone (a new take), the
# others staying note for note (app/music/compose.py).
REROLL_PARTS = ("melody", "chords", "bass", "drums")

# The picture sizes (width, height) of `--video SHAPE`: a YouTube video or a Short.
VIDEO_SHAPES = {"landscape": (1920, 1080), "shorts": (1080, 1920)}

# Bytes of long-audio blocks (app/audio/spill.py) all live layers together may keep in memory
# before the rest go to temporary files: a 3-minute track's layers (eight stereo float32 layers of
# 64 MB; the mix frees each stem once it is mixed), and a third of the 1.5 GB a 20-minute track may
# peak at. Writing a layer to a new file and reading it back costs far more than its copy: on this
# project's virtual machines the page cache of a new file is as slow to fill as fresh memory.
SPILL_MEMORY_BYTES = 512 * 2**20
