"""Reading and writing JPEG coefficients: a thin layer over the C library (csrc/jpegcoef.c).

The C calls release the GIL. Each thread keeps one reusable libjpeg decompressor. The
coefficients are decoded by libjpeg straight into one buffer that numpy then owns (no copy).
"""

from __future__ import annotations

import itertools
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Optional, Union

import numpy as np

from ._jpegcoef_cffi import ffi, lib
from .coefficients import Coefficients, Component, Progression
from .errors import JpegError, JpegWarning

__all__ = ["read", "read_batch", "write", "decode_rgb", "decode", "DEFAULT_MAX_PIXELS",
           "DEFAULT_MAX_SCANS", "ALL_BANDS", "libjpeg_version", "set_buffer_pool"]

#: Pillow's decompression-bomb limit.
DEFAULT_MAX_PIXELS = 178_956_970
#: Progressive files with more scans than this are refused (scan flooding).
DEFAULT_MAX_SCANS = 1000

_COLORSPACES = ("gray", "ycbcr", "rgb", "cmyk", "ycck")
_CS_CODES = {"gray": lib.JC_CS_GRAY, "ycbcr": lib.JC_CS_YCBCR, "rgb": lib.JC_CS_RGB,
             "cmyk": lib.JC_CS_CMYK, "ycck": lib.JC_CS_YCCK, "native": lib.JC_CS_NATIVE}

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Any]

_local = threading.local()


def libjpeg_version() -> str:
    """The libjpeg-turbo version the extension was built against, e.g. ``'2.1.5'``."""
    v = lib.jc_libjpeg_version()
    return f"{v // 1000000}.{v // 1000 % 1000}.{v % 1000}"


def set_buffer_pool(max_bytes: int) -> int:
    """Limit the memory kept for reuse after coefficient arrays are freed (default 256 MiB).

    Freed result buffers are recycled by later reads, which saves the kernel's page faults
    and zeroing when many results are alive at once (batches). ``0`` frees them and disables
    the pool. Returns the previous limit.
    """
    if max_bytes < 0:
        raise ValueError("max_bytes must be >= 0")
    return int(lib.jc_pool_limit(int(max_bytes)))


def _decoder():
    """This thread's reusable (decoder, info, summary) triple; ``summary`` is a numpy view of
    ``info.summary`` (all header facts read back in one ``tolist()`` call)."""
    state = getattr(_local, "state", None)
    if state is None:
        d = lib.jc_decoder_new()
        if d == ffi.NULL:
            raise MemoryError("cannot create a libjpeg decompressor")
        info = ffi.new("jc_info *")
        summary = np.frombuffer(ffi.buffer(info.summary), dtype=np.int64)
        state = _local.state = (ffi.gc(d, lib.jc_decoder_free), info, summary)
    return state


