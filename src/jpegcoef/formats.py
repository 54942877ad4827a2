"""Model input formats: from :class:`~jpegcoef.Coefficients` (or pixels) to model inputs.

A :class:`Format` splits the work in two, so the small int16 coefficients are what crosses from
host to device and everything arithmetic runs batched on the device:

* ``host(sample) -> dict[str, np.ndarray]`` per image, on the host (in DataLoader workers):
  int16 coefficient channels (only the channels the format needs), plus the uint16 quantisation
  tables ``q`` (3, 64) -- or uint8 pixels for ``rgb``;
* ``collate(list_of_dicts) -> dict[str, torch.Tensor]`` stacks them;
* ``device(batch) -> model input``: dequantise, bring chroma to the luma grid, concatenate and
  normalise per channel, in torch on whatever device the batch is on;
* ``bytes_per_image(batch)``: host-to-device bytes per image.

Formats (``get(name, **options)``):

* ``gueguen`` -> ``(y (N, 64, H/8, W/8), cbcr (N, 128, H/16, W/16))``, dequantised, normalised.
* ``dctnet`` (``channels=24|32|48|64|192``, the static subsets of DCTNet) -> ``(N, C, H/8, W/8)``
  ordered ``[Y | Cb | Cr]``. The channel subset is selected on the host (a gather that also
  shrinks the transfer). Chroma is brought to the luma grid by ``upsample=``:

  - ``"repeat"`` (default): each chroma block is repeated 2x2 (nearest-block upsampling, as
    jpeg2dct and Gueguen et al.'s "upsampling" variant do). Only the selected chroma channels
    cross to the device.
  - ``"dct"``: the exact 8x8 DCT of the chroma plane upsampled 2x by pixel replication
    (libjpeg's plain upsampling), computed in the DCT domain by a fixed 64 -> 4x64 linear map
    and a pixel shuffle (closest to DCTNet, which took the DCT of a full-resolution chroma
    plane). Every output coefficient depends on all 64 input coefficients, so all 64 chroma
    channels cross to the device.

* ``rgb`` -> ``(N, 3, H, W)`` float32, ``(x/255 - mean) / std`` with the ImageNet constants.

Normalisation (``gueguen``, ``dctnet``): per-channel mean/std of dequantised coefficients, 192
channels ``[Y 0-63 | Cb 64-127 | Cr 128-191]``, from a JSON written by ``jpegcoef stats DIR``
(``stats=path`` or a dict); by default the statistics shipped in :mod:`jpegcoef._default_stats`.
The chroma statistics are those of the 4:2:0 chroma grid; with ``upsample="dct"`` they are an
approximation (the DC of an upsampled block has the same distribution, its AC spread is lower).

Inputs that are not 4:2:0 YCbCr are converted by :func:`to_420` first (see there).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import get_worker_info

from .channels import SUBSETS
from .dctmaps import dct_matrix, downsample_exact, resample_axis, upsample_matrix
from .coefficients import Coefficients, Component

__all__ = ["Format", "get", "names", "SUBSETS", "to_420", "window_fusable", "load_stats", "dct_matrix",
           "upsample_matrix", "IMAGENET_MEAN", "IMAGENET_STD"]

#: ImageNet pixel statistics (the usual convention for RGB ResNet-50 inputs), RGB order.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _chroma_to_420(comp: Component, fy: int, fx: int, rows: int, cols: int) -> np.ndarray:
    """int16 ``(rows, cols, 8, 8)``: a whole chroma component brought to the 4:2:0 grid by
    :func:`downsample_exact` (odd grids edge-padded first, the result cropped or edge-padded
    to ``rows x cols`` blocks)."""
    a = comp.coefficients
    pr, pc = (-a.shape[0]) % fy, (-a.shape[1]) % fx
    if pr or pc:
        a = np.pad(a, ((0, pr), (0, pc), (0, 0), (0, 0)), mode="edge")
    h, w = a.shape[0] // fy, a.shape[1] // fx
    out = _to_int16(downsample_exact(a, comp.quant, fy, fx, _ALL64)).reshape(h, w, 8, 8)
    return _fit(out, rows, cols)


_ALL64 = tuple(range(64))


def _fit(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Crop or edge-pad a block grid to exactly ``rows x cols`` blocks."""
    a = a[:rows, :cols]
    pr, pc = rows - a.shape[0], cols - a.shape[1]
    if pr or pc:
        a = np.pad(a, ((0, pr), (0, pc), (0, 0), (0, 0)), mode="edge")
    return a


