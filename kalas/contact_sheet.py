"""A contact sheet of retrieval results: one row per query, the query then its top results, for a person to judge.

Results with the query's label get a green frame, others red; each tile is captioned with its label and score.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PIL import Image, ImageDraw, ImageOps

from index import Hit
from kalas.dataset import Record

TILE = 128
CAPTION = 28
PAD = 6
GREEN, RED, BLUE = (30, 160, 60), (200, 40, 40), (40, 80, 200)


def draw_contact_sheet(rows: list[tuple[Record, list[Hit]]], path: Path, *, label: Callable[[Record], str],
                       relevant: Callable[[Record, Record], bool], gallery: dict[str, Record], top: int = 5) -> Path:
    width = PAD + (top + 1) * (TILE + PAD) + PAD
    height = PAD + len(rows) * (TILE + CAPTION + PAD)
    sheet = Image.new("RGB", (width, max(height, TILE)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (query, hits) in enumerate(rows):
        y = PAD + row * (TILE + CAPTION + PAD)
        tiles = [(query, BLUE, f"Q {label(query)}")]
        tiles += [(gallery[h.product_id], GREEN if relevant(query, gallery[h.product_id]) else RED,
                   f"{h.score:.2f} {label(gallery[h.product_id])}") for h in hits[:top]]
        for col, (record, colour, caption) in enumerate(tiles):
            x = PAD + col * (TILE + PAD) + (PAD if col else 0)
            with Image.open(record.image) as image:
                thumb = ImageOps.pad(image.convert("RGB"), (TILE, TILE), color="white")
            sheet.paste(thumb, (x, y))
            draw.rectangle((x - 2, y - 2, x + TILE + 1, y + TILE + 1), outline=colour, width=3)
            draw.text((x, y + TILE + 4), caption[:22], fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
