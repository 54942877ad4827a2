"""MobileNetV2 (Sandler et al., CVPR 2018) on RGB, and on DCT coefficients as DCTNet builds it.

``mobilenet_v2`` is torchvision's architecture: 3x3 conv 3->32 at stride 2, the inverted-residual
stages of :data:`SETTINGS`, a 1x1 conv 320->1280, global pool, dropout 0.2, linear (3,504,872
parameters for 1000 classes, ~0.30 GMACs at 224 px).

``mobilenet_v2_dct`` follows calmevtime/DCTNet, classification/models/imagenet/mobilenetv2.py,
``MobileNetV2DCT_Subset_woinp`` (the "upscaled static" models of its README, 112x112 per
channel): the input is a DCTNet-format (N, C, H/8, W/8) subset of an 896 px crop (the image is
upscaled 2x before the 8x8 DCT, so each channel is 112x112, the grid torchvision's first block
sees at 224 px); the stem conv (``features[0]``) is removed and the first inverted residual
(t=1) takes the C channels: its depthwise conv becomes C->C (DCTNet's code for C < 32; we use
the same rule for 48 and 64, which its code does not handle) or, for all 192 channels, a
grouped conv 192->32 with 32 groups. No stride changes: the "upscaled" configuration is
torchvision's (the non-upscaled one, for 448 px input, sets the 32-channel stage to stride 1).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from jpegcoef.channels import subset

from .base import Net
from .features import Feature, run_chain
from .layers import AntiAlias, init_weights

#: torchvision's inverted-residual settings: (expansion t, output channels c, blocks n, stride s).
SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)
STEM_WIDTH, HEAD_WIDTH, DROPOUT = 32, 1280, 0.2
#: mobilenet_v2_dct: width and groups of the first depthwise conv per input channel count
#: (DCTNet's code: 192 -> 32 with 32 groups; otherwise C -> C depthwise).
DCT_FIRST_CONV: dict[int, tuple[int, int]] = {192: (32, 32)}


def conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1,
            act: bool = True) -> nn.Sequential:
    """Conv (padding k//2, no bias) + BN (+ ReLU6)."""
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2,
                                         groups=groups, bias=False), nn.BatchNorm2d(out_ch)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """Expansion 1x1 (if t > 1) -> depthwise 3x3 (stride) -> linear 1x1, each with BN, ReLU6
    after the first two; identity shortcut when the shape is kept. ``hidden``/``dw_groups``
    override the depthwise width and groups (DCTNet's first block on 192 channels).
    Anti-aliased: the depthwise conv at stride 1, BN, ReLU6, then the AA pool
    (adobe/antialiased-cnns, ``mobilenet.py``)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand: int,
                 aa: AntiAlias, hidden: int | None = None, dw_groups: int | None = None) -> None:
        super().__init__()
        hidden = hidden or in_ch * expand
        layers: list[nn.Module] = [conv_bn(in_ch, hidden, 1)] if expand != 1 else []
        dw_in = hidden if expand != 1 else in_ch
        layers.append(conv_bn(dw_in, hidden, 3, 1 if aa.on else stride, dw_groups or hidden))
        if aa.on and stride > 1:
            layers.append(aa.pool(hidden, stride))
        layers.append(conv_bn(hidden, out_ch, 1, act=False))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and in_ch == out_ch
        self.in_ch, self.out_ch, self.stride = in_ch, out_ch, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(Net):
    """MobileNetV2 on RGB (N, 3, H, W). Stage features: timm's points, the last stage at each
    reduction (16@2, 24@4, 32@8, 96@16, 320@32 px)."""

    input_format = "rgb"
    pixel_size = 224
    native_stride_in = "3x3"
    head_modules = ("head", "classifier")
    first_reduction = 2

    def __init__(self, num_classes: int = 1000, *, stride_in: str | None = None,
                 antialias: str = "none", aa_size: int | None = None, aa_groups: int = 8,
                 aa_softmax: str = "joint", dropout: float = DROPOUT,
                 zero_init_residual: bool = False) -> None:
        super().__init__(num_classes, stride_in, antialias, aa_size, aa_groups, aa_softmax)
        if self.stride_in != "3x3":
            raise ValueError(f"{type(self).__name__} strides its depthwise 3x3 convs only: "
                             f"stride_in must be '3x3', got {self.stride_in!r}")
        self.stem = self._stem()
        in_ch = self._stem_out()
        self.stages = nn.ModuleDict()
        for i, (t, c, n, s) in enumerate(SETTINGS, start=1):
            blocks = [self._block(i, j, in_ch if j == 0 else c, c, s if j == 0 else 1, t)
                      for j in range(n)]
            self.stages[f"stage{i}"] = nn.Sequential(*blocks)
            in_ch = c
        self.head = conv_bn(in_ch, HEAD_WIDTH, 1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(HEAD_WIDTH, num_classes))
        init_weights(self)
        nn.init.normal_(self.classifier[1].weight, 0, 0.01)   # torchvision's Linear init
        nn.init.zeros_(self.classifier[1].bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, InvertedResidual) and m.residual:
                    nn.init.zeros_(m.body[-1][1].weight)

    # -- the parts mobilenet_v2_dct changes ----------------------------------------------
    def _stem(self) -> nn.Module:
        return conv_bn(3, STEM_WIDTH, 3, 2)   # kept at stride 2 when anti-aliased, as adobe's

    def _stem_out(self) -> int:
        return STEM_WIDTH

    def _block(self, stage: int, index: int, in_ch: int, out_ch: int, stride: int,
               expand: int) -> InvertedResidual:
        return InvertedResidual(in_ch, out_ch, stride, expand, self.aa)

    # -- interface --------------------------------------------------------------------------
    def input_shapes(self, batch_size: int, size: int) -> list[tuple[int, ...]]:
        return [(batch_size, 3, size, size)]

    def feature_plan(self) -> list[Feature]:
        plan, reduction = [], self.first_reduction
        needs: list[str] = []
        for i, (_, c, _, s) in enumerate(SETTINGS, start=1):
            reduction *= s
            needs.append(f"stages.stage{i}")
            if i == len(SETTINGS) or SETTINGS[i][3] > 1:   # last stage at this reduction
                plan.append(Feature(needs[-1], c, reduction, tuple(needs)))
                needs = []
        return plan

    def _stage_steps(self) -> list[nn.Module]:
        """One step per feature: the stages up to that feature's, in order."""
        steps, names = [], list(self.stages)
        for f in self.feature_plan():
            mods = [self.stages[p.split(".")[-1]] for p in f.needs if p.split(".")[-1] in names]
            steps.append(nn.Sequential(*mods))
        return steps

    def forward_features(self, x: torch.Tensor, last: int | None = None) -> list[torch.Tensor]:
        self.check_input(x)
        return run_chain(self.stem(x), self._stage_steps(), self._last(last))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.forward_features(x)[-1])
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def rf_stages(self) -> list[tuple[str, list[nn.Module]]]:
        front = [("stem", [self.stem])] if not isinstance(self.stem, nn.Identity) else []
        return front + [(k, [v]) for k, v in self.stages.items()]


