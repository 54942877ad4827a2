"""What one sample goes through, host side then device side, one class per augmentation.

* :class:`BlockCrop` (``augment="crop"``): a random (train) or centre (eval) crop on the 16-pixel
  MCU grid and a random flip, lossless in the DCT domain, cut on the host in one fused gather
  (:meth:`~jpegcoef.formats.DCTFormat.host_window`); no scale augmentation.
* :class:`ResizedCrop` (``augment="rrc"``, the default for the DCT formats): training draws a
  RandomResizedCrop box (:func:`jpegcoef.augment.sample_rrc_box`, the same boxes the RGB
  baseline draws for the same seed) and a flip; evaluation resizes the short side to
  ``crop / 0.875`` and centre-crops (256 -> 224). The host decodes the entropy-coded data down
  to the box's bottom only and ships the int16 coefficients of the blocks covering the box;
  the device dequantises, resizes, flips (and jitters) as exact linear maps
  (:mod:`jpegcoef.ops`), then the format selects channels and normalises.
* :class:`Reencode` (``augment="rgb-reencode"``, Gueguen et al.'s way): pixels, RRC, re-encode.
* :class:`Pixels` (the ``rgb`` format): Pillow decode, RRC + flip or resize + centre crop.

Each has ``host(source, seed, meta) -> dict of arrays`` (``source``: a file path or the
file's bytes, e.g. a tar shard's member), ``device(batch) -> model input`` and
``batch_bytes(batch_size)`` (the batch ring's slot size).
"""
from __future__ import annotations

import io
import os
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from . import augment, ops, reader
from .coefficients import Coefficients
from .convert import sampling_kind, to_420
from .formats import DCTFormat, Format, RGB
from .header import file_frame, jpeg_frame
from .pixels import load_rgb, load_rgb_crop
from .planning import MCU, _crops_first, _mcu_divides_16, box_direct, crop_plan, cut_box, dct_sample, mcu_shape

__all__ = ["Pipeline", "BlockCrop", "ResizedCrop", "Reencode", "Pixels", "PixelCrop", "make",
           "AUGMENTS"]

AUGMENTS = ("rrc", "crop", "rgb-reencode")


#: A sample's JPEG: a path, or its bytes (what :meth:`jpegcoef.shards.ShardIndex.read` gives).
Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]
_BYTES = (bytes, bytearray, memoryview)


def _frame(source: Source) -> Optional[tuple]:
    """The frame header of a file path or of bytes (:func:`jpeg_frame`)."""
    return jpeg_frame(source) if isinstance(source, _BYTES) else file_frame(source)


def _pillow(source: Source) -> Any:
    """What ``PIL.Image.open`` takes for a path or bytes."""
    return io.BytesIO(source) if isinstance(source, _BYTES) else source


def _rng(seed: Optional[int], train: bool) -> Optional[np.random.Generator]:
    return np.random.default_rng(seed) if train else None


class Pipeline:
    """Base: a format, an output ``crop`` (pixels) and train/eval."""

    name = ""

    def __init__(self, format: Format, crop: int, train: bool) -> None:
        self.format, self.crop, self.train = format, crop, train

    def host(self, source: Source, seed: Optional[int], meta: dict) -> dict:  # pragma: no cover
        raise NotImplementedError

    def device(self, batch: Mapping[str, torch.Tensor]):
        return self.format.device(batch)

    def batch_bytes(self, batch_size: int) -> int:
        return self.format.batch_bytes(self.crop, batch_size)


class Pixels(Pipeline):
    """The RGB baseline: Pillow decode + RandomResizedCrop + flip, or resize + centre crop."""

    name = "rrc"

    def host(self, source: Source, seed: Optional[int], meta: dict) -> dict:
        img = load_rgb(_pillow(source), self.crop, self.train, _rng(seed, self.train))
        meta["kind"] = "rgb-pixels"
        return self.format.host(np.asarray(img))


