"""Building blocks: "same"-padded convolutions, anti-aliasing pools, the bottleneck, stages.

One :class:`Bottleneck` serves every network of the family. Its differences between the papers
are arguments: the middle kernel size ``kernel`` (1, 2 or 3: the RFA stage uses all three),
where the block stride sits (``stride_in="1x1"``: on the first 1x1 conv, as the Keras ResNet-50
of Gueguen et al.; ``"3x3"``: on the middle conv, as torchvision and DCTNet's code), and how it
subsamples (``antialias``: plain stride, BlurPool, or the adaptive content-aware filter).

A stage is described by :class:`StageSpec` (data) and built by :func:`make_stage`.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

ANTIALIAS = ("none", "blur", "adaptive")
STRIDE_IN = ("1x1", "3x3")
#: Filter size when ``aa_size`` is not given: adobe/antialiased-cnns builds its BlurPool
#: networks with ``filter_size=4``; Zou's released PASA models use k=3 (README: ``-f 3``).
AA_DEFAULT_SIZE = {"blur": 4, "adaptive": 3, "none": 3}
#: Where the adaptive filter's softmax normalises its predicted weights (``aa_softmax``):
#: "joint" = one softmax over all groups x k*k weights at a position (Zou's released code,
#: MaureenZOU/Adaptive-anti-Aliasing, models_lpf/layers/pasa.py: ``nn.Softmax(dim=1)`` over
#: the group*k*k channels); "group" = one softmax per group over its k*k taps (each group's
#: filter is then a low-pass that sums to 1).
AA_SOFTMAX = ("joint", "group")


def same_padding(kernel: int) -> tuple[int, int]:
    """(before, after) padding that keeps the size at stride 1; the extra pixel of an even
    kernel goes after (right/bottom), as TensorFlow/Keras ``padding="same"`` does."""
    before = (kernel - 1) // 2
    return before, kernel - 1 - before


class SamePad(nn.Module):
    """Asymmetric padding for even kernels (``F.pad`` with (left, right, top, bottom))."""

    def __init__(self, kernel: int, mode: str = "constant") -> None:
        super().__init__()
        self.kernel = kernel
        self.mode = mode
        b, a = same_padding(kernel)
        self.pad = (b, a, b, a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mode = self.mode
        if mode == "reflect" and max(self.pad) >= min(x.shape[-2:]):
            mode = "replicate"  # reflect needs pad < size: tiny maps (small crops) replicate
        return F.pad(x, self.pad, mode=mode)

    def extra_repr(self) -> str:
        return f"pad={self.pad}, mode={self.mode}"


def conv(in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1, groups: int = 1,
         bias: bool = False) -> nn.Module:
    """A kxk convolution with "same" padding (symmetric for odd k, asymmetric for even k)."""
    if kernel % 2 == 1:
        return nn.Conv2d(in_ch, out_ch, kernel, stride, padding=kernel // 2, groups=groups,
                         bias=bias)
    return nn.Sequential(SamePad(kernel),
                         nn.Conv2d(in_ch, out_ch, kernel, stride, groups=groups, bias=bias))


def binomial_filter(size: int) -> torch.Tensor:
    """2-D normalised binomial filter of ``size`` taps (Zhang's BlurPool filters)."""
    row = torch.tensor([math.comb(size - 1, i) for i in range(size)], dtype=torch.float32)
    f = row[:, None] * row[None, :]
    return f / f.sum()


class BlurPool(nn.Module):
    """Anti-aliased subsampling (Zhang, ICML 2019): depthwise fixed binomial low-pass filter of
    ``size`` taps (reflect padding), evaluated only at the kept positions (stride)."""

    def __init__(self, channels: int, stride: int = 2, size: int = 3) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"blur filter size must be >= 1, got {size}")
        self.channels, self.stride, self.kernel_size = channels, stride, size
        self.pad = SamePad(size, mode="reflect")
        self.register_buffer("filt", binomial_filter(size).expand(channels, 1, size, size)
                             .contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.pad(x), self.filt.to(x.dtype), stride=self.stride,
                        groups=self.channels)

    def extra_repr(self) -> str:
        return f"{self.channels}, stride={self.stride}, size={self.kernel_size}"


