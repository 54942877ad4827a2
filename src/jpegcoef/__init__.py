"""jpegcoef: read JPEG DCT coefficients with libjpeg-turbo and feed them to CNNs.

>>> import jpegcoef
>>> c = jpegcoef.read("photo.jpg")            # doctest: +SKIP
>>> c.y.coefficients.shape                     # (Hb, Wb, 8, 8) int16   # doctest: +SKIP
"""

from .coefficients import Coefficients, Component
from .errors import JpegError, JpegWarning
from .reader import decode, decode_rgb, libjpeg_version, read, read_batch, set_buffer_pool, write

__all__ = ["Coefficients", "Component", "JpegError", "JpegWarning", "read", "read_batch", "write",
           "decode_rgb", "decode", "libjpeg_version", "set_buffer_pool"]
__version__ = "0.1.0"
