"""Loaders: the seeded sampler, collation (through the :class:`~jpegcoef.ring.BatchRing` in workers)
and :func:`make_loader`, which builds a :class:`JpegLoader` over a :class:`~jpegcoef.folder.JpegFolder`."""
from __future__ import annotations

from typing import Any, Iterator, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from .folder import JpegFolder
from .formats import Format
from .ring import collate, BatchRing

__all__ = ["JpegLoader", "SeededSampler", "make_loader", "collate", "TooFewImages"]


class _Collate:
    """``collate_fn`` of :func:`make_loader`: :func:`collate` with the format (and ring)."""

    def __init__(self, format: Format, ring: Optional[BatchRing] = None):
        self.format, self.ring = format, ring

    def __call__(self, samples: Sequence[tuple]) -> tuple:
        return collate(samples, self.format, self.ring)


# ------------------------------------------------------------------------------------------------
# Sampler and loader
# ------------------------------------------------------------------------------------------------
class SeededSampler(Sampler):
    """Yields ``(index, sample_seed)``; shuffles when training; shards when distributed.

    The epoch advances on every ``__iter__`` (or set it with :meth:`set_epoch`); seeds derive
    from ``(seed, epoch, index)`` only, so they do not depend on workers or batch size.
    """

    def __init__(self, n: int, *, shuffle: bool, seed: int = 0, distributed: bool = False,
                 num_replicas: Optional[int] = None, rank: Optional[int] = None, drop_last: bool = False):
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.epoch = 0
        self._explicit_epoch = False
        if distributed:
            import torch.distributed as dist

            if num_replicas is None or rank is None:
                if not dist.is_available() or not dist.is_initialized():
                    raise RuntimeError("distributed=True needs torch.distributed initialised "
                                       "(or num_replicas and rank)")
                num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
                rank = dist.get_rank() if rank is None else rank
        self.num_replicas, self.rank = (num_replicas or 1), (rank or 0)
        if drop_last:
            self.per_replica = n // self.num_replicas
        else:
            self.per_replica = -(-n // self.num_replicas)
        self.drop_last = drop_last

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._explicit_epoch = True

    def __len__(self) -> int:
        return self.per_replica

    def __iter__(self) -> Iterator[tuple]:
        epoch = self.epoch
        if not self._explicit_epoch:
            self.epoch += 1
        self._explicit_epoch = False
        order = (np.random.default_rng([self.seed, epoch]).permutation(self.n) if self.shuffle
                 else np.arange(self.n))
        total = self.per_replica * self.num_replicas
        if total > self.n:  # pad by wrapping, like DistributedSampler
            order = np.concatenate([order, order[: total - self.n]])
        order = order[:total][self.rank::self.num_replicas]
        seeds = np.random.default_rng([self.seed, epoch, 1]).integers(0, 2**62, self.n)
        for i in order:
            yield int(i), int(seeds[i])


class JpegLoader(DataLoader):
    """A DataLoader whose batches are ``(inputs, labels)``; it strips the per-sample metadata and
    records it on ``dataset`` (skipped files, layouts) in the main process, whatever the workers."""

    def __iter__(self):
        ring = getattr(self.collate_fn, "ring", None)
        for inputs, labels in super().__iter__():
            msg = inputs.pop("\0ring", None)
            if msg is not None:  # written into a BatchRing slot by a worker: copy it out now
                # DataLoader keeps pin_memory=True without an accelerator (it only warns)
                batch = ring.read(msg, self.pin_memory and torch.cuda.is_available())
                labels = batch.pop("\0labels")
                inputs.update(batch)
            self.dataset.record(inputs.pop("_meta"))
            if len(labels) == 0:
                continue  # every sample of this batch was skipped
            yield inputs, labels

    @property
    def format(self) -> Format:
        return self.dataset.format

    def to_device(self, inputs: dict, device: Union[str, torch.device] = "cpu"):
        """Move a batch's tensors to ``device`` and run the format's device step (model input)."""
        moved = {k: v.to(device, non_blocking=True) for k, v in inputs.items()}
        return self.dataset.pipeline.device(moved)


def _seed_worker(worker_id: int) -> None:  # augmentations use per-sample seeds; keep others tidy
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)


class TooFewImages(ValueError):
    """Training (the last partial batch dropped) on fewer images than one batch."""

    def __init__(self, root: Any, images: int, batch_size: int, distributed: bool = False) -> None:
        self.images, self.batch_size = images, batch_size
        per = " per process" if distributed else ""
        super().__init__(f"{root}: {images} images give no full batch of {batch_size}{per}; "
                         f"use a batch size of {max(images // (_world_size() if distributed else 1), 1)} or less")


def _world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def make_loader(root_or_files: Any, format: Union[str, Format], *, train: bool, crop: int,
                batch_size: int, workers: int = 0, seed: int = 0, on_error: str = "raise",
                distributed: bool = False, pin_memory: Optional[bool] = None,
                augment: Optional[str] = None, drop_last: Optional[bool] = None,
                prefetch_factor: Optional[int] = None, ring: bool = True, **format_options) -> JpegLoader:
    """A :class:`JpegLoader` over a :class:`JpegFolder` (see ARCHITECTURE.md, "Data").

    Shuffles and drops the last partial batch when training; ``pin_memory`` defaults to
    ``torch.cuda.is_available()``; workers are persistent; ``distributed=True`` shards with the
    initialised process group. Get model inputs with ``loader.to_device(inputs, device)``.
    With workers, batches travel through a :class:`BatchRing` (``ring=False``: one fresh
    shared-memory block per batch, as DataLoader does).
    """
    ds = JpegFolder(root_or_files, format, train=train, crop=crop, on_error=on_error, augment=augment,
                    **format_options)
    if drop_last is None:
        drop_last = train
    per_rank = len(ds) // (_world_size() if distributed else 1)
    if drop_last and per_rank < batch_size:
        raise TooFewImages(root_or_files, len(ds), batch_size, distributed)
    sampler = SeededSampler(len(ds), shuffle=train, seed=seed, distributed=distributed)
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    kwargs: dict = {}
    batch_ring = None
    if workers > 0:
        kwargs.update(persistent_workers=True, worker_init_fn=_seed_worker)
        if prefetch_factor is not None:
            kwargs["prefetch_factor"] = prefetch_factor
        if ring:  # a worker has at most prefetch_factor batches in flight + the one being copied
            slots = (2 if prefetch_factor is None else prefetch_factor) + 1
            batch_ring = BatchRing(workers, slots, ds.pipeline.batch_bytes(batch_size))
    return JpegLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      collate_fn=_Collate(ds.format, batch_ring), pin_memory=pin_memory, drop_last=drop_last,
                      generator=torch.Generator().manual_seed(seed), **kwargs)

