"""Using a trained model: load a checkpoint, classify JPEG files, export for serving.

A checkpoint written by ``experiments/run.py`` (``model.pt``, or the resumable ``last.pt``)
holds the weights under ``"model"`` and, under ``"inference"``, everything needed to use them
(:func:`model_record`): the model name and options, the class names, the input format with its
options and normalisation statistics, the crop, and how the training images were prepared
(``jpegcoef prepare``'s settings, when the training folder carries its record)::

    clf = jpegcoef.inference.load("experiments/checkpoints/resnet50-photos/model.pt")
    for p in clf.predict(["a.jpg", "b.png"], top_k=3):
        print(p["file"], p["top"])          # [("cat", 0.91), ("dog", 0.05), ...] or p["error"]

Each file gets the evaluation transform of training: the centre crop (DCT formats: a lossless
crop on the 16-pixel grid, no rescaling; RGB: resize the short side to crop / 0.875, then crop).
Because DCT models do not rescale, images are first brought to the training images' scale:
re-encoded with the recorded ``prepare`` settings (``short_side``), or with ``short_side`` given
explicitly. Files that are not JPEGs (PNG, WebP, ...) are re-encoded as JPEG in memory at their
own size for the DCT formats.

:func:`export` writes the model together with its format's device step (dequantise,
normalise, chroma alignment) as a ``torch.export`` program, a TorchScript module or an ONNX
model (``kind=``; :func:`load_exported` loads any of them): the served model takes the host
tensors (:meth:`Classifier.host_batch` with ``augment="crop"``: the centre crop's fixed-shape int16
coefficients -- images prepared at short side crop/0.875 give the evaluation protocol's
resize + centre crop -- and uint16 quantisation tables for
the DCT formats -- int32 in the ONNX model --, uint8 pixels for RGB) and returns logits; the
metadata (class names, format, crop) travels in the file as ``jpegcoef.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch
from torch import nn

__all__ = ["MODEL_FORMAT", "EXPORT_KINDS", "model_record", "Classifier", "load", "read_checkpoint",
           "export", "load_exported", "input_names"]

MODEL_FORMAT = "jpegcoef-model/1"
PathLike = Union[str, os.PathLike]


def model_record(*, model: str, model_options: dict, classes: Sequence[str], input_format: str,
                 format_options: dict, stats: Optional[dict], crop: int,
                 prepared: Optional[dict] = None, variant: Optional[str] = None,
                 augment: Optional[str] = None) -> dict[str, Any]:
    """The ``"inference"`` block of a checkpoint (plain containers: ``weights_only``-loadable).

    ``stats``: the DCT normalisation (``{"mean": [192], "std": [192], "source": ...}``) or None
    for the statistics shipped with jpegcoef; ``prepared``: ``jpegcoef prepare``'s settings of
    the training images, or None; ``augment``: the training pipeline (``"rrc"``, ``"crop"``, ...):
    its evaluation protocol is what prediction uses (rrc: resize + centre crop; crop: centre crop).
    """
    st = None
    if stats is not None:
        st = {"mean": [float(v) for v in stats["mean"]], "std": [float(v) for v in stats["std"]],
              "source": str(stats.get("source", ""))}
    return {"format": MODEL_FORMAT, "variant": variant, "model": model,
            "model_options": dict(model_options), "classes": [str(c) for c in classes],
            "input_format": input_format, "format_options": dict(format_options), "stats": st,
            "crop": int(crop), "prepared": dict(prepared) if prepared else None, "augment": augment}


#: What :func:`load` reads from the ``"inference"`` record (:func:`model_record` writes them all).
_RECORD_KEYS = ("model", "model_options", "classes", "input_format", "format_options", "crop")


def _record_of(state: Any, path: PathLike) -> dict[str, Any]:
    """The checked ``"inference"`` record of a loaded checkpoint: a :class:`ValueError` naming
    ``path`` when there is none or it lacks what :func:`load` needs."""
    rec = state.get("inference") if isinstance(state, dict) else None
    if not isinstance(rec, dict) or rec.get("format") != MODEL_FORMAT or "model" not in state:
        raise ValueError(f"{path}: not a jpegcoef model checkpoint (no 'inference' record; "
                         f"checkpoints of experiments/run.py carry one)")
    missing = [k for k in _RECORD_KEYS if k not in rec]
    if missing:
        raise ValueError(f"{path}: its 'inference' record lacks {', '.join(map(repr, missing))} "
                         f"(a record of experiments/run.py has {', '.join(_RECORD_KEYS)})")
    classes = rec["classes"]
    if not isinstance(classes, (list, tuple)) or not classes:
        raise ValueError(f"{path}: its 'inference' record's 'classes' is not a list of class "
                         f"names ({classes!r})")
    if not isinstance(rec["model_options"], dict) or not isinstance(rec["format_options"], dict):
        raise ValueError(f"{path}: its 'inference' record's model_options / format_options are "
                         f"not dictionaries")
    if not isinstance(state["model"], dict):
        raise ValueError(f"{path}: its 'model' entry is not a dictionary of weights "
                         f"({type(state['model']).__name__})")
    return rec


def _few(names: Sequence[str], first: int = 3) -> str:
    more = f", and {len(names) - first} more" if len(names) > first else ""
    return ", ".join(names[:first]) + more


def _misfit(model: nn.Module, weights: dict[str, Any]) -> str:
    """How ``weights`` differ from ``model``'s own tensors: shapes, missing and extra names
    (empty when they do not differ in any of these ways)."""
    own = model.state_dict()
    shaped = [k for k in own if k in weights and hasattr(weights[k], "shape")
              and tuple(weights[k].shape) != tuple(own[k].shape)]
    missing = [k for k in own if k not in weights]
    extra = [k for k in weights if k not in own]
    parts = []
    if shaped:
        shown = "; ".join(f"{k}: {list(weights[k].shape)} in the file, {list(own[k].shape)} in the model"
                          for k in shaped[:3])
        parts.append(f"{len(shaped)} tensor(s) of another shape ({shown}"
                     f"{f'; and {len(shaped) - 3} more' if len(shaped) > 3 else ''})")
    if missing:
        parts.append(f"{len(missing)} the file lacks ({_few(missing)})")
    if extra:
        parts.append(f"{len(extra)} the model does not have ({_few(extra)})")
    return "; ".join(parts)


def _load_error(e: BaseException) -> str:
    """``'Type: reason'`` of a failed ``torch.load``, in one line: the weights-only unpickler's
    own reason (not torch's advice to turn ``weights_only`` off), else the first sentence."""
    text = str(e).strip()
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].strip()
    first = (text.splitlines() or [""])[0].strip()
    if len(first) > 120 and ". " in first:
        first = first.split(". ", 1)[0]
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def _check_file(path: Path) -> None:
    """``FileNotFoundError`` / ``IsADirectoryError`` naming ``path`` unless it is a file."""
    if path.is_dir():
        inside = [n for n in ("model.pt", "last.pt") if (path / n).is_file()]
        hint = f" (it holds {' and '.join(inside)})" if inside else ""
        raise IsADirectoryError(f"{path} is a directory, not a checkpoint file{hint}")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not a regular file")


