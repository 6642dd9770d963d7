"""``DebuggingGrid``: which seeds, corruptions, scenarios and label budgets an experiment runs.

The grid shapes the pipeline: one task per seed (classifier, drift detector), per seed and
corruption (the new distribution), and per seed, corruption and scenario (every budget).
Kedro builds a pipeline before it reads a run's parameters, so the grid is read from the
project's ``conf/`` when the pipeline is created (:func:`load_debugging_grid`), like
Kedro's own dynamic pipelines; everything else (sizes, training settings) is an ordinary
parameter and may change per run. :func:`check_run_grid` then makes sure that the run's
parameters (``--params``, ``--env``) did not ask for another grid than the one built.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator

from kedro_scanflow.corruptions import CORRUPTIONS, corruption_named
from kedro_scanflow.debugging.scenario_runner import SCENARIOS

GRID_KEY = "debugging_grid"
"""The top-level parameter that holds the grid (``conf/base/parameters_debugging.yml``)."""


class DebuggingGridError(ValueError):
    """The grid in ``conf/`` is invalid, or a run asked for another grid than the one built."""


class DebuggingGrid(BaseModel):
    """The seeds, corruptions, scenarios and budgets of a debugging experiment, and its data.

    Attributes:
        data_source: ``generated``: the corruptions of :mod:`kedro_scanflow.corruptions`
            applied to clean digits; ``mnist_c``: the published MNIST-C files.
        corruptions: MNIST-C names, or ``all`` for the fifteen in the benchmark's order.
        scenarios: Scenario keys (:data:`SCENARIOS`), or ``all``.
        seeds: One repetition of the whole experiment per seed.
        budgets: Label budgets: images a human labels per corruption, sorted.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_source: Literal["generated", "mnist_c"] = "generated"
    corruptions: tuple[str, ...] = Field(default=tuple(CORRUPTIONS), min_length=1)
    scenarios: tuple[str, ...] = Field(default=tuple(SCENARIOS), min_length=1)
    seeds: tuple[int, ...] = Field(default=(0, 1, 2), min_length=1)
    budgets: tuple[PositiveInt, ...] = Field(default=(10, 25, 50, 100, 200, 500), min_length=1)

    @field_validator("corruptions", mode="before")
    @classmethod
    def _all_corruptions(cls, value: Any) -> Any:
        return tuple(CORRUPTIONS) if value == "all" else value

    @field_validator("scenarios", mode="before")
    @classmethod
    def _all_scenarios(cls, value: Any) -> Any:
        return tuple(SCENARIOS) if value == "all" else value

    @field_validator("corruptions")
    @classmethod
    def _known_corruptions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            corruption_named(name)  # names the closest valid corruptions
        return _unique(value, "corruption")

    @field_validator("scenarios")
    @classmethod
    def _known_scenarios(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in SCENARIOS]
        if unknown:
            raise ValueError(
                f"unknown scenario(s) {', '.join(map(repr, unknown))}; valid scenarios are "
                f"{', '.join(SCENARIOS)}"
            )
        return _unique(value, "scenario")

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(seed < 0 for seed in value):
            raise ValueError(f"seeds must not be negative, got {list(value)}")
        return _unique(value, "seed")

    @field_validator("budgets")
    @classmethod
    def _sorted_budgets(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(_unique(value, "budget")))

    @classmethod
    def from_parameters(cls, raw: Any, source: str = GRID_KEY) -> DebuggingGrid:
        """Validate the grid parameter.

        Args:
            raw: The value of the ``debugging_grid`` parameter (a mapping).
            source: Where it comes from, for error messages.

        Raises:
            DebuggingGridError: Naming the key and the bad value.
        """
        try:
            return cls.model_validate(raw if raw is not None else {})
        except ValidationError as error:
            problems = [
                f"  {source}.{'.'.join(str(part) for part in issue['loc']) or '(root)'}: "
                f"{issue['msg'].removeprefix('Value error, ')} (got {issue.get('input')!r})"
                for issue in error.errors()
            ]
            raise DebuggingGridError("Invalid debugging grid:\n" + "\n".join(problems)) from None

    def as_parameters(self) -> dict[str, Any]:
        """The grid as plain values, as written in ``parameters_debugging.yml``."""
        return {
            "data_source": self.data_source,
            "corruptions": list(self.corruptions),
            "scenarios": list(self.scenarios),
            "seeds": list(self.seeds),
            "budgets": list(self.budgets),
        }


def _unique(values: tuple[Any, ...], what: str) -> tuple[Any, ...]:
    repeated = sorted({value for value in values if values.count(value) > 1}, key=str)
    if repeated:
        raise ValueError(f"each {what} may appear once, repeated: {repeated}")
    return values


def load_debugging_grid(
    project_path: Path | str | None = None, key: str = GRID_KEY
) -> DebuggingGrid:
    """The grid in the project's parameters, as ``create_pipeline`` needs it.

    The configuration is read from the project's ``conf/`` with Kedro's config loader and
    the environment of ``KEDRO_ENV`` (``local`` by default, like ``kedro run``), as
    :func:`kedro_scanflow.supervision.supervise_project_pipelines` does.

    Args:
        project_path: The Kedro project; found from the working directory when ``None``.
        key: The top-level parameter that holds the grid.

    Returns:
        The validated grid; the defaults (the paper's full grid) when the key is absent.

    Raises:
        DebuggingGridError: When the grid is invalid; the message names the key.
    """
    from kedro.framework.project import settings  # noqa: PLC0415
    from kedro.utils import find_kedro_project  # noqa: PLC0415

    root = Path(project_path) if project_path else find_kedro_project(Path.cwd()) or Path.cwd()
    loader = settings.CONFIG_LOADER_CLASS(
        str(root / settings.CONF_SOURCE),
        env=os.environ.get("KEDRO_ENV"),
        **settings.CONFIG_LOADER_ARGS,
    )
    parameters = loader["parameters"]
    return DebuggingGrid.from_parameters(parameters.get(key), source=f"parameters: {key}")


def check_run_grid(built: DebuggingGrid, run_parameters: Any) -> None:
    """Fail when the run's ``debugging_grid`` parameter is not the grid the pipeline has.

    Args:
        built: The grid the pipeline was created from.
        run_parameters: The run's ``debugging_grid`` parameter (after ``--env`` and
            ``--params``).

    Raises:
        DebuggingGridError: When they differ, saying which keys and how to change the grid.
    """
    asked = DebuggingGrid.from_parameters(run_parameters, source=f"parameters: {GRID_KEY}")
    if asked == built:
        return
    changed = [
        f"{GRID_KEY}.{name}: the pipeline has {getattr(built, name)!r}, this run asks for "
        f"{getattr(asked, name)!r}"
        for name in DebuggingGrid.model_fields
        if getattr(asked, name) != getattr(built, name)
    ]
    raise DebuggingGridError(
        "The run's parameters ask for another debugging grid than the pipeline was built "
        "for:\n  " + "\n  ".join(changed) + "\nThe grid shapes the pipeline, so it is read "
        "from conf/ when the pipeline is created and --params cannot change it. Set it in "
        "conf/local/parameters_debugging.yml (or in conf/<env>/ and run with KEDRO_ENV=<env>)."
    )