def _load(src: Source) -> tuple[Any, Optional[str]]:
    """(bytes-like data, file name or None) for a path, bytes-like object or binary file."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return src, None
    if isinstance(src, (str, os.PathLike)):
        name = os.fspath(src)
        with open(name, "rb") as f:
            return f.read(), str(name)
    read = getattr(src, "read", None)
    if callable(read):
        data = read()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"file object must be opened in binary mode (read() gave {type(data).__name__})")
        name = getattr(src, "name", None)
        return data, (str(name) if isinstance(name, (str, os.PathLike)) else None)
    try:
        memoryview(src)
    except TypeError:
        raise TypeError("src must be a path, a bytes-like object or a binary file object, "
                        f"not {type(src).__name__}") from None
    return src, None


def _error(info, name: Optional[str]) -> JpegError:
    msg = ffi.string(info.message).decode("latin-1") or "unknown libjpeg error"
    return JpegError(msg, name)


def _warning_texts(info) -> list:
    texts = [ffi.string(info.warnings[i]).decode("latin-1") for i in range(info.num_kept)]
    more = info.num_warnings - info.num_kept
    if more > 0:
        texts.append(f"... and {more} more warnings")
    return texts


def _owned_array(info, dtype) -> np.ndarray:
    """The buffer the C call handed over, as a flat numpy array that frees it when collected."""
    size = info.data_size
    mem = ffi.gc(info.data, lib.jc_release, size)
    info.data = ffi.NULL
    return np.frombuffer(ffi.buffer(mem, size), dtype=dtype)


_CHANNELS = lib.JC_CHANNELS
_STRICT = lib.JC_STRICT
_LAYOUT_FLAGS = {"blocks": 0, "channels": _CHANNELS}
_new = object.__new__
_BYTES_LIKE = (bytes, bytearray, memoryview)


def _flags(strict: bool, layout: str) -> int:
    try:
        flags = _LAYOUT_FLAGS[layout]
    except (KeyError, TypeError):
        raise ValueError(f"layout must be 'blocks' or 'channels', not {layout!r}") from None
    return flags | _STRICT if strict else flags


def _max_rows(max_height: Optional[int]) -> int:
    """``max_height`` as the C argument (0: all rows); ValueError unless None or a positive int."""
    if max_height is None:
        return 0
    if not isinstance(max_height, (int, np.integer)) or isinstance(max_height, (bool, np.bool_)):
        raise ValueError(f"max_height must be a positive int or None, not {max_height!r}")
    if max_height <= 0:
        raise ValueError(f"max_height must be positive, not {max_height}")
    return min(int(max_height), 0x7FFFFFFF)


#: All 64 frequencies of a component (a ``bands`` entry of None).
ALL_BANDS = (1 << 64) - 1


def _band_mask(entry: Any, i: int) -> int:
    """One ``bands`` entry as a natural-order bit mask (bit ``8*row+col``)."""
    if entry is None:
        return ALL_BANDS
    if isinstance(entry, (bool, np.bool_)):
        raise TypeError(f"bands[{i}] must be None, a bit mask or frequencies, not {entry!r}")
    if isinstance(entry, (int, np.integer)):
        if not 0 <= int(entry) <= ALL_BANDS:
            raise ValueError(f"bands[{i}] as a bit mask must be in 0 .. 2**64-1, not {entry}")
        return int(entry)
    if isinstance(entry, np.ndarray) and entry.dtype == np.bool_:
        if entry.size != 64:
            raise ValueError(f"bands[{i}] as a boolean array needs 64 entries (or 8x8), got shape {entry.shape}")
        entry = np.flatnonzero(entry.reshape(64)).tolist()
    if not hasattr(entry, "__iter__"):
        raise TypeError(f"bands[{i}] must be None, a bit mask or an iterable of frequencies 0..63, "
                        f"not {type(entry).__name__}")
    mask = 0
    for k in entry:
        if type(k) is not int:                       # noqa: E721 - the fast path; others checked
            if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
                raise ValueError(f"bands[{i}]: frequencies are ints 8*row+col in 0..63, got {k!r}")
            k = int(k)
        if not 0 <= k < 64:
            raise ValueError(f"bands[{i}]: frequencies are ints 8*row+col in 0..63, got {k!r}")
        mask |= 1 << k
    return mask


def _band_masks(bands: Any) -> Any:
    """``bands`` as the C argument (``uint64_t[4]``), or ffi.NULL for None; checked."""
    if bands is None:
        return ffi.NULL
    if isinstance(bands, (str, bytes, int, np.integer)) or not hasattr(bands, "__iter__"):
        raise TypeError("bands must be a sequence with one entry per component (None, a bit mask "
                        f"or an iterable of natural-order frequencies), not {type(bands).__name__}")
    entries = list(bands)
    if len(entries) > 4:
        raise ValueError(f"bands has {len(entries)} entries: at most one per component (4)")
    masks = [_band_mask(e, i) for i, e in enumerate(entries)] + [ALL_BANDS] * (4 - len(entries))
    return ffi.new("uint64_t[4]", masks)


def _read_data(data: Any, name: Optional[str], flags: int, max_pixels: int, max_scans: int,
               max_rows: int = 0, bands: Any = ffi.NULL) -> Coefficients:
    """Decode coefficients from bytes-like ``data`` (no warnings issued: they are in the result)."""
    dec, info, summary = _decoder()
    buf = ffi.from_buffer(data)
    if lib.jc_read_bands(dec, buf, len(buf), flags, max_pixels, max_scans, max_rows, bands, info) != 0:
        raise _error(info, name)
    return _result(info, summary, flags & _CHANNELS)


def _read_path(path: str, flags: int, max_pixels: int, max_scans: int, max_rows: int = 0,
               bands: Any = ffi.NULL) -> Coefficients:
    """Decode coefficients from a file; the C reads it (no Python bytes object, no GIL)."""
    encoded = os.fsencode(path)
    if b"\0" in encoded:
        raise ValueError("embedded null byte in path")
    dec, info, summary = _decoder()
    rc = lib.jc_read_file_bands(dec, encoded, flags, max_pixels, max_scans, max_rows, bands, info)
    if rc == -2:
        raise OSError(info.sys_errno, ffi.string(info.message).decode("latin-1"), path)
    if rc != 0:
        raise _error(info, path)
    return _result(info, summary, flags & _CHANNELS)


class _ChannelsComponent(Component):
    """A :class:`Component` read in the channels layout: ``coefficients``, the ``(Hb, Wb, 8, 8)``
    strided view of the ``(64, Hb, Wb)`` array, is made on first access."""

    def __getattr__(self, name: str):
        if name == "coefficients":
            ch = self.__dict__.get("_channels")
            if ch is not None:
                _, hb, wb = ch.shape
                return self.__dict__.setdefault("coefficients", ch.reshape(8, 8, hb, wb).transpose(2, 3, 0, 1))
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


class _ReadCoefficients(Coefficients):
    """A :class:`Coefficients` straight from the C reader. Its :class:`Component` objects (numpy
    arrays over the buffer the C handed over) are made on first access of ``components`` (or
    ``y``/``cb``/``cr``...): a caller that only looks at the header, or drops the result, does
    not pay for them. Otherwise it is an ordinary ``Coefficients`` (pickles, copies, replaces)."""

    def __getattr__(self, name: str):
        if name == "components":
            d = self.__dict__
            lazy = d.get("_lazy")
            if lazy is not None:
                comps = d.setdefault("components", _components(*lazy))
                d.pop("_lazy", None)
                return comps
            if "components" in d:          # made by another thread meanwhile
                return d["components"]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __getstate__(self):
        self.components                     # noqa: B018 - make them before pickling/copying
        state = dict(self.__dict__)
        state.pop("_lazy", None)
        return state


def _progressions(info, s: list) -> Optional[list]:
    """Per component, where a progressive file's scans left it (the C's scan_bits), or None."""
    if not info.progression:
        return None
    n = s[2]
    bits = ffi.unpack(ffi.cast("int *", info.scan_bits), 20 * n)
    last_good = info.last_good_row
    out = []
    for i in range(n):
        v, Hb = s[11 + 8 * i], s[14 + 8 * i]
        good = Hb if last_good < 0 else min(Hb, (last_good + 1) * v)
        out.append(Progression(tuple(bits[20 * i: 20 * i + 10]), tuple(bits[20 * i + 10: 20 * i + 20]), good))
    return out


def _components(mem, size: int, s: list, channels: int, progs: Optional[list] = None) -> list:
    """The Component objects over the C buffer ``mem`` (quantisation tables first, then each
    component at its offset), from the header facts ``s`` (the C summary); ``progs``: each
    component's :class:`Progression` (progressive files)."""
    buf = ffi.buffer(mem, size)
    n = s[2]
    quant = np.ndarray((n, 8, 8), np.uint16, buf)
    comps = []
    for i in range(n):
        h, v, hb, wb, Hb, Wb, off, _ = s[10 + 8 * i: 18 + 8 * i]
        if channels:
            comp = _new(_ChannelsComponent)
            comp.__dict__.update(_channels=np.ndarray((64, Hb, Wb), np.int16, buf, off * 2),
                                 quant=quant[i], sampling=(h, v), blocks=(hb, wb))
        else:
            comp = _new(Component)
            comp.__dict__.update(coefficients=np.ndarray((Hb, Wb, 8, 8), np.int16, buf, off * 2),
                                 quant=quant[i], sampling=(h, v), blocks=(hb, wb))
        if progs is not None:
            comp.__dict__["progression"] = progs[i]
        comps.append(comp)
    return comps


