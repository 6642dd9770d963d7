"""The Kubernetes backend: every task as the pod of a Job in the project's namespace."""

from __future__ import annotations

from kedro_scanflow.backends.kubernetes.cluster_api import ClusterApi, KubernetesBackendError
from kedro_scanflow.backends.kubernetes.kubernetes_backend import KubernetesBackend

__all__ = ["ClusterApi", "KubernetesBackend", "KubernetesBackendError"]
