"""DCTNet (Xu et al., CVPR 2020): ResNet-50 without its stem on (N, C, H/8, W/8) DCT channels,
with the optional learned channel gate.

Input channels are the static subsets of :mod:`jpegcoef.channels` (DESIGN.md), ordered
[Y | Cb | Cr], each component's frequencies in natural order (index = 8*row + col).
"""
from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from jpegcoef.channels import channel_names
from jpegcoef.channels import subset as subset_of

from .base import Net
from .features import Feature, run_chain, stage_features
from .layers import STAGE2, STAGE3, STAGE4, STAGE5, init_weights, make_stages

__all__ = ["DCTNet", "ChannelGate", "GATE_INIT", "channel_names", "subset_of", "gate_penalty"]

#: The gate's initialisation in DCTNet's code (calmevtime/DCTNet,
#: segmentation/mmdet/models/backbones/resnetDCT_dynamic.py ``init_weights`` and
#: classification/models/imagenet/mobilenetv2.py): the grouped logits conv ``inp_gate_l`` gets
#: weights N(0, 0.001) and biases 0.1 ('off', even entries) and 2 ('on', odd entries); the
#: squeeze conv ``inp_gate`` (1x1, with bias) Kaiming-normal and its BN weight 1.
GATE_INIT = {"weight_std": 0.001, "off_bias": 0.1, "on_bias": 2.0}


def gate_penalty(on: torch.Tensor) -> torch.Tensor:
    """Xu et al.'s channel-usage term for gate decisions ``on`` (N, C): the sum over the C
    channels of the gate values, as in the paper's loss ``L = L_acc + lambda * sum_i F(X_i)``,
    averaged over the batch. (DCTNet's released detection code takes the mean over channels
    instead, ``torch.mean(ga)``: the same term divided by C.)"""
    if on.dim() != 2:
        raise ValueError(f"gate decisions must be (N, C), got {tuple(on.shape)}")
    return on.float().sum(dim=1).mean()


class ChannelGate(nn.Module):
    """Dynamic per-channel on/off gate (DCTNet's learned frequency selection).

    Global average pool -> 1x1 conv C->C (with bias), BN, ReLU -> grouped 1x1 conv C->2C
    (groups=C: two logits [off, on] per channel) -> 2-way Gumbel-softmax. In training the
    decision is a hard one-hot sample with the straight-through gradient of the soft sample;
    in eval it is the deterministic argmax. Returns (gated input, decisions (N, C) in {0, 1}).
    """

    def __init__(self, channels: int, tau: float = 1.0,
                 init_on: float = GATE_INIT["on_bias"]) -> None:
        super().__init__()
        self.channels, self.tau = channels, tau
        self.squeeze = nn.Sequential(nn.Conv2d(channels, channels, 1, bias=True),
                                     nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.logits = nn.Conv2d(channels, 2 * channels, 1, groups=channels, bias=True)
        self.init_on = init_on

    def reset_parameters(self) -> None:
        """DCTNet's initialisation (:data:`GATE_INIT`), with the 'on' bias ``init_on``: in
        training each channel starts on with probability sigmoid((init_on - 0.1) / tau)
        (2.0: 0.87), in eval all start on. The squeeze conv/BN keep :func:`init_weights`'
        Kaiming-normal / unit initialisation, as DCTNet's ``kaiming_init`` / ``constant_init``."""
        nn.init.normal_(self.logits.weight, std=GATE_INIT["weight_std"])
        with torch.no_grad():
            self.logits.bias.view(self.channels, 2).copy_(
                torch.tensor([GATE_INIT["off_bias"], self.init_on]))

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
    ``2`` keeps ResNet-50's usual grid (~3.9 GMACs; seeds/004's DCT-24 baseline). ``gate=True``
    adds :class:`ChannelGate` in front (``gate_tau``: Gumbel temperature, ``gate_init``:
    initial 'on' logit bias); each forward then sets ``self.last_gate`` (N, C), and
    :meth:`gate_penalty` gives the paper's channel-usage term for it.
    """

    input_format = "dctnet"
    pixel_size = 448
    native_stride_in = "3x3"

    def __init__(self, num_classes: int = 1000, *, channels: int = 24, layer2_stride: int = 1,
                 gate: bool = False, gate_tau: float = 1.0,
                 gate_init: float = GATE_INIT["on_bias"], stride_in: str | None = None,
                 antialias: str = "none", aa_size: int | None = None, aa_groups: int = 8,
                 aa_softmax: str = "joint", zero_init_residual: bool = False) -> None:
        super().__init__(num_classes, stride_in, antialias, aa_size, aa_groups, aa_softmax)
        subset_of(channels)
        if layer2_stride not in (1, 2):
            raise ValueError(f"layer2_stride must be 1 or 2, got {layer2_stride!r}")
        self.channels = channels
        self.input_options = {"channels": channels}
        self.gate = ChannelGate(channels, gate_tau, gate_init) if gate else None
        self.last_gate: torch.Tensor | None = None
        self.specs = (STAGE2, replace(STAGE3, stride=layer2_stride), STAGE4, STAGE5)
        self.stages, out = make_stages(channels, self.specs, self.stride_in, self.aa)
        self.fc = nn.Linear(out, num_classes)
        init_weights(self, zero_init_residual)
        if self.gate is not None:
            self.gate.reset_parameters()

    def input_shapes(self, batch_size: int, size: int) -> list[tuple[int, ...]]:
        if size % 8:
            raise ValueError(f"dctnet inputs need a pixel size that is a multiple of 8, got {size}")
        return [(batch_size, self.channels, size // 8, size // 8)]

    def gate_penalty(self) -> torch.Tensor:
        """:func:`gate_penalty` of the last forward's gate decisions (sum over channels, mean
        over the batch); the training loss adds ``lambda *`` this."""
        if self.last_gate is None:
            raise RuntimeError("gate_penalty needs a forward of a model built with gate=True")
        return gate_penalty(self.last_gate)

    def feature_plan(self) -> list[Feature]:
        plan = stage_features("stages", self.specs, 8)
        plan[0] = replace(plan[0], needs=("gate",) + plan[0].needs)
        return plan

    def forward_features(self, x: torch.Tensor, last: int | None = None) -> list[torch.Tensor]:
        self.check_input(x)
        if self.gate is not None:
            x, self.last_gate = self.gate(x)
        return run_chain(x, list(self.stages.values()), self._last(last))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)[-1]
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def rf_stages(self) -> list[tuple[str, list[nn.Module]]]:
        return [(k, [v]) for k, v in self.stages.items()]