class PixelCrop(Pipeline):
    """The RGB baseline without scale augmentation: Pillow decode + the DCT ``crop`` pipeline's
    16-pixel-grid window (no resize) + flip; evaluation the centred window."""

    name = "crop"

    def host(self, source: Source, seed: Optional[int], meta: dict) -> dict:
        img = load_rgb_crop(_pillow(source), self.crop, self.train, _rng(seed, self.train))
        meta["kind"] = "rgb-pixels"
        return self.format.host(np.asarray(img))


def _read_whole(source: Source, meta: dict) -> Coefficients:
    """The whole file, brought to 4:2:0 when its MCU does not divide the 16-pixel grid or it
    needs re-encoding (CMYK/YCCK)."""
    c = reader.read(source)
    meta["warnings"] = len(c.warnings)
    meta["kind"] = kind = sampling_kind(c)
    if kind != "420" and (kind in ("cmyk", "ycck") or not _mcu_divides_16(c)):
        c, _ = to_420(c, src=source)
    return c


class Reencode(Pipeline):
    """Pixels, RandomResizedCrop + flip (or resize + centre crop), re-encoded as a 4:2:0 JPEG in
    memory (``quality``), whose coefficients are read: Gueguen et al.'s augmentation."""

    name = "rgb-reencode"

    def __init__(self, format: Format, crop: int, train: bool, quality: int = 95) -> None:
        super().__init__(format, crop, train)
        self.quality = quality

    def host(self, source: Source, seed: Optional[int], meta: dict) -> dict:
        img = load_rgb(_pillow(source), self.crop, self.train, _rng(seed, self.train))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=self.quality, subsampling=2)
        meta["kind"] = "reencoded"
        return self.format.host(reader.read(buf.getvalue()))


class BlockCrop(Pipeline):
    """The lossless MCU-grid crop + flip. The window is drawn from the frame header's size
    first, so only the rows down to its bottom are read (``max_height``); same draws, same
    result as reading the whole file (:func:`jpegcoef.planning.dct_sample`)."""

    name = "crop"

    def host(self, source: Source, seed: Optional[int], meta: dict) -> dict:
        rng = _rng(seed, self.train)
        frame = _frame(source)
        if frame is not None:
            height, width, sampling = frame
            plan = crop_plan(height, width, self.crop, self.train, rng)
            bottom = (plan[0] + plan[2]) * MCU
            cut = bottom < height and _crops_first(sampling)
            c = reader.read(source, max_height=bottom if cut else None)
            if c.width == width and c.height == (bottom if cut else height):
                meta["warnings"] = len(c.warnings)
                meta["kind"] = kind = sampling_kind(c)
                if kind != "420" and (kind in ("cmyk", "ycck") or not _mcu_divides_16(c)):
                    if cut:  # not expected (_crops_first): the conversion needs the whole file
                        c = reader.read(source)
                        meta["warnings"] = len(c.warnings)
                    c, _ = to_420(c, src=source)
                    kind = "420"
                return dct_sample(c, self.format, self.crop, self.train, rng, plan, kind)
            rng = _rng(seed, self.train)  # the header and libjpeg disagree: start again
        c = _read_whole(source, meta)
        return dct_sample(c, self.format, self.crop, self.train, rng)


