"""The embedded default dataset: a deterministic, generated ImageFolder of JPEGs.

``synthetic()`` writes ``train/`` and ``val/`` with one folder per class. Each class is a pair
(shape, texture): the shape (disk, square, triangle, ring, cross) and its colour family are
low-frequency cues, the texture filling the shape (horizontal / vertical / diagonal stripes,
checks, dots, periods of 3.5-6 pixels) is a high-frequency cue. Classes are arranged so that
every shape occurs with two textures and every texture with two shapes (10 classes), so
neither cue alone gives more than half the classes right: a model needs both.

Per-image nuisance: object position, size and rotation, texture period/phase/angle, hue,
saturation and brightness jitter, a random low-frequency background with blurred blobs, a
distractor patch of a random texture (probability grows with ``difficulty``), Gaussian pixel
noise. Compression is ImageNet-like: quality 75-95, 80% 4:2:0, 8% 4:4:4, 7% 4:2:2, 5% gray.
Image sides are drawn from ``size`` (default 128-192 pixels); train with crops of 112 (or 96).

``masks=True`` also writes, beside each ``NNNNN.jpg``, its segmentation mask ``NNNNN.npy``: a
uint8 ``(H, W)`` label map at the image's pixel size, 0 = background (the distractor patch
included), ``1 + class`` = the object's pixels (where the generator's own shape mask, which
blends the object in, is >= 0.5). The mask is a by-product of drawing (no extra random numbers),
so the JPEGs are byte-identical to ``masks=False``'s; the dataset lives in its own cache
directory (``...-masks``). Masks are ``.npy``, not PNG, so that ImageFolder scans, which take
``.png`` files for images, still see only the JPEGs.

Generated on first use into ``$JPEGCOEF_CACHE`` (default ``~/.cache/jpegcoef``), in a
temporary directory renamed into place when complete, so readers never see a partial dataset;
later calls return the cached copy. Default size (10 classes x (120 train + 40 val)) takes a
few seconds on one core.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Union

import numpy as np
from PIL import Image
from tqdm import tqdm

__all__ = ["synthetic", "photos", "photos_v2", "shipped_photos", "shipped_photos_v2", "PACKAGES_V2", "Photo", "SHAPES", "TEXTURES", "class_names", "cache_dir"]

VERSION = "synthetic-v1"
SHAPES = ("disk", "square", "triangle", "ring", "cross")
TEXTURES = ("hstripes", "vstripes", "checks", "dots", "diagonal")
# Shape hue families (degrees): the colour cue goes with the shape.
_HUES = (0.0, 210.0, 120.0, 45.0, 285.0)
_SUBSAMPLING = (("420", 0.80), ("444", 0.08), ("422", 0.07), ("gray", 0.05))
_DEFAULTS = dict(classes=10, train_per_class=120, val_per_class=40, size=(128, 192), difficulty=0.5,
                 seed=0, quality=(75, 95))


def _pairs(n: int) -> list[tuple[int, int]]:
    """(shape, texture) of class i: i % 5 and (i % 5 + 2 * (i // 5)) % 5 -- all 25 pairs distinct."""
    return [(i % 5, (i % 5 + 2 * (i // 5)) % 5) for i in range(n)]


def class_names(classes: int = 10) -> list[str]:
    """Folder names, sorted order = label order: ``'00-disk-hstripes'``, ..."""
    return [f"{i:02d}-{SHAPES[s]}-{TEXTURES[t]}" for i, (s, t) in enumerate(_pairs(classes))]


def cache_dir() -> Path:
    """``$JPEGCOEF_CACHE`` or ``~/.cache/jpegcoef``."""
    return Path(os.environ.get("JPEGCOEF_CACHE") or Path.home() / ".cache" / "jpegcoef")


# ------------------------------------------------------------------------------------------------
# Drawing
# ------------------------------------------------------------------------------------------------
def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    h = (h % 360) / 60.0
    c = v * s
    x = c * (1 - abs(h % 2 - 1))
    i = int(h) % 6
    r, g, b = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][i]
    return (np.array([r, g, b]) + (v - c)).astype(np.float32)


def _texture(kind: int, x: np.ndarray, y: np.ndarray, period: float, phase: float) -> np.ndarray:
    """A pattern in [-1, 1] with the given period (pixels), on (rotated) coordinates."""
    w = 2 * np.pi / period
    if kind == 0:
        t = np.sin(w * y + phase)
    elif kind == 1:
        t = np.sin(w * x + phase)
    elif kind == 2:
        t = np.sin(w * x + phase) * np.sin(w * y + phase) * 2.0
    elif kind == 3:
        t = (np.cos(w * x + phase) * np.cos(w * y + phase) > 0.45) * 2.0 - 1.0
        return t
    else:
        t = np.sin(w * (x + y) / np.sqrt(2) + phase)
    return np.tanh(2.5 * t)


def _mask(shape: int, x: np.ndarray, y: np.ndarray, r: float) -> np.ndarray:
    """Soft (about 1 pixel) mask of a shape of radius r centred at the origin of (x, y)."""
    if shape == 0:
        d = np.hypot(x, y) - r
    elif shape == 1:
        d = np.maximum(np.abs(x), np.abs(y)) - 0.85 * r
    elif shape == 2:
        angles = np.deg2rad([90.0, 210.0, 330.0])
        d = np.max([x * np.cos(a) + y * np.sin(a) for a in angles], axis=0) - 0.5 * r
    elif shape == 3:
        rr = np.hypot(x, y)
        d = np.maximum(rr - r, 0.55 * r - rr)
    else:
        arm = r / 3
        d = np.minimum(np.maximum(np.abs(x) - arm, np.abs(y) - r), np.maximum(np.abs(y) - arm, np.abs(x) - r))
    return np.clip(0.5 - d, 0.0, 1.0)


def _draw(label: int, rng: np.random.Generator, size: tuple, difficulty: float,
          mask: bool = False) -> Union[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """One image of class ``label`` as float RGB in [0, 255], shape (H, W, 3); with ``mask``,
    ``(image, labels)``: the uint8 (H, W) label map (0 background, ``1 + label`` where the
    object's blending weight is >= 0.5). ``mask`` draws no random numbers: same image either way."""
    shape, texture = _pairs(label + 1)[label]
    w, h = (int(v) for v in rng.integers(size[0], size[1] + 1, 2))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = float(difficulty)

    # background: a smooth two-colour gradient plus blurred blobs, drawn at 1/4 size and enlarged
    bh, bw = h // 4 + 2, w // 4 + 2
    by_, bx_ = np.mgrid[0:bh, 0:bw].astype(np.float32)
    c0 = _hsv_to_rgb(rng.uniform(0, 360), rng.uniform(0.1, 0.5), rng.uniform(0.3, 0.9))
    c1 = _hsv_to_rgb(rng.uniform(0, 360), rng.uniform(0.1, 0.5), rng.uniform(0.3, 0.9))
    a = rng.uniform(0, 2 * np.pi)
    g = (np.cos(a) * bx_ / bw + np.sin(a) * by_ / bh)
    g = ((g - g.min()) / max(float(np.ptp(g)), 1e-6))[..., None]
    bg = c0 * (1 - g) + c1 * g
    for _ in range(int(rng.integers(2, 6 + int(6 * d)))):
        cx_, cy_ = rng.uniform(0, bw), rng.uniform(0, bh)
        s = rng.uniform(1.5, 6.0)
        blob = np.exp(-((bx_ - cx_) ** 2 + (by_ - cy_) ** 2) / (2 * s * s))[..., None]
        col = _hsv_to_rgb(rng.uniform(0, 360), rng.uniform(0.2, 0.8), rng.uniform(0.2, 1.0))
        bg = bg * (1 - 0.7 * blob) + col * 0.7 * blob
    img = np.stack([np.asarray(Image.fromarray(bg[..., k].astype(np.float32), "F").resize((w, h), Image.BILINEAR))
                    for k in range(3)], -1)

    def patch(kind_shape: int, kind_tex: int, hue: float, radius: float, cx: float, cy: float,
              contrast: float, alpha: float) -> None:
        # work only in the shape's bounding box
        x0, x1 = max(int(cx - 1.5 * radius) - 2, 0), min(int(cx + 1.5 * radius) + 3, w)
        y0, y1 = max(int(cy - 1.5 * radius) - 2, 0), min(int(cy + 1.5 * radius) + 3, h)
        x, y = xx[y0:y1, x0:x1] - np.float32(cx), yy[y0:y1, x0:x1] - np.float32(cy)
        rot = rng.uniform(0, 2 * np.pi) if kind_shape in (0, 3) else rng.uniform(-0.5, 0.5)
        cr, sr = np.float32(np.cos(rot)), np.float32(np.sin(rot))
        xr, yr = cr * x + sr * y, -sr * x + cr * y
        m = _mask(kind_shape, xr, yr, radius)[..., None] * np.float32(alpha)
        tj = np.deg2rad(rng.uniform(-12, 12))  # texture angle jitter (keeps h/v/diagonal distinct)
        ct, st = np.float32(np.cos(tj)), np.float32(np.sin(tj))
        xt, yt = ct * x + st * y, -st * x + ct * y
        if kind_tex == 4 and rng.random() < 0.5:
            xt = -xt  # either diagonal
        t = _texture(kind_tex, xt, yt, rng.uniform(3.5, 6.0), rng.uniform(0, 2 * np.pi))[..., None]
        base = _hsv_to_rgb(hue, rng.uniform(0.45, 0.95), rng.uniform(0.45, 0.9))
        fill = np.clip(base * (1 + np.float32(contrast) * t), 0, 1)
        region = img[y0:y1, x0:x1]
        img[y0:y1, x0:x1] = region * (1 - m) + fill * m
        return (y0, y1, x0, x1), m[..., 0]

    # distractor: a small disk with a random texture, anywhere (it may overlap the object)
    side = min(w, h)
    radius = side * rng.uniform(0.22 - 0.06 * d, 0.34 - 0.06 * d)
    cx = rng.uniform(radius, w - radius)
    cy = rng.uniform(radius, h - radius)
    if rng.random() < 0.25 + 0.6 * d:
        dr = side * rng.uniform(0.08, 0.14)
        dx, dy = rng.uniform(dr, w - dr), rng.uniform(dr, h - dr)
        patch(0, int(rng.integers(0, 5)), rng.uniform(0, 360), dr, dx, dy, 0.35, 0.85)
    hue = _HUES[shape] + rng.uniform(-25 - 20 * d, 25 + 20 * d)
    (y0, y1, x0, x1), m = patch(shape, texture, hue, radius, cx, cy,
                                rng.uniform(0.45 - 0.25 * d, 0.75 - 0.3 * d), 1.0)

    img = img * 255.0 + rng.normal(0, 3 + 9 * d, img.shape).astype(np.float32)
    img = np.clip(img, 0, 255)
    if not mask:
        return img
    labels = np.zeros((h, w), np.uint8)
    labels[y0:y1, x0:x1][m >= 0.5] = 1 + label
    return img, labels


def _encode(px: np.ndarray, rng: np.random.Generator, quality: tuple) -> tuple[bytes, str]:
    kinds, probs = zip(*_SUBSAMPLING)
    kind = str(rng.choice(kinds, p=probs))
    q = int(rng.integers(quality[0], quality[1] + 1))
    im = Image.fromarray(px.astype(np.uint8), "RGB")
    buf = io.BytesIO()
    if kind == "gray":
        im.convert("L").save(buf, format="JPEG", quality=q)
    else:
        im.save(buf, format="JPEG", quality=q, subsampling={"444": 0, "422": 1, "420": 2}[kind])
    return buf.getvalue(), kind


# ------------------------------------------------------------------------------------------------
# Public entry point
# ------------------------------------------------------------------------------------------------
def _params(**kw) -> dict:
    p = dict(_DEFAULTS)
    p.update({k: v for k, v in kw.items() if v is not None})
    p["size"] = [int(p["size"][0]), int(p["size"][1])]
    p["quality"] = [int(p["quality"][0]), int(p["quality"][1])]
    if not 2 <= int(p["classes"]) <= 25:
        raise ValueError(f"classes must be 2..25 (5 shapes x 5 textures), got {p['classes']}")
    if not 32 <= p["size"][0] <= p["size"][1]:
        raise ValueError(f"size must be (min, max) with 32 <= min <= max, got {p['size']}")
    if not 0.0 <= float(p["difficulty"]) <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1], got {p['difficulty']}")
    if int(p["train_per_class"]) < 1 or int(p["val_per_class"]) < 1:
        raise ValueError("train_per_class and val_per_class must be >= 1")
    return p


def _name(p: dict, masks: bool = False) -> str:
    """Cache directory name: ``synthetic-v1`` (defaults) or ``synthetic-v1-<hash of p>``, plus
    ``-masks`` for the copy with masks (``p`` holds only the drawing parameters)."""
    suffix = "-masks" if masks else ""
    if p == _params():
        return VERSION + suffix
    digest = hashlib.sha1(json.dumps(p, sort_keys=True).encode()).hexdigest()[:10]
    return f"{VERSION}-{digest}{suffix}"


@contextmanager
def _building(final: Path) -> Iterator[Path]:
    """A temporary folder beside ``final`` to write a generated dataset into: renamed to
    ``final`` when the block ends without an error, removed in every case otherwise (a
    concurrent writer's finished copy, with its ``manifest.json``, is kept instead)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "manifest.json").is_file():  # not a concurrent writer's finished copy
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def synthetic(root: Union[None, str, os.PathLike] = None, *, classes: Optional[int] = None,
              train_per_class: Optional[int] = None, val_per_class: Optional[int] = None,
              size: Optional[tuple] = None, difficulty: Optional[float] = None, seed: Optional[int] = None,
              quality: Optional[tuple] = None, masks: bool = False, progress: bool = True) -> Path:
    """Path of the synthetic ImageFolder (``train/``, ``val/``, ``manifest.json``), made if needed.

    Args:
        root: parent directory of the dataset (default :func:`cache_dir`); the dataset lives in
            ``root/synthetic-v1`` (defaults) or ``root/synthetic-v1-<hash of the parameters>``.
        classes: 2..25 (default 10).
        train_per_class, val_per_class: images per class (default 120 and 40).
        size: ``(min, max)`` image side in pixels (default (128, 192)).
        difficulty: 0..1 (default 0.5): more noise, clutter, distractors, weaker texture contrast,
            smaller objects, more hue jitter as it grows.
        seed: changes every image (default 0); quality: JPEG quality range (default (75, 95)).
        masks: also write each image's label map ``NNNNN.npy`` beside it (module docs), in a
            directory of its own (``<name>-masks``); the JPEGs are the same bytes.
    """
    p = _params(classes=classes, train_per_class=train_per_class, val_per_class=val_per_class,
                size=size, difficulty=difficulty, seed=seed, quality=quality)
    base = Path(root) if root is not None else cache_dir()
    final = base / _name(p, bool(masks))
    if (final / "manifest.json").is_file():
        return final
    with _building(final) as tmp:
        names = class_names(p["classes"])
        kinds: dict[str, int] = {}
        jobs = [(split, label, i) for split, n in (("train", p["train_per_class"]), ("val", p["val_per_class"]))
                for label in range(p["classes"]) for i in range(n)]
        for split, label, i in tqdm(jobs, desc=f"synthetic {final.name}", unit="img", disable=not progress):
            rng = np.random.default_rng([p["seed"], 0 if split == "train" else 1, label, i])
            drawn = _draw(label, rng, p["size"], p["difficulty"], mask=bool(masks))
            px, labels = drawn if masks else (drawn, None)
            data, kind = _encode(px, rng, p["quality"])
            kinds[kind] = kinds.get(kind, 0) + 1
            d = tmp / split / names[label]
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{i:05d}.jpg").write_bytes(data)
            if labels is not None:
                np.save(d / f"{i:05d}.npy", labels)
        manifest = {"version": VERSION, "params": p, "classes": names, "kinds": kinds,
                    "shapes": SHAPES, "textures": TEXTURES,
                    "images": {"train": p["train_per_class"] * p["classes"], "val": p["val_per_class"] * p["classes"]}}
        if masks:
            manifest["masks"] = {"file": "NNNNN.npy beside NNNNN.jpg", "dtype": "uint8",
                                 "labels": {"0": "background (distractor included)",
                                            **{str(1 + k): n for k, n in enumerate(names)}}}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return final


# The real-photograph benchmark lives in its own module; it is part of this one's public surface.
from ._photos import PACKAGES_V2, Photo, photos, photos_v2, shipped_photos, shipped_photos_v2  # noqa: E402
