"""``jpegcoef prepare SRC DST``: re-encode an image dataset once for DCT-domain training.

Every image under ``SRC`` (JPEG, PNG, WebP, BMP, TIFF; folder layout kept, suffix ``.jpg``;
hidden files and folders left out) is decoded with Pillow, turned upright by its EXIF
orientation, converted to RGB, resized so its short side is ``short_side`` pixels (up or down,
as torchvision's ``Resize(256)``; Lanczos), and saved as a baseline 4:2:0 JPEG of the given
quality. The training pipeline then needs no conversion and its random crops on the MCU grid
cover the same field of view as the usual ``Resize(256)`` + crop 224.

The settings are recorded in ``DST/.jpegcoef-prepare.json`` (:data:`RECORD`, a hidden file the
data loaders ignore), with the time they were first applied and, at the end, the counts and
the failed files. A rerun with the same settings resumes: a finished file exists under its
final name only (each is written to a temporary name in the same folder and renamed into
place), so files written since the settings were applied are kept; stale temporary files of an
interrupted run are removed. A rerun with other settings (or into a folder of images with no
record) is refused with :class:`SettingsChanged` unless ``overwrite=True``, which re-encodes
every file. Runs in a process pool with a progress bar. Failed files are reported by name and do
not stop the others.

With ``shards=N`` (``--shards N``) the re-encoded files go into WebDataset-style tar shards
instead (:mod:`jpegcoef.shards`): when ``SRC`` has a ``train/`` or ``val/`` folder each of its
subfolders is a split written to ``DST/<split>/<split>-000000.tar`` ..., otherwise ``SRC`` is
one split written to ``DST/<name>-000000.tar`` ...; each split (an ImageFolder: class folders
holding images, or a flat folder) gets ``N`` shards (fewer when it has fewer images), samples
``<class>/<stem>.jpg`` + ``.cls`` (the class index) and a ``classes.txt`` beside the shards.
The images are dealt to the shards in a seeded random order (seed 0), so every shard mixes
the classes, as streaming readers need. The record holds ``shards`` among the settings (another
``N`` is other settings). Resumable per shard: a shard is written under a temporary name and
renamed; a rerun keeps each shard written since the settings were applied that holds exactly
its planned samples.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

import numpy as np
from tqdm import tqdm

from . import shards as _shards

__all__ = ["prepare", "prepare_one", "reencode", "settings", "read_record", "list_images",
           "SettingsChanged", "IMAGE_SUFFIXES", "RECORD"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".tif", ".tiff")
RECORD = ".jpegcoef-prepare.json"
_FORMAT = "jpegcoef-prepare/1"
_TMP_MARK = ".jpegcoef-tmp-"


class SettingsChanged(ValueError):
    """``DST`` holds images made with other (or unrecorded) settings; ``overwrite`` re-encodes."""


def settings(short_side: int = 256, quality: int = 95) -> dict[str, Any]:
    """The settings that determine every output file (what the record compares)."""
    return {"short_side": int(short_side), "quality": int(quality), "subsampling": "4:2:0",
            "resample": "lanczos", "exif_transpose": True}


def read_record(dst: Union[str, os.PathLike]) -> Optional[dict[str, Any]]:
    """The record of a prepared folder (``DST/.jpegcoef-prepare.json``), or None."""
    path = Path(dst) / RECORD
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise SettingsChanged(f"{path}: unreadable record of prepare settings ({e}); "
                              f"use --overwrite to re-encode") from None
    if not isinstance(record, dict) or record.get("format") != _FORMAT:
        raise SettingsChanged(f"{path}: not a record of jpegcoef prepare; use --overwrite to re-encode")
    return record


def _write_record(dst: Path, record: dict[str, Any]) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    tmp = dst / f"{RECORD}{_TMP_MARK}{os.getpid()}"
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, dst / RECORD)


def reencode(src: Union[str, os.PathLike, bytes], short_side: int = 256, quality: int = 95) -> bytes:
    """One image as the prepared JPEG bytes: upright, RGB, short side ``short_side``, 4:2:0."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(src) if isinstance(src, bytes) else src) as im:
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
    buf = io.BytesIO()
    rgb.save(buf, format="JPEG", quality=quality, subsampling=2)
    return buf.getvalue()


