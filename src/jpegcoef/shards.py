"""WebDataset-style tar shards as a dataset source: shard patterns, the per-shard tar index, the
sample naming convention, and writing shards.

A shard is an uncompressed tar file. A sample is the members sharing a key (the member name up
to the first dot of its base name, as WebDataset splits it): ``key.jpg`` (or ``key.jpeg``) holds
the JPEG, ``key.cls`` the integer label as ASCII text (absent: label -1), and other members
(``key.json``, captions, ...) are allowed and ignored. Class names, one per line in label order,
come from a ``classes.txt`` file next to the (first) shard, or else from a ``classes.txt``
member of the shards (all shards that hold one must agree); without either ``classes`` is empty.

A shard spec (:func:`shard_paths`) is a brace pattern (``train-{000000..000099}.tar``,
``{a,b}``, nested, several groups), a glob (``train-*.tar``), a single ``.tar`` file, a
directory holding ``*.tar`` files (sorted by name), or a list of shard paths.

:class:`ShardIndex` indexes every shard once with the stdlib :mod:`tarfile` (member name ->
data offset and size; the small ``.cls`` members are read then), caches each shard's index in
the process (keyed by path, size and modification time) and reads a sample's bytes by offset.
It is the sample list of :class:`~jpegcoef.folder.JpegFolder` over shards: samples are numbered
shard by shard in member order, so the :class:`~jpegcoef.loader.SeededSampler` splits them
across DDP ranks (disjoint, as for files) and the DataLoader across workers; per-sample seeds
derive from ``(seed, epoch, index)`` as for files. Reads are random access by offset (one
``open`` + ``read`` per sample): shards cut the file count and metadata traffic of a
distributed file system, they do not make the reads sequential.
"""
from __future__ import annotations

import functools
import glob
import io
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np

__all__ = ["expand_braces", "is_shards", "shard_paths", "index_shard", "ShardIndex", "ShardEntries",
           "sample_key", "write_shard", "CLASSES_FILE", "IMAGE_EXTS"]

CLASSES_FILE = "classes.txt"
IMAGE_EXTS = ("jpg", "jpeg")
_SUFFIX = ".tar"
_RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)$")
_TMP_MARK = ".jpegcoef-tmp-"


