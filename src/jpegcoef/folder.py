"""Folders of JPEG files (or tar shards) as datasets: the ImageFolder scan and
:class:`JpegFolder`, which turns one file into the host-side arrays of a sample
(``(host_dict or None, label, meta)``). Tar shards (:mod:`jpegcoef.shards`) are read by offset:
their samples are named ``"<shard>:<member>"`` wherever a file would be named by its path."""
from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from .formats import RGB, Format, get as get_format
from . import pipelines, shards
from .ring import collate
from .stats import JPEG_SUFFIXES

__all__ = ["JpegFolder", "SampleError"]


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
#: Other image files Pillow reads: decoded on the fly by the RGB baseline; the DCT formats need
#: JPEG files and refuse them, pointing at ``jpegcoef prepare`` (which converts them).
OTHER_IMAGES = (".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm")


def _visible_files(folder: Path) -> list[Path]:
    """Files under ``folder``, sorted, hidden entries (any path part starting with '.', such as
    ``.ipynb_checkpoints``) left out."""
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _images(folder: Path, pixels: bool) -> tuple[list[Path], list[Path]]:
    """``(usable, refused)`` image files of ``folder``: JPEGs (and, for the RGB baseline
    (``pixels``), other images Pillow reads); non-JPEG images refused for the DCT formats."""
    usable, refused = [], []
    for p in _visible_files(folder):
        suffix = p.suffix.lower()
        if suffix in JPEG_SUFFIXES or (pixels and suffix in OTHER_IMAGES):
            usable.append(p)
        elif suffix in OTHER_IMAGES:
            refused.append(p)
    return usable, refused


def _names(items: Sequence[str]) -> str:
    return f"{', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"


def _check_classes(where: Any, found: Sequence[str], classes: Sequence[str], noun: str, lacking: str) -> None:
    """A class found that ``classes`` lacks is an error naming it; a class of ``classes`` not
    found is a warning (torchvision's ImageFolder semantics for a split)."""
    extra = [c for c in found if c not in classes]
    if extra:
        raise ValueError(f"{where}: {noun} not among the {len(classes)} classes given (the training "
                         f"split's): {_names(sorted(extra))}")
    missing = [c for c in classes if c not in found]
    if missing:
        warnings.warn(f"{where}: {lacking} {len(missing)} of the {len(classes)} classes: {_names(missing)}",
                      stacklevel=4)


def _refuse_non_jpeg(root: Path, refused: Sequence[Path]) -> None:
    """The DCT formats' answer to non-JPEG images (PNG, WebP...): convert them first."""
    if refused:
        raise ValueError(f"{root}: {len(refused)} non-JPEG image(s) (first: {refused[0]}): the DCT formats read "
                         f"JPEG files; convert the folder with `jpegcoef prepare SRC DST`")


def _list_file(root: Path) -> tuple[list[str], list[int], list[str]]:
    """A text list: ``path [label]`` per line, paths relative to the list file."""
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


def _image_folder(root: Path, classes: Optional[Sequence[str]], pixels: bool) -> tuple[list[str], list[int], list[str]]:
    """ImageFolder semantics as torchvision's: class folders (hidden ones ignored), one class
    list (``classes``, e.g. the training split's, or the sorted folder names) for every split;
    a folder that is not in ``classes`` is an error, a class without a folder a warning."""
    found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if classes is None:
        classes = found
    classes = list(classes)
    _check_classes(root, found, classes, "class folder(s)", "no folder for")
    paths, labels, refused = [], [], []
    for i, name in enumerate(classes):
        if name not in found:
            continue
        usable, bad = _images(root / name, pixels)
        paths += [str(p) for p in usable]
        labels += [i] * len(usable)
        refused += bad
    _refuse_non_jpeg(root, refused)
    return paths, labels, classes


def _scan(root_or_files: Any, classes: Optional[Sequence[str]] = None,
          pixels: bool = False) -> tuple[list[str], list[int], list[str]]:
    """``(paths, labels, classes)`` from a directory (ImageFolder, or flat), a list file or a
    Python list of paths / ``(path, label)`` pairs."""
    if isinstance(root_or_files, (str, os.PathLike)):
        root = Path(root_or_files)
        if root.is_file():
            return _list_file(root)
        if not root.exists():
            raise FileNotFoundError(f"{root} does not exist")
        if not root.is_dir():
            raise FileNotFoundError(f"{root} is neither a directory nor a file list")
        if classes is not None or any(d.is_dir() and not d.name.startswith(".") for d in root.iterdir()):
            return _image_folder(root, classes, pixels)
        usable, refused = _images(root, pixels)
        _refuse_non_jpeg(root, refused)
        return [str(p) for p in usable], [-1] * len(usable), []
    paths, labels = [], []
    for item in root_or_files:
        if isinstance(item, (tuple, list)):
            paths.append(str(item[0]))
            labels.append(int(item[1]))
        else:
            paths.append(str(item))
            labels.append(-1)
    return paths, labels, []


