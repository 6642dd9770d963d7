"""``DebuggingSettings``: the run-time parameters of a debugging experiment.

Everything but the grid (seeds, corruptions, scenarios, budgets: see
:class:`~kedro_scanflow.debugging.debugging_grid.DebuggingGrid`) lives here: the data
(sizes, where the pool comes from) and the settings of the classifier, the checkers, the
simulated human and the improvers. They are ordinary Kedro parameters (``debugging`` in
``parameters_debugging.yml``), so ``--params debugging.model_trainer.epochs=2`` changes
them for one run. Invalid values fail with the key and the value.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
)

SETTINGS_KEY = "debugging"
"""The top-level parameter that holds the settings (``conf/base/parameters_debugging.yml``)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSettings(_Section):
    """How many images each seed draws (stratified by label) for each role, and where the
    pool comes from (see :mod:`kedro_scanflow.debugging.new_distribution`).

    ``None`` sizes take every image available (``mnist_c`` source only: generated data
    is cut from one set of digits and needs numbers).
    """

    train_size: PositiveInt | None = Field(
        default=2500, description="Clean labelled images the classifier and detector learn."
    )
    pool_size: PositiveInt = Field(
        default=1500,
        description="New (corrupted) images the checkers select from: the largest budget "
        "cannot exceed it.",
    )
    test_size: PositiveInt | None = Field(
        default=1000, description="Held-out images, scored clean and corrupted."
    )
    pool_from: Literal["training", "held_out"] = Field(
        default="training",
        description="training: corrupted copies of training images, as MNIST-C's train "
        "split; held_out: images the classifier never saw.",
    )


class DriftDetectorSettings(_Section):
    """The Drift Detector Checker, fitted once per seed on the training images."""

    epochs: PositiveInt = 20
    batch_size: PositiveInt = 128


class CriticalPointSettings(_Section):
    """The Critical Point Selector (paper, Algorithm 7)."""

    tails: Literal["both", "upper"] = "both"


class HumanSettings(_Section):
    """The simulated human of the Human Labeler and Human Finder checkers."""

    proposals: PositiveInt = Field(
        default=10, description="Clean training images the finder proposes per critical image."
    )
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Share of wrong answers.")


class ModelTrainerSettings(_Section):
    """The Model Trainer Improver (Naive, DDC+HLC, RND+HLC)."""

    epochs: PositiveInt = 1
    batch_size: PositiveInt = 64
    learning_rate: PositiveFloat = 5e-4
    critical_share: float = Field(default=0.3, ge=0.0, lt=1.0)


class ModelDenoiserWrapperSettings(_Section):
    """The Model Denoiser Wrapper Improver (MDWI+HFC)."""

    epochs: PositiveInt = 3
    epoch_size: PositiveInt = 2000
    filters: PositiveInt = 16
    batch_size: PositiveInt = 64
    learning_rate: PositiveFloat = 1e-3
    identity_share: float = Field(default=0.5, ge=0.0, lt=1.0)


class DebuggingSettings(_Section):
    """All run-time parameters of the experiment."""

    data: DataSettings = DataSettings()
    classifier: dict[str, Any] = Field(
        default_factory=dict, description="Passed to the project's classifier training."
    )
    drift_detector: DriftDetectorSettings = DriftDetectorSettings()
    critical_points: CriticalPointSettings = CriticalPointSettings()
    human: HumanSettings = HumanSettings()
    model_trainer: ModelTrainerSettings = ModelTrainerSettings()
    model_denoiser_wrapper: ModelDenoiserWrapperSettings = ModelDenoiserWrapperSettings()

    @classmethod
    def from_parameters(cls, raw: Any, source: str = SETTINGS_KEY) -> DebuggingSettings:
        """Validate the ``debugging`` parameter.

        Raises:
            ValueError: Naming each bad key and its value.
        """
        try:
            return cls.model_validate(raw if raw is not None else {})
        except ValidationError as error:
            problems = [
                f"  {source}.{'.'.join(str(part) for part in issue['loc'])}: "
                f"{issue['msg'].removeprefix('Value error, ')} (got {issue.get('input')!r})"
                for issue in error.errors()
            ]
            raise ValueError("Invalid debugging settings:\n" + "\n".join(problems)) from None