class MobileNetV2DCT(MobileNetV2):
    """MobileNetV2 on (N, C, H/8, W/8) DCT channels (DCTNet's ``MobileNetV2DCT_Subset_woinp``):
    no stem, the first block takes the C channels; at 896 px the grids are torchvision's at
    224 px, so stage features sit at 8, 16, 32, 64, 128 input pixels."""

    input_format = "dctnet"
    pixel_size = 896
    first_reduction = 8

    def __init__(self, num_classes: int = 1000, *, channels: int = 24, **options: Any) -> None:
        subset(channels)   # ValueError for an unknown subset
        self.channels = channels
        super().__init__(num_classes, **options)
        self.input_options = {"channels": channels}

    def _stem(self) -> nn.Module:
        return nn.Identity()

    def _stem_out(self) -> int:
        return self.channels

    def _block(self, stage: int, index: int, in_ch: int, out_ch: int, stride: int,
               expand: int) -> InvertedResidual:
        if stage == 1 and index == 0:
            hidden, groups = DCT_FIRST_CONV.get(in_ch, (in_ch, in_ch))
            return InvertedResidual(in_ch, out_ch, stride, expand, self.aa, hidden, groups)
        return super()._block(stage, index, in_ch, out_ch, stride, expand)

    def input_shapes(self, batch_size: int, size: int) -> list[tuple[int, ...]]:
        if size % 8:
            raise ValueError(f"mobilenet_v2_dct inputs need a pixel size that is a multiple of "
                             f"8, got {size}")
        return [(batch_size, self.channels, size // 8, size // 8)]
