"""Datasets and loaders: JPEG files -> model inputs, in the DCT domain or (baseline) in pixels.

``JpegFolder`` reads the ImageFolder layout (``root/<class>/**.jpg``, classes sorted by name) or
a plain list of files (Python list of paths or ``(path, label)`` pairs, or a text file with one
``path [label]`` per line, paths relative to the list file). Per sample:

* DCT formats (``gueguen``, ``dctnet``), default augmentation: read the coefficients (entropy
  decode only), bring the file to 4:2:0 (:func:`jpegcoef.formats.to_420`; its kind is counted),
  then, training: a random crop on the 16-pixel MCU grid and a random horizontal flip, both
  lossless in the DCT domain; evaluation: the centre crop. ``crop`` must be a multiple of 16;
  crop positions are multiples of 16 pixels inside the image's whole MCUs, and there is no
  scale augmentation (that needs pixels: ``augment="rgb-reencode"``). The window is drawn
  from the size in the frame header (:func:`file_frame`, a few bytes) before the coefficients
  are read, and only the rows down to its bottom are read (``jpegcoef.read(max_height=...)``:
  sequential files stop entropy decoding there); same draws, same result as reading the whole
  file. Files whose MCU divides 16 (4:4:4, 4:2:2, 4:4:0, gray, RGB) are cropped first and only
  the crop is converted (gray, 4:4:4, 4:2:2, 4:4:0 inside the fused gather); the hot path is
  one gather per component (:meth:`Format.host_window`). An image smaller than the crop is
  padded with zero blocks (zero coefficients = flat mid-grey, 128) around it, centred: it is
  not rescaled (rescaling is not a lossless DCT operation; use ``jpegcoef prepare`` to resize a
  dataset once).
* ``augment="rgb-reencode"`` (Gueguen et al.'s way): decode with Pillow, RandomResizedCrop +
  flip (training) or resize + centre crop (evaluation) in pixels, re-encode as a 4:2:0 JPEG in
  memory (quality ``reencode_quality``), read its coefficients.
* ``rgb`` (the baseline): Pillow decode, RandomResizedCrop(crop, scale 0.08-1, ratio 3/4-4/3)
  and flip (training), or resize the short side to ``crop/0.875`` and centre crop (evaluation);
  the device step normalises with the ImageNet mean/std.

Randomness comes from a per-sample seed drawn by the loader's sampler from ``(seed, epoch,
index)``, so results do not depend on the number of workers.

Bad files: ``on_error="raise"`` raises :class:`SampleError` naming the file; ``"skip"`` drops the
sample from its batch. Either way every batch carries per-sample metadata (path, kind, error)
that :class:`JpegLoader` strips off in the main process and records on the dataset:
``dataset.skipped`` (path -> error), ``dataset.kinds`` (Counter of file layouts, e.g.
``{'420': 900, '444': 60, 'gray': 5}``), ``dataset.report()``.
"""

from __future__ import annotations

import io
import math
import os
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Union

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from . import reader, transforms
from .coefficients import Coefficients, Component
from .formats import _TORCH_DTYPES, Format, _stack_parts, get as get_format, sampling_kind, to_420, window_fusable
from .stats import JPEG_SUFFIXES

__all__ = ["JpegFolder", "JpegLoader", "SeededSampler", "SampleError", "make_loader", "collate", "BatchRing",
           "random_resized_crop_box", "load_rgb", "crop_plan", "dct_crop", "dct_sample", "jpeg_frame",
           "file_frame"]

MCU = 16  # the 4:2:0 MCU, in pixels


class SampleError(RuntimeError):
    """A sample could not be loaded; ``path`` names the file (the message always does).

    Raised from DataLoader workers it is rebuilt from its message alone (``path`` is then None).
    """

    def __init__(self, path: str, error: Optional[BaseException] = None):
        self.path = path if error is not None else None
        super().__init__(f"{path}: {type(error).__name__}: {error}" if error is not None else path)


