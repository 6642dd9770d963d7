"""The objects a project needs in its namespace before any run: namespace, ServiceAccount,
a least-privilege Role and its RoleBinding, and the shared-volume claim.

The Role grants what ``kedro scanflow run --backend kubernetes`` does in the namespace
and nothing else (:data:`RUNNER_RULES`): it creates and deletes the run's Jobs, watches
their pods, reads their logs and events, creates the tracker's Deployment, Service and
claim, and port-forwards to the tracker. No wildcard, no Secret access (pods reference
Secrets by name; the kubelet reads them), no cluster-wide rights: a cluster admin applies
these objects once (``kedro scanflow export --target kubernetes``) and the team's CI
runs with the ServiceAccount's token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubernetes.client import (
    RbacV1Subject,
    V1Namespace,
    V1ObjectMeta,
    V1PersistentVolumeClaim,
    V1PersistentVolumeClaimSpec,
    V1PolicyRule,
    V1Role,
    V1RoleBinding,
    V1RoleRef,
    V1ServiceAccount,
    V1VolumeResourceRequirements,
)

if TYPE_CHECKING:
    from kedro_scanflow.backends.kubernetes.cluster_names import ClusterNames

RUNNER_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("batch", "jobs", ("create", "get", "list", "watch", "delete")),
    ("", "pods", ("get", "list", "watch")),
    ("", "pods/log", ("get",)),
    # The client port-forwards over a WebSocket: an upgraded GET, which API servers
    # authorise as "get" (before Kubernetes 1.30) or "create" (since).
    ("", "pods/portforward", ("get", "create")),
    ("", "events", ("list",)),
    ("", "services", ("create", "get")),
    ("apps", "deployments", ("create", "get")),
    ("", "persistentvolumeclaims", ("create", "get")),
)
"""(API group, resource, verbs) the runner needs; the Role lists exactly these."""

POD_SECURITY_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
"""A namespace scanflow creates enforces the "restricted" Pod Security Standard, which
every scanflow pod satisfies."""


def namespace(names: ClusterNames) -> V1Namespace:
    return V1Namespace(
        api_version="v1",
        kind="Namespace",
        metadata=V1ObjectMeta(
            name=names.namespace, labels={**names.project_labels(), **POD_SECURITY_LABELS}
        ),
    )


def service_account(names: ClusterNames, name: str) -> V1ServiceAccount:
    """The identity of runs; its token is never mounted into pods automatically."""
    return V1ServiceAccount(
        api_version="v1",
        kind="ServiceAccount",
        metadata=V1ObjectMeta(name=name, namespace=names.namespace, labels=names.project_labels()),
        automount_service_account_token=False,
    )


def runner_role(names: ClusterNames) -> V1Role:
    """A namespaced Role with exactly :data:`RUNNER_RULES`."""
    return V1Role(
        api_version="rbac.authorization.k8s.io/v1",
        kind="Role",
        metadata=V1ObjectMeta(
            name=names.role, namespace=names.namespace, labels=names.project_labels()
        ),
        rules=[
            V1PolicyRule(api_groups=[group], resources=[resource], verbs=list(verbs))
            for group, resource, verbs in RUNNER_RULES
        ],
    )


def runner_role_binding(names: ClusterNames, account: str) -> V1RoleBinding:
    """Binds the runner Role to the ServiceAccount, in the namespace only."""
    return V1RoleBinding(
        api_version="rbac.authorization.k8s.io/v1",
        kind="RoleBinding",
        metadata=V1ObjectMeta(
            name=names.role, namespace=names.namespace, labels=names.project_labels()
        ),
        role_ref=V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name=names.role),
        subjects=[RbacV1Subject(kind="ServiceAccount", name=account, namespace=names.namespace)],
    )


def volume_claim(
    names: ClusterNames,
    name: str,
    size: str,
    storage_class: str | None,
    access_modes: list[str],
    component: str,
) -> V1PersistentVolumeClaim:
    """A claim that outlives runs (the shared volume, the tracker's store)."""
    return V1PersistentVolumeClaim(
        api_version="v1",
        kind="PersistentVolumeClaim",
        metadata=V1ObjectMeta(
            name=name, namespace=names.namespace, labels=names.project_labels(component)
        ),
        spec=V1PersistentVolumeClaimSpec(
            access_modes=list(access_modes),
            storage_class_name=storage_class,
            resources=V1VolumeResourceRequirements(requests={"storage": size}),
        ),
    )
