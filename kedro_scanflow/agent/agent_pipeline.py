"""``AgentPipeline``: the special nodes of a supervised pipeline, as the agent runs them.

The agent (``kedro scanflow agent``) does not run the inference pipeline: the served
model already made the predictions. It runs the pipeline's special nodes on the images
the server recorded, in two Kedro runs per cycle (the agent paper's Algorithm 1):

* the **check** step: the checkers up to the critical points (drift detector, critical
  point selector);
* the **improve** step: the human (or the oracle) answers, the improvers build
  candidates, the planner promotes the better one, the tracker node reports.

So that the two runs share data, and so that they never touch the datasets of the
supervised pipeline itself, the special nodes are copied into the ``agent`` namespace
(``agent.supervision.critical_points``...). Their datasets live in the agent's cycle
folder (``<agent.directory>/cycle``): the recorded batch (``agent.new_data``), the
intermediates passed from the check step to the improve step, the plots and reports.
The model, reference data and holdout stay the project's own datasets.

The pipeline is registered as ``<pipeline>.agent`` (``inference.agent``), so ``kedro
viz`` shows it and ``kedro scanflow run -p inference.agent`` can run it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from kedro.pipeline import Pipeline, pipeline

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro_scanflow.supervision.special_nodes import SpecialNodes

AGENT_NAMESPACE = "agent"
BATCH_DATASET = f"{AGENT_NAMESPACE}.new_data"
"""The predictions of one cycle, as an ``ImageSet`` (with labels when every client sent
one: demos and tests, for the simulated oracle)."""


def agent_pipeline_name(pipeline_name: str) -> str:
    """The registry name of the agent pipeline of ``pipeline_name``."""
    return f"{pipeline_name}.{AGENT_NAMESPACE}"


class AgentPipelineError(ValueError):
    """The supervision of a pipeline cannot be run by the agent."""


@dataclass(frozen=True)
class AgentPipeline:
    """The agent's copy of the special nodes of one supervised pipeline."""

    special: SpecialNodes
    cycle_folder: str
    """Folder of the current cycle's data, relative to the project (as catalog paths are)."""

    @property
    def name(self) -> str:
        return agent_pipeline_name(self.special.pipeline_name)

    @property
    def supported(self) -> bool:
        """Whether the special nodes pick critical points, which the cycle is built on,
        and have a planner, which ends it."""
        picks = self.special.dataset("critical_points") in _outputs(self.special.pipeline())
        return picks and self.special.options.planner is not None

    def dataset(self, name: str) -> str:
        """The agent's name of special dataset ``name`` (``critical_points``...)."""
        return f"{AGENT_NAMESPACE}.{self.special.dataset(name)}"

    def pipeline(self) -> Pipeline:
        """The special nodes in the ``agent`` namespace, reading the recorded batch.

        Raises:
            AgentPipelineError: When no checker selects critical points.
        """
        if not self.supported:
            raise AgentPipelineError(
                f"scanflow.yml: supervision.{self.special.pipeline_name} needs a drift_detector "
                "or random_selector checker (the critical points a cycle acts on) and a planner "
                "(which promotes the better model) to be run by the agent."
            )
        special = self.special.pipeline()
        new_data = self.special.options.inputs.new_data
        shared = {
            name: name
            for name in special.inputs()
            if name != new_data and not name.startswith("params:")
        }
        parameters = {name for name in special.inputs() if name.startswith("params:")}
        return pipeline(
            special,
            namespace=AGENT_NAMESPACE,
            inputs={**shared, new_data: BATCH_DATASET},
            parameters=parameters or None,
        )

    def check_nodes(self) -> list[str]:
        """Nodes of the check step: everything the critical points depend on."""
        agent = self.pipeline()
        return sorted(node.name for node in agent.to_outputs(self.dataset("critical_points")).nodes)

    def improve_nodes(self) -> list[str]:
        """Nodes of the improve step: the rest (human, improvers, planner, report)."""
        check = set(self.check_nodes())
        return sorted(node.name for node in self.pipeline().nodes if node.name not in check)

    def datasets(self) -> dict[str, dict[str, Any]]:
        """Catalog entries of every dataset the agent pipeline makes, in the cycle folder.

        The special nodes' own persisted outputs (detector, plots, reports) keep their
        type with the path moved into the cycle folder; in-memory intermediates become
        files too, because the check and improve steps are separate runs.
        """
        entries: dict[str, dict[str, Any]] = {
            BATCH_DATASET: {
                "type": "kedro_scanflow.io.NpzImageDataset",
                "filepath": self.batch_path(),
                "metadata": {"kedro-viz": {"layer": "model_input"}},
            }
        }
        for name in sorted(_outputs(self.pipeline())):
            special_name = name.removeprefix(f"{AGENT_NAMESPACE}.")
            default = self.special.datasets.get(special_name)
            if default is not None:
                entries[name] = _moved(default, self.cycle_folder)
            else:
                entries[name] = {
                    "type": "kedro_scanflow.io.SharedVolumeDataset",
                    "filepath": f"{self.cycle_folder}/intermediate/{special_name}.pickle",
                }
        return entries

    def batch_path(self) -> str:
        """Where the agent writes the cycle's batch, relative to the project."""
        return f"{self.cycle_folder}/new_data.npz"


def _outputs(pipeline_: Pipeline) -> set[str]:
    return {name for node in pipeline_.nodes for name in node.outputs}


def _moved(config: dict[str, Any], folder: str) -> dict[str, Any]:
    """``config`` with every ``filepath``/``path`` (nested ones too) moved under ``folder``,
    keeping the path below the top-level ``data/`` layer folder."""
    moved: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            moved[key] = _moved(value, folder)
        elif key in ("filepath", "path") and isinstance(value, str):
            parts = PurePosixPath(value).parts
            below = parts[1:] if len(parts) > 1 and parts[0] == "data" else parts
            moved[key] = str(PurePosixPath(folder, *below))
        else:
            moved[key] = value
    return moved


def agent_pipelines_of(
    specials: Mapping[str, SpecialNodes], agent_directory: str
) -> dict[str, AgentPipeline]:
    """The agent pipelines of the supervised pipelines the agent can run, by name."""
    folder = f"{agent_directory.rstrip('/')}/cycle"
    agents = {name: AgentPipeline(special, folder) for name, special in specials.items()}
    return {agent.name: agent for agent in agents.values() if agent.supported}


def loadable_pipeline_names(names: list[str] | None) -> list[str] | None:
    """``names`` with every agent pipeline replaced by the pipeline it supervises.

    Kedro loads only the requested pipelines' modules (``find_pipelines``), and an agent
    pipeline has no module of its own: it is added to the registry by kedro-scanflow
    from ``scanflow.yml``. Loading its supervised pipeline instead keeps
    ``find_pipelines(raise_errors=True)`` from failing on the name.
    """
    if names is None:
        return None
    suffix = f".{AGENT_NAMESPACE}"
    loadable = [name.removesuffix(suffix) if name.endswith(suffix) else name for name in names]
    return list(dict.fromkeys(loadable))
