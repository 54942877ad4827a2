"""The model fidelity fixes of issue 12 (items 3-8), each checked against its source."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from jpegcoef import models
from jpegcoef.models.layers import AdaptiveBlurPool, BlurPool, Bottleneck
from jpegcoef.models.summary import count_macs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))
from harness import variants  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _variant(name: str, **kw):
    model, opts = variants.resolve(name, models.names(), {})
    return models.create(model, **{**opts, **kw})


# -- 3: hilo's baseline -----------------------------------------------------------------------
def test_hilo_baseline_is_dct24_at_layer2_stride_2():
    """seeds/004 (004_dd2a292c602d33f8.txt), section 4.1 and table 1: every ResNet-50 compared
    has layer2 at stride 2 ("第二个 layer 的 stride 为 2"); DCT-24 ResNet-50 there is 23.7M
    parameters (100 classes) and 3.93 GFLOPs, not DCTNet's released stride 1 (13.5 G)."""
    assert variants.resolve("dctnet24_s2", models.names(), {}) == \
        ("dctnet", {"channels": 24, "layer2_stride": 2})
    base = _variant("dctnet24_s2", num_classes=100)
    assert round(_params(base) / 1e6, 1) == 23.7
    assert 3.90e9 < count_macs(base, base.example_input(1)) < 3.96e9
    hilo = models.create("hilo", num_classes=100)
    assert hilo.high.specs[1].stride == base.specs[1].stride == 2   # the same residual grid
    assert hilo.threshold == 0.85


# -- 4: Zhang's anti-aliased ResNet-50 --------------------------------------------------------
@pytest.mark.parametrize("variant,kind,size", [("resnet50_blur", BlurPool, 4),
                                               ("resnet50_adaptive", AdaptiveBlurPool, 3)])
def test_antialiased_resnet50_blurs_after_the_3x3_at_full_resolution(variant, kind, size):
    """adobe/antialiased-cnns, antialiased_cnns/resnet.py ``Bottleneck``: conv2 (3x3) at
    stride 1, BN, ReLU, then BlurPool(stride 2) in front of conv3, and BlurPool then the 1x1
    in the projection shortcut (Zou's models_lpf/resnet_pasa_group_softmax.py: the same with
    PASA). So the 3x3 runs at the block input's resolution and only conv3 at the reduced one."""
    model = _variant(variant, num_classes=10).eval()
    assert model.stride_in == "3x3"
    mode = "blur" if kind is BlurPool else "adaptive"
    assert models.create("resnet50", antialias=mode).stride_in == "3x3"   # default when AA
    block = model.stages["stage3"][0]
    assert list(block.body._modules) == ["conv1", "bn1", "relu1", "conv2", "bn2", "relu2",
                                         "aa2", "conv3", "bn3"]
    assert isinstance(block.body.aa2, kind) and block.body.aa2.kernel_size == size
    assert isinstance(block.shortcut.aa, kind)
    shapes = {}
    for name in ("conv2", "conv3"):
        getattr(block.body, name).register_forward_hook(
            lambda m, a, out, name=name: shapes.update({name: (a[0].shape[-1], out.shape[-1])}))
    with torch.no_grad():
        model(model.example_input(1, size=64))
    assert shapes == {"conv2": (16, 16), "conv3": (8, 8)}   # 3x3 at full, 1x1 after the blur


def test_antialiased_resnet50_counts():
    """The cost of Zhang's placement: torchvision's ResNet-50 (4.09 GMACs) plus the three
    stride-2 3x3 convs at full resolution (3 x 0.35 G) plus the blur filters; parameters
    unchanged (BlurPool has none)."""
    blur = _variant("resnet50_blur")
    assert _params(blur) == 25_557_032
    assert 5.10e9 < count_macs(blur, blur.example_input(1)) < 5.18e9


# -- 5: Late-Concat-RFA-Thinner's res3a -------------------------------------------------------
def test_thinner_res3a_has_the_projection_shortcut():
    """uber-research/jpeg2dct, diagrams/ResNet50-Late-Concat-RFA-Thinner.png: res3a is a
    ConvBlock with ``res3a_branch1`` 1x1 (28, 28, 384) -> (28, 28, 384): 384*384 weights + BN
    = 148,224 parameters, about 4% of the network's MACs."""
    thin = models.create("late_concat_rfa_thinner")
    short = thin.y_stages["stage3"][0].shortcut
    assert (short.conv.in_channels, short.conv.out_channels, short.conv.kernel_size) == \
        (384, 384, (1, 1))
    assert all(isinstance(b.shortcut, torch.nn.Identity) for b in thin.y_stages["stage3"][1:])
    spec = models.GUEGUEN["late_concat_rfa_thinner"]
    y = (spec.y[0], replace(spec.y[1], project_first=False), spec.y[2])
    without = models.GueguenNet(replace(spec, y=y))
    assert _params(thin) - _params(without) == 148_224
    m_thin = count_macs(thin, thin.example_input(1))
    m_without = count_macs(without, without.example_input(1))
    assert m_thin - m_without == 384 * 384 * 28 * 28
    assert 0.035 < (m_thin - m_without) / m_thin < 0.045


