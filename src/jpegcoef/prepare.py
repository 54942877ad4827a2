"""``jpegcoef prepare SRC DST``: re-encode an image dataset once for DCT-domain training.

Every image under ``SRC`` (JPEG, PNG, WebP, BMP, TIFF; folder layout kept, suffix ``.jpg``) is
decoded with Pillow, turned upright by its EXIF orientation, converted to RGB, resized so its
short side is ``short_side`` pixels (up or down, as torchvision's ``Resize(256)``; Lanczos), and
saved as a baseline 4:2:0 JPEG of the given quality. The training pipeline then needs no
conversion and its random crops on the MCU grid cover the same field of view as the usual
``Resize(256)`` + crop 224.

Runs in a process pool with a progress bar. Resumable: a finished file exists under its final
name only (each is written to a temporary name in the same folder and renamed into place), so a
rerun skips it; stale temporary files of an interrupted run are removed. Failed files are
reported by name and do not stop the others.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Optional, Union

from tqdm import tqdm

__all__ = ["prepare", "prepare_one", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".tif", ".tiff")
_TMP_MARK = ".jpegcoef-tmp-"


def prepare_one(src: Union[str, os.PathLike], dst: Union[str, os.PathLike], short_side: int = 256,
                quality: int = 95) -> str:
    """Re-encode one image; returns ``'done'`` or ``'exists'`` (raises on a bad image)."""
    from PIL import Image, ImageOps

    dst = Path(dst)
    if dst.exists():
        return "exists"
    with Image.open(src) as im:
        if im.format == "JPEG":  # let libjpeg decode at a reduced scale when that still covers the target
            w, h = im.size
            s = short_side / min(w, h)
            if s < 1:
                im.draft("RGB", (max(1, int(w * s)), max(1, int(h * s))))
        im = ImageOps.exif_transpose(im)
        rgb = im.convert("RGB")
    w, h = rgb.size
    s = short_side / min(w, h)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    if size != rgb.size:
        rgb = rgb.resize(size, Image.LANCZOS, reducing_gap=3.0)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}{_TMP_MARK}{os.getpid()}")
    try:
        rgb.save(tmp, format="JPEG", quality=quality, subsampling=2)
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()
    return "done"


def _job(args: tuple) -> tuple:
    src, dst, short_side, quality = args
    try:
        return src, prepare_one(src, dst, short_side, quality), None
    except Exception as e:  # noqa: BLE001 - reported by name
        return src, "failed", f"{type(e).__name__}: {e}"


def prepare(src: Union[str, os.PathLike], dst: Union[str, os.PathLike], *, short_side: int = 256,
            quality: int = 95, workers: Optional[int] = None, progress: bool = True) -> dict:
    """Re-encode every image under ``src`` into ``dst``; returns counts and failures by name.

    ``workers`` processes (default: the CPU count; 0 or 1 runs in this process).
    """
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise NotADirectoryError(f"{src} is not a directory")
    if short_side < 8 or not 1 <= quality <= 100:
        raise ValueError("short_side must be >= 8 and quality in 1..100")
    if dst.resolve() == src.resolve() or src.resolve() in dst.resolve().parents:
        raise ValueError("DST must not be SRC or inside it")
    if dst.is_dir():
        for stale in dst.rglob(f".*{_TMP_MARK}*"):
            stale.unlink()
    jobs = []
    existing = 0
    failed: dict[str, str] = {}
    planned: set = set()
    for p in sorted(src.rglob("*")):
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            out = (dst / p.relative_to(src)).with_suffix(".jpg")
            if out in planned:
                failed[str(p)] = f"another file already maps to {out}"
                continue
            planned.add(out)
            if out.exists():
                existing += 1
            else:
                jobs.append((str(p), str(out), short_side, quality))
    done = 0
    workers = (os.cpu_count() or 1) if workers is None else workers
    bar = tqdm(total=len(jobs), desc="prepare", unit="img", disable=not progress)
    if workers <= 1:
        results = map(_job, jobs)
        pool = None
    else:
        pool = ProcessPoolExecutor(workers)
        results = pool.map(_job, jobs, chunksize=16)
    try:
        for path, status, err in results:
            if status == "failed":
                failed[path] = err
            elif status == "done":
                done += 1
            else:
                existing += 1
            bar.update()
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    return {"done": done, "existing": existing, "failed": failed}
