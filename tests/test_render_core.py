"""Core Kubernetes objects fleetc renders (ConfigMap, Namespace) against the Kubernetes API
schemas shipped by kubernetes-validate, strictly (unknown fields are errors); the annotation
patches as Services, since that is what they become once merged."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import missing
from tests.render_support import compile_data, fleet_data, variant

KUBERNETES = "1.33"
"""A Kubernetes minor every supported Cilium runs on; its schemas are in the package."""


def _kubernetes_validate() -> Any:
    try:
        import kubernetes_validate
    except ImportError:
        missing("kubernetes-validate is not installed (a dev dependency)")
        raise
    return kubernetes_validate


def _validate(obj: dict[str, Any]) -> None:
    _kubernetes_validate().validate(obj, KUBERNETES, strict=True)


def _core(compiled: Any) -> list[dict[str, Any]]:
    return [
        f.content
        for f in compiled.files
        if isinstance(f.content, dict) and f.content.get("apiVersion") == "v1"
    ]


def test_configmaps_and_namespaces_are_valid_kubernetes_objects() -> None:
    data = fleet_data()
    data["spec"]["clusters"][0]["ciliumVersion"] = "1.20"
    data["spec"]["mesh"]["serviceDiscovery"] = "annotations"
    objs = _core(compile_data(data))
    assert {o["kind"] for o in objs} == {"ConfigMap", "Namespace", "Service"}
    for obj in objs:
        _validate(obj)


def test_the_core_check_can_fail() -> None:
    (configmap, *_) = _core(variant())
    broken = {**configmap, "data": {"values.yaml": 1}}
    with pytest.raises(_kubernetes_validate().ValidationError):
        _validate(broken)
