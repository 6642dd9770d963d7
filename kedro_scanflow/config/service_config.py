"""``serve``, ``labeling`` and ``agent`` sections of ``scanflow.yml``: the long-running parts.

``kedro scanflow serve`` answers predictions with the champion and records them;
``kedro scanflow agent`` watches the records and runs the supervision loop (the agent
paper's Algorithm 1); ``kedro scanflow label`` is the page where a human answers. Servers
bind to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServeOptions(_Section):
    """``kedro scanflow serve``: the champion model over HTTP."""

    model_name: str | None = Field(
        default=None,
        description="Registered model to serve; default: the planner's model_name.",
    )
    alias: str = "champion"
    host: str = "127.0.0.1"
    port: PositiveInt = 8000
    store: str = Field(default="data/scanflow/predictions.db", description="Prediction store.")
    max_images: PositiveInt = Field(default=256, description="Most images in one request.")
    max_body_bytes: PositiveInt = Field(
        default=4 * 1024 * 1024, description="Largest request body."
    )
    poll_seconds: PositiveFloat = Field(default=5.0, description="How often the alias is checked.")


class LabelingOptions(_Section):
    """``kedro scanflow label``: the labeling page."""

    host: str = "127.0.0.1"
    port: PositiveInt = 8777
    store: str = Field(default="data/scanflow/labels", description="Label store folder.")


class AgentOptions(_Section):
    """``kedro scanflow agent``: the supervision loop on recorded predictions."""

    pipeline: str | None = Field(
        default=None,
        description="Supervised pipeline whose special nodes the agent runs; default: the "
        "only one in the supervision section.",
    )
    min_new_predictions: PositiveInt = Field(
        default=200, description="N: new recorded predictions that start a cycle."
    )
    min_critical: PositiveInt = Field(
        default=20, description="M: fewer critical points than this end the cycle unlabelled."
    )
    poll_seconds: NonNegativeFloat = Field(default=10.0, description="Pause between checks.")
    backend: str | None = Field(default=None, description="Backend of the agent's runs.")
    max_attempts: PositiveInt = Field(
        default=3, description="Failed attempts of a step before its cycle is abandoned."
    )
    directory: str = Field(
        default="data/scanflow/agent", description="The agent's state and batches."
    )
