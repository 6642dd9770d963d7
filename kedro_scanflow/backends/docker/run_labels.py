"""Names and labels of what a Docker run creates, so that everything can be found again.

Every container, network and volume carries the project it belongs to and, except the
tracker volume (which outlives runs), the run that created it; cleanup, leftover removal
and ``kedro scanflow clean`` select by these labels, never by name patterns.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from kedro_scanflow.pipeline.task_plan import slugify

LABEL_PROJECT = "scanflow.project"
LABEL_PROJECT_PATH = "scanflow.project_path"
LABEL_RUN_ID = "scanflow.run_id"
LABEL_TASK = "scanflow.task"
LABEL_ROLE = "scanflow.role"
LABEL_KEEP = "scanflow.keep"
LABEL_DEPLOYMENT = "scanflow.deployment"
"""On the long-running services of ``kedro scanflow deploy``: never a leftover of a run."""
LABEL_SHARED_TRACKER = "scanflow.shared_tracker"
"""On the tracker that ``kedro scanflow tracker`` serves: Docker runs of the project log to
it, while it serves, instead of starting a tracker of their own."""
ROLE_TASK = "task"
ROLE_TRACKER = "tracker"
TRACKER_ALIAS = "tracker"
TRACKER_PORT = 5000


@dataclass(frozen=True)
class RunLabels:
    """The labels and names of one Docker run of one project."""

    package_name: str
    project_path: Path
    run_id: str

    @property
    def project_slug(self) -> str:
        return slugify(self.package_name)

    @property
    def project_key(self) -> str:
        """Identifies the project folder, so two checkouts of a project never clash."""
        return hashlib.sha1(str(self.project_path.resolve()).encode()).hexdigest()[:12]

    def project_selector(self) -> dict[str, str]:
        return {LABEL_PROJECT: self.package_name, LABEL_PROJECT_PATH: self.project_key}

    def project_filter(self, *extra: str) -> list[str]:
        """A Docker ``label`` filter for the project's objects, narrowed by ``extra``
        (``"key=value"`` terms)."""
        return [f"{key}={value}" for key, value in self.project_selector().items()] + list(extra)

    def labels(self, role: str, task: str | None = None, keep: bool = False) -> dict[str, str]:
        labels = {**self.project_selector(), LABEL_RUN_ID: self.run_id, LABEL_ROLE: role}
        if task is not None:
            labels[LABEL_TASK] = task
        if keep:
            labels[LABEL_KEEP] = "true"
        return labels

    @property
    def network(self) -> str:
        return f"scanflow-{self.project_slug}-{self.run_id}"

    def container(self, name: str) -> str:
        return f"scanflow-{self.project_slug}-{self.run_id}-{name}"

    @property
    def tracker_volume(self) -> str:
        return f"scanflow-{self.project_slug}-tracker"
