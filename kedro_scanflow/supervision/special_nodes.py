"""``SpecialNodes``: the checker, improver, planner and tracker nodes of one pipeline.

They are ordinary Kedro nodes, in the supervision namespace and tagged
``scanflow.checker``, ``scanflow.improver``, ``scanflow.planner`` or ``scanflow.tracker``,
so every backend runs them and kedro-viz shows them as a Scanflow graph: the task nodes
of the pipeline, then the special nodes that supervise it. Their persisted outputs (the
drift detector, plots, reports, labelled points) get default catalog entries under
``data/``, which the project's own catalog may override.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kedro.pipeline import Pipeline, node
from kedro.utils import load_obj

from kedro_scanflow.supervision import checker_nodes, improver_nodes, planner_node, report_node
from kedro_scanflow.supervision.node_binding import bind_options

if TYPE_CHECKING:
    from kedro.pipeline.node import Node

    from kedro_scanflow.config.supervision_config import SupervisionOptions

CHECKER, IMPROVER, PLANNER, TRACKER = (
    f"scanflow.{kind}" for kind in ("checker", "improver", "planner", "tracker")
)
SUPERVISION_TAG = "scanflow.supervision"


@dataclass
class SpecialNodes:
    """The special nodes of one supervised pipeline and the datasets they persist."""

    pipeline_name: str
    options: SupervisionOptions
    nodes: list[Node] = field(default_factory=list)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Default catalog entries (dataset name -> config) for persisted outputs."""
    _statuses: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._build()

    @property
    def namespace(self) -> str:
        return self.options.namespace

    def dataset(self, name: str) -> str:
        return f"{self.namespace}.{name}"

    def pipeline(self) -> Pipeline:
        return Pipeline(self.nodes)

    def _add(
        self,
        function: Any,
        inputs: list[str],
        outputs: list[str] | str,
        name: str,
        kind: str,
        **options: Any,
    ) -> None:
        self.nodes.append(
            node(
                bind_options(function, **options) if options else function,
                inputs=inputs,
                outputs=outputs,
                name=name,
                namespace=self.namespace,
                tags=[kind, SUPERVISION_TAG, f"{SUPERVISION_TAG}.{self.pipeline_name}"],
            )
        )

    def _persist(self, name: str, config: dict[str, Any], layer: str) -> None:
        self.datasets[self.dataset(name)] = {**config, "metadata": {"kedro-viz": {"layer": layer}}}

    def _plot(self, name: str) -> None:
        self._persist(
            name,
            {
                "type": "kedro_mlflow.io.artifacts.MlflowArtifactDataset",
                "dataset": {
                    "type": "matplotlib.MatplotlibDataset",
                    "filepath": f"data/08_reporting/{self.namespace}/{name}.png",
                },
                "artifact_path": self.namespace,
            },
            "reporting",
        )

    def _report(self, name: str) -> None:
        self._persist(
            name,
            {
                "type": "kedro_mlflow.io.artifacts.MlflowArtifactDataset",
                "dataset": {
                    "type": "json.JSONDataset",
                    "filepath": f"data/08_reporting/{self.namespace}/{name}.json",
                },
                "artifact_path": self.namespace,
            },
            "reporting",
        )

    def _build(self) -> None:
        for checker in self.options.checkers:
            getattr(self, f"_checker_{checker.kind}")(checker)
        candidates = [
            getattr(self, f"_improver_{improver.kind}")(improver)
            for improver in self.options.improvers
        ]
        candidates = [candidate for candidate in candidates if candidate is not None]
        outcome: list[str] = []
        if self.options.planner is not None and candidates:
            self._add(
                planner_node.plan_promotion,
                candidates,
                [self.dataset("promotion"), self.dataset("improvement_plot")],
                "plan_promotion",
                PLANNER,
                options=self.options.planner,
            )
            self._report("promotion")
            self._plot("improvement_plot")
            outcome.append(self.dataset("promotion"))
        if self.options.report:
            self._tracker_report(self._statuses + candidates + outcome)

    # --- checkers -------------------------------------------------------------------

    def _checker_drift_detector(self, options: Any) -> None:
        inputs, ds = self.options.inputs, self.dataset
        self._add(
            checker_nodes.fit_drift_detector,
            [inputs.reference_data],
            ds("drift_detector"),
            "fit_drift_detector",
            CHECKER,
            options=options,
        )
        self._persist(
            "drift_detector",
            {
                "type": "kedro_scanflow.io.DriftDetectorDataset",
                "path": f"data/06_models/{self.namespace}/drift_detector",
            },
            "models",
        )
        self._add(
            checker_nodes.score_drift,
            [ds("drift_detector"), inputs.new_data],
            ds("drift_scores"),
            "score_drift",
            CHECKER,
        )
        self._add(
            checker_nodes.select_critical_points,
            [ds("drift_scores"), ds("drift_detector"), inputs.new_data],
            [ds("critical_points"), ds("reconstruction_errors_plot"), ds("critical_samples_plot")],
            "select_critical_points",
            CHECKER,
            options=options,
        )
        self._plot("reconstruction_errors_plot")
        self._plot("critical_samples_plot")

    def _checker_random_selector(self, options: Any) -> None:
        self._add(
            checker_nodes.select_random_points,
            [self.options.inputs.new_data],
            self.dataset("critical_points"),
            "select_random_points",
            CHECKER,
            options=options,
        )

    def _checker_symbolic(self, options: Any) -> None:
        self._add(
            checker_nodes.check_rules,
            [self.options.inputs.new_data],
            self.dataset("rule_report"),
            "check_rules",
            CHECKER,
            options=options,
        )
        self._report("rule_report")

    def _checker_human_labeler(self, options: Any) -> None:
        inputs, ds = self.options.inputs, self.dataset
        self._add(
            checker_nodes.request_labels,
            [ds("critical_points"), inputs.new_data, inputs.model],
            [ds("labelled_points"), ds("labeling_status")],
            "request_labels",
            CHECKER,
            options=options,
            namespace=self.namespace,
        )
        self._persist(
            "labelled_points",
            {
                "type": "kedro_scanflow.io.NpzImageDataset",
                "filepath": f"data/05_model_input/{self.namespace}/labelled_points.npz",
            },
            "model_input",
        )
        self._statuses.append(ds("labeling_status"))

    def _checker_human_finder(self, options: Any) -> None:
        inputs, ds = self.options.inputs, self.dataset
        extra = [inputs.clean_counterparts] if inputs.clean_counterparts else []
        self._add(
            checker_nodes.request_matches,
            [
                ds("critical_points"),
                inputs.new_data,
                ds("drift_detector"),
                inputs.reference_data,
                *extra,
            ],
            [ds("denoising_pairs"), ds("matching_status")],
            "request_matches",
            CHECKER,
            options=options,
            namespace=self.namespace,
        )
        self._statuses.append(ds("matching_status"))

    def _checker_custom(self, options: Any) -> None:
        self._add_custom(options, CHECKER)

    # --- improvers ------------------------------------------------------------------

    def _improver_model_trainer(self, options: Any) -> str:
        inputs, candidate = self.options.inputs, self.dataset("model_trainer_candidate")
        self._add(
            improver_nodes.improve_with_model_trainer,
            [inputs.model, inputs.reference_data, self.dataset("labelled_points"), inputs.holdout],
            candidate,
            "improve_with_model_trainer",
            IMPROVER,
            options=options,
        )
        return candidate

    def _improver_model_denoiser_wrapper(self, options: Any) -> str:
        inputs, candidate = self.options.inputs, self.dataset("denoiser_wrapper_candidate")
        self._add(
            improver_nodes.improve_with_denoiser_wrapper,
            [inputs.model, self.dataset("denoising_pairs"), inputs.reference_data, inputs.holdout],
            candidate,
            "improve_with_denoiser_wrapper",
            IMPROVER,
            options=options,
        )
        return candidate

    def _improver_custom(self, options: Any) -> None:
        self._add_custom(options, IMPROVER)

    # --- tracker --------------------------------------------------------------------

    def _tracker_report(self, sources: list[str]) -> None:
        if self._has_selector():
            sources = [*sources, self.dataset("critical_points")]
        if not sources:
            return
        self._add(
            bind_options(report_node.supervision_report, names=sources),
            sources,
            self.dataset("supervision_report"),
            "supervision_report",
            TRACKER,
        )
        self._report("supervision_report")

    def _has_selector(self) -> bool:
        return any(c.kind in ("drift_detector", "random_selector") for c in self.options.checkers)

    def _add_custom(self, options: Any, kind: str) -> None:
        function = load_obj(options.function)
        outputs = options.outputs[0] if len(options.outputs) == 1 else (options.outputs or None)
        self.nodes.append(
            node(
                function,
                inputs=options.inputs or None,
                outputs=outputs,
                name=options.name,
                namespace=self.namespace,
                tags=[kind, SUPERVISION_TAG, f"{SUPERVISION_TAG}.{self.pipeline_name}"],
            )
        )