# -- 6: DCTNet's gate -------------------------------------------------------------------------
def test_gate_penalty_sums_over_channels():
    """Xu et al., CVPR 2020 ("Learning in the Frequency Domain"), the gate's loss
    L = L_acc + lambda * sum_{i=1..C} F(X_i): a sum over the channels (seeds/000 quotes the
    term; DCTNet's detection code instead takes torch.mean, i.e. this divided by C)."""
    from jpegcoef.models.dctnet import gate_penalty
    on = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    assert gate_penalty(on).item() == pytest.approx(2.0)    # (3 + 1) / 2 images
    model = models.create("dctnet", channels=24, gate=True, num_classes=3).eval()
    with pytest.raises(RuntimeError, match="forward"):
        model.gate_penalty()
    with torch.no_grad():
        model(model.example_input(3, size=32))
    assert model.gate_penalty().item() == pytest.approx(model.last_gate.sum(1).mean().item())
    assert model.gate_penalty().item() == pytest.approx(24.0)   # all on at DCTNet's init
    with pytest.raises(ValueError, match="N, C"):
        gate_penalty(torch.ones(4))


def test_gate_initialisation_is_dctnets():
    """calmevtime/DCTNet, segmentation/mmdet/models/backbones/resnetDCT_dynamic.py
    ``init_weights`` (and classification/models/imagenet/mobilenetv2.py): ``inp_gate_l``
    weights N(0, 0.001), biases 0.1 (off) / 2 (on); ``inp_gate`` conv (bias=True)
    Kaiming-initialised with zero bias, its BN weight 1."""
    torch.manual_seed(0)
    gate = models.create("dctnet", channels=192, gate=True).gate
    bias = gate.logits.bias.detach().view(192, 2)
    assert torch.equal(bias[:, 0], torch.full((192,), 0.1)) and torch.equal(
        bias[:, 1], torch.full((192,), 2.0))
    assert 0.0008 < gate.logits.weight.std().item() < 0.0012
    conv, bn = gate.squeeze[0], gate.squeeze[1]
    assert conv.bias is not None and torch.equal(conv.bias, torch.zeros(192))
    assert 0.08 < conv.weight.std().item() < 0.12     # Kaiming fan_out: sqrt(2 / 192) = 0.102
    assert torch.equal(bn.weight, torch.ones(192))
    # training-mode decisions start on with probability sigmoid(2 - 0.1) = 0.87
    model = models.create("dctnet", channels=192, gate=True, num_classes=3).train()
    with torch.no_grad():
        model.gate(torch.randn(64, 192, 4, 4))
        _, on = model.gate(torch.randn(64, 192, 4, 4))
    assert 0.83 < on.mean().item() < 0.91


