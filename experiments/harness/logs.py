"""Per-run logs on rank 0: a CSV file (always) and TensorBoard scalars (when installed)."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

#: CSV columns, one row per logged event (``kind`` = "step" every ``--log-every`` steps,
#: "epoch" at the end of each epoch).
COLUMNS = ["kind", "epoch", "step", "phase", "lr", "loss", "train_top1", "images_per_s",
           "val_top1", "val_top5", "time_s"]


class RunLog:
    """Append rows to ``<dir>/log.csv``; mirror numbers to TensorBoard if it imports."""

    def __init__(self, directory: str | Path, enabled: bool = True, resume: bool = False) -> None:
        self.enabled = enabled
        self.path = Path(directory) / "log.csv"
        self._tb = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not (resume and self.path.exists())
        self._file = open(self.path, "w" if new else "a", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            self._csv.writeheader()
        try:  # optional dependency
            from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415
            self._tb = SummaryWriter(str(self.path.parent / "tensorboard"))
        except Exception:  # tensorboard not installed (or broken): CSV only
            self._tb = None

    def write(self, **row: Any) -> None:
        if not self.enabled:
            return
        self._csv.writerow({k: _fmt(v) for k, v in row.items()})
        self._file.flush()
        if self._tb is not None:
            step = int(row.get("step") or 0)
            for key, value in row.items():
                if isinstance(value, (int, float)) and key not in ("step", "epoch"):
                    self._tb.add_scalar(f"{row.get('kind', 'x')}/{key}", value, step)

    def close(self) -> None:
        if not self.enabled:
            return
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v
