"""The high/low-frequency split model (seeds/004, "structure 3").

Two half-width ResNet-50s (every conv's output channels halved) on the 24-channel DCTNet input.
The low model sees the 6 lowest frequencies (default Y 0, 1, 8, 9; Cb 0; Cr 0), the high model
the other 18. Each starts with an input layer (1x1 conv with bias + BN + ReLU, the authors'
``conv_block`` in zaocan666/DCTNet_split: a per-position mix of the frequencies, no spatial
kernel); the high model concatenates its input layer's output with the low model's before its
residual stages.

Inference (eval mode): run the low model; a sample exits with the low model's answer iff its
top-1 softmax probability >= ``threshold``; the high model runs only on the others.
Training in two steps (:meth:`HiLo.set_step`): (1) low input conv + whole high model, forward
returns the high model's logits; (2) low input conv frozen, low stages + classifier trained,
forward returns the low model's logits.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from jpegcoef.channels import subset

from .base import Net
from .features import Feature, run_chain, stage_features
from .layers import STAGE2, STAGE3, STAGE4, STAGE5, AntiAlias, init_weights, make_stages

DEFAULT_LOW = {"y": [0, 1, 8, 9], "cb": [0], "cr": [0]}


def split_indices(low: dict[str, list[int]], channels: int = 24) -> tuple[list[int], list[int]]:
    """Positions of the ``low`` frequencies inside the ``channels`` subset, and of the rest."""
    chosen = subset(channels)
    order = [(comp, f) for comp in ("y", "cb", "cr") for f in chosen[comp]]
    wanted = [(comp, f) for comp in ("y", "cb", "cr") for f in low.get(comp, [])]
    unknown = [w for w in wanted if w not in order]
    if unknown or set(low) - {"y", "cb", "cr"}:
        raise ValueError(f"low frequencies {unknown or sorted(set(low) - {'y', 'cb', 'cr'})} "
                         f"are not in the {channels}-channel subset")
    lo = sorted(order.index(w) for w in wanted)
    if not lo or len(lo) == len(order):
        raise ValueError("the low model needs at least one channel and must leave some to the "
                         "high model")
    return lo, [i for i in range(len(order)) if i not in lo]


class _Branch(nn.Module):
    """Residual stages + global pool + classifier of one half-width ResNet-50."""

    def __init__(self, in_ch: int, num_classes: int, width: float, layer2_stride: int,
                 stride_in: str, aa: AntiAlias) -> None:
        super().__init__()
        specs = tuple(s.scaled(width) for s in (STAGE2, STAGE3, STAGE4, STAGE5))
        self.specs = (specs[0], replace(specs[1], stride=layer2_stride), *specs[2:])
        self.stages, out = make_stages(in_ch, self.specs, stride_in, aa)
        self.fc = nn.Linear(out, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages.values():
            x = stage(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _input_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    """The input layer of each half: a 1x1 convolution *with* bias, BN and ReLU, as the authors'
    code builds it (``conv_block`` in zaocan666/DCTNet_split: ``Conv2d(kernel_size=1, bias=True)``,
    ``BatchNorm2d``, ``ReLU``). The bias starts at zero (:func:`~.layers.init_weights`) and,
    like every bias, takes no weight decay (``harness.schedule.make_optimizer``)."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=True),
                         nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class HiLo(Net):
    """High/low-frequency split with early exit; input (N, 24, H/8, W/8) (dctnet, 24 channels).

    ``layer2_stride=2`` is seeds/004's setting ("第二个 layer 的 stride 为 2" for all three
    models it compares), so its baseline is DCT-24 ResNet-50 at layer2 stride 2 (3.93 GFLOPs),
    the ``dctnet24_s2`` variant, not DCTNet's released stride 1 (13.5 G).
    Stage features (``features_only``): the high model's stages, which see all 24 channels
    (its input conv concatenated with the low model's).
    """

    input_format = "dctnet"
    pixel_size = 448
    native_stride_in = "3x3"
    head_modules = ("high.fc", "low")

    def __init__(self, num_classes: int = 1000, *, threshold: float = 0.85,
                 low: dict[str, list[int]] | None = None, width: float = 0.5,
                 layer2_stride: int = 2, stride_in: str | None = None, antialias: str = "none",
                 aa_size: int | None = None, aa_groups: int = 8, aa_softmax: str = "joint",
                 zero_init_residual: bool = False) -> None:
        super().__init__(num_classes, stride_in, antialias, aa_size, aa_groups, aa_softmax)
        if layer2_stride not in (1, 2):
            raise ValueError(f"layer2_stride must be 1 or 2, got {layer2_stride!r}")
        self.channels = 24
        self.input_options = {"channels": 24}
        self.threshold = float(threshold)
        lo, hi = split_indices(low or DEFAULT_LOW, 24)
        self.register_buffer("low_index", torch.tensor(lo), persistent=False)
        self.register_buffer("high_index", torch.tensor(hi), persistent=False)
        stem = round(64 * width)
        self.low_in = _input_conv(len(lo), stem)
        self.high_in = _input_conv(len(hi), stem)
        self.low = _Branch(stem, num_classes, width, layer2_stride, self.stride_in, self.aa)
        self.high = _Branch(2 * stem, num_classes, width, layer2_stride, self.stride_in, self.aa)
        init_weights(self, zero_init_residual)
        self.last_exit: torch.Tensor | None = None
        self.last_macs: float | None = None
        self._part_macs: dict[tuple, tuple[int, int]] = {}
        self.set_step(1)

    def input_shapes(self, batch_size: int, size: int) -> list[tuple[int, ...]]:
        if size % 8:
            raise ValueError(f"hilo inputs need a pixel size that is a multiple of 8, got {size}")
        return [(batch_size, 24, size // 8, size // 8)]

    # -- training steps -------------------------------------------------------------------
    def set_step(self, step: int) -> "HiLo":
        """1: train low input conv + high model; 2: freeze the low input conv, train the low
        stages + classifier. Sets ``requires_grad``; optimise ``p for p in parameters() if
        p.requires_grad``. Frozen BN layers stay in eval mode."""
        if step not in (1, 2):
            raise ValueError(f"step must be 1 or 2, got {step!r}")
        self.step = step
        trains = {1: (self.low_in, self.high_in, self.high), 2: (self.low,)}[step]
        for part in (self.low_in, self.high_in, self.high, self.low):
            part.requires_grad_(any(part is t for t in trains))
        return self.train(self.training)

    def train(self, mode: bool = True) -> "HiLo":
        super().train(mode)
        if mode and getattr(self, "step", 1) == 2:
            self.low_in.eval()  # frozen: keep its BN statistics
        return self

    # -- forward --------------------------------------------------------------------------
    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(low channels, high channels) of a 24-channel input."""
        return x.index_select(1, self.low_index), x.index_select(1, self.high_index)

    def low_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The low model's logits (all samples)."""
        return self.low(self.low_in(self.split(x)[0]))

    def high_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The high model's logits (all samples)."""
        xl, xh = self.split(x)
        return self.high(torch.cat([self.high_in(xh), self.low_in(xl)], dim=1))

    def feature_plan(self) -> list[Feature]:
        plan = stage_features("high.stages", self.high.specs, 8)
        plan[0] = replace(plan[0], needs=("low_in", "high_in") + plan[0].needs)
        return plan

    def forward_features(self, x: torch.Tensor, last: int | None = None) -> list[torch.Tensor]:
        self.check_input(x)
        xl, xh = self.split(x)
        x = torch.cat([self.high_in(xh), self.low_in(xl)], dim=1)
        return run_chain(x, list(self.high.stages.values()), self._last(last))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if self.training:
            return self.high_logits(x) if self.step == 1 else self.low_logits(x)
        xl, xh = self.split(x)
        fl = self.low_in(xl)
        out = self.low(fl)
        conf = out.float().softmax(dim=1).amax(dim=1)
        exit_ = conf >= self.threshold
        rest = (~exit_).nonzero().squeeze(1)
        if rest.numel():
            feats = torch.cat([self.high_in(xh.index_select(0, rest)), fl.index_select(0, rest)], 1)
            out = out.index_copy(0, rest, self.high(feats).to(out.dtype))
        self.last_exit = exit_
        low_macs, high_macs = self.part_macs(x.shape[-2], x.shape[-1])
        self.last_macs = low_macs + high_macs * rest.numel() / x.shape[0]
        return out

    # -- cost -----------------------------------------------------------------------------
    def part_macs(self, height: int, width: int) -> tuple[int, int]:
        """MACs per image of (low model, extra for the high model) at an input grid of
        height x width, counted once with FlopCounterMode and cached."""
        key = (height, width)
        if key not in self._part_macs:
            p = next(self.parameters())
            x = torch.zeros(1, 24, height, width, device=p.device, dtype=p.dtype)
            was = self.training
            self.eval()
            try:
                with torch.no_grad():
                    xl, xh = self.split(x)
                    with FlopCounterMode(display=False) as c_low:
                        fl = self.low_in(xl)
                        self.low(fl)
                    with FlopCounterMode(display=False) as c_high:
                        self.high(torch.cat([self.high_in(xh), fl], dim=1))
            finally:
                self.train(was)
            self._part_macs[key] = (c_low.get_total_flops() // 2, c_high.get_total_flops() // 2)
        return self._part_macs[key]

    def summary_macs(self, x: torch.Tensor) -> dict[str, Any]:
        """For models.summary: MACs of the forward when every sample runs both models
        (``macs``) and when all exit early (``macs_low``), each counted on the real forward."""
        from .summary import count_macs
        self.part_macs(x.shape[-2], x.shape[-1])  # fill the cache outside the outer counter
        saved = self.threshold
        try:
            self.threshold = float("inf")
            full = count_macs(self, x)
            self.threshold = float("-inf")
            low = count_macs(self, x)
        finally:
            self.threshold = saved
        return {"macs": full, "macs_low": low, "threshold": saved}

    def rf_stages(self) -> list[tuple[str, list[nn.Module]]]:
        return [("input_conv", [self.high_in])] + [(k, [v]) for k, v in self.high.stages.items()]