def _to_int16(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), -32768, 32767).astype(np.int16)


_ONES = np.ones((8, 8), np.uint16)
_FUSABLE = ("gray", "444", "422", "440")


def window_fusable(c: Coefficients) -> bool:
    """Whether :meth:`Format.host_window` converts windows of ``c`` to 4:2:0 itself: gray, or
    YCbCr whose luma has the highest sampling factors, all factors 1 or 2 (4:4:4, 4:2:2,
    4:4:0 and mixes of them). For such files :func:`to_420` of a window of whole 16-pixel MCUs
    is window-local: luma kept, chroma dequantised and box-averaged per 16x16 pixels."""
    comps = c.components
    if len(comps) == 1:
        return c.colorspace == "gray"
    if len(comps) != 3 or c.colorspace != "ycbcr":
        return False
    samp = [comp.sampling for comp in comps]
    if any(h not in (1, 2) or v not in (1, 2) for h, v in samp):
        return False
    hmax, vmax = max(h for h, _ in samp), max(v for _, v in samp)
    return samp[0] == (hmax, vmax)


def _reencode(src: Any, quality: int = 95) -> Coefficients:
    """Decode with Pillow (handles CMYK/YCCK/Adobe), re-encode RGB as 4:2:0 in memory, read."""
    from PIL import Image
    from .reader import read

    if isinstance(src, (bytes, bytearray, memoryview)):
        src = io.BytesIO(bytes(src))
    with Image.open(src) as im:
        rgb = im.convert("RGB")
    buf = io.BytesIO()
    rgb.save(buf, format="JPEG", quality=quality, subsampling=2)
    return read(buf.getvalue())


def sampling_kind(c: Coefficients) -> str:
    """A short name for a file's layout: ``'420'``, ``'444'``, ``'422'``, ``'440'``, ``'411'``,
    ``'gray'``, ``'rgb'``, ``'cmyk'``, ``'ycck'`` or ``'h1v1-h2v1-...'`` for anything else."""
    if c.colorspace in ("gray", "rgb", "cmyk", "ycck"):
        return c.colorspace
    s = [comp.sampling for comp in c.components]
    name = _KIND_NAMES.get(tuple(s))
    return name if name is not None else "-".join(f"h{h}v{v}" for h, v in s)


_KIND_NAMES = {((2, 2), (1, 1), (1, 1)): "420", ((1, 1), (1, 1), (1, 1)): "444",
               ((2, 1), (1, 1), (1, 1)): "422", ((1, 2), (1, 1), (1, 1)): "440",
               ((4, 1), (1, 1), (1, 1)): "411"}


