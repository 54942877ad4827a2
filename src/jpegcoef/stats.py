"""``jpegcoef stats DIR``: per-channel mean/std of dequantised DCT coefficients.

Streams over the files once (running sums in float64, so memory does not grow with the data) and
writes a JSON that :func:`jpegcoef.formats.get` accepts as ``stats=``::

    {"format": "jpegcoef-stats-v1", "order": "[Y 0-63 | Cb 64-127 | Cr 128-191], natural 8*row+col",
     "mean": [192 floats], "std": [192 floats], "blocks": [Y, Cb, Cr block counts],
     "images": N, "kinds": {"420": n, "444": n, ...}, "skipped": {path: error},
     "warned": {path: libjpeg's warnings}}

Files libjpeg reads with warnings (truncated or corrupt data it recovers from) are counted and
listed under ``"warned"``; files it cannot read are left out and listed under ``"skipped"``.

Every file is first brought to 4:2:0 YCbCr by :func:`jpegcoef.convert.to_420` (what the models
see); only the true blocks of each component count (not the padding of partial MCUs).
"""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

import numpy as np
from tqdm import tqdm

from .convert import to_420
from .errors import JpegWarning

__all__ = ["compute", "RunningStats", "list_jpegs"]

JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")


def _hidden(path: Path, root: Path) -> bool:
    """Whether any part of ``path`` below ``root`` starts with a dot (``.ipynb_checkpoints``)."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def list_jpegs(root: Union[str, os.PathLike]) -> list[Path]:
    """All JPEG files under ``root`` (recursive, sorted, by suffix, case-insensitive); hidden
    files and folders (names starting with a dot) are left out.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        NotADirectoryError: ``root`` is not a directory.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    return sorted(p for p in root.rglob("*")
                  if p.suffix.lower() in JPEG_SUFFIXES and p.is_file() and not _hidden(p, root))


class RunningStats:
    """Streaming per-channel sums for the 3 x 64 DCT channels."""

    def __init__(self) -> None:
        self.sum = np.zeros((3, 64))
        self.sumsq = np.zeros((3, 64))
        self.count = np.zeros(3, np.int64)

    def add(self, c) -> None:
        """Add one 4:2:0 :class:`~jpegcoef.Coefficients` (true blocks only)."""
        for i, comp in enumerate(c.components[:3]):
            hb, wb = comp.blocks
            x = comp.dequantize()[:hb, :wb].reshape(-1, 64).astype(np.float64)
            self.sum[i] += x.sum(0)
            self.sumsq[i] += np.square(x).sum(0)
            self.count[i] += x.shape[0]

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` of 192 channels ``[Y | Cb | Cr]``."""
        if np.any(self.count == 0):
            raise ValueError("no blocks were added")
        n = self.count[:, None].astype(np.float64)
        mean = self.sum / n
        var = np.maximum(self.sumsq / n - mean**2, 0.0)
        return mean.reshape(192), np.sqrt(var).reshape(192)


def compute(files: Iterable[Union[str, os.PathLike]], *, read: Optional[Callable] = None,
            on_error: str = "skip", progress: bool = True, min_std: float = 1e-3) -> dict:
    """Statistics over ``files`` as a JSON-ready dict (see the module docstring).

    ``on_error="skip"`` records unreadable files by name under ``"skipped"``; ``"raise"`` stops.
    Channels that never vary (std below ``min_std``) get std ``min_std`` so normalising is safe.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if read is None:
        from .reader import read
    files = [Path(f) for f in files]
    if not files:
        raise ValueError("no files to compute statistics over")
    acc = RunningStats()
    kinds: Counter = Counter()
    skipped: dict[str, str] = {}
    warned: dict[str, str] = {}
    with warnings.catch_warnings():  # recoverable damage is recorded per file (below), not issued
        warnings.simplefilter("ignore", JpegWarning)
        for f in tqdm(files, desc="stats", unit="img", disable=not progress):
            try:
                raw = read(f)
                c, kind = to_420(raw, src=f)
            except Exception as e:  # noqa: BLE001 - reported by name below
                if on_error == "raise":
                    raise
                skipped[str(f)] = f"{type(e).__name__}: {e}"
                continue
            if getattr(raw, "warnings", None):
                warned[str(f)] = "; ".join(raw.warnings)
            kinds[kind] += 1
            acc.add(c)
    if not kinds:
        first = next(iter(skipped.items()))
        raise ValueError(f"none of the {len(files)} files could be read (first: {first[0]}: {first[1]})")
    mean, std = acc.result()
    std = np.maximum(std, min_std)
    return {
        "format": "jpegcoef-stats-v1",
        "order": "[Y 0-63 | Cb 64-127 | Cr 128-191], frequency index 8*row+col, dequantised, 4:2:0",
        "mean": [round(float(v), 4) for v in mean],
        "std": [round(float(v), 4) for v in std],
        "blocks": [int(v) for v in acc.count],
        "images": int(sum(kinds.values())),
        "kinds": dict(sorted(kinds.items())),
        "skipped": skipped,
        "warned": warned,
    }


def main(directory: str, output: Optional[str] = None, limit: Optional[int] = None,
         on_error: str = "skip", progress: bool = True) -> dict:
    """The ``jpegcoef stats`` command: compute over ``directory`` and write JSON (stdout if no output).

    Raises ``FileNotFoundError`` / ``NotADirectoryError`` for a bad ``directory`` or a folder
    of ``output`` that is missing (checked before the files are read), ``IsADirectoryError``
    when ``output`` is a folder, ``OSError`` naming ``output`` when it cannot be written, and
    ``ValueError`` when ``directory`` holds no JPEG file or none could be read."""
    files = list_jpegs(directory)
    if not files:
        raise ValueError(f"no JPEG files ({', '.join(JPEG_SUFFIXES)}) under {directory}")
    if output:
        _check_output(Path(output))
    if limit:
        files = files[:limit]
    result = compute(files, on_error=on_error, progress=progress)
    text = json.dumps(result, indent=1)
    if output:
        _write_atomic(Path(output), text)
    else:
        print(text)
    return result


def _check_output(output: Path) -> None:
    """Errors naming ``output`` (the user's path) for a file that could never be written there."""
    parent = output.parent
    if output.is_dir():
        raise IsADirectoryError(f"{output} is a directory (give a file name for the JSON)")
    if not parent.exists():
        raise FileNotFoundError(f"{output}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise NotADirectoryError(f"{output}: {parent} is not a directory")


def _write_atomic(output: Path, text: str) -> None:
    """``text`` into ``output`` through a temporary file beside it; an ``OSError`` names
    ``output``, not the temporary file, and leaves no temporary file behind."""
    tmp = Path(str(output) + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, output)
    except OSError as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise type(e)(e.errno, e.strerror or str(e), str(output)) from None
