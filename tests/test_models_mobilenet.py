"""MobileNetV2 on RGB (torchvision's) and on DCT coefficients (DCTNet's), issue 14."""
from __future__ import annotations

import pytest
import torch

from jpegcoef import models
from jpegcoef.models.layers import BlurPool
from jpegcoef.models.mobilenet import SETTINGS, InvertedResidual
from jpegcoef.models.summary import count_macs


pytestmark = pytest.mark.usefixtures("one_torch_thread")

TORCHVISION_PARAMS = 3_504_872          # torchvision.models.mobilenet_v2(), 1000 classes
STEM_PARAMS = 3 * 32 * 9 + 2 * 32       # its features[0]: conv 3->32 3x3 + BN


def _params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_mobilenet_v2_is_torchvisions():
    """torchvision's MobileNetV2 (docs: 3,504,872 parameters, 0.30 GFLOPS, i.e. MACs, at 224):
    conv 3->32/2, 17 inverted residuals of (t, c, n, s) = SETTINGS, 1x1 320->1280, dropout 0.2,
    linear."""
    model = models.create("mobilenet_v2")
    assert models.info("mobilenet_v2").input_format == model.input_format == "rgb"
    assert _params(model) == TORCHVISION_PARAMS
    assert 0.295e9 < count_macs(model, model.example_input(1)) < 0.305e9
    blocks = [m for m in model.modules() if isinstance(m, InvertedResidual)]
    assert len(blocks) == sum(n for _, _, n, _ in SETTINGS) == 17
    assert [b.stride for b in blocks if b.stride > 1] == [2, 2, 2, 2]
    assert sum(b.residual for b in blocks) == 10
    assert model.stem[0].stride == (2, 2) and model.head[0].out_channels == 1280
    assert model.classifier[0].p == 0.2 and model.classifier[1].in_features == 1280
    assert model.classifier[1].weight.std().item() == pytest.approx(0.01, rel=0.05)


@pytest.mark.parametrize("channels", [24, 32, 48, 64, 192])
def test_mobilenet_v2_dct_is_dctnets(channels):
    """calmevtime/DCTNet, classification/models/imagenet/mobilenetv2.py,
    ``MobileNetV2DCT_Subset_woinp``: ``features[1:]`` of the upscaled (torchvision-stride)
    MobileNetV2, so the stem conv is gone and no block stride changes; the first block's
    depthwise conv takes the C channels (C->C, or 192->32 in 32 groups). Its input is
    C x 112 x 112 (an 896 px crop: classification/datasets/dataloader_imagenet_dct.py,
    ``valloader_upscaled_static``: resize 1024, crop 896), the grid torchvision's first block
    sees at 224 px, so the MACs are torchvision's minus the stem conv's, exactly for C=32."""
    model = models.create("mobilenet_v2_dct", channels=channels)
    assert models.info("mobilenet_v2_dct").input_format == model.input_format == "dctnet"
    assert model.input_options == {"channels": channels}
    assert model.example_input(1).shape == (1, channels, 112, 112)
    assert isinstance(model.stem, torch.nn.Identity)
    dw = model.stages["stage1"][0].body[0][0]
    hidden, groups = (32, 32) if channels == 192 else (channels, channels)
    assert (dw.in_channels, dw.out_channels, dw.groups) == (channels, hidden, groups)
    first_block = 9 * channels * hidden // groups + 2 * hidden + 16 * hidden
    rgb_first_block = 9 * 32 + 2 * 32 + 16 * 32
    assert _params(model) == TORCHVISION_PARAMS - STEM_PARAMS - rgb_first_block + first_block
    rgb = models.create("mobilenet_v2")
    strides = [b.stride for b in model.modules() if isinstance(b, InvertedResidual)]
    assert strides == [b.stride for b in rgb.modules() if isinstance(b, InvertedResidual)]
    if channels == 32:
        stem_macs = 112 * 112 * 32 * 3 * 9
        assert count_macs(model, model.example_input(1)) == \
            count_macs(rgb, rgb.example_input(1)) - stem_macs
    with torch.no_grad():
        assert model.eval()(model.example_input(1, size=128)).shape == (1, 1000)


def test_mobilenet_v2_dct_counts():
    """DCT-24 at 896 px: 3,503,728 parameters, 0.287 GMACs (RGB: 3,504,872, 0.301)."""
    model = models.create("mobilenet_v2_dct")
    assert model.channels == 24 and _params(model) == 3_503_728
    assert 0.285e9 < count_macs(model, model.example_input(1)) < 0.290e9


def test_mobilenet_antialias_and_bad_options():
    """adobe/antialiased-cnns, antialiased_cnns/mobilenet.py: a stride-2 block runs its
    depthwise conv at stride 1 (BN, ReLU6), then BlurPool (filter size 4), then the 1x1; the
    stem keeps its stride."""
    model = models.create("mobilenet_v2", antialias="blur", num_classes=10).eval()
    block = model.stages["stage2"][0]
    assert block.body[1][0].stride == (1, 1) and isinstance(block.body[2], BlurPool)
    assert block.body[2].kernel_size == 4 and model.stem[0].stride == (2, 2)
    with torch.no_grad():
        assert model(model.example_input(1, 64)).shape == (1, 10)
    with pytest.raises(ValueError, match="stride_in"):
        models.create("mobilenet_v2", stride_in="1x1")
    with pytest.raises(ValueError, match="channels"):
        models.create("mobilenet_v2_dct", channels=25)
    with pytest.raises(ValueError, match="multiple of 8"):
        models.create("mobilenet_v2_dct").example_input(1, 100)


def test_zero_init_residual_zeroes_the_residual_branches():
    model = models.create("mobilenet_v2", zero_init_residual=True, num_classes=10).eval()
    blocks = [m for m in model.modules() if isinstance(m, InvertedResidual) and m.residual]
    x = torch.randn(1, 24, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model.stages["stage2"][1](x), x)
    assert all(torch.equal(b.body[-1][1].weight, torch.zeros_like(b.body[-1][1].weight))
               for b in blocks)
