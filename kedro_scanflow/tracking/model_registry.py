"""``ModelRegistry``: registered models, their quality, and the ``champion`` alias.

MLflow 3 deprecates model stages; a served model is addressed by an alias
(``models:/<name>@champion``). Moving the alias is a promotion. The registry keeps the
list of past champions in a registered-model tag, so a promotion can always be undone
(``rollback``) and nothing about earlier versions is lost.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mlflow.entities.model_registry import ModelVersion

logger = logging.getLogger(__name__)

CHAMPION = "champion"
TAG_HISTORY = "scanflow.champion_history"
TAG_METRIC_PREFIX = "metric."


@dataclass(frozen=True)
class Promotion:
    """The outcome of a promotion decision."""

    model_name: str
    version: str
    promoted: bool
    previous_version: str | None
    metric: str | None
    score: float | None
    previous_score: float | None
    reason: str

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class ModelRegistry:
    """Registers model versions and moves the champion alias between them."""

    def __init__(self, client: MlflowClient | None = None):
        """Use ``client``, or one for the current tracking/registry URI."""
        self.client = client or MlflowClient()

    def register(
        self,
        model_uri: str,
        name: str,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        """Register ``model_uri`` as a new version of ``name`` with its quality and
        ``tags`` as version tags, set in the same call that creates the version."""
        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name)
        version_tags = {f"{TAG_METRIC_PREFIX}{k}": str(v) for k, v in (metrics or {}).items()}
        version_tags.update(tags or {})
        source, source_run, model_id = self._source_of(model_uri)
        return self.client.create_model_version(
            name, source, run_id=source_run, tags=version_tags, model_id=model_id
        )

    def _source_of(self, model_uri: str) -> tuple[str, str | None, str | None]:
        """``(source, run id, logged model id)`` of a model URI, as a tracking server
        wants them: an MLflow 3 logged model (``models:/m-...``) is registered from its
        artifact location, naming the model and the run that logged it."""
        if model_uri.startswith("models:/m-"):
            model_id = model_uri.removeprefix("models:/")
            logged = self.client.get_logged_model(model_id)
            return logged.artifact_location, logged.source_run_id, model_id
        if model_uri.startswith("runs:/"):
            return model_uri, model_uri.split("/")[1], None
        return model_uri, None, None

    def version_tagged(self, name: str, key: str, value: str) -> ModelVersion | None:
        """The newest version of ``name`` whose tag ``key`` is ``value``, or ``None``: how
        a repeated step finds the version it registered before it was interrupted."""
        try:
            versions = self.client.search_model_versions(f"name = '{name}'")
        except MlflowException:
            return None
        tagged = [v for v in versions if v.tags.get(key) == value]
        return max(tagged, key=lambda v: int(v.version)) if tagged else None

    def version_by_alias(self, name: str, alias: str = CHAMPION) -> ModelVersion | None:
        """The version that ``alias`` points to, or ``None``."""
        try:
            return self.client.get_model_version_by_alias(name, alias)
        except MlflowException:
            return None

    def score(self, name: str, version: str, metric: str) -> float | None:
        """The quality recorded on a version, or ``None`` when it has none."""
        tags = self.client.get_model_version(name, version).tags
        value = tags.get(f"{TAG_METRIC_PREFIX}{metric}")
        return float(value) if value is not None else None

    def history(self, name: str) -> list[str]:
        """Versions that have been champion, oldest first."""
        tags = self.client.get_registered_model(name).tags
        return list(json.loads(tags.get(TAG_HISTORY, "[]")))

    def promote(self, name: str, version: str, alias: str = CHAMPION) -> str | None:
        """Point ``alias`` at ``version``; return the version it pointed to before."""
        previous = self.version_by_alias(name, alias)
        self.client.set_registered_model_alias(name, alias, version)
        history = self.history(name)
        if not history or history[-1] != str(version):
            history.append(str(version))
            self.client.set_registered_model_tag(name, TAG_HISTORY, json.dumps(history))
        return str(previous.version) if previous else None

    def rollback(
        self, name: str, alias: str = CHAMPION, to_version: str | None = None
    ) -> tuple[str, str]:
        """Move ``alias`` back to the previous champion (or to ``to_version``).

        Returns:
            ``(from_version, to_version)``.

        Raises:
            ValueError: When there is no champion, no earlier champion, or ``to_version``
                does not exist.
        """
        current = self.version_by_alias(name, alias)
        if current is None:
            raise ValueError(f"Model {name!r} has no @{alias} to roll back.")
        if to_version is None:
            earlier = [v for v in self.history(name) if v != str(current.version)]
            if not earlier:
                raise ValueError(
                    f"Model {name!r} has had no champion before version {current.version}."
                )
            to_version = earlier[-1]
        try:
            self.client.get_model_version(name, str(to_version))
        except MlflowException:
            raise ValueError(f"Model {name!r} has no version {to_version}.") from None
        self.client.set_registered_model_alias(name, alias, str(to_version))
        history = self.history(name)
        history.append(str(to_version))
        self.client.set_registered_model_tag(name, TAG_HISTORY, json.dumps(history))
        return str(current.version), str(to_version)

    def promote_if_better(
        self, name: str, version: str, metric: str, alias: str = CHAMPION
    ) -> Promotion:
        """Promote ``version`` only when it scores strictly better than the champion
        on ``metric`` (or when there is no champion yet)."""
        current = self.version_by_alias(name, alias)
        score = self.score(name, version, metric)
        if current is None:
            self.promote(name, version, alias)
            return Promotion(name, str(version), True, None, metric, score, None, "no champion yet")
        previous_score = self.score(name, str(current.version), metric)
        if score is not None and (previous_score is None or score > previous_score):
            self.promote(name, version, alias)
            reason = f"{metric} {score:.4f} > {previous_score}"
            return Promotion(
                name,
                str(version),
                True,
                str(current.version),
                metric,
                score,
                previous_score,
                reason,
            )
        reason = f"{metric} {score} is not better than the champion's {previous_score}"
        return Promotion(
            name, str(version), False, str(current.version), metric, score, previous_score, reason
        )