class ResizedCrop(Pipeline):
    """DCT-domain RandomResizedCrop + flip (train) or resize + centre crop (eval); see the
    module docstring. ``jitter``: optional ColorJitter strengths ``(b, c, s, h)`` (training)."""

    name = "rrc"

    def __init__(self, format: DCTFormat, crop: int, train: bool, *, antialias: bool = True,
                 jitter: Optional[Sequence[float]] = None, resize_ratio: float = 0.875) -> None:
        super().__init__(format, crop, train)
        if crop % MCU:
            raise ValueError(f"the DCT formats' crop must be a multiple of 16, got {crop}")
        self.jitter = tuple(jitter) if jitter else None
        self.short_side = int(crop / resize_ratio)
        steps: list = []
        if train:
            steps.append(ops.HorizontalFlip())
            if self.jitter:
                steps.append(ops.ColorJitter())
        self._device = ops.DevicePipeline(ops.ResizedCrop(crop, antialias=antialias, bounded=not train), steps,
                                          format.from_planes)

    def _box(self, height: int, width: int, rng: Optional[np.random.Generator]) -> tuple:
        if self.train:
            return augment.sample_rrc_box(height, width, rng)
        return augment.center_crop_box(height, width, self.short_side, self.crop)

    def _margin(self, box: tuple) -> float:
        """Pixels beyond the box the filter reads (eval: resize then crop reads past the box)."""
        return 0.0 if self.train else 2.0 * max(1.0, box[2] / self.crop, box[3] / self.crop) + 1.0

    def host(self, source: Source, seed: Optional[int], meta: dict) -> dict:
        rng = _rng(seed, self.train)
        frame = _frame(source)
        c = None
        if frame is not None:
            box, c = self._read_box(source, frame, rng, meta)
        if c is None:  # no usable header, or it disagrees with libjpeg: the whole file decides
            rng = _rng(seed, self.train)
            c = _read_whole(source, meta)
            box = self._box(c.height, c.width, rng)
            if not box_direct(c):
                c = to_420(c, src=source)[0]
        out = cut_box(c, box, self._margin(box))
        out["flip"] = np.array(bool(self.train and rng.random() < 0.5))
        if self.train and self.jitter:
            out["jitter"] = np.array(ops.draw_jitter(rng, self.jitter), np.float32)
        return out

    def _read_box(self, source: Source, frame: tuple, rng, meta: dict) -> tuple:
        """Draw the box from the frame header's size, then read only the rows above its bottom
        (plus the filter's margin); ``(box, None)`` when libjpeg reads another size."""
        height, width, sampling = frame
        box = self._box(height, width, rng)
        bottom = int(np.ceil(box[0] + box[2] + self._margin(box)))
        cut = bottom < height and _crops_first(sampling)
        c = reader.read(source, max_height=bottom if cut else None)
        if c.width != width or c.height != (min(height, -(-bottom // mcu_shape(c)[0]) * mcu_shape(c)[0])
                                            if cut else height):
            return box, None
        meta["warnings"] = len(c.warnings)
        meta["kind"] = sampling_kind(c)
        if not box_direct(c):  # RGB colour space, CMYK, YCCK, exotic samplings: whole file to 4:2:0
            c = to_420(reader.read(source) if cut else c, src=source)[0]
        return box, c

    def device(self, batch: Mapping[str, torch.Tensor]):
        return self._device(batch)

    def batch_bytes(self, batch_size: int) -> int:
        """Slot size for batches whose windows average up to 1.6 x crop pixels square (windows
        are packed; larger batches take the ordinary path, see :class:`~jpegcoef.ring.BatchRing`)."""
        side = -(-int(1.6 * self.crop) // 16) * 2  # luma blocks
        per = 2 * 64 * (side * side + 2 * (side // 2 + 1) ** 2) + 2 * 3 * 64 + 8 * 4 + 16 * 3 + 1 + 3 * 24
        return -(-batch_size * per // 64) * 64 + 16 * 64 + 8 * batch_size


def make(format: Format, crop: int, train: bool, augment: Optional[str] = None, *,
         reencode_quality: int = 95, jitter: Optional[Sequence[float]] = None) -> Pipeline:
    """The pipeline for a format and an ``augment`` name (``None``: ``"rrc"``)."""
    augment = "rrc" if augment is None else augment
    if augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {AUGMENTS} or None, got {augment!r}")
    if isinstance(format, RGB):
        if augment == "crop":
            return PixelCrop(format, crop, train)
        if augment != "rrc":
            raise ValueError(f"augment={augment!r} is for the DCT formats (rgb takes 'rrc' or 'crop')")
        return Pixels(format, crop, train)
    if crop % MCU:
        raise ValueError(f"DCT formats crop on the 16-pixel MCU grid: crop={crop} is not a multiple of 16")
    if augment == "crop":
        return BlockCrop(format, crop, train)
    if augment == "rgb-reencode":
        return Reencode(format, crop, train, reencode_quality)
    return ResizedCrop(format, crop, train, jitter=jitter)
