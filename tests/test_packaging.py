"""Packaging: the models install as ``jpegcoef.models``; no top-level ``models`` package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import setuptools

REPO = Path(__file__).resolve().parents[1]


def _setup_kwargs(monkeypatch) -> dict:
    captured: dict = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kw: captured.update(kw))
    monkeypatch.chdir(REPO)
    exec(compile((REPO / "setup.py").read_text(), "setup.py", "exec"), {"__name__": "__main__"})  # noqa: S102
    return captured


def test_build_installs_models_under_jpegcoef(monkeypatch):
    """What build_py would put in the wheel (found without building anything)."""
    from setuptools.dist import Distribution

    kw = _setup_kwargs(monkeypatch)
    kw.pop("cffi_modules", None)
    dist = Distribution({"name": "jpegcoef", "script_name": "setup.py", **kw})
    cmd = dist.get_command_obj("build_py")
    cmd.ensure_finalized()
    modules = {(pkg, mod): Path(path) for pkg, mod, path in cmd.find_all_modules()}
    packages = {pkg.split(".")[0] for pkg, _ in modules}
    assert packages == {"jpegcoef"}, packages  # nothing else at the top level
    models = {mod: path for (pkg, mod), path in modules.items() if pkg == "jpegcoef.models"}
    assert {"__init__", "registry", "resnet", "dctnet", "hilo"} <= set(models)
    assert all(path.parts[0] == "models" for path in models.values())  # from the models/ folder


def test_checkout_imports_jpegcoef_models_from_the_models_folder():
    """An uninstalled checkout (PYTHONPATH=src, run from elsewhere) finds jpegcoef.models in the
    repository's models/ folder (src/jpegcoef/models links to it) and no top-level models."""
    code = ("import importlib.util, jpegcoef.models as m; print(m.__file__); "
            "s = importlib.util.find_spec('models'); print(s.origin if s else None); "
            "print('dctnet' in m.names() and 'dctnet')")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run([sys.executable, "-c", code], cwd="/", env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert Path(out[0]).resolve() == (REPO / "models" / "__init__.py").resolve()
    assert out[2] == "dctnet"
    # no top-level 'models' from this checkout (an install made before this layout would still
    # map one: reinstall with 'pip install -e .')
    assert out[1] == "None" or REPO.resolve() not in Path(out[1]).resolve().parents, out[1]