def prepare_one(src: Union[str, os.PathLike], dst: Union[str, os.PathLike], short_side: int = 256,
                quality: int = 95, overwrite: bool = False) -> str:
    """Re-encode one image; returns ``'done'`` or ``'exists'`` (raises on a bad image)."""
    dst = Path(dst)
    if dst.exists() and not overwrite:
        return "exists"
    data = reencode(src, short_side, quality)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}{_TMP_MARK}{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()
    return "done"


def _job(args: tuple) -> tuple:
    src, dst, short_side, quality = args
    try:
        return src, prepare_one(src, dst, short_side, quality, overwrite=True), None
    except Exception as e:  # noqa: BLE001 - reported by name
        return src, "failed", f"{type(e).__name__}: {e}"


def list_images(src: Union[str, os.PathLike]) -> list[Path]:
    """Image files under ``src`` by suffix (:data:`IMAGE_SUFFIXES`), sorted, hidden entries
    (a name starting with a dot, e.g. ``.ipynb_checkpoints``) left out."""
    src = Path(src)
    if not src.exists():
        raise FileNotFoundError(f"{src} does not exist")
    if not src.is_dir():
        raise NotADirectoryError(f"{src} is not a directory")
    return [p for p in sorted(src.rglob("*"))
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(src).parts)]


def _since(dst: Path, wanted: dict[str, Any], overwrite: bool, made: str = ".jpg") -> tuple[float, bool]:
    """``(since, redo_all)``: when the settings were first applied to ``dst`` (files written
    before then are from other settings) and whether every file must be re-encoded. ``made``:
    the suffix of the output files (``.tar`` for shards)."""
    record = None if overwrite else read_record(dst)
    if record is not None:
        if record.get("settings") != wanted:
            old = record.get("settings") or {}
            diff = ", ".join(f"{k} {old.get(k)} -> {v}" for k, v in wanted.items() if old.get(k) != v)
            raise SettingsChanged(f"{dst} was prepared with other settings ({diff}); rerun with "
                                  f"--overwrite to re-encode every file, or choose another DST")
        return float(record.get("since", 0.0)), False
    if not overwrite and dst.is_dir() and any(
            p.suffix.lower() == made for p in dst.rglob("*") if not p.name.startswith(".")):
        what = "images" if made == ".jpg" else "shards"
        raise SettingsChanged(f"{dst} already holds {what} but no record of the settings they were "
                              f"made with ({RECORD}); rerun with --overwrite to re-encode them")
    return float(math.floor(time.time())), overwrite


def _plan(src: Path, dst: Path, since: float, redo_all: bool) -> tuple[list, int, dict, int]:
    """``(jobs as (src, out), kept, failed, images)``: what to encode, what is already done."""
    jobs, kept, failed, planned = [], 0, {}, set()
    images = list_images(src)
    for p in images:
        out = (dst / p.relative_to(src)).with_suffix(".jpg")
        if out in planned:
            failed[str(p)] = f"another file already maps to {out}"
            continue
        planned.add(out)
        if not redo_all and out.exists() and out.stat().st_mtime >= since:
            kept += 1
        else:
            jobs.append((str(p), str(out)))
    return jobs, kept, failed, len(images)


