"""Exceptions and warnings raised by jpegcoef."""

from __future__ import annotations

__all__ = ["JpegError", "JpegWarning"]


class JpegError(ValueError):
    """A JPEG could not be read or written.

    The message carries libjpeg's own text and, when known, the file name.
    Attributes ``filename`` (or ``None``) and ``libjpeg_message`` (the raw text) are set.
    """

    def __init__(self, message: str, filename: str | None = None, libjpeg_message: str | None = None):
        self.filename = filename
        self.libjpeg_message = libjpeg_message if libjpeg_message is not None else message
        super().__init__(f"{filename}: {message}" if filename else message)


class JpegWarning(UserWarning):
    """Recoverable damage in a JPEG (corrupt or truncated data, extraneous bytes).

    The data were still returned; ``read(..., strict=True)`` raises :class:`JpegError` instead.
    """
