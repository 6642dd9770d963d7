"""Packaging glue that pyproject.toml cannot express on its own.

The starter lives at the repository top level (``template/``) and ships inside the wheel
as the package data ``kedro_scanflow.template``, so that ``kedro new --starter=scanflow``
works from an installed wheel as well as from a checkout. Everything else is in
pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["kedro_scanflow", "kedro_scanflow.*"]),
        "kedro_scanflow.template",
    ],
    package_dir={"kedro_scanflow.template": "template"},
)
