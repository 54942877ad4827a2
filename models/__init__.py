"""The ResNet-50 family for learning from JPEG DCT coefficients (and the RGB baseline).

>>> from jpegcoef import models
>>> net = models.create("late_concat_rfa_thinner", num_classes=10)
>>> net.input_format, net(net.example_input(2)).shape
('gueguen', torch.Size([2, 10]))

Names: ``resnet50`` (RGB); the Gueguen et al. variants ``upsampling``, ``upsampling_rfa``,
``deconvolution_rfa``, ``downsampling``, ``late_concat``, ``late_concat_rfa``,
``late_concat_rfa_thinner`` (input ``gueguen``); ``dctnet`` (Xu et al., input ``dctnet``),
``hilo`` (the high/low-frequency split with early exit, input ``dctnet`` with 24 channels),
``mobilenet_v2`` (RGB) and ``mobilenet_v2_dct`` (DCTNet's MobileNetV2, input ``dctnet``).

Options every model takes: ``stride_in`` ("1x1" | "3x3": where a bottleneck puts its stride;
default the family's own, or "3x3" when anti-aliased, as Zhang's network), ``antialias``
("none" | "blur" | "adaptive"), ``aa_size`` (blur taps, 4 / adaptive kernel, 3),
``aa_groups`` (adaptive filter groups, 8), ``aa_softmax`` ("joint" over all groups, as Zou's
code | "group"), ``zero_init_residual`` (False). ``create(name, features_only=True,
out_indices=...)`` gives the stage outputs instead of the logits (:mod:`models.features`).
"""
from __future__ import annotations

from .registry import bind, create, info, names, register
from .dctnet import DCTNet
from .features import FeatureNet
from .hilo import HiLo
from .mobilenet import MobileNetV2, MobileNetV2DCT
from .resnet import GUEGUEN, GueguenNet, ResNet50
from .summary import summary

register("resnet50", ResNet50, "rgb", "ResNet-50 on RGB pixels (the baseline)")
for _name, _spec in GUEGUEN.items():
    register(_name, bind(GueguenNet, _spec), "gueguen",
             f"Gueguen et al. {_name} ResNet-50 variant on Y/CbCr DCT coefficients")
register("dctnet", DCTNet, "dctnet",
         "DCTNet (Xu et al.): stemless ResNet-50 on C DCT channels (channels=24|32|48|64|192, "
         "layer2_stride=1|2, gate=False|True)")
register("hilo", HiLo, "dctnet",
         "high/low-frequency split: two half-width ResNet-50s on DCT-24 with early exit "
         "(threshold=0.85, layer2_stride=2)")
register("mobilenet_v2", MobileNetV2, "rgb", "MobileNetV2 on RGB pixels (torchvision's)")
register("mobilenet_v2_dct", MobileNetV2DCT, "dctnet",
         "MobileNetV2 on C DCT channels as DCTNet builds it: no stem, 112x112 channels from "
         "896 px (channels=24|32|48|64|192)")

__all__ = ["create", "names", "info", "register", "summary", "ResNet50", "GueguenNet",
           "GUEGUEN", "DCTNet", "HiLo", "MobileNetV2", "MobileNetV2DCT", "FeatureNet"]
