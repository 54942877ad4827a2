"""Backbone features for dense prediction, in timm's ``features_only`` convention.

``models.create(name, features_only=True, out_indices=(1, 2, 3))`` returns a :class:`FeatureNet`:
its forward gives the list of the selected stage outputs, and ``feature_info`` their channels
and reduction in input pixels (a DCT model's Y coefficient covers an 8x8 block: its first
stage is at reduction 8). The classifier and the stages after the last selected one are
removed, so every parameter of a FeatureNet takes part in its forward.

>>> from jpegcoef import models
>>> net = models.create("resnet50", features_only=True, out_indices=(2, 3, 4))
>>> net.feature_info.channels(), net.feature_info.reduction()
([512, 1024, 2048], [8, 16, 32])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn


@dataclass(frozen=True)
class Feature:
    """One stage output: ``module`` (path of the module whose output it is), ``channels``,
    ``reduction`` (input pixels per output cell) and ``needs`` (the module paths this stage is
    the first to run; removed when no selected stage comes at or after it)."""

    module: str
    channels: int
    reduction: int
    needs: tuple[str, ...] = ()


class FeatureInfo:
    """The selected features, timm-style: ``channels()``, ``reduction()``, ``module_name()``
    (lists in ``out_indices`` order, or one value with ``idx``), ``get_dicts()``, indexing."""

    def __init__(self, features: Sequence[Feature], out_indices: Sequence[int]) -> None:
        self.out_indices = tuple(out_indices)
        self.info = [{"num_chs": features[i].channels, "reduction": features[i].reduction,
                      "module": features[i].module, "index": i} for i in self.out_indices]

    def _get(self, key: str, idx: int | None) -> Any:
        return [d[key] for d in self.info] if idx is None else self.info[idx][key]

    def channels(self, idx: int | None = None) -> Any:
        return self._get("num_chs", idx)

    def reduction(self, idx: int | None = None) -> Any:
        return self._get("reduction", idx)

    def module_name(self, idx: int | None = None) -> Any:
        return self._get("module", idx)

    def get_dicts(self) -> list[dict[str, Any]]:
        return [dict(d) for d in self.info]

    def __getitem__(self, idx: int) -> dict[str, Any]:
        return self.info[idx]

    def __len__(self) -> int:
        return len(self.info)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.info)

    def __repr__(self) -> str:
        return f"FeatureInfo({self.info})"


def resolve_indices(out_indices: Sequence[int] | None, count: int, name: str) -> tuple[int, ...]:
    """``out_indices`` (negative ones count from the end; None: all) checked against
    ``count`` features; ValueError on an empty, repeated, non-int or out-of-range index."""
    if out_indices is None:
        return tuple(range(count))
    if isinstance(out_indices, int) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in out_indices):
        raise ValueError(f"{name}: out_indices must be a sequence of ints, got {out_indices!r}")
    bad = [i for i in out_indices if not -count <= i < count]
    if bad or not out_indices:
        raise ValueError(f"{name}: out_indices {list(out_indices)} must be non-empty and in "
                         f"[{-count}, {count - 1}] ({count} features)")
    resolved = tuple(i % count for i in out_indices)
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"{name}: out_indices {list(out_indices)} repeat a feature")
    return resolved


def _delete(root: nn.Module, path: str) -> None:
    parent_path, _, child = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    if child in parent._modules:
        delattr(parent, child)


class FeatureNet(nn.Module):
    """A backbone whose forward returns the selected stage outputs (a list of tensors)."""

    def __init__(self, model: nn.Module, out_indices: Sequence[int] | None = None) -> None:
        super().__init__()
        plan = model.feature_plan()
        name = getattr(model, "model_name", type(model).__name__)
        self.out_indices = resolve_indices(out_indices, len(plan), name)
        self.last = max(self.out_indices)
        for path in list(model.head_modules) + [p for f in plan[self.last + 1:] for p in f.needs]:
            _delete(model, path)
        self.model = model
        self.feature_info = FeatureInfo(plan, self.out_indices)
        self.input_format: str = model.input_format
        self.input_options: dict[str, Any] = dict(model.input_options)
        self.pixel_size: int = model.pixel_size

    def forward(self, *inputs: Any) -> list[torch.Tensor]:
        x = inputs[0] if len(inputs) == 1 else tuple(inputs)
        feats = self.model.forward_features(x, last=self.last)
        return [feats[i] for i in self.out_indices]

    def example_input(self, batch_size: int = 1, size: int | None = None) -> Any:
        return self.model.example_input(batch_size, size)

    def input_shapes(self, batch_size: int, size: int) -> list[tuple[int, ...]]:
        return self.model.input_shapes(batch_size, size)


def stage_features(prefix: str, specs: Sequence[Any], reduction: int) -> list[Feature]:
    """One :class:`Feature` per stage spec (``name``, ``out``, ``stride``) of the ModuleDict at
    ``prefix``, starting from the input's ``reduction``."""
    out = []
    for spec in specs:
        reduction *= spec.stride
        path = f"{prefix}.{spec.name}"
        out.append(Feature(path, spec.out, reduction, (path,)))
    return out


def run_chain(x: Any, steps: Sequence[Callable[[Any], torch.Tensor]],
              last: int) -> list[torch.Tensor]:
    """Apply ``steps[0..last]`` in turn, collecting each output."""
    out = []
    for step in steps[:last + 1]:
        x = step(x)
        out.append(x)
    return out
