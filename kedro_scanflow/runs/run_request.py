"""``RunRequest``: what the user asked ``kedro scanflow run`` to do.

It is saved in the run directory so that ``--resume`` repeats exactly the same run
(pipelines, selectors, environment and parameters), whatever the new command line says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from kedro.pipeline import Pipeline


def is_local_conf_source(conf_source: str | None) -> bool:
    """Whether ``--conf-source`` names something on this machine (not a remote URL)."""
    return conf_source is not None and "://" not in conf_source


class RunRequest(BaseModel):
    """The pipelines, node selectors and session settings of one workflow run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pipelines: list[str] = Field(default_factory=lambda: ["__default__"])
    node_names: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    namespaces: list[str] = Field(default_factory=list)
    from_nodes: list[str] = Field(default_factory=list)
    to_nodes: list[str] = Field(default_factory=list)
    from_inputs: list[str] = Field(default_factory=list)
    to_outputs: list[str] = Field(default_factory=list)
    load_versions: dict[str, str] = Field(default_factory=dict)
    env: str | None = None
    conf_source: str | None = None
    runtime_params: dict[str, Any] = Field(default_factory=dict)
    backend: str | None = None
    max_workers: int | None = Field(default=None, gt=0)
    keep: bool = False

    def select(self, pipeline: Pipeline) -> Pipeline:
        """Apply the node selectors to ``pipeline``, as ``kedro run`` does."""
        return pipeline.filter(
            tags=self.tags or None,
            from_nodes=self.from_nodes or None,
            to_nodes=self.to_nodes or None,
            node_names=self.node_names or None,
            from_inputs=self.from_inputs or None,
            to_outputs=self.to_outputs or None,
            node_namespaces=self.namespaces or None,
        )

    def describe(self) -> dict[str, str]:
        """The request as flat strings, for MLflow tags and summaries."""
        fields = self.model_dump(exclude={"runtime_params", "load_versions"})
        return {
            key: ",".join(value) if isinstance(value, list) else str(value)
            for key, value in fields.items()
            if value not in (None, [], {})
        }
