"""The interface every network of the family shares (see ARCHITECTURE.md, "Models")."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .features import Feature
from .layers import STRIDE_IN, AntiAlias

Inputs = torch.Tensor | tuple[torch.Tensor, ...]


class Net(nn.Module):
    """Base class: input description, example inputs, stage features and the receptive-field
    path.

    Subclasses set ``input_format`` ('rgb' | 'gueguen' | 'dctnet'), ``input_options``,
    ``pixel_size`` (the paper's input size in pixels), ``native_stride_in`` (where the family's
    bottlenecks put their stride without anti-aliasing) and ``head_modules`` (the classifier's
    module paths), and implement :meth:`input_shapes`, :meth:`feature_plan`,
    :meth:`forward_features` and :meth:`rf_stages`.

    ``stride_in=None`` resolves to ``native_stride_in``, or to "3x3" when anti-aliasing is on:
    Zhang's network blurs after the 3x3 conv at full resolution (adobe/antialiased-cnns,
    ``Bottleneck``: conv2 at stride 1, BN, ReLU, BlurPool, conv3), as does Zou's PASA ResNet.
    """

    input_format: str = "rgb"
    pixel_size: int = 224
    native_stride_in: str = "1x1"
    head_modules: tuple[str, ...] = ("fc",)

    def __init__(self, num_classes: int, stride_in: str | None, antialias: str,
                 aa_size: int | None, aa_groups: int, aa_softmax: str = "joint") -> None:
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        self.aa = AntiAlias(antialias, aa_size, aa_groups, aa_softmax)
        if stride_in is None:
            stride_in = "3x3" if self.aa.on else self.native_stride_in
        if stride_in not in STRIDE_IN:
            raise ValueError(f"stride_in must be one of {STRIDE_IN}, got {stride_in!r}")
        self.num_classes = num_classes
        self.stride_in = stride_in
        self.input_options: dict[str, Any] = {}

    # -- inputs ---------------------------------------------------------------------------
    def input_shapes(self, batch_size: int, size: int) -> list[tuple[int, ...]]:
        """Shapes of the input tensors for images of ``size`` x ``size`` pixels."""
        raise NotImplementedError

    def example_input(self, batch_size: int = 1, size: int | None = None) -> Inputs:
        """Random input exactly as ``forward`` takes it, at the paper's input size (or at
        ``size`` x ``size`` pixels; DCT formats need a multiple of 8 / 16)."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        size = self.pixel_size if size is None else size
        p = next(self.parameters())
        tensors = [torch.randn(s, device=p.device, dtype=p.dtype)
                   for s in self.input_shapes(batch_size, size)]
        return tensors[0] if len(tensors) == 1 else tuple(tensors)

    def check_input(self, x: Inputs) -> Inputs:
        """Raise ValueError with a clear message unless ``x`` has this model's input layout."""
        expected = self.input_shapes(1, self.pixel_size)
        got = list(x) if isinstance(x, (tuple, list)) else [x]
        if len(got) != len(expected) or not all(isinstance(t, torch.Tensor) for t in got):
            raise ValueError(f"{type(self).__name__} ({self.input_format}) takes "
                             f"{len(expected)} tensor(s) shaped like "
                             f"{[('N',) + s[1:] for s in expected]}, got {_describe(x)}")
        for t, e in zip(got, expected):
            if t.dim() != 4 or t.shape[1] != e[1]:
                raise ValueError(f"{type(self).__name__} ({self.input_format}) expects input "
                                 f"shaped (N, {e[1]}, H, W), got {tuple(t.shape)}")
            if not t.is_floating_point():
                raise ValueError(f"{type(self).__name__} expects floating-point input, "
                                 f"got {t.dtype}")
        return x

    # -- stage features (timm's features_only) ----------------------------------------------
    def feature_plan(self) -> list[Feature]:
        """The stage outputs :meth:`forward_features` returns, in order: each one's module
        path, channels, reduction in input pixels and the modules it is the first to need."""
        raise NotImplementedError

    def forward_features(self, x: Inputs, last: int | None = None) -> list[torch.Tensor]:
        """The stage outputs of :meth:`feature_plan` for input ``x``, up to index ``last``
        (all by default; later stages are not run)."""
        raise NotImplementedError

    def _last(self, last: int | None) -> int:
        n = len(self.feature_plan())
        return n - 1 if last is None else last

    # -- receptive field ------------------------------------------------------------------
    def rf_start(self) -> tuple[float, float]:
        """(receptive field, stride) of one input element, in pixels: 1/1 for RGB; one DCT
        coefficient of Y covers an 8x8 block, 8/8."""
        return (1.0, 1.0) if self.input_format == "rgb" else (8.0, 8.0)

    def rf_stages(self) -> list[tuple[str, list[nn.Module]]]:
        """The modules along the Y (luma) path, grouped by stage, in execution order."""
        raise NotImplementedError


def _describe(x: object) -> str:
    if isinstance(x, torch.Tensor):
        return f"a tensor {tuple(x.shape)}"
    if isinstance(x, (tuple, list)):
        return "(" + ", ".join(_describe(t) for t in x) + ")"
    return type(x).__name__