# ------------------------------------------------------------------------------------------------
# File lists
# ------------------------------------------------------------------------------------------------
def _is_jpeg(p: Path) -> bool:
    return p.suffix.lower() in JPEG_SUFFIXES and p.is_file()


def _scan(root_or_files: Any) -> tuple[list[str], list[int], list[str]]:
    """``(paths, labels, classes)`` from a directory, a list file or a Python list."""
    if isinstance(root_or_files, (str, os.PathLike)):
        root = Path(root_or_files)
        if root.is_file():  # a text list: "path [label]" per line
            paths, labels = [], []
            for line in root.read_text().splitlines():
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                parts = line.rsplit(None, 1)
                if len(parts) == 2 and parts[1].lstrip("-").isdigit():
                    p, lab = parts[0], int(parts[1])
                else:
                    p, lab = line.strip(), -1
                paths.append(str(root.parent / p))
                labels.append(lab)
            return paths, labels, []
        if not root.is_dir():
            raise FileNotFoundError(f"{root} is neither a directory nor a file list")
        classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if classes:
            paths, labels = [], []
            for i, name in enumerate(classes):
                for p in sorted((root / name).rglob("*")):
                    if _is_jpeg(p):
                        paths.append(str(p))
                        labels.append(i)
            return paths, labels, classes
        files = sorted(str(p) for p in root.iterdir() if _is_jpeg(p))
        return files, [-1] * len(files), []
    paths, labels = [], []
    for item in root_or_files:
        if isinstance(item, (tuple, list)):
            paths.append(str(item[0]))
            labels.append(int(item[1]))
        else:
            paths.append(str(item))
            labels.append(-1)
    return paths, labels, []


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


# ------------------------------------------------------------------------------------------------
# Frame header (size and sampling before the coefficients are read)
# ------------------------------------------------------------------------------------------------
# SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC)
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# markers without a length field: TEM, RST0-7, SOI
_STANDALONE = frozenset([0x01, 0xD8, *range(0xD0, 0xD8)])


def jpeg_frame(data: Union[bytes, bytearray, memoryview]) -> Optional[tuple[int, int, tuple]]:
    """``(height, width, sampling)`` from a JPEG's first frame header (SOF marker), or None.

    ``sampling`` holds each component's ``(h, v)`` factors. Only the marker segments before the
    SOF are walked (a few steps; nothing is decoded), the way libjpeg walks them: bytes before
    a marker and fill bytes are skipped. None when the data does not start with SOI, reaches
    SOS/EOI or its end before a SOF, or the SOF is malformed -- the caller then reads the
    whole file and lets libjpeg judge it.
    """
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    i = 2
    while i + 4 <= n:
        if data[i] != 0xFF:  # extraneous bytes before a marker (libjpeg skips them, warning)
            i += 1
            continue
        m = data[i + 1]
        if m == 0xFF:  # fill byte
            i += 1
            continue
        if m in _STANDALONE or m == 0x00:
            i += 2
            continue
        if m == 0xDA or m == 0xD9:  # SOS or EOI before any SOF
            return None
        length = (data[i + 2] << 8) | data[i + 3]
        if m in _SOF_MARKERS:
            if length < 8 or i + 2 + length > n:
                return None
            height = (data[i + 5] << 8) | data[i + 6]
            width = (data[i + 7] << 8) | data[i + 8]
            ncomp = data[i + 9]
            if length != 8 + 3 * ncomp or ncomp == 0 or height == 0 or width == 0:
                return None
            samp = tuple((data[i + 11 + 3 * k] >> 4, data[i + 11 + 3 * k] & 15) for k in range(ncomp))
            return height, width, samp
        if length < 2:
            return None
        i += 2 + length
    return None


@lru_cache(maxsize=256)
def _crops_first(sampling: tuple) -> bool:
    """Whether a file with these sampling factors takes the crop-first path (1 or 3 components
    whose MCU divides the 16-pixel grid), i.e. whether reading only its top rows is enough."""
    if len(sampling) == 1:
        return True
    if len(sampling) != 3 or any(not (1 <= h <= 4 and 1 <= v <= 4) for h, v in sampling):
        return False
    return MCU % (8 * max(h for h, _ in sampling)) == 0 and MCU % (8 * max(v for _, v in sampling)) == 0


