"""Build script: the pure-Python packages plus the cffi extension over libjpeg-turbo.

Metadata lives in pyproject.toml; this file adds what it cannot express: the package layout
(``jpegcoef`` from src/, ``models`` from the top level) and ``cffi_modules``.
"""

from setuptools import setup

setup(
    packages=["jpegcoef", "models"],
    package_dir={"": "src", "models": "models"},
    cffi_modules=["src/jpegcoef/_build.py:ffibuilder"],
    zip_safe=False,
)
