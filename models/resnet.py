"""ResNet-50 on RGB and the Gueguen et al. variants on JPEG DCT coefficients.

The variants differ only in data (:data:`GUEGUEN`): how the luma (Y, 64 x H/8 x W/8) and
chroma (Cb+Cr, 128 x H/16 x W/16) inputs are brought to a common grid, which stages run on
each path before the concatenation, and which stages run after it. See DESIGN.md's table.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .base import Inputs, Net
from .layers import (RFA, STAGE2, STAGE3, STAGE4, STAGE5, StageSpec, init_weights,
                     make_stages, strided_conv)


class ResNet50(Net):
    """ResNet-50 on RGB (N, 3, H, W): conv7/2 -> maxpool/2 -> stages 2-5 -> avgpool -> fc."""

    input_format = "rgb"
    pixel_size = 224

    def __init__(self, num_classes: int = 1000, *, stride_in: str = "1x1",
                 antialias: str = "none", aa_size: int = 3, aa_groups: int = 8,
                 width: float = 1.0, zero_init_residual: bool = False) -> None:
        super().__init__(num_classes, stride_in, antialias, aa_size, aa_groups)
        stem_width = round(64 * width)
        pool: nn.Module = nn.MaxPool2d(3, 2, padding=1)
        if self.aa.on:  # Zhang: max at stride 1, then anti-aliased subsampling
            pool = nn.Sequential(nn.MaxPool2d(3, 1, padding=1), self.aa.pool(stem_width, 2))
        self.stem = nn.Sequential(nn.Conv2d(3, stem_width, 7, 2, padding=3, bias=False),
                                  nn.BatchNorm2d(stem_width), nn.ReLU(inplace=True), pool)
        specs = tuple(s.scaled(width) for s in (STAGE2, STAGE3, STAGE4, STAGE5))
        self.stages, out = make_stages(stem_width, specs, stride_in, self.aa)
        self.fc = nn.Linear(out, num_classes)
        init_weights(self, zero_init_residual)

    def input_shapes(self, batch_size: int, size: int) -> list[tuple[int, ...]]:
        return [(batch_size, 3, size, size)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self._stages(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def _stages(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages.values():
            x = stage(x)
        return x

    def rf_stages(self) -> list[tuple[str, list[nn.Module]]]:
        return [("stem", [self.stem])] + [(k, [v]) for k, v in self.stages.items()]


@dataclass(frozen=True)
class GueguenSpec:
    """One Gueguen et al. variant as data.

    luma:   None, or "conv": Y goes through Conv(luma_width, 2x2, stride 2) (DownSampling)
    chroma: None, "upsample" (nearest x2) or "deconv" (ConvTranspose(64, 2x2, s2) per Cb, Cr)
    y, cbcr: stages run on each path before the concatenation (Late-Concat variants)
    trunk:  stages run on the concatenation
    """

    trunk: tuple[StageSpec, ...]
    luma: str | None = None
    chroma: str | None = None
    y: tuple[StageSpec, ...] = ()
    cbcr: tuple[StageSpec, ...] = ()
    luma_width: int = 256
    deconv_width: int = 64


_S3_S1 = replace(STAGE3, stride=1)
_S4_S1 = replace(STAGE4, stride=1)
_S4_CB = StageSpec("stage4", 256, 512, 1, 2)          # Y path: stage4's first ConvBlock
_S4_REST = StageSpec("stage4", 256, 1024, 5, 1)       # after the concat: its 5 IdentityBlocks
_CBCR_CB = StageSpec("cbcr", 256, 512, 1, 1, kernels=(1,))
_RFA_AFTER = (RFA, _S3_S1, STAGE4, STAGE5)

GUEGUEN: dict[str, GueguenSpec] = {
    "upsampling": GueguenSpec(chroma="upsample", trunk=(_S3_S1, STAGE4, STAGE5)),
    "upsampling_rfa": GueguenSpec(chroma="upsample", trunk=_RFA_AFTER),
    "deconvolution_rfa": GueguenSpec(chroma="deconv", trunk=_RFA_AFTER),
    "downsampling": GueguenSpec(luma="conv", trunk=(RFA, _S3_S1, _S4_S1, STAGE5)),
    "late_concat": GueguenSpec(y=(_S3_S1, _S4_CB), cbcr=(_CBCR_CB,), trunk=(_S4_REST, STAGE5)),
    "late_concat_rfa": GueguenSpec(y=(RFA, _S3_S1, _S4_CB), cbcr=(_CBCR_CB,),
                                   trunk=(_S4_REST, STAGE5)),
    "late_concat_rfa_thinner": GueguenSpec(
        y=(StageSpec("rfa", 96, 384, 3, 1, kernels=(1, 2, 3)),
           StageSpec("stage3", 96, 384, 4, 1),
           StageSpec("stage4", 192, 768, 1, 2)),
        cbcr=(StageSpec("cbcr", 128, 256, 1, 1, kernels=(1,)),),
        trunk=(_S4_REST, STAGE5)),
}


class GueguenNet(Net):
    """A Gueguen et al. network on ``(y (N,64,H/8,W/8), cbcr (N,128,H/16,W/16))``.

    Both inputs are batch-normalised first (the paper feeds dequantised coefficients straight
    to BN); then the luma/chroma transforms of the spec, the per-path stages, the channel
    concatenation, the trunk stages, global average pooling and the classifier.
    """

    input_format = "gueguen"
    pixel_size = 224

    def __init__(self, spec: GueguenSpec, num_classes: int = 1000, *, stride_in: str = "1x1",
                 antialias: str = "none", aa_size: int = 3, aa_groups: int = 8,
                 zero_init_residual: bool = False) -> None:
        super().__init__(num_classes, stride_in, antialias, aa_size, aa_groups)
        self.spec = spec
        self.bn_y, self.bn_cbcr = nn.BatchNorm2d(64), nn.BatchNorm2d(128)
        y_ch, c_ch = 64, 128
        self.luma: nn.Module = nn.Identity()
        if spec.luma == "conv":
            self.luma = strided_conv(64, spec.luma_width, 2, 2, self.aa)
            y_ch = spec.luma_width
        self.chroma: nn.Module = nn.Identity()
        if spec.chroma == "upsample":
            self.chroma = nn.Upsample(scale_factor=2, mode="nearest")
        elif spec.chroma == "deconv":  # groups=2: one independent ConvTranspose for Cb, one for Cr
            self.chroma = nn.ConvTranspose2d(128, 2 * spec.deconv_width, 2, 2, groups=2,
                                             bias=False)
            c_ch = 2 * spec.deconv_width
        self.y_stages, y_ch = make_stages(y_ch, spec.y, stride_in, self.aa)
        self.cbcr_stages, c_ch = make_stages(c_ch, spec.cbcr, stride_in, self.aa)
        self.trunk, out = make_stages(y_ch + c_ch, spec.trunk, stride_in, self.aa)
        self.fc = nn.Linear(out, num_classes)
        init_weights(self, zero_init_residual)

    def input_shapes(self, batch_size: int, size: int) -> list[tuple[int, ...]]:
        if size % 16:
            raise ValueError(f"gueguen inputs need a pixel size that is a multiple of 16, "
                             f"got {size}")
        return [(batch_size, 64, size // 8, size // 8), (batch_size, 128, size // 16, size // 16)]

    def forward(self, x: Inputs, cbcr: torch.Tensor | None = None) -> torch.Tensor:
        if cbcr is not None:
            x = (x, cbcr)
        self.check_input(x)
        y, c = x
        y = self.luma(self.bn_y(y))
        c = self.chroma(self.bn_cbcr(c))
        for stage in self.y_stages.values():
            y = stage(y)
        for stage in self.cbcr_stages.values():
            c = stage(c)
        if y.shape[-2:] != c.shape[-2:]:
            raise ValueError(f"luma and chroma grids do not line up ({tuple(y.shape[-2:])} vs "
                             f"{tuple(c.shape[-2:])}): the input Y grid must be exactly twice "
                             f"the Cb/Cr grid")
        x = torch.cat([y, c], dim=1)
        for stage in self.trunk.values():
            x = stage(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def rf_stages(self) -> list[tuple[str, list[nn.Module]]]:
        groups: list[tuple[str, list[nn.Module]]] = []
        if self.spec.luma:
            groups.append(("luma", [self.luma]))
        for name, stage in list(self.y_stages.items()) + list(self.trunk.items()):
            if groups and groups[-1][0] == name:  # Late-Concat: stage4 spans the concat
                groups[-1][1].append(stage)
            else:
                groups.append((name, [stage]))
        return groups
