"""The data pipeline in one import (each part lives in its own module):

* :mod:`jpegcoef.header`: the JPEG header walk (size and sampling before reading);
* :mod:`jpegcoef.planning`: crop and box planning on the block grid;
* :mod:`jpegcoef.pixels`: the RGB baseline's pixel pipeline;
* :mod:`jpegcoef.folder`: the ImageFolder scan and :class:`JpegFolder`;
* :mod:`jpegcoef.ring`: batch memory (:class:`BatchRing`);
* :mod:`jpegcoef.loader`: sampler, collation, :func:`make_loader`.
"""
from .folder import JpegFolder, SampleError
from .header import file_frame, jpeg_frame
from .loader import JpegLoader, SeededSampler, collate, make_loader
from .pixels import load_rgb, random_resized_crop_box
from .planning import MCU, crop_plan, dct_crop, dct_sample
from .ring import BatchRing

__all__ = ["JpegFolder", "JpegLoader", "SeededSampler", "SampleError", "make_loader", "collate", "BatchRing",
           "random_resized_crop_box", "load_rgb", "crop_plan", "dct_crop", "dct_sample", "jpeg_frame",
           "file_frame", "MCU"]
