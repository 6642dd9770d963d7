"""Option models of the Kubernetes backend that do not depend on the rest of the schema.

``backends.kubernetes`` in ``scanflow.yml`` (``KubernetesBackendOptions`` in
``scanflow_config.py``) is made of these parts: the shared volume (a
PersistentVolumeClaim), the tracker (an MLflow server in the namespace, or an external
URI), Secrets exposed to the tasks as environment variables, and tolerations. Secrets
are always referenced *by name*: no credential value ever appears in ``scanflow.yml``,
in a manifest or in a log.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    ValidationError,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kedro_scanflow.config.scanflow_config import KubernetesBackendOptions, NodeSettings

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_QUANTITY = re.compile(r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")


def dns_label(value: str) -> str:
    """Check a Kubernetes object name that must be a DNS-1123 label (namespaces).

    Raises:
        ValueError: When ``value`` is not lowercase letters, digits and ``-``, or is
            longer than 63 characters.
    """
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid Kubernetes name: at most 63 lowercase letters, "
            "digits and '-', starting and ending with a letter or digit"
        )
    return value


def dns_subdomain(value: str) -> str:
    """Check a Kubernetes object name that must be a DNS-1123 subdomain (Secrets, claims).

    Raises:
        ValueError: For anything else.
    """
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise ValueError(
            f"{value!r} is not a valid Kubernetes object name: lowercase letters, digits, "
            "'-' and '.', starting and ending with a letter or digit"
        )
    return value


def storage_quantity(value: str) -> str:
    """Check a storage size as Kubernetes writes it (``10Gi``, ``500Mi``).

    Raises:
        ValueError: For anything else, or a size of zero.
    """
    if not _QUANTITY.match(value) or float(re.sub(r"[A-Za-z]+$", "", value)) <= 0:
        raise ValueError(f"{value!r} is not a positive storage size such as '10Gi' or '500Mi'")
    return value


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Toleration(_Options):
    """A pod toleration (`kubectl explain pod.spec.tolerations`), e.g. to run on GPU
    nodes tainted ``nvidia.com/gpu=present:NoSchedule``."""

    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: NonNegativeInt | None = None


class KubernetesStorageOptions(_Options):
    """The shared volume of the workflow: a PersistentVolumeClaim every task pod mounts
    as the project's ``data/`` folder (catalog files and run directories)."""

    claim: str | None = Field(
        default=None,
        description="Name of the claim; default: scanflow-<project>-data. Created when "
        "missing, never deleted by a run.",
    )
    storage_class: str | None = Field(
        default=None, description="StorageClass of a new claim; default: the cluster's default."
    )
    size: str = Field(default="10Gi", description="Requested size of a new claim.")
    access_modes: list[Literal["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"]] = Field(
        default_factory=lambda: ["ReadWriteOnce"],
        description="ReadWriteMany when task pods may run on several cluster nodes at once.",
    )
    seed: list[str] = Field(
        default_factory=list,
        description="Folders under data/ baked into the image (backends.docker.include) "
        "that a seed Job copies onto the claim when they are not there yet.",
    )

    @field_validator("claim", "storage_class")
    @classmethod
    def _valid_name(cls, value: str | None) -> str | None:
        return dns_subdomain(value) if value is not None else None

    @field_validator("size")
    @classmethod
    def _valid_size(cls, value: str) -> str:
        return storage_quantity(value)

    @field_validator("seed")
    @classmethod
    def _under_data(cls, value: list[str]) -> list[str]:
        for path in value:
            parts = path.strip("/").split("/")
            if parts[0] != "data" or len(parts) < 2 or ".." in parts:
                raise ValueError(f"{path!r} is not a folder under data/, e.g. 'data/01_raw'")
        return value


class KubernetesTrackerOptions(_Options):
    """The tracker of a Kubernetes run: an MLflow server Deployment and Service in the
    namespace (its store on its own claim), or an external MLflow server."""

    uri: str | None = Field(
        default=None,
        description="External MLflow tracking URI (http or https) reachable from the "
        "cluster and from this machine; no server is deployed then.",
    )
    storage_class: str | None = None
    size: str = Field(default="5Gi", description="Size of the tracker's store claim.")
    startup_timeout: PositiveFloat = Field(
        default=300.0, description="Seconds to wait for the tracker pod to become ready."
    )

    @field_validator("uri")
    @classmethod
    def _server_uri(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(
                f"{value!r} is not an MLflow server URL: pods cannot reach a database or "
                "file store of this machine; use http(s)://... or leave it unset to run a "
                "tracker in the namespace"
            )
        return value

    @field_validator("storage_class")
    @classmethod
    def _valid_name(cls, value: str | None) -> str | None:
        return dns_subdomain(value) if value is not None else None

    @field_validator("size")
    @classmethod
    def _valid_size(cls, value: str) -> str:
        return storage_quantity(value)


class SecretEnvOptions(_Options):
    """Environment variables of every task pod taken from a Secret, by reference.

    With ``keys``, each variable comes from one key (``secretKeyRef``); without, every key
    of the Secret becomes a variable (``envFrom``).
    """

    secret: str = Field(description="Name of the Secret in the namespace.")
    keys: dict[str, str] = Field(
        default_factory=dict, description="Environment variable -> key in the Secret."
    )

    @field_validator("secret")
    @classmethod
    def _valid_secret(cls, value: str) -> str:
        return dns_subdomain(value)

    @field_validator("keys")
    @classmethod
    def _valid_variables(cls, value: dict[str, str]) -> dict[str, str]:
        for variable in value:
            if not _ENV_NAME.match(variable):
                raise ValueError(f"{variable!r} is not a valid environment variable name")
        return value


def check_gpu_node_selectors(
    nodes: Sequence[NodeSettings], kubernetes: KubernetesBackendOptions
) -> None:
    """With ``backends.kubernetes.require_gpu_node_selector``, every ``nodes:`` entry (and
    the backend's default resources) that asks for GPUs must say which cluster nodes
    have them: a ``node_selector`` of its own, or the backend's default one.

    Raises:
        ValidationError: Located at each offending entry's ``node_selector``, so that the
            configuration loader names the file and the key.
    """
    if not kubernetes.require_gpu_node_selector or kubernetes.node_selector:
        return
    problems = []
    hint = (
        "requests {gpus} GPU(s) but sets no node_selector, and "
        "backends.kubernetes.require_gpu_node_selector is true: add one (e.g. "
        "{{nvidia.com/gpu.present: 'true'}}) or set backends.kubernetes.node_selector"
    )
    if kubernetes.resources.gpus:
        problems.append(
            InitErrorDetails(
                type=PydanticCustomError(
                    "gpu_node_selector",
                    "backends.kubernetes.resources " + hint.format(gpus=kubernetes.resources.gpus),
                ),
                loc=("backends", "kubernetes", "node_selector"),
                input=kubernetes.node_selector,
            )
        )
    for index, entry in enumerate(nodes):
        gpus = entry.resources.gpus if entry.resources is not None else 0
        if gpus and not entry.node_selector:
            problems.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "gpu_node_selector", f"this nodes entry {hint.format(gpus=gpus)}"
                    ),
                    loc=("nodes", index, "node_selector"),
                    input=entry.node_selector,
                )
            )
    if problems:
        raise ValidationError.from_exception_data("ScanflowConfig", problems)
