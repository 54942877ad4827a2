"""Measurements every result carries (DESIGN.md, "Measures every result should carry").

Each number here is measured in this process on this machine: nothing is cached or copied.
"""
from __future__ import annotations

import os
import platform
import time
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .evaluate import Inputs, autocast, call, model_input, unwrap


def device_name(device: torch.device) -> str:
    """``"NVIDIA A100-SXM4-40GB"`` or ``"Intel(R) Xeon(R) ... (2 threads)"``."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name} ({torch.get_num_threads()} threads)"


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in unwrap(model).parameters())


@torch.no_grad()
def count_macs(model: nn.Module, x: Inputs) -> int:
    """Multiply-accumulates of one eval-mode forward of ``x`` (counted by
    ``torch.utils.flop_counter``: convolutions and matrix products; FLOPs / 2), per image."""
    bare = unwrap(model)
    was_training = bare.training
    bare.eval()
    n = (x[0] if isinstance(x, (tuple, list)) else x).shape[0]
    counter = FlopCounterMode(display=False)
    with counter:
        call(bare, x)
    bare.train(was_training)
    return int(counter.get_total_flops() // 2 // n)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def inference_speed(model: nn.Module, fmt: Any, batch: dict[str, torch.Tensor],
                    device: torch.device, *, amp: bool = False, channels_last: bool = False,
                    seconds: float = 3.0, min_iters: int = 3, warmup: int = 2) -> dict[str, Any]:
    """Images/s of eval-mode inference on one host batch, repeated: host->device copy,
    the format's device-side transform (dequantise, normalise, ...) and the forward pass."""
    model.eval()
    # images = the model input's batch dimension (a DCT host batch packs its coefficients
    # ragged: its first host tensor's length is not the image count)
    x0 = model_input(fmt, batch, device, channels_last)
    n = int((x0[0] if isinstance(x0, (tuple, list)) else x0).shape[0])
    del x0
    for _ in range(warmup):
        with autocast(device, amp):
            call(model, model_input(fmt, batch, device, channels_last))
    _sync(device)
    iters = 0
    t0 = time.perf_counter()
    while iters < min_iters or time.perf_counter() - t0 < seconds:
        with autocast(device, amp):
            call(model, model_input(fmt, batch, device, channels_last))
        iters += 1
    _sync(device)
    dt = time.perf_counter() - t0
    return {"inference_images_per_s": iters * n / dt, "inference_batch": n}


def pipeline_speed(loader, *, max_batches: int = 20, seconds: float = 10.0) -> dict[str, Any]:
    """Images/s of the data pipeline alone (read coefficients or decode, augment, host format,
    collate), iterating ``loader`` without a model. The first batch (worker start-up) is not
    timed."""
    it = iter(loader)
    try:
        next(it)
    except StopIteration:
        raise RuntimeError("pipeline loader produced no batches") from None
    images = batches = 0
    t0 = time.perf_counter()
    for batch, labels in it:
        images += len(labels)
        batches += 1
        if batches >= max_batches or time.perf_counter() - t0 >= seconds:
            break
    dt = time.perf_counter() - t0
    if images == 0:
        return {"pipeline_images_per_s": None, "pipeline_images": 0}
    return {"pipeline_images_per_s": images / dt, "pipeline_images": images}


def environment() -> dict[str, Any]:
    import sys  # noqa: PLC0415
    return {"python": sys.version.split()[0], "torch": torch.__version__,
            "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads()}
