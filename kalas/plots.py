"""The evaluation's pictures, drawn with Pillow: a confusion matrix, per-class accuracy bars, the worst mistakes.

Pillow rather than matplotlib: it is already a dependency, and these three pictures need only boxes and text.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageOps

BLUE = (37, 99, 235)
GREEN, RED, GREY, INK = (22, 130, 60), (200, 40, 40), (225, 225, 225), (30, 30, 30)
CHAR_WIDTH = 6  # Pillow's default bitmap font


def confusion_png(matrix: Sequence[Sequence[int]], classes: Sequence[str], path: Path, title: str) -> Path:
    """Rows are truths, columns predictions (the last column: anything else); each row shaded by its own share."""
    cell = 16 if len(classes) <= 40 else 11
    margin = 12 + CHAR_WIDTH * max(len(c) for c in [*classes, "other"])
    size = len(classes) + 1
    heading = [title, "rows: truth, columns: prediction, shade: share of the row"]
    width = max(margin + size * cell + 10, 12 + CHAR_WIDTH * max(map(len, heading)))
    image = Image.new("RGB", (width, margin + len(classes) * cell + 40), "white")
    draw = ImageDraw.Draw(image)
    draw.text((6, 4), "\n".join(heading), fill=INK)
    top = margin + 30
    for row, counts in enumerate(matrix):
        total = sum(counts) or 1
        y = top + row * cell
        draw.text((margin - 6 - CHAR_WIDTH * len(classes[row]), y + (cell - 10) // 2), classes[row], fill=INK)
        for column, count in enumerate(counts):
            share = count / total
            shade = tuple(round(255 - share * (255 - c)) for c in (RED if column != row else BLUE))
            x = margin + column * cell
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=shade, outline=GREY)
    columns = Image.new("RGB", (margin, size * cell), "white")  # column labels, drawn sideways
    column_draw = ImageDraw.Draw(columns)
    for column, label in enumerate([*classes, "other"]):
        column_draw.text((6, column * cell + (cell - 10) // 2), label, fill=INK)
    image.paste(columns.rotate(90, expand=True), (margin, 30))
    return _save(image, path)


def per_class_png(per_class: dict[str, dict], path: Path, title: str, metric: str = "top1") -> Path:
    """One bar per class (commonest first): `metric` as a bar, the image count beside the name."""
    names = [f"{label} ({stats['count']})" for label, stats in per_class.items()]
    margin, bar, row = 10 + CHAR_WIDTH * max(map(len, names), default=10), 300, 16
    image = Image.new("RGB", (margin + bar + 60, 30 + row * len(names)), "white")
    draw = ImageDraw.Draw(image)
    draw.text((6, 6), f"{title}: {metric} per class (image count)", fill=INK)
    for i, (name, stats) in enumerate(zip(names, per_class.values())):
        y = 26 + i * row
        value = stats[metric] or 0.0
        draw.text((margin - 6 - CHAR_WIDTH * len(name), y + 2), name, fill=INK)
        draw.rectangle((margin, y + 2, margin + bar, y + row - 3), fill=GREY)
        draw.rectangle((margin, y + 2, margin + round(bar * value), y + row - 3), fill=BLUE)
        draw.text((margin + bar + 6, y + 2), f"{100 * value:.0f}%", fill=INK)
    return _save(image, path)


def mistakes_png(mistakes: Sequence[tuple[Path, str, str]], path: Path, title: str, columns: int = 6) -> Path:
    """A contact sheet of (image, truth, prediction): the truth in green, what the model said in red."""
    tile, caption = 150, 30
    rows = max(1, -(-len(mistakes) // columns))
    image = Image.new("RGB", (columns * (tile + 8) + 8, 24 + rows * (tile + caption + 8)), "white")
    draw = ImageDraw.Draw(image)
    draw.text((8, 6), title, fill=INK)
    for i, (photo, truth, predicted) in enumerate(mistakes):
        x, y = 8 + (i % columns) * (tile + 8), 24 + (i // columns) * (tile + caption + 8)
        with Image.open(photo) as opened:
            image.paste(ImageOps.pad(opened.convert("RGB"), (tile, tile), color="white"), (x, y))
        draw.text((x, y + tile + 2), _fit(f"is {truth}", tile), fill=GREEN)
        draw.text((x, y + tile + 15), _fit(f"said {predicted}", tile), fill=RED)
    return _save(image, path)


def _fit(text: str, width: int) -> str:
    limit = width // CHAR_WIDTH
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _save(image: Image.Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def reliability_png(bins: Sequence[dict], curve: Sequence[dict], path: Path, title: str) -> Path:
    """Left: the reliability diagram (accuracy per confidence bin, against the diagonal a calibrated model keeps);
    right: the risk-coverage curve (accuracy of what is kept, from the most confident down)."""
    side, pad = 240, 40
    image = Image.new("RGB", (2 * side + 3 * pad, side + 2 * pad + 14), "white")
    draw = ImageDraw.Draw(image)
    draw.text((6, 4), title, fill=INK)

    def frame(x0: int, label_x: str, label_y: str) -> tuple[int, int]:
        top = pad + 10
        draw.rectangle((x0, top, x0 + side, top + side), outline=GREY)
        draw.text((x0, top + side + 4), label_x, fill=INK)
        draw.text((x0 + 4, top + 4), label_y, fill=INK)
        return x0, top

    x0, top = frame(pad, "confidence (bins)", "accuracy")
    draw.line((x0, top + side, x0 + side, top), fill=GREY)
    width = side / max(len(bins), 1)
    for i, b in enumerate(bins):
        if b["count"] and b["accuracy"] is not None:
            height = round(b["accuracy"] * side)
            draw.rectangle((round(x0 + i * width) + 1, top + side - height, round(x0 + (i + 1) * width) - 1, top + side),
                           fill=BLUE if b["accuracy"] >= (b["confidence"] or 0) else RED)
    x1, top = frame(2 * pad + side, "coverage (fraction kept)", "accuracy of the kept")
    floor = min([p["accuracy"] for p in curve] + [0.5])
    points = [(x1 + p["coverage"] * side, top + side - (p["accuracy"] - floor) / (1 - floor + 1e-9) * side) for p in curve]
    if len(points) > 1:
        draw.line(points, fill=BLUE, width=2)
    draw.text((x1 + 4, top + side - 14), f"y from {floor:.2f} to 1", fill=INK)
    return _save(image, path)