def prepare(src: Union[str, os.PathLike], dst: Union[str, os.PathLike], *, short_side: int = 256,
            quality: int = 95, workers: Optional[int] = None, progress: bool = True,
            overwrite: bool = False, shards: Optional[int] = None) -> dict:
    """Re-encode every image under ``src`` into ``dst``; returns counts and failures by name:
    ``{"done", "existing", "failed": {path: error}, "images", "record": path}``.

    ``workers`` processes (default: the CPU count; 0 or 1 runs in this process). ``shards``:
    write each split as that many tar shards (see the module docstring); the result then also
    holds ``"shards"``, the number of shard files of the output.

    Raises:
        FileNotFoundError / NotADirectoryError: ``src`` is missing or not a folder.
        ValueError: bad settings, ``dst`` inside ``src``, or no image under ``src``.
        SettingsChanged: ``dst`` was prepared with other settings (see the module docstring).
    """
    src, dst = Path(src), Path(dst)
    if short_side < 8 or not 1 <= quality <= 100:
        raise ValueError("short_side must be >= 8 and quality in 1..100")
    if not src.exists():
        raise FileNotFoundError(f"{src} does not exist")
    if not src.is_dir():
        raise NotADirectoryError(f"{src} is not a directory")
    if shards is not None and (isinstance(shards, bool) or not isinstance(shards, int) or shards < 1):
        raise ValueError(f"shards must be a positive int, got {shards!r}")
    if dst.resolve() == src.resolve() or src.resolve() in dst.resolve().parents:
        raise ValueError("DST must not be SRC or inside it")
    wanted = settings(short_side, quality)
    if shards is not None:
        wanted["shards"] = shards
        since, redo_all = _since(dst, wanted, overwrite, made=".tar")
        return _prepare_shards(src, dst, wanted, (since, redo_all), workers, progress)
    since, redo_all = _since(dst, wanted, overwrite)
    jobs, existing, failed, images = _plan(src, dst, since, redo_all)
    if not images:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {src}")
    if dst.is_dir():
        for stale in dst.rglob(f".*{_TMP_MARK}*"):
            stale.unlink()
    record = {"format": _FORMAT, "settings": wanted, "since": since, "source": str(src.resolve()),
              "complete": False}
    _write_record(dst, record)
    done = _encode(jobs, short_side, quality, workers, progress, failed)
    _write_record(dst, {**record, "complete": True, "images": images, "written": done,
                        "kept": existing, "failed": failed})
    return {"done": done, "existing": existing, "failed": failed, "images": images,
            "record": str(dst / RECORD)}


def _encode(jobs: list, short_side: int, quality: int, workers: Optional[int], progress: bool,
            failed: dict) -> int:
    """Run the jobs (in a process pool when ``workers`` > 1); failures go into ``failed``."""
    done = 0
    workers = (os.cpu_count() or 1) if workers is None else workers
    work = [(s, o, short_side, quality) for s, o in jobs]
    bar = tqdm(total=len(work), desc="prepare", unit="img", disable=not progress)
    pool = ProcessPoolExecutor(workers) if workers > 1 and len(work) > 1 else None
    results = pool.map(_job, work, chunksize=16) if pool is not None else map(_job, work)
    try:
        for path, status, err in results:
            if status == "failed":
                failed[path] = err
            else:
                done += 1
            bar.update()
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    return done


# ------------------------------------------------------------------------------------------------
# Tar shards
# ------------------------------------------------------------------------------------------------
@contextmanager
def _mapper(workers: Optional[int], jobs: int) -> Iterator[Callable]:
    """``map``-like ``(fn, jobs) -> results in order``: in this process or a process pool."""
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers <= 1 or jobs <= 1:
        yield map
        return
    pool = ProcessPoolExecutor(workers)
    try:
        yield lambda fn, work: pool.map(fn, work, chunksize=16)
    finally:
        pool.shutdown()


def _encode_job(args: tuple) -> tuple:
    src, short_side, quality = args
    try:
        return src, reencode(src, short_side, quality), None
    except Exception as e:  # noqa: BLE001 - reported by name
        return src, None, f"{type(e).__name__}: {e}"


def _splits(src: Path, dst: Path) -> list[tuple[str, Path, Path]]:
    """``(name, source folder, output folder)`` of each split (see the module docstring)."""
    subdirs = sorted(d for d in src.iterdir() if d.is_dir() and not d.name.startswith("."))
    if any(d.name in ("train", "val") for d in subdirs):
        return [(d.name, d, dst / d.name) for d in subdirs]
    return [(src.resolve().name, src, dst)]


def _split_items(split: Path, failed: dict) -> tuple[list[tuple], list[str], int]:
    """``([(source path, key, label or None)], classes, images)`` of one split, as the
    ImageFolder scan sees it (class folders sorted, hidden entries left out, their images
    recursively, sorted); images outside the class folders and files whose keys collide are
    reported in ``failed``."""
    classes = sorted(d.name for d in split.iterdir() if d.is_dir() and not d.name.startswith("."))
    index = {name: i for i, name in enumerate(classes)}
    images = list_images(split)
    items, keys = [], set()
    for p in sorted(images, key=lambda p: (index.get(p.relative_to(split).parts[0], -1), p)):
        rel = p.relative_to(split)
        if classes and len(rel.parts) == 1:
            failed[str(p)] = "an image beside the class folders (in no class)"
            continue
        key = _shards.sample_key(rel)
        if key in keys:
            failed[str(p)] = f"another file already maps to the shard key {key!r}"
            continue
        keys.add(key)
        items.append((p, key, index[rel.parts[0]] if classes else None))
    return items, classes, len(images)


