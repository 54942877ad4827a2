"""Batch memory: stacking per-sample host arrays into batches, in shared memory in DataLoader
workers (one block per batch), and the :class:`BatchRing` of reusable shared-memory slots."""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import get_worker_info


__all__ = ["BatchRing", "collate", "stack", "stack_parts", "head", "TORCH_DTYPES"]

TORCH_DTYPES = {np.int16: torch.int16, np.uint16: torch.uint16, np.uint8: torch.uint8,
                 np.float32: torch.float32, np.int64: torch.int64, np.float64: torch.float64,
                 np.bool_: torch.bool}

#: Keys whose per-sample arrays differ in shape (the block windows of the resized-crop pipeline,
#: whose samples carry a ``box``): they are packed, one flat array per batch (the samples' arrays
#: one after another, nothing padded) plus ``<key>_shape`` (int64 ``(N, ndim)``).
RAGGED = frozenset(["y", "cb", "cr"])


def stack_parts(samples: Sequence[Mapping[str, np.ndarray]],
                 extra: Optional[Mapping[str, np.ndarray]] = None) -> list[tuple]:
    """What :func:`stack` writes: ``(key, arrays to stack or None, shape, dtype, extra array or
    None)`` per key (shapes checked)."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    parts = []
    ragged = "box" in samples[0]
    for k in samples[0].keys():
        arrs = [s[k] for s in samples]
        shape = arrs[0].shape
        if ragged and k in RAGGED:
            shapes = np.array([a.shape for a in arrs], np.int64)
            parts.append((k, arrs, (int(sum(a.size for a in arrs)),), arrs[0].dtype, None))
            parts.append((k + "_shape", None, shapes.shape, shapes.dtype, shapes))
            continue
        if any(a.shape != shape for a in arrs):
            shapes = {a.shape for a in arrs}
            raise ValueError(f"samples differ in shape for {k!r}: {sorted(shapes)} (crop them to one size)")
        parts.append((k, arrs, (len(arrs),) + shape, arrs[0].dtype, None))
    for k, a in (extra or {}).items():
        parts.append((k, None, a.shape, a.dtype, a))
    return parts


def write_stacked(view: np.ndarray, arrs: Sequence[np.ndarray]) -> None:
    """Stack ``arrs`` into ``view``; a flat ``view`` gets them packed one after another."""
    if view.ndim == 1 and arrs[0].ndim != 0:
        o = 0
        for a in arrs:
            view[o:o + a.size].reshape(a.shape)[...] = a
            o += a.size
        return
    np.stack(arrs, out=view)


def head(batch: Mapping[str, Any], n: int) -> dict:
    """The first ``n`` samples of a collated batch (packed windows included)."""
    out: dict = {}
    for k, v in batch.items():
        if not isinstance(v, torch.Tensor):
            out[k] = v[:n] if isinstance(v, list) else v
        elif k in RAGGED and k + "_shape" in batch:
            out[k] = v[:int(batch[k + "_shape"][:n].prod(1).sum())]
        else:
            out[k] = v[:n]
    return out


def stack(samples: Sequence[Mapping[str, np.ndarray]],
           extra: Optional[Mapping[str, np.ndarray]] = None) -> dict[str, torch.Tensor]:
    """Stack per-sample arrays per key (plus the ``extra`` arrays as they are) into tensors. In a
    DataLoader worker they are all written straight into one shared-memory block (as
    default_collate does per tensor, but one block per batch: one allocation and, with
    :func:`jpegcoef.data.collate`, one file descriptor sent to the main process)."""
    parts = stack_parts(samples, extra)
    if get_worker_info() is None:
        out = {}
        for k, arrs, shape, dtype, a in parts:
            if arrs is None:
                out[k] = torch.from_numpy(np.ascontiguousarray(a))
                continue
            view = np.empty(shape, dtype)
            write_stacked(view, arrs)
            out[k] = torch.from_numpy(view)
        return out
    offsets, total = [], 0
    for _, _, shape, dtype, _ in parts:
        offsets.append(total)
        total += -(-int(np.prod(shape)) * dtype.itemsize // 64) * 64  # 64-byte aligned
    elem = torch.empty(0, dtype=torch.uint8)  # made in shared memory as default_collate does
    block = elem.new(elem._typed_storage()._new_shared(max(total, 1)))  # (share_memory_() copies)
    mem = block.numpy()
    out = {}
    for (k, arrs, shape, dtype, a), off in zip(parts, offsets):
        nbytes = int(np.prod(shape)) * dtype.itemsize
        view = mem[off:off + nbytes].view(dtype).reshape(shape)
        if arrs is not None:
            write_stacked(view, arrs)
        else:
            view[...] = a
        out[k] = block[off:off + nbytes].view(TORCH_DTYPES[dtype.type]).view(shape)
    return out



def collate(samples: Sequence[tuple], format: Any, ring: Optional["BatchRing"] = None) -> tuple:
    """Stack the good samples with ``format.collate``; failed ones (host None) only add metadata.

    In a DataLoader worker the inputs and labels are views of one shared-memory block, so one
    storage (one file descriptor) crosses to the main process per batch, not one per tensor.
    With a ``ring`` (:func:`make_loader` with workers) a worker writes the batch into its next
    :class:`BatchRing` slot instead and returns ``({"\\0ring": message, "_meta": ...}, None)``,
    which :class:`JpegLoader` turns back into the same tensors."""
    good = [s for s in samples if s[0] is not None]
    metas = [s[2] for s in samples]
    labels = np.array([s[1] for s in good], dtype=np.int64)
    if not good:
        return {"_meta": metas}, torch.from_numpy(labels)
    if ring is not None and get_worker_info() is not None:
        msg = ring.write(stack_parts([s[0] for s in good], {"\0labels": labels}))
        if msg is not None:
            return {"\0ring": msg, "_meta": metas}, None
    inputs: dict = format.collate([s[0] for s in good], extra={"\0labels": labels})
    labels_t = inputs.pop("\0labels")
    inputs["_meta"] = metas
    return inputs, labels_t



_RING_HEADER = 64  # bytes before a slot's batch: its int64 sequence number (-1 while written)


class BatchRing:
    """Reusable shared-memory blocks for the batches of DataLoader workers.

    ``slots`` blocks per worker of ``nbytes`` each are created in the main process (workers
    inherit them); a worker writes its batches into its slots in turn and sends only a small
    message, and :class:`JpegLoader` copies the batch out as it receives it. A fresh
    shared-memory block per batch costs ~0.4 ms of allocation and page faults in the worker,
    plus mapping, faults and a file-descriptor hand-over (a socket connection) in the main
    process; a copy from a block already mapped costs ~30 us. A worker has at most
    ``prefetch_factor`` batches in flight besides the one being copied, so ``prefetch_factor + 1``
    slots are not overwritten before they are copied; each slot carries a sequence number,
    checked before and after the copy, so any overwrite is an error, never a corrupt batch.
    A batch larger than ``nbytes`` takes the ordinary path (:func:`collate`).
    """

    def __init__(self, workers: int, slots: int, nbytes: int):
        self.workers, self.slots, self.nbytes = workers, slots, int(nbytes)
        elem = torch.empty(0, dtype=torch.uint8)
        self.blocks = [elem.new(elem._typed_storage()._new_shared(_RING_HEADER + self.nbytes))
                       for _ in range(workers * slots)]
        self._next = 0  # per process: this worker's next slot
        self._seq = 0

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_views"}

    def _view(self, slot: int) -> np.ndarray:
        views = self.__dict__.setdefault("_views", {})
        if slot not in views:
            views[slot] = self.blocks[slot].numpy()
        return views[slot]

    def write(self, parts: Sequence[tuple]) -> Optional[dict]:
        """In a worker: write a batch (``formats.stack_parts``) into this worker's next slot;
        returns the message for :meth:`read`, or None when the batch does not fit."""
        info = get_worker_info()
        layout, total = [], 0
        for k, _, shape, dtype, _ in parts:
            nbytes = int(np.prod(shape)) * dtype.itemsize
            layout.append((k, total, nbytes, shape, dtype.str))
            total += -(-nbytes // 64) * 64
        if info is None or info.id >= self.workers or total > self.nbytes:
            return None
        slot = info.id * self.slots + self._next
        self._next = (self._next + 1) % self.slots
        mem = self._view(slot)
        seq = mem[:8].view(np.int64)
        seq[0] = -1
        body = mem[_RING_HEADER:]
        for (_, arrs, shape, dtype, a), (_, off, nbytes, _, _) in zip(parts, layout):
            view = body[off:off + nbytes].view(dtype).reshape(shape)
            if arrs is not None:
                write_stacked(view, arrs)
            else:
                view[...] = a
        self._seq += 1
        seq[0] = self._seq
        return {"slot": slot, "seq": self._seq, "nbytes": total, "layout": layout}

    def read(self, msg: dict, pin_memory: bool = False) -> dict[str, torch.Tensor]:
        """In the main process: a copy of a written batch as tensors (views of one block)."""
        mem = self._view(msg["slot"])
        seq = mem[:8].view(np.int64)
        if seq[0] != msg["seq"]:
            raise RuntimeError(f"batch ring slot {msg['slot']} was overwritten before it was read "
                               f"(sequence {int(seq[0])}, expected {msg['seq']}): more batches in flight "
                               f"than slots; use more slots or ring=False")
        out = torch.empty(msg["nbytes"], dtype=torch.uint8, pin_memory=pin_memory)
        np.copyto(out.numpy(), mem[_RING_HEADER:_RING_HEADER + msg["nbytes"]])
        if seq[0] != msg["seq"]:
            raise RuntimeError(f"batch ring slot {msg['slot']} was overwritten while it was read")
        return {k: out[off:off + nbytes].view(TORCH_DTYPES[np.dtype(dt).type]).view(shape)
                for k, off, nbytes, shape, dt in msg["layout"]}