def _result(info, summary: np.ndarray, channels: int) -> Coefficients:
    """The hot path after a successful C call: one read-back of the header facts, and ownership
    of the single buffer the C handed over (given back to C when the last array over it, or
    the result, is collected). The arrays themselves are made on first access."""
    s = summary.tolist()
    size = info.data_size
    coeffs = _new(_ReadCoefficients)
    coeffs.__dict__.update(width=s[0], height=s[1], colorspace=_COLORSPACES[s[3]],
                           progressive=s[4] != 0, arithmetic=s[5] != 0, orientation=s[6],
                           warnings=_warning_texts(info) if s[7] else [],
                           _lazy=(ffi.gc(info.data, lib.jc_release, size), size, s, channels,
                                  _progressions(info, s) if s[4] else None))
    return coeffs


def _read_src(src: Source, flags: int, max_pixels: int, max_scans: int,
              max_rows: int = 0, bands: Any = ffi.NULL) -> tuple[Coefficients, Optional[str]]:
    """(coefficients, file name or None) for any supported source."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return _read_data(src, None, flags, max_pixels, max_scans, max_rows, bands), None
    if isinstance(src, (str, os.PathLike)):
        name = os.fspath(src)
        if isinstance(name, bytes):
            name = os.fsdecode(name)
        return _read_path(name, flags, max_pixels, max_scans, max_rows, bands), name
    data, name = _load(src)
    return _read_data(data, name, flags, max_pixels, max_scans, max_rows, bands), name


def _warn(coeffs: Coefficients, name: Optional[str], stacklevel: int = 3) -> None:
    if coeffs.warnings:
        where = f"{name}: " if name else ""
        warnings.warn(JpegWarning(where + "; ".join(coeffs.warnings)), stacklevel=stacklevel)


def read(src: Source, *, strict: bool = False, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
         max_scans: Optional[int] = DEFAULT_MAX_SCANS, layout: str = "blocks",
         max_height: Optional[int] = None, bands: Any = None) -> Coefficients:
    """Read a JPEG's quantised DCT coefficients (entropy decoding only).

    Args:
        src: a path (str or PathLike), a bytes-like object (bytes, bytearray, memoryview: used
            without a copy) or a binary file object.
        strict: raise :class:`JpegError` on recoverable damage instead of warning.
        max_pixels: refuse images whose header claims more pixels (None: no limit); checked
            before any large allocation.
        max_scans: refuse files with more scans (progressive scan flooding; None: no limit).
        layout: ``"blocks"`` (each component filled as ``(Hb, Wb, 8, 8)``) or ``"channels"``
            (filled as ``(64, Hb, Wb)``; ``coefficients`` is then a strided view of it).
        max_height: read only the top rows: the result is exactly
            ``transforms.crop(read(src), 0, 0, H2, width)`` with ``H2 = min(height, max_height
            rounded up to the MCU height)`` (8 pixels for one-component images); when ``H2`` is
            the full height it is exactly ``read(src)``. Sequential single-scan files (the
            common baseline JPEG) stop entropy decoding after the last iMCU row needed, which
            saves the time of the rows below; progressive and multi-scan files are decoded
            whole, then cut. Damage in the rows below the stop point is not read, so its
            warnings are not reported (libjpeg reads a few bytes ahead, so damage right at the
            stop point may still be). None (default): the whole image.
        bands: partial progressive decoding: the frequencies needed, one entry per component
            in file order (Y, Cb, Cr): None (all 64), an iterable of natural-order indices
            ``8*row + col`` (e.g. ``[0, 1, 8, 9]``), a boolean ``(8, 8)`` array, or an int bit
            mask (bit ``8*row + col``); components without an entry need everything. Scans
            that carry none of the needed frequencies are not decoded, and the data ends after
            the last scan needed. A scan that is decoded makes its whole band needed (its
            earlier scans are decoded too) and each component's DC comes with any of its
            frequencies, so every coefficient of the result is either exactly that of the
            whole read or zero (none of its scans decoded; ``progression.bits`` then shows -1
            for it), and the needed ones are the whole read's. That holds for valid data:
            libjpeg does not check that a damaged AC scan's runs stay inside its band, so in a
            damaged file a skipped scan may have put a stray value into a needed coefficient of
            the whole read (and values outside the decoded bands are zeroed, whatever a damaged
            kept scan wrote there). Damage in skipped scans is not seen. Only files with several scans (progressive, or sequential with one
            component per scan) can skip anything; others, and files whose structure the
            scan walk does not follow, are read whole. None (default): every scan.

    Returns:
        :class:`Coefficients`; recoverable damage is listed in ``.warnings`` and issued as a
        :class:`JpegWarning`.

    Raises:
        JpegError: not decodable (libjpeg's message and the file name), or over a limit.
        OSError: the path cannot be opened.
    """
    flags = _flags(strict, layout)
    max_rows = 0 if max_height is None else _max_rows(max_height)
    if bands is not None:
        coeffs, name = _read_src(src, flags, max_pixels or 0, max_scans or 0, max_rows, _band_masks(bands))
        if coeffs.warnings:
            _warn(coeffs, name)
        return coeffs
    if isinstance(src, _BYTES_LIKE):         # the hot path (_read_data inlined)
        try:
            dec, info, summary = _local.state
        except AttributeError:
            dec, info, summary = _decoder()
        buf = ffi.from_buffer(src)
        if lib.jc_read_rows(dec, buf, len(buf), flags, max_pixels or 0, max_scans or 0, max_rows,
                            info) != 0:
            raise _error(info, None)
        coeffs = _result(info, summary, flags & _CHANNELS)
        if coeffs.warnings:
            _warn(coeffs, None)
        return coeffs
    coeffs, name = _read_src(src, flags, max_pixels or 0, max_scans or 0, max_rows)
    if coeffs.warnings:
        _warn(coeffs, name)
    return coeffs


# -- batches -------------------------------------------------------------------------------------
_pools: dict = {}
_pools_lock = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    """A persistent pool of ``threads`` helper threads (per count), so each keeps its decoder."""
    with _pools_lock:
        pool = _pools.get(threads)
        if pool is None:
            pool = _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix="jpegcoef")
        return pool


def _after_fork_in_child() -> None:
    """A forked child (e.g. a DataLoader worker) has none of the parent's pool threads."""
    global _pools, _pools_lock
    _pools = {}
    _pools_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _read_chunk(items: list, args: tuple) -> list:
    out = []
    for src in items:
        try:
            out.append(_read_src(src, *args)[0])
        except Exception as e:  # noqa: BLE001 - handed back to the caller in order
            out.append(e)
    return out


def _pull(srcs: list, results: list, take, args: tuple) -> None:
    """Read the images whose indices ``take()`` hands out (a shared counter: ``next`` on an
    ``itertools.count`` is atomic under the GIL) until none are left; each thread asks for the
    next image only when it is done with the last, so all threads finish within one image of
    each other. The result objects are built here, in the worker thread."""
    n = len(srcs)
    read = _read_src
    while True:
        i = take()
        if i >= n:
            return
        try:
            results[i] = read(srcs[i], *args)[0]
        except Exception as e:  # noqa: BLE001 - handed back to the caller in order
            results[i] = e


def read_batch(srcs: Iterable[Source], *, threads: Optional[int] = None, errors: str = "raise",
               **read_kwargs) -> list:
    """Read many JPEGs on ``threads`` threads (default: the CPUs available); results in input order.

    The C decoding runs without the GIL. ``read_kwargs`` are :func:`read`'s keyword arguments.
    With ``errors="raise"`` the first failing source (in input order) raises :class:`JpegError`
    naming it (or its ``OSError``); with ``errors="return"`` its slot holds the exception object.
    Warnings are issued from the calling thread, in input order. The calling thread reads
    images too, beside ``threads - 1`` helper threads; each takes the next image as soon as it
    is free, so they all finish together.
    """
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', not {errors!r}")
    kwargs = {"strict": False, "max_pixels": DEFAULT_MAX_PIXELS, "max_scans": DEFAULT_MAX_SCANS,
              "layout": "blocks", "max_height": None, "bands": None}
    unknown = set(read_kwargs) - set(kwargs)
    if unknown:
        raise TypeError(f"unexpected keyword arguments: {sorted(unknown)}")
    kwargs.update(read_kwargs)
    args = (_flags(kwargs["strict"], kwargs["layout"]), kwargs["max_pixels"] or 0, kwargs["max_scans"] or 0,
            _max_rows(kwargs["max_height"]), _band_masks(kwargs["bands"]))
    srcs = list(srcs)
    threads = _default_threads() if threads is None else int(threads)
    if threads < 1:
        raise ValueError("threads must be at least 1")
    if threads == 1 or len(srcs) <= 1:
        results = _read_chunk(srcs, args)
    else:
        # the calling thread works too: threads - 1 helpers, all pulling from one counter
        results = [None] * len(srcs)
        take = itertools.count().__next__
        helpers = min(threads, len(srcs)) - 1
        pool = _pool(threads - 1)   # one pool per thread count, whatever the batch size
        futures = [pool.submit(_pull, srcs, results, take, args) for _ in range(helpers)]
        try:
            _pull(srcs, results, take, args)
        except BaseException:       # e.g. KeyboardInterrupt: helpers stop after their image
            for _ in range(len(srcs)):
                take()
            raise
        finally:
            for f in futures:   # a helper that never started (busy pool) is not waited for
                if not f.cancel():
                    f.result()
    for i, (src, r) in enumerate(zip(srcs, results)):
        name = os.fspath(src) if isinstance(src, (str, os.PathLike)) else None
        if isinstance(r, BaseException):
            if errors == "raise":
                if isinstance(r, JpegError) and r.filename is None:
                    raise JpegError(r.libjpeg_message, f"item {i}") from r
                raise r
        else:
            _warn(r, name or f"item {i}")
    return results


# -- full decode (the reference baseline) ---------------------------------------------------------
def decode(src: Source, colorspace: str = "rgb", *, strict: bool = False,
           max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
           max_scans: Optional[int] = DEFAULT_MAX_SCANS) -> np.ndarray:
    """libjpeg-turbo's full decode (islow IDCT, fancy upsampling, as djpeg does by default).

    ``colorspace``: ``"rgb"``, ``"ycbcr"``, ``"gray"`` or ``"native"`` (no conversion).
    Returns uint8 ``(H, W, C)``. Warnings and errors as in :func:`read`.
    """
    if colorspace not in _CS_CODES or colorspace in ("ycck",):
        raise ValueError(f"colorspace must be 'rgb', 'ycbcr', 'gray', 'cmyk' or 'native', not {colorspace!r}")
    data, name = _load(src)
    dec, info, _ = _decoder()
    buf = ffi.from_buffer(data)
    flags = lib.JC_STRICT if strict else 0
    if lib.jc_decode(dec, buf, len(buf), _CS_CODES[colorspace], flags, max_pixels or 0,
                     max_scans or 0, info) != 0:
        raise _error(info, name)
    h, w, c = info.height, info.width, info.out_components
    texts = _warning_texts(info) if info.num_warnings else []
    img = _owned_array(info, np.uint8).reshape(h, w, c)
    if texts:
        warnings.warn(JpegWarning((f"{name}: " if name else "") + "; ".join(texts)), stacklevel=3)
    return img


def decode_rgb(src: Source, **kwargs) -> np.ndarray:
    """libjpeg-turbo's full decode to RGB: uint8 ``(H, W, 3)`` (the reference baseline)."""
    return decode(src, "rgb", **kwargs)


# -- writing --------------------------------------------------------------------------------------
def write(coeffs: Coefficients, dst: Union[str, "os.PathLike[str]", Any, None] = None, *,
          optimize: bool = False) -> Optional[bytes]:
    """Encode ``coeffs`` losslessly (``jpeg_write_coefficients``): no requantisation.

    Every component's ``coefficients`` must cover at least the true block grid libjpeg derives
    from ``width``, ``height`` and the sampling factors; blocks beyond it are ignored (libjpeg
    pads partial MCUs itself). Identical quantisation tables share one slot. Progressive and
    arithmetic coding follow ``coeffs``; ``optimize`` builds optimal Huffman tables.
    EXIF and other markers are not written.

    Args:
        dst: a path, a binary file object, or None to get the bytes back.
    """
    comps = coeffs.components
    if not 1 <= len(comps) <= 4:
        raise JpegError(f"{len(comps)} components: 1 to 4 can be written")
    p = ffi.new("jc_write_params *")
    p.width, p.height, p.num_components = coeffs.width, coeffs.height, len(comps)
    p.colorspace = _CS_CODES[coeffs.colorspace]
    p.progressive, p.arithmetic, p.optimize = bool(coeffs.progressive), bool(coeffs.arithmetic), bool(optimize)
    tables: list = []
    keep = []
    for i, comp in enumerate(comps):
        q = np.ascontiguousarray(comp.quant, dtype=np.uint16).reshape(64)
        key = q.tobytes()
        if key not in tables:
            if len(tables) == 4:
                raise JpegError("more than 4 distinct quantisation tables")
            ffi.memmove(p.quant[len(tables)], key, 128)
            tables.append(key)
        a = np.ascontiguousarray(comp.coefficients, dtype=np.int16)
        buf = ffi.from_buffer(a)
        keep.append((a, buf))
        pc = p.comp[i]
        pc.h, pc.v = comp.sampling
        pc.quant_index = tables.index(key)
        pc.Hb, pc.Wb = a.shape[0], a.shape[1]
        pc.data = ffi.cast("const int16_t *", buf)
    p.num_quant = len(tables)
    out = ffi.new("unsigned char **")
    size = ffi.new("size_t *")
    msg = ffi.new("char[]", lib.JC_MSG_LEN)
    if lib.jc_write(p, out, size, msg) != 0:
        raise JpegError(ffi.string(msg).decode("latin-1"), os.fspath(dst) if isinstance(dst, (str, os.PathLike)) else None)
    try:
        data = ffi.buffer(out[0], size[0])[:]
    finally:
        lib.jc_free(out[0])
    del keep
    if dst is None:
        return data
    if isinstance(dst, (str, os.PathLike)):
        with open(dst, "wb") as f:
            f.write(data)
    else:
        dst.write(data)
    return None