# ------------------------------------------------------------------------------------------------
# Shard specs
# ------------------------------------------------------------------------------------------------
def _split_top(body: str) -> list[str]:
    """``body`` split at its top-level commas (not those inside nested braces)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        depth += (ch == "{") - (ch == "}")
        if ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return parts


def _alternatives(body: str) -> list[str]:
    """What one brace group stands for: a numeric range ``a..b`` (zero-padded to the longer
    bound when either has a leading zero) or comma-separated alternatives."""
    m = _RANGE.match(body)
    if m:
        a, b = m.groups()
        width = max(len(a), len(b)) if any(len(s) > 1 and s.lstrip("-").startswith("0") for s in (a, b)) else 0
        lo, hi = int(a), int(b)
        step = 1 if hi >= lo else -1
        return [f"{v:0{width}d}" for v in range(lo, hi + step, step)]
    parts = _split_top(body)
    if len(parts) < 2:
        raise ValueError(f"brace group {{{body}}} is neither a range a..b nor a list a,b")
    return parts


def expand_braces(pattern: str) -> list[str]:
    """Bash-style brace expansion: ``a-{0..2}.tar`` -> ``a-0.tar a-1.tar a-2.tar``,
    ``{00..10}`` keeps the zero padding, ``{x,y}`` alternatives, nested and repeated groups."""
    start = pattern.find("{")
    if start < 0:
        if "}" in pattern:
            raise ValueError(f"unbalanced '}}' in shard pattern {pattern!r}")
        return [pattern]
    depth = 0
    for end in range(start, len(pattern)):
        depth += (pattern[end] == "{") - (pattern[end] == "}")
        if depth == 0:
            break
    else:
        raise ValueError(f"unbalanced '{{' in shard pattern {pattern!r}")
    head, body, tail = pattern[:start], pattern[start + 1:end], pattern[end + 1:]
    return [x for alt in _alternatives(body) for x in expand_braces(head + alt + tail)]


def _tars_in(root: Path) -> list[str]:
    """The ``*.tar`` files of a directory (sorted), refusing one that also holds images or
    subdirectories: an ImageFolder with a stray tar is not silently read as shards."""
    tars = sorted(str(p) for p in root.iterdir()
                  if p.suffix == _SUFFIX and not p.name.startswith(".") and p.is_file())
    if tars:
        other = [p.name for p in root.iterdir() if not p.name.startswith(".")
                 and (p.is_dir() or p.suffix.lower() in (".jpg", ".jpeg"))]
        if other:
            raise ValueError(f"{root} holds both .tar shards and image folders/files ({other[0]}, ...): "
                             "pass a shard pattern or the folder without the tars")
    return tars


def is_shards(spec: Any) -> bool:
    """Whether ``spec`` names tar shards (see the module docstring) rather than JPEG files."""
    if isinstance(spec, (str, os.PathLike)):
        s = os.fspath(spec)
        if s.endswith(_SUFFIX):
            return True
        return Path(s).is_dir() and bool(_tars_in(Path(s)))
    if isinstance(spec, (list, tuple)) and spec:
        tar = [isinstance(x, (str, os.PathLike)) and os.fspath(x).endswith(_SUFFIX) for x in spec]
        if any(tar) and not all(tar):
            raise ValueError("a list mixes .tar shards and other entries")
        return all(tar)
    return False


def shard_paths(spec: Any) -> list[str]:
    """The shard files of a spec, in order (braces expanded, globs sorted; a glob matching
    nothing raises ``FileNotFoundError``; literal paths are not checked here)."""
    if isinstance(spec, (list, tuple)):
        return [p for x in spec for p in shard_paths(os.fspath(x))]
    s = os.fspath(spec)
    if not s.endswith(_SUFFIX) and Path(s).is_dir():
        return _tars_in(Path(s))
    out = []
    for p in expand_braces(s):
        if glob.has_magic(p):
            hits = sorted(glob.glob(p))
            if not hits:
                raise FileNotFoundError(f"no shard matches {p!r}")
            out.extend(hits)
        else:
            out.append(p)
    return out


# ------------------------------------------------------------------------------------------------
# One shard's index
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShardEntries:
    """The samples of one shard: JPEG member names (utf-8 bytes), data offsets and sizes,
    labels (-1: no ``.cls``), the ``classes.txt`` member's names (None: none), and the errors
    met as ``(member or '', message)`` (a shard-level error ends the list of members)."""
    names: np.ndarray
    offsets: np.ndarray
    sizes: np.ndarray
    labels: np.ndarray
    classes: Optional[tuple]
    errors: tuple


def _check_end(f, offset: int, total: int, path: str) -> Optional[str]:
    """tarfile stops quietly at an invalid header after the first member: the block where it
    stopped must be the end of the file or zeros (the end-of-archive marker)."""
    f.seek(offset)
    block = f.read(512)
    if block.strip(b"\0"):
        return f"shard {path}: corrupt tar header at byte {offset} (the members after it are lost)"
    return None


def _scan_tar(path: str, links: list) -> tuple[list, Optional[str]]:
    """``([(name, offset, size)], error or None)``: the regular members before any damage
    (links and other special members are listed in ``links`` as ``(name, message)``)."""
    total = os.path.getsize(path)
    members: list = []
    with open(path, "rb") as f:
        try:
            tf = tarfile.open(fileobj=f, mode="r:")
        except tarfile.TarError as e:
            return members, f"shard {path}: not an uncompressed tar file ({e})"
        with tf:
            while True:
                try:
                    m = tf.next()
                except tarfile.TarError as e:
                    return members, f"shard {path}: corrupt tar after {len(members)} members ({e})"
                if m is None:
                    return members, _check_end(f, tf.offset, total, path)
                tf.members = []  # keep no TarInfo objects: a shard may hold millions of members
                if m.isdir():
                    continue
                if not m.isfile():
                    links.append((m.name, f"shard {path}: member {m.name}: not a regular file (links are not read)"))
                    continue
                if m.offset_data + m.size > total:
                    return members, (f"shard {path}: member {m.name}: truncated "
                                     f"({m.offset_data + m.size - total} of {m.size} bytes missing)")
                members.append((m.name, m.offset_data, m.size))


def _split_name(name: str) -> tuple[str, str]:
    """``(key, extension)`` the WebDataset way: the base name splits at its first dot."""
    head, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    return (f"{head}/{stem}" if head else stem), (ext if dot else "")


def _read_at(f, offset: int, size: int) -> bytes:
    f.seek(offset)
    return f.read(size)


def _label(f, path: str, member: Optional[tuple]) -> tuple[int, Optional[str]]:
    """``(label, error or None)`` from a ``.cls`` member (None: no member, label -1)."""
    if member is None:
        return -1, None
    text = _read_at(f, member[1], member[2]).decode("ascii", "replace").strip()
    if re.fullmatch(r"-?\d+", text) and int(text) >= -1:
        return int(text), None
    return -1, f"shard {path}: member {member[0]}: label {text[:40]!r} is not an integer >= -1"


def _group(path: str, members: list) -> tuple[list, Optional[tuple], list]:
    """``(samples [(name, offset, size, label)], classes member or None, errors)``: members
    grouped by key (in order of first appearance), one JPEG per sample."""
    keys: dict = {}
    classes, samples, errors = None, [], []
    with open(path, "rb") as f:
        for m in members:
            if m[0] == CLASSES_FILE:
                classes = tuple(_read_at(f, m[1], m[2]).decode("utf-8").split())
                continue
            key, ext = _split_name(m[0])
            keys.setdefault(key, {}).setdefault(ext, m)
        for key, parts in keys.items():
            images = [m for ext, m in parts.items() if ext.lower() in IMAGE_EXTS]
            first = next(iter(parts.values()))[0]
            if len(images) != 1:
                errors.append((first, f"shard {path}: member {first}: sample {key!r} has "
                                      f"{len(images) or 'no'} JPEG members (.jpg or .jpeg)"))
                continue
            label, err = _label(f, path, parts.get("cls"))
            if err is not None:
                errors.append((parts["cls"][0], err))
                continue
            samples.append((*images[0], label))
    return samples, classes, errors


@functools.lru_cache(maxsize=8192)
def _index_cached(path: str, size: int, mtime_ns: int) -> ShardEntries:
    links: list = []
    members, error = _scan_tar(path, links)
    samples, classes, errors = _group(path, members)
    errors = links + errors
    if error is not None:
        errors.append(("", error))
    names = np.array([n.encode("utf-8", "surrogateescape") for n, *_ in samples], dtype=bytes)
    cols = np.array([s[1:] for s in samples], np.int64).reshape(-1, 3)
    return ShardEntries(names, cols[:, 0].copy(), cols[:, 1].copy(), cols[:, 2].copy(), classes, tuple(errors))


def index_shard(path: Union[str, os.PathLike]) -> ShardEntries:
    """One shard's :class:`ShardEntries`, cached in this process until the file changes
    (``FileNotFoundError`` naming the shard when it is missing)."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"shard {path} not found") from None
    return _index_cached(path, st.st_size, st.st_mtime_ns)


