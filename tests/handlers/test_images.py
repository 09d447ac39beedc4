"""The decoder every upload goes through: real photos decode, awkward ones are normalised, bad ones say why."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from handlers.decoding import ImageError, decode_image
from handlers.images import CLOSE_UP, is_studio_shot, model_view, to_tensor
from kalas.dataset import read_records, split
from tests.support import images as make


@pytest.fixture(scope="module")
def photo(shared_data: Path) -> Path:
    return shared_data / "clothing" / "images" / "ea7b6656-3f84-4eb3-9099-23e623fc1018.jpg"


def pixel(image: Image.Image, x: int, y: int) -> np.ndarray:
    return np.asarray(image)[y, x].astype(int)


def test_real_photo_decodes_to_rgb(photo: Path) -> None:
    image = decode_image(photo.read_bytes())
    assert image.mode == "RGB"
    assert image.size == Image.open(photo).size


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 400, "empty"),
        (make.not_an_image(), 400, "not an image"),
        (make.corrupt_png(), 400, "corrupt"),
    ],
)
def test_unusable_bytes_are_refused_with_a_reason(data: bytes, status: int, words: str) -> None:
    with pytest.raises(ImageError) as caught:
        decode_image(data)
    assert caught.value.status == status
    assert words in caught.value.message


def test_truncated_jpeg_is_refused(photo: Path) -> None:
    with pytest.raises(ImageError) as caught:
        decode_image(make.truncated_jpeg(photo))
    assert caught.value.status == 400
    assert "truncated" in caught.value.message


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = make.png_bomb(20000)
    assert len(bomb) < 200_000  # tiny on the wire: the danger is the decoded size
    started = time.perf_counter()
    with pytest.raises(ImageError) as caught:
        decode_image(bomb)
    assert time.perf_counter() - started < 1.0  # refused from the header, not after inflating 400 MP
    assert caught.value.status == 413
    assert "too many pixels" in caught.value.message and "40 megapixels" in caught.value.message


def test_our_pixel_limit_names_the_size() -> None:
    with pytest.raises(ImageError) as caught:
        decode_image(make.png_bomb(8000))  # 64 MP: under Pillow's own guard, over ours
    assert caught.value.status == 413
    assert "8000x8000" in caught.value.message


def test_too_many_bytes_is_refused(photo: Path) -> None:
    with pytest.raises(ImageError) as caught:
        decode_image(photo.read_bytes(), max_bytes=1000)
    assert caught.value.status == 413
    assert "MiB" in caught.value.message


def test_cmyk_becomes_the_same_colour_in_rgb() -> None:
    image = decode_image(make.cmyk_jpeg(make.RED))
    assert image.mode == "RGB"
    assert np.abs(pixel(image, 32, 32) - np.array(make.RED)).max() < 30


def test_transparency_is_composited_on_white() -> None:
    image = decode_image(make.rgba_png(make.RED))
    assert image.mode == "RGB"
    assert tuple(pixel(image, 5, 5)) == make.RED
    assert tuple(pixel(image, 60, 5)) == (255, 255, 255)
    palette = decode_image(make.palette_png_with_transparency())
    assert tuple(pixel(palette, 5, 5)) == (255, 255, 255)
    assert tuple(pixel(palette, 60, 5)) == make.RED


def test_greyscale_and_16_bit_keep_their_brightness() -> None:
    grey = decode_image(make.greyscale_jpeg(128))
    assert grey.mode == "RGB" and abs(pixel(grey, 10, 10) - 128).max() <= 2
    grey16 = decode_image(make.grey16_png(32768))
    assert grey16.mode == "RGB"
    assert abs(pixel(grey16, 10, 10) - 128).max() <= 1  # Pillow's own convert would give 255 (white)


def test_exif_orientation_is_applied() -> None:
    image = decode_image(make.exif_rotated_jpeg())
    assert image.size == (40, 80)
    assert np.abs(pixel(image, 20, 10) - np.array(make.RED)).max() < 40
    assert np.abs(pixel(image, 20, 70) - np.array(make.BLUE)).max() < 40


def test_min_side_decodes_large_jpegs_smaller_but_not_below_it() -> None:
    big = make.encode(Image.new("RGB", (2400, 1600), make.BLUE), "JPEG")
    image = decode_image(big, min_side=224)
    assert min(image.size) >= 224
    assert image.size[0] < 2400


def garment_on(background: tuple[int, int, int], size: tuple[int, int] = (120, 160)) -> Image.Image:
    """A blue garment-sized block in the middle of a portrait photo on `background`."""
    image = Image.new("RGB", size, background)
    width, height = size
    image.paste(make.BLUE, (width // 4, height // 6, 3 * width // 4, 5 * height // 6))
    return image


def blue_pixels(view: np.ndarray) -> int:
    return int(np.sum((view[..., 2] > 200) & (view[..., 0] < 60)))


def test_a_studio_shot_is_shown_whole_padded_to_a_square_on_white() -> None:
    photo = garment_on((250, 250, 248))
    assert is_studio_shot(photo)
    view = model_view(photo, 64)
    assert view.shape == (64, 64, 3) and view.dtype == np.uint8
    assert view[32, 0].tolist() == [255, 255, 255]  # the padding at the sides
    assert view[0, 32].tolist() == [250, 250, 248]  # the photo's own top edge: nothing cut off
    assert blue_pixels(view) == pytest.approx(64 * 0.75 * 0.5 * 64 * 2 / 3, rel=0.1)


@pytest.mark.parametrize("background", [(150, 100, 60), (200, 200, 200), (240, 240, 200)], ids=["carpet", "grey", "cream"])
def test_any_other_photo_is_shown_closer(background: tuple[int, int, int]) -> None:
    photo = garment_on(background)
    studio = garment_on((250, 250, 248))
    assert not is_studio_shot(photo)
    view, whole = model_view(photo, 64), model_view(studio, 64)
    assert view.shape == (64, 64, 3)
    # The same garment, CLOSE_UP times closer: CLOSE_UP² as many of its pixels, and the photo's top edge cut off.
    assert blue_pixels(view) / blue_pixels(whole) == pytest.approx(CLOSE_UP**2, rel=0.05)
    assert view[0, 32].tolist() == list(background)


def test_a_white_border_with_a_garment_touching_it_is_still_a_studio_shot() -> None:
    photo = Image.new("RGB", (120, 160), (255, 255, 255))
    photo.paste(make.BLUE, (30, 40, 90, 160))  # trousers on a model: the legs reach the bottom edge
    assert is_studio_shot(photo)


def test_shop_photos_are_studio_shots_and_consumer_photos_are_not(shared_data: Path) -> None:
    def studio_share(name: str) -> float:
        records = split(read_records(shared_data / name))[1][:60]
        return np.mean([is_studio_shot(decode_image(r.image.read_bytes(), min_side=224)) for r in records])

    assert studio_share("fashion-products") >= 0.95
    assert studio_share("clothing") <= 0.05


def test_to_tensor_normalises_the_framed_view() -> None:
    portrait = Image.new("RGB", (50, 100), (0, 0, 0))
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    batch = to_tensor([portrait, portrait], 32, mean, std)
    assert batch.shape == (2, 3, 32, 32) and batch.dtype == torch.float32
    white, black = (1 - 0.5) / 0.25, (0 - 0.5) / 0.25
    assert batch[0, :, 16, 0].tolist() == [white] * 3  # the padding at the sides
    assert batch[0, :, 16, 16].tolist() == [black] * 3  # the garment in the middle


def test_to_tensor_gives_the_same_values_in_the_layout_asked_for() -> None:
    images = [Image.new("RGB", (50, 100), (10, 200, 30)), Image.new("RGB", (64, 64), (250, 0, 128))]
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    default = to_tensor(images, 32, mean, std)
    channels_last = to_tensor(images, 32, mean, std, memory_format=torch.channels_last)
    assert default.is_contiguous()
    assert channels_last.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(default, channels_last)
    pixel = torch.tensor([250, 0, 128], dtype=torch.float32)
    expected = (pixel / 255.0 - torch.tensor(mean)) / torch.tensor(std)  # the per-image arithmetic, exactly
    assert torch.equal(default[1, :, 5, 5], expected)
