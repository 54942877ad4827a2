"""The pixel pipeline of the RGB baseline (and of ``rgb-reencode``): Pillow decode,
RandomResizedCrop + flip or resize + centre crop."""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
from PIL import Image


__all__ = ["random_resized_crop_box", "load_rgb"]

# ------------------------------------------------------------------------------------------------
# Pixel-domain helpers (RGB baseline and rgb-reencode)
# ------------------------------------------------------------------------------------------------
def random_resized_crop_box(width: int, height: int, rng: np.random.Generator,
                            scale: tuple = (0.08, 1.0), ratio: tuple = (3 / 4, 4 / 3)) -> tuple:
    """``(left, top, right, bottom)`` of a RandomResizedCrop region (torchvision's algorithm:
    10 tries of area ``scale`` and log-uniform aspect ``ratio``, then a centre crop fallback)."""
    area = width * height
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_r))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            left = int(rng.integers(0, width - w + 1))
            top = int(rng.integers(0, height - h + 1))
            return left, top, left + w, top + h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def load_rgb(path: Any, crop: int, train: bool, rng: Optional[np.random.Generator]) -> Image.Image:
    """Pillow decode + RandomResizedCrop + flip (train) or resize + centre crop (eval)."""
    with Image.open(path) as im:
        img = im.convert("RGB")
    w, h = img.size
    if train:
        box = random_resized_crop_box(w, h, rng)
        img = img.resize((crop, crop), Image.BILINEAR, box=box)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        return img
    short = int(crop / 0.875)
    s = short / min(w, h)
    nw, nh = max(crop, round(w * s)), max(crop, round(h * s))
    img = img.resize((nw, nh), Image.BILINEAR)
    left, top = (nw - crop) // 2, (nh - crop) // 2
    return img.crop((left, top, left + crop, top + crop))


