"""The pixel pipeline of the RGB baseline (and of ``rgb-reencode``): Pillow decode,
RandomResizedCrop + flip or resize + centre crop."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
from PIL import Image

from .augment import center_crop_box, sample_rrc_box


__all__ = ["random_resized_crop_box", "load_rgb"]

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
