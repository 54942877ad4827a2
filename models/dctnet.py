"""DCTNet (Xu et al., CVPR 2020): ResNet-50 without its stem on (N, C, H/8, W/8) DCT channels,
with the optional learned channel gate.

Input channels are the static subsets of DESIGN.md, ordered [Y | Cb | Cr], each component's
frequencies in natural order (index = 8*row + col).
"""
from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from .base import Net
from .layers import STAGE2, STAGE3, STAGE4, STAGE5, init_weights, make_stages

# DESIGN.md: static channel subsets, per component (natural order 8*row + col).
_Y = {
    24: [*range(0, 4), *range(8, 12), *range(16, 20), *range(24, 28)],
    32: [*range(0, 5), *range(8, 13), *range(16, 21), *range(24, 28), *range(32, 35)],
    48: [*range(0, 6), *range(8, 14), *range(16, 22), *range(24, 30), *range(32, 36),
         *range(40, 44)],
    64: [*range(0, 7), *range(8, 15), *range(16, 22), *range(24, 30), *range(32, 38),
         *range(40, 46), *range(48, 54)],
    192: list(range(64)),
}
_C = {24: [0, 1, 8, 9], 32: [0, 1, 2, 8, 9], 48: [0, 1, 2, 8, 9, 10, 16, 17],
      64: [0, 1, 2, 8, 9, 10, 16, 17, 24, 25], 192: list(range(64))}
SUBSETS: dict[int, dict[str, list[int]]] = {c: {"y": _Y[c], "cb": _C[c], "cr": _C[c]} for c in _Y}


def channel_names(channels: int) -> list[str]:
    """Names of the input channels of the ``channels`` subset, e.g. ['Y0', 'Y1', ..., 'Cr9']."""
    subset = subset_of(channels)
    return [f"{comp.capitalize() if comp != 'y' else 'Y'}{i}"
            for comp in ("y", "cb", "cr") for i in subset[comp]]


def subset_of(channels: int) -> dict[str, list[int]]:
    if channels not in SUBSETS:
        raise ValueError(f"channels must be one of {sorted(SUBSETS)}, got {channels!r}")
    return SUBSETS[channels]


class ChannelGate(nn.Module):
    """Dynamic per-channel on/off gate (DCTNet's learned frequency selection).

    Global average pool -> 1x1 conv C->C, BN, ReLU -> grouped 1x1 conv C->2C (groups=C: two
    logits [off, on] per channel) -> 2-way Gumbel-softmax. In training the decision is a hard
    one-hot sample with the straight-through gradient of the soft sample; in eval it is the
    deterministic argmax. Returns (gated input, decisions (N, C) in {0, 1}).
    """

    def __init__(self, channels: int, tau: float = 1.0, init_on: float = 1.0) -> None:
        super().__init__()
        self.channels, self.tau = channels, tau
        self.squeeze = nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False),
                                     nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.logits = nn.Conv2d(channels, 2 * channels, 1, groups=channels, bias=True)
        self.init_on = init_on

    def reset_parameters(self) -> None:
        """Bias of the 'on' logit = +init_on, 'off' = 0: in training each channel starts on
        with probability sigmoid(init_on / tau) (2.0: 0.88, 1.0: 0.73), in eval all start on.
        The decisions then move with the task loss (straight-through) against the penalty
        ``lambda * fraction on``, whose pull on each channel's logits is only lambda / C."""
        nn.init.normal_(self.logits.weight, std=0.01)
        with torch.no_grad():
            self.logits.bias.view(self.channels, 2).copy_(torch.tensor([0.0, self.init_on]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, c = x.shape[:2]
        logits = self.logits(self.squeeze(F.adaptive_avg_pool2d(x, 1))).view(n, c, 2)
        if self.training:
            u = torch.rand_like(logits).clamp_(1e-10, 1.0 - 1e-7)
            soft = ((logits - torch.log(-torch.log(u))) / self.tau).softmax(dim=-1)
            hard = F.one_hot(soft.argmax(dim=-1), 2).to(soft.dtype)
            decision = hard - soft.detach() + soft          # value: hard; gradient: soft
        else:
            decision = F.one_hot(logits.argmax(dim=-1), 2).to(logits.dtype)
        on = decision[..., 1]
        return x * on[:, :, None, None], on


class DCTNet(Net):
    """ResNet-50 minus conv1/bn1/relu/maxpool on (N, C, H/8, W/8) DCT channels.

    ``layer2_stride=1`` is the released code (56->56->56->28->14 at 448 px, ~13.5 GMACs);
    ``2`` keeps ResNet-50's usual grid (~3.9 GMACs). ``gate=True`` adds :class:`ChannelGate`
    in front (``gate_tau``: Gumbel temperature, ``gate_init``: initial 'on' logit bias); each
    forward then sets ``self.last_gate`` (N, C).
    """

    input_format = "dctnet"
    pixel_size = 448

    def __init__(self, num_classes: int = 1000, *, channels: int = 24, layer2_stride: int = 1,
                 gate: bool = False, gate_tau: float = 1.0, gate_init: float = 1.0,
                 stride_in: str = "3x3",
                 antialias: str = "none", aa_size: int = 3, aa_groups: int = 8,
                 zero_init_residual: bool = False) -> None:
        super().__init__(num_classes, stride_in, antialias, aa_size, aa_groups)
        subset_of(channels)
        if layer2_stride not in (1, 2):
            raise ValueError(f"layer2_stride must be 1 or 2, got {layer2_stride!r}")
        self.channels = channels
        self.input_options = {"channels": channels}
        self.gate = ChannelGate(channels, gate_tau, gate_init) if gate else None
        self.last_gate: torch.Tensor | None = None
        specs = (STAGE2, replace(STAGE3, stride=layer2_stride), STAGE4, STAGE5)
        self.stages, out = make_stages(channels, specs, stride_in, self.aa)
        self.fc = nn.Linear(out, num_classes)
        init_weights(self, zero_init_residual)
        if self.gate is not None:
            self.gate.reset_parameters()

    def input_shapes(self, batch_size: int, size: int) -> list[tuple[int, ...]]:
        if size % 8:
            raise ValueError(f"dctnet inputs need a pixel size that is a multiple of 8, got {size}")
        return [(batch_size, self.channels, size // 8, size // 8)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if self.gate is not None:
            x, self.last_gate = self.gate(x)
        for stage in self.stages.values():
            x = stage(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def rf_stages(self) -> list[tuple[str, list[nn.Module]]]:
        return [(k, [v]) for k, v in self.stages.items()]
