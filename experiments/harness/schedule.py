"""Optimiser and learning-rate schedule: SGD + momentum, weight decay on weights only,
linear warm-up then cosine decay, computed per step (so resuming is exact)."""
from __future__ import annotations

import math

import torch
from torch import nn


def make_optimizer(model: nn.Module, lr: float, momentum: float, weight_decay: float,
                   nesterov: bool = False,
                   lr_scales: dict[str, float] | None = None) -> torch.optim.SGD:
    """SGD over every parameter; weight decay on conv/linear weights, not on BN or biases.

    Frozen parameters stay in the optimiser (their ``grad`` is None so SGD skips them), which
    keeps the optimiser state the same shape across the high/low model's two steps.
    ``lr_scales`` (``{name prefix: factor}``, e.g. ``{"gate.": 20.0}``) puts the parameters
    under a prefix in their own groups whose learning rate is ``factor`` times the schedule's
    (:func:`set_lr` applies it); without it there are exactly two groups.
    """
    scales = {k: float(v) for k, v in (lr_scales or {}).items() if float(v) != 1.0}
    buckets: dict[tuple[float, bool], list] = {}
    for name, p in model.named_parameters():
        scale = next((v for k, v in scales.items() if name.startswith(k)), 1.0)
        buckets.setdefault((scale, p.dim() > 1), []).append(p)
    groups = []
    for (scale, decay), params in sorted(buckets.items(), key=lambda kv: (kv[0][0] != 1.0,
                                                                           not kv[0][1])):
        group = {"params": params, "weight_decay": weight_decay if decay else 0.0}
        if scale != 1.0:
            group["lr_scale"] = scale
        groups.append(group)
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov)


def lr_at(step: int, total_steps: int, warmup_steps: int, base_lr: float,
          final_fraction: float = 0.0) -> float:
    """Learning rate at optimiser step ``step`` (0-based) of a phase of ``total_steps``.

    Linear warm-up from ``base_lr / warmup_steps`` to ``base_lr`` over ``warmup_steps``, then a
    half cosine down to ``final_fraction * base_lr`` at the last step.
    """
    if total_steps <= 0:
        raise ValueError("total_steps must be positive")
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps - 1)  # reaches the floor at the last step
    t = min(1.0, (step - warmup_steps) / span)
    low = base_lr * final_fraction
    return low + (base_lr - low) * 0.5 * (1.0 + math.cos(math.pi * t))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's learning rate to ``lr`` (times the group's ``lr_scale``, if any)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_scale"] if "lr_scale" in group else lr