_HEAD = 16384  # bytes read for the frame header (the markers before SOF: EXIF, ICC, tables)


def file_frame(path: str) -> Optional[tuple[int, int, tuple]]:
    """:func:`jpeg_frame` of a file, from its first bytes (the whole file when the markers
    before the frame header are longer than that); None as there."""
    with open(path, "rb", buffering=0) as f:
        head = f.read(_HEAD)
        frame = jpeg_frame(head)
        if frame is None and len(head) == _HEAD:  # long APPn segments: look further
            frame = jpeg_frame(head + f.readall())
    return frame


# ------------------------------------------------------------------------------------------------
# DCT-domain crop/pad/flip
# ------------------------------------------------------------------------------------------------
def _pad(c: Coefficients, n: int, before_y: int, before_x: int) -> Coefficients:
    """Place a 4:2:0 image of at most ``n x n`` MCUs into an ``n x n``-MCU canvas of zero blocks."""
    comps = []
    for comp, f in zip(c.components, (2, 1, 1)):
        a = comp.coefficients
        out = np.zeros((n * f, n * f, 8, 8), np.int16)
        y0, x0 = before_y * f, before_x * f
        out[y0:y0 + a.shape[0], x0:x0 + a.shape[1]] = a
        comps.append(Component(out, comp.quant, comp.sampling, (n * f, n * f)))
    return c.replace(components=comps, width=n * MCU, height=n * MCU, warnings=list(c.warnings))


