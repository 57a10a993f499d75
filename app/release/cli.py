"""The `batch` command's flags (kept apart from batch.py so --help imports nothing heavy).

    python -m app.main batch --count 10 --minutes 2 --jobs 2 --out releases/
    python -m app.main batch --count 12 --minutes-range 2-3 --formats wav,mp3,flac --artist "Night Owl" \\
        --album "Amber Windows" --keys C,Eb,F,Ab --modes minor --bpm-range 70-84 --mix-minutes 60
    python -m app.main batch --count 8 --modes dorian,minor --colour-range 0.4-0.8 --energies 0.3,0.5
    python -m app.main batch --preset my_release.toml          # the same options in a TOML file

Flags given on the command line win over the preset's values; anything given in neither takes the
defaults in app/release/request.py. Lists are comma separated.
"""

from __future__ import annotations


def add_batch_parser(sub) -> None:
    from app.config import DEFAULT_COLOUR, DEFAULT_ENERGY, VIDEO_SHAPES
    from app.spec import RANGES, SEED_MAX, add_format_flags, number_arg, whole_arg

    p = sub.add_parser("batch", help="produce a release of N distinct, upload-ready tracks",
                       description="Produce a release of N distinct, mastered, tagged tracks with cover art, "
                                   "manifest and compliance report. Running the same command again resumes it.")
    p.add_argument("--count", type=whole_arg(1, 999), help="number of tracks, 1-999 (default 10)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=number_arg(*RANGES["minutes"]),
                        help="length of every track in minutes, 0.1-20 (default 2)")
    length.add_argument("--minutes-range", metavar="A-B", help="lengths drawn between A and B minutes, e.g. 2-3")
    p.add_argument("--jobs", type=whole_arg(1, 64), help="worker processes, 1-64 (default: the CPU cores, fewer when free "
                   "memory would not hold them for the longest track; the choice is printed)")
    p.add_argument("--cluster", metavar="ADDRESS", help="make the tracks on a Dask cluster: a scheduler address "
                   "(tcp://HOST:8786) or local:N (a LocalCluster of N worker processes here); see the README, "
                   "'Making a release on a cluster'")
    p.add_argument("--shared-dir", metavar="DIR", help="with --cluster: a folder every machine sees at this path; "
                   "the tracks' files wait there instead of travelling back to this machine")
    p.add_argument("--out", metavar="DIR", help="output folder; the release goes in DIR/<album> (default data/releases)")
    p.add_argument("--formats", help="comma list of wav, mp3, flac (default wav)")
    add_format_flags(p)
    names = p.add_mutually_exclusive_group()
    names.add_argument("--ascii-names", dest="ascii_names", action="store_const", const=True,
                       help="file names of letters, digits, - and _ only: 01_Title_Words.wav (the default)")
    names.add_argument("--unicode-names", dest="ascii_names", action="store_const", const=False,
                       help="file names as titled: '01 - Title Words.wav' (the title tags are the real titles either way)")
    p.add_argument("--artist", help="artist tag (default: lofi generator)")
    p.add_argument("--album", help="album name and release folder (default: a title drawn from the seed)")
    p.add_argument("--seed", type=whole_arg(0, SEED_MAX), help="release seed: same seed, same release (default random, recorded)")
    p.add_argument("--keys", help="key pool, e.g. C,Eb,F# (default all twelve)")
    p.add_argument("--modes", help="mode pool: major, minor, dorian, mixolydian, lydian, phrygian or all "
                                   "(default major,minor)")
    p.add_argument("--bpm-range", metavar="A-B", help="tempo range, e.g. 70-90 (default 70-90)")
    p.add_argument("--melody-instruments", metavar="LIST", help="instrument pool for the melody (names or ids)")
    p.add_argument("--chords-instruments", metavar="LIST", help="instrument pool for the chords")
    p.add_argument("--bass-instruments", metavar="LIST", help="instrument pool for the bass")
    p.add_argument("--beats", metavar="LIST", help="beat pool: 'generated' (the default), loop names (see `effects`), 'none'")
    p.add_argument("--drum-kits", metavar="LIST", help="kit pool for the generated drums (see `instruments`; default Jazz)")
    p.add_argument("--ambience", metavar="LIST", help="ambience pool, NAME[:LEVEL_DB] each; 'none' allowed")
    p.add_argument("--lofi-presets", metavar="LIST", help="lo-fi sound pool: clean, default, dusty, tape, cassette, radio")
    p.add_argument("--swing-range", metavar="A-B", help="swing range 0.5-0.75 (default 0.54-0.62)")
    p.add_argument("--temperature", type=number_arg(*RANGES["temperature"]), help="creativity 0.1-2.0 (default 1.0)")
    colour = p.add_mutually_exclusive_group()
    colour.add_argument("--colours", metavar="LIST", help=f"harmony colour pool, 0-1 each, e.g. 0.4,0.6,0.8 "
                                                          f"(default {DEFAULT_COLOUR:g})")
    colour.add_argument("--colour-range", metavar="A-B", help="colours spread between A and B, e.g. 0.4-0.8")
    energy = p.add_mutually_exclusive_group()
    energy.add_argument("--energies", metavar="LIST", help=f"energy pool, 0-1 each, e.g. 0.3,0.5 "
                                                           f"(default {DEFAULT_ENERGY:g})")
    energy.add_argument("--energy-range", metavar="A-B", help="energies spread between A and B, e.g. 0.3-0.7")
    p.add_argument("--preset", metavar="FILE", help="TOML file with any of these options (keys use underscores)")
    p.add_argument("--mix-minutes", type=number_arg(0.1, 600),
                   help="also write one continuous mix of this length (0.1-600 minutes) with a tracklist")
    p.add_argument("--stems", action="store_true", default=None,
                   help="also deliver each track's stems (32-bit float WAVs that sum to its pre-master mix) in stems/")
    p.add_argument("--crossfade", type=number_arg(0, 15), help="crossfade between tracks in the mix, 0-15 s (default 4)")
    p.add_argument("--video", nargs="?", const="landscape", choices=list(VIDEO_SHAPES),
                   help="also make video/NN_Title.mp4 per track and mix.mp4 for the mix (1920x1080; 'shorts': "
                        "1080x1920), each with its youtube.txt")

    def run(args):
        from app.release.batch import run_batch

        return run_batch(args)

    p.set_defaults(func=run)