def to_420(c: Coefficients, src: Any = None) -> tuple[Coefficients, str]:
    """Bring any JPEG to 4:2:0 YCbCr coefficients; returns ``(coefficients, kind)``.

    ``kind`` is :func:`sampling_kind` of the input (``'420'`` means nothing was done). The
    result has Y sampled 2x2 and Cb, Cr 1x1, block grids covering whole 16x16 MCUs.

    Conversions:

    * other YCbCr samplings (4:4:4, 4:2:2, 4:4:0, 4:1:1, mixed): exact DCT-domain resampling of
      the chroma components -- box-average downsampling and pixel-replication upsampling are
      linear maps between blocks of coefficients, applied to the dequantised coefficients.
      When the luma has the highest factors and all factors are 1 or 2 (4:4:4, 4:2:2, 4:4:0,
      their mixes: :func:`window_fusable`), the chroma downsampling is one map per 4:2:0 block
      evaluated exactly in float64 (weights on a 2**-bits grid fine enough that no sum rounds),
      so :meth:`Format.host_window` computes the same bits for a window and only the channels
      it selects; the other layouts use float32 products.
    * gray: Y as is, Cb = Cr = 0 (exactly neutral chroma).
    * RGB colour space (Adobe transform 0): the JFIF RGB->YCbCr matrix is linear and its level
      shift cancels, so it is applied to the dequantised coefficients directly, then chroma is
      downsampled as above.
    * CMYK, YCCK: no linear map to YCbCr exists (the conversion to RGB multiplies channels), so
      these are decoded with Pillow and re-encoded in memory (quality 95, 4:2:0); this needs
      ``src`` (the path or bytes the coefficients came from).

    Resampled components are stored unquantised: int16 of the rounded dequantised values with
    an all-ones quantisation table (8-bit DCT values fit in int16; error <= 0.5, far below any
    quantisation step). Untouched components keep their coefficients and table.
    """
    kind = sampling_kind(c)
    if kind == "420":
        return c, kind
    if kind in ("cmyk", "ycck"):
        if src is None:
            raise ValueError(f"{kind} JPEGs are converted by decoding and re-encoding; pass src=")
        out = _reencode(src)
        if sampling_kind(out) != "420":
            raise ValueError(f"re-encoding a {kind} JPEG gave {sampling_kind(out)}, expected 4:2:0")
        return out, kind
    my, mx = -(-c.height // 16), -(-c.width // 16)
    samp = [comp.sampling for comp in c.components] if len(c.components) > 1 else [(1, 1)]
    hmax, vmax = max(h for h, _ in samp), max(v for _, v in samp)

    def full_res(i: int, target: float) -> np.ndarray:
        """Component i dequantised and resampled to ``target`` x full resolution."""
        comp = c.components[i]
        h, v = samp[i]
        a = comp.dequantize()  # float32
        a = resample_axis(a, 0, target / (v / vmax))
        return resample_axis(a, 1, target / (h / hmax))

    if kind == "gray":
        y = c.components[0]
        ya = _fit(y.coefficients, 2 * my, 2 * mx)
        comps = [Component(ya, y.quant, (2, 2), y.blocks)]
        zeros = np.zeros((my, mx, 8, 8), np.int16)
        cblocks = (-(-c.height // 16), -(-c.width // 16))
        comps += [Component(zeros, _ONES, (1, 1), cblocks), Component(zeros.copy(), _ONES, (1, 1), cblocks)]
        return c.replace(components=comps, colorspace="ycbcr", warnings=list(c.warnings)), kind
    if len(c.components) != 3:
        raise ValueError(f"cannot convert a {len(c.components)}-component {c.colorspace} JPEG to YCbCr")
    if kind == "rgb":
        r, g, b = (full_res(i, 1.0) for i in range(3))
        ya = 0.299 * r + 0.587 * g + 0.114 * b
        cb = -0.168735892 * r - 0.331264108 * g + 0.5 * b
        cr = 0.5 * r - 0.418687589 * g - 0.081312411 * b
        y = Component(_to_int16(_fit(ya, 2 * my, 2 * mx)), _ONES, (2, 2))
        chroma = [resample_axis(resample_axis(p, 0, 0.5), 1, 0.5) for p in (cb, cr)]
    else:
        y0 = c.components[0]
        if samp[0] == (hmax, vmax):
            y = Component(_fit(y0.coefficients, 2 * my, 2 * mx), y0.quant, (2, 2))
            if window_fusable(c):  # chroma 1x or 2x per axis: exact, as Format.host_window does
                hb, wb = -(-c.height // 8), -(-c.width // 8)
                y.blocks = (hb, wb)
                cblocks = (-(-c.height // 16), -(-c.width // 16))
                comps = [y] + [Component(_chroma_to_420(comp, 2 * s[1] // vmax, 2 * s[0] // hmax, my, mx),
                                         _ONES, (1, 1), cblocks) for comp, s in zip(c.components[1:], samp[1:])]
                return c.replace(components=comps, colorspace="ycbcr", warnings=list(c.warnings)), kind
        else:
            y = Component(_to_int16(_fit(full_res(0, 1.0), 2 * my, 2 * mx)), _ONES, (2, 2))
        chroma = [full_res(i, 0.5) for i in (1, 2)]
    hb, wb = -(-c.height // 8), -(-c.width // 8)
    y.blocks = (hb, wb)
    cblocks = (-(-c.height // 16), -(-c.width // 16))
    comps = [y] + [Component(_to_int16(_fit(a, my, mx)), _ONES, (1, 1), cblocks) for a in chroma]
    return c.replace(components=comps, colorspace="ycbcr", warnings=list(c.warnings)), kind


# ------------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------------
def load_stats(stats: Union[None, str, os.PathLike, Mapping]) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` float32 arrays of 192 channels from a stats JSON path, a dict, or the
    shipped defaults (``None``)."""
    if stats is None:
        from . import _default_stats
        d: Mapping = _default_stats.STATS
    elif isinstance(stats, Mapping):
        d = stats
    else:
        with open(stats) as f:
            d = json.load(f)
    mean = np.asarray(d["mean"], np.float32)
    std = np.asarray(d["std"], np.float32)
    if mean.shape != (192,) or std.shape != (192,):
        raise ValueError(f"stats need 192 means and stds ([Y|Cb|Cr] x 64), got {mean.shape}, {std.shape}")
    if not np.all(np.isfinite(std)) or np.any(std <= 0):
        raise ValueError("stats std must be positive and finite")
    return mean, std


# ------------------------------------------------------------------------------------------------
# Formats
# ------------------------------------------------------------------------------------------------
_TORCH_DTYPES = {np.int16: torch.int16, np.uint16: torch.uint16, np.uint8: torch.uint8,
                 np.float32: torch.float32, np.int64: torch.int64}


def _stack_parts(samples: Sequence[Mapping[str, np.ndarray]],
                 extra: Optional[Mapping[str, np.ndarray]] = None) -> list[tuple]:
    """What :func:`_stack` writes: ``(key, arrays to stack or None, shape, dtype, extra array or
    None)`` per key (shapes checked)."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    parts = []
    for k in samples[0].keys():
        arrs = [s[k] for s in samples]
        shape = arrs[0].shape
        if any(a.shape != shape for a in arrs):
            shapes = {a.shape for a in arrs}
            raise ValueError(f"samples differ in shape for {k!r}: {sorted(shapes)} (crop them to one size)")
        parts.append((k, arrs, (len(arrs),) + shape, arrs[0].dtype, None))
    for k, a in (extra or {}).items():
        parts.append((k, None, a.shape, a.dtype, a))
    return parts


def _stack(samples: Sequence[Mapping[str, np.ndarray]],
           extra: Optional[Mapping[str, np.ndarray]] = None) -> dict[str, torch.Tensor]:
    """Stack per-sample arrays per key (plus the ``extra`` arrays as they are) into tensors. In a
    DataLoader worker they are all written straight into one shared-memory block (as
    default_collate does per tensor, but one block per batch: one allocation and, with
    :func:`jpegcoef.data.collate`, one file descriptor sent to the main process)."""
    parts = _stack_parts(samples, extra)
    if get_worker_info() is None:
        return {k: torch.from_numpy(np.stack(arrs) if arrs is not None else np.ascontiguousarray(a))
                for k, arrs, _, _, a in parts}
    offsets, total = [], 0
    for _, _, shape, dtype, _ in parts:
        offsets.append(total)
        total += -(-int(np.prod(shape)) * dtype.itemsize // 64) * 64  # 64-byte aligned
    elem = torch.empty(0, dtype=torch.uint8)  # made in shared memory as default_collate does
    block = elem.new(elem._typed_storage()._new_shared(max(total, 1)))  # (share_memory_() copies)
    mem = block.numpy()
    out = {}
    for (k, arrs, shape, dtype, a), off in zip(parts, offsets):
        nbytes = int(np.prod(shape)) * dtype.itemsize
        view = mem[off:off + nbytes].view(dtype).reshape(shape)
        if arrs is not None:
            np.stack(arrs, out=view)
        else:
            view[...] = a
        out[k] = block[off:off + nbytes].view(_TORCH_DTYPES[dtype.type]).view(shape)
    return out


@dataclass
class Format:
    """One model input format; build with :func:`get`.

    ``kind`` is ``'gueguen' | 'dctnet' | 'rgb'``; ``y_index``/``c_index`` the frequencies kept
    per component (DCT formats); ``upsample`` the chroma alignment of ``dctnet``.
    """

    kind: str
    channels: int = 192
    y_index: tuple = tuple(range(64))
    c_index: tuple = tuple(range(64))
    upsample: str = "repeat"
    mean: np.ndarray = field(default=None, repr=False)
    std: np.ndarray = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.kind if self.kind != "dctnet" else f"dctnet{self.channels}"

    @property
    def options(self) -> dict:
        return {"channels": self.channels, "upsample": self.upsample} if self.kind == "dctnet" else {}

    # -- host ------------------------------------------------------------------------------------
    def _host_c_index(self) -> tuple:
        return tuple(range(64)) if (self.kind == "dctnet" and self.upsample == "dct") else self.c_index

    def host(self, sample: Union[Coefficients, np.ndarray]) -> dict[str, np.ndarray]:
        """Per image, on the host: what crosses to the device (int16 channels + uint16 tables).

        DCT formats take 4:2:0 :class:`Coefficients` (others are converted with :func:`to_420`,
        which cannot re-encode CMYK/YCCK here: convert those in the dataset, where the file is
        known); ``rgb`` takes uint8 pixels ``(H, W, 3)``.
        """
        if self.kind == "rgb":
            px = np.asarray(sample)
            if px.dtype != np.uint8 or px.ndim != 3 or px.shape[2] != 3:
                raise ValueError(f"rgb format takes uint8 (H, W, 3) pixels, got {px.dtype} {px.shape}")
            return {"rgb": np.ascontiguousarray(px.transpose(2, 0, 1))}
        if not isinstance(sample, Coefficients):
            raise TypeError(f"{self.kind} format takes Coefficients, got {type(sample).__name__}")
        c, _ = to_420(sample)
        y, cb, cr = c.components
        if 2 * cb.shape[0] != y.shape[0] or 2 * cb.shape[1] != y.shape[1]:
            raise ValueError(f"luma grid {y.shape} is not twice the chroma grid {cb.shape}")
        ci = self._host_c_index()
        return {
            "y": _take(y, self.y_index),
            "cb": _take(cb, ci),
            "cr": _take(cr, ci),
            "q": np.stack([y.quant.reshape(64), cb.quant.reshape(64), cr.quant.reshape(64)]),
        }

    def host_window(self, c: Coefficients, top: int, left: int, rows: int, cols: int, size: int,
                    pad: tuple[int, int] = (0, 0), flip: bool = False, *,
                    kind: Optional[str] = None) -> dict[str, np.ndarray]:
        """``host`` of a window of an image, fused into one gather per component.

        Equals ``host(hflip(pad(to_420(crop(c)))))``: the window of ``rows x cols`` MCUs (16x16
        pixels) at MCU ``(top, left)``, placed at MCU ``pad`` in a ``size x size``-MCU canvas of
        zero blocks when smaller, mirrored left-right (blocks reversed, odd horizontal
        frequencies negated) when ``flip``. ``c`` is 4:2:0; or (:func:`window_fusable`) gray or
        a YCbCr layout :func:`to_420` converts exactly per window (4:4:4, 4:2:2, 4:4:0), for a
        window of whole MCUs: only the selected chroma frequencies of the window are computed,
        with :func:`to_420`'s exact map (bit-identical to it). This is the training
        pipeline's hot path (the tests check it against :mod:`jpegcoef.transforms` and
        :func:`to_420`). ``kind``: :func:`sampling_kind` of ``c`` when the caller knows it.
        """
        if self.kind == "rgb":
            raise TypeError("host_window is for the DCT formats")
        comps = c.components
        out = {}
        if kind is None:
            kind = sampling_kind(c)
        if kind == "420":
            sources = ((comps[0], 2, 2, False), (comps[1], 1, 1, False), (comps[2], 1, 1, False))
        else:
            if not window_fusable(c) or (top + rows) * 16 > c.height or (left + cols) * 16 > c.width:
                raise ValueError(f"host_window takes 4:2:0 or (a window of whole MCUs of) "
                                 f"{sorted(_FUSABLE)}-like layouts, not {kind}; use to_420 first")
            if len(comps) == 1:
                sources = ((comps[0], 2, 2, False), None, None)
            else:
                hmax, vmax = comps[0].sampling
                sources = ((comps[0], 2, 2, False),) + tuple(
                    (comp, 2 * comp.sampling[1] // vmax, 2 * comp.sampling[0] // hmax, True) for comp in comps[1:])
        gathers = self._cache.get("gathers")
        if gathers is None:
            ci = self._host_c_index()
            gathers = self._cache["gathers"] = tuple(
                (key, f, tuple(idx), len(idx)) + _gather_index(tuple(idx))
                for key, f, idx in (("y", 2, self.y_index), ("cb", 1, ci), ("cr", 1, ci)))
        for (key, f, idx, n, r, k, sign), src in zip(gathers, sources):
            if src is None:  # gray: neutral chroma
                out[key] = np.zeros((n, size * f, size * f), np.int16)
                continue
            comp, fy, fx, convert = src
            a = comp.coefficients[top * fy:(top + rows) * fy, left * fx:(left + cols) * fx]
            if a.shape[0] != rows * fy or a.shape[1] != cols * fx:
                raise ValueError(f"window {rows}x{cols} MCUs at ({top}, {left}) exceeds the {key} grid {comp.shape}")
            if convert:  # to_420's chroma, only the selected frequencies (exact: same bits)
                g = _to_int16(downsample_exact(a, comp.quant, fy, fx, idx)).reshape(rows, cols, n)
                if flip:
                    g = g[:, ::-1]
            else:
                g = (a[:, ::-1] if flip else a)[:, :, r, k]  # (h, w, n): one copy
            if flip:
                g *= sign
            g = g.transpose(2, 0, 1)
            if rows == size and cols == size:
                out[key] = np.ascontiguousarray(g)
            else:
                canvas = np.zeros((n, size * f, size * f), np.int16)
                y0 = pad[0] * f
                x0 = (size - pad[1] - cols) * f if flip else pad[1] * f
                canvas[:, y0:y0 + rows * f, x0:x0 + cols * f] = g
                out[key] = canvas
        if kind == "420":
            out["q"] = np.concatenate((comps[0].quant, comps[1].quant, comps[2].quant)).reshape(3, 64)
        else:  # converted chroma (and gray's zero chroma) are stored unquantised
            out["q"] = np.concatenate((comps[0].quant, _ONES, _ONES)).reshape(3, 64)
        return out

    def collate(self, samples: Sequence[Mapping[str, np.ndarray]],
                extra: Optional[Mapping[str, np.ndarray]] = None) -> dict[str, torch.Tensor]:
        """Stack per-image host dicts into batched tensors (same keys); ``extra`` arrays (e.g.
        the labels) are returned as tensors too, in the same shared-memory block in workers."""
        return _stack(samples, extra)

    def bytes_per_image(self, batch: Mapping[str, torch.Tensor]) -> int:
        """Host-to-device bytes per image of a collated batch (all its tensors)."""
        tensors = [t for t in batch.values() if isinstance(t, torch.Tensor)]
        n = tensors[0].shape[0]
        return sum(t.numel() * t.element_size() for t in tensors) // n

    # -- device ----------------------------------------------------------------------------------
    def _buffers(self, device: torch.device) -> dict[str, torch.Tensor]:
        key = str(device)
        if key not in self._cache:
            b: dict[str, torch.Tensor] = {}
            if self.kind == "rgb":  # (x / 255 - mean) / std = x * scale - shift
                mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
                b["scale"] = (1.0 / (255.0 * std)).view(1, 3, 1, 1).to(device)
                b["shift"] = (mean / std).view(1, 3, 1, 1).to(device)
            else:
                ci = list(self._host_c_index())
                b["yi"] = torch.tensor(self.y_index, device=device)
                b["ci"] = torch.tensor(ci, device=device)
                mean, std = self.mean, self.std
                idx = {"y": list(self.y_index), "cb": [64 + i for i in self.c_index],
                       "cr": [128 + i for i in self.c_index]}
                for k, ix in idx.items():
                    b[k + "_std"] = torch.tensor(std[ix], device=device)
                    b[k + "_shift"] = torch.tensor(mean[ix] / std[ix], device=device).view(1, -1, 1, 1)
                if self.kind == "dctnet" and self.upsample == "dct":
                    m = torch.tensor(upsample_matrix(), dtype=torch.float32, device=device)
                    # conv weight (64*4, 64, 1, 1) with output channel 4*c + 2*dy + dx (pixel_shuffle order)
                    w = m.permute(2, 0, 1, 3).reshape(256, 64, 1, 1)
                    b["up"] = w
                    b["c_sel"] = torch.tensor(self.c_index, device=device)
            self._cache[key] = b
        return self._cache[key]

    def device(self, batch: Mapping[str, torch.Tensor]):
        """Model input from a collated batch, computed on the batch's device.

        Dequantise and normalise are one fused scale (``q / std`` per image and channel) and
        shift (``mean / std``), written straight into the preallocated output; the chroma
        repeat writes through a strided view (no intermediate copies)."""
        if self.kind == "rgb":
            x = batch["rgb"]
            b = self._buffers(x.device)
            return x.to(torch.float32).mul_(b["scale"]).sub_(b["shift"])
        y = batch["y"]
        dev = y.device
        b = self._buffers(dev)
        q = batch["q"].to(device=dev, dtype=torch.float32)
        n, cy, hy, wy = y.shape

        def norm(x: torch.Tensor, row: int, index: torch.Tensor, key: str, out: torch.Tensor) -> None:
            scale = (q[:, row, index] / b[key + "_std"])[:, :, None, None] if row >= 0 \
                else (1.0 / b[key + "_std"])[None, :, None, None]
            out.copy_(x)  # int16 -> float32 (a mixed-dtype out= product is far slower)
            out.mul_(scale).sub_(b[key + "_shift"])

        if self.kind == "gueguen":
            cb = batch["cb"]
            cc = cb.shape[1]
            yo = torch.empty(y.shape, dtype=torch.float32, device=dev)
            co = torch.empty((n, 2 * cc) + tuple(cb.shape[2:]), dtype=torch.float32, device=dev)
            norm(y, 0, b["yi"], "y", yo)
            norm(cb, 1, b["ci"], "cb", co[:, :cc])
            norm(batch["cr"], 2, b["ci"], "cr", co[:, cc:])
            return yo, co
        cc = len(self.c_index)
        out = torch.empty((n, cy + 2 * cc, hy, wy), dtype=torch.float32, device=dev)
        norm(y, 0, b["yi"], "y", out[:, :cy])
        if self.upsample == "dct":
            cbd = batch["cb"].float() * q[:, 1, b["ci"]][:, :, None, None]
            crd = batch["cr"].float() * q[:, 2, b["ci"]][:, :, None, None]
            up = torch.nn.functional.conv2d(torch.cat([cbd, crd]), b["up"])
            up = torch.nn.functional.pixel_shuffle(up, 2)[:, b["c_sel"]]
            cbu, cru = up.chunk(2)
            norm(cbu, -1, b["ci"], "cb", out[:, cy:cy + cc])
            norm(cru, -1, b["ci"], "cr", out[:, cy + cc:])
            return out
        h, w = batch["cb"].shape[2:]
        small = torch.empty((n, 2 * cc, h, w), dtype=torch.float32, device=dev)
        norm(batch["cb"], 1, b["ci"], "cb", small[:, :cc])
        norm(batch["cr"], 2, b["ci"], "cr", small[:, cc:])
        out[:, cy:].view(n, 2 * cc, h, 2, w, 2).copy_(small[:, :, :, None, :, None].expand(n, 2 * cc, h, 2, w, 2))
        return out

    def __call__(self, samples: Sequence[Union[Coefficients, np.ndarray]]):
        """Convenience: host + collate + device for a list of images (on CPU)."""
        return self.device(self.collate([self.host(s) for s in samples]))


@lru_cache(maxsize=None)
def _gather_index(index: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and hflip signs (-1 for odd horizontal frequency) of frequency indices."""
    r, k = np.divmod(np.asarray(index), 8)
    sign = np.where(k % 2 == 1, -1, 1).astype(np.int16)
    return r, k, sign


def _take(comp: Component, index: tuple) -> np.ndarray:
    """int16 ``(len(index), Hb, Wb)`` channels of a component."""
    if len(index) == 64:
        return comp.channels()
    if comp._channels is not None:
        return comp._channels[list(index)]
    r, c = np.divmod(np.asarray(index), 8)
    return np.ascontiguousarray(comp.coefficients[:, :, r, c].transpose(2, 0, 1))


def names() -> list[str]:
    """The format names :func:`get` accepts."""
    return ["gueguen", "dctnet", "rgb"]


def get(name: str, *, channels: Optional[int] = None, upsample: str = "repeat",
        stats: Union[None, str, os.PathLike, Mapping] = None, **unknown) -> Format:
    """Build a :class:`Format`.

    Args:
        name: ``'gueguen' | 'dctnet' | 'rgb'``.
        channels: ``dctnet`` only: 24, 32, 48, 64 or 192 (default 192).
        upsample: ``dctnet`` only: ``'repeat'`` (default) or ``'dct'`` (see the module docs).
        stats: DCT formats: a stats JSON path or dict (``jpegcoef stats``); default shipped stats.
    """
    if unknown:
        raise TypeError(f"unknown format options: {sorted(unknown)}")
    if name == "rgb":
        return Format("rgb", channels=3)
    if name not in ("gueguen", "dctnet"):
        raise ValueError(f"unknown format {name!r}; choose from {names()}")
    mean, std = load_stats(stats)
    if name == "gueguen":
        if channels not in (None, 192):
            raise ValueError("gueguen uses all 64 channels of each component (channels=192)")
        return Format("gueguen", 192, mean=mean, std=std)
    channels = 192 if channels is None else channels
    if channels not in SUBSETS:
        raise ValueError(f"dctnet channels must be one of {sorted(SUBSETS)}, got {channels!r}")
    if upsample not in ("repeat", "dct"):
        raise ValueError(f"upsample must be 'repeat' or 'dct', got {upsample!r}")
    s = SUBSETS[channels]
    return Format("dctnet", channels, s["y"], s["c"], upsample, mean=mean, std=std)
