"""What the command lines (``jpegcoef``, ``experiments/run.py``) show a person.

- User errors are one line on stderr and an exit status, never a traceback: :class:`UserError`
  (status 1: the data -- a missing folder, no images, unreadable files) and :class:`UsageError`
  (status 2: the command line -- an unknown option or value, a device this machine lacks).
  :class:`ArgumentParser` reports its own errors the same way (one line, status 2) and takes no
  abbreviations of long options. :func:`run` maps exceptions to statuses.
- Output into a closed pipe (``jpegcoef info *.jpg | head``) ends the program quietly.
- Progress bars only on a terminal (:func:`progress_enabled`): a log file gets the plain lines.
- Skipped files are summarised as a count and the first few names (:func:`skipped_summary`).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Mapping, Optional, Sequence, TextIO

from .errors import JpegError

__all__ = ["UserError", "UsageError", "ArgumentParser", "run", "progress_enabled",
           "skipped_summary", "DATA_ERRORS"]

#: Exceptions that mean "the data is wrong" wherever they come from: a missing or unreadable
#: path, a file that is not a JPEG. Anything else is a bug and keeps its traceback.
DATA_ERRORS: tuple[type[BaseException], ...] = (FileNotFoundError, NotADirectoryError,
                                                IsADirectoryError, PermissionError, JpegError)


class UserError(Exception):
    """An error in what the user gave (files, folders): one line, exit status 1."""

    status = 1


class UsageError(UserError):
    """An error in the command line itself (options, values): one line, exit status 2."""

    status = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors (``prog: error: ... (see prog --help)``, status 2) and
    ``allow_abbrev=False`` (``--model`` is never taken as the start of ``--model-opt``)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def run(prog: str, main: Callable[[], Optional[int]], stderr: Optional[TextIO] = None) -> int:
    """Call ``main()`` and return its exit status, turning user errors into one line on stderr.

    :class:`UserError` -> its status; :data:`DATA_ERRORS` -> 1; ``KeyboardInterrupt`` -> 130;
    a closed output pipe -> 1, silently. Other exceptions propagate (bugs keep their traceback).
    """
    err = stderr or sys.stderr
    try:
        return int(main() or 0)
    except BrokenPipeError:
        _quiet_stdout()
        return 1
    except UserError as e:
        print(f"{prog}: error: {_flat(str(e))}", file=err)
        return e.status
    except DATA_ERRORS as e:
        print(f"{prog}: error: {_flat(_describe(e))}", file=err)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=err)
        return 130


def _flat(text: str) -> str:
    """One line: a message that spans lines (a library's report) has them joined."""
    return " ".join(text.split())


def _describe(e: BaseException) -> str:
    """``OSError``s as 'PATH: what' (``[Errno 2] No such file or directory: 'x'`` reads badly)."""
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return f"{e.filename}: {e.strerror.lower()}"
    return str(e)


def progress_enabled(requested: Optional[bool] = None, stream: Optional[TextIO] = None) -> bool:
    """Whether to draw progress bars: as ``requested`` when given, else only when ``stream``
    (default stderr, where tqdm draws) is a terminal -- redirected output gets no bars."""
    if requested is not None:
        return requested
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def skipped_summary(skipped: Mapping[str, str], total: Optional[int] = None, first: int = 3,
                    what: str = "files") -> str:
    """``'2 of 50 files skipped: a.jpg (JpegError: Not a JPEG file), b.jpg (...)'``; with more
    than ``first`` entries the rest are counted (``', and 5 more'``). Empty string when none."""
    if not skipped:
        return ""
    items = sorted(skipped.items())
    names = ", ".join(f"{path} ({_one_line(str(err).replace(f'{path}: ', ''))})" if err else str(path)
                      for path, err in items[:first])
    more = f", and {len(items) - first} more" if len(items) > first else ""
    of = f" of {total}" if total is not None else ""
    return f"{len(items)}{of} {what} skipped: {names}{more}"


def _one_line(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def print_warning(prog: str, message: str, stream: Optional[TextIO] = None) -> None:
    """``prog: warning: message`` on stderr."""
    if message:
        print(f"{prog}: warning: {message}", file=stream or sys.stderr, flush=True)


def version_text(prog: str) -> str:
    """``'jpegcoef 0.1.0 (libjpeg-turbo 2.1.5)'`` as ``--version`` prints it."""
    from . import __version__  # noqa: PLC0415
    parts = []
    try:
        from .reader import libjpeg_version  # noqa: PLC0415
        parts.append(f"libjpeg-turbo {libjpeg_version()}")
    except Exception:  # noqa: BLE001 - the extension may be unbuilt; --version still answers
        pass
    return f"{prog} {__version__}" + (f" ({', '.join(parts)})" if parts else "")


def check_paths_exist(paths: Sequence[str], what: str = "") -> None:
    """:class:`UserError` naming the first path that does not exist."""
    for p in paths:
        if not os.path.exists(p):
            raise UserError(f"{what}{p} does not exist")
