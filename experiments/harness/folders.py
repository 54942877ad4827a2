"""The dataset folder of ``--data``, checked before any training, and its class map.

- :func:`check_root`: ``--data`` exists and holds ``train/`` and ``val/`` (one-line errors),
  each an ImageFolder or a folder of tar shards (``jpegcoef prepare --shards N``).
- :func:`class_names`: the class folders of ``train/`` (hidden ones such as
  ``.ipynb_checkpoints`` left out), at least two, none empty; for a folder of tar shards, the
  shards' class list (``classes.txt``).
- :func:`align_labels`: every split is labelled with train's class list, by name: a split with a
  class train lacks is an error naming it, one that lacks some of train's classes gets a
  warning. (Until ``jpegcoef.data`` builds every split from one class list, a split scanned on
  its own numbers its classes by its own sorted list, which would shift the labels.)
- :func:`check_loaded`: every class has files the loader reads; at least one training batch.
- :func:`check_readable`: a split of which no file can be read is an error naming files and
  their errors (checked before training: it reads files only until the first that loads).
- :func:`check_output_dir`: ``--results-dir`` / ``--checkpoint-dir`` / ``--run-dir`` can be
  written (checked before training, so that a result is not lost after it).
- :func:`sample_error`: ``--on-error raise``'s stop at an unreadable file, as one line.
- :func:`prepared_settings`: ``jpegcoef prepare``'s record of the images, if any.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from jpegcoef import shards
from jpegcoef.console import UsageError, UserError, print_warning, skipped_summary
from jpegcoef.prepare import IMAGE_SUFFIXES, read_record

#: What a split's images are called in messages.
SPLIT_WORDS = {"train": "training", "val": "validation", "holdout": "held-out training"}

PROG = "run.py"


def check_root(root: Path, splits: tuple[str, ...] = ("train", "val")) -> Path:
    """``root`` if it is a folder with the ``splits`` subfolders, else a :class:`UserError`."""
    if not root.exists():
        raise UserError(f"--data {root} does not exist")
    if not root.is_dir():
        raise UserError(f"--data {root} is not a directory")
    missing = [s for s in splits if not (root / s).is_dir()]
    if missing:
        raise UserError(f"--data {root}: no {' or '.join(s + '/' for s in missing)} folder (expected an "
                        f"ImageFolder root: {'/, '.join(splits)}/, each with one folder per class, "
                        f"or a folder of tar shards from 'jpegcoef prepare --shards N')")
    return root


def _visible(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if not p.name.startswith("."))


def _has_image(folder: Path) -> bool:
    """Whether ``folder`` holds an image file (by suffix, hidden entries left out); stops at
    the first one, so a class of a million files costs one directory read."""
    return any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
               and not any(part.startswith(".") for part in p.relative_to(folder).parts)
               for p in folder.rglob("*"))


def shard_class_names(split: Path) -> list[str]:
    """The class list of a folder of tar shards (``classes.txt`` beside them or as a member); a
    :class:`UserError` for fewer than two classes or unreadable shards."""
    try:
        classes = list(shards.ShardIndex(split, on_error="skip").classes)
    except (OSError, ValueError) as e:
        raise UserError(f"{split}: {e}") from None
    if len(classes) < 2:
        raise UserError(f"{split}: need at least 2 classes in the shards' {shards.CLASSES_FILE}, "
                        f"found {len(classes)}")
    return classes


def class_names(split: Path) -> list[str]:
    """Sorted class folder names of ``split`` (hidden ones left out), or the class list of a
    folder of tar shards; a :class:`UserError` for fewer than two classes or a class folder
    without any image file."""
    try:
        sharded = shards.is_shards(split)
    except ValueError as e:  # tar shards beside class folders
        raise UserError(str(e)) from None
    if sharded:
        return shard_class_names(split)
    classes = [p.name for p in _visible(split) if p.is_dir()]
    if len(classes) < 2:
        raise UserError(f"{split}: need at least 2 class folders, found {len(classes)}")
    empty = [c for c in classes if not _has_image(split / c)]
    if empty:
        raise UserError(f"{split}: {len(empty)} class folder(s) without images: "
                        f"{', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''}")
    return classes


def align_labels(dataset: Any, classes: list[str], split: Path) -> None:
    """Relabel ``dataset`` (``.classes``, ``.labels``) by name onto ``classes`` (train's)."""
    own = list(getattr(dataset, "classes", []) or [])
    if not own or own == classes:
        return
    extra = [c for c in own if c not in classes]
    if extra:
        raise UserError(f"{split}: class folder(s) that train/ does not have: {', '.join(extra[:5])}"
                        f"{' ...' if len(extra) > 5 else ''}")
    missing = [c for c in classes if c not in own]
    if missing:
        print_warning(PROG, f"{split}: no folder for {len(missing)} of train's classes "
                            f"({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}): "
                            f"those classes are never the answer there")
    index = {name: classes.index(name) for name in own}
    dataset.labels = [index[own[lab]] if lab >= 0 else lab for lab in dataset.labels]
    dataset.classes = list(classes)


def check_loaded(dataset: Any, classes: list[str], split: Path) -> None:
    """A :class:`UserError` naming classes the loader finds no file of (e.g. PNG only)."""
    labels = getattr(dataset, "labels", None)
    if labels is None:
        return
    seen = set(labels)
    unread = [c for i, c in enumerate(classes) if i not in seen]
    if unread:
        raise UserError(f"{split}: no file the loader reads in class folder(s) {', '.join(unread[:5])} "
                        f"(JPEG files only: convert other images with 'jpegcoef prepare')")


def check_batches(images: int, batch_size: int, world_size: int, split: Path,
                  unreadable: Optional[Callable[[], Optional[Mapping[str, str]]]] = None) -> None:
    """A :class:`UsageError` when the training split fills no whole batch (the last partial
    batch is dropped in training). ``unreadable``: called then, ``{file: error}`` when no file
    of the split can be read (None otherwise): that is said instead (a :class:`UserError`),
    since no batch size would help."""
    need = batch_size * world_size
    if images < need:
        errors = unreadable() if unreadable is not None else None
        if errors:
            raise no_images(split, errors, images, "train")
        hint = f"--batch-size {max(1, images // world_size)} or less"
        raise UsageError(f"{split}: {images} images, fewer than one batch of {need}"
                         f"{f' ({world_size} processes x {batch_size})' if world_size > 1 else ''}; "
                         f"use {hint}")


def no_images(split: Path, errors: Mapping[str, str], total: int, kind: str = "train") -> UserError:
    """The :class:`UserError` for a split (``kind``: train, val, holdout) of which no file can be
    read: ``'DIR: no training image could be read: 9 of 9 files skipped: a.jpg (...), ...'``."""
    what = SPLIT_WORDS.get(kind, kind)
    # Pillow's "cannot identify image file 'PATH'": the file is named once, before its error
    summary = skipped_summary({p: str(e).replace(f" '{p}'", "") for p, e in errors.items()}, total)
    return UserError(f"{split}: no {what} image could be read{': ' + summary if summary else ''}")


def unreadable(dataset: Any) -> Optional[dict[str, str]]:
    """``{file: error}`` of every file of ``dataset`` (a :class:`~jpegcoef.folder.JpegFolder`)
    when none of them loads, else None. Files are read in order only until the first that loads
    (one read for a sound split); nothing is recorded on ``dataset``. With ``on_error="raise"``
    the first unreadable file raises its :class:`~jpegcoef.folder.SampleError`."""
    from jpegcoef.errors import JpegWarning  # noqa: PLC0415

    errors: dict[str, str] = {}
    with warnings.catch_warnings():  # a damaged file read with warnings is read: not reported here
        warnings.simplefilter("ignore", JpegWarning)
        for i in range(len(dataset)):
            host, _, meta = dataset.load(i)
            if host is not None:
                return None
            errors[str(meta.get("path"))] = str(meta.get("error"))
    return errors


def check_readable(dataset: Any, split: Path, kind: str) -> None:
    """A :class:`UserError` (:func:`no_images`) when no file of ``dataset`` can be read: before
    training, so an unreadable training or validation split does not cost a run."""
    errors = unreadable(dataset)
    if errors:
        raise no_images(split, errors, len(dataset), kind)


def check_output_dir(path: Path, flag: str) -> None:
    """A :class:`UserError` naming ``flag`` unless ``path`` is a folder this process can write
    in, or one it can make (its nearest existing parent is a writable folder)."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file, not a directory")
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{flag} {path}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == path else f" ({existing}, where it would be made)"
        raise UserError(f"{flag} {path}: not writable{where}")


def sample_error(exc: BaseException) -> UserError:
    """``--on-error raise``'s stop at an unreadable file (a
    :class:`~jpegcoef.folder.SampleError`, also as a DataLoader worker re-raises it, with the
    worker's traceback in its message) as one line naming the file."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[-1] if lines else type(exc).__name__
    for prefix in ("jpegcoef.folder.SampleError: ", "SampleError: "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return UserError(f"{text} (--on-error raise stops at the first unreadable file; "
                     f"--on-error skip leaves such files out and lists them)")


def prepared_settings(root: Path) -> dict[str, Any] | None:
    """``jpegcoef prepare``'s settings of ``root/train`` (or of ``root``), or None."""
    for folder in (root / "train", root):
        try:
            rec = read_record(folder)
        except ValueError:
            rec = None
        if rec and rec.get("settings"):
            return dict(rec["settings"])
    return None
