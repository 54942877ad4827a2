"""jpegcoef: read JPEG DCT coefficients with libjpeg-turbo and feed them to CNNs."""

from .coefficients import Coefficients, Component
from .errors import JpegError, JpegWarning

__all__ = ["Coefficients", "Component", "JpegError", "JpegWarning"]
__version__ = "0.1.0"