# -- 7: PASA's softmax ------------------------------------------------------------------------
def _zou_reference(pool: AdaptiveBlurPool, x: torch.Tensor) -> torch.Tensor:
    """The released PASA computation, written out from its description: weights at every
    position (stride 1), one softmax over all group*k*k channels, channel c filtered with
    group c // (C / groups)'s k*k weights, then every stride-th position kept."""
    k, g, s = pool.kernel_size, pool.groups, pool.stride
    n, c, h, w = x.shape
    xp = F.pad(x, (k // 2,) * 4, mode="reflect")
    weights = F.conv2d(xp, pool.weight_conv.weight)
    weights = F.batch_norm(weights, pool.weight_bn.running_mean, pool.weight_bn.running_var,
                           pool.weight_bn.weight, pool.weight_bn.bias, False, 0.0,
                           pool.weight_bn.eps).softmax(dim=1).view(n, g, k * k, h, w)
    patches = F.unfold(xp, k).view(n, c, k * k, h, w)
    group_of = torch.arange(c) // (c // g)
    out = (patches * weights[:, group_of]).sum(dim=2)
    return out[..., ::s, ::s]


def test_adaptive_softmax_joint_is_zous_and_the_default():
    """MaureenZOU/Adaptive-anti-Aliasing, models_lpf/layers/pasa.py
    ``Downsample_PASA_group_softmax``: ``nn.Softmax(dim=1)`` over the group*k*k predicted
    channels (jointly over the groups); ours per group is the other option."""
    torch.manual_seed(0)
    pool = AdaptiveBlurPool(16, stride=2, size=3, groups=4).eval()
    assert pool.softmax == "joint"
    with torch.no_grad():
        pool.weight_bn.running_mean.uniform_(-0.5, 0.5)
        x = torch.randn(2, 16, 10, 10)
        torch.testing.assert_close(pool(x), _zou_reference(pool, x))
        w = pool.filter_weights(pool.pad(x))                      # (N, g, 1, k2, Ho, Wo)
        torch.testing.assert_close(w.sum(dim=(1, 3)), torch.ones(2, 1, 5, 5))
        assert (w.sum(dim=3) - 1).abs().max() > 0.1               # per group: not each 1
        group = AdaptiveBlurPool(16, stride=2, size=3, groups=4, softmax="group").eval()
        group.load_state_dict(pool.state_dict())
        torch.testing.assert_close(group.filter_weights(group.pad(x)).sum(dim=3),
                                   torch.ones(2, 4, 1, 5, 5))
        assert not torch.allclose(group(x), pool(x))
    model = models.create("resnet50", antialias="adaptive", aa_softmax="group")
    assert {m.softmax for m in model.modules() if isinstance(m, AdaptiveBlurPool)} == {"group"}
    with pytest.raises(ValueError, match="aa_softmax"):
        models.create("resnet50", antialias="adaptive", aa_softmax="sigmoid")


# -- 8: Deconvolution-RFA's BN, the anti-aliased stem -----------------------------------------
def test_deconvolution_rfa_normalises_after_the_concat():
    """DESIGN.md's Gueguen table (from uber-research/jpeg2dct's diagrams): Deconvolution-RFA
    is "Cb, Cr each ConvTranspose(64, 2x2, s2) -> concat 192 -> BN": one BN on the
    concatenation of the raw Y and the deconvolved chroma, none on the raw inputs."""
    model = models.create("deconvolution_rfa", num_classes=10).eval()
    assert not hasattr(model, "bn_y") and not hasattr(model, "bn_cbcr")
    assert model.bn_concat.num_features == 192
    seen = {}
    model.bn_concat.register_forward_hook(lambda m, a, out: seen.update(x=a[0]))
    y, c = model.example_input(2, size=64)
    with torch.no_grad():
        model((y, c))
        torch.testing.assert_close(seen["x"], torch.cat([y, model.chroma(c)], 1))
    # one BN(192) has the parameters of BN(64) + BN(128): the count is unchanged
    assert _params(models.create("deconvolution_rfa")) == 28_341_608
    late = models.create("late_concat", num_classes=10, recipe="paper")
    assert late.bn_y.num_features == 64 and late.bn_cbcr.num_features == 128


def test_antialiased_stem_is_adobes():
    """adobe/antialiased-cnns, antialiased_cnns/resnet.py (``pool_only=True``): the stem's
    max-pool is ``MaxPool2d(kernel_size=2, stride=1)`` then ``BlurPool(filt_size=4, stride=2)``
    (``resnet50(filter_size=4)``; blurpool.py's default ``filt_size=4``); Zou's PASA ResNet
    keeps the same MaxPool(2, 1) before its adaptive pool (k=3 in its README's models)."""
    model = models.create("resnet50", antialias="blur").eval()
    maxpool, blur = model.stem[3]
    assert (maxpool.kernel_size, maxpool.stride, maxpool.padding) == (2, 1, 0)
    assert isinstance(blur, BlurPool) and (blur.kernel_size, blur.stride) == (4, 2)
    assert all(m.kernel_size == 4 for m in model.modules() if isinstance(m, BlurPool))
    with torch.no_grad():
        assert model.stem(torch.zeros(1, 3, 224, 224)).shape[-2:] == (56, 56)
    adaptive = models.create("resnet50", antialias="adaptive")
    assert {m.kernel_size for m in adaptive.modules() if isinstance(m, AdaptiveBlurPool)} == {3}
    assert isinstance(adaptive.stem[3][0], torch.nn.MaxPool2d)
    assert models.create("resnet50", antialias="blur", aa_size=3).stem[3][1].kernel_size == 3
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    assert blocks and all(b.body.conv2.stride == (1, 1) for b in blocks)
