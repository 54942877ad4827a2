"""Parameters, MACs and receptive fields of a model, measured from the modules themselves.

MACs are counted by running the model on its example input under
``torch.utils.flop_counter.FlopCounterMode`` (MACs = FLOPs / 2; convolutions and matrix
products, as the usual ResNet-50 "4.1 GMACs" figure counts). The receptive field and stride
after each stage are obtained by walking the convolutions and pools of the Y path in execution
order: for a layer of kernel k, stride s and dilation d, ``rf += (k - 1) * d * jump`` and
``jump *= s`` (in pixels; a DCT coefficient starts at rf = jump = 8).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .layers import AdaptiveBlurPool, BlurPool, Bottleneck
from .registry import create


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def walk_rf(module: nn.Module, rf: float, jump: float) -> tuple[float, float]:
    """Propagate (receptive field, jump) through ``module`` along its main path."""
    if isinstance(module, Bottleneck):
        return walk_rf(module.body, rf, jump)  # the shortcut never widens the field
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, BlurPool, AdaptiveBlurPool)):
        k = _pair(module.kernel_size)[0]
        s = _pair(module.stride if module.stride is not None else k)[0]
        d = _pair(getattr(module, "dilation", 1))[0]
        return rf + (k - 1) * d * jump, jump * s
    if isinstance(module, nn.ConvTranspose2d):
        k, s = _pair(module.kernel_size)[0], _pair(module.stride)[0]
        jump = jump / s
        return rf + (k - 1) * jump, jump
    for child in module.children():
        rf, jump = walk_rf(child, rf, jump)
    return rf, jump


def receptive_fields(model: nn.Module) -> list[dict[str, Any]]:
    """[{stage, rf, stride}] after each stage of the Y path, in pixels."""
    rf, jump = model.rf_start()
    out = []
    for name, modules in model.rf_stages():
        for m in modules:
            rf, jump = walk_rf(m, rf, jump)
        out.append({"stage": name, "rf": int(rf) if rf == int(rf) else rf,
                    "stride": int(jump) if jump == int(jump) else jump})
    return out


def count_macs(model: nn.Module, inputs: Any) -> int:
    """MACs of one forward of ``model`` on ``inputs`` (FLOPs / 2, FlopCounterMode)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(inputs)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def summary(name: str, num_classes: int = 1000, size: int | None = None,
            **options: Any) -> dict[str, Any]:
    """Describe model ``name``: parameters, MACs per image at the example input (or at
    ``size`` pixels), and the receptive field / stride after each stage."""
    model = create(name, num_classes=num_classes, **options)
    x = model.example_input(1, size)
    result: dict[str, Any] = {
        "name": name,
        "options": options,
        "input_format": model.input_format,
        "input_options": dict(model.input_options),
        "input_shapes": [list(t.shape) for t in (x if isinstance(x, tuple) else (x,))],
        "params": sum(p.numel() for p in model.parameters()),
    }
    extra = getattr(model, "summary_macs", None)
    if extra is not None:  # models whose cost depends on the data (hilo's early exit)
        result.update(extra(x))
    else:
        result["macs"] = count_macs(model, x)
    result["receptive_field"] = receptive_fields(model)
    return result


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of summaries."""
    lines = [f"{'model':<34} {'input':<8} {'params':>11} {'GMACs':>7}  RF/stride after each stage"]
    for r in rows:
        rf = "  ".join(f"{s['stage']}:{s['rf']}/{s['stride']}" for s in r["receptive_field"])
        label = r["name"] + ("" if not r["options"] else
                             "(" + ",".join(f"{k}={v}" for k, v in r["options"].items()) + ")")
        lines.append(f"{label:<34} {r['input_format']:<8} {r['params']:>11,} "
                     f"{r['macs'] / 1e9:>7.3f}  {rf}")
    return "\n".join(lines)
