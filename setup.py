"""Build script: the pure-Python packages plus the cffi extension over libjpeg-turbo.

Metadata lives in pyproject.toml; this file adds what it cannot express: the package layout
and ``cffi_modules``. ``jpegcoef`` comes from src/, and the repository's top-level ``models/``
folder installs as ``jpegcoef.models`` (no top-level ``models`` package is installed: that name
is too common to take from users' own code). ``src/jpegcoef/models`` is a symbolic link to
``models/`` so that an uninstalled checkout (``PYTHONPATH=src``) imports it the same way.
"""

from setuptools import setup

setup(
    packages=["jpegcoef", "jpegcoef.models"],
    package_dir={"": "src", "jpegcoef.models": "models"},
    cffi_modules=["src/jpegcoef/_build.py:ffibuilder"],
    zip_safe=False,
)