def crop_plan(height: int, width: int, crop: int, train: bool,
              rng: Optional[np.random.Generator]) -> tuple[int, int, int, int, int, int]:
    """``(top, left, rows, cols, pad_y, pad_x)`` in 16-pixel MCUs: a random (train) or centre
    (eval) window of ``crop/16`` MCUs inside the image's whole MCUs; along an axis where the
    image is smaller, all its MCUs (the partial last one too), centred in the canvas."""
    n = crop // MCU
    plan = []
    for size in (height, width):
        full = size // MCU
        if full >= n:
            start = int(rng.integers(0, full - n + 1)) if train else (full - n) // 2
            plan.append((start, n, 0))
        else:
            have = -(-size // MCU)
            plan.append((0, have, (n - have) // 2))
    (top, rows, pad_y), (left, cols, pad_x) = plan
    return top, left, rows, cols, pad_y, pad_x


def dct_crop(c: Coefficients, crop: int, train: bool, rng: Optional[np.random.Generator]) -> Coefficients:
    """The training/eval crop as :class:`Coefficients` (reference path, built from
    :mod:`jpegcoef.transforms`): window of :func:`crop_plan`, then 4:2:0, zero-block padding
    of small images (centred) and, training, a random horizontal flip."""
    top, left, rows, cols, pad_y, pad_x = crop_plan(c.height, c.width, crop, train, rng)
    n = crop // MCU
    out = transforms.crop(c, top * MCU, left * MCU, min(rows * MCU, c.height - top * MCU),
                          min(cols * MCU, c.width - left * MCU))
    out, _ = to_420(out)
    if out.height < crop or out.width < crop:
        out = _pad(out, n, pad_y, pad_x)
    if train and rng.random() < 0.5:
        out = transforms.hflip(out, edge="error")
    return out


def dct_sample(c: Coefficients, fmt: Format, crop: int, train: bool,
               rng: Optional[np.random.Generator], plan: Optional[tuple] = None,
               kind: Optional[str] = None) -> dict:
    """``fmt.host(dct_crop(c, ...))`` computed the fast way (same random draws, same result):
    files that are not 4:2:0 are cropped on their own grid and only the crop is converted; then
    one fused gather (:meth:`Format.host_window`).

    ``plan``: the :func:`crop_plan` already drawn from the full image's size (then ``c`` may be
    that image cut below the window, as ``read(..., max_height=...)`` returns it); ``kind``:
    :func:`~jpegcoef.formats.sampling_kind` of ``c`` when already known."""
    if plan is None:
        plan = crop_plan(c.height, c.width, crop, train, rng)
    top, left, rows, cols, pad_y, pad_x = plan
    if kind is None:
        kind = sampling_kind(c)
    if kind != "420" and not (window_fusable(c) and (top + rows) * MCU <= c.height
                              and (left + cols) * MCU <= c.width):
        c = transforms.crop(c, top * MCU, left * MCU, min(rows * MCU, c.height - top * MCU),
                            min(cols * MCU, c.width - left * MCU), copy=False)
        c, _ = to_420(c)
        top = left = 0
        kind = "420"
    flip = bool(train and rng.random() < 0.5)
    return fmt.host_window(c, top, left, rows, cols, crop // MCU, (pad_y, pad_x), flip, kind=kind)


def _mcu_divides_16(c: Coefficients) -> bool:
    mh, mw = transforms.mcu_size(c)
    return MCU % mh == 0 and MCU % mw == 0


# ------------------------------------------------------------------------------------------------
# Dataset
# ------------------------------------------------------------------------------------------------
class JpegFolder(Dataset):
    """JPEG files as model-input samples for a :class:`~jpegcoef.formats.Format`.

    Args:
        root: a directory (ImageFolder layout, or flat), a list file, or a list of paths /
            ``(path, label)`` pairs. Unlabelled files get label -1.
        format: a :class:`Format` or a name for :func:`jpegcoef.formats.get`.
        train: random crop + flip (True) or centre crop (False).
        crop: output size in pixels (a multiple of 16 for DCT formats).
        on_error: ``'raise'`` or ``'skip'`` (see the module docstring).
        augment: ``None`` (DCT-domain crop/flip) or ``'rgb-reencode'`` (DCT formats only).
        reencode_quality: JPEG quality of the in-memory re-encode.
        **format_options: passed to :func:`jpegcoef.formats.get` when ``format`` is a name.

    Items: ``dataset[i]`` or ``dataset[(i, seed)]`` -> ``(host_dict or None, label, meta)``.
    """

    def __init__(self, root: Any, format: Union[str, Format] = "dctnet", *, train: bool = True,
                 crop: int = 224, on_error: str = "raise", augment: Optional[str] = None,
                 reencode_quality: int = 95, **format_options):
        self.format = format if isinstance(format, Format) else get_format(format, **format_options)
        if isinstance(format, Format) and format_options:
            raise TypeError("format options given with a Format instance")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if augment not in (None, "rgb-reencode"):
            raise ValueError(f"augment must be None or 'rgb-reencode', got {augment!r}")
        if augment and self.format.kind == "rgb":
            raise ValueError("augment='rgb-reencode' is for the DCT formats")
        if not isinstance(crop, int) or crop <= 0:
            raise ValueError(f"crop must be a positive int, got {crop!r}")
        if self.format.kind != "rgb" and crop % MCU:
            raise ValueError(f"DCT formats crop on the 16-pixel MCU grid: crop={crop} is not a multiple of 16")
        self.paths, self.labels, self.classes = _scan(root)
        if not self.paths:
            raise ValueError(f"no JPEG files found in {root!r}")
        self.root = root
        self.train, self.crop, self.on_error = train, crop, on_error
        self.augment, self.reencode_quality = augment, reencode_quality
        self.skipped: dict[str, str] = {}
        self.file_kinds: dict[str, str] = {}
        self.warned: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def kinds(self) -> Counter:
        """Files seen so far per layout (``'420'`` needs no conversion)."""
        return Counter(self.file_kinds.values())

    def report(self) -> dict:
        """Counts for logs: files, per-layout kinds seen, converted, skipped (by name), warned."""
        kinds = self.kinds
        return {"files": len(self.paths), "seen": len(self.file_kinds), "kinds": dict(sorted(kinds.items())),
                "converted": sum(v for k, v in kinds.items() if k != "420"),
                "skipped": dict(self.skipped), "warned": dict(self.warned)}

    def record(self, metas: Sequence[dict]) -> None:
        """Record per-sample metadata (called by :class:`JpegLoader` in the main process)."""
        for m in metas:
            if m.get("error") is not None:
                self.skipped[m["path"]] = m["error"]
            if m.get("kind") is not None:
                self.file_kinds[m["path"]] = m["kind"]
            if m.get("warnings"):
                self.warned[m["path"]] = m["warnings"]

    # -- loading ---------------------------------------------------------------------------------
    def _coefficients(self, path: str, rng: Optional[np.random.Generator], meta: dict) -> Coefficients:
        read = reader.read
        if self.augment == "rgb-reencode":
            img = load_rgb(path, self.crop, self.train, rng)
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=self.reencode_quality, subsampling=2)
            c = read(buf.getvalue())
            meta["kind"] = "reencoded"
            return c
        c = read(path)
        meta["warnings"] = len(c.warnings)
        meta["kind"] = kind = sampling_kind(c)
        if kind != "420" and (kind in ("cmyk", "ycck") or not _mcu_divides_16(c)):
            c, _ = to_420(c, src=path)  # re-encode / coarse MCU grid: convert the whole file
        return c

    def _dct_host(self, path: str, seed: Optional[int], meta: dict) -> dict:
        """The default DCT path: the window is drawn from the frame header's size first, so
        only the rows down to its bottom are read (``max_height``); same draws, same result
        as reading the whole file (:meth:`_coefficients` + :func:`dct_sample`)."""
        rng = np.random.default_rng(seed) if self.train else None
        frame = file_frame(path)
        if frame is not None:
            height, width, sampling = frame
            plan = crop_plan(height, width, self.crop, self.train, rng)
            bottom = (plan[0] + plan[2]) * MCU
            cut = bottom < height and _crops_first(sampling)
            c = reader.read(path, max_height=bottom if cut else None)
            if c.width == width and c.height == (bottom if cut else height):
                meta["warnings"] = len(c.warnings)
                meta["kind"] = kind = sampling_kind(c)
                if kind != "420" and (kind in ("cmyk", "ycck") or not _mcu_divides_16(c)):
                    if cut:  # not expected (_crops_first): the conversion needs the whole file
                        c = reader.read(path)
                        meta["warnings"] = len(c.warnings)
                    c, _ = to_420(c, src=path)
                    kind = "420"
                return dct_sample(c, self.format, self.crop, self.train, rng, plan, kind)
            rng = np.random.default_rng(seed) if self.train else None  # header and libjpeg disagree
        c = self._coefficients(path, rng, meta)
        return dct_sample(c, self.format, self.crop, self.train, rng)

    def load(self, index: int, seed: Optional[int] = None) -> tuple:
        """``(host_dict or None, label, meta)`` for one file; ``seed`` drives the augmentation."""
        path, label = self.paths[index], self.labels[index]
        meta: dict = {"path": path, "kind": None, "error": None, "warnings": 0}
        try:
            if self.format.kind != "rgb" and self.augment is None:
                host = self._dct_host(path, seed, meta)
            else:
                rng = np.random.default_rng(seed) if self.train else None
                if self.format.kind == "rgb":
                    img = load_rgb(path, self.crop, self.train, rng)
                    meta["kind"] = "rgb-pixels"
                    host = self.format.host(np.asarray(img))
                else:  # rgb-reencode: already crop x crop pixels
                    host = self.format.host(self._coefficients(path, rng, meta))
        except Exception as e:  # noqa: BLE001 - bad files are reported by name
            if self.on_error == "raise":
                raise SampleError(path, e) from e
            meta["error"] = f"{type(e).__name__}: {e}"
            meta["kind"] = None
            return None, label, meta
        return host, label, meta

    def __getitem__(self, item: Union[int, tuple]) -> tuple:
        if isinstance(item, tuple):
            return self.load(*item)
        seed = int(torch.randint(0, 2**62, (1,)).item()) if self.train else None
        return self.load(int(item), seed)

    def collate(self, samples: Sequence[tuple]) -> tuple:
        """``(inputs_dict, labels)``; ``inputs['_meta']`` lists every sample's metadata."""
        return collate(samples, self.format)


def collate(samples: Sequence[tuple], format: Format, ring: Optional["BatchRing"] = None) -> tuple:
    """Stack the good samples with ``format.collate``; failed ones (host None) only add metadata.

    In a DataLoader worker the inputs and labels are views of one shared-memory block, so one
    storage (one file descriptor) crosses to the main process per batch, not one per tensor.
    With a ``ring`` (:func:`make_loader` with workers) a worker writes the batch into its next
    :class:`BatchRing` slot instead and returns ``({"\\0ring": message, "_meta": ...}, None)``,
    which :class:`JpegLoader` turns back into the same tensors."""
    good = [s for s in samples if s[0] is not None]
    metas = [s[2] for s in samples]
    labels = np.array([s[1] for s in good], dtype=np.int64)
    if not good:
        return {"_meta": metas}, torch.from_numpy(labels)
    if ring is not None and get_worker_info() is not None:
        msg = ring.write(_stack_parts([s[0] for s in good], {"\0labels": labels}))
        if msg is not None:
            return {"\0ring": msg, "_meta": metas}, None
    inputs: dict = format.collate([s[0] for s in good], extra={"\0labels": labels})
    labels_t = inputs.pop("\0labels")
    inputs["_meta"] = metas
    return inputs, labels_t


_RING_HEADER = 64  # bytes before a slot's batch: its int64 sequence number (-1 while written)


class BatchRing:
    """Reusable shared-memory blocks for the batches of DataLoader workers.

    ``slots`` blocks per worker of ``nbytes`` each are created in the main process (workers
    inherit them); a worker writes its batches into its slots in turn and sends only a small
    message, and :class:`JpegLoader` copies the batch out as it receives it. A fresh
    shared-memory block per batch costs ~0.4 ms of allocation and page faults in the worker,
    plus mapping, faults and a file-descriptor hand-over (a socket connection) in the main
    process; a copy from a block already mapped costs ~30 us. A worker has at most
    ``prefetch_factor`` batches in flight besides the one being copied, so ``prefetch_factor + 1``
    slots are not overwritten before they are copied; each slot carries a sequence number,
    checked before and after the copy, so any overwrite is an error, never a corrupt batch.
    A batch larger than ``nbytes`` takes the ordinary path (:func:`collate`).
    """

    def __init__(self, workers: int, slots: int, nbytes: int):
        self.workers, self.slots, self.nbytes = workers, slots, int(nbytes)
        elem = torch.empty(0, dtype=torch.uint8)
        self.blocks = [elem.new(elem._typed_storage()._new_shared(_RING_HEADER + self.nbytes))
                       for _ in range(workers * slots)]
        self._next = 0  # per process: this worker's next slot
        self._seq = 0

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_views"}

    def _view(self, slot: int) -> np.ndarray:
        views = self.__dict__.setdefault("_views", {})
        if slot not in views:
            views[slot] = self.blocks[slot].numpy()
        return views[slot]

    def write(self, parts: Sequence[tuple]) -> Optional[dict]:
        """In a worker: write a batch (``formats._stack_parts``) into this worker's next slot;
        returns the message for :meth:`read`, or None when the batch does not fit."""
        info = get_worker_info()
        layout, total = [], 0
        for k, _, shape, dtype, _ in parts:
            nbytes = int(np.prod(shape)) * dtype.itemsize
            layout.append((k, total, nbytes, shape, dtype.str))
            total += -(-nbytes // 64) * 64
        if info is None or info.id >= self.workers or total > self.nbytes:
            return None
        slot = info.id * self.slots + self._next
        self._next = (self._next + 1) % self.slots
        mem = self._view(slot)
        seq = mem[:8].view(np.int64)
        seq[0] = -1
        body = mem[_RING_HEADER:]
        for (_, arrs, shape, dtype, a), (_, off, nbytes, _, _) in zip(parts, layout):
            view = body[off:off + nbytes].view(dtype).reshape(shape)
            if arrs is not None:
                np.stack(arrs, out=view)
            else:
                view[...] = a
        self._seq += 1
        seq[0] = self._seq
        return {"slot": slot, "seq": self._seq, "nbytes": total, "layout": layout}

    def read(self, msg: dict, pin_memory: bool = False) -> dict[str, torch.Tensor]:
        """In the main process: a copy of a written batch as tensors (views of one block)."""
        mem = self._view(msg["slot"])
        seq = mem[:8].view(np.int64)
        if seq[0] != msg["seq"]:
            raise RuntimeError(f"batch ring slot {msg['slot']} was overwritten before it was read "
                               f"(sequence {int(seq[0])}, expected {msg['seq']}): more batches in flight "
                               f"than slots; use more slots or ring=False")
        out = torch.empty(msg["nbytes"], dtype=torch.uint8, pin_memory=pin_memory)
        np.copyto(out.numpy(), mem[_RING_HEADER:_RING_HEADER + msg["nbytes"]])
        if seq[0] != msg["seq"]:
            raise RuntimeError(f"batch ring slot {msg['slot']} was overwritten while it was read")
        return {k: out[off:off + nbytes].view(_TORCH_DTYPES[np.dtype(dt).type]).view(shape)
                for k, off, nbytes, shape, dt in msg["layout"]}


class _Collate:
    """``collate_fn`` of :func:`make_loader`: :func:`collate` with the format (and ring)."""

    def __init__(self, format: Format, ring: Optional[BatchRing] = None):
        self.format, self.ring = format, ring

    def __call__(self, samples: Sequence[tuple]) -> tuple:
        return collate(samples, self.format, self.ring)


def _batch_bytes(fmt: Format, crop: int, batch_size: int) -> int:
    """Bytes of one collated batch of ``fmt`` at ``crop`` (as :class:`BatchRing` lays it out)."""
    def aligned(n: int) -> int:
        return -(-n // 64) * 64

    if fmt.kind == "rgb":
        per = [3 * crop * crop]
    else:
        nc = 64 if (fmt.kind == "dctnet" and fmt.upsample == "dct") else len(fmt.c_index)
        per = [2 * len(fmt.y_index) * (crop // 8) ** 2, 2 * nc * (crop // 16) ** 2, 2 * nc * (crop // 16) ** 2,
               2 * 3 * 64]
    return sum(aligned(batch_size * b) for b in per) + aligned(8 * batch_size)


# ------------------------------------------------------------------------------------------------
# Sampler and loader
# ------------------------------------------------------------------------------------------------
class SeededSampler(Sampler):
    """Yields ``(index, sample_seed)``; shuffles when training; shards when distributed.

    The epoch advances on every ``__iter__`` (or set it with :meth:`set_epoch`); seeds derive
    from ``(seed, epoch, index)`` only, so they do not depend on workers or batch size.
    """

    def __init__(self, n: int, *, shuffle: bool, seed: int = 0, distributed: bool = False,
                 num_replicas: Optional[int] = None, rank: Optional[int] = None, drop_last: bool = False):
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.epoch = 0
        self._explicit_epoch = False
        if distributed:
            import torch.distributed as dist

            if num_replicas is None or rank is None:
                if not dist.is_available() or not dist.is_initialized():
                    raise RuntimeError("distributed=True needs torch.distributed initialised "
                                       "(or num_replicas and rank)")
                num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
                rank = dist.get_rank() if rank is None else rank
        self.num_replicas, self.rank = (num_replicas or 1), (rank or 0)
        if drop_last:
            self.per_replica = n // self.num_replicas
        else:
            self.per_replica = -(-n // self.num_replicas)
        self.drop_last = drop_last

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._explicit_epoch = True

    def __len__(self) -> int:
        return self.per_replica

    def __iter__(self) -> Iterator[tuple]:
        epoch = self.epoch
        if not self._explicit_epoch:
            self.epoch += 1
        self._explicit_epoch = False
        order = (np.random.default_rng([self.seed, epoch]).permutation(self.n) if self.shuffle
                 else np.arange(self.n))
        total = self.per_replica * self.num_replicas
        if total > self.n:  # pad by wrapping, like DistributedSampler
            order = np.concatenate([order, order[: total - self.n]])
        order = order[:total][self.rank::self.num_replicas]
        seeds = np.random.default_rng([self.seed, epoch, 1]).integers(0, 2**62, self.n)
        for i in order:
            yield int(i), int(seeds[i])


class JpegLoader(DataLoader):
    """A DataLoader whose batches are ``(inputs, labels)``; it strips the per-sample metadata and
    records it on ``dataset`` (skipped files, layouts) in the main process, whatever the workers."""

    def __iter__(self):
        ring = getattr(self.collate_fn, "ring", None)
        for inputs, labels in super().__iter__():
            msg = inputs.pop("\0ring", None)
            if msg is not None:  # written into a BatchRing slot by a worker: copy it out now
                # DataLoader keeps pin_memory=True without an accelerator (it only warns)
                batch = ring.read(msg, self.pin_memory and torch.cuda.is_available())
                labels = batch.pop("\0labels")
                inputs.update(batch)
            self.dataset.record(inputs.pop("_meta"))
            if len(labels) == 0:
                continue  # every sample of this batch was skipped
            yield inputs, labels

    @property
    def format(self) -> Format:
        return self.dataset.format

    def to_device(self, inputs: dict, device: Union[str, torch.device] = "cpu"):
        """Move a batch's tensors to ``device`` and run the format's device step (model input)."""
        moved = {k: v.to(device, non_blocking=True) for k, v in inputs.items()}
        return self.dataset.format.device(moved)


def _seed_worker(worker_id: int) -> None:  # augmentations use per-sample seeds; keep others tidy
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)


def make_loader(root_or_files: Any, format: Union[str, Format], *, train: bool, crop: int,
                batch_size: int, workers: int = 0, seed: int = 0, on_error: str = "raise",
                distributed: bool = False, pin_memory: Optional[bool] = None,
                augment: Optional[str] = None, drop_last: Optional[bool] = None,
                prefetch_factor: Optional[int] = None, ring: bool = True, **format_options) -> JpegLoader:
    """A :class:`JpegLoader` over a :class:`JpegFolder` (see ARCHITECTURE.md, "Data").

    Shuffles and drops the last partial batch when training; ``pin_memory`` defaults to
    ``torch.cuda.is_available()``; workers are persistent; ``distributed=True`` shards with the
    initialised process group. Get model inputs with ``loader.to_device(inputs, device)``.
    With workers, batches travel through a :class:`BatchRing` (``ring=False``: one fresh
    shared-memory block per batch, as DataLoader does).
    """
    ds = JpegFolder(root_or_files, format, train=train, crop=crop, on_error=on_error, augment=augment,
                    **format_options)
    if drop_last is None:
        drop_last = train
    sampler = SeededSampler(len(ds), shuffle=train, seed=seed, distributed=distributed)
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    kwargs: dict = {}
    batch_ring = None
    if workers > 0:
        kwargs.update(persistent_workers=True, worker_init_fn=_seed_worker)
        if prefetch_factor is not None:
            kwargs["prefetch_factor"] = prefetch_factor
        if ring:  # a worker has at most prefetch_factor batches in flight + the one being copied
            slots = (2 if prefetch_factor is None else prefetch_factor) + 1
            batch_ring = BatchRing(workers, slots, _batch_bytes(ds.format, crop, batch_size))
    return JpegLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      collate_fn=_Collate(ds.format, batch_ring), pin_memory=pin_memory, drop_last=drop_last,
                      generator=torch.Generator().manual_seed(seed), **kwargs)
