"""experiments/report.ipynb: committed with outputs, and it executes headlessly (nbclient, kernel
python3) against the committed results without any error. Also runs it against an empty
results folder (a fresh checkout of the notebook alone must not break)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

REPO = Path(__file__).resolve().parents[1]
EXP = REPO / "experiments"
NOTEBOOK = EXP / "report.ipynb"


def _execute(nb, cwd: Path):
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()  # raises CellExecutionError on any failing cell
    return nb


def _errors(nb) -> list[str]:
    return [o.get("ename", "?") for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


def test_committed_notebook_has_outputs_and_no_errors():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code), "notebook committed unexecuted"
    assert not _errors(nb)
    # at least one figure (PNG) was rendered from the committed results
    assert any("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", []))


def test_notebook_executes_against_committed_results():
    nb = _execute(nbformat.read(NOTEBOOK, as_version=4), EXP)
    assert not _errors(nb)
    runs = [json.loads(p.read_text()) for p in (EXP / "results").glob("*.json")]
    keys = {(r["dataset"]["name"], r["variant"]) for r in runs
            if isinstance(r, dict) and r.get("schema") == "jpegcoef.run/1"}
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert f"{len(keys)} run result(s)" in text


def test_notebook_executes_without_any_results(tmp_path):
    exp = tmp_path / "experiments"
    shutil.copytree(EXP / "harness", exp / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    (exp / "results").mkdir()
    nb = _execute(nbformat.read(NOTEBOOK, as_version=4), exp)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "0 run result(s)" in text and not _errors(nb)
