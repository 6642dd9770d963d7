"""The ``scanflow`` project starter (entry point ``kedro.starters``).

``kedro new --starter=scanflow`` renders ``template/`` into a Kedro project with the
MNIST workflow of the reference project, ready to run offline. The template ships inside
the wheel as ``kedro_scanflow/template``; in a source checkout it is ``template/``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from kedro.framework.cli.starters import KedroStarterSpec


def template_path() -> Path:
    """The starter's cookiecutter directory."""
    try:
        installed = Path(str(resources.files("kedro_scanflow.template")))
    except ModuleNotFoundError:
        installed = None
    if installed is not None and (installed / "cookiecutter.json").is_file():
        return installed
    return Path(__file__).resolve().parents[1] / "template"


starters = [KedroStarterSpec(alias="scanflow", template_path=str(template_path()))]
