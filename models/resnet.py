"""ResNet-50 on RGB and the Gueguen et al. variants on JPEG DCT coefficients.

The variants differ only in data (:data:`GUEGUEN`): how the luma (Y, 64 x H/8 x W/8) and
chroma (Cb+Cr, 128 x H/16 x W/16) inputs are brought to a common grid, which stages run on
each path before the concatenation, and which stages run after it. See DESIGN.md's table.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from jpegcoef.channels import SUBSETS

from .base import Inputs, Net
from .features import Feature, run_chain, stage_features
from .layers import (RFA, STAGE2, STAGE3, STAGE4, STAGE5, StageSpec, init_weights,
                     make_stages, strided_conv)


class ResNet50(Net):
    """ResNet-50 on RGB (N, 3, H, W): conv7/2 -> maxpool/2 -> stages 2-5 -> avgpool -> fc.

    Anti-aliased (``antialias`` blur|adaptive), the stem's max-pool is the one of
    adobe/antialiased-cnns (``resnet.py``, ``pool_only=True``): MaxPool(k=2, s=1) without
    padding, then the AA pool at stride 2 (Zou's PASA ResNet uses the same stem).
    """

    input_format = "rgb"
    pixel_size = 224

    def __init__(self, num_classes: int = 1000, *, stride_in: str | None = None,
                 antialias: str = "none", aa_size: int | None = None, aa_groups: int = 8,
                 aa_softmax: str = "joint", width: float = 1.0,
                 zero_init_residual: bool = False) -> None:
        super().__init__(num_classes, stride_in, antialias, aa_size, aa_groups, aa_softmax)
        stem_width = round(64 * width)
        pool: nn.Module = nn.MaxPool2d(3, 2, padding=1)
        if self.aa.on:  # Zhang: max at stride 1, then anti-aliased subsampling
            pool = nn.Sequential(nn.MaxPool2d(2, 1), self.aa.pool(stem_width, 2))
        self.stem = nn.Sequential(nn.Conv2d(3, stem_width, 7, 2, padding=3, bias=False),
                                  nn.BatchNorm2d(stem_width), nn.ReLU(inplace=True), pool)
        self.specs = tuple(s.scaled(width) for s in (STAGE2, STAGE3, STAGE4, STAGE5))
        self.stages, out = make_stages(stem_width, self.specs, self.stride_in, self.aa)
        self.fc = nn.Linear(out, num_classes)
        init_weights(self, zero_init_residual)

    def input_shapes(self, batch_size: int, size: int) -> list[tuple[int, ...]]:
        return [(batch_size, 3, size, size)]

    def feature_plan(self) -> list[Feature]:
        """timm's ResNet features: the stem's ReLU (reduction 2), then each stage."""
        stem = Feature("stem.2", self.stem[0].out_channels, 2)
        stages = stage_features("stages", self.specs, 4)
        stages[0] = replace(stages[0], needs=("stem.3",) + stages[0].needs)
        return [stem] + stages

    def forward_features(self, x: torch.Tensor, last: int | None = None) -> list[torch.Tensor]:
        self.check_input(x)
        last = self._last(last)
        x = self.stem[:3](x)
        if last == 0:
            return [x]
        return [x] + run_chain(self.stem[3:](x), list(self.stages.values()), last - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)[-1]
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def rf_stages(self) -> list[tuple[str, list[nn.Module]]]:
        return [("stem", [self.stem])] + [(k, [v]) for k, v in self.stages.items()]


@dataclass(frozen=True)
class GueguenSpec:
    """One Gueguen et al. variant as data.

    luma:   None, or "conv": Y goes through Conv(luma_width, 2x2, stride 2) (DownSampling)
    chroma: None, "upsample" (nearest x2) or "deconv" (ConvTranspose(64, 2x2, s2) per Cb, Cr)
    y, cbcr: stages run on each path before the concatenation (Late-Concat variants)
    trunk:  stages run on the concatenation
    bn:     "inputs" (BN on the Y and on the Cb/Cr input) or "concat" (one BN after the
            concatenation, DESIGN.md's "-> concat 192 -> BN"; needs no luma conv or Y stages)
    """

    trunk: tuple[StageSpec, ...]
    luma: str | None = None
    chroma: str | None = None
    y: tuple[StageSpec, ...] = ()
    cbcr: tuple[StageSpec, ...] = ()
    luma_width: int = 256
    deconv_width: int = 64
    bn: str = "inputs"


_S3_S1 = replace(STAGE3, stride=1)
_S4_S1 = replace(STAGE4, stride=1)
_S4_CB = StageSpec("stage4", 256, 512, 1, 2)          # Y path: stage4's first ConvBlock
_S4_REST = StageSpec("stage4", 256, 1024, 5, 1)       # after the concat: its 5 IdentityBlocks
_CBCR_CB = StageSpec("cbcr", 256, 512, 1, 1, kernels=(1,))
_RFA_AFTER = (RFA, _S3_S1, STAGE4, STAGE5)

GUEGUEN: dict[str, GueguenSpec] = {
    "upsampling": GueguenSpec(chroma="upsample", trunk=(_S3_S1, STAGE4, STAGE5)),
    "upsampling_rfa": GueguenSpec(chroma="upsample", trunk=_RFA_AFTER),
    # BN after the concat of Y and the two deconvolved chroma maps (DESIGN.md's table; issue 12)
    "deconvolution_rfa": GueguenSpec(chroma="deconv", trunk=_RFA_AFTER, bn="concat"),
    "downsampling": GueguenSpec(luma="conv", trunk=(RFA, _S3_S1, _S4_S1, STAGE5)),
    "late_concat": GueguenSpec(y=(_S3_S1, _S4_CB), cbcr=(_CBCR_CB,), trunk=(_S4_REST, STAGE5)),
    "late_concat_rfa": GueguenSpec(y=(RFA, _S3_S1, _S4_CB), cbcr=(_CBCR_CB,),
                                   trunk=(_S4_REST, STAGE5)),
    # res3a is a ConvBlock with a 1x1 384->384 projection shortcut (res3a_branch1 in
    # uber-research/jpeg2dct diagrams/ResNet50-Late-Concat-RFA-Thinner.png)
    "late_concat_rfa_thinner": GueguenSpec(
        y=(StageSpec("rfa", 96, 384, 3, 1, kernels=(1, 2, 3)),
           StageSpec("stage3", 96, 384, 4, 1, project_first=True),
           StageSpec("stage4", 192, 768, 1, 2)),
        cbcr=(StageSpec("cbcr", 128, 256, 1, 1, kernels=(1,)),),
        trunk=(_S4_REST, STAGE5)),
}
BN_PLACES = ("inputs", "concat")
#: ``input_norm=`` of the Gueguen networks (the input recipe; see :class:`GueguenNet`)
INPUT_NORMS = ("bn", "natural", "gain")
#: Named input recipes of the Gueguen networks (``recipe=``); ``channels``, ``input_norm`` and
#: ``mask`` given explicitly override the recipe's value.
RECIPES: dict[str, dict[str, Any]] = {
    # Gueguen et al.: all 192 dequantised coefficients, each batch-normalised
    "paper": {"channels": 192, "input_norm": "bn", "mask": None},
    # DCTNet-24's low frequencies only, at their natural scale times a learned gain
    "low24": {"channels": 24, "input_norm": "gain", "mask": None},
    # DCTNet-24's low frequencies only, each batch-normalised (the paper's BN, DCTNet's subset)
    "dct24": {"channels": 24, "input_norm": "bn", "mask": None},
}
#: the default: dct24 won the photos-v2 recipe ablations (README, "Accuracy on real photographs")
DEFAULT_RECIPE = "dct24"


class InputGain(nn.Module):
    """A learned gain per input channel, initialised to 1: ``x * g[c]``.

    On the format's ``norm="component"`` input (one scale per component, the natural spectrum)
    it starts as that spectrum and lets the network re-weight each frequency. Its parameter is
    1-D, so the optimiser gives it no weight decay (as BN's). Before a convolution, unlike
    before a BatchNorm, a per-channel gain is not cancelled: it changes the per-frequency
    learning dynamics (and can be read off after training: ``g``).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.g = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.g.view(1, -1, 1, 1)


class FrequencyMask(nn.Module):
    """Zeroes the input channels outside a kept set (full compute: dropping done the long way)."""

    def __init__(self, keep: list[bool]) -> None:
        super().__init__()
        self.register_buffer("keep", torch.tensor(keep, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.keep


def _input_layer(input_norm: str, channels: int, keep: list[bool] | None) -> nn.Module:
    """The input normalisation (BN | nothing | a learned gain), then the frequency mask."""
    layer: nn.Module = {"bn": lambda: nn.BatchNorm2d(channels), "natural": nn.Identity,
                        "gain": lambda: InputGain(channels)}[input_norm]()
    if keep is not None and not all(keep):
        layer = nn.Sequential(layer, FrequencyMask(keep))
    return layer


class GueguenNet(Net):
    """A Gueguen et al. network on ``(y (N,64,H/8,W/8), cbcr (N,128,H/16,W/16))``.

    The inputs are batch-normalised (the paper feeds dequantised coefficients straight to BN;
    ``spec.bn`` says where); then the luma/chroma transforms of the spec, the per-path stages,
    the channel concatenation, the trunk stages, global average pooling and the classifier.
    Stage features: the Y-path stages, then the trunk's (a stage that spans the concatenation,
    Late-Concat's stage4, is one feature: its output after the trunk part).

    The input recipe (options; recorded with the model's options in results and checkpoints):

    - ``recipe``: a named set of the three below (:data:`RECIPES`; default
      :data:`DEFAULT_RECIPE`, ``"dct24"``: DCTNet-24's frequencies only, each batch-normalised,
      which closed the gap to resnet50 in the photos-v2 study; ``"paper"``: 192 coefficients,
      per-coefficient BN, as Gueguen et al.; ``"low24"``: DCTNet-24's frequencies at their natural
      scale times a learned gain). The options below override it.
      deconvolution_rfa (BN after the concatenation) takes, and defaults to, the paper's.
    - ``channels``: 192 (the paper: all 64 frequencies of Y, Cb and Cr) or a DCTNet subset
      (24, 32, 48, 64): only those frequencies are read, so the first layers are narrower.
    - ``input_norm``: ``"bn"`` (the paper: per-coefficient statistics, then BatchNorm on each
      input), ``"natural"`` (one scale per component, no input BN: the natural spectrum an RGB
      network sees through an orthonormal 8x8 patch embedding) or ``"gain"`` (that natural
      input times a learned gain per frequency, initialised to 1). ``"natural"`` and ``"gain"``
      ask the format for ``norm="component"``.
    - ``mask``: None or a DCTNet subset: the frequencies outside it are zeroed after the input
      normalisation, at full width and full compute. A zeroed input adds nothing to the first
      convolution, so this is the dropped input computed the long way; it differs only in the
      first layer's initial weight scale (Kaiming's fan-in counts the dead channels), hence
      its effective learning rate. The ablation shows that narrowing costs no accuracy.
    """

    input_format = "gueguen"
    pixel_size = 224

    def __init__(self, spec: GueguenSpec, num_classes: int = 1000, *,
                 stride_in: str | None = None, antialias: str = "none",
                 aa_size: int | None = None, aa_groups: int = 8, aa_softmax: str = "joint",
                 zero_init_residual: bool = False, recipe: str | None = None,
                 channels: int | None = None, input_norm: str | None = None,
                 mask: int | None = None) -> None:
        super().__init__(num_classes, stride_in, antialias, aa_size, aa_groups, aa_softmax)
        if recipe is None:  # the concat-BN design (deconvolution_rfa) exists for the paper's input
            recipe = DEFAULT_RECIPE if spec.bn == "inputs" else "paper"
        if recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {sorted(RECIPES)}, got {recipe!r}")
        base = RECIPES[recipe]
        channels = base["channels"] if channels is None else channels
        input_norm = base["input_norm"] if input_norm is None else input_norm
        mask = base["mask"] if mask is None else mask
        if spec.bn not in BN_PLACES or (spec.bn == "concat" and (spec.luma or spec.y)):
            raise ValueError(f"GueguenSpec.bn must be one of {BN_PLACES} ('concat' only "
                             f"without a luma conv or Y stages), got {spec.bn!r}")
        if channels not in SUBSETS:
            raise ValueError(f"channels must be one of {sorted(SUBSETS)}, got {channels!r}")
        if input_norm not in INPUT_NORMS:
            raise ValueError(f"input_norm must be one of {INPUT_NORMS}, got {input_norm!r}")
        kept = SUBSETS[channels]
        keep_y = keep_c = None
        if mask is not None:
            if mask not in SUBSETS:
                raise ValueError(f"mask must be None or one of {sorted(SUBSETS)}, got {mask!r}")
            m = SUBSETS[mask]
            if not set(m["y"]) <= set(kept["y"]) or not set(m["c"]) <= set(kept["c"]):
                raise ValueError(f"mask={mask} keeps frequencies that channels={channels} drops")
            keep_y = [i in m["y"] for i in kept["y"]]
            keep_c = [i in m["c"] for i in kept["c"]] * 2
        self.spec = spec
        #: the resolved input recipe (what results and checkpoints record)
        self.recipe = {"recipe": recipe, "channels": channels, "input_norm": input_norm,
                       "mask": mask}
        self.input_options = {"channels": channels,
                              "norm": "coef" if input_norm == "bn" else "component"}
        y_in, c_in = len(kept["y"]), 2 * len(kept["c"])
        self._in_channels = (y_in, c_in)
        y_ch, c_ch = y_in, c_in
        if spec.bn == "inputs":
            self.bn_y = _input_layer(input_norm, y_in, keep_y)
            self.bn_cbcr = _input_layer(input_norm, c_in, keep_c)
        elif input_norm != "bn" or mask is not None:
            raise ValueError(f"{input_norm=} / {mask=}: the concat-BN variant "
                             f"(deconvolution_rfa) takes the paper's recipe only")
        self.luma: nn.Module = nn.Identity()
        if spec.luma == "conv":
            self.luma = strided_conv(y_in, spec.luma_width, 2, 2, self.aa)
            y_ch = spec.luma_width
        self.chroma: nn.Module = nn.Identity()
        if spec.chroma == "upsample":
            self.chroma = nn.Upsample(scale_factor=2, mode="nearest")
        elif spec.chroma == "deconv":  # groups=2: one independent ConvTranspose for Cb, one for Cr
            self.chroma = nn.ConvTranspose2d(c_in, 2 * spec.deconv_width, 2, 2, groups=2,
                                             bias=False)
            c_ch = 2 * spec.deconv_width
        self.y_stages, y_ch = make_stages(y_ch, spec.y, self.stride_in, self.aa)
        self.cbcr_stages, c_ch = make_stages(c_ch, spec.cbcr, self.stride_in, self.aa)
        if spec.bn == "concat":
            self.bn_concat = nn.BatchNorm2d(y_ch + c_ch)
        self.trunk, out = make_stages(y_ch + c_ch, spec.trunk, self.stride_in, self.aa)
        self.fc = nn.Linear(out, num_classes)
        self._groups = _stage_groups(spec)
        init_weights(self, zero_init_residual)

    def input_shapes(self, batch_size: int, size: int) -> list[tuple[int, ...]]:
        if size % 16:
            raise ValueError(f"gueguen inputs need a pixel size that is a multiple of 16, "
                             f"got {size}")
        y_in, c_in = self._in_channels
        return [(batch_size, y_in, size // 8, size // 8), (batch_size, c_in, size // 16, size // 16)]

    def feature_plan(self) -> list[Feature]:
        reduction = 8 * (2 if self.spec.luma == "conv" else 1)
        specs = {("y", s.name): s for s in self.spec.y}
        specs.update({("trunk", s.name): s for s in self.spec.trunk})
        plan, merged = [], False
        for group in self._groups:
            needs = []
            for where, name in group:
                if where == "trunk" and not merged:
                    needs += ["bn_cbcr", "chroma", "cbcr_stages", "bn_concat"]
                    merged = True
                needs.append(f"{'y_stages' if where == 'y' else 'trunk'}.{name}")
                reduction *= specs[(where, name)].stride
            out = specs[group[-1]].out
            plan.append(Feature(needs[-1], out, reduction, tuple(needs)))
        return plan

    def forward_features(self, x: Inputs, last: int | None = None) -> list[torch.Tensor]:
        y, c = self.check_input(x)
        y = self.luma(self.bn_y(y) if self.spec.bn == "inputs" else y)
        out, merged = [], False
        for group in self._groups[:self._last(last) + 1]:
            for where, name in group:
                if where == "trunk" and not merged:
                    y, merged = self._merge(y, c), True
                y = (self.y_stages if where == "y" else self.trunk)[name](y)
            out.append(y)
        return out

    def _merge(self, y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Chroma transform and stages, then the channel concatenation (and its BN)."""
        c = self.chroma(self.bn_cbcr(c) if self.spec.bn == "inputs" else c)
        for stage in self.cbcr_stages.values():
            c = stage(c)
        if y.shape[-2:] != c.shape[-2:]:
            raise ValueError(f"luma and chroma grids do not line up ({tuple(y.shape[-2:])} vs "
                             f"{tuple(c.shape[-2:])}): the input Y grid must be exactly twice "
                             f"the Cb/Cr grid")
        x = torch.cat([y, c], dim=1)
        return self.bn_concat(x) if self.spec.bn == "concat" else x

    def forward(self, x: Inputs, cbcr: torch.Tensor | None = None) -> torch.Tensor:
        if cbcr is not None:
            x = (x, cbcr)
        x = self.forward_features(x)[-1]
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def rf_stages(self) -> list[tuple[str, list[nn.Module]]]:
        groups: list[tuple[str, list[nn.Module]]] = []
        if self.spec.luma:
            groups.append(("luma", [self.luma]))
        for group in self._groups:
            groups.append((group[0][1], [(self.y_stages if where == "y" else self.trunk)[name]
                                         for where, name in group]))
        return groups


def _stage_groups(spec: GueguenSpec) -> list[list[tuple[str, str]]]:
    """The Y-path then trunk stages as ("y" | "trunk", name), consecutive equal names (a stage
    that spans the concatenation) grouped."""
    groups: list[list[tuple[str, str]]] = []
    for where, stage in [("y", s) for s in spec.y] + [("trunk", s) for s in spec.trunk]:
        if groups and groups[-1][-1][1] == stage.name:
            groups[-1].append((where, stage.name))
        else:
            groups.append([(where, stage.name)])
    return groups