def read_checkpoint(path: PathLike, map_location: Union[str, torch.device] = "cpu") -> dict[str, Any]:
    """The dictionary saved in the checkpoint ``path`` (``torch.load(weights_only=True)``).

    Raises ``FileNotFoundError`` (no such file), ``IsADirectoryError`` (a folder was given) and
    ``ValueError`` (the file is damaged, not a torch file, or holds no dictionary), each naming
    ``path`` in one line.
    """
    path = Path(path)
    _check_file(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - a damaged or foreign file
        raise ValueError(f"{path}: not a readable checkpoint ({_load_error(e)})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a checkpoint of experiments/run.py (it holds a "
                         f"{type(state).__name__}, not a dictionary)")
    return state


@dataclass
class Classifier:
    """A trained model with its input format, class names and evaluation crop."""

    model: nn.Module
    format: Any
    classes: list[str]
    crop: int
    record: dict[str, Any]
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    # -- inputs -------------------------------------------------------------------------------
    def _sources(self, files: Sequence[PathLike], short_side: Optional[int], tmp: Path) -> list[str]:
        """The file each input is read from: itself, or its re-encoding in ``tmp``."""
        from .prepare import reencode  # noqa: PLC0415

        out = []
        for i, f in enumerate(files):
            f = str(f)
            if not os.path.isfile(f):
                out.append(f)  # the loader reports it by name
                continue
            dct = self.format.kind != "rgb"
            if short_side is None and not (dct and not _is_jpeg(f)):
                out.append(f)
                continue
            try:
                size = short_side or _short_side(f)
                dst = tmp / f"{i}.jpg"
                dst.write_bytes(reencode(f, size, int((self.record.get("prepared") or {}).get("quality", 95))))
                out.append(str(dst))
            except Exception:  # noqa: BLE001 - unreadable: let the loader name the original
                out.append(f)
        return out

    @property
    def augment(self) -> Optional[str]:
        """The evaluation pipeline: the training run's (``"rrc"``: resize + centre crop in the DCT
        domain); checkpoints from before the resized-crop pipeline used the centre crop."""
        if self.format.kind == "rgb":  # pixel resize + centre crop, or the trained window crop
            return "crop" if self.record.get("augment") == "crop" else None
        return self.record.get("augment") or "crop"

    def pipeline(self, augment: Optional[str] = None):
        """The evaluation :mod:`~jpegcoef.pipelines` object (host and device steps)."""
        from . import pipelines  # noqa: PLC0415

        key = augment or self.augment
        cache = self.__dict__.setdefault("_pipelines", {})
        if key not in cache:
            cache[key] = pipelines.make(self.format, self.crop, False, key)
        return cache[key]

    def host_batch(self, files: Sequence[PathLike], short_side: Optional[int] = None,
                   augment: Optional[str] = None, warned: Optional[dict[int, str]] = None
                   ) -> tuple[dict[str, torch.Tensor], list[int], dict[int, str]]:
        """``(host tensors, indices of the files in them, {index: error})`` for ``files``:
        what :meth:`forward_host` takes (an exported model takes the ``augment="crop"`` batch).

        Files libjpeg reads with warnings (truncated or corrupt data it recovers from) are kept;
        with ``warned`` given their warnings go there (``{index: libjpeg's text}``) instead of
        being issued (:class:`~jpegcoef.errors.JpegWarning`)."""
        from .data import JpegFolder  # noqa: PLC0415

        if short_side is None:
            short_side = (self.record.get("prepared") or {}).get("short_side")
        with tempfile.TemporaryDirectory(prefix="jpegcoef-predict-") as tmp:
            srcs = self._sources(files, short_side, Path(tmp))
            ds = JpegFolder(srcs, self.format, train=False, crop=self.crop, on_error="skip",
                            augment=augment or self.augment)
            hosts, good, errors = [], [], {}
            for i in range(len(srcs)):
                if not os.path.isfile(srcs[i]):
                    errors[i] = "does not exist" if not os.path.exists(srcs[i]) else "not a file"
                    continue
                host, _, meta = _load_noting(ds, i, srcs[i], warned)
                if host is None:
                    errors[i] = str(meta.get("error")).replace(f"{srcs[i]}: ", "")
                else:
                    hosts.append(host)
                    good.append(i)
        batch = self.format.collate(hosts) if hosts else {}
        return batch, good, errors

    # -- model --------------------------------------------------------------------------------
    @torch.no_grad()
    def forward_host(self, batch: dict[str, torch.Tensor], augment: Optional[str] = None) -> torch.Tensor:
        """Logits ``(N, classes)`` of a host batch (moved to the device, the pipeline's device step)."""
        moved = {k: v.to(self.device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        x = self.pipeline(augment).device(moved)
        return self.model(*x) if isinstance(x, (tuple, list)) else self.model(x)

    def predict(self, files: Sequence[PathLike], top_k: int = 5, batch_size: int = 32,
                short_side: Optional[int] = None) -> list[dict[str, Any]]:
        """Per file, in order: ``{"file", "top": [(class, probability), ...]}`` (``top_k`` best)
        or ``{"file", "error"}`` for a file that could not be read; a file libjpeg read with
        warnings (truncated or corrupt data it recovered from) also has ``"warning"``: its text."""
        k = max(1, min(top_k, len(self.classes)))
        out: list[dict[str, Any]] = []
        for start in range(0, len(files), batch_size):
            chunk = list(files[start:start + batch_size])
            warned: dict[int, str] = {}
            batch, good, errors = self.host_batch(chunk, short_side, warned=warned)
            rows: dict[int, Any] = {}
            if good:
                probs = torch.softmax(self.forward_host(batch).float(), dim=1).cpu()
                p, idx = probs.topk(k, dim=1)
                rows = {i: [(self.classes[int(c)], round(float(v), 6)) for v, c in zip(p[j], idx[j])]
                        for j, i in enumerate(good)}
            for i, f in enumerate(chunk):
                row = {"file": str(f), "top": rows[i]} if i in rows else \
                    {"file": str(f), "error": errors.get(i, "not read")}
                if i in rows and i in warned:
                    row["warning"] = warned[i]
                out.append(row)
        return out


def _load_noting(ds: Any, index: int, src: str, warned: Optional[dict[int, str]]) -> tuple:
    """``ds.load(index)`` with libjpeg's warnings (:class:`~jpegcoef.errors.JpegWarning`) noted
    in ``warned[index]`` without ``src``'s name, instead of issued (``warned`` None: issued);
    other warnings pass on."""
    from .errors import JpegWarning  # noqa: PLC0415

    if warned is None:
        return ds.load(index)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", JpegWarning)
        out = ds.load(index)
    texts = []
    for w in caught:
        if issubclass(w.category, JpegWarning):
            texts.append(str(w.message).replace(f"{src}: ", ""))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if texts:
        warned[index] = "; ".join(dict.fromkeys(texts))
    return out


def _is_jpeg(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(3) == b"\xff\xd8\xff"


def _short_side(path: str) -> int:
    from PIL import Image, ImageOps  # noqa: PLC0415
    with Image.open(path) as im:
        w, h = ImageOps.exif_transpose(im).size
    return min(w, h)


def load(path: PathLike, device: Union[str, torch.device] = "cpu") -> Classifier:
    """A :class:`Classifier` from a checkpoint of ``experiments/run.py`` (``weights_only``)."""
    from . import formats  # noqa: PLC0415
    from . import models  # noqa: PLC0415

    path = Path(path)
    state = read_checkpoint(path)
    rec = _record_of(state, path)
    what = f"{rec['model']} {rec['model_options']}, {len(rec['classes'])} classes"
    try:
        model = models.create(rec["model"], num_classes=len(rec["classes"]), **rec["model_options"])
    except (KeyError, TypeError, ValueError) as e:  # a model or option this version lacks
        raise ValueError(f"{path}: its record's model ({what}) cannot be built here "
                         f"({type(e).__name__}: {e})") from None
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        why = _misfit(model, state["model"]) or _load_error(e)
        raise ValueError(f"{path}: the weights do not fit the model its record describes "
                         f"({what}): {why}") from None
    device = torch.device(device)
    model.to(device).eval()
    opts = dict(rec["format_options"])
    if rec.get("stats"):
        opts["stats"] = rec["stats"]
    try:
        fmt = formats.get(rec["input_format"], **opts)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: its record's input format {rec['input_format']!r} "
                         f"{rec['format_options']} cannot be made here ({type(e).__name__}: {e})") from None
    return Classifier(model, fmt, list(rec["classes"]), int(rec["crop"]), rec, device)


# -- export -------------------------------------------------------------------------------------
def input_names(fmt: Any) -> tuple[str, ...]:
    """The served model's arguments, in order: ``("y", "cb", "cr", "q")`` or ``("rgb",)``."""
    return ("rgb",) if fmt.kind == "rgb" else ("y", "cb", "cr", "q")


class _ServedDCT(nn.Module):
    """Host tensors of a DCT format -> the format's device step -> the model -> logits."""

    def __init__(self, model: nn.Module, fmt: Any) -> None:
        super().__init__()
        self.model, self.fmt = model, fmt

    def forward(self, y: torch.Tensor, cb: torch.Tensor, cr: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        x = self.fmt.device({"y": y, "cb": cb, "cr": cr, "q": q})
        return self.model(*x) if isinstance(x, (tuple, list)) else self.model(x)


class _ServedRGB(nn.Module):
    """uint8 pixels -> normalise -> the model -> logits."""

    def __init__(self, model: nn.Module, fmt: Any) -> None:
        super().__init__()
        self.model, self.fmt = model, fmt

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.model(self.fmt.device({"rgb": rgb}))


#: What :func:`export` can write: ``kind -> (description, usual file suffix)``.
EXPORT_KINDS = {"export": ("torch.export program", ".pt2"),
                "torchscript": ("TorchScript module (torch.jit.trace)", ".pt"),
                "onnx": ("ONNX model (opset 18, dynamo exporter; q as int32)", ".onnx")}


def _served(clf: Classifier, example_files: Optional[Sequence[PathLike]]) -> tuple[nn.Module, tuple, dict]:
    """``(served module on the CPU, example args, metadata)`` for :func:`export`."""
    if hasattr(clf.model, "set_step"):
        raise ValueError(f"{clf.record['model']}: its early exit depends on the data, which "
                         f"an exported graph cannot capture; serve it with jpegcoef.inference.load")
    batch = clf.host_batch(example_files, augment="crop" if clf.augment else None)[0] if example_files \
        else _zeros(clf)
    if not batch:
        raise ValueError("none of the example files could be read")
    names = input_names(clf.format)
    # a batch of 1 would let the trace specialise the batch dimension: example of at least 2
    args = tuple(batch[k].cpu().repeat(2, *([1] * (batch[k].dim() - 1)))[:max(2, len(batch[k]))]
                 for k in names)
    served = (_ServedRGB if clf.format.kind == "rgb" else _ServedDCT)(clf.model.cpu(), clf.format).eval()
    with torch.no_grad():
        served(*args)  # fills the format's constant cache with real tensors before tracing
    meta = {**clf.record, "inputs": {k: {"dtype": str(batch[k].dtype).replace("torch.", ""),
                                         "shape": ["N", *batch[k].shape[1:]]} for k in names}}
    return served, args, meta


def export(clf: Classifier, path: PathLike, example_files: Optional[Sequence[PathLike]] = None,
           kind: str = "export") -> Path:
    """Write ``clf`` with its format's device step, taking host tensors, with a dynamic batch.

    ``kind`` (:data:`EXPORT_KINDS`): ``"export"`` a ``torch.export`` program (``.pt2``),
    ``"torchscript"`` a traced TorchScript module (``torch.jit.load``), ``"onnx"`` an ONNX model
    (needs the ``onnx`` and ``onnxscript`` packages). ONNX Runtime has few kernels for uint16,
    so the ONNX model's ``q`` is int32 (the same values); the others take uint16 ``q``. The
    metadata (class names, format, crop, inputs) is ``extra_files["jpegcoef.json"]`` of the
    ``.pt2``/TorchScript file and the ``jpegcoef.json`` metadata property of the ONNX model.

    The example input is a host batch of ``example_files`` or, without them, zero coefficients
    of the crop's shape (the shapes are what matters). Models whose forward branches on the
    data (``hilo``'s early exit) cannot be exported and raise ``ValueError``.
    """
    if kind not in EXPORT_KINDS:
        raise ValueError(f"kind must be one of {sorted(EXPORT_KINDS)}, not {kind!r}")
    served, args, meta = _served(clf, example_files)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        {"export": _write_export, "torchscript": _write_torchscript, "onnx": _write_onnx}[kind](
            served, args, {**meta, "export_kind": kind}, path)
    except (ImportError, ValueError):
        raise
    except Exception as e:  # noqa: BLE001 - the exporters' own multi-page reports, in one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{EXPORT_KINDS[kind][0]} could not capture {clf.record['model']}: {first}") from e
    finally:
        clf.model.to(clf.device)
    return path


def _dynamic(args: tuple) -> tuple:
    dim = torch.export.Dim("batch", min=1, max=4096)
    return tuple({0: dim} for _ in args)


def _write_export(served: nn.Module, args: tuple, meta: dict, path: Path) -> None:
    program = torch.export.export(served, args, dynamic_shapes=_dynamic(args))
    torch.export.save(program, str(path), extra_files={"jpegcoef.json": json.dumps(meta)})


def _write_torchscript(served: nn.Module, args: tuple, meta: dict, path: Path) -> None:
    with torch.no_grad():
        module = torch.jit.trace(served, args, check_trace=False)
    torch.jit.save(module, str(path), _extra_files={"jpegcoef.json": json.dumps(meta)})


def _write_onnx(served: nn.Module, args: tuple, meta: dict, path: Path) -> None:
    try:
        import onnx  # noqa: PLC0415
        import onnxscript  # noqa: F401, PLC0415 - the dynamo exporter's dependency
    except ImportError as e:
        raise ImportError(f"ONNX export needs the onnx and onnxscript packages "
                          f"(pip install onnx onnxscript): {e}") from None
    names = ["rgb"] if len(args) == 1 else ["y", "cb", "cr", "q"]
    if len(args) == 4:
        args = (*args[:3], args[3].to(torch.int32))  # the device step casts q to float32 first
        meta = {**meta, "inputs": {**meta["inputs"], "q": {**meta["inputs"]["q"], "dtype": "int32"}}}
    with torch.no_grad():
        program = torch.onnx.export(served, args, dynamo=True, input_names=names, output_names=["logits"],
                                    dynamic_shapes=_dynamic(args), opset_version=18,
                                    verbose=False)
    model = program.model_proto
    entry = model.metadata_props.add()
    entry.key, entry.value = "jpegcoef.json", json.dumps(meta)
    onnx.save(model, str(path))


def _zeros(clf: Classifier) -> dict[str, torch.Tensor]:
    c = clf.crop
    if clf.format.kind == "rgb":
        return {"rgb": torch.zeros((1, 3, c, c), dtype=torch.uint8)}
    fmt = clf.format  # chroma frequencies shipped by the host step (all 64 unless dctnet upsample="repeat")
    nc = len(fmt.host_c_index)
    return {"y": torch.zeros((1, len(fmt.y_index), c // 8, c // 8), dtype=torch.int16),
            "cb": torch.zeros((1, nc, c // 16, c // 16), dtype=torch.int16),
            "cr": torch.zeros((1, nc, c // 16, c // 16), dtype=torch.int16),
            "q": torch.ones((1, 3, 64), dtype=torch.uint16)}


def load_exported(path: PathLike, kind: Optional[str] = None) -> tuple[Any, dict[str, Any]]:
    """``(callable, metadata)`` of a file written by :func:`export`; ``kind`` defaults to the
    file's suffix (``.pt2``: export, ``.onnx``: ONNX, anything else TorchScript). An ONNX model
    runs in ONNX Runtime (``pip install onnxruntime``) behind a callable taking torch tensors."""
    path = Path(path)
    kind = kind or {".pt2": "export", ".onnx": "onnx"}.get(path.suffix, "torchscript")
    if kind not in EXPORT_KINDS:
        raise ValueError(f"kind must be one of {sorted(EXPORT_KINDS)}, not {kind!r}")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    if kind == "onnx":
        runner = _OnnxRunner(path)
        return runner, runner.meta
    extra = {"jpegcoef.json": ""}
    if kind == "export":
        module = torch.export.load(str(path), extra_files=extra).module()
    else:
        module = torch.jit.load(str(path), _extra_files=extra)
    if not extra["jpegcoef.json"]:
        raise ValueError(f"{path}: not written by jpegcoef.inference.export (no jpegcoef.json)")
    return module, json.loads(extra["jpegcoef.json"])


class _OnnxRunner:
    """An exported ONNX model in an ONNX Runtime session: torch tensors in, logits out."""

    def __init__(self, path: Path) -> None:
        try:
            import onnxruntime  # noqa: PLC0415
        except ImportError:
            raise ImportError("running an ONNX model needs onnxruntime (pip install onnxruntime)") from None
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        props = self.session.get_modelmeta().custom_metadata_map
        if "jpegcoef.json" not in props:
            raise ValueError(f"{path}: not written by jpegcoef.inference.export (no jpegcoef.json)")
        self.meta = json.loads(props["jpegcoef.json"])
        self.names = [i.name for i in self.session.get_inputs()]

    def __call__(self, *args: torch.Tensor) -> torch.Tensor:
        feeds = {n: (a.to(torch.int32) if n == "q" else a).cpu().numpy() for n, a in zip(self.names, args)}
        return torch.from_numpy(self.session.run(None, feeds)[0])
