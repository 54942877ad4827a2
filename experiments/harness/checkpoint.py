"""Atomic checkpoints and the random-number state that makes a resumed run exact.

:func:`save` writes to a temporary file in the same directory, flushes and fsyncs it, then
``os.replace``-s it over the previous checkpoint: a process killed (or an exception raised)
while writing leaves the previous checkpoint untouched and no temporary file behind (the
exception path removes it; a SIGKILL can leave a ``.tmp-*`` file, never a broken checkpoint).
:func:`load` uses ``torch.load(weights_only=True)``: checkpoints hold only tensors and plain
Python containers / numbers / strings.
"""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


def save(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically (temp file in the same directory + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save` (``weights_only=True``).

    One-line errors naming ``path`` (:func:`jpegcoef.inference.read_checkpoint`):
    ``FileNotFoundError`` (none there), ``IsADirectoryError`` (a folder), ``ValueError`` (a
    damaged or foreign file, or one that holds no dictionary)."""
    from jpegcoef.inference import read_checkpoint  # noqa: PLC0415

    return read_checkpoint(path, map_location=map_location)


#: What a resumable checkpoint (``last.pt``) holds besides the ``"inference"`` record.
RESUME_KEYS = ("config", "model", "optimizer", "scaler", "epoch", "global_step", "history",
               "train_time", "train_images", "compute_time", "compute_images", "run_dir", "rng")


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) RNG states as weights_only-loadable values."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": _to_plain(random.getstate()),
        "numpy": {"key": np_state[1].astype(np.int64).tolist(), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    random.setstate(_to_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", np.array(n["key"], dtype=np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_plain(x: Any) -> Any:
    if isinstance(x, tuple):
        return [_to_plain(v) for v in x]
    return x


def _to_tuple(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(_to_tuple(v) for v in x)
    return x
