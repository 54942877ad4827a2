"""Name -> builder registry (as timm's ``create_model``): ``create``, ``names``, ``info``.

Each entry carries the input format its model reads (``info(name).input_format``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Sequence

from torch import nn

from .features import FeatureNet


@dataclass(frozen=True)
class Entry:
    """A registered model: its builder, input format and default options."""

    name: str
    builder: Callable[..., nn.Module]
    input_format: str
    doc: str
    defaults: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, Entry] = {}


def register(name: str, builder: Callable[..., nn.Module], input_format: str, doc: str,
             **defaults: Any) -> None:
    """Add ``name``; ``defaults`` are options passed to ``builder`` unless overridden."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")
    _REGISTRY[name] = Entry(name, builder, input_format, doc, dict(defaults))


def names() -> list[str]:
    """All registered model names, in registration order."""
    return list(_REGISTRY)


def info(name: str) -> Entry:
    """The registry entry of ``name`` (``.input_format``, ``.doc``, ``.defaults``)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(_REGISTRY)}") from None


def create(name: str, num_classes: int = 1000, *, features_only: bool = False,
           out_indices: Sequence[int] | None = None, **options: Any) -> nn.Module:
    """Build model ``name`` with ``num_classes`` outputs; ``options`` are the variant's
    keyword options (e.g. ``stride_in``, ``antialias``, ``channels``).

    ``features_only=True`` (timm's convention) returns a :class:`models.features.FeatureNet`
    instead: its forward gives the list of stage outputs ``out_indices`` (default: all) and
    ``.feature_info`` their channels and reduction in input pixels."""
    entry = info(name)
    if out_indices is not None and not features_only:
        raise ValueError(f"{name}: out_indices needs features_only=True")
    kwargs = {**entry.defaults, **options}
    try:
        model = entry.builder(num_classes=num_classes, **kwargs)
    except TypeError as e:  # unknown option names
        raise TypeError(f"{name}: {e}") from None
    model.model_name = name
    if features_only:
        model = FeatureNet(model, out_indices)
        model.model_name = name
    return model


def bind(cls: type, *args: Any) -> Callable[..., nn.Module]:
    """A builder calling ``cls(*args, num_classes=..., **options)``."""
    return partial(cls, *args)
