"""The pixel pipeline of the RGB baseline (and of ``rgb-reencode``): Pillow decode,
RandomResizedCrop + flip or resize + centre crop."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
from PIL import Image

from .augment import center_crop_box, sample_rrc_box


__all__ = ["random_resized_crop_box", "load_rgb", "load_rgb_crop"]

# ------------------------------------------------------------------------------------------------
# Pixel-domain helpers (RGB baseline and rgb-reencode)
# ------------------------------------------------------------------------------------------------
def random_resized_crop_box(width: int, height: int, rng: np.random.Generator,
                            scale: tuple = (0.08, 1.0), ratio: tuple = (3 / 4, 4 / 3)) -> tuple:
    """``(left, top, right, bottom)`` of :func:`jpegcoef.augment.sample_rrc_box` (Pillow's box
    order): the RandomResizedCrop region the DCT pipeline draws for the same generator."""
    top, left, h, w = sample_rrc_box(height, width, rng, scale, ratio)
    return left, top, left + w, top + h


def load_rgb(path: Any, crop: int, train: bool, rng: Optional[np.random.Generator],
             resize_ratio: float = 0.875) -> Image.Image:
    """Pillow decode + RandomResizedCrop + flip (train) or resize the short side to
    ``crop / resize_ratio`` + centre crop (eval), both as one antialiased bilinear resize of a
    source box (:func:`jpegcoef.augment.center_crop_box` for eval): the boxes the DCT pipeline
    uses for the same draws."""
    with Image.open(path) as im:
        img = im.convert("RGB")
    w, h = img.size
    if train:
        box = random_resized_crop_box(w, h, rng)
        img = img.resize((crop, crop), Image.BILINEAR, box=box)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        return img
    top, left, bh, bw = center_crop_box(h, w, int(crop / resize_ratio), crop)
    return img.resize((crop, crop), Image.BILINEAR, box=(left, top, left + bw, top + bh))


def load_rgb_crop(path: Any, crop: int, train: bool, rng: Optional[np.random.Generator]) -> Image.Image:
    """Pillow decode + the window of :func:`jpegcoef.planning.crop_plan` (random in training,
    centred in evaluation, on the 16-pixel grid, no resize) + flip in training: the pixels of the
    DCT pipeline's lossless ``augment="crop"`` for the same draws. An image smaller than ``crop``
    is centred on a mid-grey canvas (128: the zero blocks the DCT crop pads with)."""
    from .planning import MCU, crop_plan  # noqa: PLC0415  (planning imports the reader)

    with Image.open(path) as im:
        img = im.convert("RGB")
    w, h = img.size
    top, left, rows, cols, pad_y, pad_x = crop_plan(h, w, crop, train, rng)
    box = (left * MCU, top * MCU, min(w, (left + cols) * MCU), min(h, (top + rows) * MCU))
    window = img.crop(box)
    if window.size != (crop, crop):
        canvas = Image.new("RGB", (crop, crop), (128, 128, 128))
        canvas.paste(window, (pad_x * MCU, pad_y * MCU))
        window = canvas
    if train and rng.random() < 0.5:
        window = window.transpose(Image.FLIP_LEFT_RIGHT)
    return window