def _plan_shards(name: str, out: Path, items: list, n: int, overwrite: bool) -> list[tuple[Path, list]]:
    """``[(shard path, its items)]``: ``items`` in a seeded random order, cut in ``n`` (at most
    one shard per item). Shards of another plan in the output folder are refused, or removed
    with ``overwrite``."""
    order = np.random.default_rng(0).permutation(len(items))
    plan = [(out / f"{name}-{k:06d}.tar", [items[i] for i in idx])
            for k, idx in enumerate(np.array_split(order, min(n, len(items))) if items else [])]
    extra = sorted(set(out.glob(f"{name}-*.tar")) - {p for p, _ in plan}) if out.is_dir() else []
    if extra and not overwrite:
        raise ValueError(f"{extra[0]} is not one of the {len(plan)} planned shards of {name!r} (the source "
                         "changed?): rerun with --overwrite to replace the shards, or remove the old ones")
    for p in extra:
        p.unlink()
    return plan


def _holds(path: Path, items: list, since: float) -> bool:
    """Whether an existing shard, written since ``since``, holds exactly the planned samples
    (in order), undamaged."""
    try:
        if path.stat().st_mtime < since:
            return False
        e = _shards.index_shard(path)
    except OSError:
        return False
    want = [f"{key}.jpg".encode("utf-8", "surrogateescape") for _, key, _ in items]
    return not e.errors and e.names.tolist() == want


def _shard_plans(src: Path, dst: Path, n: int, since: float, redo_all: bool,
                 failed: dict) -> tuple[list, list, int, int]:
    """``(todo [(shard, items)], splits [(out, classes, shard count)], kept samples, images)``."""
    todo, splits, kept, images = [], [], 0, 0
    for name, folder, out in _splits(src, dst):
        items, classes, count = _split_items(folder, failed)
        images += count
        plan = _plan_shards(name, out, items, n, redo_all)
        for path, part in plan:
            if not redo_all and _holds(path, part, since):
                kept += len(part)
            else:
                todo.append((path, part))
        splits.append((out, classes, len(plan)))
    return todo, splits, kept, images


def _prepare_shards(src: Path, dst: Path, wanted: dict[str, Any], since_redo: tuple[float, bool],
                    workers: Optional[int], progress: bool) -> dict:
    """:func:`prepare` with ``shards=N`` (``wanted["shards"]``), under the same settings record."""
    since, redo_all = since_redo
    failed: dict[str, str] = {}
    todo, splits, existing, images = _shard_plans(src, dst, wanted["shards"], since, redo_all, failed)
    if not images:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {src}")
    if dst.is_dir():
        for stale in dst.rglob(f".*{_TMP_MARK}*"):
            stale.unlink()
    record = {"format": _FORMAT, "settings": wanted, "since": since, "source": str(src.resolve()),
              "complete": False}
    _write_record(dst, record)
    jobs = [(str(p), wanted["short_side"], wanted["quality"]) for _, part in todo for p, _, _ in part]
    done = 0
    with tqdm(total=len(jobs), desc="prepare", unit="img", disable=not progress) as bar, \
            _mapper(workers, len(jobs)) as run:
        results = run(_encode_job, jobs)
        for path, part in todo:
            done += _shards.write_shard(path, _samples(part, itertools.islice(results, len(part)), failed, bar))
    for out, classes, count in splits:
        if classes and count:
            _write_text(out / _shards.CLASSES_FILE, "".join(c + "\n" for c in classes))
    count = sum(c for _, _, c in splits)
    _write_record(dst, {**record, "complete": True, "images": images, "written": done,
                        "kept": existing, "failed": failed, "shards": count})
    return {"done": done, "existing": existing, "failed": failed, "images": images,
            "record": str(dst / RECORD), "shards": count}


def _samples(part: list, results: Iterator, failed: dict, bar: Any) -> Iterator[tuple]:
    """``(key, bytes, label)`` of a shard's encoded images; failures go to ``failed``."""
    for (_, key, label), (path, data, err) in zip(part, results):
        bar.update()
        if err is not None:
            failed[path] = err
            continue
        yield key, data, label


def _write_text(path: Path, text: str) -> None:
    """Write a small text file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{_TMP_MARK}{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
