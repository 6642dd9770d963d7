"""The ``scanflow`` Kedro starter (a cookiecutter template), shipped as package data.

Nothing here is imported at run time; this file only lets the starter be installed as
``kedro_scanflow.template`` so that ``kedro new --starter=scanflow`` finds it.
"""
