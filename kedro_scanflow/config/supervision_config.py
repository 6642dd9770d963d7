"""The ``supervision`` section of ``scanflow.yml``: which special nodes wrap which pipeline.

Scanflow's special nodes watch a deployed model: *checkers* find the observations that
hurt it (the drift detector and its critical point selector, rules, a human who labels
or matches them), *improvers* make a better model from what the checkers found, the
*planner* promotes it when it is better, and the *tracker* node reports what happened.
Each entry of ``supervision`` names a pipeline (usually the inference pipeline) and the
datasets the special nodes read::

    supervision:
      inference:
        inputs:
          new_data: new_digits           # what the deployed model sees
          reference_data: train_digits   # the original distribution
          model: champion_classifier     # the deployed model
          holdout: holdout_digits        # labelled data of the new distribution
        checkers:
          - kind: drift_detector
            n_critical: 100
          - kind: human_labeler
            oracle: false
        improvers:
          - kind: model_trainer
        planner:
          model_name: scanflow-mnist-classifier
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

_DOTTED = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SupervisionInputs(_Section):
    """Catalog datasets the special nodes read."""

    new_data: str = Field(description="Images the deployed model sees (an ImageSet).")
    reference_data: str = Field(description="The original distribution (a labelled ImageSet).")
    model: str = Field(description="The deployed Keras classifier.")
    holdout: str | None = Field(
        default=None,
        description="Labelled data of the new distribution, on which improvers must beat "
        "the deployed model. Required by improvers.",
    )
    clean_counterparts: str | None = Field(
        default=None,
        description="Clean versions of new_data, in the same order: only for the "
        "simulated oracle of the human finder (experiments, demos).",
    )


class DriftDetectorOptions(_Section):
    """The paper's Drift Detector Checker and Critical Point Selector."""

    kind: Literal["drift_detector"]
    n_critical: PositiveInt = Field(default=100, description="Critical points to select.")
    epochs: PositiveInt = 20
    tails: Literal["both", "upper"] = "both"
    seed: int = 42
    model_uri: str | None = Field(
        default=None,
        description="Load a detector logged before (e.g. 'models:/mnist-drift-detector/1') "
        "instead of fitting one on reference_data.",
    )
    register_as: str | None = Field(
        default=None,
        description="Log the fitted detector to MLflow and register it under this name, "
        "so later runs (and inference containers) reuse it with model_uri.",
    )

    @model_validator(mode="after")
    def _fit_or_load(self) -> DriftDetectorOptions:
        if self.model_uri and self.register_as:
            raise ValueError(
                "model_uri loads a detector and register_as registers a new one: choose one"
            )
        return self


class RandomSelectorOptions(_Section):
    """Random choice of the points to label (the paper's RND baseline)."""

    kind: Literal["random_selector"]
    n_critical: PositiveInt = 100
    seed: int = 42


class SymbolicCheckerOptions(_Section):
    """Declarative rules that tag observations (see ``kedro_scanflow.checkers.SymbolicChecker``)."""

    kind: Literal["symbolic"]
    rules: list[dict[str, Any]] = Field(min_length=1)


class HumanLabelerOptions(_Section):
    """A human labels the critical points (least human effort)."""

    kind: Literal["human_labeler"]
    oracle: bool = Field(
        default=False,
        description="Answer from the new data's own labels (a simulated oracle, for "
        "experiments and tests); a real human labels with `kedro scanflow label`.",
    )
    error_rate: NonNegativeFloat = Field(default=0.0, le=1.0, description="Oracle mistakes.")
    store: str = Field(default="data/scanflow/labels", description="Label store folder.")


class HumanFinderOptions(_Section):
    """A human picks, for each critical point, the most similar clean training sample
    among its nearest neighbours in the drift detector's latent space."""

    kind: Literal["human_finder"]
    proposals: PositiveInt = Field(default=5, description="Neighbours shown per sample.")
    oracle: bool = False
    store: str = "data/scanflow/labels"


class CustomNodeOptions(_Section):
    """A user function, by dotted path, added as a special node."""

    kind: Literal["custom"]
    name: str = Field(pattern=r"^[A-Za-z_][\w]*$")
    function: str = Field(description="Dotted path, e.g. my_project.checks.too_dark.")
    inputs: list[str] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)

    @field_validator("function")
    @classmethod
    def _dotted(cls, value: str) -> str:
        if not _DOTTED.match(value):
            raise ValueError(f"{value!r} is not a dotted path such as 'package.module.function'")
        return value


Checker = Annotated[
    DriftDetectorOptions
    | RandomSelectorOptions
    | SymbolicCheckerOptions
    | HumanLabelerOptions
    | HumanFinderOptions
    | CustomNodeOptions,
    Field(discriminator="kind"),
]


class ModelTrainerOptions(_Section):
    """Retrain on the training data plus the labelled critical points; keep if better."""

    kind: Literal["model_trainer"]
    epochs: PositiveInt = 3
    learning_rate: float = Field(default=5e-4, gt=0)
    critical_share: float = Field(
        default=0.3,
        gt=0,
        lt=1,
        description="Share of each training batch drawn from the labelled points.",
    )
    seed: int = 42


class DenoiserWrapperOptions(_Section):
    """A denoising autoencoder from (clean, corrupted) pairs, wrapped before the model."""

    kind: Literal["model_denoiser_wrapper"]
    epochs: PositiveInt = 10
    seed: int = 42


Improver = Annotated[
    ModelTrainerOptions | DenoiserWrapperOptions | CustomNodeOptions, Field(discriminator="kind")
]


class PlannerOptions(_Section):
    """Registers the best accepted candidate and moves the alias to it."""

    model_name: str
    alias: str = "champion"


class SupervisionOptions(_Section):
    """The special nodes that wrap one pipeline."""

    namespace: str = Field(default="supervision", pattern=r"^[A-Za-z_][\w]*$")
    inputs: SupervisionInputs
    checkers: list[Checker] = Field(default_factory=list)
    improvers: list[Improver] = Field(default_factory=list)
    planner: PlannerOptions | None = None
    report: bool = Field(default=True, description="Add the tracker node's report.")

    @model_validator(mode="after")
    def _consistent(self) -> SupervisionOptions:
        kinds = [checker.kind for checker in self.checkers]
        selectors = {"drift_detector", "random_selector"} & set(kinds)
        if len(selectors) > 1:
            raise ValueError("choose one of drift_detector and random_selector, not both")
        for kind in ("drift_detector", "random_selector", "human_labeler", "human_finder"):
            if kinds.count(kind) > 1:
                raise ValueError(f"checker {kind!r} is listed twice")
        if {"human_labeler", "human_finder"} & set(kinds) and not selectors:
            raise ValueError(
                "human_labeler and human_finder need a drift_detector or random_selector checker"
            )
        if "human_finder" in kinds and "drift_detector" not in kinds:
            raise ValueError(
                "human_finder proposes neighbours in the drift_detector's latent space; add a drift_detector checker"
            )
        for improver in self.improvers:
            if improver.kind == "model_trainer" and "human_labeler" not in kinds:
                raise ValueError("the model_trainer improver needs a human_labeler checker")
            if improver.kind == "model_denoiser_wrapper" and "human_finder" not in kinds:
                raise ValueError("the model_denoiser_wrapper improver needs a human_finder checker")
            if improver.kind != "custom" and self.inputs.holdout is None:
                raise ValueError(f"the {improver.kind} improver needs inputs.holdout")
        if self.planner is not None and not any(i.kind != "custom" for i in self.improvers):
            raise ValueError("the planner needs at least one built-in improver")
        return self
