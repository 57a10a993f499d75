"""Procedural cover art: a 3000x3000 JPEG per release, drawn from its seed, with title and artist.

    from app.release.cover import make_cover
    make_cover(Path("release/cover.jpg"), "Amber Windows", "lofi generator", seed=7)

A scene is a sky gradient from one of a few palettes, a soft glow, bokeh circles, a moon or sun,
stars on night palettes, and one silhouette (a city skyline with lit windows, rolling hills, or a
window frame with a plant on the sill), all under film grain. The title and artist sit on a dark
band in the project's bundled font (matplotlib's DejaVu Sans), so no system font is needed and the
text stays readable whatever the picture. Same seed, same cover.
"""

from __future__ import annotations

import colorsys
import random
from pathlib import Path

import numpy as np

from app.files import atomic_path

COVER_SIZE = 3000
JPEG_QUALITY = 90
# (top, bottom, accent, night?) in RGB 0..255; hues are jittered per seed.
PALETTES = (
    ((38, 28, 74), (232, 132, 110), (255, 214, 160), False),  # dusk
    ((12, 20, 48), (48, 86, 128), (250, 244, 210), True),  # night blue
    ((24, 48, 60), (120, 176, 170), (244, 230, 190), True),  # teal night
    ((92, 64, 120), (246, 186, 190), (255, 240, 220), False),  # pastel pink
    ((30, 46, 36), (150, 170, 120), (250, 230, 170), False),  # forest morning
    ((54, 30, 40), (214, 120, 80), (255, 200, 120), False),  # autumn
    ((20, 18, 36), (96, 70, 140), (230, 220, 255), True),  # violet night
)
SCENES = ("city", "hills", "window")


def _font(size_px: int):
    from PIL import ImageFont

    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"
        return ImageFont.truetype(str(path), size_px)
    except (ImportError, OSError):
        return ImageFont.load_default(size=size_px)  # Pillow >= 10.1 scales its own font


def _jitter(rgb, rng: random.Random, hue: float) -> tuple[int, int, int]:
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    r, g, b = colorsys.hsv_to_rgb((h + hue) % 1.0, min(1.0, s * rng.uniform(0.85, 1.1)), v)
    return int(r * 255), int(g * 255), int(b * 255)


# Rows of the cover computed at a time: its float32 layers are made band by band (a whole 3000 px
# layer is 108 MB, and on the project's machines fresh memory costs about 3 ms per MB to touch).
_BAND_ROWS = 250


def _sky_column(size: int, top, bottom, rng: random.Random) -> np.ndarray:
    """(size, 3) float colour of each row of the sky: a gradient eased so the horizon glows a little."""
    t = np.linspace(0.0, 1.0, size, dtype=np.float32) ** rng.uniform(0.8, 1.4)
    return np.asarray(top, np.float32)[None, :] * (1 - t[:, None]) + np.asarray(bottom, np.float32)[None, :] * t[:, None]


_GLOW_STEP = 10  # pixels between the glow's computed weights


def _glow_weights(size: int, cx: float, cy: float, radius: float, strength: float) -> np.ndarray:
    """A soft radial glow's weight on a coarse grid (every _GLOW_STEP pixels), to be upsampled."""
    ys, xs = np.mgrid[0:size:_GLOW_STEP, 0:size:_GLOW_STEP].astype(np.float32)
    d = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2) / radius
    return np.exp(-d * d) * strength


