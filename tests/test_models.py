"""Tests of the model family (models/): shapes, gradients, sizes, receptive fields, options."""
from __future__ import annotations

import pytest
import torch

import models
from models.summary import count_macs, receptive_fields

torch.set_num_threads(min(2, torch.get_num_threads()))

# DESIGN.md: receptive field / stride in pixels after each stage (Y path, stride on the 1x1).
RF_TABLE = {
    "resnet50": {"stage2": (35, 4), "stage3": (99, 8), "stage4": (291, 16), "stage5": (483, 32)},
    "upsampling": {"stage3": (72, 8), "stage4": (264, 16), "stage5": (456, 32)},
    "late_concat": {"stage3": (72, 8), "stage4": (264, 16), "stage5": (456, 32)},
    "downsampling": {"rfa": (64, 16), "stage3": (192, 16), "stage4": (384, 16),
                     "stage5": (576, 32)},
}
for _n in ("upsampling_rfa", "deconvolution_rfa", "late_concat_rfa", "late_concat_rfa_thinner"):
    RF_TABLE[_n] = {"rfa": (32, 8), "stage3": (96, 8), "stage4": (288, 16), "stage5": (480, 32)}
GUEGUEN_NAMES = ["upsampling", "upsampling_rfa", "deconvolution_rfa", "downsampling",
                 "late_concat", "late_concat_rfa", "late_concat_rfa_thinner"]


def _batch(x, n):
    return x[:n] if isinstance(x, torch.Tensor) else tuple(t[:n] for t in x)


@pytest.mark.parametrize("name", models.names())
def test_forward_paper_size_and_backward(name):
    """Every name: eval forward at the paper's input size gives (N, classes); a training step
    (forward + backward) at a smaller size reaches every trainable parameter."""
    model = models.create(name, num_classes=10)
    assert model.input_format == models.info(name).input_format
    assert isinstance(model.input_options, dict)
    x = model.example_input(2)
    shapes = [tuple(t.shape) for t in (x if isinstance(x, tuple) else (x,))]
    assert shapes == model.input_shapes(2, model.pixel_size)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, 10)
    model.train()
    small = model.example_input(2, size=model.pixel_size // 2)
    out = model(small)
    assert out.shape == (2, 10)
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"


def test_resnet50_params_and_macs():
    torchvision_style = models.create("resnet50", stride_in="3x3")
    keras_style = models.create("resnet50")
    assert sum(p.numel() for p in torchvision_style.parameters()) == 25_557_032
    assert sum(p.numel() for p in keras_style.parameters()) == 25_557_032
    macs_3x3 = count_macs(torchvision_style, torchvision_style.example_input(1))
    macs_1x1 = count_macs(keras_style, keras_style.example_input(1))
    assert 4.05e9 < macs_3x3 < 4.15e9      # torchvision's 4.09 GMACs
    assert 3.82e9 < macs_1x1 < 3.90e9      # Keras ResNet-50: 3.86 GMACs


@pytest.mark.parametrize("name", list(RF_TABLE))
def test_receptive_field_matches_design_table(name):
    rf = {s["stage"]: (s["rf"], s["stride"]) for s in receptive_fields(models.create(name))}
    for stage, expected in RF_TABLE[name].items():
        assert rf[stage] == expected, (name, stage)


def test_receptive_field_depends_on_stride_position():
    """Stride on the 3x3 conv changes the field (torchvision's ResNet-50 ends at 427)."""
    rf = receptive_fields(models.create("resnet50", stride_in="3x3"))
    assert (rf[-1]["rf"], rf[-1]["stride"]) == (427, 32)


def test_rfa_stage_kernels_keep_size():
    """The RFA stage's 1x1, 2x2 (asymmetric padding) and 3x3 blocks keep the 28x28 grid."""
    model = models.create("upsampling_rfa", num_classes=10).eval()
    stage = model.trunk["rfa"]
    assert [b.kernel for b in stage] == [1, 2, 3]
    x = torch.randn(1, 192, 28, 28)
    for block in stage:
        x = block(x)
        assert x.shape[-2:] == (28, 28)


def test_late_concat_widths():
    thin = models.create("late_concat_rfa_thinner")
    assert thin.y_stages["stage4"][0].out_ch + thin.cbcr_stages["cbcr"][0].out_ch == 1024
    assert thin.y_stages["rfa"][0].out_ch == 384


def test_bad_inputs_raise_clear_errors():
    rgb = models.create("resnet50", num_classes=10)
    gg = models.create("late_concat", num_classes=10)
    with pytest.raises(ValueError, match="expects input"):
        rgb(torch.randn(1, 4, 64, 64))
    with pytest.raises(ValueError, match="takes 2 tensor"):
        gg(torch.randn(1, 64, 28, 28))
    with pytest.raises(ValueError, match="line up"):
        gg.eval()((torch.randn(1, 64, 28, 28), torch.randn(1, 128, 28, 28)))
    with pytest.raises(ValueError, match="unknown model"):
        models.create("resnet51")
    with pytest.raises(TypeError, match="resnet50"):
        models.create("resnet50", no_such_option=1)
    with pytest.raises(ValueError, match="antialias"):
        models.create("resnet50", antialias="gauss")
    with pytest.raises(ValueError, match="stride_in"):
        models.create("resnet50", stride_in="2x2")