def _relabel(index: shards.ShardIndex, classes: Sequence[str], where: Any) -> tuple[Any, list[str]]:
    """The shards' labels mapped by name onto ``classes`` (as :func:`_image_folder` does for
    folders): a shard class not in ``classes`` is an error naming it, a class of ``classes``
    the shards lack a warning. Shards without a class list keep their labels."""
    own, classes = list(index.classes), list(classes)
    if not own or own == classes:
        if len(index.labels) and int(index.labels.max()) >= len(classes):
            raise ValueError(f"{where}: shard label {int(index.labels.max())} with {len(classes)} classes given "
                             f"and no {shards.CLASSES_FILE} to map the labels by name")
        return index.labels, classes
    _check_classes(where, own, classes, "shard class(es)", "the shards have no class for")
    lut = np.array([-1] + [classes.index(c) for c in own], np.int64)
    return lut[index.labels + 1], classes


def _shard_samples(root: Any, classes: Optional[Sequence[str]],
                   on_error: str) -> tuple[shards.ShardIndex, Any, list[str]]:
    """``(index, labels, classes)`` of tar shards (labels relabelled onto ``classes``)."""
    index = shards.ShardIndex(root, on_error)
    if classes is None:
        return index, index.labels, list(index.classes)
    labels, classes = _relabel(index, classes, root)
    return index, labels, classes


# ------------------------------------------------------------------------------------------------
# Dataset
# ------------------------------------------------------------------------------------------------
class JpegFolder(Dataset):
    """JPEG files as model-input samples for a :class:`~jpegcoef.formats.Format`.

    Args:
        root: a directory (ImageFolder layout, or flat), a list file, or a list of paths /
            ``(path, label)`` pairs; or WebDataset-style tar shards: a brace pattern
            (``train-{000000..000099}.tar``), a glob, a ``.tar`` file, a directory of ``*.tar``
            or a list of shard paths (:mod:`jpegcoef.shards`). Unlabelled files get label -1.
        format: a :class:`Format` or a name for :func:`jpegcoef.formats.get`.
        train: random crop + flip (True) or centre crop (False).
        crop: output size in pixels (a multiple of 16 for DCT formats).
        on_error: ``'raise'`` or ``'skip'`` (see the module docstring).
        augment: ``'rrc'`` (default: DCT-domain RandomResizedCrop + flip for training, resize +
            centre crop for evaluation), ``'crop'`` (lossless MCU-grid crop + flip) or
            ``'rgb-reencode'`` (DCT formats only); see :mod:`jpegcoef.pipelines`.
        reencode_quality: JPEG quality of the in-memory re-encode.
        jitter: ColorJitter strengths ``(brightness, contrast, saturation, hue)`` (``'rrc'``).
        classes: the class list (e.g. ``train_dataset.classes``) for an ImageFolder root, as
            torchvision's: labels index it; a folder not in it is an error, a class without a
            folder a warning (shard labels are mapped onto it by the shards' class names).
            Default: the root's sorted class folders. Hidden entries (names
            starting with '.') are ignored; non-JPEG images are decoded by the ``rgb`` format and
            refused by the DCT formats (convert them with ``jpegcoef prepare``).
        **format_options: passed to :func:`jpegcoef.formats.get` when ``format`` is a name.

    Items: ``dataset[i]`` or ``dataset[(i, seed)]`` -> ``(host_dict or None, label, meta)``.
    """

    def __init__(self, root: Any, format: Union[str, Format] = "dctnet", *, train: bool = True,
                 crop: int = 224, on_error: str = "raise", augment: Optional[str] = None,
                 reencode_quality: int = 95, jitter: Optional[Sequence[float]] = None,
                 classes: Optional[Sequence[str]] = None, **format_options):
        self.format = format if isinstance(format, Format) else get_format(format, **format_options)
        if isinstance(format, Format) and format_options:
            raise TypeError("format options given with a Format instance")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if not isinstance(crop, int) or crop <= 0:
            raise ValueError(f"crop must be a positive int, got {crop!r}")
        self.pipeline = pipelines.make(self.format, crop, train, augment, reencode_quality=reencode_quality,
                                       jitter=jitter)
        self.shards: Optional[shards.ShardIndex] = None
        if shards.is_shards(root):  # sample names, labels, classes from the shards' index
            self.shards, self.labels, self.classes = _shard_samples(root, classes, on_error)
            self.paths = self.shards
        else:
            self.paths, self.labels, self.classes = _scan(root, classes, pixels=isinstance(self.format, RGB))
        if not len(self.paths):
            what = "files found in" if self.shards is None else "samples in the shards"
            raise ValueError(f"no JPEG {what} {root!r}")
        self.root = root
        self.train, self.crop, self.on_error = train, crop, on_error
        self.augment = self.pipeline.name
        self.skipped: dict[str, str] = dict(self.shards.skipped) if self.shards is not None else {}
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

    def load(self, index: int, seed: Optional[int] = None) -> tuple:
        """``(host_dict or None, label, meta)`` for one file; ``seed`` drives the augmentation."""
        path, label = self.paths[index], int(self.labels[index])
        meta: dict = {"path": path, "kind": None, "error": None, "warnings": 0}
        try:
            source = path if self.shards is None else self.shards.read(index)
            host = self.pipeline.host(source, seed, meta)
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


