"""Pleasant, unique track and album titles, deterministic from a seed.

    from app.release.titles import make_titles, titles_in_folder
    taken = titles_in_folder(Path("data/releases"))        # every title of earlier releases there
    make_titles(10, seed=7, taken=taken)                   # ['Amber Window', 'Rain on the Tram', ...]

Titles are drawn from small word lists in a few patterns ("Adjective Noun", "Noun at Time",
"Noun and Noun"...). Two titles count as the same when they match ignoring case, spaces and
punctuation, so "Late Rain" and "late-rain" never both appear.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

ADJECTIVES = (
    "Amber", "Autumn", "Blue", "Cosy", "Dusty", "Faded", "Gentle", "Golden", "Hazy", "Honey", "Hushed",
    "Indigo", "Lazy", "Lilac", "Little", "Mellow", "Misty", "Moonlit", "Pale", "Quiet", "Rainy", "Rosy",
    "Sleepy", "Slow", "Soft", "Still", "Sunday", "Tender", "Velvet", "Warm", "Wistful", "Woolen",
)
NOUNS = (
    "Afternoon", "Balcony", "Bookshelf", "Candle", "Cassette", "Cloud", "Coffee", "Corner", "Daydream",
    "Drizzle", "Ember", "Fern", "Garden", "Harbour", "Lantern", "Letter", "Library", "Meadow", "Moon",
    "Notebook", "Orchard", "Pillow", "Postcard", "Puddle", "Rain", "Record", "Rooftop", "Scarf", "Sketch",
    "Streetlight", "Sweater", "Tea", "Tram", "Umbrella", "Window", "Winter",
)
TIMES = (
    "Dawn", "Dusk", "Midnight", "Noon", "Sunset", "Twilight", "Three AM", "Closing Time", "First Light",
    "Last Call", "Low Tide", "Rush Hour",
)
PLACES = (
    "the Tram", "the Window", "the Rooftop", "the Library", "the Harbour", "the Corner Shop", "the Garden",
    "the Old Piano", "the Balcony", "the Station",
)
PATTERNS = (
    "{adj} {noun}",
    "{adj} {noun}",
    "{noun} at {time}",
    "{noun} on {place}",
    "{noun} and {noun2}",
    "{adj} {time}",
    "After {time}",
    "{adj} {nouns}",
    "Notes from {place}",
)
ALBUM_PATTERNS = (
    "{adj} {nouns}",
    "Songs for {adj} {nouns}",
    "{noun} Tapes",
    "{adj} Hours",
    "Beats from {place}",
    "{noun} Sessions",
)


_GLUE = {"the", "at", "on", "and", "from", "after", "for", "notes", "songs", "beats", "s", "days"}


def title_key(title: str) -> str:
    """The form two titles are compared in: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]+", "", title.casefold())


def _draw(rng: random.Random, patterns: tuple[str, ...]) -> str:
    noun, noun2 = rng.sample(NOUNS, 2)
    return rng.choice(patterns).format(adj=rng.choice(ADJECTIVES), noun=noun, noun2=noun2, nouns=_plural(noun),
                                       time=rng.choice(TIMES), place=rng.choice(PLACES))


def _plural(noun: str) -> str:
    if noun in ("Coffee", "Tea", "Rain", "Drizzle"):
        return noun + " Days"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("s", "sh", "ch")) else "s")


def make_titles(count: int, seed: int, taken: set[str] | None = None, patterns: tuple[str, ...] = PATTERNS) -> list[str]:
    """`count` distinct titles, the same for the same seed and taken set.

    taken: titles (any spelling) that must not be reused, e.g. earlier releases' titles. When the
    word lists run dry a number is appended ("Amber Window II"), so any count succeeds.
    """
    rng = random.Random(f"titles:{seed}")
    used = {title_key(t) for t in (taken or ())}
    used_words: set[str] = set()
    titles: list[str] = []
    tries = 0
    while len(titles) < count:
        title = _draw(rng, patterns)
        tries += 1
        if tries > 200 * (count + 1):  # ~10^4 combinations; only a huge folder gets here
            title = f"{title} {_roman(2 + tries // 1000)}"
        words = {w for w in re.findall(r"[a-z]+", title.casefold()) if w not in _GLUE}
        # Within one call no word repeats ("After Dusk", "Golden Dusk"), while the lists allow it.
        if title_key(title) in used or (words & used_words and tries < 50 * (count + 1)):
            continue
        used.add(title_key(title))
        used_words.update(words)
        titles.append(title)
    return titles


def album_title(seed: int, taken: set[str] | None = None) -> str:
    """One album title for a seed, not among `taken`."""
    return make_titles(1, seed * 7919 + 1, taken, ALBUM_PATTERNS)[0]


def _roman(n: int) -> str:
    out = ""
    for value, numeral in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                           (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out += numeral
            n -= value
    return out


def titles_in_folder(out_dir: Path, skip: Path | None = None) -> tuple[set[str], set[str]]:
    """(track titles, album titles) of every release manifest in out_dir/*/manifest.json, except
    the release folder `skip`. Unreadable manifests are ignored."""
    tracks: set[str] = set()
    albums: set[str] = set()
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return tracks, albums
    for manifest in sorted(out_dir.glob("*/manifest.json")):
        if skip is not None and manifest.parent.resolve() == Path(skip).resolve():
            continue
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            albums.add(str(data["release"]["album"]))
            tracks.update(str(t["title"]) for t in data["tracks"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return tracks, albums
