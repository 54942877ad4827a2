"""``models.create(name, features_only=True, out_indices=...)``: stage outputs, timm-style."""
from __future__ import annotations

import copy

import pytest
import torch

from jpegcoef import models
from jpegcoef.models.features import FeatureNet


pytestmark = pytest.mark.usefixtures("one_torch_thread")


#: (channels, reduction in input pixels) of every stage feature, from the papers' tables:
#: ResNet-50 as timm (stem ReLU at 2, then the stages); DCT inputs start at the 8-px block.
EXPECTED = {
    "resnet50": [(64, 2), (256, 4), (512, 8), (1024, 16), (2048, 32)],
    "upsampling": [(512, 8), (1024, 16), (2048, 32)],
    "upsampling_rfa": [(1024, 8), (512, 8), (1024, 16), (2048, 32)],
    "deconvolution_rfa": [(1024, 8), (512, 8), (1024, 16), (2048, 32)],
    "downsampling": [(1024, 16), (512, 16), (1024, 16), (2048, 32)],
    "late_concat": [(512, 8), (1024, 16), (2048, 32)],
    "late_concat_rfa": [(1024, 8), (512, 8), (1024, 16), (2048, 32)],
    "late_concat_rfa_thinner": [(384, 8), (384, 8), (1024, 16), (2048, 32)],
    "dctnet": [(256, 8), (512, 8), (1024, 16), (2048, 32)],       # layer2 stride 1
    "hilo": [(128, 8), (256, 16), (512, 32), (1024, 64)],          # half width, stride 2
    "mobilenet_v2": [(16, 2), (24, 4), (32, 8), (96, 16), (320, 32)],
    "mobilenet_v2_dct": [(16, 8), (24, 16), (32, 32), (96, 64), (320, 128)],
}


def test_every_model_has_a_feature_table():
    assert sorted(EXPECTED) == sorted(models.names())


@pytest.mark.parametrize("name", models.names())
def test_feature_shapes_and_reductions(name):
    """Every model: the stage outputs have the channels and reductions of EXPECTED at an input
    of twice the largest reduction; the named module's output is the feature; the features of
    a FeatureNet equal the full model's; every parameter of a truncated FeatureNet is used."""
    full = models.create(name, num_classes=10).eval()
    net = FeatureNet(copy.deepcopy(full)).eval()
    info = net.feature_info
    assert list(zip(info.channels(), info.reduction())) == EXPECTED[name]
    size = max(16, 2 * max(info.reduction()))
    x = net.example_input(2, size)
    hooked = {}
    for i, module in enumerate(info.module_name()):
        net.model.get_submodule(module).register_forward_hook(
            lambda m, a, out, i=i: hooked.setdefault(i, out.clone()))
    with torch.no_grad():
        feats = net(x)
        reference = full.forward_features(x)
    assert len(feats) == len(info) == len(reference)
    for i, (f, (ch, red)) in enumerate(zip(feats, EXPECTED[name])):
        assert f.shape == (2, ch, size // red, size // red), (name, i)
        torch.testing.assert_close(f, reference[i])
        torch.testing.assert_close(f, hooked[i])
    # truncated after its second feature: no head, no later stages, every parameter used
    short = models.create(name, features_only=True, out_indices=(1,)).train()
    assert short.feature_info.channels() == [EXPECTED[name][1][0]]
    out = short(*(x if isinstance(x, tuple) else (x,)))
    assert len(out) == 1 and out[0].shape[1] == EXPECTED[name][1][0]
    out[0].square().mean().backward()
    unused = [n for n, p in short.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused, unused[:5]
    assert sum(p.numel() for p in short.parameters()) < sum(p.numel() for p in full.parameters())


def test_feature_info_api_and_bad_indices():
    """timm's names: channels(), reduction(), module_name(), get_dicts(); negative indices
    count from the end; bad ones raise ValueError naming the model."""
    net = models.create("dctnet", features_only=True, out_indices=(-1, 1), layer2_stride=2)
    assert net.out_indices == (3, 1)
    assert net.feature_info.channels() == [2048, 512]
    assert net.feature_info.reduction() == [64, 16]
    assert net.feature_info.module_name() == ["stages.stage5", "stages.stage3"]
    assert net.feature_info.channels(0) == 2048 and len(net.feature_info) == 2
    assert net.feature_info.get_dicts()[1] == {"num_chs": 512, "reduction": 16,
                                               "module": "stages.stage3", "index": 1}
    assert net.input_format == "dctnet" and net.input_options == {"channels": 24}
    assert not hasattr(net.model, "fc")
    with torch.no_grad():
        a, b = net(net.example_input(1, 128))
    assert a.shape == (1, 2048, 2, 2) and b.shape == (1, 512, 8, 8)
    for bad in [(5,), (-5,), (), (1, 1), (1.0,), 2]:
        with pytest.raises(ValueError, match="dctnet.*out_indices"):
            models.create("dctnet", features_only=True, out_indices=bad)
    with pytest.raises(ValueError, match="features_only"):
        models.create("resnet50", out_indices=(1,))


def test_gueguen_features_before_the_concat_ignore_chroma():
    """A Late-Concat backbone cut at its first (Y-only) stage drops the whole chroma path."""
    net = models.create("late_concat", features_only=True, out_indices=(0,))
    assert not hasattr(net.model, "cbcr_stages") and not hasattr(net.model, "bn_cbcr")
    assert set(net.model.trunk) == set()
    y, c = net.model.example_input(1, 64)
    with torch.no_grad():
        (f,) = net(y, c)
    assert f.shape == (1, 512, 8, 8)