# ------------------------------------------------------------------------------------------------
# All shards of a spec
# ------------------------------------------------------------------------------------------------
def _side_classes(paths: Sequence[str]) -> Optional[list[str]]:
    """Names from the ``classes.txt`` next to the first shard, or None."""
    side = Path(paths[0]).parent / CLASSES_FILE if paths else None
    if side is not None and side.is_file():
        return side.read_text(encoding="utf-8").split()
    return None


class ShardIndex:
    """Every sample of a shard spec: ``len``, ``index[i]`` -> the sample's name
    ``"<shard>:<member>"``, ``labels``, ``classes``, ``read(i)`` -> its JPEG bytes.

    ``on_error="raise"``: a missing or damaged shard or a bad member raises (``FileNotFoundError``
    / ``ValueError`` naming the shard and member); ``"skip"``: they are left out and listed in
    ``skipped`` (name -> error; a shard's members before any damage are kept).
    """

    def __init__(self, spec: Any, on_error: str = "raise"):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.spec, self.paths = spec, shard_paths(spec)
        if not self.paths:
            raise ValueError(f"no shards in {spec!r}")
        self.skipped: dict[str, str] = {}
        parts = [(i, e) for i, e in enumerate(self._entries(on_error)) if e is not None]
        self.classes = self._classes(parts)
        empty = ShardEntries(np.zeros(0, "S1"), *[np.zeros(0, np.int64)] * 3, None, ())
        parts = parts or [(0, empty)]
        self.shard = np.concatenate([np.full(len(e.names), i, np.int32) for i, e in parts])
        self.names = np.concatenate([e.names for _, e in parts])
        self.offsets, self.sizes, self.labels = (np.concatenate([getattr(e, k) for _, e in parts])
                                                 for k in ("offsets", "sizes", "labels"))
        self._check_labels(on_error)

    def _entries(self, on_error: str) -> list:
        out = []
        for path in self.paths:
            try:
                e = index_shard(path)
            except OSError as err:
                if on_error == "raise":
                    raise
                self.skipped[path] = f"{type(err).__name__}: {err}"
                out.append(None)
                continue
            for member, msg in e.errors:
                if on_error == "raise":
                    raise ValueError(msg)
                self.skipped[f"{path}:{member}" if member else path] = msg
            out.append(e)
        return out

    def _classes(self, parts: list) -> list[str]:
        side = _side_classes(self.paths)
        if side is not None:
            return side
        found = {e.classes for _, e in parts if e.classes is not None}
        if len(found) > 1:
            raise ValueError(f"the shards of {self.spec!r} hold different {CLASSES_FILE} members")
        return list(found.pop()) if found else []

    def _check_labels(self, on_error: str) -> None:
        """Labels must index ``classes`` (when there is a class list)."""
        if not self.classes:
            return
        bad = np.flatnonzero(self.labels >= len(self.classes))
        if not len(bad):
            return
        msgs = {self[int(i)]: f"label {int(self.labels[i])} >= {len(self.classes)} classes" for i in bad}
        if on_error == "raise":
            name, msg = next(iter(msgs.items()))
            raise ValueError(f"shard sample {name}: {msg} ({len(bad)} such samples)")
        self.skipped.update(msgs)
        keep = np.ones(len(self.names), bool)
        keep[bad] = False
        for k in ("shard", "names", "offsets", "sizes", "labels"):
            setattr(self, k, getattr(self, k)[keep])

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> str:
        return f"{self.paths[self.shard[i]]}:{self.names[i].decode('utf-8', 'surrogateescape')}"

    def read(self, i: int) -> bytes:
        """Sample ``i``'s JPEG bytes, read by offset (``ValueError`` when the shard shrank)."""
        path, size = self.paths[self.shard[i]], int(self.sizes[i])
        with open(path, "rb") as f:
            data = _read_at(f, int(self.offsets[i]), size)
        if len(data) != size:
            raise ValueError(f"shard {path} is shorter than its index: {len(data)} of {size} bytes read")
        return data


# ------------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------------
def sample_key(relative: Union[str, os.PathLike]) -> str:
    """The WebDataset key of a file path relative to its split: the path without its suffix,
    the dots of the base name replaced by ``_`` (a key's base name must not hold a dot)."""
    p = Path(relative)
    stem = p.with_suffix("").name.replace(".", "_")
    return (p.parent / stem).as_posix() if p.parent != Path(".") else stem


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644  # no clock, no owner: reproducible bytes
    tf.addfile(info, io.BytesIO(data))


def write_shard(path: Union[str, os.PathLike], samples: Iterable[tuple]) -> int:
    """Write ``(key, jpeg_bytes, label or None)`` samples as ``key.jpg`` (+ ``key.cls``) into
    the tar ``path``, atomically (a temporary name in the same folder, then renamed).
    Returns the number of samples written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{_TMP_MARK}{os.getpid()}")
    n = 0
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tf:
            for key, data, label in samples:
                _add(tf, f"{key}.jpg", data)
                if label is not None:
                    _add(tf, f"{key}.cls", str(int(label)).encode("ascii"))
                n += 1
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return n
