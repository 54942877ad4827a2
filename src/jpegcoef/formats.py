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

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import torch

from .channels import SUBSETS
from .dctmaps import downsample_exact, upsample_matrix
from .coefficients import Coefficients, Component
from .convert import _ONES, _FUSABLE, _to_int16, sampling_kind, to_420, window_fusable
from .ring import stack

__all__ = ["Format", "get", "names", "load_stats", "IMAGENET_MEAN", "IMAGENET_STD"]

#: ImageNet pixel statistics (the usual convention for RGB ResNet-50 inputs), RGB order.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
        return stack(samples, extra)

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