def _glowing_sky(size: int, column: np.ndarray, glow: np.ndarray, colour) -> np.ndarray:
    """The sky (each row its column colour) pulled towards `colour` by the glow's weights, as uint8
    (size, size, 3): per pixel img + g * (colour - img) * 0.9 in float32, clipped, band by band."""
    out = np.empty((size, size, 3), np.uint8)
    colour = np.asarray(colour, np.float32)
    for r0 in range(0, size, _BAND_ROWS):
        r1 = min(size, r0 + _BAND_ROWS)
        img = np.repeat(column[r0:r1, None, :], size, axis=1)
        g = np.repeat(np.repeat(glow[r0 // _GLOW_STEP:-(-r1 // _GLOW_STEP)], _GLOW_STEP, axis=0), _GLOW_STEP, axis=1)
        g = g[r0 % _GLOW_STEP:][: r1 - r0, :size]
        pull = np.subtract(colour, img)
        pull *= g[..., None]
        pull *= 0.9
        img += pull
        out[r0:r1] = np.clip(img, 0, 255)
    return out


def _with_grain(canvas, seed: int):
    """The canvas (RGB) with film grain: normal noise (sd 7) added to every pixel, clipped; the
    noise is drawn band by band from one generator (the same values as one draw of the whole)."""
    from PIL import Image

    size = canvas.size[0]
    rng = np.random.default_rng(seed & 0xFFFFFFFF)
    pixels = np.asarray(canvas)
    out = np.empty_like(pixels)
    for r0 in range(0, size, _BAND_ROWS):
        r1 = min(size, r0 + _BAND_ROWS)
        band = pixels[r0:r1].astype(np.float32)
        band += rng.normal(0.0, 7.0, (r1 - r0, size, 1)).astype(np.float32)
        out[r0:r1] = np.clip(band, 0, 255, out=band)
    return Image.fromarray(out, "RGB")


def make_cover(path: Path, title: str, artist: str, seed: int, size: int = COVER_SIZE) -> Path:
    """Draw the cover for (title, artist, seed) and write it as an RGB JPEG of size x size pixels.

    Returns path. The file is written atomically.
    """
    canvas = draw_cover(title, artist, seed, size)
    with atomic_path(path) as tmp:
        canvas.save(tmp, "JPEG", quality=JPEG_QUALITY, optimize=True, subsampling=0)
    return Path(path)


def draw_cover(title: str, artist: str, seed: int, size: int = COVER_SIZE):
    """The cover for (title, artist, seed): an RGB PIL image of size x size pixels."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(f"cover:{seed}")
    top, bottom, accent, night = rng.choice(PALETTES)
    hue = rng.uniform(-0.05, 0.05)
    top, bottom, accent = (_jitter(c, rng, hue) for c in (top, bottom, accent))
    scene = rng.choice(SCENES)
    text_at_top = rng.random() < 0.35

    column = _sky_column(size, top, bottom, rng)
    moon_x, moon_y = rng.uniform(0.2, 0.8) * size, rng.uniform(0.34, 0.44) * size
    if not text_at_top:
        moon_y -= size * 0.16  # clear of the title band, wherever it is
    moon_r = rng.uniform(0.07, 0.12) * size
    sky = _glowing_sky(size, column, _glow_weights(size, moon_x, moon_y, moon_r * 4.0, 0.35), accent)
    canvas = Image.fromarray(sky, "RGB")

    # Bokeh and stars on a quarter-size layer, blurred, then scaled up: soft and cheap.
    small = size // 4
    layer = Image.new("RGBA", (small, small), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    if night:
        for _ in range(rng.randrange(60, 140)):
            x, y, r = rng.uniform(0, small), rng.uniform(0, small * 0.6), rng.uniform(0.6, 1.8)
            d.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 240, rng.randrange(120, 230)))
    for _ in range(rng.randrange(8, 18)):
        x, y, r = rng.uniform(0, small), rng.uniform(0, small * 0.8), rng.uniform(small * 0.02, small * 0.07)
        d.ellipse((x - r, y - r, x + r, y + r), fill=(*accent, rng.randrange(25, 70)))
    layer = layer.filter(ImageFilter.GaussianBlur(small * 0.006)).resize((size, size), Image.BICUBIC)
    canvas.paste(layer, (0, 0), layer)

    draw = ImageDraw.Draw(canvas, "RGBA")
    # The moon (night) or a low sun (day), with a crescent shadow on some moons.
    draw.ellipse((moon_x - moon_r, moon_y - moon_r, moon_x + moon_r, moon_y + moon_r), fill=(*accent, 235))
    if night and rng.random() < 0.6:
        off = moon_r * rng.uniform(0.35, 0.6)
        # The shadow takes the sky's colour just beside the moon, so it reads as a crescent.
        sky_x = int(min(size - 1, moon_x + moon_r * 1.8))
        beside = tuple(int(c) for c in sky[int(moon_y), sky_x])
        draw.ellipse((moon_x - moon_r * 0.92 + off, moon_y - moon_r * 0.92 - off * 0.4,
                      moon_x + moon_r * 0.92 + off, moon_y + moon_r * 0.92 - off * 0.4), fill=(*beside, 255))

    shade = tuple(int(c * 0.25) for c in top)
    _silhouette(draw, scene, size, rng, shade, accent)

    canvas = _with_grain(canvas, seed)

    _draw_text(canvas, title, artist, size, text_at_top)
    return canvas


def _silhouette(draw, scene: str, size: int, rng: random.Random, shade, accent) -> None:
    horizon = size * rng.uniform(0.62, 0.7)
    if scene == "city":
        x = -rng.uniform(0, 80)
        while x < size:
            w = rng.uniform(0.05, 0.12) * size
            h = rng.uniform(0.08, 0.3) * size
            draw.rectangle((x, horizon - h, x + w, size), fill=(*shade, 255))
            # Lit windows, a few of them.
            for wy in np.arange(horizon - h + 40, horizon - 40, 70):
                for wx in np.arange(x + 25, x + w - 40, 60):
                    if rng.random() < 0.22:
                        draw.rectangle((wx, wy, wx + 24, wy + 34), fill=(*accent, rng.randrange(150, 230)))
            x += w + rng.uniform(0, 30)
    elif scene == "hills":
        for layer, dark in ((0, 0.7), (1, 1.0)):
            base = horizon + layer * size * 0.08
            phases = [rng.uniform(0, 6.28) for _ in range(3)]
            pts = [(0, size)]
            for xi in range(0, size + 50, 50):
                y = base - sum(size * 0.03 / (k + 1) * np.sin(xi / size * (k + 2) * 3.1 + p) for k, p in enumerate(phases))
                pts.append((xi, y))
            pts.append((size, size))
            colour = tuple(int(c * dark + 60 * (1 - dark)) for c in shade)
            draw.polygon(pts, fill=(*colour, 255))
    else:  # a window frame seen from the room, a plant on the sill
        frame = int(size * 0.05)
        draw.rectangle((0, 0, size, frame), fill=(*shade, 255))
        draw.rectangle((0, 0, frame, size), fill=(*shade, 255))
        draw.rectangle((size - frame, 0, size, size), fill=(*shade, 255))
        draw.rectangle((size // 2 - frame // 3, 0, size // 2 + frame // 3, int(horizon)), fill=(*shade, 255))
        sill = horizon + size * 0.05
        draw.rectangle((0, sill, size, size), fill=(*shade, 255))
        pot_x = size * rng.uniform(0.12, 0.3)
        draw.rectangle((pot_x, sill - 200, pot_x + 220, sill), fill=(*shade, 255))
        for _ in range(9):
            angle = rng.uniform(-1.2, 1.2)
            length = rng.uniform(300, 650)
            tip = (pot_x + 110 + np.sin(angle) * length, sill - 200 - np.cos(angle) * length)
            draw.line([(pot_x + 110, sill - 200), tip], fill=(*shade, 255), width=34)
            draw.ellipse((tip[0] - 70, tip[1] - 40, tip[0] + 70, tip[1] + 40), fill=(*shade, 255))
        mug_x = size * rng.uniform(0.6, 0.8)
        draw.rounded_rectangle((mug_x, sill - 170, mug_x + 150, sill), radius=20, fill=(*shade, 255))


def _wrap(text: str, font, width: int, draw) -> list[str]:
    """Split text into lines no wider than `width` pixels (long single words stay whole)."""
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and draw.textlength(candidate, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + ([line] if line else [])


def _draw_text(canvas, title: str, artist: str, size: int, at_top: bool) -> None:
    """Title (large, up to two lines) and artist on a translucent dark band, top or bottom."""
    from PIL import Image, ImageDraw

    draw = ImageDraw.Draw(canvas)
    margin = int(size * 0.07)
    width = size - 2 * margin
    title_px = int(size * 0.085)
    while True:
        font = _font(title_px)
        lines = _wrap(title, font, width, draw)
        if (len(lines) <= 2 and all(draw.textlength(t, font=font) <= width for t in lines)) or title_px < size * 0.03:
            break
        title_px = int(title_px * 0.9)
    artist_font = _font(int(size * 0.04))
    line_h = int(title_px * 1.15)
    block_h = line_h * len(lines) + int(size * 0.06)
    y0 = margin if at_top else size - margin - block_h
    band = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    ImageDraw.Draw(band).rectangle((0, y0 - margin // 2, size, y0 + block_h + margin // 2), fill=(8, 8, 16, 150))
    canvas.paste(Image.alpha_composite(canvas.convert("RGBA"), band).convert("RGB"))
    draw = ImageDraw.Draw(canvas)
    y = y0
    for line in lines:
        draw.text((margin + 6, y + 6), line, font=font, fill=(0, 0, 0))  # a drop shadow
        draw.text((margin, y), line, font=font, fill=(250, 246, 236))
        y += line_h
    draw.text((margin, y + int(size * 0.01)), artist, font=artist_font, fill=(225, 220, 210))
