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
- :func:`prepared_settings`: ``jpegcoef prepare``'s record of the images, if any.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from jpegcoef import shards
from jpegcoef.console import UsageError, UserError, print_warning
from jpegcoef.prepare import IMAGE_SUFFIXES, read_record

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


def check_batches(images: int, batch_size: int, world_size: int, split: Path) -> None:
    """A :class:`UsageError` when the training split fills no whole batch (the last partial
    batch is dropped in training)."""
    need = batch_size * world_size
    if images < need:
        hint = f"--batch-size {max(1, images // world_size)} or less"
        raise UsageError(f"{split}: {images} images, fewer than one batch of {need}"
                         f"{f' ({world_size} processes x {batch_size})' if world_size > 1 else ''}; "
                         f"use {hint}")


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
