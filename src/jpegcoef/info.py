"""``jpegcoef info``: a human-readable description of a JPEG's coefficient structure."""

from __future__ import annotations

import warnings

import numpy as np

from .coefficients import Coefficients
from .errors import JpegWarning
from .reader import read

_NAMES = {"ycbcr": ("Y", "Cb", "Cr"), "ycck": ("Y", "Cb", "Cr", "K"), "gray": ("Y",),
          "rgb": ("R", "G", "B"), "cmyk": ("C", "M", "Y", "K")}


def subsampling_name(c: Coefficients) -> str:
    """'4:2:0'-style name for common YCbCr samplings, else the factors ('2x2,1x2,2x1')."""
    factors = ",".join(f"{h}x{v}" for h, v in (x.sampling for x in c.components))
    if len(c.components) >= 3 and all(x.sampling == (1, 1) for x in c.components[1:3]):
        common = {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0", (1, 2): "4:4:0",
                  (4, 1): "4:1:1", (4, 2): "4:1:0"}
        name = common.get(c.components[0].sampling)
        if name:
            return f"{name} ({factors})"
    return factors


def describe(c: Coefficients, name: str = "") -> str:
    """Multi-line text: size, colour space, sampling, coding, blocks, quantisation tables, warnings."""
    coding = ("progressive" if c.progressive else "sequential") + (" arithmetic" if c.arithmetic else " Huffman")
    names = _NAMES.get(c.colorspace, ())
    lines = [f"{name}" if name else "JPEG",
             f"  size:        {c.width}x{c.height} pixels, orientation {c.orientation}",
             f"  colour:      {c.colorspace}, {len(c.components)} component(s)",
             f"  sampling:    {subsampling_name(c)}",
             f"  coding:      {coding}"]
    tables: list = []
    for i, comp in enumerate(c.components):
        label = names[i] if i < len(names) else str(i)
        key = comp.quant.tobytes()
        if key not in tables:
            tables.append(key)
        hb, wb = comp.blocks
        gh, gw = comp.coefficients.shape[:2]
        lines.append(f"  {label:<3} blocks {hb}x{wb} (decoded grid {gh}x{gw}), quant table {tables.index(key)}")
    for t, key in enumerate(tables):
        q = np.frombuffer(key, np.uint16).reshape(8, 8)
        lines.append(f"  quant table {t}:")
        lines.extend("    " + " ".join(f"{int(v):3d}" for v in row) for row in q)
    lines.append("  warnings:    " + ("; ".join(c.warnings) if c.warnings else "none"))
    return "\n".join(lines)


def info(path: str) -> str:
    """Read ``path`` (warnings captured into the text, not issued) and describe it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JpegWarning)
        c = read(path)
    return describe(c, str(path))
