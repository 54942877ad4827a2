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

  - ``"bilinear"`` (default): the 8x8 DCT of the chroma plane upsampled 2x bilinearly
    (:func:`jpegcoef.augment.upsample_chroma`), which is what libjpeg's "fancy" upsampling does
    in its interior: DCTNet took the DCT of the full-resolution chroma of a decoded image, and
    this is the closest (issue 12 fix 2; tested against libjpeg's decode). All 64 chroma
    frequencies cross to the device (every output coefficient depends on all of them).
  - ``"dct"``: the exact DCT of the chroma plane upsampled 2x by pixel replication (libjpeg's
    plain upsampling): a fixed 64 -> 4x64 linear map and a pixel shuffle; all 64 chroma
    channels cross to the device.
  - ``"repeat"``: each chroma block is repeated 2x2 (nearest-block upsampling, as jpeg2dct and
    Gueguen et al.'s "upsampling" variant do); only the selected chroma channels cross.

* ``rgb`` -> ``(N, 3, H, W)`` float32, ``(x/255 - mean) / std`` with the ImageNet constants.

Normalisation (``gueguen``, ``dctnet``): per-channel mean/std of dequantised coefficients, 192
channels ``[Y 0-63 | Cb 64-127 | Cr 128-191]``, from a JSON written by ``jpegcoef stats DIR``
(``stats=path`` or a dict); by default the statistics shipped in :mod:`jpegcoef._default_stats`.
The chroma statistics are those of the 4:2:0 chroma grid; with ``upsample="bilinear"`` or
``"dct"`` they are an approximation (the DC of an upsampled block has the same distribution, its AC spread is lower).

Inputs that are not 4:2:0 YCbCr are converted by :func:`to_420` first (see there).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import torch

from .channels import SUBSETS
from . import augment
from .dctmaps import downsample_exact, upsample_matrix
from .coefficients import Coefficients, Component
from .convert import _ONES, _FUSABLE, _to_int16, sampling_kind, to_420, window_fusable
from .ring import stack

__all__ = ["Format", "RGB", "DCTFormat", "Gueguen", "DCTNet", "get", "names", "load_stats", "component_std", "NORMS", "IMAGENET_MEAN", "IMAGENET_STD"]

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
class Format:
    """One model input format (build with :func:`get`); subclasses :class:`RGB`,
    :class:`Gueguen`, :class:`DCTNet`.

    ``host`` runs per image on the host, ``collate`` stacks, ``device`` makes the model input on
    the batch's device; ``batch_bytes`` is the size of a collated batch (for the batch ring).
    """

    kind: str = ""
    channels: int = 0

    @property
    def name(self) -> str:
        return self.kind

    @property
    def options(self) -> dict:
        """The options :func:`get` takes to rebuild this format (besides ``stats``)."""
        return {}

    def host(self, sample):  # pragma: no cover - abstract
        raise NotImplementedError

    def device(self, batch: Mapping[str, torch.Tensor]):  # pragma: no cover - abstract
        raise NotImplementedError

    def batch_bytes(self, crop: int, batch_size: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def collate(self, samples: Sequence[Mapping[str, np.ndarray]],
                extra: Optional[Mapping[str, np.ndarray]] = None) -> dict[str, torch.Tensor]:
        """Stack per-image host dicts into batched tensors (same keys); ``extra`` arrays (e.g.
        the labels) are returned as tensors too, in the same shared-memory block in workers."""
        return stack(samples, extra)

    def bytes_per_image(self, batch: Mapping[str, torch.Tensor]) -> int:
        """Host-to-device bytes per image of a collated batch (all its tensors)."""
        tensors = [t for t in batch.values() if isinstance(t, torch.Tensor)]
        n = batch["q"].shape[0] if "q" in batch else tensors[0].shape[0]  # packed windows are flat
        return sum(t.numel() * t.element_size() for t in tensors) // n

    def __call__(self, samples: Sequence[Union[Coefficients, np.ndarray]]):
        """Convenience: host + collate + device for a list of images (on CPU)."""
        return self.device(self.collate([self.host(s) for s in samples]))

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"


def _aligned(n: int) -> int:
    return -(-n // 64) * 64


class RGB(Format):
    """``rgb``: uint8 pixels on the host, ``(x/255 - mean) / std`` (ImageNet) on the device."""

    kind, channels = "rgb", 3

    def __init__(self) -> None:
        self._cache: dict = {}

    def host(self, sample: np.ndarray) -> dict[str, np.ndarray]:
        """uint8 ``(H, W, 3)`` pixels -> ``{"rgb": (3, H, W)}``."""
        px = np.asarray(sample)
        if px.dtype != np.uint8 or px.ndim != 3 or px.shape[2] != 3:
            raise ValueError(f"rgb format takes uint8 (H, W, 3) pixels, got {px.dtype} {px.shape}")
        return {"rgb": np.ascontiguousarray(px.transpose(2, 0, 1))}

    def batch_bytes(self, crop: int, batch_size: int) -> int:
        return _aligned(batch_size * 3 * crop * crop) + _aligned(8 * batch_size)

    def device(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        x = batch["rgb"]
        key = str(x.device)
        if key not in self._cache:  # (x / 255 - mean) / std = x * scale - shift
            mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
            self._cache[key] = ((1.0 / (255.0 * std)).view(1, 3, 1, 1).to(x.device),
                                (mean / std).view(1, 3, 1, 1).to(x.device))
        scale, shift = self._cache[key]
        return x.to(torch.float32).mul_(scale).sub_(shift)


class DCTFormat(Format):
    """What the DCT formats share: the host gathers (int16 coefficients of the kept channels and
    the quantisation tables), dequantise + normalise on the device, and :meth:`from_planes` for
    the augmented pipeline (dequantised planes of all 64 frequencies, see :mod:`jpegcoef.ops`).

    ``y_index``/``c_index``: frequencies kept per component (:mod:`jpegcoef.channels`);
    ``mean``/``std``: 192 per-channel statistics ``[Y | Cb | Cr]`` (:func:`load_stats`).
    """

    def __init__(self, y_index: tuple, c_index: tuple, mean: np.ndarray, std: np.ndarray) -> None:
        self.y_index, self.c_index = tuple(y_index), tuple(c_index)
        self.mean, self.std = mean, std
        self.channels = len(self.y_index) + 2 * len(self.c_index)
        self._cache: dict = {}

    @property
    def host_c_index(self) -> tuple:
        """Chroma frequencies shipped by :meth:`host` / :meth:`host_window`."""
        return self.c_index

    # -- host ------------------------------------------------------------------------------------
    def host(self, sample: Coefficients) -> dict[str, np.ndarray]:
        """Per image, on the host: what crosses to the device (int16 channels + uint16 tables).

        Takes 4:2:0 :class:`Coefficients` (others are converted with :func:`to_420`, which
        cannot re-encode CMYK/YCCK here: convert those in the dataset, where the file is known).
        """
        if not isinstance(sample, Coefficients):
            raise TypeError(f"{self.kind} format takes Coefficients, got {type(sample).__name__}")
        c, _ = to_420(sample)
        y, cb, cr = c.components
        if 2 * cb.shape[0] != y.shape[0] or 2 * cb.shape[1] != y.shape[1]:
            raise ValueError(f"luma grid {y.shape} is not twice the chroma grid {cb.shape}")
        ci = self.host_c_index
        return {"y": _take(y, self.y_index), "cb": _take(cb, ci), "cr": _take(cr, ci),
                "q": np.stack([y.quant.reshape(64), cb.quant.reshape(64), cr.quant.reshape(64)])}

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
        with :func:`to_420`'s exact map (bit-identical to it). This is the crop pipeline's hot
        path. ``kind``: :func:`sampling_kind` of ``c`` when the caller knows it.
        """
        kind = sampling_kind(c) if kind is None else kind
        sources = _window_sources(c, kind, top, left, rows, cols)
        out = {}
        for (key, f, idx, n, r, k, sign), src in zip(self._gathers(), sources):
            if src is None:  # gray: neutral chroma
                out[key] = np.zeros((n, size * f, size * f), np.int16)
                continue
            g = _window_gather(src, key, idx, n, r, k, top, left, rows, cols, flip)
            if flip:
                g *= sign
            out[key] = _place(g.transpose(2, 0, 1), f, rows, cols, size, pad, flip)
        comps = c.components
        if kind == "420":
            out["q"] = np.concatenate((comps[0].quant, comps[1].quant, comps[2].quant)).reshape(3, 64)
        else:  # converted chroma (and gray's zero chroma) are stored unquantised
            out["q"] = np.concatenate((comps[0].quant, _ONES, _ONES)).reshape(3, 64)
        return out

    def _gathers(self) -> tuple:
        gathers = self._cache.get("gathers")
        if gathers is None:
            ci = self.host_c_index
            gathers = self._cache["gathers"] = tuple(
                (key, f, tuple(idx), len(idx)) + _gather_index(tuple(idx))
                for key, f, idx in (("y", 2, self.y_index), ("cb", 1, ci), ("cr", 1, ci)))
        return gathers

    def batch_bytes(self, crop: int, batch_size: int) -> int:
        """Bytes of one collated crop-pipeline batch at ``crop`` (as the batch ring lays it out)."""
        nc = len(self.host_c_index)
        per = [2 * len(self.y_index) * (crop // 8) ** 2, 2 * nc * (crop // 16) ** 2, 2 * nc * (crop // 16) ** 2,
               2 * 3 * 64]
        return sum(_aligned(batch_size * b) for b in per) + _aligned(8 * batch_size)

    # -- device ----------------------------------------------------------------------------------
    def _stats(self, device: torch.device) -> dict[str, torch.Tensor]:
        """Per device: kept-channel indices and ``1/std``, ``mean/std`` per component."""
        key = str(device)
        if key not in self._cache:
            b: dict[str, torch.Tensor] = {"yi": torch.tensor(self.y_index, device=device),
                                          "ci": torch.tensor(self.host_c_index, device=device),
                                          "c_sel": torch.tensor(self.c_index, device=device)}
            idx = {"y": list(self.y_index), "cb": [64 + i for i in self.c_index],
                   "cr": [128 + i for i in self.c_index]}
            for k, ix in idx.items():
                b[k + "_std"] = torch.tensor(self.std[ix], device=device)
                b[k + "_shift"] = torch.tensor(self.mean[ix] / self.std[ix], device=device).view(1, -1, 1, 1)
            b.update(self._device_extras(device))
            self._cache[key] = b
        return self._cache[key]

    def _device_extras(self, device: torch.device) -> dict[str, torch.Tensor]:
        return {}

    @staticmethod
    def _norm(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``out = x * scale - shift`` (int16 or float ``x``), written into ``out``."""
        out.copy_(x)  # int16 -> float32 (a mixed-dtype out= product is far slower)
        return out.mul_(scale).sub_(shift)

    def device(self, batch: Mapping[str, torch.Tensor]):
        """Model input from a collated crop-pipeline batch, on the batch's device: dequantise and
        normalise as one fused scale (``q / std`` per image and channel) and shift
        (``mean / std``), written into preallocated outputs; then :meth:`_assemble`."""
        y = batch["y"]
        b = self._stats(y.device)
        q = batch["q"].to(device=y.device, dtype=torch.float32)

        def planes(key: str, row: int, index: torch.Tensor) -> torch.Tensor:
            x = batch[key]
            out = torch.empty(x.shape, dtype=torch.float32, device=x.device)
            scale = (q[:, row, index] / b[key + "_std"])[:, :, None, None]
            return self._norm(x, scale, b[key + "_shift"], out)

        return self._assemble(planes("y", 0, b["yi"]), batch, q, planes)

    def from_planes(self, y: torch.Tensor, cb: torch.Tensor, cr: torch.Tensor):
        """Model input from dequantised float planes of all 64 frequencies (the augmented
        pipeline's output): ``y`` ``(N, 64, H/8, W/8)``, ``cb``/``cr`` ``(N, 64, H/16, W/16)``.
        Selects the format's channels, aligns chroma, normalises."""
        b = self._stats(y.device)
        yo = self._norm(y[:, b["yi"]], (1.0 / b["y_std"])[None, :, None, None], b["y_shift"],
                        torch.empty((y.shape[0], len(self.y_index)) + y.shape[2:], device=y.device))
        return self._assemble_planes(yo, cb, cr, b)

    def _assemble(self, yo, batch, q, planes):  # pragma: no cover - abstract
        raise NotImplementedError

    def _assemble_planes(self, yo, cb, cr, b):  # pragma: no cover - abstract
        raise NotImplementedError


class Gueguen(DCTFormat):
    """``gueguen`` -> ``(y (N, Cy, H/8, W/8), cbcr (N, 2 Cc, H/16, W/16))``, normalised.

    ``channels=192`` (the paper's input): all 64 frequencies of each component, ``Cy = 64``,
    ``2 Cc = 128``. A smaller DCTNet subset (24, 32, 48, 64; :mod:`jpegcoef.channels`) keeps only
    its frequencies of each component (DCTNet-24: 16 Y and 4 + 4 chroma): the dropped ones are
    never gathered nor shipped, and the model's first layers are narrower.
    """

    kind = "gueguen"

    def __init__(self, channels: int, mean: np.ndarray, std: np.ndarray, norm: str = "coef") -> None:
        s = SUBSETS[channels]
        super().__init__(s["y"], s["c"], mean, std)
        self.norm = norm

    @property
    def name(self) -> str:
        return "gueguen" if self.channels == 192 else f"gueguen{self.channels}"

    @property
    def options(self) -> dict:
        return {"channels": self.channels, "norm": self.norm}

    def _assemble(self, yo, batch, q, planes):
        b = self._stats(yo.device)
        return yo, torch.cat([planes("cb", 1, b["ci"]), planes("cr", 2, b["ci"])], 1)

    def _assemble_planes(self, yo, cb, cr, b):
        if len(self.c_index) != 64:
            cb, cr = cb[:, b["c_sel"]], cr[:, b["c_sel"]]
        c = torch.cat([cb, cr], 1)
        shift = torch.cat([b["cb_shift"], b["cr_shift"]], 1)
        return yo, self._norm(c, (1.0 / torch.cat([b["cb_std"], b["cr_std"]]))[None, :, None, None], shift,
                              torch.empty(c.shape, device=c.device))


class DCTNet(DCTFormat):
    """``dctnet`` -> ``(N, C, H/8, W/8)`` ordered ``[Y | Cb | Cr]`` (DCTNet's static subsets,
    ``channels=24|32|48|64|192``); chroma brought to the luma grid by ``upsample``
    (``"bilinear"``: the DCT of the 2x bilinearly upsampled chroma plane, DCTNet's
    full-resolution chroma; ``"dct"``: of the 2x pixel-replicated plane; ``"repeat"``: each
    chroma block repeated 2x2; the first two need all 64 chroma frequencies on the device)."""

    kind = "dctnet"

    def __init__(self, channels: int, upsample: str, mean: np.ndarray, std: np.ndarray,
                 norm: str = "coef") -> None:
        s = SUBSETS[channels]
        super().__init__(s["y"], s["c"], mean, std)
        self.upsample = upsample
        self.norm = norm

    @property
    def name(self) -> str:
        return f"dctnet{self.channels}"

    @property
    def options(self) -> dict:
        return {"channels": self.channels, "upsample": self.upsample, "norm": self.norm}

    @property
    def host_c_index(self) -> tuple:
        return self.c_index if self.upsample == "repeat" else tuple(range(64))

    def _device_extras(self, device: torch.device) -> dict[str, torch.Tensor]:
        if self.upsample != "dct":
            return {}
        m = torch.tensor(upsample_matrix(), dtype=torch.float32, device=device)
        # conv weight (64*4, 64, 1, 1) with output channel 4*c + 2*dy + dx (pixel_shuffle order)
        return {"up": m.permute(2, 0, 1, 3).reshape(256, 64, 1, 1)}

    def _out(self, yo: torch.Tensor) -> torch.Tensor:
        out = torch.empty((yo.shape[0], self.channels) + tuple(yo.shape[2:]), dtype=torch.float32, device=yo.device)
        out[:, :yo.shape[1]] = yo
        return out

    def _chroma(self, cbd: torch.Tensor, crd: torch.Tensor, b: dict, out: torch.Tensor, cy: int) -> torch.Tensor:
        """Dequantised chroma (all 64 frequencies for ``"dct"``, the kept ones for ``"repeat"``)
        upsampled, normalised and written after the luma channels of ``out``."""
        cc, n = len(self.c_index), out.shape[0]
        if self.upsample != "repeat":
            both = torch.cat([cbd, crd])
            if self.upsample == "bilinear":  # DCTNet's full-resolution chroma (libjpeg's fancy upsampling)
                up = augment.upsample_chroma(both.contiguous())
            else:
                up = torch.nn.functional.pixel_shuffle(torch.nn.functional.conv2d(both, b["up"]), 2)
            cbu, cru = up[:, b["c_sel"]].chunk(2)
            self._norm(cbu, (1.0 / b["cb_std"])[None, :, None, None], b["cb_shift"], out[:, cy:cy + cc])
            self._norm(cru, (1.0 / b["cr_std"])[None, :, None, None], b["cr_shift"], out[:, cy + cc:])
            return out
        h, w = cbd.shape[2:]
        small = torch.empty((n, 2 * cc, h, w), dtype=torch.float32, device=out.device)
        self._norm(cbd, (1.0 / b["cb_std"])[None, :, None, None], b["cb_shift"], small[:, :cc])
        self._norm(crd, (1.0 / b["cr_std"])[None, :, None, None], b["cr_shift"], small[:, cc:])
        out[:, cy:].view(n, 2 * cc, h, 2, w, 2).copy_(small[:, :, :, None, :, None].expand(n, 2 * cc, h, 2, w, 2))
        return out

    def _assemble(self, yo, batch, q, planes):
        b = self._stats(yo.device)
        ci = b["ci"]
        cbd = batch["cb"].float() * q[:, 1, ci][:, :, None, None]
        crd = batch["cr"].float() * q[:, 2, ci][:, :, None, None]
        return self._chroma(cbd, crd, b, self._out(yo), yo.shape[1])

    def _assemble_planes(self, yo, cb, cr, b):
        if self.upsample == "repeat":
            cb, cr = cb[:, b["c_sel"]], cr[:, b["c_sel"]]
        return self._chroma(cb, cr, b, self._out(yo), yo.shape[1])


def _window_sources(c: Coefficients, kind: str, top: int, left: int, rows: int, cols: int) -> tuple:
    """Per output component (Y, Cb, Cr): ``(component, fy, fx, convert)`` or None (gray chroma):
    its blocks per 4:2:0 block and whether its window must be converted to the 4:2:0 grid."""
    comps = c.components
    if kind == "420":
        return (comps[0], 2, 2, False), (comps[1], 1, 1, False), (comps[2], 1, 1, False)
    if not window_fusable(c) or (top + rows) * 16 > c.height or (left + cols) * 16 > c.width:
        raise ValueError(f"host_window takes 4:2:0 or (a window of whole MCUs of) "
                         f"{sorted(_FUSABLE)}-like layouts, not {kind}; use to_420 first")
    if len(comps) == 1:
        return (comps[0], 2, 2, False), None, None
    hmax, vmax = comps[0].sampling
    return ((comps[0], 2, 2, False),) + tuple(
        (comp, 2 * comp.sampling[1] // vmax, 2 * comp.sampling[0] // hmax, True) for comp in comps[1:])


def _window_gather(src: tuple, key: str, idx: tuple, n: int, r: np.ndarray, k: np.ndarray,
                   top: int, left: int, rows: int, cols: int, flip: bool) -> np.ndarray:
    """int16 ``(h, w, n)``: the kept frequencies of one component's window (converted to the
    4:2:0 grid with :func:`to_420`'s exact map when needed), mirrored when ``flip``."""
    comp, fy, fx, convert = src
    a = comp.coefficients[top * fy:(top + rows) * fy, left * fx:(left + cols) * fx]
    if a.shape[0] != rows * fy or a.shape[1] != cols * fx:
        raise ValueError(f"window {rows}x{cols} MCUs at ({top}, {left}) exceeds the {key} grid {comp.shape}")
    if convert:  # to_420's chroma, only the selected frequencies (exact: same bits)
        g = _to_int16(downsample_exact(a, comp.quant, fy, fx, idx)).reshape(rows, cols, n)
        return g[:, ::-1] if flip else g
    return (a[:, ::-1] if flip else a)[:, :, r, k]  # (h, w, n): one copy


def _place(g: np.ndarray, f: int, rows: int, cols: int, size: int, pad: tuple, flip: bool) -> np.ndarray:
    """A window's channels ``(n, h, w)`` in a ``size x size``-MCU canvas of zero blocks."""
    if rows == size and cols == size:
        return np.ascontiguousarray(g)
    canvas = np.zeros((g.shape[0], size * f, size * f), np.int16)
    y0 = pad[0] * f
    x0 = (size - pad[1] - cols) * f if flip else pad[1] * f
    canvas[:, y0:y0 + rows * f, x0:x0 + cols * f] = g
    return canvas


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


UPSAMPLE = ("bilinear", "dct", "repeat")


def names() -> list[str]:
    """The format names :func:`get` accepts."""
    return ["gueguen", "dctnet", "rgb"]


#: ``norm=`` of the DCT formats (:func:`component_std`)
NORMS = ("coef", "component")


def component_std(std: np.ndarray) -> np.ndarray:
    """One scale per component: each component's 64 per-coefficient stds replaced by their RMS.

    The JPEG DCT is orthonormal, so the RMS over a component's 64 coefficient stds is the
    standard deviation of the component's (level-shifted) pixels. Dividing every coefficient by
    it is the pixel normalisation of an RGB network seen through an orthonormal 8x8 patch
    embedding: the spectrum keeps its natural shape (the high frequencies, mostly quantisation
    noise, stay small), where per-coefficient unit variance (``norm="coef"``) lifts every
    frequency to the same weight.
    """
    s = np.asarray(std, np.float64).reshape(3, 64)
    return np.repeat(np.sqrt((s ** 2).mean(axis=1)), 64).astype(np.float32)


def get(name: str, *, channels: Optional[int] = None, upsample: str = "bilinear",
        stats: Union[None, str, os.PathLike, Mapping] = None, norm: str = "coef",
        **unknown) -> Format:
    """Build a :class:`Format`.

    Args:
        name: ``'gueguen' | 'dctnet' | 'rgb'``.
        channels: DCT formats: 24, 32, 48, 64 or 192 (default 192): DCTNet's static frequency
            subsets (:mod:`jpegcoef.channels`); for ``gueguen`` the kept frequencies of each
            component, Y and chroma on their own grids.
        upsample: ``dctnet`` only: ``'bilinear'`` (default), ``'dct'`` or ``'repeat'`` (module docs).
        stats: DCT formats: a stats JSON path or dict (``jpegcoef stats``); default shipped stats.
        norm: DCT formats: ``'coef'`` (default; each coefficient to zero mean, unit variance)
            or ``'component'`` (zero mean, one scale per component: the natural spectrum,
            :func:`component_std`).
    """
    if unknown:
        raise TypeError(f"unknown format options: {sorted(unknown)}")
    if name == "rgb":
        return RGB()
    if name not in ("gueguen", "dctnet"):
        raise ValueError(f"unknown format {name!r}; choose from {names()}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    mean, std = load_stats(stats)
    if norm == "component":
        std = component_std(std)
    channels = 192 if channels is None else channels
    if channels not in SUBSETS:
        raise ValueError(f"{name} channels must be one of {sorted(SUBSETS)}, got {channels!r}")
    if name == "gueguen":
        if upsample != "bilinear":
            raise ValueError("upsample is a dctnet option (gueguen keeps chroma on its own grid)")
        return Gueguen(channels, mean, std, norm)
    if upsample not in UPSAMPLE:
        raise ValueError(f"upsample must be one of {UPSAMPLE}, got {upsample!r}")
    return DCTNet(channels, upsample, mean, std, norm)
