"""Names and labels of what the Kubernetes backend creates, so that everything can be found.

Objects that belong to the *project* (the ServiceAccount and its Role, the shared-volume
claim, the tracker and its claim) are created when missing and outlive runs. Objects
that belong to a *run* (its Jobs and their pods, the seed Job) carry the run id and are
deleted when the run ends, unless ``--keep``. Cleanup selects by label, never by name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from kedro_scanflow.pipeline.task_plan import slugify

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_PROJECT = "scanflow.io/project"
LABEL_PROJECT_PATH = "scanflow.io/project-path"
LABEL_RUN_ID = "scanflow.io/run-id"
LABEL_TASK = "scanflow.io/task"
LABEL_KEEP = "scanflow.io/keep"
ANNOTATION_TASK = "scanflow.io/task-name"
ANNOTATION_NODES = "scanflow.io/nodes"
ANNOTATION_DEPENDS_ON = "scanflow.io/depends-on"
MANAGER = "kedro-scanflow"
COMPONENT_TASK = "task"
COMPONENT_TRACKER = "tracker"
COMPONENT_SEED = "seed"
COMPONENT_WORKFLOW = "workflow"
TRACKER_PORT = 5000
_NAME_LENGTH = 63


@dataclass(frozen=True)
class ClusterNames:
    """Object names and labels of one project, and of one run of it, in a namespace."""

    package_name: str
    project_path: Path
    run_id: str
    namespace_override: str | None = None

    @property
    def project_slug(self) -> str:
        return slugify(self.package_name, 40)

    @property
    def project_key(self) -> str:
        """Identifies the project folder, so two checkouts of a project never clash."""
        return hashlib.sha1(str(self.project_path.resolve()).encode()).hexdigest()[:12]

    @property
    def namespace(self) -> str:
        return self.namespace_override or f"scanflow-{self.project_slug}"

    def project_labels(self, component: str | None = None) -> dict[str, str]:
        """Labels of every object of the project."""
        labels = {
            LABEL_MANAGED_BY: MANAGER,
            LABEL_PART_OF: self.project_slug,
            LABEL_PROJECT: self.project_slug,
            LABEL_PROJECT_PATH: self.project_key,
        }
        if component is not None:
            labels[LABEL_COMPONENT] = component
        return labels

    def project_selector(self) -> dict[str, str]:
        """The labels that select every object of this project folder's runs."""
        return {LABEL_PROJECT: self.project_slug, LABEL_PROJECT_PATH: self.project_key}

    def run_selector(self) -> dict[str, str]:
        """The labels that select every object of this run."""
        return {LABEL_PROJECT: self.project_slug, LABEL_RUN_ID: self.run_id}

    def run_labels(
        self, component: str, task: str | None = None, keep: bool = False
    ) -> dict[str, str]:
        """Labels of an object of this run."""
        labels = {**self.project_labels(component), LABEL_RUN_ID: self.run_id}
        if task is not None:
            labels[LABEL_TASK] = task
        if keep:
            labels[LABEL_KEEP] = "true"
        return labels

    @staticmethod
    def selector_text(labels: dict[str, str]) -> str:
        """``labels`` as a label selector (``a=b,c=d``)."""
        return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))

    def job(self, task_slug: str, suffix: str | None = None) -> str:
        """The Job of a task; the backend adds a ``suffix`` per launch, so that a resumed
        task never meets the Job of its earlier attempt."""
        return _name(f"scanflow-{self.run_id}-{task_slug}" + (f"-{suffix}" if suffix else ""))

    def seed_job(self, suffix: str | None = None) -> str:
        return _name(f"scanflow-{self.run_id}-seed" + (f"-{suffix}" if suffix else ""))

    def workflow_job(self, action: str) -> str:
        """``workflow-start`` / ``workflow-finish`` of an exported run."""
        return _name(f"scanflow-{self.run_id}-workflow-{action}")

    @property
    def role(self) -> str:
        return _name(f"scanflow-{self.project_slug}-runner")

    @property
    def data_claim(self) -> str:
        return _name(f"scanflow-{self.project_slug}-data")

    @property
    def tracker(self) -> str:
        """The tracker's Deployment and Service (tasks reach ``http://<this>:5000``)."""
        return _name(f"scanflow-{self.project_slug}-tracker")

    @property
    def tracker_claim(self) -> str:
        return _name(f"scanflow-{self.project_slug}-tracker-store")


def _name(text: str) -> str:
    return slugify(text, _NAME_LENGTH)