class AdaptiveBlurPool(nn.Module):
    """Content-aware anti-aliasing (Zou et al., BMVC 2020, "PASA"; seeds/002).

    A kxk conv predicts ``groups * k*k`` weights at every output position; BN, then a softmax
    turns them into filter weights (``softmax``: "joint" over all groups x taps, as Zou's
    released code; "group" per group over its k*k taps). The channels are split into
    ``groups`` groups and each group is filtered with its own predicted kernel, then
    subsampled. Filters are only computed at the positions kept by the stride (identical to
    computing everywhere and subsampling, at 1/stride^2 of the cost).
    """

    def __init__(self, channels: int, stride: int = 2, size: int = 3, groups: int = 8,
                 softmax: str = "joint") -> None:
        super().__init__()
        if softmax not in AA_SOFTMAX:
            raise ValueError(f"aa_softmax must be one of {AA_SOFTMAX}, got {softmax!r}")
        groups = math.gcd(channels, max(1, groups))  # groups must divide channels
        self.channels, self.stride, self.kernel_size, self.groups = channels, stride, size, groups
        self.softmax = softmax
        self.pad = SamePad(size, mode="reflect")
        self.weight_conv = nn.Conv2d(channels, groups * size * size, size, stride, bias=False)
        self.weight_bn = nn.BatchNorm2d(groups * size * size)

    def filter_weights(self, xp: torch.Tensor) -> torch.Tensor:
        """The predicted filters (N, groups, 1, k*k, Ho, Wo) for the padded input ``xp``."""
        n, k2, g = xp.shape[0], self.kernel_size ** 2, self.groups
        w = self.weight_bn(self.weight_conv(xp))              # (N, g*k2, Ho, Wo)
        ho, wo = w.shape[-2:]
        if self.softmax == "joint":
            return w.softmax(dim=1).view(n, g, 1, k2, ho, wo)
        return w.view(n, g, 1, k2, ho, wo).softmax(dim=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, _, _ = x.shape
        xp = self.pad(x)
        w = self.filter_weights(xp)
        ho, wo = w.shape[-2:]
        patches = F.unfold(xp, self.kernel_size, stride=self.stride)   # (N, C*k2, Ho*Wo)
        patches = patches.view(n, self.groups, c // self.groups, self.kernel_size ** 2, ho, wo)
        return (patches * w).sum(dim=3).reshape(n, c, ho, wo)

    def extra_repr(self) -> str:
        return (f"{self.channels}, stride={self.stride}, size={self.kernel_size}, "
                f"groups={self.groups}, softmax={self.softmax}")


@dataclass(frozen=True)
class AntiAlias:
    """How strided layers subsample: ``mode`` in none|blur|adaptive, filter ``size``
    (BlurPool taps / adaptive kernel; None: :data:`AA_DEFAULT_SIZE` of the mode), ``groups``
    (adaptive filter groups) and ``softmax`` (adaptive: :data:`AA_SOFTMAX`)."""

    mode: str = "none"
    size: int | None = None
    groups: int = 8
    softmax: str = "joint"

    def __post_init__(self) -> None:
        if self.mode not in ANTIALIAS:
            raise ValueError(f"antialias must be one of {ANTIALIAS}, got {self.mode!r}")
        if self.size is None:
            object.__setattr__(self, "size", AA_DEFAULT_SIZE[self.mode])
        if not isinstance(self.size, int) or self.size < 2:
            raise ValueError(f"aa_size must be an int >= 2, got {self.size!r}")
        if not isinstance(self.groups, int) or self.groups < 1:
            raise ValueError(f"aa_groups must be an int >= 1, got {self.groups!r}")
        if self.softmax not in AA_SOFTMAX:
            raise ValueError(f"aa_softmax must be one of {AA_SOFTMAX}, got {self.softmax!r}")

    @property
    def on(self) -> bool:
        return self.mode != "none"

    def pool(self, channels: int, stride: int) -> nn.Module:
        """The anti-aliased subsampling layer that replaces a plain stride."""
        if self.mode == "blur":
            return BlurPool(channels, stride, self.size)
        if self.mode == "adaptive":
            return AdaptiveBlurPool(channels, stride, self.size, self.groups, self.softmax)
        raise ValueError("antialias='none' has no pooling layer")


NO_AA = AntiAlias()


def strided_conv(in_ch: int, out_ch: int, kernel: int, stride: int, aa: AntiAlias) -> nn.Module:
    """A strided conv, or (anti-aliased) the same conv at stride 1 followed by the AA pool."""
    if stride == 1 or not aa.on:
        return conv(in_ch, out_ch, kernel, stride)
    return nn.Sequential(conv(in_ch, out_ch, kernel, 1), aa.pool(out_ch, stride))


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 (in->mid), kxk (mid->mid), 1x1 (mid->out), each with BN; ReLU
    after the first two and after the residual sum. A projection shortcut (1x1 conv + BN) is
    used whenever the shape changes or ``project`` is set (Keras' ConvBlock, which projects
    even when the shape is kept), identity otherwise (IdentityBlock).

    Anti-aliased (``aa.on``): the strided conv runs at stride 1, then BN, ReLU and the AA pool
    subsample (Zhang; adobe/antialiased-cnns puts it after the 3x3, i.e. ``stride_in="3x3"``).

    ``self.body`` holds the main branch in execution order; the receptive-field walk in
    :mod:`models.summary` follows it (the shortcut never widens the receptive field).
    """

    def __init__(self, in_ch: int, mid: int, out: int, stride: int = 1, kernel: int = 3,
                 stride_in: str = "1x1", aa: AntiAlias = NO_AA, project: bool = False) -> None:
        super().__init__()
        if stride_in not in STRIDE_IN:
            raise ValueError(f"stride_in must be one of {STRIDE_IN}, got {stride_in!r}")
        s1, s2 = (stride, 1) if stride_in == "1x1" else (1, stride)
        layers: list[tuple[str, nn.Module]] = []
        for i, (cin, cout, k, s) in enumerate([(in_ch, mid, 1, s1), (mid, mid, kernel, s2),
                                               (mid, out, 1, 1)], start=1):
            layers.append((f"conv{i}", conv(cin, cout, k, 1 if aa.on else s)))
            layers.append((f"bn{i}", nn.BatchNorm2d(cout)))
            if i < 3:
                layers.append((f"relu{i}", nn.ReLU(inplace=True)))
                if aa.on and s > 1:  # Zhang: conv at stride 1, ReLU, then blur-subsample
                    layers.append((f"aa{i}", aa.pool(cout, s)))
        self.body = nn.Sequential(OrderedDict(layers))
        if project or in_ch != out or stride != 1:
            short: list[tuple[str, nn.Module]] = []
            if aa.on and stride > 1:  # BlurPool then 1x1 conv
                short.append(("aa", aa.pool(in_ch, stride)))
            short += [("conv", nn.Conv2d(in_ch, out, 1, 1 if aa.on else stride, bias=False)),
                      ("bn", nn.BatchNorm2d(out))]
            self.shortcut: nn.Module = nn.Sequential(OrderedDict(short))
        else:
            self.shortcut = nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        self.in_ch, self.out_ch, self.stride, self.kernel = in_ch, out, stride, kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


@dataclass(frozen=True)
class StageSpec:
    """One stage: ``blocks`` bottlenecks of widths [mid, mid, out]; the first has ``stride``;
    ``kernels`` gives each block's middle kernel (the last entry repeats); ``project_first``:
    the first block is a ConvBlock (projection shortcut) even where its shape is kept."""

    name: str
    mid: int
    out: int
    blocks: int
    stride: int = 1
    kernels: tuple[int, ...] = (3,)
    project_first: bool = False

    def kernel(self, i: int) -> int:
        return self.kernels[min(i, len(self.kernels) - 1)]

    def scaled(self, width: float) -> "StageSpec":
        """The same stage with every width multiplied by ``width`` (e.g. 0.5: half width)."""
        return replace(self, mid=max(1, round(self.mid * width)), out=max(1, round(self.out * width)))


def make_stage(in_ch: int, spec: StageSpec, stride_in: str = "1x1",
               aa: AntiAlias = NO_AA) -> nn.Sequential:
    """Build a stage (an ``nn.Sequential`` of :class:`Bottleneck`) from its spec."""
    blocks = []
    for i in range(spec.blocks):
        blocks.append(Bottleneck(in_ch if i == 0 else spec.out, spec.mid, spec.out,
                                 spec.stride if i == 0 else 1, spec.kernel(i), stride_in, aa,
                                 project=spec.project_first and i == 0))
    return nn.Sequential(*blocks)


def make_stages(in_ch: int, specs: tuple[StageSpec, ...], stride_in: str,
                aa: AntiAlias) -> tuple[nn.ModuleDict, int]:
    """Build consecutive stages; returns them (keyed by spec name) and the output width."""
    stages = nn.ModuleDict()
    for spec in specs:
        stages[spec.name] = make_stage(in_ch, spec, stride_in, aa)
        in_ch = spec.out
    return stages, in_ch


# The standard ResNet-50 stages (He et al.), widths [mid, mid, out] x blocks.
STAGE2 = StageSpec("stage2", 64, 256, 3, 1)
STAGE3 = StageSpec("stage3", 128, 512, 4, 2)
STAGE4 = StageSpec("stage4", 256, 1024, 6, 2)
STAGE5 = StageSpec("stage5", 512, 2048, 3, 2)
# Gueguen et al.'s receptive-field-aware stage: CB(k=1) -> IB(k=2) -> IB(k=3).
RFA = StageSpec("rfa", 256, 1024, 3, 1, kernels=(1, 2, 3))


def init_weights(module: nn.Module, zero_init_residual: bool = False) -> None:
    """Kaiming-normal convs, unit/zero BN, and optionally zero gamma on each block's last BN."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in module.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.body.bn3.weight)
