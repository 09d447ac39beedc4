"""Draws the console's PWA icons (committed under web/public/icons/); rerun after changing the design.

    .venv/bin/python web/scripts/make_icons.py

The design is an iris: a violet disc with a lighter ring and a dark pupil. Shapes are drawn at 4x and
downsampled so the edges are smooth without an SVG renderer. The maskable icon keeps the motif inside the
centre 80% (the safe zone launchers crop to) on a full-bleed background.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ICONS = Path(__file__).resolve().parents[1] / "public" / "icons"
BACKGROUND = (59, 47, 143)
RING = (167, 139, 250)
IRIS = (124, 92, 230)
PUPIL = (22, 16, 52)
HIGHLIGHT = (255, 255, 255)
SUPERSAMPLE = 4


def _disc(draw: ImageDraw.ImageDraw, size: int, fraction: float, fill: tuple[int, int, int]) -> None:
    radius = size * fraction / 2
    centre = size / 2
    draw.ellipse((centre - radius, centre - radius, centre + radius, centre + radius), fill=fill)


def draw_icon(side: int, maskable: bool) -> Image.Image:
    big = side * SUPERSAMPLE
    image = Image.new("RGB", (big, big), BACKGROUND)
    draw = ImageDraw.Draw(image)
    if not maskable:
        # A plain icon is shown as is: round the corners so it reads as an app tile.
        image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
        draw = ImageDraw.Draw(image)
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big // 5, fill=BACKGROUND)
    scale = 0.8 if maskable else 1.0
    _disc(draw, big, 0.74 * scale, RING)
    _disc(draw, big, 0.60 * scale, IRIS)
    _disc(draw, big, 0.28 * scale, PUPIL)
    offset = big * 0.09 * scale
    spot = big * 0.05 * scale
    draw.ellipse((big / 2 - offset - spot, big / 2 - offset - spot, big / 2 - offset + spot, big / 2 - offset + spot), fill=HIGHLIGHT)
    return image.resize((side, side), Image.Resampling.LANCZOS)


def main() -> None:
    ICONS.mkdir(parents=True, exist_ok=True)
    draw_icon(192, maskable=False).save(ICONS / "icon-192.png", optimize=True)
    draw_icon(512, maskable=False).save(ICONS / "icon-512.png", optimize=True)
    draw_icon(512, maskable=True).save(ICONS / "icon-maskable-512.png", optimize=True)


if __name__ == "__main__":
    main()
